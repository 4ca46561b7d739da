/**
 * The HS256 secret file shared by the gateway (which verifies) and whoever
 * mints (`sluice token`, the demo). Its bytes are the key, except one
 * trailing newline, so `echo ... > file` and an editor's final newline do
 * not change the key. The demo creates one on first run: 48 random bytes as
 * base64url text, file mode 0600 (whoever reads it can mint any grant).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SluiceError } from '../errors.js';
import { MIN_SECRET_BYTES } from './mint.js';

/** Reads a secret file; throws INVALID_ARGUMENT naming the file when it is missing or too short. */
export async function readSecretFile(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    throw new SluiceError('INVALID_ARGUMENT', `cannot read secret file ${path}: ${(err as Error).message}`, { cause: err });
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09 || bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  const secret = bytes.subarray(0, end);
  if (secret.length < MIN_SECRET_BYTES) throw new SluiceError('INVALID_ARGUMENT', `secret file ${path} holds ${secret.length} bytes; HS256 needs at least ${MIN_SECRET_BYTES}`);
  return secret;
}

/** The secret in `path`, created first (random, mode 0600, parent dirs 0700) when the file does not exist. */
export async function ensureSecretFile(path: string): Promise<{ secret: Uint8Array; created: boolean }> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let created = true;
  try {
    // 'wx': never overwrite a secret another process (or a previous run) made.
    await writeFile(path, randomBytes(48).toString('base64url'), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    created = false;
  }
  return { secret: await readSecretFile(path), created };
}
