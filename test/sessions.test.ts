// Session behaviour (SPEC §3): idempotent create, names, TTL and sweeper, temporary sessions,
// the per-session FIFO queue, and destroy freeing what the session held.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, processesLeft, processesOfSession, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildApp({ sessions: { ttl_seconds: 60, sweep_interval_seconds: 0.1 } });
});
afterAll(() => t.close());

const create = (worker: string, extra: Record<string, unknown> = {}) =>
  t.post('/session/create', { worker_id: worker, resource_type: 'bash', ...extra });
const run = (worker: string, command: string, timeout?: number) =>
  t.post('/execute', { worker_id: worker, action: 'bash:run', params: { command }, timeout });

describe('create', () => {
  test('is idempotent per (worker, type) and numbers sessions per server', async () => {
    const a = await create('idem');
    const b = await create('idem');
    expect(a.body.data.created).toBe(true);
    expect(b.body.data.created).toBe(false);
    expect(b.body.data.session_id).toBe(a.body.data.session_id);
    expect(a.body.data.session_id).toMatch(/^bash_idem_\d{3}$/);
    expect(a.body.data.session_name).toBe(a.body.data.session_id);
    expect(a.body.data.session_status).toBe('active');
    const other = await create('idem-2');
    const num = (id: string) => Number(id.split('_').pop());
    expect(num(other.body.data.session_id)).toBeGreaterThan(num(a.body.data.session_id));
  });

  test('concurrent creates make one session', async () => {
    const results = await Promise.all([1, 2, 3, 4].map(() => create('race')));
    const ids = new Set(results.map((r) => r.body.data.session_id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.body.data.created).length).toBe(1);
  });

  test('custom name', async () => {
    const r = await create('named', { custom_name: 'my shell' });
    expect(r.body.data.session_name).toBe('my shell');
    const list = await t.post('/session/list', { worker_id: 'named' });
    expect(list.body.data.sessions[0].session_name).toBe('my shell');
  });

  test('list without worker_id lists every session with ISO times', async () => {
    await create('list-a');
    await create('list-b');
    const r = await t.post('/session/list', {});
    const workers = r.body.data.sessions.map((s: any) => s.worker_id);
    expect(workers).toEqual(expect.arrayContaining(['list-a', 'list-b']));
    const s = r.body.data.sessions[0];
    for (const f of ['created_at', 'last_used_at', 'expires_at']) {
      expect(new Date(s[f]).toISOString()).toBe(s[f]);
    }
  });
});

describe('TTL', () => {
  test('every call and refresh extends expires_at', async () => {
    const c = await create('ttl-refresh');
    const first = c.body.data.expires_at;
    await Bun.sleep(20);
    await run('ttl-refresh', 'true');
    const listed = (await t.post('/session/list', { worker_id: 'ttl-refresh' })).body.data
      .sessions[0];
    expect(listed.expires_at > first).toBe(true);
    await Bun.sleep(20);
    const r = await t.post('/session/refresh', { worker_id: 'ttl-refresh' });
    expect(r.body.data.sessions[0].expires_at > listed.expires_at).toBe(true);
  });

  test('an expired session is destroyed by the sweeper, with its shell and workspace', async () => {
    const short = await buildApp({ sessions: { ttl_seconds: 0.5, sweep_interval_seconds: 0.1 } });
    try {
      const c = await short.post('/session/create', { worker_id: 'exp', resource_type: 'bash' });
      const id = c.body.data.session_id;
      await short.post('/execute', {
        worker_id: 'exp',
        action: 'bash:run',
        params: { command: 'sleep 300 &' },
      });
      expect(processesOfSession(id).length).toBeGreaterThan(0);
      const workspace = join(short.dataDir, 'workspaces', id);
      expect(existsSync(workspace)).toBe(true);
      await Bun.sleep(1000);
      expect((await short.post('/session/list', { worker_id: 'exp' })).body.data.sessions).toEqual(
        [],
      );
      expect(existsSync(workspace)).toBe(false);
      expect(await processesLeft(id)).toEqual([]);
    } finally {
      await short.close();
    }
  });

  test('a session is not swept while a call runs past its TTL', async () => {
    const short = await buildApp({ sessions: { ttl_seconds: 0.3, sweep_interval_seconds: 0.05 } });
    try {
      await short.post('/session/create', { worker_id: 'busy', resource_type: 'bash' });
      const r = await short.post('/execute', {
        worker_id: 'busy',
        action: 'bash:run',
        params: { command: 'sleep 0.6; echo done' },
      });
      expect(r.body.data.stdout).toBe('done\n');
      expect(r.body.meta.temporary_session).toBe(false);
      expect(
        (await short.post('/session/list', { worker_id: 'busy' })).body.data.sessions,
      ).toHaveLength(1);
    } finally {
      await short.close();
    }
  });
});

describe('temporary sessions', () => {
  const workspaces = () => readdirSync(join(t.dataDir, 'workspaces'));

  test('made for one call and destroyed after it', async () => {
    const r = await run('temp-ok', 'echo $AGENTFLOW_SESSION_ID; sleep 300 &');
    expect(r.body.meta.temporary_session).toBe(true);
    const id = r.body.data.stdout.trim();
    expect(r.body.meta.session_id).toBe(id);
    expect(workspaces()).not.toContain(id);
    expect(await processesLeft(id)).toEqual([]);
    expect((await t.post('/session/list', { worker_id: 'temp-ok' })).body.data.sessions).toEqual(
      [],
    );
  });

  test('destroyed when the tool fails', async () => {
    const r = await t.post('/execute', {
      worker_id: 'temp-fail',
      action: 'bash:read_file',
      params: { path: 'missing' },
    });
    expect(r.body.code).toBe(1002);
    expect(r.body.meta.temporary_session).toBe(true);
    expect(workspaces()).not.toContain(r.body.meta.session_id);
  });

  test('destroyed when the tool times out', async () => {
    const r = await run('temp-timeout', 'sleep 100 & sleep 100', 0.3);
    expect(r.body.code).toBe(2002);
    expect(r.body.meta.temporary_session).toBe(true);
    const id = r.body.meta.session_id;
    expect(workspaces()).not.toContain(id);
    expect(await processesLeft(id)).toEqual([]);
  });
});

describe('per-session queue', () => {
  test('two concurrent calls on one session run one after the other, in order', async () => {
    await create('queue');
    const started = performance.now();
    const [a, b] = await Promise.all([
      run('queue', 'echo start-a $(date +%s%N); sleep 0.3; echo end-a $(date +%s%N)'),
      run('queue', 'echo start-b $(date +%s%N); sleep 0.3; echo end-b $(date +%s%N)'),
    ]);
    const times = (s: string) =>
      s
        .trim()
        .split('\n')
        .map((l) => Number(l.split(' ')[1]));
    const [aStart, aEnd] = times(a.body.data.stdout);
    const [bStart] = times(b.body.data.stdout);
    expect(bStart!).toBeGreaterThanOrEqual(aEnd!);
    expect(aStart!).toBeLessThan(bStart!);
    expect(performance.now() - started).toBeGreaterThanOrEqual(600);
  });

  test('calls on two sessions overlap', async () => {
    await create('par-1');
    await create('par-2');
    const started = performance.now();
    const [a, b] = await Promise.all([
      run('par-1', 'sleep 0.5; echo 1'),
      run('par-2', 'sleep 0.5; echo 2'),
    ]);
    expect(a.body.data.stdout).toBe('1\n');
    expect(b.body.data.stdout).toBe('2\n');
    expect(performance.now() - started).toBeLessThan(950);
  });

  test('a queued call whose deadline passes while waiting answers 2002', async () => {
    await create('queue-timeout');
    const started = performance.now();
    const [a, b] = await Promise.all([
      run('queue-timeout', 'sleep 0.8; echo first'),
      run('queue-timeout', 'echo second', 0.2).then((r) => ({ ...r, at: performance.now() })),
    ]);
    expect(a.body.data.stdout).toBe('first\n');
    expect(b.body.code).toBe(2002);
    expect(b.body.message).toContain('1 earlier call(s)');
    // Answered at its own deadline, not when the running call finished.
    expect(b.at - started).toBeLessThan(600);
    const after = await run('queue-timeout', 'echo next');
    expect(after.body.data.stdout).toBe('next\n');
  });
});

describe('destroy', () => {
  test('frees the shell, its children and the workspace', async () => {
    const c = await create('destroy-me');
    const id = c.body.data.session_id;
    await run('destroy-me', 'sleep 300 & echo x > file');
    // The sleep (and the shell, unless it came from the warm pool, which started it under the
    // pool's name).
    expect(processesOfSession(id).length).toBeGreaterThanOrEqual(1);
    const d = await t.post('/session/destroy', { worker_id: 'destroy-me', resource_type: 'bash' });
    expect(d.body.data.session_id).toBe(id);
    await Bun.sleep(50);
    expect(await processesLeft(id)).toEqual([]);
    expect(existsSync(join(t.dataDir, 'workspaces', id))).toBe(false);
    const again = await t.post('/session/destroy', {
      worker_id: 'destroy-me',
      resource_type: 'bash',
    });
    expect(again.body.code).toBe(1003);
  });

  test('a running call and one queued behind a destroy answer 1003', async () => {
    await create('destroy-queued');
    const first = run('destroy-queued', 'sleep 0.3');
    const second = run('destroy-queued', 'echo never');
    await Bun.sleep(50);
    await t.post('/session/destroy', { worker_id: 'destroy-queued' });
    // The running command was killed with the session: not reported as a success.
    const killed = await first;
    expect(killed.body.code).toBe(1003);
    expect(killed.status).toBe(409);
    const r = await second;
    expect(r.body.code).toBe(1003);
  });
});

describe('caps', () => {
  test('sessions beyond sessions.max_total answer 2004, temporary ones too; freed slots work again', async () => {
    const capped = await buildApp({ sessions: { max_total: 2 } });
    try {
      const make = (w: string) =>
        capped.post('/session/create', { worker_id: w, resource_type: 'bash' });
      expect((await make('cap-1')).body.code).toBe(0);
      expect((await make('cap-2')).body.code).toBe(0);
      const third = await make('cap-3');
      expect(third.status).toBe(503);
      expect(third.body.code).toBe(2004);
      expect(third.body.message).toContain('max_total');
      const temp = await capped.post('/execute', {
        worker_id: 'cap-temp',
        action: 'bash:run',
        params: { command: 'true' },
      });
      expect(temp.body.code).toBe(2004);
      // The existing sessions still answer, and a destroy frees a slot.
      expect(
        (
          await capped.post('/execute', {
            worker_id: 'cap-1',
            action: 'bash:run',
            params: { command: 'true' },
          })
        ).body.code,
      ).toBe(0);
      await capped.post('/session/destroy', { worker_id: 'cap-1' });
      expect((await make('cap-3')).body.code).toBe(0);
    } finally {
      await capped.close();
    }
  });
});

describe('per-type cap (sessions.max_per_type)', () => {
  test('stored and temporary sessions of the type count; others do not; a destroy frees a place', async () => {
    const capped = await buildApp({ sessions: { max_per_type: { bash: 2 } } });
    try {
      const create = (worker: string) =>
        capped.post('/session/create', { worker_id: worker, resource_type: 'bash' });
      expect((await create('cap-1')).body.code).toBe(0);
      expect((await create('cap-2')).body.code).toBe(0);
      const third = await create('cap-3');
      expect(third.body.code).toBe(2004);
      expect(third.body.message).toContain('sessions.max_per_type.bash');
      // A temporary session is one more of the type too.
      const temporary = await capped.execute('cap-4', 'bash:run', { command: 'echo hi' });
      expect(temporary.body.code).toBe(2004);
      // The type's own sessions still work, and rag (shared, sessionless) is not capped.
      expect((await capped.execute('cap-1', 'bash:run', { command: 'echo hi' })).body.code).toBe(0);
      await capped.post('/session/destroy', { worker_id: 'cap-1', resource_type: 'bash' });
      expect((await create('cap-3')).body.code).toBe(0);
      // Concurrent temporary calls while one place is free: at most one gets it at a time.
      await capped.post('/session/destroy', { worker_id: 'cap-2', resource_type: 'bash' });
      const burst = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          capped.execute(`burst-${i}`, 'bash:run', { command: 'sleep 0.2' }),
        ),
      );
      const codes = burst.map((r) => r.body.code).sort();
      expect(codes.filter((c) => c === 0).length).toBe(1);
      expect(codes.filter((c) => c === 2004).length).toBe(3);
    } finally {
      await capped.close();
    }
  });

  test('a cap below 1 is refused at start-up, naming the key', async () => {
    await expect(buildApp({ sessions: { max_per_type: { vm: 0 } } })).rejects.toThrow(
      /sessions\.max_per_type/,
    );
  });
});
