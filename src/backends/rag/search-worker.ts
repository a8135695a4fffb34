// A search worker of the rag pool. Holds its own SQLite handle per index (and its own embedder),
// and answers the requests the main thread sends it (pool.ts): open, search, add, stats, close.
import { fileSize, embeddingText } from './build.ts';
import type { EmbedderConfig } from './config.ts';
import { createEmbedder, type Embedder } from './embedder.ts';
import { enforceQuota, growth, UsageMeter, type Quota } from './quota.ts';
import { Searcher, type SearchOptions } from './searcher.ts';
import { IndexStore } from './store.ts';
import { RagError, type SearchMode, type StoredDocument } from './types.ts';

export interface WorkerIndex {
  file: string;
  embed: boolean;
  source: string;
  quota: Quota;
}

export interface WorkerInit {
  indexes: Record<string, WorkerIndex>;
  embedder: EmbedderConfig | null;
  options: SearchOptions;
}

export type WorkerRequest =
  | { op: 'init'; init: WorkerInit }
  | { op: 'open' }
  | { op: 'search'; index: string; queries: string[]; k: number; mode: SearchMode }
  | { op: 'add'; index: string; documents: StoredDocument[] }
  | { op: 'stats'; index: string }
  | { op: 'close' };

export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; kind: string; message: string };

export interface AddOutcome {
  added: number;
  updated: number;
  documents: number;
}

export interface IndexStats {
  index: string;
  documents: number;
  vectors: number;
  dims: number | null;
  size_bytes: number;
  embedder: string | null;
  tokenizer: string | null;
  source: string;
  last_build: string | null;
  last_update: string | null;
}

declare const self: Worker;

let init: WorkerInit | null = null;
const searchers = new Map<string, Searcher>();
const meters = new Map<string, UsageMeter>();
let embedder: Promise<Embedder> | null = null;

function getEmbedder(): Promise<Embedder> | null {
  if (!init?.embedder) return null;
  embedder ??= createEmbedder(init.embedder);
  return embedder;
}

async function searcher(name: string): Promise<Searcher> {
  let s = searchers.get(name);
  if (s) return s;
  const idx = init?.indexes[name];
  if (!idx) throw new RagError('param', `Unknown index "${name}".`);
  const e = getEmbedder();
  s = new Searcher(name, IndexStore.open(idx.file), init!.options, e ? await e : null, idx.embed);
  searchers.set(name, s);
  return s;
}

function closeAll(): void {
  for (const s of searchers.values()) s.store.close();
  searchers.clear();
  meters.clear();
}

async function add(name: string, documents: StoredDocument[]): Promise<AddOutcome> {
  const s = await searcher(name);
  let meter = meters.get(name);
  if (!meter) meters.set(name, (meter = new UsageMeter(s.store)));
  const m = meter;
  const checkQuota = () => {
    const delta = growth(s.store, documents);
    enforceQuota(name, init!.indexes[name]!.quota, m.current(), delta);
    return delta;
  };
  // Before the embedder is paid for, and again in the write transaction, which is what counts.
  checkQuota();
  const e = getEmbedder();
  const embeds = e !== null && init!.indexes[name]!.embed;
  const vectors = embeds ? await (await e!).embed(documents.map(embeddingText), 'document') : null;
  const dims = s.store.vectorDims();
  if (vectors && dims && vectors[0]!.length !== dims) {
    throw new RagError(
      'backend',
      `The embedder returned ${vectors[0]!.length}-dimensional vectors but index "${name}" ` +
        `holds ${dims}-dimensional ones; restart the server so warmup re-embeds it.`,
    );
  }
  let updated = 0;
  const delta = s.store.transaction(() => {
    const delta = checkQuota();
    documents.forEach((doc, i) => {
      const { rowid, replaced } = s.store.upsert(doc);
      if (replaced) updated++;
      if (vectors) s.store.putVector(rowid, vectors[i]!);
    });
    if (updated > 0) s.store.setMeta('vectors_epoch', `${Date.now()}-${Math.random()}`);
    s.store.setMeta('updated_at', new Date().toISOString());
    return delta;
  });
  m.wrote(delta);
  s.afterWrite();
  return { added: documents.length - updated, updated, documents: s.documents };
}

async function stats(name: string): Promise<IndexStats> {
  const s = await searcher(name);
  const idx = init!.indexes[name]!;
  const vectors = s.store.vectorCount();
  return {
    index: name,
    documents: s.documents,
    vectors,
    dims: s.store.vectorDims(),
    size_bytes: fileSize(idx.file),
    embedder: vectors > 0 ? s.store.getMeta('embedder_describe') : null,
    tokenizer: s.store.getMeta('tokenizer'),
    source: idx.source,
    last_build: s.store.getMeta('built_at'),
    last_update: s.store.getMeta('updated_at'),
  };
}

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.op) {
    case 'init':
      closeAll();
      init = req.init;
      embedder = null;
      return null;
    case 'open':
      for (const name of Object.keys(init?.indexes ?? {})) (await searcher(name)).preload();
      return null;
    case 'search': {
      const s = await searcher(req.index);
      return s.search(req.queries, req.k, req.mode);
    }
    case 'add':
      return add(req.index, req.documents);
    case 'stats':
      return stats(req.index);
    case 'close':
      closeAll();
      return null;
  }
}

self.onmessage = async (ev: MessageEvent<{ id: number; req: WorkerRequest }>) => {
  const { id, req } = ev.data;
  try {
    const value = await handle(req);
    self.postMessage({ id, ok: true, value } satisfies WorkerReply);
  } catch (err) {
    const kind = err instanceof RagError ? err.kind : 'internal';
    const message = err instanceof Error ? err.message : String(err);
    self.postMessage({ id, ok: false, kind, message } satisfies WorkerReply);
  }
};
