// The bash warm pool: new and temporary sessions get a pre-started sandboxed shell that looks, to
// the session, like one started for it; the pool refills, drains at shutdown and is reaped after
// a kill -9.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  buildApp,
  processesOfDataDir,
  serverFixture,
  tempDir,
  type Reply,
  type TestApp,
} from './helpers.ts';

const isRoot = process.getuid?.() === 0;

/** bash's figures in /metrics: pool_size, pool_ready, pool_hits, pool_misses. */
function poolFigures(metrics: string): Record<string, number> {
  const figures: Record<string, number> = {};
  for (const m of metrics.matchAll(
    /^agentflow_backend_state\{backend="bash",state="(\w+)"\} (\S+)$/gm,
  )) {
    figures[m[1]!] = Number(m[2]);
  }
  return figures;
}

async function waitForPool(get: (path: string) => Promise<Reply>, ready: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const figures = poolFigures((await get('/metrics')).body as string);
    if (figures.pool_ready === ready) return;
    if (Date.now() > deadline)
      throw new Error(`pool never reached ${ready}: ${JSON.stringify(figures)}`);
    await Bun.sleep(25);
  }
}

describe('warm pool', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await buildApp({ backends: { bash: { pool: { size: 2 }, allow_network: true } } });
    await t.post('/warmup', { backends: ['bash'] });
    await waitForPool(t.get, 2);
  });
  afterAll(() => t.close());

  const figures = async () => poolFigures((await t.get('/metrics')).body as string);
  const run = async (worker: string, command: string) =>
    (await t.execute(worker, 'bash:run', { command })).body;

  test('warmup status names the pool', async () => {
    const status = (await t.get('/warmup/status')).body.data.backends.bash;
    expect(status.detail).toBe('isolation: bwrap, warm pool: 2 shells');
    expect(await figures()).toMatchObject({ pool_size: 2, pool_ready: 2 });
  });

  test('a temporary session from the pool sees only its own names, and the pool refills', async () => {
    const before = await figures();
    const r = await run(
      'pool-temp',
      'echo "$AGENTFLOW_SESSION_ID|$HOME|$PWD|$AGENTFLOW_WORKSPACE|${OLDPWD-unset}"; pwd -P; id -u',
    );
    expect(r.code).toBe(0);
    expect(r.meta.temporary_session).toBe(true);
    const id = r.meta.session_id as string;
    const workspace = join(t.dataDir, 'workspaces', id);
    const [names, real, uid] = (r.data.stdout as string).trim().split('\n');
    expect(names).toBe(`${id}|${workspace}|${workspace}|${workspace}|unset`);
    expect(r.data.cwd).toBe(workspace);
    // Only the kernel's own answer names the directory the sandbox was started with.
    expect(real).toMatch(new RegExp(`^${join(t.dataDir, 'workspaces')}/pool-[0-9a-f]{16}$`));
    if (isRoot) expect(Number(uid)).toBeGreaterThanOrEqual(200000);
    expect((await figures()).pool_hits).toBe(before.pool_hits! + 1);
    await waitForPool(t.get, 2);
    // Destroyed with the call: its workspace is gone from the host.
    expect(existsSync(workspace)).toBe(false);
  });

  test('a session from the pool gets its config env and relative cwd; files tools see its workspace', async () => {
    const created = await t.post('/session/create', {
      worker_id: 'pool-named',
      resource_type: 'bash',
      config: { env: { GREETING: 'hello there' }, cwd: 'proj/sub' },
    });
    expect(created.body.code).toBe(0);
    const id = created.body.data.session_id as string;
    const workspace = join(t.dataDir, 'workspaces', id);
    const r = await run('pool-named', 'echo "$GREETING"; pwd; echo made-by-shell > ../from-shell');
    expect(r.data.stdout).toBe(`hello there\n${workspace}/proj/sub\n`);
    expect(r.data.cwd).toBe(`${workspace}/proj/sub`);
    const read = await t.execute('pool-named', 'bash:read_file', { path: 'proj/from-shell' });
    expect(read.body.data.content).toBe('made-by-shell\n');
    const write = await t.execute('pool-named', 'bash:write_file', {
      path: 'proj/sub/from-api',
      content: 'made-by-api',
    });
    expect(write.body.code).toBe(0);
    expect((await run('pool-named', 'cat from-api')).data.stdout).toBe('made-by-api');
    // On the host the workspace is under the session's name, owned by the session's uid.
    expect(statSync(join(workspace, 'proj', 'sub', 'from-api')).uid).toBe(
      isRoot ? statSync(workspace).uid : process.getuid!(),
    );
    await t.post('/session/destroy', { worker_id: 'pool-named', resource_type: 'bash' });
    expect(existsSync(workspace)).toBe(false);
  });

  test('two pooled sessions are apart: other uids, neither sees the other', async () => {
    await waitForPool(t.get, 2);
    for (const w of ['pool-a', 'pool-b']) {
      const c = await t.post('/session/create', { worker_id: w, resource_type: 'bash' });
      expect(c.body.code).toBe(0);
    }
    const idOf = async (w: string) =>
      (await t.post('/session/list', { worker_id: w })).body.data.sessions[0].session_id as string;
    const a = await idOf('pool-a');
    const b = await idOf('pool-b');
    await run('pool-b', 'echo secret > mine');
    const peek = await run(
      'pool-a',
      `cat ${join(t.dataDir, 'workspaces', b, 'mine')} 2>&1; ls -A ${join(t.dataDir, 'workspaces')}`,
    );
    const [refused, ...listed] = (peek.data.stdout as string).trim().split('\n');
    expect(refused).toContain('No such file');
    expect(listed).toContain(a);
    expect(listed).not.toContain(b);
    expect(peek.data.stdout).not.toContain('secret');
    const uidA = (await run('pool-a', 'id -u')).data.stdout;
    const uidB = (await run('pool-b', 'id -u')).data.stdout;
    if (isRoot) expect(uidA).not.toBe(uidB);
    // The sandbox's own directory for the link is the server's: the session cannot replace it.
    const replace = await run(
      'pool-a',
      `ln -sfn / ${join(t.dataDir, 'workspaces', a)} 2>&1 || echo refused`,
    );
    if (isRoot) expect(replace.data.stdout).toContain('refused');
    for (const w of ['pool-a', 'pool-b']) {
      await t.post('/session/destroy', { worker_id: w, resource_type: 'bash' });
    }
  });

  test('a session that asks for network starts cold, with its workspace as its real path', async () => {
    await waitForPool(t.get, 2);
    const before = await figures();
    const c = await t.post('/session/create', {
      worker_id: 'pool-net',
      resource_type: 'bash',
      config: { network: true },
    });
    expect(c.body.code).toBe(0);
    const id = c.body.data.session_id as string;
    const r = await run('pool-net', 'pwd -P');
    expect(r.data.stdout).toBe(join(t.dataDir, 'workspaces', id) + '\n');
    const after = await figures();
    expect(after.pool_hits).toBe(before.pool_hits!);
    expect(after.pool_ready).toBe(2);
    await t.post('/session/destroy', { worker_id: 'pool-net', resource_type: 'bash' });
  });

  test('exit in a pooled session respawns its own shell, at its own path', async () => {
    const c = await t.post('/session/create', { worker_id: 'pool-exit', resource_type: 'bash' });
    const id = c.body.data.session_id as string;
    const workspace = join(t.dataDir, 'workspaces', id);
    // Reached by the sandbox's real path, the directory is still reported by the session's.
    const moved = await run('pool-exit', 'mkdir -p d && cd "$(pwd -P)/d" && pwd -P');
    expect(moved.data.stdout).toMatch(/\/pool-[0-9a-f]{16}\/d\n$/);
    expect(moved.data.cwd).toBe(`${workspace}/d`);
    await run('pool-exit', 'exit 3');
    const r = await run('pool-exit', 'pwd -P; echo "$AGENTFLOW_SESSION_ID"');
    expect(r.data.stdout).toBe(`${workspace}/d\n${id}\n`);
    await t.post('/session/destroy', { worker_id: 'pool-exit', resource_type: 'bash' });
  });

  test('more sessions at once than the pool holds: the rest start cold, all work', async () => {
    await waitForPool(t.get, 2);
    const before = await figures();
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => run(`pool-burst-${i}`, 'echo "$AGENTFLOW_SESSION_ID"')),
    );
    for (const r of replies) {
      expect(r.code).toBe(0);
      expect(r.data.stdout).toBe(`${r.meta.session_id}\n`);
    }
    const after = await figures();
    expect(after.pool_hits! + after.pool_misses! - before.pool_hits! - before.pool_misses!).toBe(6);
    expect(after.pool_misses!).toBeGreaterThan(before.pool_misses!);
  });
});

describe('warm pool lifecycle', () => {
  const { newDataDir, start } = serverFixture('af-pool-');

  test('shutdown drains the pool: no process or pooled workspace is left', async () => {
    const dir = tempDir('af-pool-drain-');
    const t = await buildApp({ backends: { bash: { pool: { size: 3 } } } }, undefined, dir);
    try {
      await t.post('/warmup', { backends: ['bash'] });
      await waitForPool(t.get, 3);
      expect(processesOfDataDir(dir).length).toBeGreaterThanOrEqual(3);
    } finally {
      await t.close();
    }
    const deadline = Date.now() + 3000;
    while (processesOfDataDir(dir).length > 0 && Date.now() < deadline) await Bun.sleep(20);
    expect(processesOfDataDir(dir)).toEqual([]);
    const left = readdirSync(join(dir, 'pool'));
    expect(left).toEqual([]);
  });

  test('after kill -9 the next start reaps the pooled shells and their workspaces', async () => {
    const dir = newDataDir();
    const config = { backends: { bash: { pool: { size: 2 } } } };
    const first = await start(dir, config);
    await waitForPool(first.get, 2);
    const old = readdirSync(join(dir, 'pool'));
    expect(old.length).toBe(2);
    const oldPids = processesOfDataDir(dir);
    await first.kill();
    const second = await start(dir, config);
    await waitForPool(second.get, 2);
    const now = readdirSync(join(dir, 'pool'));
    for (const name of old) expect(now).not.toContain(name);
    for (const pid of oldPids) expect(processesOfDataDir(dir)).not.toContain(pid);
    // And the new pool serves.
    const r = await second.post('/execute', {
      worker_id: 'after-restart',
      action: 'bash:run',
      params: { command: 'echo "$AGENTFLOW_SESSION_ID"' },
    });
    expect(r.body.data.stdout).toBe(`${r.body.meta.session_id}\n`);
  });

  test('a hand-over that fails turns the pool off; the session starts cold and works', async () => {
    const t = await buildApp({ backends: { bash: { pool: { size: 2 } } } });
    try {
      await t.post('/warmup', { backends: ['bash'] });
      await waitForPool(t.get, 2);
      const first = await t.post('/session/create', { worker_id: 'first', resource_type: 'bash' });
      const number = Number(String(first.body.data.session_id).split('_').pop());
      // Only the server makes directories there; one in the way of the next id stands for a
      // hand-over the machine refuses.
      const next = `bash_second_${String(number + 1).padStart(3, '0')}`;
      mkdirSync(join(t.dataDir, 'workspaces', next), { mode: 0o700 });
      const second = await t.post('/session/create', {
        worker_id: 'second',
        resource_type: 'bash',
      });
      expect(second.body.data.session_id).toBe(next);
      const r = await t.execute('second', 'bash:run', { command: 'pwd -P' });
      expect(r.body.data.stdout).toBe(join(t.dataDir, 'workspaces', next) + '\n');
      await Bun.sleep(100);
      expect(poolFigures((await t.get('/metrics')).body as string).pool_ready).toBe(0);
    } finally {
      await t.close();
    }
  });

  test('size 0 turns the pool off: no figures, sessions start cold', async () => {
    const t = await buildApp({ backends: { bash: { pool: { size: 0 } } } });
    try {
      await t.post('/warmup', { backends: ['bash'] });
      expect(poolFigures((await t.get('/metrics')).body as string)).toEqual({});
      const r = await t.execute('cold', 'bash:run', { command: 'pwd -P' });
      expect(r.body.data.stdout).toBe(join(t.dataDir, 'workspaces', r.body.meta.session_id) + '\n');
    } finally {
      await t.close();
    }
  });
});
