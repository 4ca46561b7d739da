/**
 * The `webhooks.*` routes the gateway serves. Each is called like any route
 * (the caller's grant must match the route name), and each checks more,
 * because a webhook hands a topic's events to whoever subscribes and makes
 * the gateway send requests where a caller says:
 *
 * - `webhooks.subscribe` also needs the topic itself granted to call (you
 *   get by webhook only what you could read), and an allowed endpoint host;
 * - `webhooks.unsubscribe` only the subscription's owner, or an admin;
 * - `webhooks.list` shows the caller's own subscriptions (all for an admin),
 *   never their secrets after subscribe;
 * - `webhooks.publish` needs the topic granted for registration, as a
 *   route the publisher serves: only the service that owns `orders.*` may
 *   publish `orders.events`.
 */
import { SluiceError } from '../errors.js';
import { RoutePatterns, type Principal } from '../auth/grant.js';
import type { Access } from '../auth/permissions.js';
import { decodeJson, encodeJson } from '../protocol/json.js';
import type { StreamHandler } from '../rsocket/stream.js';
import type { LocalRoute } from '../broker/forwarder.js';
import { isRoutePattern } from '../auth/grant.js';
import type { WebhookDispatcher } from './dispatcher.js';
import { isWebhookSecret } from './signature.js';

export const WEBHOOK_ROUTES = ['webhooks.subscribe', 'webhooks.unsubscribe', 'webhooks.list', 'webhooks.publish'] as const;

const noop = (): void => {};

/** A publisher's event id (`webhooks.publish` `id`): what makes a retried publish a duplicate. Visible ASCII. */
const EVENT_ID = /^[\x21-\x7e]{1,255}$/;

type Handler = (data: Record<string, unknown>, access: Access | undefined) => Promise<unknown> | unknown;

/**
 * The routes over `dispatcher`. Who asks comes from the request's origin (a
 * connection or the HTTP bridge); no access there means no access control
 * (a gateway without an authenticator, as in unit tests).
 */
export function webhookRoutes(dispatcher: WebhookDispatcher): Map<string, LocalRoute> {
  const handlers: Record<(typeof WEBHOOK_ROUTES)[number], Handler> = {
    'webhooks.subscribe': async (data, access) => {
      only(data, ['url', 'topic', 'secret']);
      const topic = topicOf(data.topic);
      if (access && !access.mayCall(topic)) throw denied(`topic '${topic}' is not granted to ${access.principal.id}, so it may not subscribe to it`);
      if (data.secret !== undefined && !isWebhookSecret(data.secret)) throw new SluiceError('INVALID_ARGUMENT', "'secret' must be whsec_ and the base64 of 24 to 64 bytes");
      const sub = await dispatcher.subscribe(ownerOf(access), topic, data.url, data.secret as string | undefined);
      return { id: sub.id, topic: sub.topic, url: sub.url, secret: sub.secret };
    },
    'webhooks.unsubscribe': async (data, access) => {
      only(data, ['id']);
      const id = typeof data.id === 'string' ? data.id : '';
      const sub = dispatcher.get(id);
      if (!sub) throw new SluiceError('INVALID_ARGUMENT', `no webhook subscription '${id}'`);
      if (access && !access.admin && sub.owner !== access.principal.id) throw denied(`webhook subscription '${id}' belongs to another principal`);
      await dispatcher.unsubscribe(id);
      return { unsubscribed: id };
    },
    'webhooks.list': (data, access) => {
      only(data, []);
      return { subscriptions: dispatcher.list(access && !access.admin ? access.principal.id : undefined) };
    },
    'webhooks.publish': async (data, access) => {
      only(data, ['topic', 'key', 'event', 'id']);
      const topic = topicOf(data.topic);
      if (access && !mayPublish(access.principal, topic)) throw denied(`topic '${topic}' is not granted to ${access.principal.id} for registration, so it may not publish it`);
      if (typeof data.key !== 'string' || data.key.length === 0 || data.key.length > 255) throw new SluiceError('INVALID_ARGUMENT', "'key' must be a string of 1 to 255 characters");
      if (data.event === undefined) throw new SluiceError('INVALID_ARGUMENT', "'event' is required");
      if (data.id !== undefined && (typeof data.id !== 'string' || !EVENT_ID.test(data.id))) {
        throw new SluiceError('INVALID_ARGUMENT', "'id' must be 1 to 255 visible ASCII characters (no spaces)");
      }
      return await dispatcher.publish(topic, data.key, data.event, data.id as string | undefined);
    },
  };
  const routes = new Map<string, LocalRoute>();
  for (const [route, handle] of Object.entries(handlers)) {
    routes.set(route, {
      requestResponseFrom: (origin, payload, down): StreamHandler => {
        let ended = false;
        Promise.resolve()
          .then(() => {
            const data = decodeJson(payload.data) ?? {};
            if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new SluiceError('INVALID_ARGUMENT', `${route}: data must be a JSON object`);
            return handle(data as Record<string, unknown>, origin.access);
          })
          .then(
            (answer) => {
              if (!ended && !down.closed) down.next({ data: encodeJson(answer), metadata: null }, true);
            },
            (err: unknown) => {
              if (!ended && !down.closed) down.error(SluiceError.from(err));
            },
          );
        const end = () => {
          ended = true;
        };
        return { onCancel: end, onError: end, onNext: noop, onComplete: noop, onRequest: noop };
      },
    });
  }
  return routes;
}

function mayPublish(principal: Principal, topic: string): boolean {
  return new RoutePatterns(principal.grant.register).matches(topic);
}

function ownerOf(access: Access | undefined): string {
  return access?.principal.id ?? 'open';
}

function topicOf(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 255 || v.includes('*') || !isRoutePattern(v)) {
    throw new SluiceError('INVALID_ARGUMENT', "'topic' must be a name such as 'orders.events' (1 to 255 characters, no wildcard)");
  }
  return v;
}

function only(data: Record<string, unknown>, keys: readonly string[]): void {
  const extra = Object.keys(data).find((k) => !keys.includes(k));
  if (extra !== undefined) throw new SluiceError('INVALID_ARGUMENT', `unknown field '${extra}'${keys.length ? `; known: ${keys.join(', ')}` : ''}`);
}

function denied(message: string): SluiceError {
  return new SluiceError('PERMISSION_DENIED', message);
}
