/**
 * A child process for the place journal's kill -9 test: opens the order
 * store in `dir` with a linger far longer than the test, so no journaled
 * order is committed, places `n` orders, prints `placed <orderId>` for each
 * answer and then `pending <n>`, and waits to be killed.
 */
import { silentLogger } from 'sluice';
import { OrderStore } from '../../src/order-store.js';

const [dir, count] = [process.argv[2]!, Number(process.argv[3] ?? 10)];
const store = await OrderStore.open(dir, silentLogger, 'order-1', 'worker', { lingerMs: 600_000 });
await store.warmUp(1);
for (let i = 0; i < count; i++) {
  const r = await store.place({ idempotencyKey: `journal-kill-${i}`, customerId: 'c-kill', items: [{ sku: 'A1', qty: 1 + (i % 3) }] });
  process.stdout.write(`placed ${r.orderId}\n`);
}
process.stdout.write(`pending ${store.journalStats.pending} committed ${store.busy.places}\n`);
// Held open (bounded by the test, which kills this process): the journaled orders must not be committed before the kill.
setInterval(() => {}, 60_000);
