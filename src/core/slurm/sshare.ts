// `sshare -a -P -n -o Account,User,RawShares,NormShares,RawUsage,EffectvUsage,FairShare` into
// rows: Slurm's fair-share standing of each user, for the users table of `dopq q`.

export const SSHARE_FIELDS = 'Account,User,RawShares,NormShares,RawUsage,EffectvUsage,FairShare';

export interface ShareRow {
  account: string;
  user: string;
  /** The share set with `sacctmgr ... fairshare=` (null: parent, or not a number). */
  raw_shares: number | null;
  norm_shares: number | null;
  /** Decayed usage in TRES-billing-seconds, as Slurm counts it. */
  raw_usage: number | null;
  effective_usage: number | null;
  /** Slurm's fair-share factor, 0..1: the higher, the sooner the user's jobs go. */
  fairshare: number | null;
}

/** One row per user association (account-only lines are left out); lines that do not fit are skipped. */
export function parseSshare(text: string): ShareRow[] {
  const rows: ShareRow[] = [];
  for (const line of text.split('\n')) {
    const cells = line.split('|');
    if (cells.length < 7) continue;
    const [account, user, raw, norm, usage, effective, fairshare] = cells.map((cell) => cell.trim());
    if (!user || user === 'User') continue;
    rows.push({
      account: account!,
      user,
      raw_shares: num(raw),
      norm_shares: num(norm),
      raw_usage: num(usage),
      effective_usage: num(effective),
      fairshare: num(fairshare),
    });
  }
  return rows;
}

function num(cell: string | undefined): number | null {
  if (cell === undefined || cell === '' || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(cell)) return null;
  return Number(cell);
}
