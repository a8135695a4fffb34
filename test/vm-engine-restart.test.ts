// Issue 6 fault: the Docker engine restarted under live vm sessions. The sessions' containers stop
// with the engine; each session answers 1003 once, is removed with what was left of it, and new
// sessions work as soon as the engine is back. Restarting the engine disturbs everything else on
// the machine, so this runs in CI (CI=true, where .ci/run started the engine) or when
// AGENTFLOW_TEST_DOCKER_RESTART=1, and only when this engine is a plain `dockerd` process.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { buildApp, instanceIdOf, type TestApp } from './helpers.ts';
import { containersOf, dockerReachable, removeContainersOf } from './fixtures/vm/docker.ts';

function dockerdPid(): number | undefined {
  const r = Bun.spawnSync(['pgrep', '-x', 'dockerd']);
  const pid = Number(r.stdout.toString().trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Only an engine started by hand (ppid not systemd's init) is ours to restart. */
function restartable(): boolean {
  const pid = dockerdPid();
  if (!pid) return false;
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  const parent = ppid === 1 ? readFileSync('/proc/1/comm', 'latin1').trim() : '';
  return parent !== 'systemd';
}

const wanted = process.env.CI === 'true' || process.env.AGENTFLOW_TEST_DOCKER_RESTART === '1';
const runIt = wanted && (await dockerReachable()) && restartable();
if (!runIt) console.warn('docker engine restart test skipped (CI=true and a plain dockerd needed)');

async function restartEngine(): Promise<void> {
  const pid = dockerdPid()!;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 300 && dockerdPid() === pid; i++) await Bun.sleep(100);
  Bun.spawn(['bash', '-c', 'nohup dockerd >>/tmp/dockerd.log 2>&1 &'], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  for (let i = 0; i < 300 && !(await dockerReachable()); i++) await Bun.sleep(100);
  if (!(await dockerReachable())) throw new Error('dockerd did not come back');
}

let app: TestApp;
let instance: string;
beforeAll(async () => {
  if (!runIt) return;
  app = await buildApp({ backends: { vm: { enabled: true } } });
  instance = instanceIdOf(app.dataDir);
});
afterAll(async () => {
  if (!runIt) return;
  await app.close();
  await removeContainersOf(instance);
});

test.skipIf(!runIt)(
  'sessions of a restarted engine answer 1003 once, are cleaned up, and new ones work',
  async () => {
    const exec = async (worker: string, action: string) =>
      (await app.post('/execute', { worker_id: worker, action, params: {}, timeout: 60 })).body;
    for (const w of ['eng-a', 'eng-b']) {
      const r = await app.post('/session/create', {
        worker_id: w,
        resource_type: 'vm',
        config: { screen_size: [640, 480] },
      });
      expect(r.body.code).toBe(0);
    }
    expect((await exec('eng-a', 'vm:cursor_position')).code).toBe(0);

    await restartEngine();

    for (const w of ['eng-a', 'eng-b']) {
      const r = await exec(w, 'vm:screenshot');
      expect(r.code).toBe(1003);
    }
    const listed = (await app.post('/session/list', {})).body.data.sessions;
    expect(listed.filter((s: { resource_type: string }) => s.resource_type === 'vm')).toEqual([]);
    expect(await containersOf(instance)).toEqual([]);

    const again = await app.post('/session/create', {
      worker_id: 'eng-c',
      resource_type: 'vm',
      config: { screen_size: [640, 480] },
    });
    expect(again.body.code).toBe(0);
    expect((await exec('eng-c', 'vm:screenshot')).code).toBe(0);
  },
  180_000,
);
