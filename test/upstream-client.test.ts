// What upstream's Python side reads from execute and tool replies (its client, its result
// formatter, its rollout runner and synthesis worker), each expectation written down as a test;
// the session, init, warmup and shutdown replies are in upstream-sessions.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { t as T } from 'elysia';
import { vmTools } from '../src/backends/vm/tools.ts';
import { ToolRegistry } from '../src/core/tools.ts';
import { buildApp, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildApp({ backends: { vm: { enabled: false } } });
});
afterAll(() => t.close());

/**
 * The formatter upstream's result formatter would pick: exact names first, else the resource
 * type, else the `type:` prefix of meta.tool (no match there raises on its side).
 */
function formatterKind(reply: { meta: { tool?: string; resource_type?: string } }): string {
  const tool = reply.meta.tool ?? '';
  if (tool === 'rag:search') return 'rag-search';
  if (!tool.includes(':')) return tool;
  return reply.meta.resource_type || tool.split(':')[0]!;
}

describe('meta.tool is the full tool name (the result formatter dispatches on it)', () => {
  test('execute: success, a tool error and a params error', async () => {
    const ok = await t.execute('mt-1', 'bash:run', { command: 'echo hi' });
    expect(ok.body.meta.tool).toBe('bash:run');
    expect(formatterKind(ok.body)).toBe('bash');
    const spelled = await t.execute('mt-1', 'bash.run', { command: 'true' });
    expect(spelled.body.meta.tool).toBe('bash:run');
    const bad = await t.execute('mt-1', 'bash:run', { command: 5 });
    expect(bad.body.code).toBe(1002);
    expect(bad.body.meta.tool).toBe('bash:run');
    const search = await t.execute('mt-1', 'rag:search', { query: 'agent' });
    expect(search.body.code).toBe(0);
    expect(search.body.meta.tool).toBe('rag:search');
    expect(formatterKind(search.body)).toBe('rag-search');
  });

  test('an unknown tool names the action as sent, as upstream does', async () => {
    const r = await t.execute('mt-2', 'bash:nope');
    expect(r.body.code).toBe(1001);
    expect(r.body.meta.tool).toBe('bash:nope');
    expect(formatterKind(r.body)).toBe('bash');
  });

  test('batch: each result names its tool, the batch is batch:execute', async () => {
    const r = await t.post('/api/v1/execute/batch', {
      worker_id: 'mt-3',
      stop_on_error: false,
      actions: [
        { action: 'bash:run', params: { command: 'echo one' } },
        { action: 'run', params: { command: 'sleep 5' }, timeout: 0.2 },
        { action: 'rag_search', params: { query: 'agent' } },
      ],
    });
    expect(r.body.meta.tool).toBe('batch:execute');
    expect(r.body.data.results.map((x: any) => x.meta.tool)).toEqual([
      'bash:run',
      'bash:run',
      'rag:search',
    ]);
    expect(r.body.data.results[1].code).toBe(2002);
    expect(r.body.data.success_count).toBe(2);
  });
});

describe('a call with timeout T is answered within T (the client’s own HTTP timeout is T)', () => {
  test('bash:run sleep 30 with timeout 1 answers 2002 in under 1000 ms', async () => {
    await t.post('/api/v1/session/create', { worker_id: 'to-1', resource_type: 'bash' });
    const started = performance.now();
    const r = await t.post('/api/v1/execute', {
      worker_id: 'to-1',
      action: 'bash:run',
      params: { command: 'echo before; sleep 30' },
      timeout: 1,
    });
    const elapsed = performance.now() - started;
    expect(r.body.code).toBe(2002);
    expect(r.status).toBe(504);
    expect(r.body.data.stdout).toBe('before\n');
    expect(elapsed).toBeLessThan(1000);
    // Most of the time was the command's: the margin kept back is small.
    expect(elapsed).toBeGreaterThan(800);
    const next = await t.execute('to-1', 'bash:run', { command: 'echo alive' });
    expect(next.body.data.stdout).toBe('alive\n');
  });

  test('the same for a temporary session, and for a call queued behind another', async () => {
    let started = performance.now();
    const temp = await t.post('/api/v1/execute', {
      worker_id: 'to-2',
      action: 'bash:run',
      params: { command: 'sleep 30' },
      timeout: 1,
    });
    expect(temp.body.code).toBe(2002);
    expect(temp.body.meta.temporary_session).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);

    await t.post('/api/v1/session/create', { worker_id: 'to-3', resource_type: 'bash' });
    started = performance.now();
    const [, queued] = await Promise.all([
      t.post('/api/v1/execute', {
        worker_id: 'to-3',
        action: 'bash:run',
        params: { command: 'sleep 3' },
        timeout: 2,
      }),
      t
        .post('/api/v1/execute', {
          worker_id: 'to-3',
          action: 'bash:run',
          params: { command: 'echo never' },
          timeout: 1,
        })
        .then((r) => ({ ...r, at: performance.now() - started })),
    ]);
    expect(queued.body.code).toBe(2002);
    expect(queued.at).toBeLessThan(1000);
  });
});

describe('unknown params are ignored (upstream tools take **kwargs), and listed', () => {
  test('the rollout runner merges task kwargs such as seed_path into every call', async () => {
    const r = await t.execute('kw-1', 'bash:run', {
      command: 'echo ok',
      seed_path: '/data/seeds/1.jsonl',
      trace_id: 'abc',
    });
    expect(r.body.code).toBe(0);
    expect(r.body.data.stdout).toBe('ok\n');
    expect(r.body.meta.ignored_params).toEqual(['seed_path', 'trace_id']);
    const plain = await t.execute('kw-1', 'bash:run', { command: 'true' });
    expect('ignored_params' in plain.body.meta).toBe(false);
    const search = await t.execute('kw-1', 'rag:search', { query: 'agent', seed_path: 'x' });
    expect(search.body.code).toBe(0);
    expect(search.body.meta.ignored_params).toEqual(['seed_path']);
  });

  test('a known param of the wrong type is still 1002', async () => {
    const r = await t.execute('kw-2', 'bash:run', { command: ['echo'], seed_path: 'x' });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('command');
  });

  test('session config: the client docstring’s create_session("rag", {top_k, rerank})', async () => {
    const r = await t.post('/api/v1/session/create', {
      worker_id: 'kw-3',
      resource_type: 'rag',
      session_config: { top_k: 10, rerank: true },
      custom_name: null,
    });
    expect(r.body.code).toBe(0);
    expect(r.body.meta.ignored_config).toEqual(['rerank']);
    // The session is usable, with the keys it knows.
    const s = await t.execute('kw-3', 'rag:search', { query: 'the' });
    expect(s.body.code).toBe(0);
    const init = await t.post('/api/v1/init/resource', {
      worker_id: 'kw-4',
      resource_type: 'bash',
      init_config: { cwd: 'w', pool_size: 1 },
    });
    expect(init.body.code).toBe(0);
    expect(init.body.meta.ignored_config).toEqual(['pool_size']);
    const bad = await t.post('/api/v1/session/create', {
      worker_id: 'kw-5',
      resource_type: 'bash',
      session_config: { cwd: 7, other: 1 },
    });
    expect(bad.body.code).toBe(1002);
  });

  test('execution.strict_params: true makes them 1002 again', async () => {
    const strict = await buildApp({
      execution: { strict_params: true },
      backends: { vm: { enabled: false }, rag: { enabled: false } },
    });
    try {
      const r = await strict.execute('st-1', 'bash:run', { command: 'true', seed_path: 'x' });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain('seed_path');
      const c = await strict.post('/session/create', {
        worker_id: 'st-1',
        resource_type: 'bash',
        config: { pool_size: 1 },
      });
      expect(c.body.code).toBe(1002);
    } finally {
      await strict.close();
    }
  });
});

/** Every `required` list of a JSON Schema, with the properties it constrains. */
function requiredLists(node: unknown, out: { required: string[]; props: any }[] = []) {
  if (Array.isArray(node)) for (const n of node) requiredLists(n, out);
  else if (node && typeof node === 'object') {
    const o = node as { required?: unknown; properties?: unknown };
    if (Array.isArray(o.required)) out.push({ required: o.required, props: o.properties });
    for (const v of Object.values(node)) requiredLists(v, out);
  }
  return out;
}

describe('tool discovery: what list_tools and get_tool_schema read', () => {
  test('GET /tools items carry full_name and stateless; the list is at the top level', async () => {
    const r = await t.get('/api/v1/tools?include_hidden=False');
    const run = r.body.tools.find((x: any) => x.full_name === 'bash:run');
    expect(run).toMatchObject({ name: 'bash:run', resource_type: 'bash', stateless: false });
    const search = r.body.tools.find((x: any) => x.full_name === 'rag:search');
    expect(search.stateless).toBe(true);
    expect(r.body.count).toBe(r.body.tools.length);
  });

  test('a parameter with a default is not required, in every tool and in the OpenAI format', async () => {
    const [plain, openai] = await Promise.all([
      t.get('/tools?include_hidden=true'),
      t.get('/tools?format=openai&include_hidden=true'),
    ]);
    const lists = [
      ...requiredLists(plain.body.tools.map((x: any) => x.parameters)),
      ...requiredLists(openai.body.tools.map((x: any) => x.function.parameters)),
    ];
    expect(lists.length).toBeGreaterThan(0);
    for (const { required, props } of lists) {
      for (const name of required)
        expect({ name, default: props?.[name]?.default }).toEqual({ name, default: undefined });
    }
  });

  test('the vm tools, whose defaults TypeBox lists as required (no Docker needed)', () => {
    const registry = new ToolRegistry([
      { name: 'vm', description: 'vm', sessionConfig: T.Object({}), tools: vmTools() },
    ]);
    const params = (name: string) => registry.describe(registry.resolve(name)).parameters as any;
    expect(params('vm:screenshot').required).toBeUndefined();
    expect(params('vm:screenshot').properties.format.default).toBe('png');
    expect(params('vm:click').required).toEqual(['x', 'y']);
    expect(params('vm:click').properties.button.default).toBe('left');
    const fn = registry.toOpenAi(registry.resolve('vm:click')).function.parameters as any;
    expect(fn.required).toEqual(['x', 'y']);
    // Validation still applies the default the schema shows.
    expect(registry.resolve('vm:click').parseParams({ x: 1, y: 2 }).params.button).toBe('left');
    for (const tool of registry.list(true)) {
      const lists = requiredLists([
        registry.describe(tool).parameters,
        registry.toOpenAi(tool).function.parameters,
      ]);
      for (const { required, props } of lists) {
        for (const name of required) {
          expect({ tool: tool.fullName, name, default: props?.[name]?.default }).toEqual({
            tool: tool.fullName,
            name,
            default: undefined,
          });
        }
      }
    }
  });

  test('get_tool_schema reads the description at the top level', async () => {
    const r = await t.get('/api/v1/tools/bash:run/schema');
    expect(r.body).toMatchObject({
      code: 0,
      name: 'bash:run',
      full_name: 'bash:run',
      resource_type: 'bash',
      stateless: false,
      description: expect.any(String),
    });
    expect(r.body.data.full_name).toBe('bash:run');
    expect(r.body.parameters).toEqual(r.body.data.parameters);
  });
});
