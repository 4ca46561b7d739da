/**
 * The checkout panel: places an order with `checkout.place`, then lists the
 * order's events from `orders.watch` as they arrive, until OrderConfirmed or
 * OrderCancelled. One watch at a time: placing another order cancels the
 * previous watch. The list is bounded.
 */
import { isSluiceError, type SluiceClient } from '../../client/browser.js';

export interface OrderEvent {
  type: string;
  orderId: string;
  seq: number;
  at: string | number;
  [field: string]: unknown;
}

const TERMINAL = new Set(['OrderConfirmed', 'OrderCancelled']);
/** Events kept in the list; older ones drop off. */
export const EVENTS_KEPT = 100;

export interface CheckoutElements {
  form: HTMLFormElement;
  sku: HTMLInputElement;
  qty: HTMLInputElement;
  button: HTMLButtonElement;
  status: HTMLElement;
  events: HTMLElement;
}

export class CheckoutPanel {
  private watch: AbortController | undefined;

  constructor(
    private readonly el: CheckoutElements,
    private readonly client: () => SluiceClient | undefined,
  ) {
    el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.place(el.sku.value.trim(), Number(el.qty.value));
    });
  }

  async place(sku: string, qty: number): Promise<void> {
    const client = this.client();
    if (!client?.connected) return this.say('error', 'not connected to the gateway');
    if (!sku || !Number.isInteger(qty) || qty < 1) return this.say('error', 'enter a SKU and a whole quantity of at least 1');
    this.watch?.abort();
    const watch = (this.watch = new AbortController());
    this.el.events.replaceChildren();
    this.el.button.disabled = true;
    this.say('pending', 'placing order…');
    let orderId: string;
    try {
      const placed = await client.requestResponse<{ orderId: string; status: string }>('checkout.place', {
        idempotencyKey: newKey(),
        customerId: 'dashboard',
        items: [{ sku, qty }],
      });
      orderId = placed.orderId;
      this.say('pending', `order ${orderId}: ${placed.status}`);
    } catch (err) {
      return this.say('error', `checkout.place failed: ${describe(err)}`);
    } finally {
      this.el.button.disabled = false;
    }
    try {
      for await (const event of client.iterateStream<OrderEvent>('orders.watch', { orderId }, { prefetch: 8, signal: watch.signal })) {
        this.append(event);
        if (TERMINAL.has(event.type)) {
          this.say(event.type === 'OrderConfirmed' ? 'confirmed' : 'cancelled', `order ${orderId}: ${event.type}`);
          break;
        }
      }
    } catch (err) {
      if (!watch.signal.aborted) this.say('error', `orders.watch failed: ${describe(err)}`);
    }
  }

  private append(event: OrderEvent): void {
    const li = document.createElement('li');
    li.dataset.type = event.type;
    const { type, orderId: _orderId, seq, at, ...rest } = event;
    const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
    li.textContent = `#${seq} ${type} ${typeof at === 'number' ? new Date(at).toLocaleTimeString() : at}${extra}`;
    this.el.events.append(li);
    while (this.el.events.childElementCount > EVENTS_KEPT) this.el.events.firstElementChild?.remove();
  }

  private say(state: string, text: string): void {
    this.el.status.dataset.state = state;
    this.el.status.textContent = text;
  }
}

/** `CODE: message` for Sluice errors, so an operator sees NO_ROUTE or CIRCUIT_OPEN at once. */
export function describe(err: unknown): string {
  if (isSluiceError(err)) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** An idempotency key; crypto.randomUUID needs a secure context, getRandomValues does not. */
function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `dash-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}
