// Session endpoints (SPEC §3) and the upstream client's lifecycle endpoints built on them.
import { Elysia, t } from 'elysia';
import type { Session, SessionView } from '../core/session.ts';
import type { AppDeps } from './deps.ts';
import { ok } from './envelope.ts';
import { scopes } from './scope.ts';
import { JsonObject, ResourceType, WorkerId, nullable } from './schemas.ts';

const CustomName = t.String({ minLength: 1, maxLength: 64 });

export type CreatedView = SessionView & { session_status: string; created: boolean };

function created(session: Session, isNew: boolean): CreatedView {
  const view = session.view();
  // Upstream's Sandbox counts a session made only when `session_status` is "active"; a session
  // restored after a restart is as usable (its shell comes back on the next call).
  const sessionStatus = view.status === 'restored' ? 'active' : view.status;
  return { ...view, session_status: sessionStatus, created: isNew };
}

/**
 * Creates (or finds) a session after warming its backend; admitted by the shutdown gate. `ignored`
 * lists the config keys the resource type does not know (dropped unless execution.strict_params).
 */
export async function createSession(
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
export const ignoredMeta = (ignored: string[]) =>
  ignored.length > 0 ? { ignored_config: ignored } : {};

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
        // The client's docstring and Sandbox.reinitialize read these at the top level.
        return {
          ...ok(request, data, ignoredMeta(ignored)),
          session_id: data.session_id,
          session_name: data.session_name,
        };
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
        const one = single
          ? { session_id: single.session_id, session_name: single.session_name }
          : {};
        // Sandbox.destroy_session and reinitialize read session_id at the top level.
        return {
          ...ok(request, {
            destroyed: list,
            count: list.length,
            message: `Destroyed ${list.length} session(s) of worker ${body.worker_id}`,
            ...(single ? { ...one, resource_type: single.resource_type } : {}),
          }),
          ...one,
        };
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
        const workerId = body?.worker_id ?? undefined;
        const list = views(deps.sessions.list(workerId));
        return ok(request, {
          ...(workerId !== undefined ? { worker_id: workerId } : {}),
          sessions: list,
          count: list.length,
        });
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
        const resourceType = body.resource_type ?? undefined;
        const list = views(deps.sessions.refresh(body.worker_id, resourceType));
        const single = list.length === 1 ? list[0] : undefined;
        const data = {
          worker_id: body.worker_id,
          sessions: list,
          refreshed_count: list.length,
          message: `Refreshed ${list.length} session(s)`,
          // Upstream's per-type detail when refreshing all of them.
          details: Object.fromEntries(
            list.map((v) => [v.resource_type, { status: 'refreshed', expires_at: v.expires_at }]),
          ),
          ...(single
            ? {
                resource_type: single.resource_type,
                session_id: single.session_id,
                expires_at: single.expires_at,
              }
            : {}),
        };
        // The client's docstring reads expires_at and refreshed_count at the top level.
        return {
          ...ok(request, data),
          refreshed_count: data.refreshed_count,
          ...(single ? { expires_at: single.expires_at } : {}),
        };
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
          // Upstream's: the resource types the worker holds a session of.
          active_sessions: list.map((v) => v.resource_type),
          timestamp: new Date().toISOString(),
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
        return ok(request, {
          worker_id: body.worker_id,
          sessions: list,
          count: list.length,
          active_resources: list.map((v) => v.resource_type),
          tools_available: deps.registry.list(false).length,
        });
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
          sessions_cleaned: destroyed.length,
        });
      },
      {
        body: t.Object({ worker_id: WorkerId }),
        scope: 'worker',
        detail: { summary: 'Destroy all of the worker’s sessions', tags: ['lifecycle'] },
      },
    );
