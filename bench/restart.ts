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

/**
 * A restart normally follows a run in which the sessions were in use: the server marks each
 * restored session in the store on start-up, so put them back to 'active' before every start.
 */
function markActive(dataDir: string): void {
  const db = new Database(join(dataDir, 'agentflow.db'), { strict: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    db.exec(`UPDATE sessions SET status = 'active'`);
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

async function timedStart(dataDir: string, timeoutMs: number): Promise<StartTiming> {
  markActive(dataDir);
  const port = await freePort();
  const base = `http://${HOST}:${port}`;
  const t0 = performance.now();
  const proc = track(
    Bun.spawn(
      [process.execPath, 'run', 'src/main.ts', '--port', String(port), '--data-dir', dataDir],
      { cwd: serverDir(), stdin: 'ignore', stdout: 'ignore', stderr: 'ignore' },
    ),
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
  ];
}
