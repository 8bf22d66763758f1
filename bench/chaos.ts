// `npm run chaos`: push a steady stream of jobs while the daemon is SIGKILLed, its Docker
// engine restarted and its spool's disk filled, then count what went wrong (bench/chaos/).
// Prints the table; exits 1 if any job was lost, run twice, shared a GPU or failed by a fault
// not its own, 64 on a bad option, 70 if the harness itself could not run.
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ChaosUsageError, parseChaosArgs, USAGE } from './chaos/options.js';
import { renderChaos, renderDetails, violations } from './chaos/report.js';
import { runChaos } from './chaos/run.js';

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseChaosArgs(argv, Date.now() % 1_000_000);
  } catch (error) {
    if (!(error instanceof ChaosUsageError)) throw error;
    console.error(`chaos: ${error.message}\n${USAGE}`);
    return 64;
  }
  const interrupt = new AbortController();
  const onSignal = () => {
    console.error('chaos: interrupted; cleaning up');
    interrupt.abort();
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  let result;
  try {
    result = await runChaos(options, { signal: interrupt.signal, progress: (line) => console.error(`chaos: ${line}`) });
  } catch (error) {
    if (interrupt.signal.aborted) return 130;
    throw error;
  }
  const log = path.join(tmpdir(), `dopq-chaos-${options.seed}-daemon.log`);
  await writeFile(log, result.daemonLog);
  await writeFile(log.replace(/daemon\.log$/, 'events.jsonl'), result.events.map((e) => JSON.stringify(e)).join('\n'));
  console.log(renderChaos(result));
  const details = renderDetails(result);
  if (details) console.log(details);
  console.log(`daemon log: ${log} (engine events beside it)`);
  const bad = Object.entries(violations(result.counts)).filter(([, n]) => n > 0);
  if (bad.length > 0) console.log(`FAIL: ${bad.map(([what, n]) => `${n} ${what}`).join(', ')}`);
  return bad.length > 0 ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  console.error(`chaos: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 70;
}
