// Benchmark 6: restart with 10,000 stored sessions. The server creates its schema on a first start;
// then 10,000 session rows are written straight into <data-dir>/agentflow.db (one transaction) —
// spawning 10,000 shells just to store them would measure something else. Each measured start
// times spawn → first 200 from GET /health → first answered POST /session/list. Baseline: the same
// start on an empty store. The two alternate, several times each.
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import {
  fmtMs,
  freePort,
  HOST,
  log,
  median,
  serverDir,
  sleep,
  stopProcess,
  tempDir,
  track,
  startOurServer,
} from './lib.ts';
import { row, type Row } from './report.ts';

export interface RestartOptions {
  sessions: number;
  rounds: number;
  timeoutMs: number;
}

interface StartTiming {
  healthMs: number;
  listMs: number;
  listed: number;
}

async function prepare(): Promise<string> {
  const dir = tempDir('af-bench-restart-');
  const s = await startOurServer('agentflow-schema', dir);
  await s.stop();
  return dir;
}

function populate(dataDir: string, n: number): void {
  const db = new Database(join(dataDir, 'agentflow.db'), { strict: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    const insert = db.prepare(
      `INSERT INTO sessions (session_id, worker_id, resource_type, session_name, status, config,
         state, created_at, last_used_at, expires_at)
       VALUES ($id, $worker, 'bash', $id, 'active', '{}', '{}', $now, $now, $expires)`,
    );
    const now = Date.now();
    const expires = now + 30 * 24 * 3600 * 1000;
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const worker = `restart-${i}`;
        insert.run({
          id: `bash_${worker}_${String(i + 1).padStart(3, '0')}`,
          worker,
          now,
          expires,
        });
      }
      db.query(`UPDATE counters SET value = $n WHERE name = 'session'`).run({ n });
    })();
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/** Polls `fn` every 2 ms until it returns a value; throws past the deadline. */
async function until<T>(
  fn: () => Promise<T | undefined>,
  deadline: number,
  what: string,
): Promise<T> {
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // not up yet
    }
    if (performance.now() > deadline) throw new Error(`${what}: no answer in time`);
    await sleep(2);
  }
}

/** `bun run src/main.ts` from the source snapshot, or the compiled binary built from it. */
type Launcher = (port: number, dataDir: string) => string[];
const fromSource: Launcher = (port, dataDir) => [
  process.execPath,
  'run',
  'src/main.ts',
  '--port',
  String(port),
  '--data-dir',
  dataDir,
];

async function timedStart(
  dataDir: string,
  timeoutMs: number,
  launch: Launcher = fromSource,
): Promise<StartTiming> {
  const port = await freePort();
  const base = `http://${HOST}:${port}`;
  const t0 = performance.now();
  const proc = track(
    Bun.spawn(launch(port, dataDir), {
      cwd: serverDir(),
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'ignore',
    }),
  );
  const deadline = t0 + timeoutMs;
  try {
    const healthMs = await until(
      async () => {
        const r = await fetch(base + '/health', { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        return r.status === 200 ? performance.now() - t0 : undefined;
      },
      deadline,
      'GET /health',
    );
    const [listMs, listed] = await until(
      async () => {
        const r = await fetch(base + '/session/list', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{}',
          signal: AbortSignal.timeout(5000),
        });
        const b = (await r.json()) as { data?: { count?: number } };
        return r.status === 200
          ? ([performance.now() - t0, b.data?.count ?? -1] as const)
          : undefined;
      },
      deadline,
      'POST /session/list',
    );
    return { healthMs, listMs, listed };
  } finally {
    await stopProcess(proc);
  }
}

export async function benchRestart(opts: RestartOptions): Promise<Row[]> {
  const b = `6. restart, ${opts.sessions.toLocaleString('en-US')} stored sessions`;
  const [full, empty] = await Promise.all([prepare(), prepare()]);
  const t = performance.now();
  populate(full, opts.sessions);
  log(`  wrote ${opts.sessions} session rows in ${fmtMs(performance.now() - t)}`);

  const runs: { full: StartTiming[]; empty: StartTiming[] } = { full: [], empty: [] };
  // One unmeasured start of each first (file cache, Bun's transpiler cache).
  await timedStart(empty, opts.timeoutMs);
  await timedStart(full, opts.timeoutMs);
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 === 0 ? (['empty', 'full'] as const) : (['full', 'empty'] as const);
    for (const which of order) {
      const res = await timedStart(which === 'full' ? full : empty, opts.timeoutMs);
      runs[which].push(res);
      log(
        `  round ${r + 1} ${which.padEnd(5)} health ${fmtMs(res.healthMs)}  ` +
          `session/list ${fmtMs(res.listMs)} (${res.listed} sessions)`,
      );
    }
  }
  // The same starts with the compiled binary (what `bun run build` ships).
  const binary = join(tempDir('af-bench-bin-'), 'agentflow-server');
  const build = Bun.spawnSync([process.execPath, 'run', 'scripts/build-binary.ts', binary], {
    cwd: serverDir(),
  });
  if (build.exitCode !== 0) throw new Error(`binary build failed: ${build.stderr.toString()}`);
  const fromBinary: Launcher = (port, dataDir) => [
    binary,
    '--port',
    String(port),
    '--data-dir',
    dataDir,
  ];
  const bin: { full: StartTiming[]; empty: StartTiming[] } = { full: [], empty: [] };
  await timedStart(empty, opts.timeoutMs, fromBinary);
  for (let r = 0; r < opts.rounds; r++) {
    bin.empty.push(await timedStart(empty, opts.timeoutMs, fromBinary));
    bin.full.push(await timedStart(full, opts.timeoutMs, fromBinary));
    log(
      `  binary round ${r + 1} empty health ${fmtMs(bin.empty[r]!.healthMs)}  ` +
        `full session/list ${fmtMs(bin.full[r]!.listMs)}`,
    );
  }
  const bh = median(bin.empty.map((x) => x.healthMs));
  const bfl = median(bin.full.map((x) => x.listMs));

  const fh = median(runs.full.map((x) => x.healthMs));
  const fl = median(runs.full.map((x) => x.listMs));
  const eh = median(runs.empty.map((x) => x.healthMs));
  const el = median(runs.empty.map((x) => x.listMs));
  const listedOk = runs.full.every((x) => x.listed === opts.sessions);
  const n = `median of ${opts.rounds}`;
  return [
    row({
      bench: b,
      metric: `spawn → first /health 200 (${n})`,
      ours: fmtMs(fh),
      baseline: `${fmtMs(eh)} empty store`,
      ratio: `${(fh / eh).toFixed(2)}×`,
      goal: '≤ 200 ms',
      met: fh <= 200,
    }),
    row({
      bench: b,
      metric: `spawn → first /session/list (${n})`,
      ours: fmtMs(fl) + (listedOk ? '' : ' (wrong count!)'),
      baseline: `${fmtMs(el)} empty store`,
      ratio: `${(fl / el).toFixed(2)}×`,
      goal: '≤ 200 ms',
      met: fl <= 200 && listedOk,
    }),
    row({
      bench: b,
      metric: `compiled binary: spawn → first /session/list (${n})`,
      ours: fmtMs(bfl),
      baseline: `${fmtMs(fl)} bun run src/main.ts`,
      ratio: `${(bfl / fl).toFixed(2)}×`,
      goal: '≤ 200 ms',
      met: bfl <= 200,
    }),
    row({
      bench: '6b. binary start (issue 5)',
      metric: `compiled binary: spawn → first /health 200, empty store (${n})`,
      ours: fmtMs(bh),
      baseline: `${fmtMs(eh)} bun run src/main.ts`,
      ratio: `${(bh / eh).toFixed(2)}×`,
      goal: '≤ 300 ms',
      met: bh <= 300,
    }),
  ];
}
