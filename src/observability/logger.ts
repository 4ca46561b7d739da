/** The root pino logger of a process; components take `child({ conn, stream, route })`. */
import { pino, type Logger as PinoLogger } from 'pino';

export type { PinoLogger };

export function createLogger(options: { level?: string; name?: string } = {}): PinoLogger {
  return pino({
    name: options.name ?? 'sluice',
    level: options.level ?? process.env.SLUICE_LOG_LEVEL ?? 'info',
    base: { pid: process.pid },
  });
}
