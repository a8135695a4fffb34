// The app built in-process on a temporary data directory with some backends on, for benchmarks
// of one tool call (app.handle, no HTTP socket): routing, the executor and the backend.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/core/log.ts';
import { createServices } from '../src/server.ts';
import { fmtMs, fmtRatio, log, median } from './lib.ts';
import { row, type Row } from './report.ts';

export interface InProcessApp {
  /** POST /execute; throws unless the answer is code 0. */
  execute(action: string, params: unknown): Promise<void>;
  close(): Promise<void>;
}

export async function inProcessApp(
  dir: string,
  backends: Record<string, unknown>,
): Promise<InProcessApp> {
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      data_dir: join(dir, 'data'),
      log_level: 'silent',
      backends: { bash: { enabled: false }, vm: { enabled: false }, ...backends },
    }),
  );
  const services = await createServices(loadConfig({ configPath: file }, {}), silentLogger);
  const app = createApp(services);
  return {
    async execute(action, params) {
      const res = await app.handle(
        new Request('http://localhost/execute', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ worker_id: 'bench', action, params }),
        }),
      );
      const body = (await res.json()) as { code: number };
      if (body.code !== 0) throw new Error(`${action} answered ${JSON.stringify(body)}`);
    },
    close: () => services.shutdown({ force: true, cleanupSessions: true }),
  };
}

/**
 * p50 of `ours` (a tool call) against `baseline` (the same work without the server), calls
 * interleaved so both see the same machine load, as a result row with the ratio.
 */
export async function compareP50(
  o: { bench: string; tool: string; baselineLabel: string },
  calls: number,
  run: () => Promise<void>,
  baseline: () => unknown,
): Promise<Row> {
  const ours: number[] = [];
  const base: number[] = [];
  for (let i = 0; i < 20; i++) {
    await run();
    baseline();
  }
  for (let i = 0; i < calls; i++) {
    let t = performance.now();
    await run();
    ours.push(performance.now() - t);
    t = performance.now();
    baseline();
    base.push(performance.now() - t);
  }
  const a = median(ours);
  const b = median(base);
  log(`  ${o.tool} p50 ${fmtMs(a)}; ${o.baselineLabel} p50 ${fmtMs(b)}; ratio ${fmtRatio(a / b)}`);
  return row({
    bench: o.bench,
    metric: 'p50 latency',
    ours: fmtMs(a),
    baseline: `${fmtMs(b)} (${o.baselineLabel})`,
    ratio: fmtRatio(a / b),
  });
}
