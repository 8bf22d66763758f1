// Every image a Dockerfile makes Docker 20.10's legacy builder resolve (FROM bases, COPY/ADD --from,
// RUN --mount from=, and those inside ONBUILD triggers), so the daemon can resolve each name
// through the engine and refuse another user's image. It reads what the engine reads
// (dockerfile-lex.ts); wherever a static reading could differ from the engine's (a variable with
// no known value, quotes, escapes, odd bytes) it reports a problem so the caller refuses the build
// rather than guessing. Listing a reference the engine would never resolve is harmless; missing
// one is not, so doubtful cases lean towards listing.
import { lexDockerfile, parseWords, splitCommand, type Command, type Instruction, type Problem } from './dockerfile-lex.js';

export type { Problem } from './dockerfile-lex.js';
export type RefKind = 'from' | 'copy-from' | 'mount-from';

export interface ImageReference {
  line: number;
  kind: RefKind;
  /** The name exactly as the engine will look it up (after ARG substitution); always SAFE_NAME. */
  name: string;
  /**
   * From an ONBUILD trigger: it runs in a build whose stages we cannot know, which may be this very
   * build (a later `FROM <this stage>` runs the stage's triggers), so check it like any other.
   */
  viaOnbuild: boolean;
}

/** A stage's base; null when its FROM line is among the problems. */
export type StageBase = { image: string } | { stage: number } | 'scratch' | null;

export interface DockerfileReading {
  /** Images only: not stages, not `scratch`. */
  refs: ImageReference[];
  /** Anything that cannot be read safely: the caller refuses the build. */
  problems: Problem[];
  /** Each stage in order with its base, so the caller can follow the final stage to its image. */
  stages: { line: number; name: string | null; base: StageBase }[];
}

/** Characters that mean the same to every reader of an image name: nothing quoted, escaped or blank. */
const SAFE_NAME = /^[A-Za-z0-9._:/@-]+$/;
const UNRESOLVABLE = 'cannot be resolved statically';

/** Where an instruction runs. */
interface Scope {
  /** Lower-cased names of the stages finished before it; null when unknown (a trigger for a later build). */
  stageNames: { has(name: string): boolean } | null;
  stageCount: number;
  viaOnbuild: boolean;
  /** The instruction is an ONBUILD's trigger: the engine refuses ONBUILD, FROM and MAINTAINER there. */
  insideOnbuild: boolean;
  /** Report everything at this line (a trigger's own lines mean nothing in the Dockerfile). */
  atLine?: number;
}

/** The instruction word as the engine dispatches on it, or null when it is not plain ASCII (Go lower-cases İ to i). */
function instructionName(command: Command): string | null {
  return /^[\x00-\x7f]*$/.test(command.word) ? command.word.toLowerCase() : null;
}

/** strconv.ParseInt(s, 10, 64): the engine takes such a --from as a stage index, never an image. */
function stageIndex(value: string): bigint | null {
  if (!/^[+-]?[0-9]+$/.test(value)) return null;
  const index = BigInt(value);
  return index >= -(2n ** 63n) && index < 2n ** 63n ? index : null;
}

/** A COPY/ADD --from or a mount's from=: an earlier stage (by index or name) or an image (20.10 does not expand ARGs here). */
function readSource(value: string, kind: RefKind, line: number, scope: Scope, out: DockerfileReading): void {
  if (value === '') return; // an empty --from is no --from at all
  const index = stageIndex(value);
  if (index !== null) {
    if (scope.stageNames && !(index >= 0n && index < BigInt(scope.stageCount)))
      out.problems.push({ line, message: `--from=${value}: no earlier stage has that index` });
    return;
  }
  if (!SAFE_NAME.test(value)) return void out.problems.push({ line, message: `--from=${value}: ${UNRESOLVABLE}` });
  if (scope.stageNames?.has(value.toLowerCase())) return;
  out.refs.push({ line, kind, name: value, viaOnbuild: scope.viaOnbuild });
}

/** The values of `--name=value` flags, as BFlags reads them; a bare `--name` is refused by the engine. */
function flagValues(command: Command, name: string, line: number, out: DockerfileReading): string[] {
  const values: string[] = [];
  for (const flag of command.flags) {
    const equals = flag.indexOf('=');
    if ((equals < 0 ? flag.slice(2) : flag.slice(2, equals)) !== name) continue;
    if (equals < 0) out.problems.push({ line, message: `--${name} without =value: the engine refuses it` });
    else values.push(flag.slice(equals + 1));
  }
  return values;
}

/** RUN --mount=<csv>: the from= of each mount. Quotes would need Go's CSV reader, so they are refused. */
function mountSources(mount: string, line: number, out: DockerfileReading): string[] {
  if (mount.includes('"')) {
    out.problems.push({ line, message: `--mount=${mount}: quoted mount options ${UNRESOLVABLE}` });
    return [];
  }
  return mount.split(',').flatMap((field) => {
    const equals = field.indexOf('=');
    return equals >= 0 && field.slice(0, equals).toLowerCase() === 'from' ? [field.slice(equals + 1)] : [];
  });
}

// ONBUILD keeps its line minus this prefix as the trigger, re-parsed later as a Dockerfile of its own.
const ONBUILD_PREFIX = /^[\t\n\f\r ]*onbuild[\t\n\f\r ]*/i;

/** COPY, ADD, RUN and ONBUILD inside a stage or a trigger: their image sources. */
function readCommand(instruction: Instruction, command: Command, name: string, scope: Scope, out: DockerfileReading): void {
  const line = scope.atLine ?? instruction.line;
  if (name === 'copy' || name === 'add') {
    for (const value of flagValues(command, 'from', line, out)) readSource(value, 'copy-from', line, scope, out);
  } else if (name === 'run') {
    for (const mount of flagValues(command, 'mount', line, out))
      for (const value of mountSources(mount, line, out)) readSource(value, 'mount-from', line, scope, out);
  } else if (name === 'onbuild') {
    if (scope.insideOnbuild) return void out.problems.push({ line, message: 'ONBUILD ONBUILD: the engine refuses it' });
    const trigger = instruction.text.replace(ONBUILD_PREFIX, '');
    readTriggerInto(trigger, { stageNames: null, stageCount: 0, viaOnbuild: true, insideOnbuild: true, atLine: line }, out);
  }
}

/** A trigger is parsed by the engine as a whole Dockerfile (default escape) that must hold one instruction. */
function readTriggerInto(trigger: string, scope: Scope, out: DockerfileReading): void {
  const lexed = lexDockerfile(trigger);
  out.problems.push(...lexed.problems.map((p) => ({ ...p, line: scope.atLine ?? p.line })));
  const [instruction, ...extra] = lexed.instructions;
  const line = scope.atLine ?? instruction?.line ?? 1;
  if (lexed.problems.length > 0) return;
  if (!instruction || extra.length > 0)
    return void out.problems.push({ line, message: 'an ONBUILD trigger must be exactly one instruction' });
  const command = splitCommand(instruction.text);
  const name = instructionName(command);
  if (name === null) return void out.problems.push({ line, message: `instruction ${command.word} is not plain ASCII: ${UNRESOLVABLE}` });
  if (name === 'from' || (scope.insideOnbuild && name === 'maintainer'))
    return void out.problems.push({ line, message: `${name.toUpperCase()} as an ONBUILD trigger: the engine refuses it` });
  readCommand(instruction, command, name, scope, out);
}

/**
 * One ONBUILD trigger from the config of a stage's FROM image (COPY --from images run none), read
 * as the engine runs it while starting that stage: after `stageCount` finished stages, named
 * `stageNames`. Lines are the trigger's own; an ONBUILD inside it gives references with viaOnbuild.
 */
export function readTrigger(trigger: string, stageNames: readonly string[], stageCount: number): DockerfileReading {
  const out: DockerfileReading = { refs: [], problems: [], stages: [] };
  const names = new Set(stageNames.map((name) => name.toLowerCase()));
  readTriggerInto(trigger, { stageNames: names, stageCount, viaOnbuild: false, insideOnbuild: false }, out);
  return out;
}

/** A meta ARG (declared before the first FROM) as FROM sees it, or why its value cannot be known. */
type MetaArg = { value: string } | { missing: string };

// Safe text, $NAME, ${NAME}, ${NAME:-word}, ${NAME:+word}: the forms the engine's shell lexer and we
// read alike. Quotes, escapes and every other $ form are refused rather than emulated.
const WORD_PART = /([A-Za-z0-9._:/@-]+)|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([A-Za-z0-9._:/@-]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/y;

/** shell.Lex.ProcessWord restricted to WORD_PART, against the meta ARGs. */
function expand(word: string, metaArgs: ReadonlyMap<string, MetaArg>): MetaArg {
  const parts = new RegExp(WORD_PART);
  let value = '';
  while (parts.lastIndex < word.length) {
    const at = parts.lastIndex;
    const part = parts.exec(word);
    if (!part)
      return {
        missing: `at ${JSON.stringify(word.slice(at, at + 12))}: only name characters, $NAME, \${NAME}, \${NAME:-word} and \${NAME:+word}`,
      };
    if (part[1] !== undefined) {
      value += part[1];
      continue;
    }
    const name = part[2] ?? part[5]!;
    const arg = metaArgs.get(name);
    if (!arg) return { missing: `${name} is not an ARG declared before the first FROM` };
    if ('missing' in arg) return arg;
    const alternative = part[4] ?? '';
    value += part[3] === '-' ? arg.value || alternative : part[3] === '+' ? (arg.value ? alternative : '') : arg.value;
  }
  return { value };
}

const QUOTED_SAFE = /^(["'])([A-Za-z0-9._:/@-]*)\1$/;

function readDefault(name: string, raw: string, visible: ReadonlyMap<string, MetaArg>): MetaArg {
  const quoted = QUOTED_SAFE.exec(raw);
  if (quoted) return { value: quoted[2]! };
  const expanded = expand(raw, visible);
  return 'value' in expanded ? expanded : { missing: `the default of ${name} ${UNRESOLVABLE}: ${expanded.missing}` };
}

/** An ARG line before the first FROM, as processMetaArg stores it: a build arg wins over the default. */
function declareMetaArgs(
  instruction: Instruction,
  command: Command,
  escape: string,
  buildArgs: Record<string, string>,
  metaArgs: Map<string, MetaArg>,
  out: DockerfileReading,
): void {
  // Every pair on the line expands against the values from before the line, as the engine's does.
  const visible = new Map(metaArgs);
  for (const word of parseWords(command.args, escape)) {
    const equals = word.indexOf('=');
    const name = equals < 0 ? word : word.slice(0, equals);
    // The engine expands the name too: `ARG $X=...` could overwrite any other ARG.
    if (/[$'"`\\]/.test(name))
      out.problems.push({ line: instruction.line, message: `ARG ${name}: a name with $, quotes or escapes ${UNRESOLVABLE}` });
    else if (Object.hasOwn(buildArgs, name)) metaArgs.set(name, { value: buildArgs[name]! });
    else if (equals < 0) metaArgs.set(name, { missing: `${name} has no default and no build arg` });
    else metaArgs.set(name, readDefault(name, word.slice(equals + 1), visible));
  }
}

const STAGE_NAME = /^[A-Za-z][A-Za-z0-9._-]*$/;

/** FROM <base> [AS <name>]: the base expanded with the meta ARGs, then an earlier stage, scratch or an image. */
function readFrom(
  instruction: Instruction,
  command: Command,
  metaArgs: ReadonlyMap<string, MetaArg>,
  finished: ReadonlyMap<string, number>,
  out: DockerfileReading,
): void {
  const line = instruction.line;
  const problem = (message: string) => void out.problems.push({ line, message });
  const args = command.args === '' ? [] : command.args.split(/[\t\v\f\r ]+/);
  const stage: DockerfileReading['stages'][number] = { line, name: null, base: null };
  out.stages.push(stage);
  if (args.length === 3 && args[1]!.toLowerCase() === 'as' && STAGE_NAME.test(args[2]!)) stage.name = args[2]!.toLowerCase();
  else if (args.length !== 1)
    return problem(`FROM ${command.args}: expected FROM <image> [AS <name>], the name matching [a-z][a-z0-9._-]*`);
  const base = args[0]!;
  const expanded = expand(base, metaArgs);
  if ('missing' in expanded) return problem(`FROM ${base}: ${UNRESOLVABLE} (${expanded.missing})`);
  if (expanded.value === '') return problem(`FROM ${base}: expands to an empty name, which the engine refuses`);
  if (!SAFE_NAME.test(expanded.value)) return problem(`FROM ${base}: expands to ${JSON.stringify(expanded.value)}, which ${UNRESOLVABLE}`);
  const stageIndex = finished.get(expanded.value.toLowerCase());
  if (stageIndex !== undefined) stage.base = { stage: stageIndex };
  else if (expanded.value === 'scratch') stage.base = 'scratch';
  else {
    stage.base = { image: expanded.value };
    out.refs.push({ line, kind: 'from', name: expanded.value, viaOnbuild: false });
  }
}

/** At a FROM, the stage before it is finished: its name becomes usable (the first of a name wins; the engine refuses a second). */
function finishStage(stages: DockerfileReading['stages'], finished: Map<string, number>): Scope {
  const last = stages.at(-1);
  if (last?.name && !finished.has(last.name)) finished.set(last.name, stages.length - 1);
  return { stageNames: finished, stageCount: stages.length, viaOnbuild: false, insideOnbuild: false };
}

/** The Dockerfile as the engine reads it, given the build args the engine gets (leave out any passed without a value). */
export function readDockerfile(text: string, buildArgs: Record<string, string>): DockerfileReading {
  const lexed = lexDockerfile(text);
  const out: DockerfileReading = { refs: [], problems: [...lexed.problems], stages: [] };
  const metaArgs = new Map<string, MetaArg>();
  const finished = new Map<string, number>();
  let scope: Scope | null = null; // null before the first FROM
  for (const instruction of lexed.instructions) {
    const command = splitCommand(instruction.text);
    const name = instructionName(command);
    if (name === null)
      out.problems.push({ line: instruction.line, message: `instruction ${command.word} is not plain ASCII: ${UNRESOLVABLE}` });
    else if (name === 'from') {
      scope = finishStage(out.stages, finished);
      readFrom(instruction, command, metaArgs, finished, out);
    } else if (!scope) {
      // Before the first FROM only ARG counts; anything else makes the engine refuse the file.
      if (name === 'arg') declareMetaArgs(instruction, command, lexed.escape, buildArgs, metaArgs, out);
    } else readCommand(instruction, command, name, scope, out);
  }
  if (out.stages.length === 0 && out.problems.length === 0) out.problems.push({ line: 0, message: 'no FROM instruction' });
  return out;
}
