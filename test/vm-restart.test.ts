// End-to-end with the real server process: after a kill -9 and a restart on the same data
// directory, the vm session's running container is re-attached (same container, same files),
// containers labelled for this data directory that belong to no stored session are removed, and
// a clean shutdown that keeps sessions leaves the desktop running for the next start.
import { afterEach, expect, test } from 'bun:test';
import { instanceIdOf, serverFixture, type ServerProcess } from './helpers.ts';
import {
  containersOf,
  docker,
  dockerReachable,
  removeContainersOf,
  SKIP_MESSAGE,
} from './fixtures/vm/docker.ts';

const reachable = await dockerReachable();
if (!reachable) console.warn(SKIP_MESSAGE);
const withDocker = reachable ? test : test.skip;

const { newDataDir, start } = serverFixture('af-vm-restart-');
const instances: string[] = [];

afterEach(async () => {
  for (const id of instances.splice(0)) await removeContainersOf(id);
});

const exec = async (s: ServerProcess, action: string, params: unknown = {}) =>
  (await s.post('/execute', { worker_id: 'w1', action, params, timeout: 30 })).body;

withDocker(
  'a restart re-attaches running desktops and reaps orphan containers',
  async () => {
    const dataDir = newDataDir();
    const instance = instanceIdOf(dataDir);
    instances.push(instance);

    let server = await start(dataDir);
    const created = await server.post('/session/create', {
      worker_id: 'w1',
      resource_type: 'vm',
      config: { screen_size: [800, 600] },
    });
    expect(created.body.code).toBe(0);
    const sessionId = created.body.data.session_id;
    expect((await exec(server, 'vm:exec', { command: 'echo kept > /tmp/marker' })).code).toBe(0);
    expect((await exec(server, 'vm:move', { x: 321, y: 123 })).code).toBe(0);
    const [original] = await containersOf(instance, sessionId);
    expect(original?.State).toBe('running');

    // An orphan: labelled for this data directory, but no stored session owns it.
    const orphan = await docker.createContainer({
      Image: 'agentflow-desktop:latest',
      Cmd: ['sleep', '600'],
      Labels: {
        'agentflow.managed': 'true',
        'agentflow.instance': instance,
        'agentflow.session_id': 'vm_ghost_999',
        'agentflow.worker_id': 'ghost',
      },
      HostConfig: { NetworkMode: 'none', Init: true },
    });
    await orphan.start();

    await server.kill();
    server = await start(dataDir);

    const list = (await server.post('/session/list', {})).body.data.sessions;
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ session_id: sessionId, resource_type: 'vm', status: 'active' });
    expect(await containersOf(instance).then((l) => l.map((c) => c.Id))).toEqual([original!.Id]);

    // Same desktop: the file written before the restart, the pointer where it was left.
    const marker = await exec(server, 'vm:exec', { command: 'cat /tmp/marker' });
    expect(marker).toMatchObject({ code: 0, data: { stdout: 'kept\n' } });
    expect((await exec(server, 'vm:cursor_position')).data).toEqual({ x: 321, y: 123 });
    const shot = await exec(server, 'vm:screenshot');
    expect(shot.data).toMatchObject({ width: 800, height: 600 });

    // A clean shutdown that keeps sessions leaves the container for the next start.
    const stop = await server.post('/shutdown', { cleanup_sessions: false });
    expect(stop.body.code).toBe(0);
    expect(await server.exited).toBe(0);
    expect((await containersOf(instance, sessionId))[0]?.State).toBe('running');
    server = await start(dataDir);
    expect((await exec(server, 'vm:exec', { command: 'cat /tmp/marker' })).data.stdout).toBe(
      'kept\n',
    );

    // Destroy frees it.
    expect((await server.post('/session/destroy', { worker_id: 'w1' })).body.code).toBe(0);
    expect(await containersOf(instance)).toEqual([]);
  },
  60_000,
);

withDocker(
  'a stored session whose container vanished while the server was down answers 1003',
  async () => {
    const dataDir = newDataDir();
    const instance = instanceIdOf(dataDir);
    instances.push(instance);

    let server = await start(dataDir);
    const created = await server.post('/session/create', { worker_id: 'w1', resource_type: 'vm' });
    expect(created.body.code).toBe(0);
    const sessionId = created.body.data.session_id;
    await server.kill();
    const [c] = await containersOf(instance, sessionId);
    await docker.getContainer(c!.Id).remove({ force: true });

    server = await start(dataDir);
    const list = (await server.post('/session/list', {})).body.data.sessions;
    expect(list[0]).toMatchObject({ session_id: sessionId, status: 'lost' });
    const r = await exec(server, 'vm:screenshot');
    expect(r.code).toBe(1003);
    expect(r.message).toContain(sessionId);
    expect(await containersOf(instance)).toEqual([]);
    expect((await server.post('/session/list', {})).body.data.sessions).toEqual([]);
  },
  60_000,
);
