/**
 * The order service: takes orders, runs their sagas, and serves their events
 * and views. Public routes (docs/protocol.md):
 *
 * - `checkout.place` (request-response): validate, record durably, answer
 *   `{orderId, status}`; payment and inventory happen afterwards.
 * - `checkout.submit` (request-channel): place commands in, acks out, in the
 *   order of the commands. A command is pulled from the requester only when
 *   the work queue has room, so a flooding producer is paced by demand.
 * - `orders.watch` (request-stream): the order's events, history first, then
 *   live, completing after the terminal event; produced only on demand.
 * - `orders.get` (request-response): the order's view from the read model.
 * - `orders.stats` (request-response): counts and the high water marks of
 *   every bound (work queue, sagas, watchers, channels).
 *
 * Several instances may run at once, each with its own store, all given
 * the same list of instances (`orderInstances`). An idempotency key belongs
 * to one of them (rendezvous hashing over the list, order-owners.ts): an
 * instance asked to place a key it does not own relays the command to the
 * owner's `orders.owner.<instance>.place`, where the key's unique index
 * decides, so a key places one order whichever instances its retries reach.
 * An order belongs to the instance that placed it (its id ends with
 * `@<instance>`) and only that instance runs its saga. The gateway sends
 * `orders.get` and `orders.watch` to whichever instance it picks; one that
 * does not own the order relays the call to the owner through the gateway,
 * on the owner's own routes `orders.owner.<instance>.get` and `.watch`.
 * Owner routes never relay, so a relay is one hop at most.
 */
import { join } from 'node:path';
import type { IntervalHistogram } from 'node:perf_hooks';
import { loopLateness, startLoopDelay } from './loop-delay.js';
import { SluiceError } from 'sluice';
import { lastItem, type LastItem } from 'sluice';
import { deadlineEntry } from 'sluice';
import { silentLogger, type Logger } from 'sluice';
import type { Service } from 'sluice';
import type { RouteTable, StreamContext } from 'sluice';
import { resolveOrderOptions, resolveStoreThread, type OrderOptions } from './config.js';
import { isTerminal, type OrderEvent } from './events.js';
import { GcPauses } from './gc-pauses.js';
import { OrderNotifier } from './order-notifier.js';
import { OrderStore, orderOwner, type PlaceResult } from './order-store.js';
import { keyOwner, resolveOrderInstances } from './order-owners.js';
import type { OrderStatus } from './read-model.js';
import { SagaRunner, type StepCaller } from './saga-runner.js';
import { OrderTraces } from './order-traces.js';
import { OrderWebhookFeed } from './order-webhooks.js';
import type { TraceContext } from 'sluice';
import { connectCheckoutService, DEFAULT_DATA_DIR, type CheckoutServiceOptions, type RunningService } from './service-host.js';
import { parseEmpty, parseOrderRef, parsePlaceCommand, type PlaceCommand } from './validation.js';
import { WorkQueue } from './work-queue.js';

/** The routes the order service registers (the demo's readiness waits for each). */
export const ORDER_ROUTES = ['checkout.place', 'checkout.submit', 'orders.watch', 'orders.get', 'orders.stats'] as const;

/** The default instance id of the order service; its store is `<dataDir>/order`. */
export const DEFAULT_ORDER_INSTANCE = 'order-1';

/** The pattern of every instance's owner routes (see ownerRoutes): what an order service's token must grant to register and to call. */
export const ORDER_OWNER_ROUTES = 'orders.owner.*';

/**
 * The routes on which `instance` serves the orders and idempotency keys it
 * owns: where other instances relay reads (`get`, `watch`) and place
 * commands (`place`), and its own `orders.stats` (`stats`, for an operator
 * asking one instance). None of them relays again.
 */
export function ownerRoutes(instance: string): { get: string; watch: string; place: string; stats: string } {
  return { get: `orders.owner.${instance}.get`, watch: `orders.owner.${instance}.watch`, place: `orders.owner.${instance}.place`, stats: `orders.owner.${instance}.stats` };
}

/**
 * Where an order-service instance keeps its store: `<dataDir>/order` for the
 * default instance (as before instances were more than one), else
 * `<dataDir>/<instance>` with characters other than `[A-Za-z0-9_.-]` as `_`.
 */
export function orderStoreDir(options: Pick<CheckoutServiceOptions, 'dataDir' | 'instance'>): string {
  const instance = options.instance ?? DEFAULT_ORDER_INSTANCE;
  const dir = instance === DEFAULT_ORDER_INSTANCE ? 'order' : instance.replace(/[^A-Za-z0-9_.-]/g, '_');
  return join(options.dataDir ?? DEFAULT_DATA_DIR, dir);
}

/** What a relayed place fails with when the owner was not reached or did not answer: nothing says the key was refused. */
const OWNER_UNREACHED: ReadonlySet<string> = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'OVERLOADED', 'CANCELED']);

/** Events read from the store per page by `orders.watch` (an order has at most 9). */
const WATCH_PAGE = 16;

/** A `checkout.submit` ack: the order placed, or why the command was refused. */
export type SubmitAck = { idempotencyKey: string | null; orderId: string } | { idempotencyKey: string | null; error: { code: string; message: string } };

/** The order service's components, shared by its routes and exposed for tests and embedding. */
export interface OrderServiceParts {
  /** This instance's id: the owner of the orders it accepts. */
  readonly instance: string;
  /**
   * Every order instance (this one included), validated (resolveOrderInstances):
   * the owner of an idempotency key is picked from it. Default `[instance]`.
   */
  readonly instances?: readonly string[];
  /** Places relayed from other instances in progress at once (their own work queue, apart from this instance's). */
  readonly relayed?: WorkQueue;
  /** Calls another instance's owner routes (through the gateway); absent, every order is looked up locally. */
  readonly peers?: OwnerCaller;
  readonly store: OrderStore;
  readonly queue: WorkQueue;
  readonly notifier: OrderNotifier;
  readonly runner: SagaRunner;
  readonly options: OrderOptions;
  /** Each order's trace context, so its saga's steps are children of it; absent, steps are traced on their own. */
  readonly traces?: OrderTraces;
  /** Publishes order events to webhooks; absent, none are. */
  readonly feed?: OrderWebhookFeed;
  /** This thread's event-loop delay since start (what every socket of the service waits behind); absent, not reported. */
  readonly loopDelay?: IntervalHistogram;
  /** This thread's garbage-collection pauses since start (part of that delay); absent, not reported. */
  readonly gcPauses?: GcPauses;
}

/** How an instance reaches the instance that owns an order. */
export interface OwnerCaller {
  requestResponse(route: string, data: unknown, signal: AbortSignal): Promise<unknown>;
  iterateStream(route: string, data: unknown, signal: AbortSignal): AsyncIterableIterator<OrderEvent>;
}

/** The order service's route table over its components (no I/O of its own beyond theirs). */
export function orderRoutes(parts: OrderServiceParts): RouteTable {
  const { store, queue, notifier, runner, options, instance, peers, traces, feed, loopDelay, gcPauses } = parts;
  const instances = parts.instances ?? [instance];
  // Relayed places have queue slots of their own: taking this instance's would let two instances, each
  // full of relays to the other, wait on each other until the relay deadline.
  const relayed = parts.relayed ?? new WorkQueue(options.queueSize, options.maxQueueWaiters);
  const own = ownerRoutes(instance);
  /** The instance to relay to, or undefined when this one owns the order (or the id names no owner). */
  const elsewhere = (orderId: string): string | undefined => {
    const owner = orderOwner(orderId);
    return owner !== undefined && owner !== instance && peers ? owner : undefined;
  };
  const getLocal = async (orderId: string) => {
    const view = await store.view(orderId);
    if (!view) throw new SluiceError('INVALID_ARGUMENT', `no order '${orderId}'`);
    return view;
  };
  let channels = 0;
  let channelsMax = 0;
  const window = submitWindow(options.queueSize);

  /** Records a validated command; the caller holds a work-queue slot. */
  const place = async (cmd: PlaceCommand, trace?: TraceContext): Promise<PlaceResult> => {
    const result = await store.place(cmd);
    if (result.created && trace) traces?.remember(result.orderId, trace);
    // A journaled order is answered before its row is committed; its saga (and its first webhook) wait for the commit.
    if (result.created) {
      void result.stored?.then((inserted) => {
        if (!inserted) return;
        runner.offer(result.orderId, result.saga);
        feed?.changed(result.orderId);
      });
    }
    return result;
  };

  /**
   * A validated command placed by the instance owning its key: here, or
   * relayed to the owner (bounded by relayDeadlineMs; the owner never
   * relays it again). The caller holds a work-queue slot.
   */
  const accept = async (cmd: PlaceCommand, signal: AbortSignal, trace?: TraceContext): Promise<{ orderId: string; status: OrderStatus }> => {
    const owner = instances.length > 1 ? keyOwner(cmd.idempotencyKey, instances) : instance;
    if (owner === instance || !peers) {
      const { orderId, status } = await place(cmd, trace);
      return { orderId, status };
    }
    const deadline = AbortSignal.timeout(options.relayDeadlineMs);
    try {
      return (await peers.requestResponse(ownerRoutes(owner).place, cmd, AbortSignal.any([signal, deadline]))) as { orderId: string; status: OrderStatus };
    } catch (err) {
      if (deadline.aborted && !signal.aborted) {
        throw new SluiceError('DEADLINE_EXCEEDED', `idempotency key '${cmd.idempotencyKey}' belongs to order-service instance '${owner}', which did not answer within ${options.relayDeadlineMs} ms; retry with the same key`);
      }
      throw ownerUnreachable(err, owner, `idempotency key '${cmd.idempotencyKey}'`);
    }
  };

  /**
   * A `checkout.submit` command's ack, or `{ fail }` when the key's owner
   * could not be asked (not connected, too slow, too busy): that ends the
   * channel with the error rather than acknowledging the command as refused,
   * so a durable route delivers every unacknowledged command again (an ack
   * settles a durable command for good) and a plain client resubmits by key.
   */
  const ack = async (data: unknown, signal: AbortSignal): Promise<SubmitAck | { fail: SluiceError }> => {
    const key = typeof data === 'object' && data !== null && typeof (data as { idempotencyKey?: unknown }).idempotencyKey === 'string' ? (data as { idempotencyKey: string }).idempotencyKey : null;
    let cmd: PlaceCommand;
    try {
      cmd = parsePlaceCommand(data);
    } catch (err) {
      const e = SluiceError.from(err);
      return { idempotencyKey: key, error: { code: e.code, message: e.message } };
    }
    const relayed = instances.length > 1 && peers !== undefined && keyOwner(cmd.idempotencyKey, instances) !== instance;
    try {
      const { orderId } = await accept(cmd, signal);
      return { idempotencyKey: key, orderId };
    } catch (err) {
      const e = SluiceError.from(err);
      if (relayed && OWNER_UNREACHED.has(e.code)) return { fail: e };
      return { idempotencyKey: key, error: { code: e.code, message: e.message } };
    }
  };

  /** `orders.stats`, or this instance's own (`orders.owner.<instance>.stats`): the counts and the high water mark of every bound. */
  const stats = async (data: unknown, route: string) => {
    parseEmpty(data, route);
    return {
      orders: await store.counts(),
      queue: { depth: queue.depth, max: queue.max, capacity: queue.capacity, waiting: queue.waiting },
      relayedPlaces: { depth: relayed.depth, max: relayed.max, capacity: relayed.capacity, waiting: relayed.waiting },
      sagas: { active: runner.active, max: runner.max, capacity: options.maxSagas, parked: await store.parkedCount(), ...runner.counts, timeline: runner.phases() },
      dependencies: runner.dependencies(),
      // What the bounds above add up to: the process's resident memory, in bytes. The event-loop delay
      // (ms) is what any request to this service waited before being read; the collector's pauses on
      // this thread (ms, by kind) are the part of it that garbage collection took.
      process: {
        rssBytes: process.memoryUsage.rss(),
        ...(loopDelay ? { eventLoopDelayMs: loopLateness(loopDelay) } : {}),
        ...(gcPauses ? { gcPauseMs: gcPauses.stats } : {}),
      },
      // How long one store operation held the store's worker (ms): what an order to accept may wait behind.
      // places / placeCommits: orders accepted per transaction (places waiting for the store commit together).
      // placeWait*: how long places waited for the store's run queue; slowestPlaceWaits: what ran just before
      // the longest waits; byOp: the longest run per kind of operation (a slice of a split batch counts alone).
      // journal: orders answered from the place journal before their commit (place-journal.ts), and the places
      // that waited for the store instead (journal full, or the key perhaps placed before).
      store: (({ lastMs: _last, ...busy }) => ({ ...busy, maxMs: round(busy.maxMs), recentMaxMs: round(busy.recentMaxMs), journal: store.journalStats }))(store.busy),
      watchers: { active: notifier.active, capacity: notifier.capacity },
      submitChannels: { active: channels, max: channelsMax, capacity: options.maxSubmitChannels },
    };
  };

  return {
    'checkout.place': {
      idempotent: true,
      async requestResponse(data: unknown, ctx) {
        // Validate before taking a slot: bad input costs nothing and records nothing.
        const cmd = parsePlaceCommand(data);
        await queue.acquire(ctx.signal);
        try {
          return await accept(cmd, ctx.signal, ctx.trace);
        } finally {
          queue.release();
        }
      },
    },

    // A place relayed by another instance for a key this one owns: placed here, whatever this
    // instance's own list says (never relayed again, so a relay is one hop at most).
    [own.place]: {
      idempotent: true,
      async requestResponse(data: unknown, ctx) {
        const cmd = parsePlaceCommand(data);
        await relayed.acquire(ctx.signal);
        try {
          const { orderId, status } = await place(cmd, ctx.trace);
          return { orderId, status };
        } finally {
          relayed.release();
        }
      },
    },

    'checkout.submit': {
      // Commands are requested only from the handler's pulls, at most `window` ahead of them.
      inputPrefetch: window,
      requestChannel(input: AsyncIterableIterator<unknown>, ctx: StreamContext) {
        if (channels >= options.maxSubmitChannels) throw new SluiceError('OVERLOADED', `too many checkout.submit channels (${options.maxSubmitChannels}); retry later`);
        channels++;
        channelsMax = Math.max(channelsMax, channels);
        return submitAcks(input, ctx, queue, ack, () => channels--);
      },
    },

    'orders.watch': {
      requestStream(data: unknown, ctx: StreamContext) {
        const { orderId } = parseOrderRef(data, 'orders.watch');
        const owner = elsewhere(orderId);
        if (owner !== undefined) return relayWatch(peers!, owner, orderId, ctx);
        return watch(orderId, ctx, store, notifier);
      },
    },

    'orders.get': {
      idempotent: true,
      async requestResponse(data: unknown, ctx) {
        const { orderId } = parseOrderRef(data, 'orders.get');
        const owner = elsewhere(orderId);
        if (owner === undefined) return getLocal(orderId);
        return peers!.requestResponse(ownerRoutes(owner).get, { orderId }, ctx.signal).catch((err: unknown) => {
          throw ownerUnreachable(err, owner, `order '${orderId}'`);
        });
      },
    },

    // This instance's own orders only: never relayed again, so a relay is one hop at most.
    [own.watch]: {
      requestStream(data: unknown, ctx: StreamContext) {
        return watch(parseOrderRef(data, own.watch).orderId, ctx, store, notifier);
      },
    },

    [own.get]: {
      idempotent: true,
      requestResponse: (data: unknown) => getLocal(parseOrderRef(data, own.get).orderId),
    },

    'orders.stats': { idempotent: true, requestResponse: (data: unknown) => stats(data, 'orders.stats') },

    [own.stats]: { idempotent: true, requestResponse: (data: unknown) => stats(data, own.stats) },
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

/**
 * Commands a `checkout.submit` channel may have requested ahead of its pulls:
 * enough to hide the round trip to the requester, small against the queue.
 */
export function submitWindow(queueSize: number): number {
  return Math.max(1, Math.min(8, Math.floor(queueSize / 4)));
}

/**
 * The ack stream of one `checkout.submit` channel.
 *
 * - A pump takes a work-queue slot, then pulls the next command. Demand to
 *   the requester is sent only from that pull (the channel input tops its
 *   read-ahead up to `window` there), so nothing is requested while the
 *   queue is full. A channel keeps at most half the queue in progress, so
 *   one requester cannot take all of it.
 * - Each command is recorded as soon as it is pulled; the generator yields
 *   the acks in command order as the requester's demand allows and frees a
 *   command's slot when its ack goes out.
 *
 * What the service holds for a channel is therefore bounded by its slots plus
 * `window` commands read ahead; a requester that stops reading acks stops
 * being asked for commands.
 */
function submitAcks(
  input: AsyncIterableIterator<unknown>,
  ctx: StreamContext,
  queue: WorkQueue,
  ack: (data: unknown, signal: AbortSignal) => Promise<SubmitAck | { fail: SluiceError }>,
  onEnd: () => void,
): AsyncIterable<SubmitAck> {
  const perChannel = Math.max(1, Math.floor(queue.capacity / 2));
  // Never rejected (ack answers failures as values), so none is an unhandled rejection while it waits its turn.
  const pending: Promise<SubmitAck | { fail: SluiceError }>[] = [];
  let inputDone = false;
  let inputError: unknown;
  // One waiter each: the generator waits for acks, the pump for the channel's share of the queue.
  let ackReady: (() => void) | undefined;
  let shareFree: (() => void) | undefined;
  const wake = (which: 'ack' | 'share') => {
    const w = which === 'ack' ? ackReady : shareFree;
    if (which === 'ack') ackReady = undefined;
    else shareFree = undefined;
    w?.();
  };

  const pump = async () => {
    try {
      for (;;) {
        while (pending.length >= perChannel && !ctx.signal.aborted) await new Promise<void>((resolve) => (shareFree = resolve));
        await queue.acquire(ctx.signal);
        let next: IteratorResult<unknown>;
        try {
          next = await input.next();
        } catch (err) {
          queue.release();
          throw err;
        }
        if (next.done) {
          queue.release();
          return;
        }
        pending.push(ack(next.value, ctx.signal));
        wake('ack');
      }
    } catch (err) {
      inputError = err;
    } finally {
      inputDone = true;
      wake('ack');
    }
  };
  void pump();

  return (async function* () {
    try {
      for (;;) {
        const head = pending[0];
        if (head === undefined) {
          if (inputDone) {
            if (inputError !== undefined && !ctx.signal.aborted) throw inputError;
            return;
          }
          await new Promise<void>((resolve) => (ackReady = resolve));
          continue;
        }
        const result = await head;
        void pending.shift();
        queue.release();
        wake('share');
        // The acks before it went out; it and those after are not acknowledged, so a durable route redelivers them.
        if ('fail' in result) throw result.fail;
        yield result;
      }
    } finally {
      // Cancelled or failed: slots still held by acks not sent are freed as their commands finish.
      for (const p of pending.splice(0)) void p.finally(() => queue.release());
      wake('share');
      onEnd();
    }
  })();
}

/**
 * One order's events: reads the log from the next `seq` whenever the order
 * notifier says it grew. Pulled only on demand, so a slow subscriber holds
 * nothing but its position; cancel (ctx.signal) ends the wait and releases
 * the subscription. The terminal event carries the completion with it
 * (`lastItem`), so a subscriber that asked for exactly the events there are
 * sees the stream end.
 */
async function* watch(orderId: string, ctx: StreamContext, store: OrderStore, notifier: OrderNotifier): AsyncGenerator<OrderEvent | LastItem<OrderEvent>> {
  let next = 1;
  const first = await store.events(orderId, next, WATCH_PAGE);
  if (first.length === 0) throw new SluiceError('INVALID_ARGUMENT', `no order '${orderId}'`);
  const sub = notifier.subscribe(orderId);
  try {
    let page = first;
    for (;;) {
      for (const event of page) {
        if (isTerminal(event)) {
          yield lastItem(event);
          return;
        }
        yield event;
        next = event.seq + 1;
      }
      // Reset before reading: an append after this point wakes the wait below at once.
      sub.reset();
      page = await store.events(orderId, next, WATCH_PAGE);
      if (page.length === 0) await sub.wait(ctx.signal);
    }
  } finally {
    sub.close();
  }
}

/**
 * The owner could not be asked: NO_ROUTE from the gateway means no instance
 * serves its owner routes (it is down or gone), which the caller sees as
 * UNAVAILABLE naming the owner (`what` names the order or the key). Other
 * errors (the owner's own answer) pass through.
 */
function ownerUnreachable(err: unknown, owner: string, what: string): SluiceError {
  const e = SluiceError.from(err);
  if (e.code !== 'NO_ROUTE') return e;
  return new SluiceError('UNAVAILABLE', `${what} belongs to order-service instance '${owner}', which is not connected; retry later`, { cause: e });
}

/**
 * `orders.watch` for an order another instance owns: the owner's stream,
 * item by item as this stream's subscriber pulls (the upstream iterator
 * requests a few ahead), ending with the terminal event as the owner's does.
 */
async function* relayWatch(peers: OwnerCaller, owner: string, orderId: string, ctx: StreamContext): AsyncGenerator<OrderEvent | LastItem<OrderEvent>> {
  const upstream = peers.iterateStream(ownerRoutes(owner).watch, { orderId }, ctx.signal);
  try {
    for await (const event of upstream) {
      if (isTerminal(event)) {
        yield lastItem(event);
        return;
      }
      yield event;
    }
  } catch (err) {
    throw ownerUnreachable(err, owner, `order '${orderId}'`);
  } finally {
    await upstream.return?.();
  }
}

/**
 * Opens this instance's order store (`orderStoreDir`), serves the order
 * routes and its owner routes, and resumes every unfinished saga it owns.
 */
export async function startOrderService(
  options: CheckoutServiceOptions & {
    order?: Partial<OrderOptions>;
    /** Publish every order event to this webhook topic (`webhooks.publish`). Default none. */
    webhookTopic?: string;
    /**
     * Every order-service instance, this one included (`order-1,order-2` or a list): idempotency keys are
     * owned by one of them (resolveOrderInstances validates it). Default: this instance alone.
     */
    orderInstances?: string | readonly string[];
    /**
     * Where the order store's PGlite runs: `worker` (its own thread, default) or `service` (this
     * service's thread). Both run the store's operations one at a time, accepting orders first and
     * together; docs/checkout.md compares them.
     */
    storeThread?: string;
  },
): Promise<RunningService & { parts: OrderServiceParts }> {
  const resolved = resolveOrderOptions(options.order);
  const log: Logger = options.logger ?? silentLogger;
  const instance = options.instance ?? DEFAULT_ORDER_INSTANCE;
  const instances = resolveOrderInstances(options.orderInstances, instance);
  const thread = resolveStoreThread(options.storeThread);
  const store = await OrderStore.open(orderStoreDir(options), log, instance, thread, { maxPending: resolved.maxJournaledPlaces, lingerMs: resolved.placeLingerMs, workerNice: resolved.storeWorkerNice });
  // Before registering: the first orders must not pay for PGlite compiling its code paths.
  const warmStarted = performance.now();
  try {
    await store.warmUp();
  } catch (err) {
    await store.close();
    throw err;
  }
  log.info({ ms: Math.round(performance.now() - warmStarted) }, 'order store warmed up');
  const notifier = new OrderNotifier(resolved.maxWatchers);
  const queue = new WorkQueue(resolved.queueSize, resolved.maxQueueWaiters);
  const traces = new OrderTraces();
  const link = new GatewayLink(traces);
  const feed = options.webhookTopic
    ? new OrderWebhookFeed(options.webhookTopic, { events: (id, from, limit) => store.events(id, from, limit), publish: (topic, key, event, id) => link.publish(topic, key, event, id) }, log)
    : undefined;
  const changed = (orderId: string) => {
    notifier.notify(orderId);
    feed?.changed(orderId);
  };
  const runner = new SagaRunner(store, link, resolved, changed, log.child({ component: 'saga' }));
  const loopDelay = startLoopDelay();
  const gcPauses = new GcPauses();
  gcPauses.start();
  const relayed = new WorkQueue(resolved.queueSize, resolved.maxQueueWaiters);
  const parts: OrderServiceParts = { instance, instances, relayed, peers: link, store, queue, notifier, runner, options: resolved, traces, loopDelay, gcPauses, ...(feed ? { feed } : {}) };
  let service: Service;
  try {
    service = await connectCheckoutService({ ...options, instance }, 'order', orderRoutes(parts), { connected: () => link.wake() });
  } catch (err) {
    loopDelay.disable();
    gcPauses.stop();
    feed?.close();
    await runner.close();
    await store.close();
    throw err;
  }
  link.service = service;
  runner.start();
  log.info({ ...resolved, instances }, 'order service ready');
  return {
    service,
    parts,
    async close() {
      loopDelay.disable();
      gcPauses.stop();
      feed?.close();
      await runner.close();
      service.close();
      await store.close();
    },
  };
}

/** The saga runner's and the relays' way out: calls through the order service's own gateway connection. */
class GatewayLink implements StepCaller, OwnerCaller {
  service: Service | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(private readonly traces: OrderTraces) {}

  get connected(): boolean {
    return this.service?.connected ?? false;
  }

  requestResponse(route: string, data: unknown, signal: AbortSignal): Promise<unknown> {
    if (!this.service) return Promise.reject(new SluiceError('UNAVAILABLE', 'not connected to the gateway yet'));
    return this.service.client.requestResponse(route, data, { signal });
  }

  iterateStream(route: string, data: unknown, signal: AbortSignal): AsyncIterableIterator<OrderEvent> {
    if (!this.service) throw new SluiceError('UNAVAILABLE', 'not connected to the gateway yet');
    // An order has at most 9 events: a small read-ahead hides the hop without holding much.
    return this.service.client.iterateStream<OrderEvent>(route, data, { signal, prefetch: 4 });
  }

  call(route: string, data: unknown, deadlineMs: number, signal: AbortSignal): Promise<unknown> {
    if (!this.service) return Promise.reject(new SluiceError('UNAVAILABLE', 'not connected to the gateway yet'));
    // The deadline travels too: the gateway enforces it and the step's handler sees it (ctx.deadline, ctx.signal).
    const metadata = [deadlineEntry(deadlineMs)];
    const parent = this.traces.of((data as { orderId?: unknown } | null)?.orderId);
    const tracer = this.service.tracer;
    if (!tracer) return this.service.client.requestResponse(route, data, { signal, metadata, trace: parent });
    // The step is a child of its order; the gateway's and the step service's spans are children of the step.
    const span = tracer.start(`saga ${route}`, { kind: 'client', parent, attributes: { 'sluice.route': route, 'sluice.saga.step': route } });
    return this.service.client.requestResponse(route, data, { signal, metadata, trace: span.context }).then(
      (answer) => {
        span.end();
        return answer;
      },
      (err: unknown) => {
        const e = SluiceError.from(err);
        span.fail(e.code, e.message);
        span.end();
        throw e;
      },
    );
  }

  publish(topic: string, key: string, event: unknown, id: string): Promise<unknown> {
    if (!this.service) return Promise.reject(new SluiceError('UNAVAILABLE', 'not connected to the gateway yet'));
    return this.service.client.requestResponse('webhooks.publish', { topic, key, event, id });
  }

  whenConnected(signal: AbortSignal): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        signal.removeEventListener('abort', onAbort);
        this.waiters.delete(done);
        resolve();
      };
      const onAbort = () => {
        this.waiters.delete(done);
        reject(new SluiceError('CANCELED', 'stopped'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(done);
    });
  }

  wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
