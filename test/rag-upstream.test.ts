// The rag answers as upstream's pipelines read them: the rollout runner dumps `data` as JSON
// (indent 2, non-ASCII kept) and keeps its first 4000 characters, so `context` comes first and a
// top_k 10 answer on the demo corpus must survive that cut whole; batch_search and stats carry
// upstream's field names; the default top_k is the configured default_top_k.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { join } from 'node:path';
import { ROOT, buildApp, type TestApp } from './helpers.ts';

/** What the runner puts in the tool message: `data` dumped, cut at 4000 code points. */
function runnerMessage(envelope: { data: unknown }, max = 4000): string {
  const text = Array.from(JSON.stringify(envelope.data, null, 2));
  return text.length > max ? text.slice(0, max).join('') + '\n... (truncated)' : text.join('');
}

/** The demo corpus's documents as `context` lays them out. */
async function demoBlocks(): Promise<string[]> {
  const text = await Bun.file(join(ROOT, 'src/backends/rag/demo-corpus.jsonl')).text();
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { title?: string; content: string })
    .map((d) => (d.title ? `[${d.title}]\n${d.content}` : d.content));
}

let t: TestApp;
let ten: TestApp;
beforeAll(async () => {
  t = await buildApp();
  ten = await buildApp({ backends: { rag: { default_top_k: 10 } } });
});
afterAll(async () => {
  await t?.close();
  await ten?.close();
});

describe('rag:search under the runner cut', () => {
  test('context is the first key, then the query echo', async () => {
    const r = await t.execute('w1', 'rag:search', { query: 'session ttl' });
    expect(r.body.code).toBe(0);
    expect(Object.keys(r.body.data)).toEqual(['context', 'query', 'results', 'index', 'mode']);
    expect(r.body.data.query).toBe('session ttl');
  });

  test('any 10 demo documents fit in the cut, whatever the query', async () => {
    const escaped = (await demoBlocks()).map((b) => Array.from(JSON.stringify(b)).length - 2);
    const worst = escaped.sort((a, b) => b - a).slice(0, 10);
    const opening = Array.from('{\n  "context": "').length;
    const separators = 9 * JSON.stringify('\n---\n').slice(1, -1).length;
    expect(opening + worst.reduce((a, b) => a + b, 0) + separators + 1).toBeLessThanOrEqual(4000);
  });

  test('top_k 10: the whole context survives for every title as a query', async () => {
    const titles = (await demoBlocks()).map((b) => /^\[(.*)\]/.exec(b)![1]!);
    let full = 0;
    for (const query of [...titles, 'how do I run a command', 'error codes and timeouts']) {
      const r = await t.execute('w1', 'rag:search', { query, top_k: 10 });
      expect(r.body.code).toBe(0);
      if (r.body.data.results.length === 10) full++;
      const message = runnerMessage(r.body);
      expect(message).toContain(`"context": ${JSON.stringify(r.body.data.context)}`);
    }
    expect(full).toBeGreaterThan(titles.length / 2);
  });

  test('the default top_k is the configured default_top_k', async () => {
    const five = await t.execute('w1', 'rag:search', { query: 'session' });
    expect(five.body.data.results).toHaveLength(5);
    const r = await ten.execute('w1', 'rag:search', { query: 'session' });
    expect(r.body.data.results).toHaveLength(10);
    expect(r.body.data.context.split('\n---\n')).toHaveLength(10);
    const batch = await ten.execute('w1', 'rag:batch_search', { queries: ['session'] });
    expect(batch.body.data.results[0].results).toHaveLength(10);
    const tools = await ten.get('/tools');
    const search = tools.body.data.tools.find((x: { name: string }) => x.name === 'rag:search');
    expect(search.parameters.properties.top_k.description).toContain('default 10');
  });
});

test('backends.rag.default_mode is the mode of calls that name none', async () => {
  const dense = await buildApp({ backends: { rag: { default_mode: 'dense' } } });
  try {
    const r = await dense.execute('w1', 'rag:search', { query: 'session' });
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('mode "dense" needs an embedder');
    const bm25 = await dense.execute('w1', 'rag:search', { query: 'session', mode: 'bm25' });
    expect(bm25.body.data.mode).toBe('bm25');
    expect((await t.execute('w1', 'rag:search', { query: 'session' })).body.data.mode).toBe('bm25');
  } finally {
    await dense.close();
  }
});

describe("upstream's fields", () => {
  test('rag:batch_search leads with count and contexts, one per query in order', async () => {
    const queries = ['error codes', 'vm screenshot', 'api keys'];
    const r = await t.execute('w1', 'rag:batch_search', { queries, top_k: 2 });
    expect(r.body.code).toBe(0);
    const data = r.body.data;
    expect(Object.keys(data).slice(0, 2)).toEqual(['count', 'contexts']);
    expect(data.count).toBe(3);
    expect(data.contexts).toEqual(data.results.map((x: { context: string }) => x.context));
    expect(data.contexts[0]).toStartWith('[Error codes]\n');
    expect(data).not.toHaveProperty('errors');
  });

  test('rag:stats carries upstream names beside ours', async () => {
    const r = await t.execute('w1', 'rag:stats', {});
    expect(r.body.code).toBe(0);
    const data = r.body.data;
    expect(data).toMatchObject({
      index: 'default',
      initialized: true,
      corpus_path: null,
      corpus_size: data.documents,
      index_size: data.documents,
      model_name: null,
    });
    expect(data.backend_version).toMatch(/^\d+\.\d+\.\d+/);
    expect(data.index_path).toBe(join(t.dataDir, 'rag', 'default.db'));
  });
});
