// The last line of defence: an error thrown outside any request (from a timer, or an event
// emitter with no 'error' listener) or a promise rejected with no handler is logged as one
// structured line with its stack, and the server keeps serving. Node's default is to print it
// and exit, taking every session's call down with it. Each such log line is a bug to fix where
// it was thrown: the request it came from (if any) already got its answer or will time out.
import type { Logger } from './log.ts';

function describe(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { error: String(err) };
  return { error: err.message, error_type: err.name, stack: err.stack };
}

/** Installs the process-wide handlers (once, in main.ts: the real server process). */
export function guardProcess(log: Logger): void {
  const onException = (err: unknown, origin: string) =>
    log.error('process.uncaught_exception', { origin, ...describe(err) });
  const onRejection = (reason: unknown) =>
    log.error('process.unhandled_rejection', describe(reason));
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
}
