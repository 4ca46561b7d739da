/**
 * The connection badge: connecting, connected, disconnected and retrying, or
 * failed. It is the first thing an operator reads, so every state says
 * plainly what the page is doing about it.
 */
import type { ConnectionStatus } from '../../client/browser.js';

export type BadgeState = 'connecting' | 'connected' | 'retrying' | 'error';

export class StatusBadge {
  private listeners = new Set<() => void>();
  state: BadgeState = 'connecting';

  constructor(private readonly el: HTMLElement) {
    this.show('connecting', 'connecting…');
  }

  /** Feeds the client's onStatus callback. */
  update(status: ConnectionStatus): void {
    if (status.state === 'connected') this.show('connected', 'connected');
    else if (status.state === 'disconnected') this.show(status.retrying ? 'retrying' : 'error', status.retrying ? 'disconnected, retrying…' : `disconnected${status.error ? `: ${status.error.message}` : ''}`);
    else this.show('error', `error: ${status.error.message}`);
  }

  error(message: string): void {
    this.show('error', `error: ${message}`);
  }

  /** Resolves once the badge shows `connected`. */
  connected(): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.state !== 'connected') return;
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
    });
  }

  private show(state: BadgeState, text: string): void {
    this.state = state;
    this.el.dataset.state = state;
    this.el.textContent = text;
    for (const l of [...this.listeners]) l();
  }
}
