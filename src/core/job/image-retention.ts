// Which job images to remove: never one a queued, building or running job needs; of the rest,
// each user keeps their newest `per_user` (by when the job ended) younger than `max_age`.
import { isFinished, type JobRecord } from './job.js';

export interface ImageRef {
  id: string;
  jobId: number;
}

export function imagesToRemove(
  images: readonly ImageRef[],
  jobs: readonly JobRecord[],
  keep: { per_user: number; max_age: number },
  now: number,
): string[] {
  const byId = new Map(jobs.map((job) => [job.id, job]));
  const remove: string[] = [];
  const finishedByUser = new Map<number, { image: ImageRef; endedAt: number }[]>();
  for (const image of images) {
    const job = byId.get(image.jobId);
    if (!job) {
      remove.push(image.id); // its job left the history
      continue;
    }
    if (!isFinished(job)) continue;
    const list = finishedByUser.get(job.uid) ?? [];
    list.push({ image, endedAt: job.finished_at ?? 0 });
    finishedByUser.set(job.uid, list);
  }
  for (const list of finishedByUser.values()) {
    list.sort((a, b) => b.endedAt - a.endedAt);
    list.forEach(({ image, endedAt }, index) => {
      if (index >= keep.per_user || now - endedAt > keep.max_age * 1000) remove.push(image.id);
    });
  }
  return remove;
}
