// The rag backend through the HTTP layer: the shipped demo corpus, every bad input of issue 3
// with its exact code and status, rag:index, session defaults and 64 concurrent searches.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { buildApp, type TestApp } from './helpers.ts';

const LIMITS = {
  max_query_chars: 200,
  max_top_k: 20,
  max_batch_queries: 4,
  max_index_documents: 3,
  max_index_bytes: 4096,
};

let t: TestApp;
beforeAll(async () => {
  t = await buildApp({ backends: { rag: LIMITS } });
});
afterAll(async () => {
  await t.close();
});

const exec = (action: string, params: unknown, worker = 'w1') =>
  t.post('/execute', { worker_id: worker, action, params });

async function expectError(action: string, params: unknown, code: number, status: number) {
  const r = await exec(action, params);
  expect({ code: r.body.code, status: r.status }).toEqual({ code, status });
  expect(r.body.message).not.toContain('    at ');
  return r;
}

describe('demo corpus', () => {
  test('rag:search answers from the shipped corpus at once', async () => {
    const r = await exec('rag:search', { query: 'how do I create a session?' });
    expect(r.status).toBe(200);
    expect(r.body.code).toBe(0);
    const { results, context } = r.body.data;
    expect(results).toHaveLength(5);
    expect(results.map((x: { id: string }) => x.id)).toContain('session-create');
    const top = results[0];
    expect(typeof top.score).toBe('number');
    expect(top.title).toBeString();
    expect(top.metadata).toBeObject();
    expect(context).toContain(`[${top.title}]\n${top.content}`);
    expect(context.split('\n---\n')).toHaveLength(5);
    expect(r.body.meta).toMatchObject({ resource_type: 'rag', session_id: null });
    expect(r.body.meta.temporary_session).toBe(false);
  });

  test('stemming and diacritics: "Timeouts" finds "timeout", "sessión" finds "session"', async () => {
    const a = await exec('rag:search', { query: 'Timeouts', top_k: 3 });
    expect(a.body.data.results.map((x: { id: string }) => x.id)).toContain('timeouts');
    const b = await exec('rag:search', { query: 'sessión destroyed', top_k: 3 });
    expect(b.body.data.results[0].id).toBe('session-destroy');
  });

  test('rag:stats describes the index', async () => {
    const r = await exec('rag:stats', {});
    expect(r.body.code).toBe(0);
    expect(r.body.data).toMatchObject({
      index: 'default',
      vectors: 0,
      embedder: null,
      tokenizer: 'porter',
      indexes: ['default'],
    });
    expect(r.body.data.documents).toBeGreaterThan(30);
    expect(r.body.data.size_bytes).toBeGreaterThan(0);
    expect(Date.parse(r.body.data.last_build)).not.toBeNaN();
  });

  test('rag:batch_search answers each query', async () => {
    const r = await exec('rag:batch_search', {
      queries: ['error codes', 'vm screenshot'],
      top_k: 2,
    });
    expect(r.body.code).toBe(0);
    const res = r.body.data.results;
    expect(res.map((x: { query: string }) => x.query)).toEqual(['error codes', 'vm screenshot']);
    expect(res[0].results[0].id).toBe('error-codes');
    expect(res[1].results[0].id).toBe('vm-tools');
    expect(res[1].results).toHaveLength(2);
    expect(res[1].context).toContain('vm:screenshot');
  });

  test('the tools are listed with their schemas', async () => {
    const r = await t.get('/tools');
    const names = r.body.data.tools.map((x: { name: string }) => x.name);
    for (const n of ['rag:search', 'rag:batch_search', 'rag:index', 'rag:stats']) {
      expect(names).toContain(n);
    }
    const search = r.body.data.tools.find((x: { name: string }) => x.name === 'rag:search');
    expect(search.parameters.properties.top_k.maximum).toBe(LIMITS.max_top_k);
    expect(search.parameters.properties.query.maxLength).toBe(LIMITS.max_query_chars);
  });
});

describe('bad input', () => {
  test('empty query: 1002', async () => {
    await expectError('rag:search', { query: '' }, 1002, 400);
  });

  test('whitespace query: 1002', async () => {
    const r = await expectError('rag:search', { query: ' \t\n ' }, 1002, 400);
    expect(r.body.message).toContain('query is empty');
  });

  test('missing query: 1002', async () => {
    await expectError('rag:search', {}, 1002, 400);
  });

  test('query over the length limit: 1002', async () => {
    await expectError('rag:search', { query: 'a'.repeat(LIMITS.max_query_chars + 1) }, 1002, 400);
    const ok = await exec('rag:search', { query: 'a'.repeat(LIMITS.max_query_chars) });
    expect(ok.body.code).toBe(0);
  });

  test('top_k <= 0, above the maximum, or not an integer: 1002', async () => {
    for (const top_k of [0, -1, LIMITS.max_top_k + 1, 2.5, '3']) {
      await expectError('rag:search', { query: 'session', top_k }, 1002, 400);
    }
    const ok = await exec('rag:search', { query: 'session', top_k: LIMITS.max_top_k });
    expect(ok.body.code).toBe(0);
  });

  test('unknown index: 1002 on every tool', async () => {
    const r = await expectError('rag:search', { query: 'x', index: 'nope' }, 1002, 400);
    expect(r.body.message).toContain('Unknown index "nope"');
    await expectError('rag:batch_search', { queries: ['x'], index: 'nope' }, 1002, 400);
    await expectError('rag:index', { documents: [{ content: 'x' }], index: 'nope' }, 1002, 400);
    await expectError('rag:stats', { index: 'nope' }, 1002, 400);
    await expectError('rag:search', { query: 'x', index: '../../etc/passwd' }, 1002, 400);
  });

  test('unknown mode: 1002; an unknown field is ignored and listed', async () => {
    await expectError('rag:search', { query: 'x', mode: 'fuzzy' }, 1002, 400);
    const r = await exec('rag:search', { query: 'x', limit: 3 });
    expect(r.body.code).toBe(0);
    expect(r.body.meta.ignored_params).toEqual(['limit']);
  });

  test('dense and hybrid without an embedder: 1002 naming the fix, never a silent BM25', async () => {
    for (const mode of ['dense', 'hybrid']) {
      const r = await expectError('rag:search', { query: 'session', mode }, 1002, 400);
      expect(r.body.message).toContain('needs an embedder');
      expect(r.body.message).toContain('backends.rag.embedder');
    }
    await expectError('rag:batch_search', { queries: ['x'], mode: 'dense' }, 1002, 400);
  });

  test('batch_search: no queries, a blank one, too many: 1002', async () => {
    await expectError('rag:batch_search', { queries: [] }, 1002, 400);
    const r = await expectError('rag:batch_search', { queries: ['ok', '  '] }, 1002, 400);
    expect(r.body.message).toContain('queries[1]');
    const many = Array.from({ length: LIMITS.max_batch_queries + 1 }, (_, i) => `q${i}`);
    await expectError('rag:batch_search', { queries: many }, 1002, 400);
  });

  test('documents without content: 1002', async () => {
    await expectError('rag:index', { documents: [{ title: 'no body' }] }, 1002, 400);
    await expectError('rag:index', { documents: [{ content: '' }] }, 1002, 400);
    const r = await expectError(
      'rag:index',
      { documents: [{ content: 'ok' }, { content: '  ' }] },
      1002,
      400,
    );
    expect(r.body.message).toContain('documents[1].content is empty');
    await expectError('rag:index', { documents: [] }, 1002, 400);
    await expectError('rag:index', {}, 1002, 400);
  });

  test('a document batch over the size limit (count or bytes): 1002, nothing added', async () => {
    const before = (await exec('rag:stats', {})).body.data.documents;
    const docs = Array.from({ length: LIMITS.max_index_documents + 1 }, (_, i) => ({
      content: `doc ${i}`,
    }));
    await expectError('rag:index', { documents: docs }, 1002, 400);
    const big = [{ content: 'x'.repeat(LIMITS.max_index_bytes) }];
    const r = await expectError('rag:index', { documents: big }, 1002, 400);
    expect(r.body.message).toContain('over the limit');
    expect((await exec('rag:stats', {})).body.data.documents).toBe(before);
  });

  test('FTS operator characters are plain text: answers normally', async () => {
    const queries = [
      '"unbalanced quote',
      'AND',
      'OR NOT',
      'session AND OR NOT NEAR(',
      '*',
      'sess*',
      '-session',
      '(timeout',
      'timeout)',
      'NEAR(session timeout, 2)',
      'title:session',
      '^session',
      'a + b - c',
      "it's the worker's session",
      '{}[]<>|\\/@#$%&=~`',
      '🙂 session 🙂',
      '\u0301\u0301',
      'ÉRROR CÓDES',
      'SELECT * FROM docs; --',
    ];
    for (const query of queries) {
      const r = await exec('rag:search', { query, top_k: 3 });
      expect({ query, code: r.body.code, status: r.status }).toEqual({
        query,
        code: 0,
        status: 200,
      });
      expect(Array.isArray(r.body.data.results)).toBe(true);
    }
    const none = await exec('rag:search', { query: '***' });
    expect(none.body.data).toMatchObject({ results: [], context: 'No documents found.' });
    const codes = await exec('rag:search', { query: 'ÉRROR CÓDES', top_k: 1 });
    expect(codes.body.data.results[0].id).toBe('error-codes');
  });
});

describe('rag:index', () => {
  test('adds, persists in the index, replaces by id, generates ids', async () => {
    const r = await exec('rag:index', {
      documents: [
        {
          id: 'zebra-1',
          title: 'Zebras',
          content: 'The quagga zebra lived in South Africa.',
          metadata: { n: 1 },
        },
        { content: 'Okapis are related to giraffes; a quagga is not one.' },
      ],
    });
    expect(r.body.code).toBe(0);
    expect(r.body.data).toMatchObject({ index: 'default', added: 2, updated: 0 });
    expect(r.body.data.ids[0]).toBe('zebra-1');
    expect(r.body.data.ids[1]).toMatch(/^doc-/);
    const s = await exec('rag:search', { query: 'quagga zebra', top_k: 2 });
    expect(s.body.data.results[0]).toMatchObject({
      id: 'zebra-1',
      title: 'Zebras',
      metadata: { n: 1 },
    });
    const again = await exec('rag:index', {
      documents: [{ id: 'zebra-1', content: 'Replaced: the mountain zebra climbs.' }],
    });
    expect(again.body.data).toMatchObject({ added: 0, updated: 1 });
    const s2 = await exec('rag:search', { query: 'quagga', top_k: 5 });
    expect(s2.body.data.results.map((x: { id: string }) => x.id)).not.toContain('zebra-1');
    const s3 = await exec('rag:search', { query: 'mountain zebra climbs', top_k: 1 });
    expect(s3.body.data.results[0]).toMatchObject({ id: 'zebra-1' });
    expect(s3.body.data.results[0].title).toBeUndefined();
  });
});

describe('session defaults', () => {
  test('a rag session lends top_k and index; the call still wins', async () => {
    const c = await t.post('/session/create', {
      worker_id: 'sess-w',
      resource_type: 'rag',
      config: { top_k: 2 },
    });
    expect(c.body.code).toBe(0);
    const a = await exec('rag:search', { query: 'session' }, 'sess-w');
    expect(a.body.data.results).toHaveLength(2);
    expect(a.body.meta.session_id).toBe(c.body.data.session_id);
    const b = await exec('rag:search', { query: 'session', top_k: 4 }, 'sess-w');
    expect(b.body.data.results).toHaveLength(4);
    const other = await exec('rag:search', { query: 'session' }, 'no-session');
    expect(other.body.data.results).toHaveLength(5);
  });

  test('a session with a bad default: 1002 at create, or at use for an unknown index', async () => {
    const bad = await t.post('/session/create', {
      worker_id: 'bad-w',
      resource_type: 'rag',
      config: { top_k: 0 },
    });
    expect({ code: bad.body.code, status: bad.status }).toEqual({ code: 1002, status: 400 });
    await t.post('/session/create', {
      worker_id: 'idx-w',
      resource_type: 'rag',
      session_config: { index: 'missing' },
    });
    const r = await exec('rag:search', { query: 'x' }, 'idx-w');
    expect({ code: r.body.code, status: r.status }).toEqual({ code: 1002, status: 400 });
  });
});

test('64 concurrent searches all answer correctly', async () => {
  const docs = Array.from({ length: 64 }, (_, i) => ({
    id: `conc-${i}`,
    content: `Concurrency marker token${i}x appears only here, with filler words.`,
  }));
  for (let i = 0; i < docs.length; i += LIMITS.max_index_documents) {
    const r = await exec('rag:index', { documents: docs.slice(i, i + LIMITS.max_index_documents) });
    expect(r.body.code).toBe(0);
  }
  const answers = await Promise.all(
    docs.map((_, i) => exec('rag:search', { query: `token${i}x`, top_k: 1 }, `c${i}`)),
  );
  answers.forEach((r, i) => {
    expect(r.body.code).toBe(0);
    expect(r.body.data.results.map((x: { id: string }) => x.id)).toEqual([`conc-${i}`]);
  });
});
