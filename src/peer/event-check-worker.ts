/**
 * The worker thread of EventChecker: one message per `events` frame (its bytes), one answer with
 * the verdict of each of its events, in order.
 */
import { parentPort } from 'node:worker_threads';
import { checkFrame } from './event-checker.js';

parentPort?.on('message', ({ n, frame }: { n: number; frame: Uint8Array }) => {
  parentPort!.postMessage({ n, verdicts: checkFrame(frame) });
});
