// Benchmark 5: 1,000 bash sessions open at once on a fresh server. Creates a session for each of
// 1,000 workers, runs one command on each, reads the memory of the server plus all its shells from
// /proc before and after, then destroys them all and checks that no shell is left.
import {
  descendantsNamed,
  fmtMB,
  fmtMs,
  log,
  MB,
  percentile,
  pool,
  postJson,
  rss,
  shellsOfDataDir,
  sleep,
  startOurServer,
  track,
  treeMemory,
  pss,
  type Server,
} from './lib.ts';
import { row, type Row } from './report.ts';

export interface ManySessionsOptions {
  sessions: number;
  concurrency: number;
  /** Bound on each phase (create, run, destroy). */
  phaseTimeoutMs: number;
}

/** Reference: the memory of one idle `bash --noprofile --norc` reading a pipe. */
async function bareBashMemory(): Promise<{ rss: number; pss: number }> {
  const procs = Array.from({ length: 10 }, () =>
    track(
      Bun.spawn(['bash', '--noprofile', '--norc'], {
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
      }),
    ),
  );
  try {
    for (const p of procs) {
      p.stdin.write('echo hi\n');
      p.stdin.flush();
    }
    await sleep(300);
    const r = procs.map((p) => rss(p.pid));
    const s = procs.map((p) => pss(p.pid));
    return {
      rss: r.reduce((a, b) => a + b, 0) / r.length,
      pss: s.reduce((a, b) => a + b, 0) / s.length,
    };
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
  }
}

export async function benchManySessions(opts: ManySessionsOptions): Promise<Row[]> {
  const n = opts.sessions;
  const b = `5. ${n} bash sessions`;
  let server: Server | undefined;
  try {
    const bare = await bareBashMemory();
    server = await startOurServer('agentflow-many');
    const s = server;
    // Warm the paths used below (one session created, used and destroyed).
    await postJson(s.url + '/session/create', { worker_id: 'warm', resource_type: 'bash' });
    await postJson(s.url + '/execute', {
      worker_id: 'warm',
      action: 'bash:run',
      params: { command: 'echo hi' },
    });
    await postJson(s.url + '/session/destroy', { worker_id: 'warm' });
    await sleep(500);
    const before = treeMemory(s.pid);
    const serverBefore = rss(s.pid);

    const workers = Array.from({ length: n }, (_, i) => `many-${i}`);
    let t0 = performance.now();
    const created = await pool(
      workers,
      opts.concurrency,
      async (w) => {
        try {
          const r = await postJson(s.url + '/session/create', {
            worker_id: w,
            resource_type: 'bash',
          });
          return r.status === 200 && r.body.code === 0 && r.body.data.created === true;
        } catch {
          return false;
        }
      },
      t0 + opts.phaseTimeoutMs,
    );
    const createMs = performance.now() - t0;
    const createdOk = created.filter((x) => x === true).length;
    log(`  created ${createdOk}/${n} sessions in ${fmtMs(createMs)}`);

    t0 = performance.now();
    const ran = await pool(
      workers,
      opts.concurrency,
      async (w) => {
        try {
          const r = await postJson(s.url + '/execute', {
            worker_id: w,
            action: 'bash:run',
            params: { command: 'echo hi' },
          });
          return (
            r.status === 200 &&
            r.body.code === 0 &&
            r.body.data.stdout === 'hi\n' &&
            r.body.meta.temporary_session === false
          );
        } catch {
          return false;
        }
      },
      t0 + opts.phaseTimeoutMs,
    );
    const runMs = performance.now() - t0;
    const ranOk = ran.filter((x) => x === true).length;
    log(`  ran one command on ${ranOk}/${n} sessions in ${fmtMs(runMs)}`);

    // A temporary-session call while the 1,000 shells are open (its cost grows with the number
    // of processes on the machine when destroying a session scans /proc).
    const tempLat: number[] = [];
    for (let i = 0; i < 30; i++) {
      const a = performance.now();
      const r = await postJson(s.url + '/execute', {
        worker_id: 'many-temp',
        action: 'bash:run',
        params: { command: 'echo hi' },
      });
      if (r.body?.data?.stdout === 'hi\n') tempLat.push(performance.now() - a);
    }
    tempLat.sort((x, y) => x - y);
    const tempP50 = percentile(tempLat, 50);
    log(
      `  temporary-session call with ${n} sessions open: p50 ${fmtMs(tempP50)} (${tempLat.length}/30 ok)`,
    );

    await sleep(500);
    const after = treeMemory(s.pid);
    const serverAfter = rss(s.pid);
    const shellsOpen = descendantsNamed(s.pid, 'bash').length;
    const perRss = (after.rss - before.rss) / n;
    const perPss = (after.pss - before.pss) / n;
    const perServer = (serverAfter - serverBefore) / n;
    log(
      `  memory: tree RSS ${fmtMB(before.rss)} -> ${fmtMB(after.rss)} (${after.processes} processes, ` +
        `${shellsOpen} bash); tree PSS ${fmtMB(before.pss)} -> ${fmtMB(after.pss)}; ` +
        `server process RSS ${fmtMB(serverBefore)} -> ${fmtMB(serverAfter)}`,
    );

    t0 = performance.now();
    const destroyed = await pool(
      workers,
      opts.concurrency,
      async (w) => {
        try {
          const r = await postJson(s.url + '/session/destroy', {
            worker_id: w,
            resource_type: 'bash',
          });
          return r.status === 200 && r.body.code === 0;
        } catch {
          return false;
        }
      },
      t0 + opts.phaseTimeoutMs,
    );
    const destroyMs = performance.now() - t0;
    const destroyedOk = destroyed.filter((x) => x === true).length;
    // Shells get SIGKILL; give the kernel a moment to reap them.
    let left = Infinity;
    for (let i = 0; i < 50 && left > 0; i++) {
      left = new Set([...descendantsNamed(s.pid, 'bash'), ...shellsOfDataDir(s.dataDir!)]).size;
      if (left > 0) await sleep(100);
    }
    const list = await postJson(s.url + '/session/list', {});
    const listed = list.body?.data?.count;
    log(
      `  destroyed ${destroyedOk}/${n} in ${fmtMs(destroyMs)}; bash left: ${left}; ` +
        `sessions listed: ${listed}`,
    );

    const allOk = createdOk === n && ranOk === n && shellsOpen === n;
    return [
      row({
        bench: b,
        metric: 'all created + ran',
        ours: `${createdOk}/${n} created, ${ranOk}/${n} ran, ${shellsOpen} shells`,
        baseline: `create ${(createMs / 1000).toFixed(1)} s, run ${(runMs / 1000).toFixed(1)} s`,
        goal: 'all succeed',
        met: allOk,
      }),
      row({
        bench: b,
        metric: 'RSS per session (server + shells)',
        ours: fmtMB(perRss),
        baseline: `${fmtMB(bare.rss)} bare idle bash`,
        ratio: `${(perRss / bare.rss).toFixed(2)}×`,
        goal: '≤ 4 MB',
        met: perRss <= 4 * MB,
      }),
      row({
        bench: b,
        metric: 'PSS per session (server + shells)',
        ours: fmtMB(perPss),
        baseline: `${fmtMB(bare.pss)} bare idle bash`,
        ratio: `${(perPss / bare.pss).toFixed(2)}×`,
      }),
      row({
        bench: b,
        metric: 'server process RSS per session',
        ours: `${(perServer / 1024) | 0} KB`,
        baseline: `${fmtMB(serverBefore)} → ${fmtMB(serverAfter)}`,
      }),
      row({
        bench: b,
        metric: `temporary-session p50, ${n} open`,
        ours: fmtMs(tempP50),
        baseline: 'see 4. (few sessions open)',
      }),
      row({
        bench: b,
        metric: 'destroy all; bash left',
        ours: `${destroyedOk}/${n} destroyed, ${left} bash left, ${listed} listed`,
        baseline: `destroy ${(destroyMs / 1000).toFixed(1)} s (${(destroyMs / n).toFixed(1)} ms each)`,
        goal: 'none left',
        met: destroyedOk === n && left === 0 && listed === 0,
      }),
    ];
  } finally {
    await server?.stop();
  }
}
