/**
 * The owner of an idempotency key among order instances (rendezvous
 * hashing) and the validation of the instance list: every instance given
 * the same list agrees on the owner, keys spread over the instances, and a
 * change to the list moves only the keys the change concerns.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from 'sluice';
import { keyOwner, MAX_ORDER_INSTANCES, resolveOrderInstances } from '../../src/order-owners.js';

const keys = Array.from({ length: 3_000 }, (_, i) => `key-${i}`);

describe('keyOwner', () => {
  it('is the same whatever the order of the list, and spreads keys over every instance', () => {
    const list = ['order-1', 'order-2', 'order-3'];
    const counts = new Map<string, number>();
    for (const k of keys) {
      const owner = keyOwner(k, list);
      expect(keyOwner(k, [...list].reverse())).toBe(owner);
      counts.set(owner, (counts.get(owner) ?? 0) + 1);
    }
    // 1,000 expected each; far from the bounds unless the hash is broken.
    for (const instance of list) expect(counts.get(instance)).toBeGreaterThan(800);
  });

  it('moves only the keys of an added or removed instance', () => {
    const two = ['order-1', 'order-2'];
    const three = ['order-1', 'order-2', 'order-3'];
    let moved = 0;
    for (const k of keys) {
      const before = keyOwner(k, two);
      const after = keyOwner(k, three);
      // A key either stays or moves to the new instance, never between old ones.
      if (after !== before) {
        expect(after).toBe('order-3');
        moved++;
      }
      // Removing order-3 again gives each of its keys back to its former owner.
      expect(keyOwner(k, two)).toBe(before);
    }
    expect(moved).toBeGreaterThan(800);
    expect(moved).toBeLessThan(1_200);
  });

  it('a list of one owns every key', () => {
    for (const k of keys.slice(0, 50)) expect(keyOwner(k, ['order-7'])).toBe('order-7');
  });
});

describe('resolveOrderInstances', () => {
  it('defaults to this instance alone and accepts a comma list or an array including it', () => {
    expect(resolveOrderInstances(undefined, 'order-1')).toEqual(['order-1']);
    expect(resolveOrderInstances('order-1, order-2', 'order-2')).toEqual(['order-1', 'order-2']);
    expect(resolveOrderInstances(['a', 'b_2'], 'a')).toEqual(['a', 'b_2']);
  });

  it.each([
    ['', 'must name at least one instance'],
    ['order-1,order-1', "names 'order-1' twice"],
    ['order-2,order-3', "must include this instance 'order-1'"],
    ['order-1,order.2', 'instance ids are 1-64 characters'],
    ['order-1,', 'instance ids are 1-64 characters'],
    [Array.from({ length: MAX_ORDER_INSTANCES + 1 }, (_, i) => `order-${i + 1}`).join(','), `at most ${MAX_ORDER_INSTANCES} instances`],
  ])('refuses %j naming the key', (value, why) => {
    let err: unknown;
    try {
      resolveOrderInstances(value, 'order-1');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).key).toBe('order.orderInstances');
    expect((err as ConfigError).message).toContain(why);
  });
});
