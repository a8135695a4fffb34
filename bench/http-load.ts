// Benchmarks 1–4: `bash:run echo hi` over HTTP, against the bare Bun.serve echo and the
// spawn-per-command baseline, all three servers up at once and measured in interleaved rounds
// (the order rotates each round) so drift of a shared machine hits every server alike.
//   1. one keep-alive client, sequential requests, existing session: p50 / p99
//   2. 64 connections, 64 workers each with its own session: requests/s
//   3. the same two loads against the spawn-per-command server
//   4. a worker with no session (temporary session per call), one client: p50
import {
  descendantsNamed,
  fmtMB,
  fmtMs,
  fmtRate,
  fmtRatio,
  log,
  median,
  peakRss,
  postJson,
  rss,
  startEchoServer,
  startOurServer,
  startSpawnServer,
  type Server,
} from './lib.ts';
import { runLoad, type LoadResult } from './load.ts';
import { row, type Row } from './report.ts';

export interface HttpLoadOptions {
  rounds: number;
  seqSeconds: number;
  concSeconds: number;
  connections: number;
}

const COMMAND = 'echo hi';
const SEQ_WORKER = 'bench-seq';
const TEMP_WORKER = 'bench-temp';
const concWorker = (i: number) => `bench-c${i}`;
const body = (worker: string) => ({
  worker_id: worker,
  action: 'bash:run',
  params: { command: COMMAND },
});

type Target = 'echo' | 'ours' | 'ours-temp' | 'ours-list' | 'spawn';
const SEQ_TARGETS = ['echo', 'ours', 'ours-list', 'ours-temp', 'spawn'] as const;
const CONC_TARGETS = ['echo', 'ours', 'spawn'] as const;

/** Checks that a server really answers the command (not an error envelope) before loading it. */
async function verify(server: Server, worker: string, ours: boolean): Promise<void> {
  const res = await postJson(server.url + '/execute', body(worker));
  if (res.status !== 200) throw new Error(`${server.name}: /execute answered ${res.status}`);
  if (ours) {
    const b = res.body as { code: number; data?: { stdout?: string } };
    if (b.code !== 0 || b.data?.stdout !== 'hi\n') {
      throw new Error(`${server.name}: unexpected answer ${JSON.stringify(b).slice(0, 300)}`);
    }
  } else if (server.name === 'spawn-per-command') {
    const b = res.body as { data?: { stdout?: string } };
    if (b.data?.stdout !== 'hi\n') throw new Error(`${server.name}: unexpected answer`);
  }
}

const rotate = <T>(list: readonly T[], by: number): T[] =>
  list.map((_, i) => list[(i + by) % list.length]!);

export async function benchHttpLoad(opts: HttpLoadOptions): Promise<Row[]> {
  const servers: Server[] = [];
  try {
    const [echo, ours, spawn] = await Promise.all([
      startEchoServer(),
      startOurServer('agentflow-load'),
      startSpawnServer(),
    ]);
    servers.push(echo, ours, spawn);

    // Sessions: one for the sequential client, one per connection for the 64-connection load.
    const workers = [
      SEQ_WORKER,
      ...Array.from({ length: opts.connections }, (_, i) => concWorker(i)),
    ];
    for (const w of workers) {
      const res = await postJson(ours.url + '/session/create', {
        worker_id: w,
        resource_type: 'bash',
      });
      if (res.status !== 200 || res.body.code !== 0) {
        throw new Error(`session/create ${w}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    await verify(echo, SEQ_WORKER, false);
    await verify(spawn, SEQ_WORKER, false);
    await verify(ours, SEQ_WORKER, true);
    await verify(ours, concWorker(0), true);
    const temp = await postJson(ours.url + '/execute', body(TEMP_WORKER));
    if (temp.body?.meta?.temporary_session !== true || temp.body?.data?.stdout !== 'hi\n') {
      throw new Error(`temporary session call: ${JSON.stringify(temp.body).slice(0, 300)}`);
    }

    const url: Record<Target, string> = {
      echo: echo.url + '/execute',
      ours: ours.url + '/execute',
      'ours-temp': ours.url + '/execute',
      // The framework floor: a JSON endpoint of ours that runs no command and writes nothing.
      'ours-list': ours.url + '/session/list',
      spawn: spawn.url + '/execute',
    };
    const pid: Record<Target, number> = {
      echo: echo.pid,
      ours: ours.pid,
      'ours-temp': ours.pid,
      'ours-list': ours.pid,
      spawn: spawn.pid,
    };
    const seqBodies: Record<Target, unknown[]> = {
      echo: [body(SEQ_WORKER)],
      ours: [body(SEQ_WORKER)],
      'ours-temp': [body(TEMP_WORKER)],
      'ours-list': [{ worker_id: SEQ_WORKER }],
      spawn: [body(SEQ_WORKER)],
    };
    const concBodies = Array.from({ length: opts.connections }, (_, i) => body(concWorker(i)));

    const seq = (t: Target, durationS: number) =>
      runLoad({ url: url[t], bodies: seqBodies[t], connections: 1, durationS, serverPid: pid[t] });
    const conc = (t: Target, durationS: number) =>
      runLoad({
        url: url[t],
        bodies: concBodies,
        connections: opts.connections,
        durationS,
        serverPid: pid[t],
      });
    const cpu = (res: LoadResult) =>
      res.cpuUs
        ? `cpu/req: server ${res.cpuUs.server.toFixed(0)} µs, children ` +
          `${res.cpuUs.children.toFixed(0)} µs, load gen ${res.cpuUs.load.toFixed(0)} µs`
        : '';

    // Warm-up (discarded): JIT, connection set-up, page faults.
    log('  warm-up ...');
    for (const t of SEQ_TARGETS) await seq(t, 1);
    for (const t of CONC_TARGETS) await conc(t, 1);

    const empty = (): Record<Target, LoadResult[]> => ({
      echo: [],
      ours: [],
      'ours-temp': [],
      'ours-list': [],
      spawn: [],
    });
    const seqRuns = empty();
    const concRuns = empty();
    for (let r = 0; r < opts.rounds; r++) {
      for (const t of rotate(SEQ_TARGETS, r)) {
        const res = await seq(t, opts.seqSeconds);
        seqRuns[t].push(res);
        log(
          `  round ${r + 1} 1 client  ${t.padEnd(9)} p50 ${fmtMs(res.p50Ms)}  p99 ${fmtMs(res.p99Ms)}  ` +
            `${fmtRate(res.rps)}  (${res.requests} req, errors ${res.errors}, non-2xx ${res.non2xx}; ` +
            `${cpu(res)})`,
        );
      }
      for (const t of rotate(CONC_TARGETS, r)) {
        const res = await conc(t, opts.concSeconds);
        concRuns[t].push(res);
        log(
          `  round ${r + 1} ${opts.connections} conns ${t.padEnd(9)} ${fmtRate(res.rps)}  ` +
            `p50 ${fmtMs(res.p50Ms)}  p99 ${fmtMs(res.p99Ms)}  ` +
            `(${res.requests} req, errors ${res.errors}, non-2xx ${res.non2xx}; ${cpu(res)})`,
        );
      }
    }

    // After the load: still correct, no shell leaked by temporary sessions.
    await verify(ours, SEQ_WORKER, true);
    const shells = descendantsNamed(ours.pid, 'bash').length;
    const oursRss = rss(ours.pid);
    const oursPeak = peakRss(ours.pid);
    log(
      `  after load: our server RSS ${fmtMB(oursRss)} (peak ${fmtMB(oursPeak)}), ` +
        `${shells} bash shells (expected ${workers.length})`,
    );

    const med = (runs: LoadResult[], k: 'p50Ms' | 'p99Ms' | 'rps') => median(runs.map((x) => x[k]));
    const medCpu = (runs: LoadResult[], k: 'server' | 'children' | 'load') =>
      median(runs.map((x) => x.cpuUs?.[k] ?? NaN));
    const cpuCell = (runs: LoadResult[]) =>
      `${medCpu(runs, 'server').toFixed(0)} + ${medCpu(runs, 'children').toFixed(0)} µs`;
    const bad = (runs: LoadResult[]) => runs.reduce((n, x) => n + x.errors + x.non2xx, 0);
    const note = (runs: LoadResult[]) => (bad(runs) > 0 ? ` (${bad(runs)} failed)` : '');

    const seqEcho50 = med(seqRuns.echo, 'p50Ms');
    const seqEcho99 = med(seqRuns.echo, 'p99Ms');
    const seqOurs50 = med(seqRuns.ours, 'p50Ms');
    const seqOurs99 = med(seqRuns.ours, 'p99Ms');
    const seqSpawn50 = med(seqRuns.spawn, 'p50Ms');
    const seqTemp50 = med(seqRuns['ours-temp'], 'p50Ms');
    const seqTemp99 = med(seqRuns['ours-temp'], 'p99Ms');
    const concEcho = med(concRuns.echo, 'rps');
    const concOurs = med(concRuns.ours, 'rps');
    const concSpawn = med(concRuns.spawn, 'rps');
    const seqOursRps = med(seqRuns.ours, 'rps');
    const seqSpawnRps = med(seqRuns.spawn, 'rps');

    const b1 = '1. bash:run, 1 client, session';
    const b2 = `2. bash:run, ${opts.connections} conns/workers`;
    const b3 = '3. vs spawn-per-command';
    const b4 = '4. bash:run, temporary session';
    const n = `median of ${opts.rounds}`;
    const rows: Row[] = [
      row({
        bench: b1,
        metric: `p50 latency (${n})`,
        ours: fmtMs(seqOurs50) + note(seqRuns.ours),
        baseline: `${fmtMs(seqEcho50)} Bun.serve echo`,
        ratio: fmtRatio(seqOurs50 / seqEcho50),
        goal: '≤ 2.5×',
        met: seqOurs50 / seqEcho50 <= 2.5,
      }),
      row({
        bench: b1,
        metric: `p99 latency (${n})`,
        ours: fmtMs(seqOurs99),
        baseline: `${fmtMs(seqEcho99)} Bun.serve echo`,
        ratio: fmtRatio(seqOurs99 / seqEcho99),
        goal: '≤ 2.5×',
        met: seqOurs99 / seqEcho99 <= 2.5,
      }),
      row({
        bench: b2,
        metric: `throughput (${n})`,
        ours: fmtRate(concOurs) + note(concRuns.ours),
        baseline: `${fmtRate(concEcho)} Bun.serve echo`,
        ratio: `${((concOurs / concEcho) * 100).toFixed(1)}%`,
        goal: '≥ 25%',
        met: concOurs / concEcho >= 0.25,
      }),
      row({
        bench: b2,
        metric: `p50 / p99 latency under load`,
        ours: `${fmtMs(med(concRuns.ours, 'p50Ms'))} / ${fmtMs(med(concRuns.ours, 'p99Ms'))}`,
        baseline: `${fmtMs(med(concRuns.echo, 'p50Ms'))} / ${fmtMs(med(concRuns.echo, 'p99Ms'))} echo`,
      }),
      row({
        bench: b2,
        metric: 'CPU/request: server + children',
        ours: cpuCell(concRuns.ours),
        baseline: `${cpuCell(concRuns.echo)} echo; ${cpuCell(concRuns.spawn)} spawn/cmd`,
        ratio: fmtRatio(
          (medCpu(concRuns.ours, 'server') + medCpu(concRuns.ours, 'children')) /
            (medCpu(concRuns.echo, 'server') + medCpu(concRuns.echo, 'children')),
        ),
      }),
      row({
        bench: b2,
        metric: 'CPU/request: load generator',
        ours: `${medCpu(concRuns.ours, 'load').toFixed(0)} µs`,
        baseline: `${medCpu(concRuns.echo, 'load').toFixed(0)} µs echo run`,
      }),
      row({
        bench: b1,
        metric: 'p50: framework floor (no command)',
        ours: `${fmtMs(med(seqRuns['ours-list'], 'p50Ms'))} POST /session/list`,
        baseline: `${fmtMs(seqEcho50)} Bun.serve echo`,
        ratio: fmtRatio(med(seqRuns['ours-list'], 'p50Ms') / seqEcho50),
      }),
      row({
        bench: b3,
        metric: 'p50 latency, 1 client',
        ours: fmtMs(seqOurs50),
        baseline: `${fmtMs(seqSpawn50)} spawn/cmd` + note(seqRuns.spawn),
        ratio: `${fmtRatio(seqSpawn50 / seqOurs50)} faster`,
        goal: '≥ 4× faster',
        met: seqSpawn50 / seqOurs50 >= 4,
      }),
      row({
        bench: b3,
        metric: 'throughput, 1 client',
        ours: fmtRate(seqOursRps),
        baseline: `${fmtRate(seqSpawnRps)} spawn/cmd`,
        ratio: `${fmtRatio(seqOursRps / seqSpawnRps)} faster`,
        goal: '≥ 4× faster',
        met: seqOursRps / seqSpawnRps >= 4,
      }),
      row({
        bench: b3,
        metric: `throughput, ${opts.connections} conns`,
        ours: fmtRate(concOurs),
        baseline: `${fmtRate(concSpawn)} spawn/cmd` + note(concRuns.spawn),
        ratio: `${fmtRatio(concOurs / concSpawn)} faster`,
        goal: '≥ 4× faster',
        met: concOurs / concSpawn >= 4,
      }),
      row({
        bench: b4,
        metric: `p50 latency (${n})`,
        ours: fmtMs(seqTemp50) + note(seqRuns['ours-temp']),
        baseline: `${fmtMs(seqSpawn50)} spawn/cmd`,
        ratio: fmtRatio(seqTemp50 / seqSpawn50),
        goal: '≤ 5 ms',
        met: seqTemp50 <= 5,
      }),
      row({
        bench: b4,
        metric: 'p99 latency',
        ours: fmtMs(seqTemp99),
        baseline: `${fmtMs(med(seqRuns.spawn, 'p99Ms'))} spawn/cmd`,
      }),
      row({
        bench: '1–4. after the load',
        metric: 'server RSS now / peak; shells',
        ours: `${fmtMB(oursRss)} / ${fmtMB(oursPeak)}; ${shells} bash`,
        baseline: `${workers.length} sessions`,
        met: shells === workers.length,
        goal: 'no leaked shell',
      }),
    ];
    return rows;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}
