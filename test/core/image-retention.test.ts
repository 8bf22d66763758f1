import test from 'ava';
import { imagesToRemove } from '../../src/core/job/image-retention.js';
import type { JobRecord } from '../../src/core/job/job.js';

const job = (id: number, uid: number, state: JobRecord['state'], finished_at?: number): JobRecord => ({
  id,
  uid,
  user: `u${uid}`,
  name: 'j',
  image: '',
  gpus_requested: 0,
  gpus: [],
  state,
  submitted_at: 0,
  time_limit: 60,
  ...(finished_at !== undefined ? { finished_at } : {}),
});
const day = 86400 * 1000;

test("keeps images jobs still need and each user's newest few; removes older, expired and orphaned ones", (t) => {
  const now = 30 * day;
  const jobs = [
    job(1, 1, 'done', now - 3 * day),
    job(2, 1, 'failed', now - 2 * day),
    job(3, 1, 'done', now - 1 * day),
    job(4, 1, 'queued'),
    job(5, 1, 'building'),
    job(6, 2, 'done', now - 20 * day),
    job(7, 2, 'running'),
  ];
  const images = [1, 2, 3, 4, 5, 6, 7, 99].map((jobId) => ({ id: `img${jobId}`, jobId }));
  t.deepEqual(imagesToRemove(images, jobs, { per_user: 2, max_age: 7 * 86400 }, now).sort(), ['img1', 'img6', 'img99']);
  t.deepEqual(imagesToRemove(images, jobs, { per_user: 0, max_age: 7 * 86400 }, now).sort(), ['img1', 'img2', 'img3', 'img6', 'img99']);
});
