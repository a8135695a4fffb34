// End-to-end: sessions survive a restart of the real server process (SPEC §3 "Persistence"), after
// a kill -9 and after a clean SIGTERM, and nothing of the previous process is left running.
import { expect, test } from 'bun:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isAlive,
  processesOfDataDir,
  processesOfSessionIn,
  type ServerProcess,
  serverFixture,
} from './helpers.ts';

const { newDataDir, start } = serverFixture('af-restart-');

interface SessionEntry {
  session_id: string;
  session_name: string;
  worker_id: string;
  resource_type: string;
  status: string;
  created_at: string;
  last_used_at: string;
  expires_at: string;
}

async function createSession(
  s: ServerProcess,
  workerId: string,
  customName?: string,
): Promise<SessionEntry> {
  const r = await s.post('/session/create', {
    worker_id: workerId,
    resource_type: 'bash',
    ...(customName ? { custom_name: customName } : {}),
  });
  expect(r.status).toBe(200);
  expect(r.body.code).toBe(0);
  expect(r.body.data.created).toBe(true);
  return r.body.data;
}

async function run(s: ServerProcess, workerId: string, command: string) {
  const r = await s.post('/execute', {
    worker_id: workerId,
    action: 'bash:run',
    params: { command },
    timeout: 20,
  });
  expect(r.body).toMatchObject({ code: 0 });
  expect(r.body.meta.temporary_session).toBe(false);
  return r.body.data as { stdout: string; stderr: string; exit_code: number; cwd: string };
}

async function listSessions(s: ServerProcess): Promise<SessionEntry[]> {
  const r = await s.post('/session/list', {});
  expect(r.status).toBe(200);
  expect(r.body.code).toBe(0);
  const list = r.body.data.sessions as SessionEntry[];
  return [...list].sort((a, b) => a.session_id.localeCompare(b.session_id));
}

/** The fields a restart must keep exactly. */
const kept = (list: SessionEntry[]) =>
  list.map(({ session_id, session_name, worker_id, resource_type, created_at, expires_at }) => ({
    session_id,
    session_name,
    worker_id,
    resource_type,
    created_at,
    expires_at,
  }));

const sessionNumber = (id: string) => Number(/_(\d+)$/.exec(id)![1]);

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

interface Fixture {
  alice: SessionEntry;
  bob: SessionEntry;
  /** alice's working directory after `cd` (absolute, inside her workspace). */
  aliceCwd: string;
  bobCwd: string;
  /** pid of a `sleep 300 &` started in alice's shell. */
  sleepPid: number;
  /** Every process of both sessions before the server went away. */
  pids: number[];
  before: SessionEntry[];
}

/** Two workers' bash sessions, one moved into a subdirectory with a background job. */
async function populate(s: ServerProcess): Promise<Fixture> {
  const alice = await createSession(s, 'alice', 'alice-shell');
  const bob = await createSession(s, 'bob');
  expect(alice.session_name).toBe('alice-shell');
  expect(bob.session_name).toBe(bob.session_id);

  const moved = await run(s, 'alice', 'mkdir -p proj/src && cd proj/src && export X=1 && pwd');
  expect(moved.exit_code).toBe(0);
  expect(moved.cwd.endsWith('/proj/src')).toBe(true);
  expect(moved.stdout).toBe(moved.cwd + '\n');
  // $! is a pid inside the sandbox's pid namespace: find the sleep by its unique argument.
  await run(s, 'alice', 'sleep 300.25 >/dev/null 2>&1 &');
  // The background job may not have exec'd sleep yet when the call returns: look for a while.
  const findSleep = () =>
    processesOfSessionIn(s.dataDir, alice.session_id).find((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'latin1') === 'sleep\u0000300.25\u0000';
      } catch {
        return false;
      }
    });
  let sleepPid = findSleep();
  for (let i = 0; sleepPid === undefined && i < 100; i++) {
    await Bun.sleep(20);
    sleepPid = findSleep();
  }
  if (sleepPid === undefined) throw new Error('the background sleep never showed up');
  expect(isAlive(sleepPid)).toBe(true);
  const bobRun = await run(s, 'bob', 'echo "$X" && pwd');
  expect(bobRun.stdout).toBe(`\n${bobRun.cwd}\n`);

  // Every process of this data directory: the two shells (a shell from the warm pool carries
  // the pool's name, not its session's), the sleep, and the pool's spare shells.
  const pids = processesOfDataDir(s.dataDir);
  expect(pids).toContain(sleepPid);
  expect(pids.length).toBeGreaterThanOrEqual(3);

  const before = await listSessions(s);
  expect(before.map((x) => x.session_id)).toEqual(
    [alice.session_id, bob.session_id].sort((a, b) => a.localeCompare(b)),
  );
  return { alice, bob, aliceCwd: moved.cwd, bobCwd: bobRun.cwd, sleepPid, pids, before };
}

/** What must hold on the server started after `f` was set up and the previous one went away. */
async function checkRestored(s: ServerProcess, f: Fixture): Promise<void> {
  // The previous server's shells and their children were reaped before the new one listened.
  expect(f.pids.filter(isAlive)).toEqual([]);
  expect(isAlive(f.sleepPid)).toBe(false);
  // What runs now is the new server's warm pool, nothing else: no session has been used yet.
  for (const pid of processesOfDataDir(s.dataDir)) {
    let environ = '';
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch {
      continue; // ended meanwhile
    }
    expect(environ).toMatch(/(^|\0)AGENTFLOW_SESSION_ID=pool-[0-9a-f]+\0/);
  }

  const after = await listSessions(s);
  expect(kept(after)).toEqual(kept(f.before));
  for (const entry of after) expect(entry.status).toBe('restored');

  // The shell is respawned on first use, in the directory it was last in.
  const pwd = await run(s, 'alice', 'pwd');
  expect(pwd.stdout).toBe(f.aliceCwd + '\n');
  expect(pwd.cwd).toBe(f.aliceCwd);
  const bobPwd = await run(s, 'bob', 'pwd');
  expect(bobPwd.stdout).toBe(f.bobCwd + '\n');

  // Still the same sessions (no new ones were made by using them).
  const again = await listSessions(s);
  expect(again.map((x) => x.session_id)).toEqual(f.before.map((x) => x.session_id));
}

test('after kill -9 a new server on the same data dir restores the sessions and reaps the old processes', async () => {
  const dir = newDataDir();
  const first = await start(dir);
  const fixture = await populate(first);

  await first.kill(); // SIGKILL: no shutdown code runs
  expect(first.proc.signalCode).toBe('SIGKILL');
  // Sandboxed shells die with the server (bwrap --die-with-parent); none is left once the new
  // server answers.
  const second = await start(dir);
  await checkRestored(second, fixture);
});

test('without a sandbox, shells outlive a kill -9 and the next start reaps them', async () => {
  const unsandboxed = { backends: { bash: { isolation: 'none' } } };
  const dir = newDataDir();
  const first = await start(dir, unsandboxed);
  const fixture = await populate(first);
  await first.kill();
  expect(isAlive(fixture.sleepPid)).toBe(true);
  const second = await start(dir, unsandboxed);
  await checkRestored(second, fixture);
});

test('after SIGTERM the server exits 0, keeps the sessions, and a restart restores them', async () => {
  const dir = newDataDir();
  const first = await start(dir);
  const fixture = await populate(first);

  first.proc.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  // A clean stop takes the sessions' processes down with it.
  await waitFor('the old shells to end', () => fixture.pids.filter(isAlive).length === 0, 2000);

  const second = await start(dir);
  await checkRestored(second, fixture);
});

test('session numbers keep counting up across a restart', async () => {
  const dir = newDataDir();
  const first = await start(dir);
  const a = await createSession(first, 'a');
  const b = await createSession(first, 'b');
  const destroyed = await first.post('/session/destroy', { worker_id: 'b' });
  expect(destroyed.body.code).toBe(0);
  const before = [a.session_id, b.session_id];
  const highest = Math.max(...before.map(sessionNumber));
  await first.kill();

  const second = await start(dir);
  const again = await createSession(second, 'b'); // same worker and type as a destroyed session
  const c = await createSession(second, 'c');
  expect(before).not.toContain(again.session_id);
  expect(sessionNumber(again.session_id)).toBeGreaterThan(highest);
  expect(sessionNumber(c.session_id)).toBeGreaterThan(sessionNumber(again.session_id));
  expect((await listSessions(second)).map((x) => x.session_id)).toEqual(
    [a.session_id, again.session_id, c.session_id].sort((x, y) => x.localeCompare(y)),
  );
});

test('a session whose TTL ran out while the server was down is destroyed soon after the restart', async () => {
  const dir = newDataDir();
  // The first server never sweeps, so the session is certainly still stored when it is killed.
  const first = await start(dir, { sessions: { ttl_seconds: 1, sweep_interval_seconds: 600 } });
  const s = await createSession(first, 'late');
  await run(first, 'late', 'echo x > file.txt');
  const workspace = join(dir, 'workspaces', s.session_id);
  expect(existsSync(join(workspace, 'file.txt'))).toBe(true);
  const [entry] = await listSessions(first);
  expect(entry!.session_id).toBe(s.session_id);
  await first.kill();

  // Let the expiry pass while no server runs.
  const expiresAt = Date.parse(entry!.expires_at);
  await Bun.sleep(Math.max(0, expiresAt - Date.now()) + 100);

  const second = await start(dir, { sessions: { ttl_seconds: 1, sweep_interval_seconds: 0.2 } });
  await waitFor(
    'the expired session to be swept',
    async () => (await listSessions(second)).length === 0,
    3000,
  );
  expect(existsSync(workspace)).toBe(false);
  expect(processesOfSessionIn(dir, s.session_id)).toEqual([]);
  // It is gone from the store too: one more restart does not bring it back.
  await second.kill();
  const third = await start(dir);
  expect(await listSessions(third)).toEqual([]);
});
