/**
 * Reads an HTTP bridge request body whole, bounded: a declared or actual
 * size over the payload limit is refused as PAYLOAD_TOO_LARGE before more is
 * read, and the bytes held while reading count against the gateway memory
 * budget (kind `http`), which may shed the largest body being read.
 */
import type { IncomingMessage } from 'node:http';
import { SluiceError } from '../errors.js';
import type { MemoryBudget } from '../rsocket/memory-budget.js';

/**
 * The body of `req`, at most `maxBytes`. Rejects with PAYLOAD_TOO_LARGE when
 * it is larger, OVERLOADED when the memory budget sheds it, CANCELED when the
 * caller goes away first.
 */
export function readBody(req: IncomingMessage, maxBytes: number, memory: MemoryBudget | undefined): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(tooLarge(maxBytes, `declares ${declared} bytes`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const holder = memory?.holder('http', {
      shed: (reason) => finish(new SluiceError('OVERLOADED', reason)),
    });
    const finish = (error?: SluiceError) => {
      if (done) return;
      done = true;
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      holder?.release();
      if (error) {
        // Stop reading: what is left of the body is not wanted.
        req.pause();
        reject(error);
      } else {
        resolve(new Uint8Array(Buffer.concat(chunks, size)));
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) return finish(tooLarge(maxBytes, `is over ${maxBytes} bytes`));
      chunks.push(chunk);
      holder?.add(chunk.length);
    };
    const onEnd = () => finish();
    const onError = (err: Error) => finish(new SluiceError('CANCELED', `request body: ${err.message}`));
    const onClose = () => finish(new SluiceError('CANCELED', 'the caller closed the request before its body ended'));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

function tooLarge(maxBytes: number, what: string): SluiceError {
  return new SluiceError('PAYLOAD_TOO_LARGE', `the request body ${what}; limits.maxPayloadSize is ${maxBytes} bytes`);
}
