// Tool discovery (SPEC §4): the list as JSON Schema or OpenAI functions, and one tool's schema.
import { Elysia, t } from 'elysia';
import { ParameterError } from '../core/errors.ts';
import type { AppDeps } from './deps.ts';
import { ok } from './envelope.ts';
import { scopes } from './scope.ts';
import { queryBool } from './schemas.ts';

export const toolRoutes = (deps: AppDeps, prefix: string) => {
  const describe = (name: string, request: Request) => {
    const tool = deps.registry.describe(deps.registry.resolve(decodeURIComponent(name)));
    // Upstream answers the description itself: its fields also stand at the top level.
    return { ...ok(request, tool), ...tool };
  };
  return new Elysia({ name: 'tools', seed: prefix, prefix })
    .use(scopes(deps))
    .get(
      '/tools',
      ({ query, request }) => {
        const includeHidden = queryBool(query.include_hidden, 'include_hidden', false);
        const format = query.format ?? 'agentflow';
        if (format !== 'agentflow' && format !== 'openai') {
          throw new ParameterError(`format must be "agentflow" or "openai" (got "${format}")`);
        }
        const list = deps.registry.list(includeHidden);
        const tools =
          format === 'openai'
            ? list.map((tool) => deps.registry.toOpenAi(tool))
            : list.map((tool) => deps.registry.describe(tool));
        // The upstream client reads `tools` at the top level; the envelope keeps it in data too.
        return { ...ok(request, { tools, count: tools.length }), tools, count: tools.length };
      },
      {
        query: t.Object({
          include_hidden: t.Optional(t.String()),
          format: t.Optional(t.String()),
        }),
        scope: 'key',
        detail: {
          summary: 'List tools (format=openai for function-calling definitions)',
          tags: ['tools'],
        },
      },
    )
    .get('/tools/:name', ({ params, request }) => describe(params.name, request), {
      scope: 'key',
      detail: { summary: 'One tool’s full description', tags: ['tools'] },
    })
    .get('/tools/:name/schema', ({ params, request }) => describe(params.name, request), {
      scope: 'key',
      detail: { summary: 'One tool’s full description (upstream client path)', tags: ['tools'] },
    });
};
