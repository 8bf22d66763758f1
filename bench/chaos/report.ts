// A chaos run as text: the table of parameters and counts, then the jobs behind every count that
// must be zero, each with what the daemon logged about it.
import Table from 'cli-table3';
import type { ChaosCounts } from './analyze.js';
import type { ChaosResult } from './run.js';

const plain = { style: { head: [], border: [] }, chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' } };
const ids = (list: readonly number[], max = 12) =>
  list.length === 0 ? '' : `#${list.slice(0, max).join(' #')}${list.length > max ? ` (+${list.length - max})` : ''}`;
const ms = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${(x / 1000).toFixed(1)} s`);

/** The counts that must be zero, by name. */
export function violations(
  counts: ChaosCounts,
): Record<'lost' | 'run twice' | 'GPU overlaps' | 'failed by a fault not theirs' | 'recorded as ended on its own but cut short', number> {
  return {
    lost: counts.lost.length,
    'run twice': counts.runTwice.length,
    'GPU overlaps': counts.overlaps.length,
    'failed by a fault not theirs': counts.foreignFaults.length,
    'recorded as ended on its own but cut short': counts.cutShort.length,
  };
}

export function renderChaos(result: ChaosResult): string {
  const { options, counts: c, faults, lives } = result;
  const t = new Table({ head: ['', 'value', 'jobs'], ...plain });
  const recovered = c.recoveryMs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const crashes = lives.filter((life) => life.endedAt !== undefined && !life.ours);
  const startup = lives.flatMap((life) => (life.readyAt === undefined ? [] : [life.readyAt - life.startedAt])).sort((a, b) => a - b);
  t.push(
    ['jobs planned / seed', `${options.jobs} / ${options.seed}`, ''],
    ['daemon SIGKILLs (done / planned)', `${faults.kills.length} / ${options.kills}`, ''],
    [
      'engine restarts (done / planned)',
      `${faults.outages.filter((o) => o.backAt !== null).length} / ${options.engineRestarts}`,
      faults.outages.map((o) => `down ${ms((o.backAt ?? NaN) - o.stopAt)}`).join(', '),
    ],
    ['containers killed by the engine restarts', String(c.killedByEngine), ''],
    [
      'disk-full phases (done / planned)',
      `${faults.fullPhases.length} / ${options.diskFull}`,
      faults.fullPhases.map((f) => ms((f.to ?? NaN) - f.from)).join(', '),
    ],
    ['pushed', String(c.pushed), ''],
    ['refused, not queued (exit 73)', String(c.refused), ''],
    ['push failed otherwise', String(c.pushErrors.length), c.pushErrors.map((e) => `#${e.seq}: ${e.code}`).join(', ')],
    [
      'final: done / failed / cancelled / rejected',
      `${c.states.done} / ${c.states.failed} / ${c.states.cancelled} / ${c.states.rejected}`,
      '',
    ],
    ['LOST (never final, or reason lost)', String(c.lost.length), ids(c.lost.map((l) => l.id))],
    ['RUN TWICE (starts > attempts)', String(c.runTwice.length), ids(c.runTwice.map((r) => r.id))],
    [
      'GPU OVERLAPS (pairs of containers)',
      String(c.overlaps.length),
      c.overlaps
        .slice(0, 6)
        .map((o) => `gpu ${o.gpu}: #${o.first.job}/#${o.second.job}`)
        .join(', '),
    ],
    ['FAILED BY A FAULT NOT THEIRS', String(c.foreignFaults.length), ids(c.foreignFaults.map((f) => f.id))],
    ['RECORDED AS EXITED 0/3, BUT CUT SHORT (no end marker)', String(c.cutShort.length), ids(c.cutShort.map((f) => f.id))],
    ['requeued (attempts > 1)', String(c.requeued.length), ids(c.requeued.map((r) => r.id))],
    [
      'time to recover after an engine restart (median / max)',
      recovered.length === 0 ? '-' : `${ms(recovered[Math.floor((recovered.length - 1) / 2)])} / ${ms(recovered[recovered.length - 1])}`,
      c.recoveryMs.some((x) => x === null) ? 'no start after some restarts' : '',
    ],
    [
      'daemon start -> running (median / max)',
      startup.length === 0 ? '-' : `${ms(startup[Math.floor((startup.length - 1) / 2)])} / ${ms(startup[startup.length - 1])}`,
      `${lives.length} lives, ${lives.length - startup.length} never got running`,
    ],
    [
      'daemon exits the harness did not cause',
      String(crashes.length),
      crashes.map((l) => `code ${l.code ?? '-'}${l.signal ? ` ${l.signal}` : ''}`).join(', '),
    ],
    [
      'containers started / without a die event / GPUs unknown',
      `${c.containers} / ${c.openIntervals} / ${c.unknownGpus}`,
      c.missedStarts > 0 ? `${c.missedStarts} more seen only by their marker (events lost)` : '',
    ],
    ['in the state without a push', String(c.unasked.length), ids(c.unasked)],
    ['wall time', ms(result.durationMs), ''],
  );
  return t.toString();
}

/** The jobs behind the counts that must be zero, each with the daemon's lines about it. */
export function renderDetails(result: ChaosResult, linesPerJob = 6): string {
  const c = result.counts;
  const out: string[] = [];
  const logAbout = (id: number) =>
    result.daemonLog
      .split('\n')
      .filter((line) => line.includes(`[job ${id}]`))
      .slice(-linesPerJob)
      .map((line) => `      ${line}`);
  const section = (title: string, items: { id: number; text: string }[]) => {
    if (items.length === 0) return;
    out.push(`${title}:`);
    for (const item of items) out.push(`  #${item.id}: ${item.text}`, ...logAbout(item.id));
  };
  section(
    'lost',
    c.lost.map((l) => ({ id: l.id, text: l.why })),
  );
  section(
    'run twice',
    c.runTwice.map((r) => ({ id: r.id, text: `${r.starts} container starts, ${r.attempts} attempt(s)` })),
  );
  section(
    'recorded as exited 0/3 but cut short',
    c.cutShort.map((f) => ({ id: f.id, text: `${f.state}, exit code ${f.exit_code ?? '-'}, yet no container of it wrote its end marker` })),
  );
  section(
    'failed by a fault not theirs',
    c.foreignFaults.map((f) => ({ id: f.id, text: `${f.state}, reason ${f.reason ?? '-'}, exit code ${f.exit_code ?? '-'}` })),
  );
  if (c.overlaps.length > 0) {
    out.push('GPU overlaps:');
    for (const o of c.overlaps) {
      const span = (i: typeof o.first) =>
        `#${i.job} ${i.container.slice(0, 12)} ${new Date(i.start).toISOString().slice(11, 23)}-${new Date(i.end).toISOString().slice(11, 23)}${i.open ? ' (no die event)' : ''}`;
      out.push(`  gpu ${o.gpu}: ${span(o.first)} and ${span(o.second)}`);
    }
  }
  if (c.pushErrors.length > 0) {
    out.push('pushes that failed otherwise:');
    for (const e of c.pushErrors) out.push(`  push #${e.seq}: exit ${e.code ?? '-'}: ${e.stderr.split('\n').join(' | ')}`);
  }
  const crashes = result.lives.filter((life) => life.endedAt !== undefined && !life.ours);
  if (crashes.length > 0) {
    out.push('daemon exits the harness did not cause (last lines):');
    for (const life of crashes) out.push(`  life ${life.n}, code ${life.code ?? '-'}: ${(life.lastWords ?? '').split('\n').join(' | ')}`);
  }
  for (const note of result.notes) out.push(`note: ${note}`);
  return out.join('\n');
}
