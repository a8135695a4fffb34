// The SQLite store: migrations with a version table, rows that survive reopening, WAL.
import { Database } from 'bun:sqlite';
import { expect, test } from 'bun:test';
import { join } from 'node:path';
import { STORE_FILE, Store, type StoredSession } from '../src/core/store.ts';
import { silentLogger } from '../src/core/log.ts';
import { createServices } from '../src/server.ts';
import { buildApp, tempDir } from './helpers.ts';

const row = (id: string, worker: string): StoredSession => ({
  session_id: id,
  worker_id: worker,
  resource_type: 'bash',
  session_name: id,
  status: 'active',
  config: { cwd: 'x' },
  state: {},
  created_at: 1000,
  last_used_at: 2000,
  expires_at: 3000,
});

test('schema is versioned, WAL is on, rows survive reopening', () => {
  const dir = tempDir();
  const store = Store.open(dir);
  expect(store.schemaVersion).toBe(1);
  expect(store.nextSessionNumber()).toBe(1);
  expect(store.nextSessionNumber()).toBe(2);
  store.insertSession(row('bash_a_001', 'a'));
  store.insertSession(row('bash_b_002', 'b'));
  store.touchSession('bash_a_001', 5000, 6000, JSON.stringify({ cwd: '/tmp' }));
  store.touchSession('bash_b_002', 5000, 6000, null);
  store.close();

  const db = new Database(join(dir, STORE_FILE));
  expect((db.query('PRAGMA journal_mode').get() as any).journal_mode).toBe('wal');
  db.close();

  const again = Store.open(dir);
  const rows = again.loadSessions();
  expect(rows.map((r) => r.session_id)).toEqual(['bash_a_001', 'bash_b_002']);
  expect(rows[0]).toMatchObject({
    last_used_at: 5000,
    expires_at: 6000,
    state: { cwd: '/tmp' },
    config: { cwd: 'x' },
  });
  expect(rows[1]).toMatchObject({ status: 'active', state: {} });
  expect(again.nextSessionNumber()).toBe(3);
  again.deleteSession('bash_a_001');
  expect(again.loadSessions()).toHaveLength(1);
  again.close();
});

test('one session per (worker, type) is enforced by the schema', () => {
  const store = Store.open(tempDir());
  store.insertSession(row('bash_a_001', 'a'));
  expect(() => store.insertSession(row('bash_a_002', 'a'))).toThrow();
  store.close();
});

test('a store from a newer server is refused with a clear message', () => {
  const dir = tempDir();
  Store.open(dir).close();
  const db = new Database(join(dir, STORE_FILE));
  db.exec('UPDATE schema_version SET version = 99');
  db.close();
  expect(() => Store.open(dir)).toThrow(/schema version 99/);
});

test('one server per data directory: a second one is refused until the first stops', async () => {
  const first = await buildApp();
  try {
    await expect(createServices(first.services.config, silentLogger)).rejects.toThrow(
      /another agentflow server/,
    );
  } finally {
    await first.services.shutdown({ force: true, cleanupSessions: true });
  }
  const second = await createServices(first.services.config, silentLogger);
  await second.shutdown({ force: true, cleanupSessions: true });
});
