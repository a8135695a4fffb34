// rag corpora and warmup: folder chunking, JSONL fields, progress while a large index builds (with
// /health answering fast), broken corpora (2003 naming the file, the rest of the server up),
// persistence across a kill -9, rebuild on corpus change, and recovery of a corrupt index file.
import { afterAll, describe, expect, test } from 'bun:test';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chunkFile, pieces } from '../src/backends/rag/chunk.ts';
import { queryTerms, matchExpression } from '../src/backends/rag/query.ts';
import { buildApp, cleanupServers, startServer, tempDir, type ServerProcess } from './helpers.ts';

const dirs: string[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  await cleanupServers(servers, dirs);
});

function dir(): string {
  const d = tempDir('af-rag-');
  dirs.push(d);
  return d;
}

const ids = (r: { body: { data: { results: { id: string }[] } } }) =>
  r.body.data.results.map((x) => x.id);

describe('chunking rule', () => {
  test('markdown is cut at headings with the heading path in the title', () => {
    const md = [
      '# Guide',
      'Intro text.',
      '## Install',
      '### Linux',
      'apt-get install it.',
      '```sh',
      '# not a heading inside a fence',
      '```',
      '## Use',
      'Run it.',
    ].join('\n');
    const chunks = chunkFile('guide.md', md, true, 1000);
    expect(chunks.map((c) => c.title)).toEqual(['Guide', 'Guide › Install › Linux', 'Guide › Use']);
    expect(chunks[1]!.content).toContain('# not a heading inside a fence');
    expect(chunkFile('guide.md', md, true, 0)).toHaveLength(1);
    expect(chunkFile('notes.md', 'no heading', true, 100)[0]!.title).toBe('notes');
  });

  test('long text is cut between paragraphs, then sentences, within the limit', () => {
    const para = (n: number) => `Sentence ${n} is here. `.repeat(10).trim();
    const text = [para(1), para(2), para(3)].join('\n\n');
    const out = pieces(text, 450);
    expect(out.length).toBeGreaterThan(1);
    for (const p of out) expect(p.length).toBeLessThanOrEqual(450);
    expect(out.join(' ').replace(/\s+/g, ' ')).toBe(text.replace(/\s+/g, ' '));
    const long = pieces('word '.repeat(500), 100);
    for (const p of long) expect(p.length).toBeLessThanOrEqual(100);
  });

  test('query text never becomes FTS syntax', () => {
    expect(queryTerms('"a" AND b* (c) -d NEAR/2 e:f')).toEqual([
      'a',
      'and',
      'b',
      'c',
      'd',
      'near',
      '2',
      'e',
      'f',
    ]);
    expect(matchExpression(['x', 'y'])).toBe('"x" OR "y"');
    expect(queryTerms('*** --- ()')).toEqual([]);
  });
});

describe('corpora', () => {
  test('a folder of .md/.txt files: one document per file or per section, ids by path', async () => {
    const root = dir();
    const corpus = join(root, 'docs');
    mkdirSync(join(corpus, 'sub'), { recursive: true });
    mkdirSync(join(corpus, '.hidden'), { recursive: true });
    writeFileSync(
      join(corpus, 'guide.md'),
      '# Falconry guide\n\nIntro about hawks.\n\n## Hoods\n\nA hood calms the gyrfalcon.\n\n## Jesses\n\nLeather jesses hold the bird.\n',
    );
    writeFileSync(join(corpus, 'sub', 'notes.txt'), 'Plain notes about the peregrine stoop.');
    writeFileSync(join(corpus, 'sub', 'skip.json'), '{"content": "not a text file"}');
    writeFileSync(join(corpus, '.hidden', 'secret.md'), 'hidden osprey');
    writeFileSync(join(corpus, 'binary.md'), Buffer.from([0x6f, 0x73, 0, 0x70]));
    const t = await buildApp({
      backends: { rag: { indexes: { docs: { corpus } }, default_index: 'docs' } },
    });
    try {
      const hood = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { query: 'hood gyrfalcon', top_k: 1 },
      });
      expect(hood.body.code).toBe(0);
      expect(hood.body.data.results[0]).toMatchObject({
        id: 'guide.md#2',
        title: 'Falconry guide › Hoods',
        metadata: { path: 'guide.md', chunk: 2, heading: 'Hoods' },
      });
      const notes = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { query: 'peregrine', top_k: 5 },
      });
      expect(notes.body.data.results[0]).toMatchObject({ id: 'sub/notes.txt', title: 'notes' });
      const hidden = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { query: 'osprey json', top_k: 5 },
      });
      expect(hidden.body.data.results).toEqual([]);
      const stats = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:stats',
        params: {},
      });
      expect(stats.body.data).toMatchObject({ index: 'docs', documents: 4, source: corpus });
      expect(stats.body.data.indexes).toEqual(['default', 'docs']);
    } finally {
      await t.close();
    }
  });

  test('JSONL: id/_id, content/text/contents, line numbers as ids, blank lines skipped', async () => {
    const root = dir();
    const corpus = join(root, 'c.jsonl');
    writeFileSync(
      corpus,
      [
        JSON.stringify({ id: 'a', title: 'Alpha', content: 'aardvark burrow', metadata: { k: 1 } }),
        '',
        JSON.stringify({ _id: 42, text: 'beaver dam' }),
        JSON.stringify({ contents: 'capybara pool' }),
      ].join('\n'),
    );
    const t = await buildApp({ backends: { rag: { indexes: { default: { corpus } } } } });
    try {
      const s = async (query: string) =>
        (await t.post('/execute', { worker_id: 'w', action: 'rag:search', params: { query } })).body
          .data.results[0];
      expect(await s('aardvark')).toMatchObject({ id: 'a', title: 'Alpha', metadata: { k: 1 } });
      expect(await s('beaver')).toMatchObject({ id: '42', content: 'beaver dam' });
      expect(await s('capybara')).toMatchObject({ id: '4' });
    } finally {
      await t.close();
    }
  });
});

describe('warmup', () => {
  test('progress is documents indexed / total while /health stays fast', async () => {
    const root = dir();
    const corpus = join(root, 'big.jsonl');
    const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu'.split(' ');
    const lines: string[] = [];
    for (let i = 0; i < 60000; i++) {
      const body = Array.from({ length: 30 }, (_, j) => words[(i * 7 + j * 3) % words.length]);
      lines.push(JSON.stringify({ id: `d${i}`, content: `${body.join(' ')} uniq${i}` }));
    }
    writeFileSync(corpus, lines.join('\n'));
    const t = await buildApp({
      warmup: { at_start: false },
      backends: { rag: { indexes: { big: { corpus } }, demo_corpus: false, default_index: 'big' } },
    });
    try {
      const start = await t.post('/warmup', { backends: ['rag'], wait: false });
      expect(start.body.code).toBe(0);
      const seen: { progress: number; detail: string }[] = [];
      let worstHealth = 0;
      for (;;) {
        const h0 = performance.now();
        const health = await t.get('/health');
        worstHealth = Math.max(worstHealth, performance.now() - h0);
        expect(health.status).toBe(200);
        const st = (await t.get('/warmup/status')).body.data.backends.rag;
        if (st.warmed_up || st.error) break;
        if (st.progress !== undefined && st.detail)
          seen.push({ progress: st.progress, detail: st.detail });
        await Bun.sleep(5);
      }
      const mid = seen.filter((s) => s.progress > 0 && s.progress < 1);
      expect(mid.length).toBeGreaterThan(0);
      expect(mid.some((s) => /^big: \d+\/60000 documents indexed$/.test(s.detail))).toBe(true);
      const progress = seen.map((s) => s.progress);
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(worstHealth).toBeLessThan(100);
      const r = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { query: 'uniq31337' },
      });
      expect(ids(r)[0]).toBe('d31337');
    } finally {
      await t.close();
    }
  });

  test('a missing corpus: 2003 naming the file; bash and /health keep working', async () => {
    const missing = join(dir(), 'nowhere.jsonl');
    const t = await buildApp({ backends: { rag: { indexes: { lost: { corpus: missing } } } } });
    try {
      const r = await t.execute('w', 'rag:search', { query: 'x' });
      expect({ code: r.body.code, status: r.status }).toEqual({ code: 2003, status: 503 });
      expect(r.body.message).toContain(missing);
      expect(r.body.message).toContain('"lost"');
      expect((await t.get('/warmup/status')).body.data.backends.rag.error).toContain(missing);
      expect((await t.get('/health')).status).toBe(200);
      const bash = await t.execute('w', 'bash:run', { command: 'echo up' });
      expect(bash.body.data.stdout).toBe('up\n');
    } finally {
      await t.close();
    }
  });

  test('a corrupt corpus: 2003 naming the file and line', async () => {
    const corpus = join(dir(), 'bad.jsonl');
    writeFileSync(corpus, '{"content": "fine"}\n{"content": broken\n');
    const t = await buildApp({ backends: { rag: { indexes: { bad: { corpus } } } } });
    try {
      const r = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { query: 'x' },
      });
      expect({ code: r.body.code, status: r.status }).toEqual({ code: 2003, status: 503 });
      expect(r.body.message).toContain(`${corpus} line 2 is not valid JSON`);
      writeFileSync(corpus, '{"content": "fine"}\n{"title": "no content"}\n');
      const r2 = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { query: 'x' },
      });
      expect(r2.body.code).toBe(2003);
      expect(r2.body.message).toContain(`${corpus} line 2 has no "content"`);
      // Fixed: the next call warms up again and answers.
      writeFileSync(corpus, '{"content": "fine wombat"}\n');
      const r3 = await t.post('/execute', {
        worker_id: 'w',
        action: 'rag:search',
        params: { query: 'wombat', index: 'bad' },
      });
      expect(r3.body.code).toBe(0);
      expect(r3.body.data.results).toHaveLength(1);
    } finally {
      await t.close();
    }
  });
});

describe('persistence', () => {
  test('documents added by rag:index survive kill -9; the index is not rebuilt', async () => {
    const dataDir = dir();
    const a = await startServer({ dataDir, config: { log_level: 'silent' } });
    servers.push(a);
    const add = await a.post('/api/v1/execute', {
      worker_id: 'w',
      action: 'rag:index',
      params: { documents: [{ id: 'persist-1', content: 'The narwhal tusk is a tooth.' }] },
    });
    expect(add.body.code).toBe(0);
    const built = (await a.post('/execute', { worker_id: 'w', action: 'rag:stats', params: {} }))
      .body.data;
    await a.kill();
    const b = await startServer({ dataDir, config: { log_level: 'silent' } });
    servers.push(b);
    const r = await b.post('/execute', {
      worker_id: 'w',
      action: 'rag:search',
      params: { query: 'narwhal tooth', top_k: 1 },
    });
    expect(r.body.code).toBe(0);
    expect(ids(r)).toEqual(['persist-1']);
    const after = (await b.post('/execute', { worker_id: 'w', action: 'rag:stats', params: {} }))
      .body.data;
    expect(after.last_build).toBe(built.last_build);
    expect(after.documents).toBe(built.documents);
    await b.kill();
  });

  test('a changed corpus is rebuilt, keeping run-time documents; a corrupt file is rebuilt', async () => {
    const root = dir();
    const corpus = join(root, 'c.jsonl');
    writeFileSync(corpus, '{"id": "old", "content": "ocelot"}\n');
    const config = { backends: { rag: { indexes: { default: { corpus } } } } };
    const dataDir = join(root, 'data');
    const a = await startServer({ dataDir, config: { ...config, log_level: 'silent' } });
    servers.push(a);
    await a.post('/execute', {
      worker_id: 'w',
      action: 'rag:index',
      params: { documents: [{ id: 'rt', content: 'runtime rhinoceros' }] },
    });
    await a.kill();
    writeFileSync(corpus, '{"id": "new", "content": "jaguar"}\n');
    const b = await startServer({ dataDir, config: { ...config, log_level: 'silent' } });
    servers.push(b);
    const search = async (s: ServerProcess, query: string) =>
      ids(await s.post('/execute', { worker_id: 'w', action: 'rag:search', params: { query } }));
    expect(await search(b, 'jaguar')).toEqual(['new']);
    expect(await search(b, 'ocelot')).toEqual([]);
    expect(await search(b, 'rhinoceros')).toEqual(['rt']);
    await b.kill();
    const file = join(dataDir, 'rag', 'default.db');
    expect(statSync(file).size).toBeGreaterThan(0);
    rmSync(file + '-wal', { force: true });
    rmSync(file + '-shm', { force: true });
    writeFileSync(file, 'this is not a database '.repeat(200));
    const c = await startServer({ dataDir, config: { ...config, log_level: 'silent' } });
    servers.push(c);
    expect(await search(c, 'jaguar')).toEqual(['new']);
    await c.kill();
  });
});
