// Dense and hybrid retrieval with the OpenAI-compatible embedder, against a real HTTP server on
// 127.0.0.1 computing hashed-trigram vectors; and every way the embedder can fail (2001/2003).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { buildApp, type TestApp } from './helpers.ts';
import { startEmbeddingServer, type EmbeddingServer } from './fixtures/rag/embedding-server.ts';

let server: EmbeddingServer;
let t: TestApp;

const embedderConfig = (url: string) => ({
  type: 'openai',
  url,
  model: 'hash-trigram',
  api_key: 'test-key',
  batch_size: 8,
  query_prefix: 'query: ',
  document_prefix: 'passage: ',
});

beforeAll(async () => {
  server = startEmbeddingServer();
  t = await buildApp({ backends: { rag: { embedder: embedderConfig(server.url) } } });
});
afterAll(async () => {
  await t.close();
  await server.stop();
});

const exec = (action: string, params: unknown, worker = 'w') =>
  t.post('/execute', { worker_id: worker, action, params });

describe('with an embedder', () => {
  test('warmup embeds the corpus in batches with the document prefix; stats show it', async () => {
    const r = await exec('rag:stats', {});
    expect(r.body.code).toBe(0);
    expect(r.body.data.vectors).toBe(r.body.data.documents);
    expect(r.body.data.dims).toBe(256);
    expect(r.body.data.embedder).toContain('hash-trigram');
    expect(server.inputs.length).toBeGreaterThanOrEqual(r.body.data.documents);
    expect(server.inputs.every((i) => i.startsWith('passage: ') || i.startsWith('query: '))).toBe(
      true,
    );
  });

  test('dense search finds documents by similar spelling; hybrid fuses both rankings', async () => {
    // Plural spellings share most trigrams with the words of the vm-tools document.
    const dense = await exec('rag:search', {
      query: 'screenshots mouse keyboard hotkeys',
      mode: 'dense',
      top_k: 3,
    });
    expect(dense.body.code).toBe(0);
    expect(dense.body.data.mode).toBe('dense');
    expect(dense.body.data.results.map((x: { id: string }) => x.id)).toContain('vm-tools');
    expect(dense.body.data.results[0].score).toBeLessThanOrEqual(1.0001);
    const hybrid = await exec('rag:search', { query: 'error codes', mode: 'hybrid', top_k: 3 });
    expect(hybrid.body.code).toBe(0);
    expect(hybrid.body.data.results[0].id).toBe('error-codes');
    expect(hybrid.body.data.results[0].score).toBeGreaterThan(0);
    expect(server.inputs).toContain('query: error codes');
    const batch = await exec('rag:batch_search', {
      queries: ['warmup status', 'bash shell'],
      mode: 'hybrid',
      top_k: 2,
    });
    expect(batch.body.data.results).toHaveLength(2);
    expect(batch.body.data.results[0].results[0].id).toBe('warmup');
  });

  test('documents added by rag:index are embedded and found by dense search', async () => {
    const add = await exec('rag:index', {
      documents: [{ id: 'pango', content: 'Pangolins are scaly anteaters.' }],
    });
    expect(add.body.code).toBe(0);
    const r = await exec('rag:search', { query: 'pangolin scales', mode: 'dense', top_k: 1 });
    expect(r.body.data.results[0].id).toBe('pango');
    // Replacing the document replaces its vector too (other workers reload theirs).
    await exec('rag:index', {
      documents: [{ id: 'pango', content: 'Replaced text about marmosets.' }],
    });
    for (let i = 0; i < 4; i++) {
      const m = await exec('rag:search', { query: 'marmosets', mode: 'dense', top_k: 1 }, `w${i}`);
      expect(m.body.data.results[0].id).toBe('pango');
    }
  });

  test('a rag session can make hybrid the default mode', async () => {
    await t.post('/session/create', {
      worker_id: 'hy',
      resource_type: 'rag',
      config: { mode: 'hybrid', top_k: 1 },
    });
    const r = await exec('rag:search', { query: 'shutdown' }, 'hy');
    expect(r.body.data).toMatchObject({ mode: 'hybrid' });
    expect(r.body.data.results).toHaveLength(1);
  });

  test('the embedder failing at query time: 2001 with a clear message; bm25 still works', async () => {
    const cases: [EmbeddingServer['mode'], string][] = [
      ['http500', 'answered HTTP 500: model overloaded'],
      ['garbage', 'not JSON'],
      ['wrong-count', 'one data[].embedding per input'],
      ['nan', 'invalid embedding'],
    ];
    try {
      for (const [mode, message] of cases) {
        server.mode = mode;
        const r = await exec('rag:search', { query: 'session', mode: 'dense' });
        expect({ mode, code: r.body.code, status: r.status }).toEqual({
          mode,
          code: 2001,
          status: 502,
        });
        expect(r.body.message).toContain(message);
        const add = await exec('rag:index', { documents: [{ id: 'x', content: 'never stored' }] });
        expect(add.body.code).toBe(2001);
        const bm25 = await exec('rag:search', { query: 'session' });
        expect(bm25.body.code).toBe(0);
      }
    } finally {
      server.mode = 'ok';
    }
    const none = await exec('rag:search', { query: 'never stored', top_k: 20 });
    expect(none.body.data.results.map((x: { id: string }) => x.id)).not.toContain('x');
  });
});

test('the embedder down: 2001 at query time, 2003 at warmup; other backends work', async () => {
  const gone = startEmbeddingServer();
  const app = await buildApp({
    backends: {
      rag: {
        embedder: embedderConfig(gone.url),
        indexes: { plain: { embed: false } },
      },
    },
  });
  try {
    // Warm up while the server answers, then take it away.
    expect((await app.post('/warmup', { backends: ['rag'] })).body.code).toBe(0);
    await gone.stop();
    const r = await app.post('/execute', {
      worker_id: 'w',
      action: 'rag:search',
      params: { query: 'session', mode: 'hybrid' },
    });
    expect({ code: r.body.code, status: r.status }).toEqual({ code: 2001, status: 502 });
    expect(r.body.message).toContain('unreachable');
    expect(r.body.message).toContain(gone.url);
    const plain = await app.post('/execute', {
      worker_id: 'w',
      action: 'rag:search',
      params: { query: 'x', mode: 'dense', index: 'plain' },
    });
    expect(plain.body.code).toBe(1002);
    expect(plain.body.message).toContain('embed: false');
  } finally {
    await app.close();
  }
  const cold = await buildApp({ backends: { rag: { embedder: embedderConfig(gone.url) } } });
  try {
    const r = await cold.execute('w', 'rag:search', { query: 'session' });
    expect({ code: r.body.code, status: r.status }).toEqual({ code: 2003, status: 503 });
    expect(r.body.message).toContain('unreachable');
    const bash = await cold.execute('w', 'bash:run', { command: 'echo ok' });
    expect(bash.body.data.stdout).toBe('ok\n');
  } finally {
    await cold.close();
  }
});
