// The images a Dockerfile builds on (FROM, COPY/ADD --from=) as dopq allows them: never another
// user's job image (their code), never an image by bare ID, never a name hidden in a variable,
// and within the config's images.allowed when it has one.
import { imageAllowed } from './manifest.js';

export interface BaseImageRules {
  /** The owner's uid: their own job images are fine. */
  uid: number;
  allowed: readonly string[] | null;
}

/** Instructions with continuation lines joined and comments dropped, each with its first line. */
function instructions(text: string): { line: number; words: string[] }[] {
  const result: { line: number; words: string[] }[] = [];
  let buffer = '';
  let start = 0;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trimEnd();
    if (buffer === '' && /^\s*(#|$)/.test(line)) return;
    if (buffer === '') start = index + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1)} `;
      return;
    }
    buffer += line;
    result.push({ line: start, words: buffer.trim().split(/\s+/) });
    buffer = '';
  });
  if (buffer !== '') result.push({ line: start, words: buffer.trim().split(/\s+/) });
  return result;
}

/** Every base image the Dockerfile may not use, as `line N: why`. */
export function baseImageRefusals(dockerfile: string, rules: BaseImageRules): string[] {
  const stages = new Set<string>();
  const problems: string[] = [];
  const check = (line: number, ref: string) => {
    if (ref.toLowerCase() === 'scratch' || stages.has(ref.toLowerCase()) || /^\d+$/.test(ref)) return;
    if (ref.includes('$')) return problems.push(`line ${line}: ${ref}: name the base image; dopq does not build on an image named by a variable`);
    if (/^(sha256:)?[a-f0-9]{64}$/.test(ref)) return problems.push(`line ${line}: ${ref}: name the base image; dopq does not build on an image by ID`);
    const job = /^dopq-[a-z0-9]+\/u(\d+):/.exec(ref);
    if (job && Number(job[1]) !== rules.uid) return problems.push(`line ${line}: ${ref}: another user's job image`);
    if (!job && rules.allowed !== null && !imageAllowed(ref, rules.allowed)) return problems.push(`line ${line}: ${ref}: this server builds only on ${rules.allowed.join(', ')}`);
    return undefined;
  };
  for (const { line, words } of instructions(dockerfile)) {
    const op = words[0]?.toUpperCase();
    if (op === 'FROM') {
      const args = words.slice(1).filter((w) => !w.startsWith('--'));
      if (args[0]) check(line, args[0]);
      if (args[1]?.toUpperCase() === 'AS' && args[2]) stages.add(args[2].toLowerCase());
    } else if (op === 'COPY' || op === 'ADD') {
      for (const flag of words.slice(1).filter((w) => w.startsWith('--from='))) check(line, flag.slice('--from='.length));
    }
  }
  return problems;
}
