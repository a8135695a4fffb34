// text2sql:execute p50 through the app (routing, executor, query thread, libsqlite3 via bun:ffi)
// against the same query through bun:sqlite in-process, in the same run, on a database it builds.
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import { compareP50, inProcessApp } from './in-process.ts';
import { removeTempDir, tempDir } from './lib.ts';
import type { Row } from './report.ts';

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
    const app = await inProcessApp(dir, { text2sql: { databases: { shop: file } } });
    const call = () => app.execute('text2sql:execute', { db_id: 'shop', query: QUERY });
    const local = new Database(file, { readonly: true });
    const stmt = local.query(QUERY);
    try {
      return [
        await compareP50(
          {
            bench: '13. text2sql:execute (join + group by, 20k rows)',
            tool: 'text2sql:execute',
            baselineLabel: 'bun:sqlite in-process',
          },
          opts.calls,
          call,
          () => stmt.values(),
        ),
      ];
    } finally {
      local.close();
      await app.close();
    }
  } finally {
    removeTempDir(dir);
  }
}
