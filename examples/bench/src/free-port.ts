/**
 * A free TCP port on loopback, for programs that cannot report the port they
 * picked (nats-server takes its ports from its configuration). Shared by the
 * bench and the tests that start NATS servers.
 */
import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 right now: the OS picks it, and it is closed before this resolves. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
