// HTTP as the web backend does it: every request under a deadline (2002 when it passes) and every
// body read up to a byte cap, so no provider or page can hold a call or fill the memory.
import { BackendError, ExecutionTimeoutError } from '../../core/errors.ts';

export interface Limits {
  timeoutMs: number;
  maxBytes: number;
  /** The call's own signal (the executor gives up on it). */
  signal: AbortSignal;
}

export interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  truncated: boolean;
}

/** Reads at most `max` bytes of a body and cancels the rest. */
async function readCapped(
  res: Response,
  max: number,
): Promise<{ body: Uint8Array; truncated: boolean }> {
  if (!res.body) return { body: new Uint8Array(), truncated: false };
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > max) {
      parts.push(value.subarray(0, max - size));
      size = max;
      truncated = true;
      await reader.cancel().catch(() => {});
      break;
    }
    parts.push(value);
    size += value.byteLength;
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    body.set(p, at);
    at += p.byteLength;
  }
  return { body, truncated };
}

/** One request under the limits; `what` names it in errors ("Serper", "the page …"). */
export async function send(
  url: string,
  init: RequestInit & { tls?: { serverName?: string } },
  limits: Limits,
  what: string,
): Promise<Answer> {
  const deadline = AbortSignal.timeout(Math.max(1, limits.timeoutMs));
  const signal = AbortSignal.any([limits.signal, deadline]);
  try {
    const res = await fetch(url, { ...init, signal, redirect: 'manual' });
    const { body, truncated } = await readCapped(res, limits.maxBytes);
    return { status: res.status, headers: res.headers, body, truncated };
  } catch (err) {
    if (deadline.aborted || limits.signal.aborted) {
      throw new ExecutionTimeoutError(
        `${what} did not answer within ${Math.round(limits.timeoutMs)} ms; try again, or raise ` +
          'the call timeout or backends.web.request_timeout_seconds',
      );
    }
    throw new BackendError(`${what} is unreachable: ${(err as Error).message}`);
  }
}

export const text = (a: Answer) => new TextDecoder().decode(a.body);

/** The JSON body of a 2xx answer, or a 2001 naming the provider and what it said. */
export function json(a: Answer, what: string): any {
  const body = text(a);
  if (a.status < 200 || a.status >= 300) {
    throw new BackendError(`${what} answered HTTP ${a.status}: ${body.slice(0, 200)}`);
  }
  try {
    return JSON.parse(body);
  } catch {
    throw new BackendError(`${what} answered something that is not JSON: ${body.slice(0, 200)}`);
  }
}
