// createApp(deps): composes the HTTP route groups, served at the seed's paths and under /api/v1.
// No business logic here: request ids, body limits, the request log; scopes are on each route.
import { swagger } from '@elysiajs/swagger';
import { Elysia } from 'elysia';
import { PayloadTooLargeError } from './core/errors.ts';
import type { AppDeps } from './http/deps.ts';
import {
  answeredCode,
  elapsedMs,
  errorHandling,
  markStart,
  pathOf,
  requestIdOf,
} from './http/envelope.ts';
import { executeRoutes } from './http/execute.ts';
import { initRoutes } from './http/init.ts';
import { mcpRoutes } from './http/mcp.ts';
import { scopes } from './http/scope.ts';
import { serviceRoutes } from './http/service.ts';
import { sessionRoutes } from './http/sessions.ts';
import { toolRoutes } from './http/tools.ts';
import { VERSION } from './version.ts';

/**
 * Bun hands a bare path ("/execute") as the URL when the Host header is empty or invalid, and
 * Elysia's fallback router reads the path at a fixed offset of an absolute `http://` URL: give it
 * one, so every request is routed on its real path. A request Bun's own router matched (it has
 * `params`) is already routed, and keeps its params.
 */
function absoluteUrl(request: Request): Request {
  const { url } = request;
  if (url.startsWith('http://') || 'params' in request) return request;
  const scheme = url.indexOf('://');
  const target = scheme < 0 ? url : url.slice(scheme + 3).replace(/^[^/]*/, '');
  return new Request(`http://host.invalid${target}`, request);
}

export function createApp(deps: AppDeps) {
  const maxBody = deps.config.limits.max_body_bytes;
  const routes = (prefix: string) =>
    new Elysia({ name: 'routes', seed: prefix })
      .use(serviceRoutes(deps, prefix))
      .use(executeRoutes(deps, prefix))
      .use(sessionRoutes(deps, prefix))
      .use(initRoutes(deps, prefix))
      .use(toolRoutes(deps, prefix))
      .use(mcpRoutes(deps, prefix));

  // standardHostname false: Elysia finds the path after "http://" instead of guessing that the
  // host is at least four characters long ("http://a/swagger/execute" routed as /execute).
  return new Elysia({ name: 'agentflow-server', handler: { standardHostname: false } })
    .wrap((handle) => (request: Request) => handle(absoluteUrl(request)))
    .use(errorHandling(deps.log))
    .use(scopes(deps))
    .use(
      swagger({
        path: '/swagger',
        provider: 'swagger-ui',
        documentation: {
          info: {
            title: 'AgentFlow server',
            version: VERSION,
            description:
              'Tool-execution server for AI agents: sessions of bash, vm and rag resources, ' +
              'each endpoint also under /api/v1. Responses use the {code, message, data, meta} envelope.',
          },
        },
      }),
    )
    .onRequest(({ request, set }) => {
      // Before routing: only what holds for every request, known or not, keyed or not.
      markStart(request);
      set.headers['x-request-id'] = requestIdOf(request);
      const length = Number(request.headers.get('content-length') ?? 0);
      if (length > maxBody) {
        throw new PayloadTooLargeError(`Request body is ${length} bytes; the limit is ${maxBody}.`);
      }
    })
    .onTransform({ as: 'global' }, ({ body, request }) => {
      // The upstream client sends X-Worker-ID on every request; use it when the body has none.
      if (body && typeof body === 'object' && !Array.isArray(body) && !('worker_id' in body)) {
        const header = request.headers.get('x-worker-id');
        if (header) (body as Record<string, unknown>).worker_id = header;
      }
    })
    .onAfterResponse({ as: 'global' }, ({ request, route, body, responseValue, set }) => {
      // One line and one counter per request, after the answer has gone out.
      const reply = responseValue as { code?: unknown; meta?: { session_id?: unknown } } | null;
      const status = typeof set.status === 'number' ? set.status : 200;
      // The batch envelope is built by hand: its top-level code is in the reply itself.
      const code =
        typeof reply?.code === 'number'
          ? reply.code
          : (answeredCode(request) ?? (status < 400 ? 0 : status));
      deps.metrics.requests.inc({ route: route || 'unmatched', code: String(code) });
      const input = (body ?? {}) as { worker_id?: unknown; action?: unknown };
      deps.log.info('request', {
        request_id: requestIdOf(request),
        method: request.method,
        route: route || pathOf(request.url),
        status,
        code,
        duration_ms: elapsedMs(request),
        ...(typeof input.worker_id === 'string' ? { worker_id: input.worker_id } : {}),
        ...(typeof input.action === 'string' ? { action: input.action } : {}),
        ...(typeof reply?.meta?.session_id === 'string'
          ? { session_id: reply.meta.session_id }
          : {}),
      });
    })
    .get(
      '/metrics',
      ({ set }) => {
        set.headers['content-type'] = 'text/plain; version=0.0.4; charset=utf-8';
        return deps.metrics.registry.render();
      },
      {
        scope: 'admin',
        detail: { summary: 'Prometheus metrics (see the README for each one)', tags: ['service'] },
      },
    )
    .use(routes(''))
    .use(routes('/api/v1'));
}

export type App = ReturnType<typeof createApp>;
