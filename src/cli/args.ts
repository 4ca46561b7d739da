/** Small helpers shared by CLI commands: typed flags with env fallbacks and clear errors. */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Flags = NonNullable<ParseArgsConfig['options']>;

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export function parseFlags(argv: string[], options: Flags, usage: string): FlagValues {
  return parseCommand(argv, options, usage).values;
}

/** Flags and the positional arguments between them. */
export function parseCommand(argv: string[], options: Flags, usage: string): { values: FlagValues; positionals: string[] } {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage);
    process.exit(0);
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as FlagValues, positionals };
  } catch (err) {
    throw new Error(`${(err as Error).message}\n\n${usage}`);
  }
}

/** An integer flag (or env var), with its allowed range in the error message. */
export function intFlag(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got '${String(value)}'`);
  return n;
}

export function numberFlag(value: unknown, name: string, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number from ${min} to ${max}, got '${String(value)}'`);
  return n;
}

/**
 * The client TLS option from `--ca FILE` (or env SLUICE_CA): the PEM
 * certificate authority to trust for wss:// and tls:// gateway URLs instead
 * of the system's. Empty when neither is given.
 */
export function caOption(flag: unknown): { tls?: { ca: Buffer } } {
  const file = (flag as string | undefined) ?? process.env.SLUICE_CA;
  if (!file) return {};
  try {
    return { tls: { ca: readFileSync(file) } };
  } catch (err) {
    throw new Error(`--ca ${file}: ${(err as Error).message}`);
  }
}

/** Resolves when the process is asked to stop (SIGINT or SIGTERM). */
export function stopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** Tells a parent process (the demo supervisor) something, when there is one. */
export function notifyParent(message: Record<string, unknown>): void {
  process.send?.(message);
}

/**
 * A child of the demo supervisor runs in its own process group (so a
 * terminal's Ctrl-C reaches only the supervisor, which stops children in
 * order). If the supervisor dies, the IPC channel closes: stop gracefully too.
 */
export function exitWithParent(): void {
  if (!process.send) return;
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}

/** `a,b,c` as a list (blanks dropped); undefined when not given. */
export function splitList(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value.split(',').map((v) => v.trim()).filter((v) => v.length > 0);
}
