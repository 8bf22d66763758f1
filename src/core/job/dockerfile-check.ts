// What can be refused in a Dockerfile without the engine (push and the daemon alike): what
// cannot be read as the engine reads it, another user's job image by name, a base by bare ID,
// and bases outside the config's images.allowed. The daemon then resolves every reference
// through the engine (daemon/build-check.ts), which catches the spellings strings cannot.
import { readDockerfile, type DockerfileReading, type ImageReference } from './dockerfile-refs.js';
import { claimedJobOwner, namesForeignJobImage } from './image-names.js';
import { imageAllowed } from './manifest.js';

export interface BaseImageRules {
  /** The owner's uid: their own job images are fine. */
  uid: number;
  allowed: readonly string[] | null;
  /** The manifest's build.args: they set ARGs a FROM may use. */
  args?: Readonly<Record<string, string>>;
}

export interface DockerfileRefusal {
  line: number;
  message: string;
  /** Another user's image: a permission refusal (push exits 77; the job ends foreign-image). */
  foreign: boolean;
}

const WHAT: Record<ImageReference['kind'], string> = { from: 'FROM', 'copy-from': 'COPY --from', 'mount-from': 'RUN --mount from' };

/** How a reference is introduced in messages: `FROM x`, `ONBUILD COPY --from x`. */
export function describeReference(ref: ImageReference): string {
  return `${ref.viaOnbuild ? 'ONBUILD ' : ''}${WHAT[ref.kind]} ${ref.name}`;
}

/** Every refusal of the Dockerfile's references by their text, in line order. */
export function referenceRefusals(reading: DockerfileReading, rules: BaseImageRules): DockerfileRefusal[] {
  const refusals: DockerfileRefusal[] = reading.problems.map((problem) => ({
    line: problem.line,
    message: problem.message,
    foreign: false,
  }));
  for (const ref of reading.refs) {
    const at = (message: string, foreign = false) =>
      refusals.push({ line: ref.line, message: `${describeReference(ref)}: ${message}`, foreign });
    if (namesForeignJobImage(ref.name, rules.uid)) at("another user's job image", true);
    else if (/^(sha256:)?[a-f0-9]{64}$/.test(ref.name)) at('name the image; dopq does not build on an image by ID');
    else if (rules.allowed !== null && claimedJobOwner(ref.name) === undefined && !imageAllowed(ref.name, rules.allowed))
      at(`this server builds only on ${rules.allowed.join(', ')}`);
  }
  return refusals.sort((a, b) => a.line - b.line);
}

/** The Dockerfile's refusals as `line N: why`, for tests and logs. */
export function baseImageRefusals(dockerfile: string, rules: BaseImageRules): string[] {
  return referenceRefusals(readDockerfile(dockerfile, rules.args ?? {}), rules).map((r) => `line ${r.line}: ${r.message}`);
}
