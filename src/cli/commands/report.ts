// `dopq report`: accounting over the state's jobs and the records of jobs pruned from it.
import { accountingRecordOf } from '../../core/report/accounting-record.js';
import { buildReport, mergeRecords, type ReportGrouping } from '../../core/report/report.js';
import { renderReport, reportCsv } from '../../core/report/report-render.js';
import { UsageError, ExitCode } from '../../core/errors.js';
import { readAccounting } from '../../io/spool/accounting-log.js';
import { readState } from '../../io/spool/state-store.js';
import type { CommandContext } from '../context.js';
import { requireSpool } from './q.js';

export interface ReportOptions {
  since?: number;
  until?: number;
  by: ReportGrouping;
  json?: boolean;
  csv?: boolean;
}

export async function reportCommand(ctx: CommandContext, options: ReportOptions): Promise<number> {
  await requireSpool(ctx);
  const now = Date.now();
  if (options.since !== undefined && options.until !== undefined && options.since >= options.until)
    throw new UsageError('--since must be before --until');
  const [state, onFile] = await Promise.all([readState(ctx.spool.state), readAccounting(ctx.spool.accounting)]);
  // Queued jobs have used nothing yet; running ones count up to now, finished ones whole.
  const live = state.jobs.filter((job) => job.state !== 'queued' && job.state !== 'building').map(accountingRecordOf);
  const report = buildReport(mergeRecords(live, onFile), {
    by: options.by,
    now,
    ...(options.since !== undefined ? { since: options.since } : {}),
    ...(options.until !== undefined ? { until: options.until } : {}),
  });
  ctx.io.out(options.json ? `${JSON.stringify(report)}\n` : options.csv ? reportCsv(report) : renderReport(report));
  return ExitCode.ok;
}
