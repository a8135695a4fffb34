// Session endpoints (SPEC §3) and the upstream client's lifecycle/init endpoints built on them.
import { Elysia, t } from 'elysia';
import { AgentFlowError } from '../core/errors.ts';
import { toAgentFlowError } from '../core/executor.ts';
import type { Session, SessionView } from '../core/session.ts';
import type { AppDeps } from './deps.ts';
import { ok } from './envelope.ts';
import { scopes } from './scope.ts';
import { JsonObject, ResourceType, WorkerId, nullable } from './schemas.ts';

const CustomName = t.String({ minLength: 1, maxLength: 64 });

function created(
  session: Session,
  isNew: boolean,
): SessionView & { session_status: string; created: boolean } {
  const view = session.view();
  return { ...view, session_status: view.status, created: isNew };
}

/**
 * Creates (or finds) a session after warming its backend; admitted by the shutdown gate. `ignored`
 * lists the config keys the resource type does not know (dropped unless execution.strict_params).
 */
async function createSession(
  deps: AppDeps,
  workerId: string,
  resourceType: string,
  config: unknown,
  customName?: string,
) {
  const release = deps.gate.enter();
  try {
    deps.sessions.sessionBackend(resourceType);
    await deps.warmup.ensure(resourceType);
    const {
      session,
      created: isNew,
      ignored,
    } = await deps.sessions.getOrCreate(workerId, resourceType, config ?? undefined, customName);
    return { data: created(session, isNew), ignored };
  } finally {
    release();
  }
}

const views = (list: Session[]) => list.map((s) => s.view());

/** The meta of a create: the ignored config keys, only when there were some. */
const ignoredMeta = (ignored: string[]) => (ignored.length > 0 ? { ignored_config: ignored } : {});

export const sessionRoutes = (deps: AppDeps, prefix: string) =>
  new Elysia({ name: 'sessions', seed: prefix, prefix })
    .use(scopes(deps))
    .post(
      '/session/create',
      async ({ body, request }) => {
        const { data, ignored } = await createSession(
          deps,
          body.worker_id,
          body.resource_type,
          body.config ?? body.session_config,
          body.custom_name ?? undefined,
        );
        return ok(request, data, ignoredMeta(ignored));
      },
      {
        body: t.Object({
          worker_id: WorkerId,
          resource_type: ResourceType,
          config: nullable(JsonObject),
          session_config: nullable(JsonObject),
          custom_name: nullable(CustomName),
        }),
        scope: 'worker',
        detail: {
          summary: 'Create the worker’s session of a resource type (idempotent)',
          description: '`session_config` is accepted as an alias of `config`.',
          tags: ['sessions'],
        },
      },
    )
    .post(
      '/session/destroy',
      async ({ body, request }) => {
        const destroyed = await deps.sessions.destroy(
          body.worker_id,
          body.resource_type ?? undefined,
        );
        const list = views(destroyed);
        const single = list.length === 1 ? list[0] : undefined;
        return ok(request, {
          destroyed: list,
          count: list.length,
          ...(single ? { session_id: single.session_id, session_name: single.session_name } : {}),
        });
      },
      {
        body: t.Object({ worker_id: WorkerId, resource_type: nullable(ResourceType) }),
        scope: 'worker',
        detail: {
          summary: 'Destroy one (or, without resource_type, all) of the worker’s sessions',
          tags: ['sessions'],
        },
      },
    )
    .post(
      '/session/list',
      ({ body, request }) => {
        const list = views(deps.sessions.list(body?.worker_id ?? undefined));
        return ok(request, { sessions: list, count: list.length });
      },
      {
        body: t.Optional(t.Object({ worker_id: nullable(WorkerId) })),
        scope: 'worker',
        detail: {
          summary: 'List the worker’s sessions (all sessions without worker_id)',
          tags: ['sessions'],
        },
      },
    )
    .post(
      '/session/refresh',
      ({ body, request }) => {
        const list = views(deps.sessions.refresh(body.worker_id, body.resource_type ?? undefined));
        const single = list.length === 1 ? list[0] : undefined;
        return ok(request, {
          sessions: list,
          refreshed_count: list.length,
          ...(single ? { expires_at: single.expires_at } : {}),
        });
      },
      {
        body: t.Object({ worker_id: WorkerId, resource_type: nullable(ResourceType) }),
        scope: 'worker',
        detail: {
          summary: 'Extend the TTL of one or all of the worker’s sessions',
          tags: ['sessions'],
        },
      },
    )
    .post(
      '/lifecycle/heartbeat',
      ({ body, request }) => {
        const mine = deps.sessions.list(body.worker_id);
        const list = mine.length > 0 ? views(deps.sessions.refresh(body.worker_id)) : [];
        return ok(request, {
          worker_id: body.worker_id,
          sessions: list,
          refreshed_count: list.length,
        });
      },
      {
        body: t.Object({ worker_id: WorkerId }),
        scope: 'worker',
        detail: { summary: 'Keep all of the worker’s sessions alive', tags: ['lifecycle'] },
      },
    )
    .post(
      '/lifecycle/status',
      ({ body, request }) => {
        const list = views(deps.sessions.list(body.worker_id));
        return ok(request, { worker_id: body.worker_id, sessions: list, count: list.length });
      },
      {
        body: t.Object({ worker_id: WorkerId }),
        scope: 'worker',
        detail: { summary: 'The worker’s sessions and their state', tags: ['lifecycle'] },
      },
    )
    .post(
      '/worker/disconnect',
      async ({ body, request }) => {
        const mine = deps.sessions.list(body.worker_id);
        const destroyed = mine.length > 0 ? await deps.sessions.destroy(body.worker_id) : [];
        return ok(request, {
          worker_id: body.worker_id,
          destroyed: views(destroyed),
          count: destroyed.length,
        });
      },
      {
        body: t.Object({ worker_id: WorkerId }),
        scope: 'worker',
        detail: { summary: 'Destroy all of the worker’s sessions', tags: ['lifecycle'] },
      },
    )
    .post(
      '/init/resource',
      async ({ body, request }) => {
        const { data, ignored } = await createSession(
          deps,
          body.worker_id,
          body.resource_type,
          body.init_config,
        );
        return ok(request, data, ignoredMeta(ignored));
      },
      {
        body: t.Object({
          worker_id: WorkerId,
          resource_type: ResourceType,
          init_config: nullable(JsonObject),
        }),
        scope: 'worker',
        detail: { summary: 'Create a session ahead of use, with its config', tags: ['init'] },
      },
    )
    .post(
      '/init/batch',
      async ({ body, request }) => {
        const entries = Object.entries(body.resource_configs);
        const results: Record<string, { code: number; message: string; data: unknown }> = {};
        await Promise.all(
          entries.map(async ([type, spec]) => {
            try {
              const { data, ignored } = await createSession(
                deps,
                body.worker_id,
                type,
                spec?.content,
              );
              results[type] = { code: 0, message: 'success', data, ...ignoredMeta(ignored) };
            } catch (err) {
              const e: AgentFlowError = toAgentFlowError(err);
              results[type] = { code: e.code, message: e.message, data: e.data ?? null };
            }
          }),
        );
        const failed = Object.values(results).filter((r) => r.code !== 0).length;
        return ok(request, {
          results,
          total: entries.length,
          succeeded: entries.length - failed,
          failed,
        });
      },
      {
        body: t.Object({
          worker_id: WorkerId,
          resource_configs: t.Record(
            ResourceType,
            t.Union([t.Object({ content: nullable(JsonObject) }), t.Null()]),
          ),
        }),
        scope: 'worker',
        detail: {
          summary: 'Create several sessions ahead of use',
          description: 'Answers 0 with a result per resource type; each result has its own code.',
          tags: ['init'],
        },
      },
    );
