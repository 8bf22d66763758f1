// What one chaos run does, and the parse of `npm run chaos -- --jobs N ...` into it (pure).

export interface ChaosOptions {
  /** Jobs pushed, alternating between the two users. */
  jobs: number;
  /** SIGKILLs of the daemon (each followed by a restart, as systemd would). */
  kills: number;
  /** Restarts of the private Docker engine. */
  engineRestarts: number;
  /** Phases during which the spool's filesystem is full. */
  diskFull: number;
  seed: number;
  /** Time between two pushes (ms). */
  pushIntervalMs: number;
  /** After the last push and the last fault: how long jobs may take to become final (ms). */
  settleMs: number;
}

export const DEFAULTS: ChaosOptions = {
  jobs: 100,
  kills: 10,
  engineRestarts: 1,
  diskFull: 1,
  seed: 1,
  pushIntervalMs: 700,
  settleMs: 120_000,
};

const FLAGS: Record<string, keyof ChaosOptions> = {
  '--jobs': 'jobs',
  '--kills': 'kills',
  '--engine-restarts': 'engineRestarts',
  '--disk-full': 'diskFull',
  '--seed': 'seed',
  '--interval': 'pushIntervalMs',
  '--settle': 'settleMs',
};

export class ChaosUsageError extends Error {
  override name = 'ChaosUsageError';
}

export const USAGE = `usage: npm run chaos -- [--jobs N] [--kills N] [--engine-restarts N] [--disk-full N] [--seed S] [--interval MS] [--settle MS]
  defaults: --jobs ${DEFAULTS.jobs} --kills ${DEFAULTS.kills} --engine-restarts ${DEFAULTS.engineRestarts} --disk-full ${DEFAULTS.diskFull} --seed <time> --interval ${DEFAULTS.pushIntervalMs} --settle ${DEFAULTS.settleMs}`;

/** `argv` (after the script name) -> options; throws ChaosUsageError naming the flag and the value. */
export function parseChaosArgs(argv: readonly string[], seed: number): ChaosOptions {
  const options: ChaosOptions = { ...DEFAULTS, seed };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const key = FLAGS[flag];
    if (!key) throw new ChaosUsageError(`unknown option ${flag}`);
    const text = inline ?? argv[++i];
    const value = Number(text);
    if (text === undefined || !Number.isInteger(value) || value < 0)
      throw new ChaosUsageError(`${flag} expects a whole number >= 0, got ${text === undefined ? 'nothing' : JSON.stringify(text)}`);
    options[key] = value;
  }
  if (options.jobs < 1) throw new ChaosUsageError('--jobs must be at least 1');
  return options;
}
