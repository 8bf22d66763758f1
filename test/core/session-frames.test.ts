// The session socket's frames and the detach keys: what `dopq shell` and the daemon say to each other.
import test from 'ava';
import fc from 'fast-check';
import {
  decodeExit,
  decodeResize,
  encodeData,
  encodeExit,
  encodeFrame,
  encodeNotice,
  encodeResize,
  FRAME_DATA,
  FRAME_DETACH,
  FRAME_EXIT,
  FRAME_NOTICE,
  FRAME_RESIZE,
  FrameDecoder,
  FrameError,
  MAX_PAYLOAD,
} from '../../src/core/session/frames.js';
import { DetachKeys } from '../../src/core/session/detach-keys.js';
import { ordinal, waitingLine } from '../../src/core/session/waiting-line.js';

const concat = (parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((part) => [...part]));

test('frames come out as they went in, however the stream is cut', (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 50 })),
      (payloads, cuts) => {
        const stream = concat([...payloads.flatMap((p) => encodeData(p)), encodeFrame(FRAME_DETACH)]);
        const decoder = new FrameDecoder();
        const frames = [];
        let at = 0;
        for (const cut of [...cuts, stream.length]) {
          frames.push(...decoder.push(stream.subarray(at, Math.min(stream.length, at + cut))));
          at = Math.min(stream.length, at + cut);
        }
        const data = frames.filter((f) => f.type === FRAME_DATA).map((f) => [...f.payload]);
        t.deepEqual(
          data,
          payloads.filter((p) => p.length > 0).map((p) => [...p]),
          'empty data sends no frame',
        );
        t.is(frames.at(-1)?.type, FRAME_DETACH);
      },
    ),
  );
});

test('data above 64 KiB is cut into frames; a frame above it, or of an unknown type, is refused', (t) => {
  const big = new Uint8Array(MAX_PAYLOAD * 2 + 5).fill(7);
  const frames = encodeData(big);
  t.deepEqual(
    frames.map((f) => f.length - 5),
    [MAX_PAYLOAD, MAX_PAYLOAD, 5],
  );
  t.throws(() => encodeFrame(FRAME_DATA, new Uint8Array(MAX_PAYLOAD + 1)), { instanceOf: RangeError });
  const header = new Uint8Array([FRAME_DATA, 0, 1, 0, 1]); // 65537 bytes announced
  t.throws(() => new FrameDecoder().push(header), { instanceOf: FrameError, message: /above 65536/ });
  t.throws(() => new FrameDecoder().push(new Uint8Array([9, 0, 0, 0, 0])), { instanceOf: FrameError, message: /unknown frame type 9/ });
});

test('resize, exit and notice frames carry their values', (t) => {
  const [resize] = new FrameDecoder().push(encodeResize(132, 43));
  t.is(resize!.type, FRAME_RESIZE);
  t.deepEqual(decodeResize(resize!.payload), { columns: 132, rows: 43 });
  t.deepEqual(decodeResize(new Uint8Array([0, 0, 0, 5])), undefined, 'no side of 0');
  t.deepEqual(decodeResize(new Uint8Array(3)), undefined);
  const [exit] = new FrameDecoder().push(encodeExit({ state: 'failed', exit_code: 3, reason: 'exited' }));
  t.is(exit!.type, FRAME_EXIT);
  t.deepEqual(decodeExit(exit!.payload), { state: 'failed', exit_code: 3, reason: 'exited' });
  t.is(decodeExit(new TextEncoder().encode('{')), undefined);
  const [notice] = new FrameDecoder().push(encodeNotice('x'.repeat(5000)));
  t.is(notice!.type, FRAME_NOTICE);
  t.is(notice!.payload.length, 1024, 'bounded');
});

test('Ctrl-P Ctrl-Q detaches, also across chunks; a lone Ctrl-P goes to the program', (t) => {
  const keys = new DetachKeys();
  t.deepEqual(keys.scan(Uint8Array.from([0x61, 0x10, 0x62])), { forward: Uint8Array.from([0x61, 0x10, 0x62]), detach: false });
  t.deepEqual(keys.scan(Uint8Array.from([0x63, 0x10])), { forward: Uint8Array.from([0x63]), detach: false }, 'held until the next key');
  t.deepEqual(keys.scan(Uint8Array.from([0x11, 0x64])), { forward: Uint8Array.from([]), detach: true });
  const again = new DetachKeys();
  t.deepEqual(again.scan(Uint8Array.from([0x10, 0x10, 0x11])), { forward: Uint8Array.from([0x10]), detach: true });
  t.deepEqual(new DetachKeys().scan(Uint8Array.from([0x03])), { forward: Uint8Array.from([0x03]), detach: false }, 'Ctrl-C passes');
});

test('the waiting line says the place, the estimated start and why', (t) => {
  const now = Date.parse('2026-11-29T10:00:00Z');
  const at = new Date(now + 5 * 60_000).toISOString();
  t.is(
    waitingLine({ id: 7, state: 'queued', position: 2, estimated_start: at, waiting_for: 'reserved' }, 7, now, 'UTC'),
    'job 7 waits: 2nd to start, estimated start today 10:05 (in 5m00s); GPUs are kept for an earlier job',
  );
  t.is(
    waitingLine({ id: 7, state: 'queued', position: null, estimated_start: null, waiting_for: 'held' }, 7, now, 'UTC'),
    'job 7 waits: no estimated start yet; held (dopq release ID)',
  );
  t.is(waitingLine(undefined, 8, now), 'job 8 waits for the daemon to read it');
  t.deepEqual([1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111].map(ordinal), [
    '1st',
    '2nd',
    '3rd',
    '4th',
    '11th',
    '12th',
    '13th',
    '21st',
    '22nd',
    '101st',
    '111th',
  ]);
});
