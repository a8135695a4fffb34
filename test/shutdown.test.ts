// End-to-end: POST /shutdown on the real server process (SPEC §5): it answers at once, refuses new
// requests with 5002 while in-flight calls drain (or kills them with force), and exits 0.
import { expect, test } from 'bun:test';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  isAlive,
  processesOfDataDir,
  processesOfSessionIn,
  type Reply,
  type ServerProcess,
  serverFixture,
} from './helpers.ts';

const { newDataDir, start } = serverFixture('af-shutdown-');

async function createSession(s: ServerProcess, workerId: string): Promise<string> {
  const r = await s.post('/session/create', { worker_id: workerId, resource_type: 'bash' });
  expect(r.body.code).toBe(0);
  return r.body.data.session_id;
}

async function listIds(s: ServerProcess): Promise<string[]> {
  const r = await s.post('/session/list', {});
  expect(r.body.code).toBe(0);
  return (r.body.data.sessions as { session_id: string }[]).map((x) => x.session_id).sort();
}

/** Starts a bash:run call and leaves it in flight; `settled` turns true when it answers. */
function inFlight(s: ServerProcess, workerId: string, command: string, timeout = 30) {
  const call = {
    settled: false,
    reply: s.post('/execute', {
      worker_id: workerId,
      action: 'bash:run',
      params: { command },
      timeout,
    }),
  };
  call.reply.then(
    () => (call.settled = true),
    () => (call.settled = true),
  );
  return call;
}

/** Pids of live `sleep` processes among `pids`. */
const sleeps = (pids: number[]) =>
  pids.filter((pid) => {
    if (!isAlive(pid)) return false;
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep';
    } catch {
      return false;
    }
  });

/** Waits until a `sleep` runs in the session (the in-flight command has really started). */
async function sleepStarted(dataDir: string, sessionIdPrefix: string): Promise<number[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = sleeps(processesOfSessionIn(dataDir, sessionIdPrefix));
    if (found.length > 0) return found;
    if (Date.now() > deadline) throw new Error(`no sleep started in ${sessionIdPrefix}`);
    await Bun.sleep(20);
  }
}

function workspaces(dataDir: string): string[] {
  const root = join(dataDir, 'workspaces');
  return existsSync(root) ? readdirSync(root) : [];
}

test('/shutdown drains in-flight calls, refuses new ones with 5002, cleans up sessions, exits 0', async () => {
  const dir = newDataDir();
  const s = await start(dir);
  const busy = await createSession(s, 'busy');
  const idle = await createSession(s, 'idle');
  const wrote = await s.post('/execute', {
    worker_id: 'idle',
    action: 'bash:run',
    params: { command: 'echo x > kept.txt' },
  });
  expect(wrote.body.code).toBe(0);
  expect(workspaces(dir).sort()).toEqual([busy, idle].sort());

  const call = inFlight(s, 'busy', 'sleep 1; echo done');
  await sleepStarted(dir, busy);

  const asked = Date.now();
  const stop = await s.post('/shutdown', {});
  expect(Date.now() - asked).toBeLessThan(500);
  expect(stop.status).toBe(200);
  expect(stop.body.code).toBe(0);
  expect(call.settled).toBe(false); // answered before the in-flight call finished

  // While draining, new requests are refused.
  const refused = await s.post('/session/list', {});
  expect(refused.status).toBe(503);
  expect(refused.body.code).toBe(5002);
  expect(refused.body.meta.error_type).toBeString();
  const refusedExec = await s.post('/execute', {
    worker_id: 'idle',
    action: 'bash:run',
    params: { command: 'echo no' },
  });
  expect(refusedExec.status).toBe(503);
  expect(refusedExec.body.code).toBe(5002);
  expect(call.settled).toBe(false);

  const done: Reply = await call.reply;
  expect(done.status).toBe(200);
  expect(done.body.code).toBe(0);
  expect(done.body.data.stdout).toBe('done\n');
  expect(done.body.data.exit_code).toBe(0);

  expect(await s.exited).toBe(0);
  expect(processesOfDataDir(dir)).toEqual([]);

  // cleanup_sessions (the default) destroyed every session and its workspace.
  const again = await start(dir);
  expect(await listIds(again)).toEqual([]);
  expect(workspaces(dir)).toEqual([]);
});

test('/api/v1/server/shutdown with cleanup_sessions false keeps the sessions for the next start', async () => {
  const dir = newDataDir();
  const s = await start(dir);
  const ids = [await createSession(s, 'w1'), await createSession(s, 'w2')].sort();
  const ran = await s.post('/execute', {
    worker_id: 'w1',
    action: 'bash:run',
    params: { command: 'mkdir -p sub && cd sub' },
  });
  expect(ran.body.code).toBe(0);

  const stop = await s.post('/api/v1/server/shutdown', { cleanup_sessions: false });
  expect(stop.status).toBe(200);
  expect(stop.body.code).toBe(0);
  expect(stop.body.data.cleanup_sessions).toBe(false);
  expect(await s.exited).toBe(0);
  expect(processesOfDataDir(dir)).toEqual([]);

  const again = await start(dir);
  expect(await listIds(again)).toEqual(ids);
  expect(workspaces(dir).sort()).toEqual(ids);
  const pwd = await again.post('/execute', {
    worker_id: 'w1',
    action: 'bash:run',
    params: { command: 'pwd' },
  });
  expect(pwd.body.code).toBe(0);
  expect(pwd.body.data.stdout).toBe(join(dir, 'workspaces', ids[0]!, 'sub') + '\n');
});

test('/shutdown with force does not wait for an in-flight call and leaves no process behind', async () => {
  const dir = newDataDir();
  const s = await start(dir);
  const id = await createSession(s, 'w');
  const call = inFlight(s, 'w', 'sleep 5; echo late');
  const [sleepPid] = await sleepStarted(dir, id);

  const asked = Date.now();
  const stop = await s.post('/shutdown', { force: true });
  expect(stop.body.code).toBe(0);
  expect(stop.body.data.force).toBe(true);
  expect(await s.exited).toBe(0);
  expect(Date.now() - asked).toBeLessThan(2500);

  // The call does not hang (it answers or its connection closes), and it never printed "late".
  const outcome = await call.reply.catch((err: Error) => err);
  if (!(outcome instanceof Error)) expect(outcome.body.data?.stdout ?? '').not.toContain('late');
  expect(processesOfSessionIn(dir, id)).toEqual([]);
  expect(sleeps([sleepPid!])).toEqual([]);
  expect(processesOfDataDir(dir)).toEqual([]);
});

test('/shutdown with force also stops the command of a temporary session', async () => {
  const dir = newDataDir();
  const s = await start(dir);
  // No session for this worker: the call runs in a temporary session.
  const call = inFlight(s, 'tmp-worker', 'sleep 5; echo late');
  const [sleepPid] = await sleepStarted(dir, 'bash_tmp-worker_');

  const asked = Date.now();
  const stop = await s.post('/shutdown', { force: true });
  expect(stop.body.code).toBe(0);
  expect(await s.exited).toBe(0);
  expect(Date.now() - asked).toBeLessThan(2500);

  await call.reply.catch(() => undefined);
  expect(processesOfSessionIn(dir, 'bash_tmp-worker_')).toEqual([]);
  expect(sleeps([sleepPid!])).toEqual([]);
  expect(processesOfDataDir(dir)).toEqual([]);
});
