// What upstream's Python side reads from our replies (its client, its `Sandbox` facade, its result
// formatter, its rollout runner and synthesis worker), each expectation written down as a test.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { t as T } from 'elysia';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

describe('warmup: what Sandbox.start and Sandbox.warmup read', () => {
  test('POST /warmup answers status "success" with results and summary at the top level', async () => {
    const r = await t.post('/api/v1/warmup', { backends: ['bash', 'rag'] });
    expect(r.status).toBe(200);
    // Sandbox.start logs "Partial warmup" unless status is "success".
    expect(r.body.status).toBe('success');
    expect(r.body.results).toEqual({ bash: true, rag: true });
    expect(r.body.summary).toEqual({ total: 2, warmed_up: 2, pending: 0 });
    expect('errors' in r.body).toBe(false);
    expect(r.body.code).toBe(0);
    expect(r.body.data.backends.bash.ok).toBe(true);
  });

  test('GET /warmup/status answers backends and summary at the top level', async () => {
    const r = await t.get('/api/v1/warmup/status');
    expect(r.body.backends.rag).toMatchObject({ loaded: true, warmed_up: true });
    expect(r.body.summary).toEqual({ total: 2, warmed_up: 2, pending: 0 });
    expect(r.body.data.summary).toEqual(r.body.summary);
  });

  test('a failed backend: status "partial_error", its result false, its error named', async () => {
    const broken = await buildApp({
      backends: { bash: { shell: '/no/such/bash' }, vm: { enabled: false } },
    });
    try {
      const r = await broken.post('/api/v1/warmup', { backends: ['bash', 'rag'] });
      expect(r.body.code).toBe(2003);
      expect(r.body.status).toBe('partial_error');
      expect(r.body.results).toEqual({ bash: false, rag: true });
      expect(r.body.errors.bash).toContain('/no/such/bash');
      expect(r.body.summary).toEqual({ total: 2, warmed_up: 1, pending: 1 });
    } finally {
      await broken.close();
    }
  });
});

describe('sessions: what the client and Sandbox read from each reply', () => {
  test('create, list, refresh, heartbeat, status, destroy, disconnect', async () => {
    const w = 'up-s1';
    const c = await t.post('/api/v1/session/create', {
      worker_id: w,
      resource_type: 'bash',
      session_config: {},
      custom_name: null,
    });
    // Sandbox.create_session: code 0 and data.session_status "active"; the docstring's
    // result['session_name'] and Sandbox.reinitialize's result.get('session_id') at the top.
    expect(c.body.code).toBe(0);
    expect(c.body.data.session_status).toBe('active');
    expect(c.body.session_name).toBe(c.body.data.session_name);
    expect(c.body.session_id).toBe(c.body.data.session_id);
    const again = await t.post('/api/v1/session/create', { worker_id: w, resource_type: 'bash' });
    expect(again.body.data).toMatchObject({ created: false, session_status: 'active' });

    const l = await t.post('/api/v1/session/list', { worker_id: w });
    expect(l.body.data.worker_id).toBe(w);
    expect(l.body.data.sessions[0]).toMatchObject({
      resource_type: 'bash',
      session_id: c.body.session_id,
      session_name: c.body.session_name,
      status: 'active',
      auto_created: false,
      last_activity: expect.any(String),
      expires_at: expect.any(String),
    });

    const one = await t.post('/api/v1/session/refresh', { worker_id: w, resource_type: 'bash' });
    expect(one.body.expires_at).toBe(one.body.data.expires_at);
    expect(one.body.data).toMatchObject({ resource_type: 'bash', session_id: c.body.session_id });
    await t.post('/api/v1/session/create', { worker_id: w, resource_type: 'rag' });
    const all = await t.post('/api/v1/session/refresh', { worker_id: w });
    expect(all.body.refreshed_count).toBe(2);
    expect(all.body.data.details.bash).toEqual({
      status: 'refreshed',
      expires_at: expect.any(String),
    });

    const hb = await t.post('/api/v1/lifecycle/heartbeat', { worker_id: w });
    expect(hb.body.data.active_sessions.sort()).toEqual(['bash', 'rag']);
    expect(typeof hb.body.data.timestamp).toBe('string');
    const st = await t.post('/api/v1/lifecycle/status', { worker_id: w });
    expect(st.body.data.active_resources.sort()).toEqual(['bash', 'rag']);
    expect(st.body.data.tools_available).toBeGreaterThan(3);

    const d = await t.post('/api/v1/session/destroy', { worker_id: w, resource_type: 'rag' });
    expect(d.body.session_id).toBe(d.body.data.session_id);
    expect(d.body.data.resource_type).toBe('rag');
    expect(typeof d.body.data.message).toBe('string');
    const dc = await t.post('/api/v1/worker/disconnect', { worker_id: w });
    expect(dc.body.data.sessions_cleaned).toBe(1);
  });

  test('init/batch: success_count and a status per resource type', async () => {
    const r = await t.post('/api/v1/init/batch', {
      worker_id: 'up-s2',
      resource_configs: { bash: { content: { cwd: 'b' } }, web: { content: {} } },
    });
    expect(r.body.data.success_count).toBe(1);
    expect(r.body.data.total).toBe(2);
    expect(r.body.data.results.bash).toMatchObject({
      status: 'success',
      session_id: expect.stringMatching(/^bash_up-s2_/),
      session_status: 'active',
    });
    expect(r.body.data.results.web).toMatchObject({ status: 'error', code: 1005 });
    await t.post('/api/v1/worker/disconnect', { worker_id: 'up-s2' });
    // An entry without `content` is the config itself, as upstream reads it.
    const bare = await t.post('/api/v1/init/batch', {
      worker_id: 'up-s2',
      resource_configs: { bash: { cwd: 'bare' } },
    });
    expect(bare.body.data.results.bash.status).toBe('success');
    const pwd = await t.execute('up-s2', 'bash:run', { command: 'basename "$PWD"' });
    expect(pwd.body.data.stdout).toBe('bare\n');
    await t.post('/api/v1/worker/disconnect', { worker_id: 'up-s2' });
  });
});

describe('init/from-config: the sessions an upstream-style config file names', () => {
  test('creates each enabled resource with its config, overrides merged first', async () => {
    const file = join(t.dataDir, 'upstream-config.json');
    writeFileSync(
      file,
      JSON.stringify({
        server: { port: 18890, session_ttl: 600 },
        resources: {
          _comment: 'skipped',
          bash: { enabled: true, backend_class: 'x.BashBackend', config: { cwd: 'from-file' } },
          rag: { enabled: false, config: {} },
          web: { enabled: true, config: { api_key: 'k' } },
        },
      }),
    );
    const r = await t.post('/api/v1/init/from-config', {
      worker_id: 'up-fc',
      config_path: file,
      override_params: {
        resources: {
          bash: { config: { cwd: 'overridden', pool_size: 2 } },
          web: { enabled: false },
        },
        not_in_file: 1,
      },
    });
    expect(r.body.code).toBe(0);
    expect(r.body.data.config_loaded).toBe(file);
    expect('not_in_file' in r.body.data.config).toBe(false);
    expect(Object.keys(r.body.data.results)).toEqual(['bash']);
    expect(r.body.data.results.bash).toMatchObject({ status: 'success', code: 0 });
    expect(r.body.data.results.bash.ignored_config).toEqual(['pool_size']);
    const pwd = await t.execute('up-fc', 'bash:run', { command: 'basename "$PWD"' });
    expect(pwd.body.data.stdout).toBe('overridden\n');
    await t.post('/api/v1/worker/disconnect', { worker_id: 'up-fc' });
  });

  test('a missing, unreadable or malformed file is 1002 naming the path, not its content', async () => {
    const bad = join(t.dataDir, 'bad.json');
    writeFileSync(bad, 'secret-token-xyz not json');
    const cases: [string, RegExp][] = [
      [join(t.dataDir, 'nope.json'), /not found/],
      [t.dataDir, /not a regular file/],
      [bad, /not valid JSON/],
    ];
    for (const [path, message] of cases) {
      const r = await t.post('/api/v1/init/from-config', {
        worker_id: 'up-fc2',
        config_path: path,
      });
      expect({ path, code: r.body.code, status: r.status }).toEqual({
        path,
        code: 1002,
        status: 400,
      });
      expect(r.body.message).toMatch(message);
      expect(r.body.message).not.toContain('secret-token');
    }
    writeFileSync(bad, JSON.stringify({ vm: {} }));
    const none = await t.post('/api/v1/init/from-config', {
      worker_id: 'up-fc2',
      config_path: bad,
    });
    expect(none.body.code).toBe(1002);
    expect(none.body.message).toContain('"resources"');
  });
});

test('shutdown answers upstream’s status and sessions_cleaned at the top level', async () => {
  const s = await buildApp({ backends: { vm: { enabled: false }, rag: { enabled: false } } });
  try {
    await s.post('/session/create', { worker_id: 'up-sd', resource_type: 'bash' });
    const r = await s.post('/api/v1/server/shutdown', { force: false, cleanup_sessions: true });
    expect(r.body).toMatchObject({ code: 0, status: 'success', sessions_cleaned: 1 });
    expect(r.body.data.shutting_down).toBe(true);
  } finally {
    await s.close();
  }
});
