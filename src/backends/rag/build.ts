// Opening or (re)building one index file from its corpus, then embedding whatever has no vector
// yet. An index is rebuilt only when its corpus, tokenizer or layout changed; documents added at
// run time (rag:index) are carried over. A build writes a new file and renames it into place, so
// a crash mid-build leaves the previous index intact; embedding commits batch by batch and
// resumes where it stopped.
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import type { EmbedderConfig } from './config.ts';
import { fingerprint, openCorpus, type CorpusSource } from './corpus.ts';
import { createEmbedder, type Embedder } from './embedder.ts';
import { IndexStore, SCHEMA_VERSION, type DocumentRow, type TokenizerName } from './store.ts';
import { RagError, type StoredDocument } from './types.ts';

export interface BuildInput {
  name: string;
  /** The index file, <data_dir>/rag/<name>.db */
  file: string;
  source: CorpusSource;
  tokenizer: TokenizerName;
  embedder: EmbedderConfig | null;
  embed: boolean;
}

export interface BuildOutput {
  documents: number;
  vectors: number;
  rebuilt: boolean;
  embedded: number;
  /** Set when an unreadable index file was replaced by a fresh build. */
  recovered?: string;
}

export type Progress = (fraction: number, detail: string) => void;

const LOAD_BATCH = 5000;
const FTS_BATCH = 10000;

function removeDb(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
}

/** The reason the file at `file` must be rebuilt, or null when it is current. */
function staleReason(file: string, tokenizer: TokenizerName, print: string): string | null {
  if (!existsSync(file)) return 'new index';
  const store = IndexStore.open(file, { readonly: true });
  try {
    if (store.getMeta('schema_version') !== SCHEMA_VERSION) return 'index layout changed';
    if (store.getMeta('tokenizer') !== tokenizer) return 'tokenizer changed';
    if (store.getMeta('source_fingerprint') !== print) return 'corpus changed';
    if (store.getMeta('complete') !== '1') return 'previous build did not finish';
    return null;
  } finally {
    store.close();
  }
}

export async function ensureIndex(input: BuildInput, progress: Progress): Promise<BuildOutput> {
  const embedding = input.embedder !== null && input.embed;
  // Building the text index takes the first part of the progress bar, embedding the rest.
  const ftsShare = embedding ? 0.4 : 1;
  const print = fingerprint(input.source);
  let reason: string | null;
  let recovered: string | undefined;
  try {
    reason = staleReason(input.file, input.tokenizer, print);
  } catch (err) {
    if (input.source.kind === 'none') {
      throw new RagError(
        'warmup',
        `index file ${input.file} is unreadable (${(err as Error).message}) and index ` +
          `"${input.name}" has no corpus to rebuild it from. Move the file away to start empty.`,
      );
    }
    recovered = `${input.file} was unreadable (${(err as Error).message}); rebuilt from its corpus`;
    reason = 'unreadable index file';
  }
  let documents: number;
  if (reason !== null) {
    documents = build(input, print, (f, d) => progress(f * ftsShare, d), recovered !== undefined);
  } else {
    const store = IndexStore.open(input.file);
    documents = store.documentCount();
    store.close();
    progress(ftsShare, `${input.name}: ${documents}/${documents} documents indexed`);
  }
  let embedded = 0;
  let vectors = 0;
  if (embedding) {
    const embedder = await createEmbedder(input.embedder!);
    const store = IndexStore.open(input.file);
    try {
      embedded = await embedMissing(store, embedder, input.name, (f, d) =>
        progress(ftsShare + f * (1 - ftsShare), d),
      );
      vectors = store.vectorCount();
    } finally {
      store.close();
    }
  }
  progress(1, `${input.name}: ${documents} documents ready`);
  const out: BuildOutput = { documents, vectors, rebuilt: reason !== null, embedded };
  if (recovered) out.recovered = recovered;
  return out;
}

/** Writes a fresh index file next to the old one and renames it into place. */
function build(input: BuildInput, print: string, progress: Progress, oldBroken: boolean): number {
  const tmp = `${input.file}.building`;
  removeDb(tmp);
  let carried: DocumentRow[] = [];
  if (!oldBroken && existsSync(input.file)) {
    const old = IndexStore.open(input.file, { readonly: true });
    try {
      carried = old.runtimeDocuments();
    } finally {
      old.close();
    }
  }
  const corpus = openCorpus(input.source);
  const store = IndexStore.open(tmp, { tokenizer: input.tokenizer });
  try {
    store.db.exec('PRAGMA synchronous = OFF');
    const label = (done: number, total: number, unit: string) =>
      `${input.name}: ${done}/${total} ${unit} indexed`;
    let lastReport = 0;
    const report = (fraction: number, detail: string) => {
      const now = performance.now();
      if (now - lastReport < 100) return;
      lastReport = now;
      progress(fraction, detail);
    };
    progress(0, label(0, corpus.total, corpus.unit));
    // Loading rows is the first half of the text-index work, the FTS5 inverted index the second.
    let batch: StoredDocument[] = [];
    const flush = () => {
      store.transaction(() => {
        for (const d of batch) store.loadDocument(d);
      });
      batch = [];
    };
    for (const doc of corpus.read((done) =>
      report((0.5 * done) / Math.max(1, corpus.total), label(done, corpus.total, corpus.unit)),
    )) {
      batch.push(doc);
      if (batch.length >= LOAD_BATCH) flush();
    }
    flush();
    store.transaction(() => {
      for (const d of carried) store.loadDocument(rowDocument(d), 'runtime');
    });
    const max = store.maxRowid();
    const total = store.documentCount();
    for (let from = 1; from <= max; from += FTS_BATCH) {
      store.transaction(() => store.indexRange(from, from + FTS_BATCH - 1));
      const done = Math.min(total, from + FTS_BATCH - 1);
      report(0.5 + (0.45 * done) / Math.max(1, max), label(done, total, 'documents'));
    }
    store.optimize();
    store.setMeta('source_fingerprint', print);
    store.setMeta('source', describeSource(input.source));
    store.setMeta('built_at', new Date().toISOString());
    store.setMeta('complete', '1');
    store.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    store.close();
    removeDb(input.file);
    renameSync(tmp, input.file);
    return total;
  } catch (err) {
    try {
      store.close();
    } catch {
      // already closed
    }
    removeDb(tmp);
    throw err;
  }
}

function rowDocument(row: DocumentRow): StoredDocument {
  const d: StoredDocument = { id: row.id, content: row.content };
  if (row.title) d.title = row.title;
  if (row.metadata) d.metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  return d;
}

export function describeSource(source: CorpusSource): string {
  switch (source.kind) {
    case 'jsonl':
    case 'folder':
      return source.path;
    case 'text':
      return source.label;
    case 'none':
      return '(none: documents come from rag:index)';
  }
}

/** The text a document is embedded as. */
export function embeddingText(doc: { title?: string | null; content: string }): string {
  return doc.title ? `${doc.title}\n${doc.content}` : doc.content;
}

/**
 * Embeds every document that has no vector (all of them after an embedder change), committing
 * each batch, so an interrupted run resumes where it stopped.
 */
export async function embedMissing(
  store: IndexStore,
  embedder: Embedder,
  name: string,
  progress: Progress,
): Promise<number> {
  if (store.getMeta('embedder') !== embedder.id) {
    store.transaction(() => {
      store.clearVectors();
      store.setMeta('embedder', embedder.id);
      store.setMeta('embedder_describe', embedder.describe);
      store.setMeta('vectors_epoch', String(Date.now()));
    });
  }
  const total = store.countWithoutVector();
  let done = 0;
  let after = 0;
  const batchSize = Math.max(embedder.batchSize, 1) * 4;
  progress(0, `${name}: 0/${total} documents embedded`);
  for (;;) {
    const rows = store.documentsWithoutVector(after, batchSize);
    if (rows.length === 0) break;
    const vectors = await embedder.embed(rows.map(embeddingText), 'document');
    store.transaction(() => rows.forEach((r, i) => store.putVector(r.rowid, vectors[i]!)));
    after = rows[rows.length - 1]!.rowid;
    done += rows.length;
    progress(done / Math.max(1, total), `${name}: ${done}/${total} documents embedded`);
  }
  return done;
}

export function fileSize(file: string): number {
  let size = 0;
  for (const suffix of ['', '-wal']) {
    try {
      size += statSync(file + suffix).size;
    } catch {
      // absent
    }
  }
  return size;
}
