import { afterEach, beforeEach } from 'vitest';

/**
 * Records errors that escape to the process (uncaught exceptions, unhandled
 * rejections) while each test runs, and runs the test's cleanups after it.
 * Call at a describe's or file's top level; `escaped` is emptied before each test.
 */
export function trackEscapes(): { readonly escaped: unknown[]; readonly cleanups: Array<() => void> } {
  const escaped: unknown[] = [];
  const cleanups: Array<() => void> = [];
  const onEscape = (err: unknown) => void escaped.push(err);
  beforeEach(() => {
    escaped.length = 0;
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
  });
  afterEach(() => {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
    for (const c of cleanups.splice(0)) c();
  });
  return { escaped, cleanups };
}
