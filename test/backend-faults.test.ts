// Faults injected into every backend entry point of a real server process (bash, rag, and vm
// when a Docker engine answers) by test/fixtures/faults/inject.ts: the method throws
// synchronously, rejects, throws from a timer, or leaves an unhandled rejection. Every request
// still gets an envelope (5000 for an unexpected error, never a crash), the process keeps
// serving /health and bash:run, start-up survives a failing recover, shutdown a failing
// detach/close, and an error that escaped its request is logged with its stack.
import { afterEach, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { instanceIdOf, serverFixture, type Reply, type ServerProcess } from './helpers.ts';
import { faultMessage, PLAN_ENV, type FaultMode } from './fixtures/faults/plan.ts';
import { dockerReachable, removeContainersOf, SKIP_MESSAGE } from './fixtures/vm/docker.ts';

const PRELOAD = join(import.meta.dir, 'fixtures/faults/inject.ts');
const withVm = await dockerReachable();
if (!withVm) console.warn(`${SKIP_MESSAGE}; the vm backend is left out of the fault tests`);

const servers = serverFixture('af-faults-');
const instances: string[] = [];
afterEach(async () => {
  for (const id of instances.splice(0)) await removeContainersOf(id);
});

/** Valid params for every tool, so a call reaches its handler (a new tool must be added here). */
const PARAMS: Record<string, Record<string, unknown>> = {
  // run comes first in /tools: it makes the file read_file reads.
  'bash:run': { command: 'echo ok > fault.txt' },
  'bash:write_file': { path: 'fault.txt', content: 'x' },
  'bash:read_file': { path: 'fault.txt' },
  'rag:search': { query: 'agent' },
  'rag:batch_search': { queries: ['agent'] },
  'rag:index': { documents: [{ content: 'a document indexed while faults were injected' }] },
  'rag:stats': {},
  'vm:screenshot': {},
  'vm:click': { x: 5, y: 5 },
  'vm:double_click': { x: 5, y: 5 },
  'vm:right_click': { x: 5, y: 5 },
  'vm:move': { x: 7, y: 7 },
  'vm:drag': { start_x: 5, start_y: 5, end_x: 9, end_y: 9 },
  'vm:scroll': { clicks: -1 },
  'vm:type': { text: 'a' },
  'vm:key': { key: 'a' },
  'vm:hotkey': { keys: ['shift', 'a'] },
  'vm:key_down': { key: 'shift' },
  'vm:key_up': { key: 'shift' },
  'vm:mouse_down': {},
  'vm:mouse_up': {},
  'vm:cursor_position': {},
  'vm:wait': { seconds: 0.01 },
  'vm:pyautogui': { command: 'pyautogui.moveTo(6, 6)' },
  'vm:done': {},
  'vm:fail': { reason: 'fault injection' },
  'vm:exec': { command: 'true' },
};

/** The server still answers /health and runs a command on a fresh bash session. */
async function stillServes(server: ServerProcess): Promise<void> {
  expect(server.proc.exitCode).toBeNull();
  expect((await server.get('/health')).status).toBe(200);
  const r = await server.post('/execute', {
    worker_id: 'alive',
    action: 'bash:run',
    params: { command: 'echo alive' },
  });
  expect(r.body).toMatchObject({ code: 0, data: { stdout: 'alive\n' } });
}

/** The JSON log lines of a server process. */
const logLines = (server: ServerProcess): Record<string, unknown>[] =>
  server
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

/** Waits until the server logged each error that escaped, as one structured line with a stack. */
async function escapedLogged(server: ServerProcess, mode: FaultMode, points: string[]) {
  const event = mode === 'timer' ? 'process.uncaught_exception' : 'process.unhandled_rejection';
  const missing = () => {
    const logged = new Set(
      logLines(server)
        .filter((l) => l.event === event && String(l.stack).includes('Error: injected'))
        .map((l) => l.error),
    );
    return points.filter((p) => !logged.has(faultMessage(mode, p)));
  };
  const deadline = Date.now() + 5000;
  while (missing().length > 0 && Date.now() < deadline) await Bun.sleep(20);
  expect(missing()).toEqual([]);
}

async function faultsInEveryEntryPoint(mode: FaultMode): Promise<void> {
  const dir = servers.newDataDir();
  instances.push(instanceIdOf(dir));
  const planFile = join(dir, 'faults.json');
  const setPlan = (points: string[]) =>
    writeFileSync(planFile, JSON.stringify(Object.fromEntries(points.map((p) => [p, mode]))));
  setPlan([]);
  const config = {
    warmup: { at_start: false },
    backends: { vm: { enabled: withVm } },
  };
  const options = { preload: PRELOAD, env: { [PLAN_ENV]: planFile } };
  /** throw/reject fail the call itself; timer/unhandled let it finish and escape elsewhere. */
  const failing = mode === 'throw' || mode === 'reject';
  const sessionTypes = withVm ? ['bash', 'vm'] : ['bash'];
  const allTypes = [...sessionTypes, 'rag'];
  let escaped: string[] = [];

  /** Makes one request with a fault in `point`, and checks what a failing fault answers. */
  const under = async (point: string, call: () => Promise<Reply>, failCode = 5000) => {
    setPlan([point]);
    try {
      const r = await call();
      if (failing) {
        expect({ point, code: r.body.code }).toEqual({ point, code: failCode });
        if (failCode === 5000) {
          expect(r.status).toBe(500);
          expect(r.body.message).toContain(faultMessage(mode, point));
        }
      } else {
        escaped.push(point);
      }
      return r;
    } finally {
      setPlan([]);
    }
  };

  let server = await servers.start(dir, config, options);

  for (const type of allTypes) {
    const r = await under(
      `${type}.warmup`,
      () => server.post('/warmup', { backends: [type] }),
      2003,
    );
    if (failing) {
      expect(r.body.data.backends[type].error).toContain(faultMessage(mode, `${type}.warmup`));
      expect((await server.post('/warmup', { backends: [type] })).body.code).toBe(0);
    } else {
      expect(r.body.code).toBe(0);
    }
  }
  await stillServes(server);

  for (const type of sessionTypes) {
    const create = { worker_id: `create-${type}`, resource_type: type };
    const r = await under(`${type}.createSession`, () => server.post('/session/create', create));
    if (!failing) {
      expect(r.body.code).toBe(0);
      expect((await server.post('/session/destroy', create)).body.code).toBe(0);
    }
  }
  await stillServes(server);

  for (const type of sessionTypes) {
    const created = await server.post('/session/create', {
      worker_id: `tools-${type}`,
      resource_type: type,
    });
    expect(created.body.code).toBe(0);
  }
  const tools = (await server.get('/tools?include_hidden=true')).body.data.tools as {
    name: string;
    resource_type: string;
  }[];
  expect(tools.filter((t) => !(t.name in PARAMS)).map((t) => t.name)).toEqual([]);
  for (const tool of tools) {
    const [type, name] = tool.name.split(':') as [string, string];
    const r = await under(`${type}.tool.${name}`, () =>
      server.post('/execute', {
        worker_id: `tools-${type}`,
        action: tool.name,
        params: PARAMS[tool.name],
        timeout: 30,
      }),
    );
    if (!failing)
      expect({ tool: tool.name, code: r.body.code }).toEqual({ tool: tool.name, code: 0 });
  }
  await stillServes(server);

  // A failed destroy is logged; the session is gone either way.
  for (const type of sessionTypes) {
    const target = { worker_id: `tools-${type}`, resource_type: type };
    const r = await under(
      `${type}.destroySession`,
      () => server.post('/session/destroy', target),
      0,
    );
    expect(r.body.code).toBe(0);
    const left = await server.post('/session/list', { worker_id: `tools-${type}` });
    expect(left.body.data.sessions).toEqual([]);
  }
  await stillServes(server);
  if (!failing) await escapedLogged(server, mode, escaped);

  // A restart: recover fails at start-up, then restoring a kept session on its next call.
  for (const type of sessionTypes) {
    const kept = { worker_id: `kept-${type}`, resource_type: type };
    expect((await server.post('/session/create', kept)).body.code).toBe(0);
  }
  await server.kill();
  escaped = [];
  const recoverPoints = allTypes.filter((t) => t !== 'rag').map((t) => `${t}.recover`);
  setPlan(recoverPoints);
  server = await servers.start(dir, config, options);
  setPlan([]);
  if (!failing) escaped.push(...recoverPoints);
  if (failing) {
    const failed = logLines(server).filter((l) => l.event === 'session.recover_failed');
    expect(failed.map((l) => l.resource_type).sort()).toEqual([...sessionTypes].sort());
  }
  await stillServes(server);
  const touch = (type: string) =>
    server.post('/execute', {
      worker_id: `kept-${type}`,
      action: type === 'vm' ? 'vm:cursor_position' : 'bash:run',
      params: type === 'vm' ? {} : { command: 'echo kept' },
      timeout: 30,
    });
  for (const type of sessionTypes) {
    const r = await under(`${type}.restoreSession`, () => touch(type));
    if (!failing) expect(r.body.code).toBe(0);
    // Without the fault, the next call restores it: shutdown then has handles to detach.
    expect((await touch(type)).body.code).toBe(0);
  }
  await stillServes(server);
  if (!failing) await escapedLogged(server, mode, escaped);

  // Shutdown keeping sessions: detach and close fail, the process still exits 0.
  setPlan([
    ...sessionTypes.map((t) => `${t}.detachSession`),
    ...allTypes.filter((t) => t !== 'bash').map((t) => `${t}.close`),
  ]);
  server.proc.kill('SIGTERM');
  expect(await server.exited).toBe(0);
  expect(logLines(server).some((l) => l.event === 'shutdown.done')).toBe(true);
}

for (const mode of ['throw', 'reject', 'timer', 'unhandled'] as const) {
  test(
    `a backend entry point that ${
      {
        throw: 'throws synchronously',
        reject: 'rejects',
        timer: 'throws from a timer',
        unhandled: 'leaves an unhandled rejection',
      }[mode]
    }: envelopes, and the server keeps serving`,
    () => faultsInEveryEntryPoint(mode),
    240_000,
  );
}
