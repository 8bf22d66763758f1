// Docker's detach keys, Ctrl-P then Ctrl-Q, read from what the user types: the client leaves the
// session (the program goes on) and every other key, a lone Ctrl-P included, goes to the program.

const CTRL_P = 0x10;
const CTRL_Q = 0x11;

export interface Scanned {
  /** The bytes to send to the program. */
  forward: Uint8Array;
  /** Ctrl-P Ctrl-Q was typed: leave (what came after it in the same chunk is dropped). */
  detach: boolean;
}

/** Keeps a Ctrl-P that ends one chunk until the next shows whether Ctrl-Q follows. */
export class DetachKeys {
  private pending = false;

  scan(input: Uint8Array): Scanned {
    const out: number[] = [];
    for (const byte of input) {
      if (this.pending) {
        this.pending = false;
        if (byte === CTRL_Q) return { forward: Uint8Array.from(out), detach: true };
        out.push(CTRL_P);
      }
      if (byte === CTRL_P) this.pending = true;
      else out.push(byte);
    }
    return { forward: Uint8Array.from(out), detach: false };
  }
}
