// `sacct -P -n -X -o SACCT_FIELDS` (times as epoch seconds: SLURM_TIME_FORMAT=%s) into SlurmJobs:
// what the accounting database keeps of jobs the controller has forgotten. Text, not `--json`:
// 22.05's JSON says `SUCCESS, return_code 0` for a batch script that exited 3 (its text says 3:0).
import { timeField, type SlurmJob } from './slurm-job.js';

export const SACCT_FIELDS = 'JobID,JobName,User,State,ExitCode,NodeList,Submit,Start,End';

/** One job per allocation line; lines that do not fit (steps, another format) are skipped. */
export function parseSacct(text: string): SlurmJob[] {
  const jobs: SlurmJob[] = [];
  for (const line of text.split('\n')) {
    const cells = line.split('|');
    if (cells.length !== 9) continue;
    const [id, name, user, state, exit, nodes, submit, start, end] = cells as [string, ...string[]];
    if (!/^\d+$/.test(id)) continue; // array tasks (12_3), steps (12.batch)
    const [code, signal] = (exit ?? '').split(':').map(Number);
    jobs.push({
      job_id: Number(id),
      name: name!,
      user: user || null,
      // `CANCELLED by 1001`: the state word first.
      state: state!.split(' ')[0]!,
      reason: null,
      priority: null,
      node: nodes && nodes !== 'None assigned' ? nodes : null,
      gpus: [],
      submit_time: epoch(submit),
      start_time: epoch(start),
      end_time: epoch(end),
      exit: signal ? { code: null, signal } : Number.isInteger(code) ? { code: code!, signal: null } : null,
      comment: null,
    });
  }
  return jobs;
}

/** Epoch seconds as ms; `Unknown`, `None` and the like as null. */
function epoch(cell: string | undefined): number | null {
  return cell !== undefined && /^\d+$/.test(cell) ? timeField(Number(cell)) : null;
}
