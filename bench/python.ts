// python:run of `1+1` on a warm session over HTTP, against its baseline in the same run: a bare
// `/usr/bin/python3 -c 1+1` spawned per call (what a server without a persistent interpreter pays).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fmtMs,
  fmtRatio,
  log,
  median,
  postJson,
  removeTempDir,
  serverDir,
  startServer,
  tempDir,
} from './lib.ts';
import { row, type Row } from './report.ts';

const PYTHON = '/usr/bin/python3';

export async function benchPython(opts: { calls: number; spawns: number }): Promise<Row[]> {
  const dataDir = tempDir();
  const config = join(dataDir, 'bench-python.json');
  writeFileSync(
    config,
    JSON.stringify({ backends: { python: { enabled: true, python: PYTHON } } }),
  );
  const server = await startServer({
    name: 'agentflow-python',
    args: ['src/main.ts', '--port', '{port}', '--data-dir', dataDir, '--config', config],
    cwd: serverDir(),
    dataDir,
    readyPath: '/ready',
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
    return [
      row({
        bench: '8. python:run of 1+1 (warm session, 1 client)',
        metric: 'p50 latency',
        ours: fmtMs(a),
        baseline: `${fmtMs(b)} python3 -c spawn`,
        ratio: fmtRatio(b / a),
        goal: 'faster than a spawn',
        met: a < b,
      }),
    ];
  } finally {
    await server.stop();
    removeTempDir(dataDir);
  }
}
