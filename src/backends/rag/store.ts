// One retrieval index on disk: a SQLite file with the documents, their FTS5 index and their dense
// vectors. Used by the build worker (bulk load), the pool workers (search, add) and the evaluator;
// each opens its own handle, which is how bun:sqlite wants to be shared across threads.
import { Database, type Statement } from 'bun:sqlite';
import type { StoredDocument } from './types.ts';

/** Bumped when the file layout changes: an index of another version is rebuilt from its corpus. */
export const SCHEMA_VERSION = '1';

export const TOKENIZERS = {
  porter: 'porter unicode61 remove_diacritics 2',
  unicode61: 'unicode61 remove_diacritics 2',
} as const;
export type TokenizerName = keyof typeof TOKENIZERS;

/** The bytes of text a row stores, as storedBytes() counts them for a document. */
const ROW_BYTES =
  'coalesce(length(CAST(title AS BLOB)), 0) + length(CAST(content AS BLOB)) + ' +
  'coalesce(length(CAST(metadata AS BLOB)), 0)';

/** Title matches weigh twice a body match in BM25 (columns: title, content). */
const BM25_WEIGHTS = '2.0, 1.0';

export interface DocumentRow {
  rowid: number;
  id: string;
  title: string | null;
  content: string;
  metadata: string | null;
}

export interface Hit {
  rowid: number;
  score: number;
}

export interface UpsertOutcome {
  rowid: number;
  /** True when a document with this id existed and was replaced. */
  replaced: boolean;
}

export class IndexStore {
  readonly db: Database;
  private readonly stmts = new Map<string, Statement>();

  private constructor(
    readonly path: string,
    db: Database,
  ) {
    this.db = db;
  }

  /** Opens (creating when absent) the index file; `tokenizer` applies only to a new file. */
  static open(path: string, opts: { tokenizer?: TokenizerName; readonly?: boolean } = {}) {
    const db = new Database(path, opts.readonly ? { readonly: true } : { create: true });
    db.exec('PRAGMA busy_timeout = 10000');
    if (!opts.readonly) db.exec('PRAGMA journal_mode = WAL');
    const store = new IndexStore(path, db);
    if (!opts.readonly) store.ensureSchema(opts.tokenizer ?? 'porter');
    return store;
  }

  private ensureSchema(tokenizer: TokenizerName): void {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS docs (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        title TEXT,
        content TEXT NOT NULL,
        metadata TEXT,
        origin TEXT NOT NULL DEFAULT 'corpus'
      );
      CREATE TABLE IF NOT EXISTS vectors (rowid INTEGER PRIMARY KEY, v BLOB NOT NULL);
    `);
    const hasFts = this.db
      .query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'docs_fts'")
      .get();
    if (!hasFts) {
      // External content: the text lives once, in docs; FTS5 keeps only the inverted index.
      this.db.exec(
        `CREATE VIRTUAL TABLE docs_fts USING fts5(title, content, content='docs', ` +
          `content_rowid='rowid', tokenize='${TOKENIZERS[tokenizer]}')`,
      );
      this.setMeta('tokenizer', tokenizer);
      this.setMeta('schema_version', SCHEMA_VERSION);
    }
  }

  private stmt(sql: string): Statement {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  getMeta(key: string): string | null {
    const row = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as {
      value: string;
    } | null;
    return row?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.stmt(
      'INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ).run(key, value);
  }

  deleteMeta(key: string): void {
    this.stmt('DELETE FROM meta WHERE key = ?').run(key);
  }

  documentCount(): number {
    return (this.stmt('SELECT count(*) AS n FROM docs').get() as { n: number }).n;
  }

  /** Documents and bytes of stored text (what the quotas count); reads every row. */
  usage(): { documents: number; bytes: number } {
    return this.stmt(
      `SELECT count(*) AS documents, coalesce(sum(${ROW_BYTES}), 0) AS bytes FROM docs`,
    ).get() as { documents: number; bytes: number };
  }

  /** The stored bytes of the documents with these ids that exist. */
  storedBytesOf(ids: readonly string[]): Map<string, number> {
    const rows = this.stmt(
      `SELECT id, ${ROW_BYTES} AS bytes FROM docs WHERE id IN (SELECT value FROM json_each(?))`,
    ).all(JSON.stringify(ids)) as { id: string; bytes: number }[];
    return new Map(rows.map((r) => [r.id, r.bytes]));
  }

  vectorCount(): number {
    return (this.stmt('SELECT count(*) AS n FROM vectors').get() as { n: number }).n;
  }

  /** The length of the stored vectors, or null when there are none. */
  vectorDims(): number | null {
    const row = this.stmt('SELECT length(v) / 4 AS d FROM vectors LIMIT 1').get() as {
      d: number;
    } | null;
    return row?.d ?? null;
  }

  /** Changes when another connection commits (SQLite's own counter; cheap to read). */
  dataVersion(): number {
    return (this.stmt('PRAGMA data_version').get() as { data_version: number }).data_version;
  }

  /**
   * Bulk load of a corpus document: the docs row only (the FTS index is filled afterwards by
   * indexRange, much faster than row by row). A repeated id keeps its row and takes the new text.
   */
  loadDocument(doc: StoredDocument, origin = 'corpus'): void {
    this.stmt(
      `INSERT INTO docs(id, title, content, metadata, origin) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET title = excluded.title, content = excluded.content,
         metadata = excluded.metadata, origin = excluded.origin`,
    ).run(doc.id, doc.title ?? null, doc.content, metadataText(doc.metadata), origin);
  }

  maxRowid(): number {
    return (this.stmt('SELECT coalesce(max(rowid), 0) AS m FROM docs').get() as { m: number }).m;
  }

  /** Indexes the docs rows with rowid in [from, to] into FTS5 (after loadDocument). */
  indexRange(from: number, to: number): number {
    return this.stmt(
      'INSERT INTO docs_fts(rowid, title, content) SELECT rowid, title, content FROM docs ' +
        'WHERE rowid BETWEEN ? AND ?',
    ).run(from, to).changes;
  }

  /** Merges the FTS5 segments into one: smaller and faster to query once a bulk load is done. */
  optimize(): void {
    this.db.exec("INSERT INTO docs_fts(docs_fts) VALUES ('optimize')");
  }

  /** Adds or replaces one document with its FTS entry (run-time additions; call in a transaction). */
  upsert(doc: StoredDocument, origin = 'runtime'): UpsertOutcome {
    const old = this.stmt('SELECT rowid, title, content FROM docs WHERE id = ?').get(doc.id) as {
      rowid: number;
      title: string | null;
      content: string;
    } | null;
    if (old) {
      this.stmt(
        "INSERT INTO docs_fts(docs_fts, rowid, title, content) VALUES ('delete', ?, ?, ?)",
      ).run(old.rowid, old.title, old.content);
      this.stmt(
        'UPDATE docs SET title = ?, content = ?, metadata = ?, origin = ? WHERE rowid = ?',
      ).run(doc.title ?? null, doc.content, metadataText(doc.metadata), origin, old.rowid);
      this.stmt('DELETE FROM vectors WHERE rowid = ?').run(old.rowid);
    } else {
      this.stmt(
        'INSERT INTO docs(id, title, content, metadata, origin) VALUES (?, ?, ?, ?, ?)',
      ).run(doc.id, doc.title ?? null, doc.content, metadataText(doc.metadata), origin);
    }
    const rowid = old
      ? old.rowid
      : (this.stmt('SELECT last_insert_rowid() AS r').get() as { r: number }).r;
    this.stmt('INSERT INTO docs_fts(rowid, title, content) VALUES (?, ?, ?)').run(
      rowid,
      doc.title ?? null,
      doc.content,
    );
    return { rowid, replaced: old !== null };
  }

  putVector(rowid: number, v: Float32Array): void {
    this.stmt('INSERT OR REPLACE INTO vectors(rowid, v) VALUES (?, ?)').run(
      rowid,
      new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
    );
  }

  clearVectors(): void {
    this.db.exec('DELETE FROM vectors');
  }

  /** Documents that have no vector yet, in rowid order, `limit` at a time after `afterRowid`. */
  documentsWithoutVector(afterRowid: number, limit: number): DocumentRow[] {
    return this.stmt(
      'SELECT d.rowid AS rowid, d.id AS id, d.title AS title, d.content AS content, ' +
        'd.metadata AS metadata FROM docs d LEFT JOIN vectors v ON v.rowid = d.rowid ' +
        'WHERE v.rowid IS NULL AND d.rowid > ? ORDER BY d.rowid LIMIT ?',
    ).all(afterRowid, limit) as DocumentRow[];
  }

  countWithoutVector(): number {
    return (
      this.stmt(
        'SELECT count(*) AS n FROM docs d LEFT JOIN vectors v ON v.rowid = d.rowid WHERE v.rowid IS NULL',
      ).get() as { n: number }
    ).n;
  }

  /** Vectors with rowid > afterRowid, in rowid order (for loading the in-memory matrix). */
  vectorsAfter(afterRowid: number): { rowid: number; v: Uint8Array }[] {
    return this.stmt('SELECT rowid, v FROM vectors WHERE rowid > ? ORDER BY rowid').all(
      afterRowid,
    ) as { rowid: number; v: Uint8Array }[];
  }

  /** Runtime-added documents, kept across a rebuild of the corpus. */
  runtimeDocuments(): DocumentRow[] {
    return this.stmt(
      "SELECT rowid, id, title, content, metadata FROM docs WHERE origin = 'runtime' ORDER BY rowid",
    ).all() as DocumentRow[];
  }

  /** Documents matching an FTS5 expression (used to measure a term's document frequency). */
  matchCount(expr: string): number {
    return (
      this.stmt('SELECT count(*) AS n FROM docs_fts WHERE docs_fts MATCH ?').get(expr) as {
        n: number;
      }
    ).n;
  }

  /** BM25 top-k for an FTS5 expression; higher score is better (FTS5's bm25 is negated). */
  bm25(expr: string, limit: number): Hit[] {
    return this.stmt(
      `SELECT rowid, -bm25(docs_fts, ${BM25_WEIGHTS}) AS score FROM docs_fts ` +
        `WHERE docs_fts MATCH ? ORDER BY bm25(docs_fts, ${BM25_WEIGHTS}) LIMIT ?`,
    ).all(expr, limit) as Hit[];
  }

  /** The rows of the given rowids (any order). */
  documents(rowids: readonly number[]): Map<number, DocumentRow> {
    const out = new Map<number, DocumentRow>();
    if (rowids.length === 0) return out;
    const rows = this.stmt(
      'SELECT rowid, id, title, content, metadata FROM docs WHERE rowid IN ' +
        '(SELECT value FROM json_each(?))',
    ).all(JSON.stringify(rowids)) as DocumentRow[];
    for (const r of rows) out.set(r.rowid, r);
    return out;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    for (const s of this.stmts.values()) s.finalize();
    this.stmts.clear();
    this.db.close();
  }
}

function metadataText(metadata: Record<string, unknown> | undefined): string | null {
  return metadata === undefined ? null : JSON.stringify(metadata);
}

/** The bytes of text a document takes once stored: title, content and metadata as UTF-8. */
export function storedBytes(doc: StoredDocument): number {
  const metadata = metadataText(doc.metadata);
  return (
    Buffer.byteLength(doc.title ?? '') +
    Buffer.byteLength(doc.content) +
    (metadata === null ? 0 : Buffer.byteLength(metadata))
  );
}
