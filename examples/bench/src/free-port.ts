/**
 * A free TCP port on loopback, for programs that cannot report the port they
 * picked (nats-server takes its ports from its configuration). Shared by the
 * bench and the tests that start NATS servers.
 */
import { createServer } from 'node:net';

/**
 * Ports tried first lie below Linux's default ephemeral range (32768-60999),
 * where no outgoing connection takes a source port between the probe and the
 * server binding it.
 */
const LOW_PORTS = { from: 20_000, to: 32_000 };
const LOW_PORT_TRIES = 20;

/**
 * A TCP port free on 127.0.0.1 right now, closed again before this resolves:
 * a random one below the ephemeral range if one of a few tries is free, else
 * one the OS picks.
 */
export async function freePort(): Promise<number> {
  for (let i = 0; i < LOW_PORT_TRIES; i++) {
    const port = LOW_PORTS.from + Math.floor(Math.random() * (LOW_PORTS.to - LOW_PORTS.from));
    if ((await listenOn(port).catch(() => undefined)) !== undefined) return port;
  }
  return listenOn(0);
}

function listenOn(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => {
      const { port: bound } = srv.address() as { port: number };
      srv.close(() => resolve(bound));
    });
  });
}
