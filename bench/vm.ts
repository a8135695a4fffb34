// The vm benchmark (issue 4): our desktop actions through HTTP against what peers do per action
// (a `docker exec` of scrot / xdotool in the same container), measured in the same run:
//   1. vm:screenshot 1920x1080 PNG through HTTP: p50 / p99 of a full capture every time (damage
//      tracking off), of a desktop that keeps changing (a terminal printing 20 lines/s, tracking
//      on: only changed areas are fetched), and of an unchanged screen (the cached encoding);
//      baseline docker exec scrot + read;
//   2. vm:click and a short vm:type: p50; baseline docker exec xdotool;
//   3. session create → first screenshot: p50 over --creates sessions;
//   4. density: --density sessions each taking a screenshot per second for --seconds: memory per
//      session (container cgroup usage + server RSS growth) and the screenshot p99 under that load.
// Needs a Docker engine and agentflow-desktop:latest (bash scripts/build-images.sh).
// Usage: bun run bench/vm.ts [--shots 60] [--creates 10] [--density 20] [--seconds 20]
//        [--skip-density] [--markdown]
import Docker from 'dockerode';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  installCleanupHooks,
  log,
  percentile,
  postJson,
  startServer,
  tempDir,
  treeMemory,
  type Server,
} from './lib.ts';
import { markdown, row, table, type Row } from './report.ts';

const { values } = parseArgs({
  options: {
    shots: { type: 'string', default: '60' },
    creates: { type: 'string', default: '10' },
    density: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '20' },
    'skip-density': { type: 'boolean', default: false },
    markdown: { type: 'boolean', default: false },
  },
});
const SHOTS = Number(values.shots);
const CREATES = Number(values.creates);
const DENSITY = Number(values.density);
const SECONDS = Number(values.seconds);

installCleanupHooks();
const docker = new Docker({ socketPath: '/var/run/docker.sock' });
const rows: Row[] = [];
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const out = await fn();
  return [performance.now() - t0, out];
}

/** Runs `fn` `n` times sequentially and returns the sorted latencies in ms. */
async function measure(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await timed(() => fn(i)))[0]);
  return sorted(out);
}

async function execute(server: Server, workerId: string, action: string, params: unknown = {}) {
  const r = await postJson(`${server.url}/execute`, { worker_id: workerId, action, params });
  if (r.body?.code !== 0) throw new Error(`${action}: ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

/** What a peer does per action: docker exec, read all of stdout. */
async function dockerExec(container: Docker.Container, cmd: string[]): Promise<Buffer> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((resolve) => stream.on('end', resolve));
  const raw = Buffer.concat(chunks);
  // Strip the multiplexing headers (8 bytes per frame) to get stdout.
  const out: Buffer[] = [];
  for (let at = 0; at + 8 <= raw.length;) {
    const size = raw.readUInt32BE(at + 4);
    if (raw[at] === 1) out.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(out);
}

async function containerOf(sessionId: string): Promise<Docker.Container> {
  const [c] = await docker.listContainers({
    filters: { label: [`agentflow.session_id=${sessionId}`] },
  });
  if (!c) throw new Error(`no container for ${sessionId}`);
  return docker.getContainer(c.Id);
}

/** Our server with `backends.vm` overrides, on a fresh data directory. */
function startVmServer(name: string, vm: Record<string, unknown>): Promise<Server> {
  const dataDir = tempDir('af-bench-vm-');
  const config = join(dataDir, 'config.json');
  writeFileSync(config, JSON.stringify({ backends: { vm } }));
  return startServer({
    name,
    args: ['src/main.ts', '--port', '{port}', '--data-dir', dataDir, '--config', config],
    dataDir,
    readyPath: '/ready',
  });
}

/** `n` screenshots; `gapMs` (untimed) between them lets a changing screen change in between. */
async function screenshots(server: Server, worker: string, n: number, gapMs = 0) {
  for (let i = 0; i < 5; i++) await execute(server, worker, 'vm:screenshot');
  let bytes = 0;
  const serverSide: number[] = [];
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    if (gapMs > 0) await Bun.sleep(gapMs);
    const t0 = performance.now();
    const r = await execute(server, worker, 'vm:screenshot');
    latencies.push(performance.now() - t0);
    bytes = Buffer.byteLength(r.data.image, 'base64');
    serverSide.push(r.meta.execution_time_ms);
  }
  return { latencies: sorted(latencies), bytes, serverP50: percentile(sorted(serverSide), 50) };
}

async function latencyBench(server: Server, fullServer: Server): Promise<void> {
  const created = await postJson(`${server.url}/session/create`, {
    worker_id: 'bench',
    resource_type: 'vm',
  });
  if (created.body?.code !== 0) throw new Error(JSON.stringify(created.body));
  const sessionId = created.body.data.session_id as string;
  const container = await containerOf(sessionId);
  const full = await postJson(`${fullServer.url}/session/create`, {
    worker_id: 'bench',
    resource_type: 'vm',
  });
  if (full.body?.code !== 0) throw new Error(JSON.stringify(full.body));

  // 1. Screenshots: unchanged screen first, then with a terminal printing 20 lines a second.
  const still = await screenshots(server, 'bench', SHOTS);
  const busy =
    'xterm -geometry 100x30+700+300 -e sh -c "while :; do date +%s.%N; sleep 0.05; done" ' +
    '>/dev/null 2>&1 &';
  await execute(server, 'bench', 'vm:exec', { command: busy });
  await execute(fullServer, 'bench', 'vm:exec', { command: busy });
  await Bun.sleep(1000);
  // 120 ms apart (both servers): the terminal has printed two lines since the last screenshot.
  const changing = await screenshots(server, 'bench', SHOTS, 120);
  const fresh = await screenshots(fullServer, 'bench', SHOTS, 120);
  const peerShots = await measure(Math.min(SHOTS, 30), async () => {
    const png = await dockerExec(container, ['sh', '-c', 'scrot -o /tmp/s.png && cat /tmp/s.png']);
    png.toString('base64'); // a peer answers JSON too
  });
  const jpeg = await measure(Math.min(SHOTS, 30), () =>
    execute(fullServer, 'bench', 'vm:screenshot', { format: 'jpeg', quality: 80 }),
  );
  const base50 = percentile(peerShots, 50);
  const shotRow = (what: string, r: Awaited<ReturnType<typeof screenshots>>, goal: boolean) => {
    const p50 = percentile(r.latencies, 50);
    return [
      row({
        bench: `1. vm:screenshot 1920x1080 PNG (HTTP), ${what}`,
        metric: 'p50 / p99',
        ours: `${fmt(p50)} / ${fmt(percentile(r.latencies, 99))}`,
        baseline: `${fmt(base50)} / ${fmt(percentile(peerShots, 99))} (docker exec scrot + read)`,
        ratio: `${(base50 / p50).toFixed(1)}x faster`,
        goal: goal ? '<= 25 ms and >= 4x' : '',
        met: goal ? p50 <= 25 && base50 / p50 >= 4 : null,
      }),
      row({
        bench: `1. vm:screenshot 1920x1080 PNG (HTTP), ${what}`,
        metric: 'server time p50 / PNG size',
        ours: `${fmt(r.serverP50)} / ${(r.bytes / 1024).toFixed(0)} KiB`,
      }),
    ];
  };
  rows.push(
    ...shotRow('full capture each time (damage tracking off)', fresh, true),
    ...shotRow('changing screen (damage tracking)', changing, true),
    ...shotRow('unchanged screen (cached)', still, false),
    row({
      bench: '1. vm:screenshot 1920x1080 JPEG q80 (HTTP), full capture',
      metric: 'p50',
      ours: fmt(percentile(jpeg, 50)),
    }),
  );
  await postJson(`${fullServer.url}/session/destroy`, { worker_id: 'bench' });

  // 2. Input.
  const clicks = await measure(SHOTS, (i) =>
    execute(server, 'bench', 'vm:click', { x: 1500 + (i % 50), y: 900 + (i % 30) }),
  );
  const peerClicks = await measure(Math.min(SHOTS, 30), (i) =>
    dockerExec(container, ['xdotool', 'mousemove', String(1500 + i), '900', 'click', '1']),
  );
  const types = await measure(SHOTS, () => execute(server, 'bench', 'vm:type', { text: 'hello' }));
  const peerTypes = await measure(Math.min(SHOTS, 30), () =>
    dockerExec(container, ['xdotool', 'type', 'hello']),
  );
  for (const [metric, ours, peer] of [
    ['vm:click p50', clicks, peerClicks, 'xdotool mousemove … click 1'],
    ['vm:type "hello" p50', types, peerTypes, 'xdotool type hello'],
  ] as const) {
    const a = percentile(ours, 50);
    const b = percentile(peer, 50);
    rows.push(
      row({
        bench: '2. input (HTTP)',
        metric,
        ours: fmt(a),
        baseline: `${fmt(b)} (docker exec)`,
        ratio: `${(b / a).toFixed(1)}x faster`,
        goal: '<= 10 ms',
        met: a <= 10,
      }),
    );
  }
  await postJson(`${server.url}/session/destroy`, { worker_id: 'bench' });
}

async function createBench(server: Server): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < CREATES; i++) {
    const worker = `create-${i}`;
    const [ms] = await timed(async () => {
      const r = await postJson(`${server.url}/session/create`, {
        worker_id: worker,
        resource_type: 'vm',
      });
      if (r.body?.code !== 0) throw new Error(JSON.stringify(r.body));
      await execute(server, worker, 'vm:screenshot');
    });
    times.push(ms);
    await postJson(`${server.url}/session/destroy`, { worker_id: worker });
  }
  const p50 = percentile(sorted(times), 50);
  rows.push(
    row({
      bench: '3. session create → first screenshot',
      metric: `p50 of ${CREATES}`,
      ours: fmt(p50),
      baseline: `max ${fmt(Math.max(...times))}`,
      goal: '<= 1.5 s',
      met: p50 <= 1500,
    }),
  );
}

async function densityBench(server: Server): Promise<void> {
  const rssBefore = treeMemory(server.pid).rss;
  const workers = Array.from({ length: DENSITY }, (_, i) => `dense-${i}`);
  for (const w of workers) {
    const r = await postJson(`${server.url}/session/create`, { worker_id: w, resource_type: 'vm' });
    if (r.body?.code !== 0) throw new Error(JSON.stringify(r.body));
  }
  await Bun.sleep(2000);
  const latencies: number[] = [];
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    workers.map(async (w, i) => {
      await Bun.sleep((1000 * i) / DENSITY); // spread the clients over the second
      while (performance.now() < until) {
        const started = performance.now();
        await execute(server, w, 'vm:screenshot');
        const ms = performance.now() - started;
        latencies.push(ms);
        await Bun.sleep(Math.max(0, 1000 - ms));
      }
    }),
  );
  let containerBytes = 0;
  for (const w of workers) {
    const [c] = await docker.listContainers({
      filters: { label: [`agentflow.worker_id=${w}`] },
    });
    const stats = await docker.getContainer(c!.Id).stats({ stream: false });
    const cache =
      (stats.memory_stats.stats as Record<string, number> | undefined)?.inactive_file ?? 0;
    containerBytes += stats.memory_stats.usage - cache;
  }
  const serverGrowth = Math.max(0, treeMemory(server.pid).rss - rssBefore);
  const perSession = (containerBytes + serverGrowth) / DENSITY / 2 ** 20;
  const s = sorted(latencies);
  rows.push(
    row({
      bench: `4. density: ${DENSITY} desktops, 1 screenshot/s each`,
      metric: 'screenshot p50 / p99',
      ours: `${fmt(percentile(s, 50))} / ${fmt(percentile(s, 99))}`,
      baseline: `${latencies.length} screenshots in ${SECONDS} s`,
    }),
    row({
      bench: `4. density: ${DENSITY} desktops, 1 screenshot/s each`,
      metric: 'memory per session',
      ours: `${perSession.toFixed(0)} MiB`,
      baseline: `containers ${(containerBytes / DENSITY / 2 ** 20).toFixed(0)} MiB + server ${(
        serverGrowth /
        DENSITY /
        2 ** 20
      ).toFixed(1)} MiB`,
    }),
  );
  await Promise.all(
    workers.map((w) => postJson(`${server.url}/session/destroy`, { worker_id: w }, 60000)),
  );
}

async function main(): Promise<void> {
  log('vm benchmark: our X11 path through HTTP vs docker exec of scrot/xdotool, same run');
  const server = await startVmServer('agentflow-vm', {});
  const fullServer = await startVmServer('agentflow-vm-no-damage', { damage_tracking: false });
  try {
    await latencyBench(server, fullServer);
    await fullServer.stop();
    await createBench(server);
    if (!values['skip-density']) await densityBench(server);
  } finally {
    await server.stop();
    await fullServer.stop();
  }
  log('');
  log(table(rows));
  if (values.markdown) {
    log('');
    log(markdown(rows));
  }
}

await main();
