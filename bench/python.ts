// python:run of `1+1` on a warm session over HTTP, against its baseline in the same run: a bare
// `/usr/bin/python3 -c 1+1` spawned per call (what a server without a persistent interpreter pays).
// And ds:read_csv of a 1,000-row file on a warm ds session, against a python3 spawn that reads the
// same preview with pandas (upstream's per-call cost, without its server).
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fmtMs,
  fmtRatio,
  log,
  median,
  postJson,
  removeTempDir,
  startOurServer,
  tempDir,
} from './lib.ts';
import { row, type Row } from './report.ts';

const PYTHON = '/usr/bin/python3';

export async function benchPython(opts: { calls: number; spawns: number }): Promise<Row[]> {
  const dataDir = tempDir();
  // Sessions run as their own uid when the server is root: the seed folder is world-readable.
  const seed = tempDir('af-bench-seed-');
  chmodSync(seed, 0o755);
  const lines = ['id,value,label'];
  for (let i = 0; i < 1000; i++) lines.push(`${i},${(i * 0.37).toFixed(2)},l${i % 9}`);
  writeFileSync(join(seed, 'data.csv'), lines.join('\n') + '\n', { mode: 0o644 });
  const ds = { enabled: true, python: PYTHON, seed_dirs: [seed] };
  const server = await startOurServer('agentflow-python', dataDir, {
    backends: { python: { enabled: true, python: PYTHON }, ds },
  });
  try {
    const url = `${server.url}/execute`;
    const call = { worker_id: 'bench-py', action: 'python:run', params: { code: '1+1' } };
    await postJson(`${server.url}/session/create`, {
      worker_id: 'bench-py',
      resource_type: 'python',
    });
    for (let i = 0; i < 10; i++) await postJson(url, call);
    const ours: number[] = [];
    for (let i = 0; i < opts.calls; i++) {
      const t = performance.now();
      const r = await postJson(url, call);
      ours.push(performance.now() - t);
      if (r.body?.data?.result !== '2')
        throw new Error(`python:run answered ${JSON.stringify(r.body)}`);
    }
    const spawn: number[] = [];
    for (let i = 0; i < opts.spawns; i++) {
      const t = performance.now();
      const p = Bun.spawn([PYTHON, '-c', '1+1'], { stdout: 'ignore', stderr: 'ignore' });
      if ((await p.exited) !== 0) throw new Error(`${PYTHON} -c 1+1 failed`);
      spawn.push(performance.now() - t);
    }
    const a = median(ours);
    const b = median(spawn);
    log(`  python:run 1+1 p50 ${fmtMs(a)} (${opts.calls} calls); python3 -c spawn p50 ${fmtMs(b)}`);

    const read = {
      worker_id: 'bench-ds',
      action: 'ds:read_csv',
      params: { csv_file: 'data.csv', seed_path: seed },
    };
    await postJson(`${server.url}/session/create`, { worker_id: 'bench-ds', resource_type: 'ds' });
    for (let i = 0; i < 5; i++) await postJson(url, read);
    const dsCalls: number[] = [];
    for (let i = 0; i < opts.calls / 3; i++) {
      const t = performance.now();
      const r = await postJson(url, read);
      dsCalls.push(performance.now() - t);
      if (!String(r.body?.data?.result).startsWith('data.csv')) {
        throw new Error(`ds:read_csv answered ${JSON.stringify(r.body)}`);
      }
    }
    const pandasRead = `import pandas; print(pandas.read_csv(${JSON.stringify(join(seed, 'data.csv'))}).head(50).to_csv(index=False))`;
    const dsSpawn: number[] = [];
    for (let i = 0; i < opts.spawns / 2; i++) {
      const t = performance.now();
      const p = Bun.spawn([PYTHON, '-c', pandasRead], { stdout: 'ignore', stderr: 'ignore' });
      if ((await p.exited) !== 0) throw new Error('python3 -c with pandas failed');
      dsSpawn.push(performance.now() - t);
    }
    const c = median(dsCalls);
    const d = median(dsSpawn);
    log(`  ds:read_csv p50 ${fmtMs(c)}; python3 -c pandas read p50 ${fmtMs(d)}`);
    return [
      row({
        bench: '9. python:run of 1+1 (warm session, 1 client)',
        metric: 'p50 latency',
        ours: fmtMs(a),
        baseline: `${fmtMs(b)} python3 -c spawn`,
        ratio: fmtRatio(b / a),
        goal: 'faster than a spawn',
        met: a < b,
      }),
      row({
        bench: '10. ds:read_csv, 1,000-row CSV (warm session)',
        metric: 'p50 latency',
        ours: fmtMs(c),
        baseline: `${fmtMs(d)} python3 -c pandas spawn`,
        ratio: fmtRatio(d / c),
        goal: 'faster than a spawn',
        met: c < d,
      }),
    ];
  } finally {
    await server.stop();
    removeTempDir(dataDir);
    removeTempDir(seed);
  }
}
