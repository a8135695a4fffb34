// text2sql:execute p50 through the app (routing, executor, query thread, libsqlite3 via bun:ffi)
// against the same query through bun:sqlite in-process, in the same run, on a database it builds.
import { Database } from 'bun:sqlite';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/core/log.ts';
import { createServices } from '../src/server.ts';
import { fmtMs, fmtRatio, log, median, removeTempDir, tempDir } from './lib.ts';
import { row, type Row } from './report.ts';

const QUERY =
  'SELECT c.city, COUNT(*) AS n, SUM(o.qty) AS qty FROM orders o JOIN customers c ON c.id = o.customer_id ' +
  'WHERE o.qty > 3 GROUP BY c.city ORDER BY n DESC';

export async function benchText2sql(opts: { calls: number }): Promise<Row[]> {
  const dir = tempDir('af-bench-sql-');
  try {
    const file = join(dir, 'shop.db');
    const db = new Database(file, { create: true });
    db.exec(
      'CREATE TABLE customers (id INTEGER PRIMARY KEY, city TEXT);' +
        'CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id), qty INTEGER);',
    );
    db.transaction(() => {
      for (let i = 1; i <= 1000; i++)
        db.run('INSERT INTO customers (city) VALUES (?)', [`c${i % 20}`]);
      for (let i = 1; i <= 20000; i++) {
        db.run('INSERT INTO orders (customer_id, qty) VALUES (?, ?)', [(i % 1000) + 1, i % 7]);
      }
    })();
    db.close();
    const cfgFile = join(dir, 'config.json');
    writeFileSync(
      cfgFile,
      JSON.stringify({
        data_dir: join(dir, 'data'),
        log_level: 'silent',
        backends: {
          text2sql: { databases: { shop: file } },
          bash: { enabled: false },
          vm: { enabled: false },
        },
      }),
    );
    const services = await createServices(loadConfig({ configPath: cfgFile }, {}), silentLogger);
    const app = createApp(services);
    const call = async () => {
      const res = await app.handle(
        new Request('http://localhost/execute', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            worker_id: 'b',
            action: 'text2sql:execute',
            params: { db_id: 'shop', query: QUERY },
          }),
        }),
      );
      const body = (await res.json()) as { code: number };
      if (body.code !== 0) throw new Error(`text2sql:execute answered ${JSON.stringify(body)}`);
    };
    const local = new Database(file, { readonly: true });
    const stmt = local.query(QUERY);
    const ours: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < 20; i++) {
      await call();
      stmt.values();
    }
    // Interleaved, so both see the same machine load.
    for (let i = 0; i < opts.calls; i++) {
      let t = performance.now();
      await call();
      ours.push(performance.now() - t);
      t = performance.now();
      stmt.values();
      base.push(performance.now() - t);
    }
    local.close();
    await services.shutdown({ force: true, cleanupSessions: true });
    const o = median(ours);
    const b = median(base);
    log(
      `  text2sql:execute p50 ${fmtMs(o)}; bun:sqlite in-process p50 ${fmtMs(b)}; ratio ${fmtRatio(o / b)}`,
    );
    return [
      row({
        bench: '8. text2sql:execute (join + group by, 20k rows)',
        metric: 'p50 latency',
        ours: fmtMs(o),
        baseline: `${fmtMs(b)} (bun:sqlite in-process)`,
        ratio: fmtRatio(o / b),
      }),
    ];
  } finally {
    removeTempDir(dir);
  }
}
