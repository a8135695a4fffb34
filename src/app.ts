// createApp(deps): composes the HTTP route groups, served at the seed's paths and under /api/v1.
// No business logic here: request ids, body limits, the shutdown gate and the API key check.
import { swagger } from '@elysiajs/swagger';
import { Elysia } from 'elysia';
import type { Config } from './config.ts';
import type { Executor } from './core/executor.ts';
import { KeyRing, requireAdmin, requireWorker, type Principal } from './core/auth.ts';
import { ParameterError, PayloadTooLargeError } from './core/errors.ts';
import type { Gate } from './core/gate.ts';
import type { Logger } from './core/log.ts';
import type { SessionManager } from './core/sessions.ts';
import type { ToolRegistry } from './core/tools.ts';
import type { WarmupManager } from './core/warmup.ts';
import {
  answeredCode,
  elapsedMs,
  errorHandling,
  markStart,
  pathOf,
  requestIdOf,
} from './http/envelope.ts';
import { KEYLESS_PRINCIPAL, recordPrincipal } from './http/caller.ts';
import { executeRoutes } from './http/execute.ts';
import { serviceRoutes } from './http/service.ts';
import { sessionRoutes } from './http/sessions.ts';
import { toolRoutes } from './http/tools.ts';
import type { ServerMetrics } from './observability.ts';
import { VERSION } from './version.ts';

export interface ShutdownRequest {
  force: boolean;
  cleanupSessions: boolean;
}

export interface AppDeps {
  config: Config;
  registry: ToolRegistry;
  sessions: SessionManager;
  executor: Executor;
  warmup: WarmupManager;
  gate: Gate;
  log: Logger;
  metrics: ServerMetrics;
  requestShutdown(req: ShutdownRequest): void;
}

const OPEN_PATHS = new Set(['/health', '/ready', '/api/v1/health', '/api/v1/ready']);
/** Routes only an admin key may call (SPEC §8), without the /api/v1 prefix. */
const ADMIN_ROUTES = new Set(['/shutdown', '/server/shutdown', '/warmup', '/metrics']);
const principals = new WeakMap<Request, Principal>();

function presentedKey(request: Request): string | null {
  const auth = request.headers.get('authorization');
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  return request.headers.get('x-api-key');
}

export function createApp(deps: AppDeps) {
  const { config, gate } = deps;
  const maxBody = config.limits.max_body_bytes;
  const keys = new KeyRing(config.api_key, config.api_keys);
  const routes = (prefix: string) =>
    new Elysia({ name: 'routes', seed: prefix })
      .use(serviceRoutes(deps, prefix))
      .use(executeRoutes(deps, prefix))
      .use(sessionRoutes(deps, prefix))
      .use(toolRoutes(deps, prefix));

  return new Elysia({ name: 'agentflow-server' })
    .use(errorHandling(deps.log))
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
      markStart(request);
      set.headers['x-request-id'] = requestIdOf(request);
      const path = pathOf(request.url);
      const length = Number(request.headers.get('content-length') ?? 0);
      if (length > maxBody) {
        throw new PayloadTooLargeError(`Request body is ${length} bytes; the limit is ${maxBody}.`);
      }
      if (OPEN_PATHS.has(path)) return;
      gate.assertOpen();
      if (keys.enabled && !path.startsWith('/swagger')) {
        principals.set(request, keys.authenticate(presentedKey(request)));
      }
      recordPrincipal(request, keys.enabled ? principals.get(request) : KEYLESS_PRINCIPAL);
    })
    .onParse({ as: 'global' }, async ({ request }) => {
      // Every body is JSON whatever its Content-Type (curl sends form-urlencoded by default); an
      // empty body is {} so optional bodies and "missing field" errors read naturally.
      const text = await request.text();
      if (text.length > maxBody) {
        throw new PayloadTooLargeError(
          `Request body is ${text.length} bytes; the limit is ${maxBody}.`,
        );
      }
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
      return body;
    })
    .onTransform({ as: 'global' }, ({ body, request }) => {
      // The upstream client sends X-Worker-ID on every request; use it when the body has none.
      if (body && typeof body === 'object' && !Array.isArray(body) && !('worker_id' in body)) {
        const header = request.headers.get('x-worker-id');
        if (header) (body as Record<string, unknown>).worker_id = header;
      }
    })
    .onBeforeHandle({ as: 'global' }, ({ request, route, body }) => {
      // Scopes, once the body (and so the worker id) is known.
      const principal = principals.get(request);
      if (!principal) return;
      const path = route.startsWith('/api/v1/') ? route.slice(7) : route;
      if (ADMIN_ROUTES.has(path) && (path !== '/warmup' || request.method === 'POST')) {
        requireAdmin(principal, `${request.method} ${path}`);
      }
      const workerId = (body as { worker_id?: unknown } | undefined)?.worker_id;
      if (typeof workerId === 'string') requireWorker(principal, workerId);
      else if (path === '/session/list') requireAdmin(principal, 'Listing every session');
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
        detail: { summary: 'Prometheus metrics (see the README for each one)', tags: ['service'] },
      },
    )
    .use(routes(''))
    .use(routes('/api/v1'));
}

export type App = ReturnType<typeof createApp>;
