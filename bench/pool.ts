// The bash warm pool: `bash:run echo hi` on temporary sessions (each call makes and destroys its
// own sandboxed session) against a server with the pool off, same run, calls interleaved so load
// changes fall on both alike (paced), or one after the other (back-to-back). Paced (a pause between calls, as a worker that thinks between its
// calls leaves): the pool has refilled when the next call comes. Back-to-back: calls outrun the
// one-at-a-time refill, and the figure says what that costs.
import {
  fmtMs,
  fmtRatio,
  log,
  median,
  postJson,
  removeTempDir,
  startOurServer,
  tempDir,
  type Server,
} from './lib.ts';
import { row, type Row } from './report.ts';

async function start(name: string, size: number): Promise<{ server: Server; dataDir: string }> {
  const dataDir = tempDir();
  const server = await startOurServer(name, dataDir, {
    backends: { bash: { pool: { size } }, vm: { enabled: false } },
  });
  return { server, dataDir };
}

async function temporaryCall(server: Server, worker: string): Promise<number> {
  const t = performance.now();
  const r = await postJson(`${server.url}/execute`, {
    worker_id: worker,
    action: 'bash:run',
    params: { command: 'echo hi' },
  });
  const ms = performance.now() - t;
  if (r.body?.data?.stdout !== 'hi\n' || r.body?.meta?.temporary_session !== true) {
    throw new Error(`bash:run answered ${JSON.stringify(r.body)}`);
  }
  return ms;
}

export async function benchPool(opts: { calls: number; pauseMs: number }): Promise<Row[]> {
  const on = await start('agentflow-pool', 4);
  const off = await start('agentflow-nopool', 0);
  try {
    await Bun.sleep(500); // the pool fills
    const paced = { on: [] as number[], off: [] as number[] };
    const burst = { on: [] as number[], off: [] as number[] };
    for (let i = 0; i < opts.calls; i++) {
      paced.on.push(await temporaryCall(on.server, `paced-${i}`));
      paced.off.push(await temporaryCall(off.server, `paced-${i}`));
      await Bun.sleep(opts.pauseMs);
    }
    // Back-to-back on one server at a time: nothing else gives the pool time to refill.
    for (let i = 0; i < opts.calls; i++) burst.on.push(await temporaryCall(on.server, `b-${i}`));
    for (let i = 0; i < opts.calls; i++) burst.off.push(await temporaryCall(off.server, `b-${i}`));
    const [a, b, c, d] = [paced.on, paced.off, burst.on, burst.off].map(median) as [
      number,
      number,
      number,
      number,
    ];
    log(`  temporary bash:run, paced ${opts.pauseMs} ms: pool ${fmtMs(a)}, no pool ${fmtMs(b)}`);
    log(`  temporary bash:run, back-to-back: pool ${fmtMs(c)}, no pool ${fmtMs(d)}`);
    return [
      row({
        bench: '11. temporary-session bash:run, warm pool (paced calls)',
        metric: 'p50 latency',
        ours: fmtMs(a),
        baseline: `${fmtMs(b)} pool off`,
        ratio: fmtRatio(a / b),
        goal: '≤ 3 ms',
        met: a <= 3,
      }),
      row({
        bench: '12. temporary-session bash:run, warm pool (back-to-back)',
        metric: 'p50 latency',
        ours: fmtMs(c),
        baseline: `${fmtMs(d)} pool off`,
        ratio: fmtRatio(c / d),
        goal: 'no worse than off',
        met: c <= d * 1.1,
      }),
    ];
  } finally {
    for (const s of [on, off]) {
      await s.server.stop();
      removeTempDir(s.dataDir);
    }
  }
}
