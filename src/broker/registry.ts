/**
 * Which instances serve which routes, and the pick among them. An instance
 * lives exactly as long as its connection: it is removed the moment the
 * connection closes.
 */
import type { RouteDeclaration } from '../protocol/registration.js';
import type { Connection } from '../rsocket/connection.js';

export interface Instance {
  readonly id: string;
  readonly service: string;
  readonly connection: Connection;
  /** Who registered it (a principal id; one shared owner when auth is off): only the same owner may take the instance id over. */
  readonly owner: string;
  readonly routes: ReadonlyMap<string, RouteDeclaration>;
  readonly registeredAt: number;
  /** Interactions forwarded to this instance and not finished: the load-balancing signal. */
  active: number;
}

export interface RegistryEvents {
  registered(instance: Instance): void;
  unregistered(instance: Instance): void;
}

export class Registry {
  private readonly byRoute = new Map<string, Instance[]>();
  private readonly byKey = new Map<string, Instance>();
  private turn = 0;

  constructor(private readonly events?: Partial<RegistryEvents>) {}

  /** Adds an instance; returns the one it replaces (same service and instance id), if any. */
  register(service: string, id: string, routes: readonly RouteDeclaration[], connection: Connection, owner = ''): { instance: Instance; replaced?: Instance } {
    const key = `${service}/${id}`;
    const replaced = this.byKey.get(key);
    if (replaced) this.unregister(replaced);
    const instance: Instance = {
      id,
      service,
      connection,
      owner,
      routes: new Map(routes.map((r) => [r.name, r])),
      registeredAt: Date.now(),
      active: 0,
    };
    this.byKey.set(key, instance);
    for (const r of instance.routes.keys()) {
      const list = this.byRoute.get(r);
      if (list) list.push(instance);
      else this.byRoute.set(r, [instance]);
    }
    this.events?.registered?.(instance);
    return replaced ? { instance, replaced } : { instance };
  }

  unregister(instance: Instance): void {
    const key = `${instance.service}/${instance.id}`;
    if (this.byKey.get(key) !== instance) return;
    this.byKey.delete(key);
    for (const r of instance.routes.keys()) {
      const list = this.byRoute.get(r)?.filter((i) => i !== instance) ?? [];
      if (list.length) this.byRoute.set(r, list);
      else this.byRoute.delete(r);
    }
    this.events?.unregistered?.(instance);
  }

  /**
   * The instance with the least outstanding work for `route`; among equals,
   * the choice rotates so that idle instances share new work evenly.
   */
  pick(route: string, exclude?: ReadonlySet<Instance>): Instance | undefined {
    const list = this.byRoute.get(route);
    if (!list) return undefined;
    const n = list.length;
    const start = this.turn++ % n;
    let best: Instance | undefined;
    for (let k = 0; k < n; k++) {
      const candidate = list[(start + k) % n]!;
      if (exclude?.has(candidate) || !candidate.connection.isOpen) continue;
      if (!best || candidate.active < best.active) best = candidate;
    }
    return best;
  }

  /**
   * The instances serving `route`, starting at a rotating position so that a
   * stable sort by load still shares ties evenly.
   */
  candidates(route: string): Instance[] {
    const list = this.byRoute.get(route);
    if (!list) return [];
    const n = list.length;
    const start = this.turn++ % n;
    // One array per request, rotated in place of three slices.
    const out = new Array<Instance>(n);
    for (let k = 0; k < n; k++) out[k] = list[(start + k) % n]!;
    return out;
  }

  /** The instance registered as `service`/`id`, if any. */
  get(service: string, id: string): Instance | undefined {
    return this.byKey.get(`${service}/${id}`);
  }

  has(route: string): boolean {
    return this.byRoute.has(route);
  }

  declaration(route: string): RouteDeclaration | undefined {
    return this.byRoute.get(route)?.[0]?.routes.get(route);
  }

  instances(): Instance[] {
    return [...this.byKey.values()];
  }

  routes(): string[] {
    return [...this.byRoute.keys()].sort();
  }
}
