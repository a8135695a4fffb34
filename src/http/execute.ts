// POST /execute and /execute/batch (SPEC §4).
import { Elysia, t } from 'elysia';
import { ParameterError } from '../core/errors.ts';
import { ExecutionFailure, type ExecuteRequest } from '../core/executor.ts';
import type { AppDeps } from './deps.ts';
import { errorEnvelope, ok, requestIdOf, type Envelope } from './envelope.ts';
import { requestCaller, scopes } from './scope.ts';
import { JsonObject, WorkerId, nullable } from './schemas.ts';

const Action = t.Object({
  action: t.String({ minLength: 1, maxLength: 256, description: 'type:name, e.g. bash:run' }),
  params: nullable(JsonObject),
  timeout: nullable(t.Number({ description: 'Seconds; default and maximum come from config' })),
});

async function runOne(deps: AppDeps, request: Request, req: ExecuteRequest) {
  try {
    const result = await deps.executor.execute(req);
    return { status: 200, envelope: ok(request, result.data, { ...result.meta }) };
  } catch (err) {
    if (!(err instanceof ExecutionFailure)) throw err;
    if (err.error.code === 5000) {
      const cause = err.cause instanceof Error ? (err.cause.stack ?? err.cause.message) : err.cause;
      deps.log.error('request.internal_error', { request_id: requestIdOf(request), error: cause });
    }
    return {
      status: err.error.status,
      envelope: errorEnvelope(request, err.error, { ...err.meta }),
    };
  }
}

export const executeRoutes = (deps: AppDeps, prefix: string) =>
  new Elysia({ name: 'execute', seed: prefix, prefix })
    .use(scopes(deps))
    .post(
      '/execute',
      async ({ body, request, set }) => {
        const { status, envelope } = await runOne(deps, request, {
          workerId: body.worker_id,
          caller: requestCaller(request, body.worker_id),
          action: body.action,
          params: body.params,
          timeout: body.timeout,
        });
        set.status = status;
        return envelope;
      },
      {
        body: t.Composite([t.Object({ worker_id: WorkerId }), Action]),
        scope: 'worker',
        detail: { summary: 'Run one tool', tags: ['execute'] },
      },
    )
    .post(
      '/execute/batch',
      async ({ body, request }) => {
        const max = deps.config.limits.max_batch_actions;
        if (body.actions.length > max) {
          throw new ParameterError(
            `actions: at most ${max} actions per batch (got ${body.actions.length})`,
          );
        }
        const stopOnError = body.stop_on_error ?? true;
        const run = (a: (typeof body.actions)[number]) =>
          // Field by field: who calls and for which worker never come from the action itself.
          runOne(deps, request, {
            action: a.action,
            params: a.params,
            timeout: a.timeout,
            workerId: body.worker_id,
            caller: requestCaller(request, body.worker_id),
          }).then((r) => r.envelope);
        let results: (Envelope | null)[];
        if (body.parallel) {
          results = await Promise.all(body.actions.map(run));
        } else {
          results = body.actions.map(() => null);
          for (const [i, a] of body.actions.entries()) {
            const envelope = await run(a);
            results[i] = envelope;
            if (envelope.code !== 0 && stopOnError) break;
          }
        }
        const executed = results.filter((r) => r !== null);
        const failures = executed.filter((r) => r.code !== 0);
        const first = failures[0];
        return {
          code: first ? first.code : 0,
          message: first
            ? `${failures.length} of ${executed.length} executed actions failed; first: ${first.message}`
            : 'success',
          data: {
            results,
            total: body.actions.length,
            executed: executed.length,
            succeeded: executed.length - failures.length,
            failed: failures.length,
            // Upstream's name for `succeeded`.
            success_count: executed.length - failures.length,
          },
          // A failed batch is an error envelope too: it names the first failure's type. The
          // batch's own tool name is upstream's.
          meta: first
            ? {
                tool: 'batch:execute',
                request_id: requestIdOf(request),
                error_type: first.meta.error_type,
              }
            : { tool: 'batch:execute', request_id: requestIdOf(request) },
        };
      },
      {
        body: t.Object({
          worker_id: WorkerId,
          actions: t.Array(Action, { minItems: 1 }),
          parallel: nullable(t.Boolean({ default: false })),
          stop_on_error: nullable(t.Boolean({ default: true })),
        }),
        scope: 'worker',
        detail: {
          summary: 'Run several tools, in order or in parallel',
          description:
            'Answers HTTP 200 with one envelope per action; the top-level code is the first ' +
            "failure's code (0 when every executed action succeeded).",
          tags: ['execute'],
        },
      },
    );
