// Structured logs (pino, one JSON object per line on stderr): one line per
// configuration change, listener problem, health transition and drain step;
// never one per connection. WASMVS_LOG_LEVEL sets the level (default info).
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level = process.env.WASMVS_LOG_LEVEL ?? 'info'): Logger {
  // Synchronous writes: a line is on stderr before the event it reports has consequences.
  return pino({ name: 'wasmvsd', level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that drops everything (library use, tests of surrounding code). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
