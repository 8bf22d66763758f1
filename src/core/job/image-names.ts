// dopq's own image namespace, read as the engine reads names. Job images are tagged
// `dopq-<instance>/u<uid>:job-<id>`; a manifest or Dockerfile may name the caller's own, never
// another user's, however the name is spelled (docker.io/, index.docker.io/, upper case, a digest).
// This is only the early, engine-free refusal: the daemon decides on the image ID the engine
// resolves (image-ownership.ts), since short IDs and other spellings cannot be caught by strings.

/** The tag of the image dopq builds or loads for a job: per spool, user and job. */
export function jobImageTag(instance: string, uid: number, id: number): string {
  return `dopq-${instance}/u${uid}:job-${id}`;
}

/** A reference with the engine's default registry and `library/` dropped, lower-cased, no tag or digest. */
export function repositoryOf(reference: string): string {
  let name = reference.trim().toLowerCase();
  const at = name.indexOf('@');
  if (at >= 0) name = name.slice(0, at);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) name = name.slice(0, colon);
  for (const prefix of ['docker.io/', 'index.docker.io/', 'registry-1.docker.io/']) {
    if (name.startsWith(prefix)) name = name.slice(prefix.length);
  }
  if (name.startsWith('library/')) name = name.slice('library/'.length);
  return name;
}

const JOB_REPOSITORY = /^dopq-([a-z0-9]+)\/u([0-9]+)$/;

/** The owner uid a name claims in dopq's job namespace (any spool's), or undefined for other names. */
export function claimedJobOwner(reference: string): { instance: string; uid: string } | undefined {
  const match = JOB_REPOSITORY.exec(repositoryOf(reference));
  return match ? { instance: match[1]!, uid: match[2]! } : undefined;
}

/** Whether `reference` names a job image that is not `uid`'s own (another user's, or another spool's user). */
export function namesForeignJobImage(reference: string, uid: number): boolean {
  const claim = claimedJobOwner(reference);
  return claim !== undefined && claim.uid !== String(uid);
}

/** A repository tag the engine lists (RepoTags) that is one of dopq's job tags, of any spool. */
export function isJobTag(tag: string): boolean {
  return claimedJobOwner(tag) !== undefined;
}
