// The ONNX embedder end to end with onnxruntime-node (an optional dependency, imported lazily):
// a tiny model written by the test, warmed up and queried through the API in worker threads.
// With ONNX_MODEL_DIR set, a real model directory (model.onnx + tokenizer.json) is tried too.
import { afterAll, expect, test } from 'bun:test';
import { join } from 'node:path';
import { WordPiece } from '../src/backends/rag/wordpiece.ts';
import { buildApp, cleanupServers, tempDir } from './helpers.ts';
import { SPECIAL, writeTinyModel } from './fixtures/rag/tiny-onnx.ts';

const dirs: string[] = [];
afterAll(() => cleanupServers([], dirs));

let runtime = true;
try {
  await import('onnxruntime-node');
} catch {
  runtime = false;
}

const WORDS = ['apple', 'orchard', 'pear', 'tree', 'ship', 'sail', 'harbor', 'boat', '##s', 'the'];

test('WordPiece: normaliser, sub-words, unknowns, [CLS]/[SEP], truncation', () => {
  const vocab = Object.fromEntries([...SPECIAL, ...WORDS].map((w, i) => [w, i]));
  const wp = new WordPiece(
    { model: { type: 'WordPiece', vocab, unk_token: '[UNK]' }, normalizer: { lowercase: true } },
    'test',
  );
  const id = (w: string) => vocab[w]!;
  expect(wp.encode('The ÁPPLES, boats!', 64).ids).toEqual([
    2,
    id('the'),
    id('apple'),
    id('##s'),
    1, // ","
    id('boat'),
    id('##s'),
    1, // "!"
    3,
  ]);
  expect(wp.encode('apple '.repeat(50), 6).ids).toEqual([2, 4, 4, 4, 4, 3]);
  expect(() => new WordPiece({ model: { type: 'BPE' } }, 'x.json')).toThrow('only WordPiece');
});

test.skipIf(!runtime)('dense search with a local ONNX model directory', async () => {
  const dir = tempDir('af-rag-onnx-');
  dirs.push(dir);
  const modelDir = join(dir, 'model');
  writeTinyModel(modelDir, WORDS);
  const t = await buildApp({
    backends: { rag: { embedder: { type: 'onnx', model_dir: modelDir }, indexes: { fruit: {} } } },
  });
  try {
    const add = await t.post('/execute', {
      worker_id: 'w',
      action: 'rag:index',
      params: {
        index: 'fruit',
        documents: [
          { id: 'fruit', content: 'apple orchard pear tree' },
          { id: 'sea', content: 'ship sail harbor boat' },
        ],
      },
    });
    expect(add.body.code).toBe(0);
    for (const [query, want] of [
      ['pears and apples', 'fruit'],
      ['boats in the harbor', 'sea'],
    ]) {
      const r = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { index: 'fruit', query, mode: 'dense', top_k: 2 },
      });
      expect(r.body.code).toBe(0);
      expect(r.body.data.results[0].id).toBe(want);
    }
    const stats = await t.post('/execute', {
      worker_id: 'w',
      action: 'rag:stats',
      params: { index: 'fruit' },
    });
    expect(stats.body.data).toMatchObject({ vectors: 2, dims: 8 });
    expect(stats.body.data.embedder).toContain('onnx');
  } finally {
    await t.close();
  }
});

test('an ONNX model directory without model.onnx: 2003 saying what is missing', async () => {
  const dir = tempDir('af-rag-onnx-');
  dirs.push(dir);
  const t = await buildApp({ backends: { rag: { embedder: { type: 'onnx', model_dir: dir } } } });
  try {
    const r = await t.execute('w', 'rag:search', { query: 'x' });
    expect({ code: r.body.code, status: r.status }).toEqual({ code: 2003, status: 503 });
    expect(r.body.message).toContain(`${dir} has no model.onnx`);
  } finally {
    await t.close();
  }
});

test.skipIf(!runtime || !process.env.ONNX_MODEL_DIR)(
  'a real model from ONNX_MODEL_DIR',
  async () => {
    const t = await buildApp({
      backends: { rag: { embedder: { type: 'onnx', model_dir: process.env.ONNX_MODEL_DIR! } } },
    });
    try {
      const r = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { query: 'how do I run a shell command?', mode: 'dense', top_k: 3 },
      });
      expect(r.body.code).toBe(0);
      expect(r.body.data.results.map((x: { id: string }) => x.id)).toContain('bash-run');
    } finally {
      await t.close();
    }
  },
  120_000,
);
