/**
 * Logging for the peer node: pino, always to stderr, because in `--json` mode
 * stdout carries nothing but JSON-RPC. Level from CHATTY_LOG (default "info").
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(name = 'chatty', level = process.env.CHATTY_LOG ?? 'info'): Logger {
  return pino({ name, level, base: undefined }, pino.destination({ fd: 2, sync: true }));
}

/** A logger that discards everything (library use, tests). */
export const silentLogger: Logger = pino({ level: 'silent' });
