// What upstream's client and `Sandbox` facade read from the session, lifecycle, init, warmup and
// shutdown replies, each expectation written down as a test (execute and tools: upstream-client).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildApp({ backends: { vm: { enabled: false } } });
});
afterAll(() => t.close());

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
