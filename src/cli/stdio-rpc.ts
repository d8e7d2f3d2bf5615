/**
 * `chatty --json`: the control API as JSON-RPC 2.0 on stdin/stdout, one
 * object per line. Nothing else is ever written to stdout.
 */
import { ERROR_CODES, EVENT_NAMES, type ChattyService } from '../shared/api.js';
import { handleParsedRpc, handleRpc, notification, RPC, type RpcResponse } from '../shared/jsonrpc.js';

/** A line longer than this is refused without being parsed. */
const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Lines written in one event-loop turn go out in one write at its end: a loaded peer notifies
 * several times per message, and stdout to a pipe is a synchronous write(2) each time.
 */
let lines: string[] = [];

export function writeLine(obj: unknown): void {
  if (!lines.length) setImmediate(flushLines);
  lines.push(JSON.stringify(obj));
}

/** Writes the lines of this turn now (on exit, nothing may stay behind). */
export function flushLines(): void {
  if (!lines.length) return;
  const text = `${lines.join('\n')}\n`;
  lines = [];
  process.stdout.write(text);
}
process.on('exit', flushLines);

/**
 * Methods that do all their work before their first `await` and then only wait for the flush of
 * the group commit. The next request may start meanwhile, so pipelined sends share one flush.
 */
const PIPELINED = new Set(['send', 'dm']);

/**
 * Serves requests from stdin in line order: each starts after the one before has finished (or, for
 * PIPELINED methods, has done its work), and answers are written in line order.
 * Resolves when stdin ends and every answer was written.
 */
export function serveStdio(service: ChattyService): Promise<void> {
  for (const name of EVENT_NAMES) {
    if (name !== 'ready') service.on(name, (params) => writeLine(notification(name, params as never)));
  }
  let buffer = '';
  let discarding = false;
  let chain: Promise<void> = Promise.resolve();
  let answers: Promise<void> = Promise.resolve();
  const answerInOrder = (answer: Promise<RpcResponse | null>) => {
    answers = answers
      .then(() => answer)
      .then((res) => {
        if (res) writeLine(res);
      })
      .catch((err: unknown) => {
        // Never let one failure reject the chain: every later request would go unanswered.
        process.stderr.write(`chatty: could not answer a request: ${(err as Error).stack ?? String(err)}\n`);
        writeLine(internalError(err));
      });
  };
  // A script that pipelines `join` then `send` gets exactly that order.
  const enqueue = (line: string) => {
    chain = chain.then(async () => {
      let request: unknown;
      let answer: Promise<RpcResponse | null>;
      try {
        request = JSON.parse(line);
        answer = handleParsedRpc(service, request);
      } catch {
        answer = handleRpc(service, line); // answers the parse error
      }
      answerInOrder(answer);
      const method = (request as { method?: unknown } | null)?.method;
      if (!(typeof method === 'string' && PIPELINED.has(method))) await answer.catch(() => undefined);
    });
  };
  const tooLarge: RpcResponse = {
    jsonrpc: '2.0',
    id: null,
    error: { code: ERROR_CODES.too_large, message: `request line exceeds ${MAX_LINE_BYTES} bytes`, data: { reason: 'too_large' } },
  };
  const internalError = (err: unknown): RpcResponse => ({
    jsonrpc: '2.0',
    id: null,
    error: { code: RPC.internalError, message: `internal error: ${(err as Error).message}`, data: { reason: 'internal' } },
  });
  return new Promise((resolve) => {
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (discarding) {
          discarding = false;
          continue;
        }
        if (line) enqueue(line);
      }
      if (buffer.length > MAX_LINE_BYTES) {
        buffer = '';
        if (!discarding) chain = chain.then(() => answerInOrder(Promise.resolve(tooLarge)));
        discarding = true;
      }
    });
    process.stdin.on('end', () => {
      if (buffer.trim() && !discarding) enqueue(buffer.trim());
      void chain.then(() => answers).then(resolve);
    });
  });
}
