/**
 * Which token a CLI command presents, and what a service reads: flags before
 * the environment before the demo's operator token, files trimmed, empty
 * tokens refused, and a service's token file re-read on every call so that
 * rewriting it rotates the token.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveCliToken } from '../../src/cli/cli-token.js';
import { serviceToken } from '../../src/cli/service-command.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-token-'));
  await mkdir(join(dir, 'gateway'));
  await writeFile(join(dir, 'gateway', 'operator.jwt'), 'operator-token\n');
  await writeFile(join(dir, 'mine.jwt'), '  file-token \n');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('resolveCliToken', () => {
  const env = () => ({ SLUICE_DATA_DIR: dir, SLUICE_TOKEN: 'env-token', SLUICE_TOKEN_FILE: join(dir, 'mine.jwt') });

  it('takes --token, then --token-file, then SLUICE_TOKEN, then SLUICE_TOKEN_FILE, then the operator token', async () => {
    expect(await resolveCliToken({ token: 'flag-token', 'token-file': join(dir, 'mine.jwt') }, env())).toEqual({ token: 'flag-token', source: '--token', implicit: false });
    expect(await resolveCliToken({ 'token-file': join(dir, 'mine.jwt') }, env())).toEqual({ token: 'file-token', source: join(dir, 'mine.jwt'), implicit: false });
    expect(await resolveCliToken({}, env())).toEqual({ token: 'env-token', source: 'SLUICE_TOKEN', implicit: false });
    expect(await resolveCliToken({}, { ...env(), SLUICE_TOKEN: '' })).toMatchObject({ token: 'file-token', implicit: false });
    expect(await resolveCliToken({}, { SLUICE_DATA_DIR: dir })).toEqual({ token: 'operator-token', source: join(dir, 'gateway', 'operator.jwt'), implicit: true });
  });

  it('no token anywhere: none (the anonymous grant)', async () => {
    expect(await resolveCliToken({}, { SLUICE_DATA_DIR: join(dir, 'elsewhere') })).toBeUndefined();
  });

  it('a token file asked for must exist and hold a token', async () => {
    await expect(resolveCliToken({ 'token-file': join(dir, 'missing') }, {})).rejects.toThrow(/cannot read token file/);
    await writeFile(join(dir, 'empty'), '\n');
    await expect(resolveCliToken({ 'token-file': join(dir, 'empty') }, {})).rejects.toThrow(/the token is empty/);
    await expect(resolveCliToken({ token: ' ' }, {})).rejects.toThrow(/--token: the token is empty/);
  });
});

describe('serviceToken', () => {
  it('a token file is a provider that reads the file each time', async () => {
    const file = join(dir, 'svc.jwt');
    await writeFile(file, 'first\n');
    const provider = serviceToken(file, 'ignored');
    expect(typeof provider).toBe('function');
    expect(await (provider as () => Promise<string>)()).toBe('first');
    await writeFile(file, 'rotated\n');
    expect(await (provider as () => Promise<string>)()).toBe('rotated');
  });

  it('SLUICE_TOKEN is fixed; neither is no token', () => {
    expect(serviceToken(undefined, ' fixed ')).toBe('fixed');
    expect(serviceToken('', '')).toBeUndefined();
  });
});
