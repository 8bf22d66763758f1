// The first half of reading a Dockerfile as Docker 20.10's legacy builder does (buildkit parser
// v0.8, vendored unchanged through moby 20.10.x): text -> instructions -> instruction word, flags
// and words, and the one form of variable expansion we accept. Each step re-implements the
// engine's own, quirks included, because dockerfile-refs.ts must see the image names the engine
// will see, not the ones a friendlier parser would. Hand-written scans, not regular expressions,
// wherever a backtracking regex could take quadratic time on a hostile line.

export interface Problem {
  /** 1-based; 0 when the problem is the whole file. */
  line: number;
  message: string;
}

/** One instruction: the line it starts on and its text with continuation lines joined (the engine's `Original`). */
export interface Instruction {
  line: number;
  text: string;
}

export interface LexedDockerfile {
  instructions: Instruction[];
  problems: Problem[];
}

// Go's unicode.IsSpace, which the parser trims with: JS's \s without U+FEFF, plus U+0085.
const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]$/;
const isGoSpace = (ch: string) => GO_SPACE.test(ch);
// RE2's \s, used by the directive and ONBUILD regular expressions: no \v, nothing beyond ASCII.
const isRe2Space = (ch: string | undefined) => ch === ' ' || ch === '\t' || ch === '\n' || ch === '\f' || ch === '\r';

export function trimLeft(s: string): string {
  let start = 0;
  while (start < s.length && isGoSpace(s[start]!)) start++;
  return s.slice(start);
}

export function trimSpace(s: string): string {
  let end = s.length;
  while (end > 0 && isGoSpace(s[end - 1]!)) end--;
  return trimLeft(s.slice(0, end));
}

// bufio.ScanLines: split on \n, drop one trailing \r, no empty token after a final newline.
function scanLines(text: string): string[] {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (text.endsWith('\n')) lines.pop();
  if (lines[0]?.startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  return lines;
}

// The engine reads bytes; a string that is not well-formed UTF-8 (or was decoded lossily, leaving
// U+FFFD) hides bytes we cannot see, some of which the flag scanner would take for spaces.
const NOT_UTF8 = /\uFFFD|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const encoder = new TextEncoder();
const MAX_LINE_BYTES = 64 * 1024; // bufio.MaxScanTokenSize: the engine refuses longer lines

function encodingProblems(lines: string[]): Problem[] {
  const problems: Problem[] = [];
  lines.forEach((line, index) => {
    if (NOT_UTF8.test(line)) problems.push({ line: index + 1, message: 'not valid UTF-8 (or contains U+FFFD): cannot be read statically' });
    else if (line.length >= MAX_LINE_BYTES / 3 && encoder.encode(line).length >= MAX_LINE_BYTES)
      problems.push({ line: index + 1, message: 'line longer than 64 KiB: the engine refuses it' });
  });
  return problems;
}

/** `# name = value` as reDirectives matches it (value as its lazy `(.+?)\s*$` captures), or null. */
function matchDirective(line: string): { name: string; value: string } | null {
  const head = /#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=/y.exec(line);
  if (!head) return null;
  const rest = line.slice(head[0].length);
  let start = 0;
  while (isRe2Space(rest[start])) start++;
  let end = rest.length;
  while (end > start && isRe2Space(rest[end - 1])) end--;
  if (start < end) return { name: head[1]!.toLowerCase(), value: rest.slice(start, end) };
  // All blank after '=': the regex backtracks and captures the last blank as the value.
  return rest === '' ? null : { name: head[1]!.toLowerCase(), value: rest.slice(-1) };
}

interface Directives {
  done: boolean;
  seen: Set<string>;
  escape: string;
}

/** Parser directives are read until the first line that is not one; returns an error, as the engine aborts on it. */
function noteDirective(trimmedLine: string, state: Directives): string | null {
  if (state.done) return null;
  const directive = matchDirective(trimmedLine);
  if (!directive || (directive.name !== 'escape' && directive.name !== 'syntax')) {
    state.done = true;
    return null;
  }
  if (state.seen.has(directive.name)) return `only one ${directive.name} parser directive can be used`;
  state.seen.add(directive.name);
  if (directive.name !== 'escape') return null;
  if (directive.value !== '\\' && directive.value !== '`') return `invalid escape token ${JSON.stringify(directive.value)}: only \\ or \``;
  state.escape = directive.value;
  return null;
}

/** The continuation regex `([^e])e[ \t]*$|^e[ \t]*$` and its `$1` replacement: an escaped escape token does not continue. */
function cutContinuation(line: string, escape: string): { text: string; continues: boolean } {
  let end = line.length;
  while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
  if (end === 0 || line[end - 1] !== escape || (end >= 2 && line[end - 2] === escape)) return { text: line, continues: false };
  return { text: line.slice(0, end - 1), continues: true };
}

const isComment = (line: string) => trimLeft(line).startsWith('#');

/** Lines into instructions exactly as parser.Parse does; `escape` is the token the directive chose. */
export function lexDockerfile(text: string): LexedDockerfile & { escape: string } {
  const lines = scanLines(text);
  const problems = encodingProblems(lines);
  const directives: Directives = { done: false, seen: new Set(), escape: '\\' };
  const instructions: Instruction[] = [];
  let next = 0;
  while (next < lines.length) {
    const first = trimLeft(lines[next]!);
    const error = noteDirective(first, directives);
    if (error) return { instructions: [], problems: [...problems, { line: next + 1, message: error }], escape: directives.escape };
    const start = ++next;
    let { text: joined, continues } = cutContinuation(isComment(first) ? '' : first, directives.escape);
    if (!continues && joined === '') continue;
    // Continuation lines are neither left-trimmed nor directive candidates (a non-directive line came first).
    while (continues && next < lines.length) {
      const raw = lines[next++]!;
      if (isComment(raw) || trimLeft(raw) === '') continue;
      const part = cutContinuation(raw, directives.escape);
      joined += part.text;
      continues = part.continues;
    }
    instructions.push({ line: start, text: joined });
  }
  return { instructions, problems, escape: directives.escape };
}

export interface Command {
  /** The instruction word as written (the engine lower-cases it with Go's rules). */
  word: string;
  /** Leading `--flag` words, quotes and backslashes already processed. */
  flags: string[];
  args: string;
}

/** splitCommand: the instruction word, then builder flags, then the trimmed rest. */
export function splitCommand(text: string): Command {
  const line = trimSpace(text);
  const gap = /[\t\v\f\r ]+/.exec(line);
  if (!gap) return { word: line, flags: [], args: '' };
  const { flags, rest } = extractBuilderFlags(line.slice(gap.index + gap[0].length));
  return { word: line.slice(0, gap.index), flags, args: trimSpace(rest) };
}

const decoder = new TextDecoder();
// The flag scanner walks bytes and asks unicode.IsSpace about each byte taken as a rune, so the
// UTF-8 continuation bytes 0x85 and 0xA0 inside a character split words there.
const isSpaceByte = (b: number) => b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0x85 || b === 0xa0;
const QUOTE_BYTES = new Set([0x22, 0x27]);
const BACKSLASH = 0x5c;

/** extractBuilderFlags, byte for byte: flag words are built as Go builds them (each byte a Latin-1 character). */
function extractBuilderFlags(line: string): { flags: string[]; rest: string } {
  const bytes = encoder.encode(line);
  const flags: string[] = [];
  const restFrom = (pos: number) => ({ flags, rest: decoder.decode(bytes.subarray(pos)) });
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = 0;
  let blankOK = false;
  for (let pos = 0; pos <= bytes.length; pos++) {
    const atEnd = pos === bytes.length;
    let ch = atEnd ? 0 : bytes[pos]!;
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isSpaceByte(ch)) continue;
      if (ch !== 0x2d || bytes[pos + 1] !== 0x2d) return restFrom(pos);
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOK || word !== '')) flags.push(word);
      break;
    }
    if (phase === 'word' && isSpaceByte(ch)) {
      if (word === '--') return restFrom(pos);
      if (blankOK || word !== '') flags.push(word);
      [phase, word, blankOK] = ['spaces', '', false];
      continue;
    }
    if (phase === 'word' && QUOTE_BYTES.has(ch)) {
      [phase, quote, blankOK] = ['quote', ch, true];
      continue;
    }
    if (phase === 'quote' && ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === BACKSLASH) {
      if (pos + 1 === bytes.length) {
        phase = 'word';
        continue;
      }
      ch = bytes[++pos]!;
    }
    word += String.fromCharCode(ch);
  }
  return { flags, rest: '' };
}

/** parseWords (ARG and friends): split on Go spaces, quotes and escape token kept for the shell lexer. */
export function parseWords(rest: string, escape: string): string[] {
  const chars = Array.from(rest);
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOK = false;
  for (let pos = 0; pos <= chars.length; pos++) {
    let ch = chars[pos] ?? '';
    if (phase === 'spaces') {
      if (pos === chars.length) break;
      if (isGoSpace(ch)) continue;
      phase = 'word';
    }
    if (pos === chars.length) {
      if (blankOK || word !== '') words.push(word);
      break;
    }
    if (phase === 'word' && isGoSpace(ch)) {
      if (blankOK || word !== '') words.push(word);
      [phase, word, blankOK] = ['spaces', '', false];
      continue;
    }
    if (phase === 'word' && (ch === '"' || ch === "'")) [phase, quote, blankOK] = ['quote', ch, true];
    else if (phase === 'quote' && ch === quote) phase = 'word';
    // The escape token keeps itself and the next character; inside '...' it is plain.
    else if (ch === escape && (phase === 'word' || quote !== "'")) {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      word += ch;
      ch = chars[++pos]!;
    }
    word += ch;
  }
  return words;
}
