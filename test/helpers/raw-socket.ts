/**
 * A raw RSocket-over-WebSocket peer for attack tests: sends any frame bytes
 * (fragments a correct engine would finish, SETUPs followed by silence) and
 * records the ERROR frames it receives, with a wait on a condition.
 */
import { WebSocket } from 'ws';
import { decodeFrame, encodeSetup } from '../../src/protocol/codec.js';
import { FrameType, type ErrorFrame } from '../../src/protocol/frames.js';
import { MimeTypes } from '../../src/protocol/metadata.js';

export const setupFrame = (lifetime = 90_000) => encodeSetup({ keepAlive: Math.min(20_000, lifetime), lifetime, metadataMimeType: MimeTypes.COMPOSITE, dataMimeType: MimeTypes.JSON });

export interface RawSocket {
  readonly ws: WebSocket;
  readonly errors: ErrorFrame[];
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;
  /** Resolves once `errors` satisfies `fn` (checked as each ERROR arrives), or rejects when the socket closes first. */
  errorsMatch(fn: (errors: ErrorFrame[]) => boolean): Promise<void>;
}

export function rawSocket(url: string, options: { localAddress?: string } = {}): RawSocket {
  const ws = new WebSocket(url, options.localAddress ? { localAddress: options.localAddress } : {});
  const errors: ErrorFrame[] = [];
  const waiters = new Set<() => void>();
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  ws.on('message', (data: Buffer) => {
    const frame = decodeFrame(new Uint8Array(data));
    if (frame.type !== FrameType.ERROR) return;
    errors.push(frame as ErrorFrame);
    for (const w of [...waiters]) w();
  });
  return {
    ws,
    errors,
    opened,
    closed,
    errorsMatch(fn) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!fn(errors)) return;
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
        void closed.then(() => {
          if (!waiters.delete(check)) return;
          if (fn(errors)) resolve();
          else reject(new Error(`socket closed; errors: ${JSON.stringify(errors.map((e) => e.message))}`));
        });
        check();
      });
    },
  };
}
