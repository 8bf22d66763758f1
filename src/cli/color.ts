// Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
export function colorLevel(isTTY: boolean, env: NodeJS.ProcessEnv): 0 | 1 | 2 | 3 {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return 0;
  if (env['FORCE_COLOR'] !== undefined && env['FORCE_COLOR'] !== '0') return 1;
  if (!isTTY || env['TERM'] === 'dumb') return 0;
  return env['COLORTERM'] === 'truecolor' ? 3 : 1;
}
