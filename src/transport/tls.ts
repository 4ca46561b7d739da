/**
 * The gateway's TLS certificate: read once at start-up from the files the
 * config names, and checked (key matches certificate, PEM parses) before any
 * listener opens, so a bad file stops the gateway with the key to fix
 * instead of failing every handshake later.
 */
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { ConfigError } from '../config-error.js';

export interface TlsCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Reads and checks `tls.certFile` / `tls.keyFile`; undefined when TLS is not configured. Throws ConfigError. */
export async function loadTlsCredentials(tls: { certFile: string | null; keyFile: string | null }): Promise<TlsCredentials | undefined> {
  if (tls.certFile === null || tls.keyFile === null) return undefined;
  const read = async (key: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new ConfigError(key, `cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = await read('tls.certFile', tls.certFile);
  const key = await read('tls.keyFile', tls.keyFile);
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new ConfigError('tls.keyFile', `${tls.certFile} and ${tls.keyFile} are not a usable certificate and key: ${(err as Error).message}`);
  }
  return { cert, key };
}
