// The request body: always JSON whatever its Content-Type, read with a cap so a body sent without
// a Content-Length (chunked) cannot grow past the limit in memory.
import { ParameterError, PayloadTooLargeError } from '../core/errors.ts';

async function readCapped(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new PayloadTooLargeError(
        `Request body is over ${maxBytes} bytes; the limit is ${maxBytes} (limits.max_body_bytes).`,
      );
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The body as a JSON object. curl sends form-urlencoded by default, hence any Content-Type; an
 * empty body is {} so optional bodies and "missing field" errors read naturally.
 */
export async function readJsonBody(
  request: Request,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  const text = await readCapped(request, maxBytes);
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new ParameterError(`Malformed JSON body: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ParameterError('The request body must be a JSON object.');
  }
  return body as Record<string, unknown>;
}
