/**
 * The browser transport on a stand-in WebSocket (Node has none to drive by
 * hand): bufferedBytes is bufferedAmount, the drain poll runs only while
 * bytes are queued, and frames and closes map onto the transport handler.
 * The real thing runs in Chromium in test/browser.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BrowserWebSocketTransport, DRAIN_POLL_MS } from '../../src/client/browser-transport.js';

class FakeWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readyState = FakeWebSocket.OPEN;
  bufferedAmount = 0;
  binaryType = 'blob';
  sent: Uint8Array[] = [];
  onmessage: ((e: { data: unknown }) => void) | null = null;
  onclose: ((e: { code: number; reason: string }) => void) | null = null;
  onerror: unknown = null;
  send(data: Uint8Array) {
    this.sent.push(data);
    this.bufferedAmount += data.length;
  }
  close() {
    this.readyState = FakeWebSocket.CLOSED;
  }
}

function setup() {
  const ws = new FakeWebSocket();
  const transport = new BrowserWebSocketTransport(ws as unknown as WebSocket, 'gw:7878');
  const events = { frames: [] as Uint8Array[], invalid: [] as string[], drains: 0, closed: [] as Array<Error | undefined> };
  transport.start({
    onFrame: (f) => events.frames.push(f),
    onInvalid: (r) => events.invalid.push(r),
    onDrain: () => events.drains++,
    onClose: (e) => events.closed.push(e),
  });
  return { ws, transport, events };
}

describe('BrowserWebSocketTransport', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.stubGlobal('WebSocket', FakeWebSocket);
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('reports bufferedAmount and polls for drain only while bytes are queued', () => {
    const { ws, transport, events } = setup();
    expect(ws.binaryType).toBe('arraybuffer');
    expect(vi.getTimerCount()).toBe(0);
    transport.send(new Uint8Array(100));
    expect(transport.bufferedBytes).toBe(100);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(DRAIN_POLL_MS * 3);
    expect(events.drains).toBe(0); // nothing left the queue
    ws.bufferedAmount = 40;
    vi.advanceTimersByTime(DRAIN_POLL_MS);
    expect(events.drains).toBe(1);
    ws.bufferedAmount = 0;
    vi.advanceTimersByTime(DRAIN_POLL_MS);
    expect(events.drains).toBe(2);
    // Empty queue: the poll stops.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('hands binary messages over as frames and refuses text', () => {
    const { ws, events } = setup();
    ws.onmessage!({ data: new Uint8Array([1, 2, 3]).buffer });
    ws.onmessage!({ data: 'hello' });
    expect(events.frames).toEqual([new Uint8Array([1, 2, 3])]);
    expect(events.invalid).toHaveLength(1);
  });

  it('maps closes: 1000 is orderly, anything else is an error; the poll stops', () => {
    const a = setup();
    a.transport.send(new Uint8Array(10));
    a.ws.onclose!({ code: 1006, reason: '' });
    expect(a.events.closed[0]).toBeInstanceOf(Error);
    expect(vi.getTimerCount()).toBe(0);
    const b = setup();
    b.ws.onclose!({ code: 1000, reason: '' });
    expect(b.events.closed).toEqual([undefined]);
  });

  it('sends nothing once the socket is not open', () => {
    const { ws, transport } = setup();
    ws.readyState = FakeWebSocket.CLOSING;
    transport.send(new Uint8Array(5));
    expect(ws.sent).toHaveLength(0);
  });
});
