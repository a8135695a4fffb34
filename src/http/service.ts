// Service endpoints (SPEC §5): health, readiness, warmup, shutdown.
import { Elysia, t } from 'elysia';
import { ResourceTypeNotFoundError, ServiceUnavailableError, WarmupError } from '../core/errors.ts';
import { VERSION } from '../version.ts';
import type { AppDeps } from './deps.ts';
import { errorEnvelope, ok } from './envelope.ts';
import { scopes } from './scope.ts';
import { nullable } from './schemas.ts';

const ShutdownBody = t.Optional(
  t.Object({ force: nullable(t.Boolean()), cleanup_sessions: nullable(t.Boolean()) }),
);

export const serviceRoutes = (deps: AppDeps, prefix: string) => {
  const shutdown = ({
    body,
    request,
  }: {
    body: typeof ShutdownBody.static | null;
    request: Request;
  }) => {
    const force = body?.force ?? false;
    const cleanup = body?.cleanup_sessions ?? true;
    // Upstream's count: the sessions this shutdown destroys (after the drain, here).
    const cleaned = cleanup ? deps.sessions.count() : 0;
    deps.requestShutdown({ force, cleanupSessions: cleanup });
    const upstream = { status: 'success', sessions_cleaned: cleaned };
    return {
      ...ok(request, { shutting_down: true, force, cleanup_sessions: cleanup, ...upstream }),
      ...upstream,
    };
  };
  const shutdownDetail = {
    summary: 'Stop the server (drains in-flight calls unless force)',
    tags: ['service'],
  };
  return new Elysia({ name: 'service', seed: prefix, prefix })
    .use(scopes(deps))
    .get(
      '/health',
      ({ set }) => {
        if (deps.gate.closing) {
          set.status = 503;
          return { status: 'shutting_down', version: VERSION };
        }
        return { status: 'ok', version: VERSION };
      },
      {
        scope: 'open',
        detail: { summary: 'Liveness (no envelope, always cheap)', tags: ['service'] },
      },
    )
    .get(
      '/ready',
      ({ request, set }) => {
        const backends = deps.warmup.status();
        if (deps.gate.closing) {
          set.status = 503;
          return errorEnvelope(
            request,
            new ServiceUnavailableError('Not ready: the server is shutting down.', {
              ready: false,
              backends,
            }),
          );
        }
        if (deps.warmup.ready()) return ok(request, { ready: true, backends });
        set.status = 503;
        const waiting = Object.entries(backends)
          .filter(([, s]) => !s.warmed_up)
          .map(([name, s]) => (s.error ? `${name} (failed: ${s.error})` : name));
        const err = new WarmupError(`Not ready: waiting for warmup of ${waiting.join(', ')}`, {
          ready: false,
          backends,
        });
        return errorEnvelope(request, err);
      },
      {
        scope: 'open',
        detail: { summary: '200 when every backend has warmed up, else 503', tags: ['service'] },
      },
    )
    .post(
      '/warmup',
      async ({ body, request, set }) => {
        const names = body?.backends ?? deps.warmup.names();
        for (const name of names) {
          if (!deps.warmup.has(name)) {
            throw new ResourceTypeNotFoundError(
              `Unknown backend "${name}". Enabled backends: ${deps.warmup.names().join(', ')}.`,
            );
          }
        }
        const runs = names.map((name) => deps.warmup.warm(name));
        if (body?.wait === false) {
          const summary = deps.warmup.summary();
          return { ...ok(request, { started: names, summary }), status: 'started', summary };
        }
        const outcomes = await Promise.all(runs);
        const backends = Object.fromEntries(names.map((n, i) => [n, outcomes[i]]));
        const failed = names.filter((_, i) => !outcomes[i]!.ok);
        // Upstream's Sandbox.start reads these at the top level: `status` "success" or it logs
        // "Partial warmup"; `results` maps each backend to whether it warmed up.
        const upstream = {
          status: failed.length === 0 ? 'success' : 'partial_error',
          results: Object.fromEntries(names.map((n, i) => [n, outcomes[i]!.ok])),
          summary: deps.warmup.summary(),
          ...(failed.length > 0
            ? { errors: Object.fromEntries(failed.map((n) => [n, backends[n]!.error ?? ''])) }
            : {}),
        };
        if (failed.length === 0) return { ...ok(request, { backends, ...upstream }), ...upstream };
        set.status = 503;
        return {
          ...errorEnvelope(
            request,
            new WarmupError(`Warmup failed for ${failed.join(', ')}`, { backends, ...upstream }),
          ),
          ...upstream,
        };
      },
      {
        body: t.Optional(
          t.Object({
            backends: nullable(t.Array(t.String({ maxLength: 64 }), { maxItems: 64 })),
            wait: nullable(t.Boolean()),
          }),
        ),
        scope: 'admin',
        detail: { summary: 'Warm backends (all enabled ones by default)', tags: ['service'] },
      },
    )
    .get(
      '/warmup/status',
      ({ request }) => {
        // Upstream answers {backends, summary} bare: here in data and at the top level.
        const reply = { backends: deps.warmup.status(), summary: deps.warmup.summary() };
        return { ...ok(request, reply), ...reply };
      },
      {
        scope: 'key',
        detail: { summary: 'Per-backend warmup state', tags: ['service'] },
      },
    )
    .post('/shutdown', shutdown, { scope: 'admin', body: ShutdownBody, detail: shutdownDetail })
    .post('/server/shutdown', shutdown, {
      scope: 'admin',
      body: ShutdownBody,
      detail: shutdownDetail,
    });
};
