/**
 * Which order-service instance owns an idempotency key: the one every
 * instance relays `checkout.place` for that key to, so that a key places one
 * order however many instances the gateway spreads its retries over.
 *
 * Rendezvous (highest random weight) hashing over the list of instances:
 * every instance given the same list picks the same owner for a key without
 * asking anyone, and a list that gains or loses an instance moves only the
 * keys that instance wins or held (about 1/n of them), not all of them.
 */
import { createHash } from 'node:crypto';
import { ConfigError } from 'sluice';

/** What an order-service instance id may be: it is a segment of its owner routes (`orders.owner.<instance>.get`). */
const INSTANCE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Order instances a list may name at most: the owner is picked by hashing the key once per instance. */
export const MAX_ORDER_INSTANCES = 64;

/** The instance of `instances` (non-empty) that owns `idempotencyKey`. */
export function keyOwner(idempotencyKey: string, instances: readonly string[]): string {
  let best = instances[0]!;
  let bestWeight = -1n;
  for (const instance of instances) {
    // The separator keeps ("a", "bc") and ("ab", "c") apart.
    const weight = createHash('sha256').update(instance, 'utf8').update('\0').update(idempotencyKey, 'utf8').digest().readBigUInt64BE(0);
    if (weight > bestWeight || (weight === bestWeight && instance < best)) {
      best = instance;
      bestWeight = weight;
    }
  }
  return best;
}

/**
 * The validated list of order instances for instance `self`: ids of
 * `[A-Za-z0-9_-]`, 1-64 characters, no repeats, at most MAX_ORDER_INSTANCES,
 * and `self` among them (an instance that does not own any key would relay
 * every order away). A string is split at commas. Default: `[self]`.
 */
export function resolveOrderInstances(value: string | readonly string[] | undefined, self: string): string[] {
  if (value === undefined) return [self];
  const list = (typeof value === 'string' ? value.split(',') : [...value]).map((s) => s.trim());
  const key = 'order.orderInstances';
  if (list.length === 0 || (list.length === 1 && list[0] === '')) throw new ConfigError(key, 'must name at least one instance');
  if (list.length > MAX_ORDER_INSTANCES) throw new ConfigError(key, `must name at most ${MAX_ORDER_INSTANCES} instances, got ${list.length}`);
  for (const id of list) if (!INSTANCE_ID.test(id)) throw new ConfigError(key, `instance ids are 1-64 characters of A-Z a-z 0-9 _ -, got ${JSON.stringify(id)}`);
  const dup = list.find((id, i) => list.indexOf(id) !== i);
  if (dup !== undefined) throw new ConfigError(key, `names '${dup}' twice`);
  if (!list.includes(self)) throw new ConfigError(key, `must include this instance '${self}', got ${list.join(',')}`);
  return list;
}
