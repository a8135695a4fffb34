// text2sql: upstream's three tools over SQLite files the test builds (several tables, foreign
// keys, thousands of rows), the answers' shape, and the attacks a read-only SQL sandbox must stop:
// writes, ATTACH of the server's own store, writable_schema, load_extension, a query that never
// ends, several statements, unknown and path-like db ids.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Database } from 'bun:sqlite';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, serverFixture, tempDir, type TestApp } from './helpers.ts';

function buildShop(file: string): void {
  const db = new Database(file, { create: true });
  db.exec(`
    PRAGMA foreign_keys = ON;
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT);
    CREATE TABLE products (id INTEGER PRIMARY KEY, title TEXT NOT NULL, price REAL NOT NULL);
    CREATE TABLE orders (
      id INTEGER PRIMARY KEY,
      customer_id INTEGER NOT NULL REFERENCES customers(id),
      product_id INTEGER NOT NULL REFERENCES products(id),
      qty INTEGER NOT NULL
    );`);
  const c = db.prepare('INSERT INTO customers (name, city) VALUES (?, ?)');
  const p = db.prepare('INSERT INTO products (title, price) VALUES (?, ?)');
  const o = db.prepare('INSERT INTO orders (customer_id, product_id, qty) VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= 500; i++) c.run(`customer ${i}`, ['Paris', 'Lyon', 'Nice'][i % 3]!);
    for (let i = 1; i <= 50; i++) p.run(`product ${i}`, i * 1.5);
    for (let i = 1; i <= 5000; i++) o.run((i % 500) + 1, (i % 50) + 1, (i % 7) + 1);
  })();
  db.close();
}

let t: TestApp;
let dir: string;
let shop: string;

beforeAll(async () => {
  dir = tempDir('af-sql-');
  shop = join(dir, 'shop.db');
  buildShop(shop);
  const other = join(dir, 'notes.db');
  new Database(other, { create: true }).exec(
    'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)',
  );
  t = await buildApp({
    backends: {
      text2sql: {
        databases: { shop, notes: other, gone: join(dir, 'missing.db') },
        query_timeout_seconds: 1,
      },
    },
  });
});

afterAll(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const exec = (action: string, params: unknown) => t.execute('sql-w', action, params);

describe('upstream tools', () => {
  test('the spellings upstream agents use resolve and answer upstream shapes', async () => {
    const list = await exec('text2sql-list_databases', {});
    expect(list.body.code).toBe(0);
    expect(list.body.data.result).toEqual({ databases: ['shop', 'notes', 'gone'] });
    expect(list.body.meta.tool).toBe('text2sql:list_databases');

    const schema = await exec('text2sql-get_schema', { db_id: 'shop' });
    expect(schema.body.code).toBe(0);
    const s = schema.body.data.result;
    expect(s.db_id).toBe('shop');
    expect(Object.keys(s.schema)).toEqual(['customers', 'products', 'orders']);
    expect(s.schema.orders.columns).toContainEqual({ name: 'qty', type: 'INTEGER', pk: false });
    expect(s.schema.customers.columns[0]).toEqual({ name: 'id', type: 'INTEGER', pk: true });
    expect(s.schema.orders.foreign_keys).toContainEqual({
      to_table: 'customers',
      from_col: 'customer_id',
      to_col: 'id',
    });

    const some = await exec('text2sql_get_schema', {
      db_id: 'shop',
      table_names: ['products', 'nope'],
    });
    expect(Object.keys(some.body.data.schema)).toEqual(['products']);
    expect(some.body.data.missing_tables).toEqual(['nope']);
  });

  test('execute returns columns, rows, row_count and truncated, and caps rows', async () => {
    const r = await exec('text2sql:execute', {
      db_id: 'shop',
      query: 'SELECT city, COUNT(*) AS n FROM customers GROUP BY city ORDER BY city',
    });
    expect(r.body.code).toBe(0);
    const local = new Database(shop, { readonly: true });
    const expected = local
      .query('SELECT city, COUNT(*) AS n FROM customers GROUP BY city ORDER BY city')
      .values();
    local.close();
    expect(expected.length).toBe(3);
    expect(r.body.data.result).toEqual({
      columns: ['city', 'n'],
      rows: expected,
      row_count: 3,
      truncated: false,
    });
    const join_ = await exec('text2sql-execute', {
      db_id: 'shop',
      query:
        'SELECT c.name, SUM(o.qty * p.price) AS total FROM orders o JOIN customers c ON c.id = o.customer_id ' +
        'JOIN products p ON p.id = o.product_id GROUP BY c.id ORDER BY total DESC',
    });
    expect(join_.body.data.row_count).toBe(100);
    expect(join_.body.data.truncated).toBe(true);
    expect(join_.body.data.max_rows).toBe(100);
    // Checked against bun:sqlite on the same file.
    const db = new Database(shop, { readonly: true });
    const top = db
      .query(
        'SELECT c.name, SUM(o.qty * p.price) AS total FROM orders o JOIN customers c ON c.id = o.customer_id ' +
          'JOIN products p ON p.id = o.product_id GROUP BY c.id ORDER BY total DESC LIMIT 1',
      )
      .values()[0];
    db.close();
    expect(join_.body.data.rows[0]).toEqual(top);
  });

  test('tools are listed, in the OpenAI format too', async () => {
    const tools = await t.get('/tools');
    const names = tools.body.data.tools.map((x: { name: string }) => x.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'text2sql:list_databases',
        'text2sql:get_schema',
        'text2sql:execute',
      ]),
    );
    const exe = tools.body.data.tools.find((x: { name: string }) => x.name === 'text2sql:execute');
    expect(exe.parameters.required).toEqual(['db_id', 'query']);
    const oa = await t.get('/tools?format=openai');
    const fn = oa.body.data.tools.map((x: { function: { name: string } }) => x.function.name);
    expect(fn).toContain('text2sql__get_schema');
  });
});

describe('read-only by construction', () => {
  const before = () => statSync(shop).mtimeMs + ':' + readFileSync(shop).length;
  let print: string;
  beforeAll(() => {
    print = before();
  });
  afterAll(() => {
    expect(before()).toBe(print);
  });

  for (const query of [
    "INSERT INTO customers (name) VALUES ('x')",
    "UPDATE customers SET name = 'x'",
    'DELETE FROM orders',
    'DROP TABLE orders',
    'CREATE TABLE evil (x)',
    'CREATE TEMP TABLE evil (x)',
    'PRAGMA writable_schema=1',
    'PRAGMA user_version=7',
    'BEGIN',
  ]) {
    test(`refused: ${query}`, async () => {
      const r = await exec('text2sql:execute', { db_id: 'shop', query });
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain('write refused');
    });
  }

  test('ATTACH of the server store is refused', async () => {
    const store = join(t.dataDir, 'agentflow.db');
    const r = await exec('text2sql:execute', {
      db_id: 'shop',
      query: `ATTACH '${store}' AS s`,
    });
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('ATTACH');
    const v = await exec('text2sql:execute', {
      db_id: 'shop',
      query: `VACUUM INTO '${join(dir, 'copy.db')}'`,
    });
    expect(v.body.code).toBe(1002);
    expect(() => statSync(join(dir, 'copy.db'))).toThrow();
  });

  test('load_extension is refused', async () => {
    const r = await exec('text2sql:execute', {
      db_id: 'shop',
      query: "SELECT load_extension('/tmp/x.so')",
    });
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('load_extension');
  });

  test('printf and format are refused: a huge width loops inside SQLite past any interrupt', async () => {
    const started = performance.now();
    for (const fn of ['printf', 'format', 'PRINTF']) {
      const r = await exec('text2sql:execute', {
        db_id: 'shop',
        query: `SELECT ${fn}('%.*c', 2147483647, 'x') IS NULL`,
      });
      expect(r.body.code).toBe(1002);
      expect(r.body.message.toLowerCase()).toContain(fn.toLowerCase());
    }
    expect(performance.now() - started).toBeLessThan(2000);
  });

  test('several statements in one query are refused; a trailing comment is fine', async () => {
    const r = await exec('text2sql:execute', {
      db_id: 'shop',
      query: 'SELECT 1; DROP TABLE orders',
    });
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('more than one statement');
    const ok = await exec('text2sql:execute', { db_id: 'shop', query: 'SELECT 1; -- done' });
    expect(ok.body.data.rows).toEqual([[1]]);
  });

  test('a query that never ends is interrupted at the limit and the server still answers', async () => {
    const started = Date.now();
    const r = await exec('text2sql:execute', {
      db_id: 'shop',
      query:
        'WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r',
    });
    expect(r.body.code).toBe(2002);
    expect(r.body.message).toContain('interrupted');
    expect(Date.now() - started).toBeLessThan(4000);
    const after = await exec('text2sql:execute', {
      db_id: 'shop',
      query: 'SELECT count(*) FROM orders',
    });
    expect(after.body.data.rows).toEqual([[5000]]);
  });
});

describe('errors in SQL terms', () => {
  test('syntax error, no such table, no such column', async () => {
    const syntax = await exec('text2sql:execute', { db_id: 'shop', query: 'SELEC * FROM orders' });
    expect(syntax.body.code).toBe(1002);
    expect(syntax.body.message).toContain('near "SELEC": syntax error');
    const table = await exec('text2sql:execute', { db_id: 'shop', query: 'SELECT * FROM nope' });
    expect(table.body.message).toContain('no such table: nope');
    const col = await exec('text2sql:execute', { db_id: 'shop', query: 'SELECT nope FROM orders' });
    expect(col.body.message).toContain('no such column: nope');
    expect(col.status).toBe(400);
  });

  test('unknown, path-like and prototype db ids are 1002 naming the configured ones', async () => {
    for (const db_id of ['nope', '../agentflow.db', shop, '__proto__', 'constructor']) {
      const r = await exec('text2sql:execute', { db_id, query: 'SELECT 1' });
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain('Databases on this server: shop, notes, gone');
    }
  });

  test('a configured file that is missing is 2004; missing params are 1002', async () => {
    const r = await exec('text2sql:execute', { db_id: 'gone', query: 'SELECT 1' });
    expect(r.body.code).toBe(2004);
    expect(r.body.message).toContain('backends.text2sql.databases.gone');
    const p = await exec('text2sql:execute', { db_id: 'shop' });
    expect(p.body.code).toBe(1002);
  });
});

describe('sessions', () => {
  test("upstream's runner may create a text2sql session; calls then run on it", async () => {
    const c = await t.post('/session/create', { worker_id: 'sql-s', resource_type: 'text2sql' });
    expect(c.body.code).toBe(0);
    const r = await t.execute('sql-s', 'text2sql:list_databases', {});
    expect(r.body.meta.session_id).toBe(c.body.data.session_id);
    expect(r.body.meta.temporary_session).toBe(false);
  });
});

describe("upstream's config", () => {
  const fx = serverFixture('af-sql-up-');
  test('apis.text2sql.databases with ${VAR:-} paths starts the server', async () => {
    const data = fx.newDataDir();
    const db = join(data, 'retail.db');
    buildShop(db);
    const file = join(data, 'text2sql_config.json');
    writeFileSync(
      file,
      JSON.stringify({
        server: { url: 'http://127.0.0.1:18890', port: 18890, session_ttl: 600 },
        apis: {
          text2sql: {
            _comment_databases: 'paths from the environment',
            databases: { retail: '${T2S_RETAIL:-}', music: '${T2S_MUSIC:-}' },
          },
        },
      }),
    );
    // The test's own file in upstream's shape (plus our log_level, which the fixture adds).
    const server = await fx.start(data, JSON.parse(readFileSync(file, 'utf8')), {
      env: { T2S_RETAIL: db },
    });
    const list = await server.post('/execute', {
      worker_id: 'w',
      action: 'text2sql-list_databases',
    });
    expect(list.body.data.databases).toEqual(['retail']);
    const n = await server.post('/execute', {
      worker_id: 'w',
      action: 'text2sql-execute',
      params: { db_id: 'retail', query: 'SELECT count(*) FROM orders' },
    });
    expect(n.body.data.rows).toEqual([[5000]]);
    expect(server.stderr() + '').not.toContain('"level":"error"');
  });
});
