// Searches one index through one SQLite handle: BM25 (FTS5), dense (exact top-k over the vectors
// held in memory) and hybrid (reciprocal-rank fusion). Lives in a worker thread; the evaluator
// also uses it in-process.
import { fuse, VectorMatrix } from './dense.ts';
import type { Embedder } from './embedder.ts';
import { contextOf } from './format.ts';
import { matchExpression, queryTerms } from './query.ts';
import type { DocumentRow, Hit, IndexStore } from './store.ts';
import { RagError, type SearchAnswer, type SearchMode, type SearchResult } from './types.ts';

export interface SearchOptions {
  commonTermRatio: number;
  commonTermMinDocs: number;
  rrfK: number;
}

/** Most document frequencies remembered per index before the cache starts over. */
const DF_CACHE_MAX = 100_000;

export class Searcher {
  private readonly vectors = new VectorMatrix();
  private vectorsLoaded = false;
  /** Bumped in the index's meta whenever a stored vector is replaced or removed. */
  private vectorsEpoch: string | null = null;
  private seenVersion = -1;
  private docCount = 0;
  private readonly df = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly store: IndexStore,
    private readonly options: SearchOptions,
    private readonly embedder: Embedder | null,
    private readonly embeds: boolean,
  ) {}

  /** Re-reads counts (and drops cached statistics) when another connection wrote the index. */
  private refresh(): void {
    const version = this.store.dataVersion();
    if (version === this.seenVersion) return;
    this.seenVersion = version;
    this.afterWrite();
  }

  /** After this handle or another wrote: counts, document frequencies and vectors may be stale. */
  afterWrite(): void {
    const before = this.docCount;
    this.docCount = this.store.documentCount();
    if (Math.abs(this.docCount - before) > before * 0.05) this.df.clear();
    if (this.vectorsLoaded) {
      const epoch = this.store.getMeta('vectors_epoch');
      if (epoch !== this.vectorsEpoch) {
        this.vectors.reset();
        this.vectorsEpoch = epoch;
      }
      this.vectors.loadNew(this.store);
    }
  }

  /** Loads the vectors now rather than at the first dense query. */
  preload(): void {
    this.refresh();
    if (this.embedder && this.embeds) this.ensureVectors();
  }

  private ensureVectors(): void {
    if (this.vectorsLoaded) return;
    this.vectorsEpoch = this.store.getMeta('vectors_epoch');
    this.vectors.loadNew(this.store);
    this.vectorsLoaded = true;
  }

  get documents(): number {
    this.refresh();
    return this.docCount;
  }

  get vectorDims(): number {
    return this.vectors.dims;
  }

  private docFrequency(term: string): number {
    let n = this.df.get(term);
    if (n === undefined) {
      n = this.store.matchCount(matchExpression([term]));
      if (this.df.size >= DF_CACHE_MAX) this.df.clear();
      this.df.set(term, n);
    }
    return n;
  }

  /**
   * Query words found in more than commonTermRatio of a large index are left out when rarer words
   * remain: their BM25 weight is small, and FTS5 reads their whole posting list to score them.
   */
  private bm25Terms(query: string): string[] {
    const terms = queryTerms(query);
    if (terms.length < 2 || this.docCount < this.options.commonTermMinDocs) return terms;
    const limit = this.docCount * this.options.commonTermRatio;
    const rare = terms.filter((t) => this.docFrequency(t) <= limit);
    return rare.length > 0 ? rare : terms;
  }

  bm25Hits(query: string, k: number): Hit[] {
    this.refresh();
    const terms = this.bm25Terms(query);
    if (terms.length === 0) return [];
    return this.store.bm25(matchExpression(terms), k);
  }

  denseHits(vector: Float32Array, k: number): Hit[] {
    this.refresh();
    this.ensureVectors();
    if (this.vectors.count > 0 && vector.length !== this.vectors.dims) {
      throw new RagError(
        'backend',
        `The embedder returned ${vector.length}-dimensional vectors but index "${this.name}" ` +
          `holds ${this.vectors.dims}-dimensional ones; restart the server so warmup re-embeds it.`,
      );
    }
    return this.vectors.topK(vector, k);
  }

  /** Checks that a mode can run on this index before any work is done. */
  requireMode(mode: SearchMode): void {
    if (mode === 'bm25') return;
    if (!this.embedder) {
      throw new RagError(
        'param',
        `mode "${mode}" needs an embedder: configure backends.rag.embedder, or use mode "bm25".`,
      );
    }
    if (!this.embeds) {
      throw new RagError(
        'param',
        `Index "${this.name}" has no vectors (embed: false in its config); use mode "bm25".`,
      );
    }
  }

  /** Searches several queries; dense and hybrid embed them in one embedder call. */
  async search(
    queries: readonly string[],
    k: number,
    mode: SearchMode,
    signal?: AbortSignal,
  ): Promise<SearchAnswer[]> {
    this.requireMode(mode);
    let vectors: Float32Array[] = [];
    if (mode !== 'bm25') vectors = await this.embedder!.embed(queries, 'query', signal);
    const depth = Math.min(Math.max(k * 4, 50), 1000);
    return queries.map((q, i) => {
      let hits: Hit[];
      if (mode === 'bm25') hits = this.bm25Hits(q, k);
      else if (mode === 'dense') hits = this.denseHits(vectors[i]!, k);
      else {
        hits = fuse(
          [this.bm25Hits(q, depth), this.denseHits(vectors[i]!, depth)],
          this.options.rrfK,
          k,
        );
      }
      const results = this.hydrate(hits);
      return { results, context: contextOf(results) };
    });
  }

  private hydrate(hits: readonly Hit[]): SearchResult[] {
    const rows = this.store.documents(hits.map((h) => h.rowid));
    const out: SearchResult[] = [];
    for (const h of hits) {
      const row = rows.get(h.rowid);
      if (row) out.push(toResult(row, h.score));
    }
    return out;
  }
}

function toResult(row: DocumentRow, score: number): SearchResult {
  const r: SearchResult = { id: row.id, score, content: row.content };
  if (row.title) r.title = row.title;
  if (row.metadata) r.metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  return r;
}
