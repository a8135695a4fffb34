// Route tests through app.handle: every endpoint at both paths, the envelope, and bad input.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { buildApp, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildApp({ limits: { max_body_bytes: 4096 }, execution: { max_timeout_seconds: 120 } });
});
afterAll(() => t.close());

const run = (worker: string, command: string, extra: Record<string, unknown> = {}) =>
  t.post('/execute', { worker_id: worker, action: 'bash:run', params: { command }, ...extra });

describe('envelope', () => {
  test('success carries code 0, data and meta with request id and execution fields', async () => {
    const r = await run('env-w', 'echo hi');
    expect(r.status).toBe(200);
    expect(r.body.code).toBe(0);
    expect(r.body.message).toBe('success');
    expect(r.body.data.stdout).toBe('hi\n');
    const meta = r.body.meta;
    expect(meta.tool).toBe('bash:run');
    expect(meta.resource_type).toBe('bash');
    expect(meta.session_id).toMatch(/^bash_env-w_\d{3,}$/);
    expect(meta.temporary_session).toBe(true);
    expect(typeof meta.execution_time_ms).toBe('number');
    expect(typeof meta.request_id).toBe('string');
    expect(r.headers.get('x-request-id')).toBe(meta.request_id);
  });

  test('X-Request-ID is echoed in meta and header', async () => {
    const r = await t.post('/session/list', {}, { 'x-request-id': 'trace-123' });
    expect(r.body.meta.request_id).toBe('trace-123');
    expect(r.headers.get('x-request-id')).toBe('trace-123');
  });

  test('errors carry error_type and no stack trace', async () => {
    const r = await t.post('/execute', { worker_id: 'w', action: 'nope:nothing' });
    expect(r.status).toBe(404);
    expect(r.body.code).toBe(1001);
    expect(r.body.meta.error_type).toBe('ToolNotFoundError');
    expect(r.body.message).not.toContain(' at ');
  });
});

describe('every endpoint answers at its path and under /api/v1', () => {
  for (const prefix of ['', '/api/v1']) {
    test(`service endpoints ${prefix || '/'}`, async () => {
      const h = await t.get(`${prefix}/health`);
      expect(h.status).toBe(200);
      expect(h.body).toEqual({ status: 'ok', version: expect.any(String) });
      const w = await t.post(`${prefix}/warmup`, {});
      expect(w.body.code).toBe(0);
      expect(w.body.data.backends.bash.ok).toBe(true);
      const ws = await t.get(`${prefix}/warmup/status`);
      expect(ws.body.data.backends.bash).toMatchObject({ loaded: true, warmed_up: true });
      const ready = await t.get(`${prefix}/ready`);
      expect(ready.status).toBe(200);
      expect(ready.body.data.ready).toBe(true);
    });

    test(`session endpoints ${prefix || '/'}`, async () => {
      const worker = `ep${prefix.replaceAll('/', '')}`;
      const c = await t.post(`${prefix}/session/create`, {
        worker_id: worker,
        resource_type: 'bash',
      });
      expect(c.body.code).toBe(0);
      expect(c.body.data.created).toBe(true);
      const l = await t.post(`${prefix}/session/list`, { worker_id: worker });
      expect(l.body.data.sessions).toHaveLength(1);
      const rf = await t.post(`${prefix}/session/refresh`, {
        worker_id: worker,
        resource_type: 'bash',
      });
      expect(rf.body.data.refreshed_count).toBe(1);
      const hb = await t.post(`${prefix}/lifecycle/heartbeat`, { worker_id: worker });
      expect(hb.body.data.sessions).toHaveLength(1);
      const st = await t.post(`${prefix}/lifecycle/status`, { worker_id: worker });
      expect(st.body.data.sessions[0].resource_type).toBe('bash');
      const d = await t.post(`${prefix}/session/destroy`, {
        worker_id: worker,
        resource_type: 'bash',
      });
      expect(d.body.data.count).toBe(1);
      const ir = await t.post(`${prefix}/init/resource`, {
        worker_id: worker,
        resource_type: 'bash',
        init_config: { env: { FOO: 'bar' } },
      });
      expect(ir.body.data.session_status).toBe('active');
      const foo = await t.post(`${prefix}/execute`, {
        worker_id: worker,
        action: 'bash:run',
        params: { command: 'echo $FOO' },
      });
      expect(foo.body.data.stdout).toBe('bar\n');
      const dc = await t.post(`${prefix}/worker/disconnect`, { worker_id: worker });
      expect(dc.body.data.count).toBe(1);
      const ib = await t.post(`${prefix}/init/batch`, {
        worker_id: worker,
        resource_configs: { bash: { content: { cwd: 'sub' } } },
      });
      expect(ib.body.data.results.bash.code).toBe(0);
      const pwd = await t.post(`${prefix}/execute/batch`, {
        worker_id: worker,
        actions: [{ action: 'bash:run', params: { command: 'basename "$PWD"' } }],
      });
      expect(pwd.body.data.results[0].data.stdout).toBe('sub\n');
      await t.post(`${prefix}/worker/disconnect`, { worker_id: worker });
    });

    test(`tool endpoints ${prefix || '/'}`, async () => {
      const tools = await t.get(`${prefix}/tools`);
      expect(tools.body.code).toBe(0);
      const names = tools.body.data.tools.map((x: { name: string }) => x.name);
      expect(names).toEqual(
        expect.arrayContaining(['bash:run', 'bash:read_file', 'bash:write_file']),
      );
      expect(tools.body.tools).toEqual(tools.body.data.tools);
      expect(tools.body.count).toBe(names.length);
      const one = await t.get(`${prefix}/tools/bash:run`);
      expect(one.body.data.parameters.properties.command.type).toBe('string');
      expect(one.body.data.parameters.required).toEqual(['command']);
      const schema = await t.get(`${prefix}/tools/bash:run/schema`);
      expect(schema.body.data).toEqual(one.body.data);
    });
  }
});

describe('tools', () => {
  test('OpenAI function-calling format', async () => {
    const r = await t.get('/tools?format=openai');
    const run = r.body.data.tools.find((x: any) => x.function.name === 'bash__run');
    expect(run.type).toBe('function');
    expect(run.function.parameters.type).toBe('object');
    expect(run.function.description.length).toBeGreaterThan(10);
  });

  test('include_hidden accepts the Python spellings', async () => {
    for (const v of ['False', 'True', 'false', '1', '0']) {
      expect((await t.get(`/tools?include_hidden=${v}`)).body.code).toBe(0);
    }
    const bad = await t.get('/tools?include_hidden=maybe');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe(1002);
  });

  test('unknown tool schema is 1001', async () => {
    const r = await t.get('/tools/bash:nothing/schema');
    expect(r.status).toBe(404);
    expect(r.body.code).toBe(1001);
  });

  test('action spellings resolve to the same tool', async () => {
    for (const action of ['bash:run', 'bash.run', 'bash_run', 'bash-run', 'bash__run', 'run']) {
      const r = await t.post('/execute', {
        worker_id: 'spell',
        action,
        params: { command: 'echo ok' },
      });
      expect(r.body.code).toBe(0);
      expect(r.body.data.stdout).toBe('ok\n');
    }
  });

  test('swagger document lists the routes and tool schemas validate requests', async () => {
    const r = await t.get('/swagger/json');
    expect(r.status).toBe(200);
    expect(Object.keys(r.body.paths)).toEqual(
      expect.arrayContaining([
        '/execute',
        '/api/v1/execute',
        '/session/create',
        '/api/v1/server/shutdown',
      ]),
    );
    const ui = await t.get('/swagger');
    expect(ui.status).toBe(200);
  });
});

describe('bad input answers the right code, never a 500', () => {
  const cases: [string, string, unknown, number, number][] = [
    ['malformed JSON', '/execute', '{"worker_id": ', 400, 1002],
    ['body that is an array', '/execute', '[1,2]', 400, 1002],
    ['body that is a string', '/session/create', '"bash"', 400, 1002],
    ['missing worker_id', '/execute', { action: 'bash:run' }, 400, 1002],
    ['empty worker_id', '/execute', { worker_id: '', action: 'bash:run' }, 400, 1002],
    [
      'oversized worker_id',
      '/execute',
      { worker_id: 'w'.repeat(129), action: 'bash:run' },
      400,
      1002,
    ],
    ['ill-formed worker_id', '/execute', { worker_id: '../etc', action: 'bash:run' }, 400, 1002],
    [
      'worker_id with a space',
      '/session/create',
      { worker_id: 'a b', resource_type: 'bash' },
      400,
      1002,
    ],
    ['worker_id of the wrong type', '/session/list', { worker_id: 5 }, 400, 1002],
    ['unknown action', '/execute', { worker_id: 'w', action: 'bash:fly' }, 404, 1001],
    [
      'params of the wrong type',
      '/execute',
      { worker_id: 'w', action: 'bash:run', params: { command: 5 } },
      400,
      1002,
    ],
    ['params missing', '/execute', { worker_id: 'w', action: 'bash:run' }, 400, 1002],
    [
      'params not an object',
      '/execute',
      { worker_id: 'w', action: 'bash:run', params: 'ls' },
      400,
      1002,
    ],
    [
      'unknown param beside a bad known one',
      '/execute',
      { worker_id: 'w', action: 'bash:run', params: { command: 7, cmd: 1 } },
      400,
      1002,
    ],
    [
      'unknown resource_type',
      '/session/create',
      { worker_id: 'w', resource_type: 'gpu' },
      404,
      1005,
    ],
    [
      'destroy of no session',
      '/session/destroy',
      { worker_id: 'nobody', resource_type: 'bash' },
      404,
      1003,
    ],
    ['destroy-all of no session', '/session/destroy', { worker_id: 'nobody' }, 404, 1003],
    [
      'refresh of no session',
      '/session/refresh',
      { worker_id: 'nobody', resource_type: 'bash' },
      404,
      1003,
    ],
    [
      'timeout 0',
      '/execute',
      { worker_id: 'w', action: 'bash:run', params: { command: 'ls' }, timeout: 0 },
      400,
      1002,
    ],
    [
      'timeout negative',
      '/execute',
      { worker_id: 'w', action: 'bash:run', params: { command: 'ls' }, timeout: -1 },
      400,
      1002,
    ],
    [
      'timeout NaN (as text)',
      '/execute',
      { worker_id: 'w', action: 'bash:run', params: { command: 'ls' }, timeout: 'NaN' },
      400,
      1002,
    ],
    [
      'timeout above the maximum',
      '/execute',
      { worker_id: 'w', action: 'bash:run', params: { command: 'ls' }, timeout: 121 },
      400,
      1002,
    ],
    [
      'tool timeout 0',
      '/execute',
      { worker_id: 'w', action: 'bash:run', params: { command: 'ls', timeout: 0 } },
      400,
      1002,
    ],
    [
      'custom_name too long',
      '/session/create',
      { worker_id: 'w', resource_type: 'bash', custom_name: 'n'.repeat(65) },
      400,
      1002,
    ],
    [
      'custom_name empty',
      '/session/create',
      { worker_id: 'w', resource_type: 'bash', custom_name: '' },
      400,
      1002,
    ],
    [
      'session config failing its schema',
      '/session/create',
      { worker_id: 'w', resource_type: 'bash', config: { cwd: 5 } },
      400,
      1002,
    ],
    [
      'session config with an unknown field beside a bad known one',
      '/session/create',
      { worker_id: 'w', resource_type: 'bash', config: { shell: 'zsh', cwd: 7 } },
      400,
      1002,
    ],
    [
      'session config env name invalid',
      '/session/create',
      { worker_id: 'w-env', resource_type: 'bash', config: { env: { 'A-B': 'x' } } },
      400,
      1002,
    ],
    [
      'session config cwd missing dir',
      '/session/create',
      { worker_id: 'w-cwd', resource_type: 'bash', config: { cwd: '/no/such/dir' } },
      400,
      1002,
    ],
    ['batch with no actions', '/execute/batch', { worker_id: 'w', actions: [] }, 400, 1002],
    ['warmup of unknown backend', '/warmup', { backends: ['gpu'] }, 404, 1005],
    ['unknown endpoint', '/no/such/endpoint', {}, 404, 1002],
  ];
  for (const [name, path, body, status, code] of cases) {
    test(name, async () => {
      const r = await t.post(path, body);
      expect(r.body.code).toBe(code);
      expect(r.status).toBe(status);
      expect(typeof r.body.message).toBe('string');
      expect(r.body.meta.request_id).toBeDefined();
    });
  }

  test('a body over the size limit is 413 + 1002', async () => {
    const r = await t.post('/execute', {
      worker_id: 'w',
      action: 'bash:run',
      params: { command: 'x'.repeat(5000) },
    });
    expect(r.status).toBe(413);
    expect(r.body.code).toBe(1002);
  });

  test('a body over the limit sent without Content-Length is 413 + 1002', async () => {
    const big = JSON.stringify({
      worker_id: 'w',
      action: 'bash:run',
      params: { command: 'x'.repeat(5000) },
    });
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    const res = await t.app.handle(
      new Request('http://localhost/execute', {
        method: 'POST',
        body: stream,
        headers: { 'content-type': 'application/json' },
      }),
    );
    expect(res.status).toBe(413);
    expect(((await res.json()) as any).code).toBe(1002);
  });

  test('null for optional fields is accepted (the Python client sends it)', async () => {
    const r = await t.post('/execute', {
      worker_id: 'nulls',
      action: 'bash:run',
      params: { command: 'echo n' },
      timeout: null,
    });
    expect(r.body.code).toBe(0);
    const c = await t.post('/session/create', {
      worker_id: 'nulls',
      resource_type: 'bash',
      session_config: {},
      custom_name: null,
    });
    expect(c.body.code).toBe(0);
  });

  test('worker id from the X-Worker-ID header when the body has none', async () => {
    const r = await t.post(
      '/session/create',
      { resource_type: 'bash' },
      { 'x-worker-id': 'hdr-worker' },
    );
    expect(r.body.code).toBe(0);
    expect(r.body.data.worker_id).toBe('hdr-worker');
  });

  test('a JSON body without Content-Type is parsed', async () => {
    const res = await t.app.handle(
      new Request('http://localhost/execute', {
        method: 'POST',
        body: JSON.stringify({
          worker_id: 'noct',
          action: 'bash:run',
          params: { command: 'echo ct' },
        }),
      }),
    );
    expect(((await res.json()) as any).data.stdout).toBe('ct\n');
  });

  test('the server is healthy after all of the above', async () => {
    expect((await t.get('/health')).status).toBe(200);
    expect((await run('after', 'echo fine')).body.data.stdout).toBe('fine\n');
  });
});

describe('batch', () => {
  test('sequential, stopping at the first failure', async () => {
    const r = await t.post('/execute/batch', {
      worker_id: 'batch1',
      actions: [
        { action: 'bash:run', params: { command: 'echo one' } },
        { action: 'bash:nope' },
        { action: 'bash:run', params: { command: 'echo three' } },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.body.code).toBe(1001);
    expect(r.body.meta.error_type).toBe('ToolNotFoundError');
    expect(r.body.data).toMatchObject({ total: 3, executed: 2, succeeded: 1, failed: 1 });
    expect(r.body.data.results[0].data.stdout).toBe('one\n');
    expect(r.body.data.results[1].code).toBe(1001);
    expect(r.body.data.results[2]).toBeNull();
  });

  test('stop_on_error false runs everything', async () => {
    const r = await t.post('/execute/batch', {
      worker_id: 'batch2',
      stop_on_error: false,
      actions: [{ action: 'bash:nope' }, { action: 'bash:run', params: { command: 'echo two' } }],
    });
    expect(r.body.data).toMatchObject({ executed: 2, succeeded: 1, failed: 1 });
    expect(r.body.data.results[1].data.stdout).toBe('two\n');
  });

  test('parallel actions on one session still queue; all succeed', async () => {
    await t.post('/session/create', { worker_id: 'batch3', resource_type: 'bash' });
    const started = performance.now();
    const r = await t.post('/execute/batch', {
      worker_id: 'batch3',
      parallel: true,
      actions: [0, 1, 2].map((i) => ({
        action: 'bash:run',
        params: { command: `sleep 0.2; echo ${i}` },
      })),
    });
    const elapsed = performance.now() - started;
    expect(r.body.code).toBe(0);
    expect(r.body.data.results.map((x: any) => x.data.stdout)).toEqual(['0\n', '1\n', '2\n']);
    expect(elapsed).toBeGreaterThanOrEqual(590);
  });

  test('batch over the configured maximum is 1002', async () => {
    const actions = Array.from({ length: 101 }, () => ({
      action: 'bash:run',
      params: { command: 'true' },
    }));
    const r = await t.post('/execute/batch', { worker_id: 'big', actions });
    // 101 small actions fit the 4 KiB test body limit only barely; either limit answers 1002.
    expect(r.body.code).toBe(1002);
  });
});
