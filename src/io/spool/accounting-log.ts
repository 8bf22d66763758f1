// state/accounting.jsonl: the daemon appends a compact record for each finished job as it leaves the
// state (history.keep, `dopq history clear`); `dopq report` reads them beside the state's jobs.
import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseAccountingLines, type AccountingRecord } from '../../core/report/accounting-record.js';

/**
 * Appended synchronously, before the state that drops the jobs is saved: a crash in between
 * leaves a job both here and in the state, which the report counts once (by id).
 */
export function appendAccounting(file: string, records: readonly AccountingRecord[]): void {
  if (records.length === 0) return;
  appendFileSync(file, records.map((record) => `${JSON.stringify(record)}\n`).join(''), { mode: 0o644 });
}

/** Every record on file; none when there is no file yet. */
export async function readAccounting(file: string): Promise<AccountingRecord[]> {
  try {
    return parseAccountingLines(await readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
