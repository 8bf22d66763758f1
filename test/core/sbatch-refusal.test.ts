// sbatch's refusal as the job's owner reads it: Slurm's words once, and the way out when it is setup.
import test from 'ava';
import { sbatchRefusal } from '../../src/core/slurm/sbatch-refusal.js';

test("Slurm's words once, without sbatch's doubled prefix", (t) => {
  t.is(
    sbatchRefusal('sbatch: error: Batch job submission failed: Requested node configuration is not available', 'alice', 'dopq'),
    'Slurm refused it: Batch job submission failed: Requested node configuration is not available',
  );
});

test('a user without an association is told what an admin runs', (t) => {
  const detail = 'sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified';
  t.is(
    sbatchRefusal(detail, 'nu-ann', 'dopq'),
    'Slurm refused it: Batch job submission failed: Invalid account or account/partition combination specified; ' +
      'nu-ann has no Slurm association here: an admin runs sacctmgr add user nu-ann account=dopq (dopq slurm-setup prints the lines for shares)',
  );
  t.regex(sbatchRefusal(detail, 'ben', null), /account=ACCOUNT/);
});
