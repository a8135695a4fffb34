// The response envelope of SPEC §1 and the one place any error becomes one: AgentFlow errors keep
// their code and status, Elysia's parse/validation/not-found errors become 1002, the rest 5000.
import { Elysia } from 'elysia';
import { AgentFlowError, ParameterError } from '../core/errors.ts';
import { toAgentFlowError } from '../core/executor.ts';
import type { Logger } from '../core/log.ts';
import { describeErrors } from '../core/validate.ts';

export interface Envelope {
  code: number;
  message: string;
  data: unknown;
  meta: Record<string, unknown>;
}

const requestIds = new WeakMap<Request, string>();
const startTimes = new WeakMap<Request, number>();
let counter = 0;
const prefix = crypto.randomUUID().slice(0, 8);

/** The request's id: the X-Request-ID it came with, else one made here (stable per request). */
export function requestIdOf(request: Request): string {
  let id = requestIds.get(request);
  if (id === undefined) {
    const sent = request.headers.get('x-request-id');
    id = sent && sent.length <= 128 ? sent : `${prefix}-${(++counter).toString(36)}`;
    requestIds.set(request, id);
  }
  return id;
}

/**
 * The path of a request URL without its query. Not `new URL()`: an HTTP/1.0 request with no
 * Host header arrives with a bare path as its URL ("/health"), which that parser rejects.
 */
export function pathOf(url: string): string {
  const scheme = url.indexOf('://');
  const start = scheme < 0 ? 0 : url.indexOf('/', scheme + 3);
  if (start < 0) return '/';
  const query = url.indexOf('?', start);
  return url.slice(start, query < 0 ? undefined : query);
}

/** Marks when the request arrived, for the request log. */
export function markStart(request: Request): void {
  startTimes.set(request, performance.now());
}

export function elapsedMs(request: Request): number {
  const start = startTimes.get(request);
  return start === undefined ? 0 : Math.round((performance.now() - start) * 100) / 100;
}

const answeredCodes = new WeakMap<Request, number>();

/** The AgentFlow code the request was answered with (for the request log and metrics). */
export function answeredCode(request: Request): number | undefined {
  return answeredCodes.get(request);
}

export function ok(request: Request, data: unknown, meta?: Record<string, unknown>): Envelope {
  answeredCodes.set(request, 0);
  return { code: 0, message: 'success', data, meta: { ...meta, request_id: requestIdOf(request) } };
}

export function errorEnvelope(
  request: Request,
  err: AgentFlowError,
  meta?: Record<string, unknown>,
): Envelope {
  answeredCodes.set(request, err.code);
  return {
    code: err.code,
    message: err.message,
    data: err.data ?? null,
    meta: { ...meta, request_id: requestIdOf(request), error_type: err.name },
  };
}

class EndpointNotFoundError extends ParameterError {
  override readonly status = 404;
}

interface ElysiaValidationLike {
  type?: string;
  all?: { path: string; message: string }[];
}

/** Maps whatever reached onError to an AgentFlowError. */
export function classify(code: string | number, error: unknown, request: Request): AgentFlowError {
  if (error instanceof AgentFlowError) return error;
  switch (code) {
    case 'PARSE': {
      // Elysia wraps what our body parser throws; keep our error when it is one.
      const cause = (error as { cause?: unknown }).cause;
      if (cause instanceof AgentFlowError) return cause;
      return new ParameterError('Malformed request body: expected a JSON object.');
    }
    case 'VALIDATION': {
      const v = error as ElysiaValidationLike;
      const where = v.type === 'body' ? 'request body' : (v.type ?? 'request');
      const detail = v.all ? describeErrors(v.all as never) : String((error as Error).message);
      return new ParameterError(`Invalid ${where}: ${detail}`);
    }
    case 'NOT_FOUND': {
      return new EndpointNotFoundError(
        `No endpoint ${request.method} ${pathOf(request.url)}. The API is described at /swagger.`,
      );
    }
    default:
      return toAgentFlowError(error);
  }
}

/** One onError for the whole app: every failure answers the envelope with its SPEC status. */
export function errorHandling(log: Logger) {
  return new Elysia({ name: 'envelope' }).onError(
    { as: 'global' },
    ({ code, error, request, set }) => {
      const err = classify(code, error, request);
      if (err.status >= 500 && err.code === 5000) {
        log.error('request.internal_error', {
          request_id: requestIdOf(request),
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      }
      set.status = err.status;
      set.headers['content-type'] = 'application/json';
      return errorEnvelope(request, err);
    },
  );
}
