// Who may write to a shared rag index, and how far: worker keys cannot touch the demo corpus (also
// after a restart), writable_by opens an index to matching worker ids, reads stay open, and the
// per-index quotas refuse a whole rag:index call (2004) before anything is written.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { buildApp, tempDir, type Reply, type TestApp } from './helpers.ts';

const ADMIN = 'admin-key-0123456789abcdef';
const FLEET = 'fleet-key-0123456789abcdef';
const KEYS = {
  api_key: ADMIN,
  api_keys: [{ key: FLEET, name: 'fleet', scope: 'worker', workers: '*' }],
};
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

function client(t: TestApp) {
  const exec = (key: string, worker: string, action: string, params: unknown) =>
    t.post('/execute', { worker_id: worker, action, params }, bearer(key));
  return {
    exec,
    /** The stored document with this id, found through rag:search (reads need no scope). */
    async document(index: string, id: string, query: string) {
      const r = await exec(FLEET, 'reader', 'rag:search', { query, index, top_k: 100 });
      expect(r.body.code).toBe(0);
      return (r.body.data.results as { id: string; content: string }[]).find((d) => d.id === id);
    },
    async count(index: string): Promise<number> {
      const r = await exec(FLEET, 'reader', 'rag:stats', { index });
      expect(r.body.code).toBe(0);
      return r.body.data.documents as number;
    },
  };
}

function expectRefused(r: Reply, code: number, status: number) {
  expect({ code: r.body.code, status: r.status }).toEqual({ code, status });
  expect(r.body.message).not.toContain('    at ');
}

describe('the demo corpus', () => {
  const dataDir = tempDir('af-rag-access-');
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
  const PWNED = { id: 'timeouts', title: 'Timeouts', content: 'Timeouts do not exist; pwned.' };

  test('a worker key cannot replace the document "timeouts" (1006), not even across a restart', async () => {
    let t = await buildApp(KEYS, undefined, dataDir);
    try {
      const c = client(t);
      const before = await c.document('default', 'timeouts', 'timeouts');
      expect(before?.content).toContain('seconds');
      const total = await c.count('default');
      const r = await c.exec(FLEET, 'w1', 'rag:index', { documents: [PWNED] });
      expectRefused(r, 1006, 403);
      expect(r.body.message).toContain('index "default"');
      expect(r.body.message).toContain('demo corpus');
      expect(r.body.message).toContain('writable_by');
      expect(await c.document('default', 'timeouts', 'timeouts')).toEqual(before);
      expect(await c.count('default')).toBe(total);
      // The same through /execute/batch, which hands the caller to the core on its own path.
      const batch = await t.post(
        '/execute/batch',
        { worker_id: 'w1', actions: [{ action: 'rag:index', params: { documents: [PWNED] } }] },
        bearer(FLEET),
      );
      expect(batch.body.code).toBe(1006);
      await t.close();
      t = await buildApp(KEYS, undefined, dataDir);
      const after = client(t);
      expect(await after.document('default', 'timeouts', 'timeouts')).toEqual(before);
      expect(await after.count('default')).toBe(total);
    } finally {
      await t.close();
    }
  });

  test('an admin key can replace it', async () => {
    const t = await buildApp(KEYS, undefined, dataDir);
    try {
      const c = client(t);
      const r = await c.exec(ADMIN, 'w1', 'rag:index', { documents: [PWNED] });
      expect(r.body.code).toBe(0);
      expect(r.body.data).toMatchObject({ index: 'default', added: 0, updated: 1 });
      expect((await c.document('default', 'timeouts', 'timeouts'))?.content).toBe(PWNED.content);
    } finally {
      await t.close();
    }
  });

  test('with no keys configured every caller counts as admin', async () => {
    const t = await buildApp();
    try {
      const r = await t.execute('anyone', 'rag:index', { documents: [PWNED] });
      expect(r.body.code).toBe(0);
    } finally {
      await t.close();
    }
  });
});

describe('writable_by', () => {
  let t: TestApp;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    t = await buildApp({
      ...KEYS,
      backends: { rag: { indexes: { team: { writable_by: ['writer-*', 'lead'] }, closed: {} } } },
    });
    c = client(t);
  });
  afterAll(() => t.close());

  const doc = (id: string) => ({ id, content: `Note ${id} about the quarterly plankton survey.` });

  test('a worker matching writable_by can write the index', async () => {
    for (const worker of ['writer-1', 'lead']) {
      const r = await c.exec(FLEET, worker, 'rag:index', {
        index: 'team',
        documents: [doc(worker)],
      });
      expect(r.body.code).toBe(0);
      expect(r.body.data).toMatchObject({ index: 'team', added: 1 });
    }
    expect(await c.count('team')).toBe(2);
  });

  test('a worker not matching it gets 1006 naming the index and the key to set', async () => {
    const before = await c.count('team');
    for (const worker of ['reader-1', 'writer', 'lead-2']) {
      const r = await c.exec(FLEET, worker, 'rag:index', {
        index: 'team',
        documents: [doc(worker)],
      });
      expectRefused(r, 1006, 403);
      expect(r.body.message).toContain(`worker "${worker}"`);
      expect(r.body.message).toContain('index "team"');
      expect(r.body.message).toContain('backends.rag.indexes.team.writable_by');
      expect(await c.document('team', worker, 'plankton')).toBeUndefined();
    }
    expect(await c.count('team')).toBe(before);
  });

  test('an index without writable_by is admin only', async () => {
    const r = await c.exec(FLEET, 'writer-1', 'rag:index', {
      index: 'closed',
      documents: [doc('x')],
    });
    expectRefused(r, 1006, 403);
    expect(r.body.message).toContain('backends.rag.indexes.closed.writable_by is empty');
    const admin = await c.exec(ADMIN, 'writer-1', 'rag:index', {
      index: 'closed',
      documents: [doc('x')],
    });
    expect(admin.body.code).toBe(0);
    expect(await c.count('closed')).toBe(1);
  });

  test('reads stay open to every worker', async () => {
    const s = await c.exec(FLEET, 'reader-9', 'rag:search', { index: 'closed', query: 'plankton' });
    expect(s.body.data.results.map((d: { id: string }) => d.id)).toEqual(['x']);
    const b = await c.exec(FLEET, 'reader-9', 'rag:batch_search', {
      index: 'team',
      queries: ['plankton'],
    });
    expect(b.body.code).toBe(0);
    expect((await c.exec(FLEET, 'reader-9', 'rag:stats', { index: 'team' })).body.code).toBe(0);
  });

  test('the config refuses a writable_by entry that is not a worker-id glob', async () => {
    await expect(
      buildApp({ backends: { rag: { indexes: { bad: { writable_by: ['team/*'] } } } } }),
    ).rejects.toThrow('writable_by');
  });
});

describe('quotas', () => {
  let t: TestApp;
  let c: ReturnType<typeof client>;
  beforeAll(async () => {
    t = await buildApp({
      ...KEYS,
      backends: {
        rag: {
          max_documents: 40,
          max_index_bytes: 100 * 1024,
          indexes: {
            small: { writable_by: ['*'], max_documents: 5, max_bytes: 2000 },
            grow: { writable_by: ['*'], max_bytes: 256 * 1024 },
          },
        },
      },
    });
    c = client(t);
  });
  afterAll(() => t.close());

  const text = (n: number, tag: string) => `${tag} ` + 'y'.repeat(n - tag.length - 1);
  const add = (index: string, documents: unknown[], key = FLEET) =>
    c.exec(key, 'writer', 'rag:index', { index, documents });

  test('over max_documents: 2004 naming the size, the limit and the key; nothing written', async () => {
    const four = ['a1', 'a2', 'a3', 'a4'].map((id) => ({ id, content: text(300, `tok${id}`) }));
    expect((await add('small', four)).body.code).toBe(0);
    // a5 alone would fit; the call is refused whole.
    const r = await add('small', [
      { id: 'a5', content: text(10, 'toka5') },
      { id: 'a6', content: text(10, 'toka6') },
    ]);
    expectRefused(r, 2004, 503);
    expect(r.body.message).toContain('Index "small" is full: it holds 4 documents');
    expect(r.body.message).toContain('limit of 5');
    expect(r.body.message).toContain('backends.rag.indexes.small.max_documents');
    expect(await c.count('small')).toBe(4);
    expect(await c.document('small', 'a5', 'toka5')).toBeUndefined();
  });

  test('a replacement counts its new size minus the old', async () => {
    const before = await c.document('small', 'a1', 'toka1');
    // 1200 bytes stored; +901 would pass 2000.
    const grown = await add('small', [{ id: 'a1', content: text(1201, 'toka1') }]);
    expectRefused(grown, 2004, 503);
    expect(grown.body.message).toContain('it holds 1200 bytes of text');
    expect(grown.body.message).toContain('would add 901');
    expect(grown.body.message).toContain('backends.rag.indexes.small.max_bytes');
    expect(await c.document('small', 'a1', 'toka1')).toEqual(before);
    // +800 lands exactly on the limit; a same-size replacement of a full index still passes.
    expect((await add('small', [{ id: 'a1', content: text(1100, 'toka1') }])).body.code).toBe(0);
    expect((await add('small', [{ id: 'a2', content: text(300, 'toka2') }])).body.code).toBe(0);
    const over = await add('small', [{ id: 'a9', content: text(10, 'toka9') }]);
    expectRefused(over, 2004, 503);
    // Shrinking one document makes room for another in the same call.
    const swap = await add('small', [
      { id: 'a1', content: text(100, 'toka1') },
      { id: 'a9', content: text(10, 'toka9') },
    ]);
    expect(swap.body.code).toBe(0);
    expect(await c.count('small')).toBe(5);
  });

  test('the quota binds admin keys too, and the demo corpus names backends.rag.max_documents', async () => {
    const total = await c.count('default');
    const docs = Array.from({ length: 41 - total }, (_, i) => ({ content: `extra ${i}` }));
    const r = await add('default', docs, ADMIN);
    expectRefused(r, 2004, 503);
    expect(r.body.message).toContain('limit of 40 (backends.rag.max_documents)');
    expect(await c.count('default')).toBe(total);
  });

  test('a growth attack (large rag:index calls, one after another) stops at the quota', async () => {
    const words = (seed: number) =>
      Array.from({ length: 9000 }, (_, i) => `w${(seed * 7919 + i * 104729) % 1000003}`).join(' ');
    const answers: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await add('grow', [{ id: `big-${i}`, content: words(i) }]);
      answers.push(r.body.code);
    }
    // Each call holds ~80 KiB of text: three fit under 256 KiB, the rest are refused.
    expect(answers).toEqual([0, 0, 0, 2004, 2004, 2004, 2004, 2004]);
    const stats = await c.exec(FLEET, 'reader', 'rag:stats', { index: 'grow' });
    expect(stats.body.data.documents).toBe(3);
    expect(stats.body.data.size_bytes).toBeLessThan(4 * 1024 * 1024);
  });
});
