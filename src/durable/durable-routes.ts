/**
 * The gateway's durable routes: which routes are durable (their policy),
 * one queue and one dispatcher per route, opened on first use (a command
 * arrives, an instance registers the route) or at start-up for routes that
 * still hold commands from before a restart. The number of durable routes is
 * bounded (`durable.maxRoutes`); beyond, commands are refused OVERLOADED.
 */
import { SluiceError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { DeadLetterSink } from '../deadletter/rules.js';
import type { Instance, Registry } from '../broker/registry.js';
import type { PolicyTable } from '../policy/policy-config.js';
import { Dispatcher, type DurableCounters } from './dispatcher.js';
import type { IntakeTarget } from './intake.js';
import type { DurableBackend, DurableQueue, QueueStats } from './queue.js';

/** One durable route as metrics and the dashboard see it. */
export interface DurableRouteStats extends QueueStats, DurableCounters {
  route: string;
  /** Commands sent to instances and not yet acknowledged. */
  inFlight: number;
}

interface OpenRoute extends IntakeTarget {
  dispatcher: Dispatcher | undefined;
  readonly counters: DurableCounters;
}

export class DurableRoutes {
  private readonly routes = new Map<string, OpenRoute>();
  private closed = false;

  constructor(
    readonly backend: DurableBackend,
    private readonly policies: PolicyTable,
    private readonly registry: Registry,
    private readonly deadLetter: DeadLetterSink | undefined,
    private readonly log: Logger,
    private readonly maxRoutes: number,
  ) {}

  /** True when `route`'s policy makes it durable. */
  isDurable(route: string): boolean {
    return this.policies.for(route).durable.enabled;
  }

  /** Opens the routes that hold commands from before, and those named durable in the config. */
  async start(configured: readonly string[]): Promise<void> {
    const existing = await this.backend.existingRoutes();
    for (const route of new Set([...existing, ...configured])) {
      if (!this.isDurable(route)) {
        if (existing.includes(route)) this.log.warn({ route }, 'durable commands kept for a route whose policy is no longer durable: they wait until it is again');
        continue;
      }
      await this.target(route).queue;
    }
  }

  /** Where commands of `route` go; opens the route on first use. Throws OVERLOADED beyond `maxRoutes`. */
  target(route: string): IntakeTarget {
    const open = this.routes.get(route);
    if (open) return open;
    if (this.closed) throw new SluiceError('UNAVAILABLE', 'gateway is shutting down');
    if (this.routes.size >= this.maxRoutes) throw new SluiceError('OVERLOADED', `the gateway holds its bound of ${this.maxRoutes} durable routes (durable.maxRoutes)`);
    const policy = this.policies.for(route).durable;
    const counters: DurableCounters = { accepted: 0, duplicates: 0, refused: 0, delivered: 0, redeliveries: 0, deadLettered: 0 };
    const entry: OpenRoute = { route, dispatcher: undefined, counters, queue: Promise.resolve(undefined as unknown as DurableQueue) };
    const queue = this.backend.open(route, { maxMessages: policy.maxMessages, maxBytes: policy.maxBytes, dedupeWindowMs: policy.dedupeWindowMs, ackTimeoutMs: policy.ackTimeoutMs }).then((q) => {
      const d = new Dispatcher(q, policy, this.deadLetter, this.log.child({ durable: route }), counters);
      entry.dispatcher = d;
      if (this.closed) {
        void d.close();
        return q;
      }
      for (const i of this.registry.candidates(route)) d.add(i);
      return q;
    });
    queue.catch((err: unknown) => {
      this.log.error({ route, reason: (err as Error).message }, 'durable route could not be opened');
      if (this.routes.get(route) === entry) this.routes.delete(route);
    });
    (entry as { queue: Promise<DurableQueue> }).queue = queue;
    this.routes.set(route, entry);
    return entry;
  }

  /** An instance registered: it serves its durable routes from now on. */
  registered(instance: Instance): void {
    for (const route of instance.routes.keys()) {
      if (!this.isDurable(route)) continue;
      let t: IntakeTarget;
      try {
        t = this.target(route);
      } catch (err) {
        this.log.warn({ route, reason: (err as Error).message }, 'durable route not served');
        continue;
      }
      void t.queue.then(() => this.routes.get(route)?.dispatcher?.add(instance), () => undefined);
    }
  }

  /** An instance left: its unacknowledged commands are redelivered to others. */
  unregistered(instance: Instance): void {
    for (const route of instance.routes.keys()) this.routes.get(route)?.dispatcher?.remove(instance);
  }

  has(route: string): boolean {
    return this.routes.has(route);
  }

  stats(): DurableRouteStats[] {
    const out: DurableRouteStats[] = [];
    for (const [route, r] of this.routes) {
      const d = r.dispatcher;
      if (!d) continue;
      out.push({ route, ...d.queue.stats(), ...r.counters, inFlight: d.inFlight });
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.routes.values()];
    await Promise.all(all.map(async (r) => {
      await r.queue.catch(() => undefined);
      await r.dispatcher?.close();
    }));
    await this.backend.close();
  }
}
