/**
 * setTimeout for delays beyond 2^31-1 ms (about 24.8 days): timers clamp
 * larger delays to 1 ms, and deadlines may legally be up to 2^32-1 ms. Longer
 * waits re-arm in steps. The timer never keeps a Node process alive.
 */
const MAX_DELAY = 0x7fffffff;

/** Calls `fn` after `ms`; returns a function that cancels it. */
export function setLongTimeout(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (remaining: number) => {
    const step = Math.min(remaining, MAX_DELAY);
    timer = setTimeout(() => (remaining > step ? arm(remaining - step) : fn()), step);
    (timer as { unref?: () => void }).unref?.();
  };
  arm(Math.max(0, ms));
  return () => clearTimeout(timer);
}
