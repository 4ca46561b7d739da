/**
 * Numeric service options on the command line: each has a flag, maybe an env
 * var, and the option key it feeds. Values are parsed here; ranges are
 * checked by the service's own option resolver (examples/checkout/src/config.ts),
 * whose ConfigError is then reworded with the flag the user typed.
 */
import { ConfigError } from 'sluice';

export interface Knob {
  /** Flag name without dashes, e.g. `latency-ms`. */
  readonly flag: string;
  /** Option key, e.g. `latencyMs`. */
  readonly key: string;
  readonly env?: string;
}

export const PAYMENT_KNOBS: readonly Knob[] = [
  { flag: 'latency-ms', key: 'latencyMs', env: 'SLUICE_PAYMENT_LATENCY_MS' },
  { flag: 'failure-rate', key: 'failureRate', env: 'SLUICE_PAYMENT_FAILURE_RATE' },
  { flag: 'max-amount-cents', key: 'maxAmountCents', env: 'SLUICE_PAYMENT_MAX_AMOUNT_CENTS' },
];

export const INVENTORY_KNOBS: readonly Knob[] = [
  { flag: 'latency-ms', key: 'latencyMs', env: 'SLUICE_INVENTORY_LATENCY_MS' },
  { flag: 'failure-rate', key: 'failureRate', env: 'SLUICE_INVENTORY_FAILURE_RATE' },
];

export const ORDER_KNOBS: readonly Knob[] = [
  { flag: 'queue-size', key: 'queueSize' },
  { flag: 'max-sagas', key: 'maxSagas' },
  { flag: 'max-step-calls', key: 'maxStepCalls' },
  { flag: 'initial-step-calls', key: 'initialStepCalls' },
  { flag: 'max-watchers', key: 'maxWatchers' },
  { flag: 'max-submit-channels', key: 'maxSubmitChannels' },
  { flag: 'step-deadline-ms', key: 'stepDeadlineMs', env: 'SLUICE_STEP_DEADLINE_MS' },
  { flag: 'step-attempts', key: 'stepAttempts', env: 'SLUICE_STEP_ATTEMPTS' },
  { flag: 'step-deferrals', key: 'stepDeferrals' },
  { flag: 'retry-initial-delay-ms', key: 'retryInitialDelayMs' },
  { flag: 'retry-max-delay-ms', key: 'retryMaxDelayMs' },
  { flag: 'compensation-retry-ms', key: 'compensationRetryMs' },
  { flag: 'relay-deadline-ms', key: 'relayDeadlineMs' },
  { flag: 'max-journaled-places', key: 'maxJournaledPlaces', env: 'SLUICE_ORDER_MAX_JOURNALED_PLACES' },
  { flag: 'place-linger-ms', key: 'placeLingerMs' },
  { flag: 'store-nice', key: 'storeWorkerNice', env: 'SLUICE_ORDER_STORE_NICE' },
];

/** The knobs a user set, by flag (`f[prefix + flag]`) or env var, as numbers keyed by option key. */
export function readKnobs(f: Record<string, unknown>, knobs: readonly Knob[], prefix = ''): Record<string, number> {
  const values: Record<string, number> = {};
  for (const k of knobs) {
    const raw = f[prefix + k.flag] ?? (k.env ? process.env[k.env] : undefined);
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) throw new Error(`${describe(k, prefix)} must be a number, got '${String(raw)}'`);
    values[k.key] = n;
  }
  return values;
}

/** Runs `resolve` (sync or async), rewording a ConfigError with the flag (and env var) the value came from. */
export function withKnobNames<T>(knobs: readonly Knob[], resolve: () => T, prefix = ''): T {
  const reword = (err: unknown): unknown => {
    if (!(err instanceof ConfigError)) return err;
    const knob = knobs.find((k) => err.key.endsWith(`.${k.key}`));
    if (!knob) return err;
    return new Error(`${describe(knob, prefix)}: ${err.message.replace(/^config '[^']*': /, '')}`, { cause: err });
  };
  try {
    const result = resolve();
    if (result instanceof Promise) {
      return result.catch((err: unknown) => {
        throw reword(err);
      }) as T;
    }
    return result;
  } catch (err) {
    throw reword(err);
  }
}

/** Back to flag form: `{latencyMs: 5}` -> `['--latency-ms', '5']`. */
export function knobArgs(values: Record<string, number>, knobs: readonly Knob[]): string[] {
  return knobs.flatMap((k) => (values[k.key] === undefined ? [] : [`--${k.flag}`, String(values[k.key])]));
}

function describe(k: Knob, prefix: string): string {
  return `--${prefix}${k.flag}${k.env ? ` (env ${k.env})` : ''}`;
}
