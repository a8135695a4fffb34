// The upstream client's init endpoints: sessions created ahead of use, one, several, or the ones
// a config file on the server names (SPEC §1 extras).
import { Elysia, t } from 'elysia';
import { toAgentFlowError } from '../core/executor.ts';
import { readSessionConfigFile } from '../core/init-config.ts';
import type { AppDeps } from './deps.ts';
import { ok } from './envelope.ts';
import { scopes } from './scope.ts';
import { JsonObject, ResourceType, WorkerId, nullable } from './schemas.ts';
import { createSession, ignoredMeta } from './sessions.ts';

interface InitResult {
  code: number;
  message: string;
  data: unknown;
  /** Upstream's per-type fields: "success" or "error", and the session made. */
  status: 'success' | 'error';
  session_id?: string;
  session_status?: string;
  ignored_config?: string[];
}

/** Creates the worker's session of each type; every type gets its own result and code. */
async function createEach(deps: AppDeps, workerId: string, configs: Record<string, unknown>) {
  const entries = Object.entries(configs);
  const results: Record<string, InitResult> = {};
  await Promise.all(
    entries.map(async ([type, config]) => {
      try {
        const { data, ignored } = await createSession(deps, workerId, type, config);
        results[type] = {
          code: 0,
          message: 'success',
          data,
          status: 'success',
          session_id: data.session_id,
          session_status: data.session_status,
          ...ignoredMeta(ignored),
        };
      } catch (err) {
        const e = toAgentFlowError(err);
        results[type] = { code: e.code, message: e.message, data: e.data ?? null, status: 'error' };
      }
    }),
  );
  const failed = Object.values(results).filter((r) => r.code !== 0).length;
  return {
    worker_id: workerId,
    results,
    total: entries.length,
    succeeded: entries.length - failed,
    failed,
    success_count: entries.length - failed,
  };
}

export const initRoutes = (deps: AppDeps, prefix: string) =>
  new Elysia({ name: 'init', seed: prefix, prefix })
    .use(scopes(deps))
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
        // Upstream takes `content` when the entry has one, else the entry itself as the config.
        const configs = Object.fromEntries(
          Object.entries(body.resource_configs).map(([type, spec]) => [
            type,
            spec && Object.hasOwn(spec, 'content') ? spec.content : spec,
          ]),
        );
        return ok(request, await createEach(deps, body.worker_id, configs));
      },
      {
        body: t.Object({
          worker_id: WorkerId,
          resource_configs: t.Record(
            ResourceType,
            // Any object: Elysia would strip every key but `content` from a closed one.
            t.Union([JsonObject, t.Null()], {
              description: '{"content": {config}}, or the config itself',
            }),
          ),
        }),
        scope: 'worker',
        detail: {
          summary: 'Create several sessions ahead of use',
          description: 'Answers 0 with a result per resource type; each result has its own code.',
          tags: ['init'],
        },
      },
    )
    .post(
      '/init/from-config',
      async ({ body, request }) => {
        const { config, sessions } = await readSessionConfigFile(
          body.config_path,
          body.override_params ?? {},
        );
        const created = await createEach(deps, body.worker_id, sessions);
        return ok(request, { config_loaded: body.config_path, config, ...created });
      },
      {
        body: t.Object({
          worker_id: WorkerId,
          config_path: t.String({ minLength: 1, maxLength: 4096 }),
          override_params: nullable(JsonObject),
        }),
        // The server reads a file of its own disk and answers its content: admin only.
        scope: 'admin',
        detail: {
          summary: 'Create the sessions a config file on the server names',
          description:
            'Reads the JSON file at config_path (a server path), merges override_params into ' +
            'its top-level keys, and creates the worker’s session of each `resources.<type>` ' +
            'with its `config`; answers a result per type, each with its own code.',
          tags: ['init'],
        },
      },
    );
