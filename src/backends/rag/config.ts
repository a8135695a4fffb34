// The rag section of the server config (`backends.rag`): named indexes and their corpora, the
// optional embedder, the worker pool and the limits every tool enforces.
import { Type as t, type Static } from '@sinclair/typebox';

export const INDEX_NAME = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

/** Defaults of the per-index quotas: what rag:index may grow an index to. */
export const DEFAULT_MAX_DOCUMENTS = 100_000;
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

const indexSchema = t.Object(
  {
    corpus: t.Optional(
      t.String({
        minLength: 1,
        description:
          'A JSONL file ({id?, title?, content, metadata?} per line) or a folder of .txt/.md ' +
          'files; relative paths are from the working directory. Absent: an empty index that ' +
          'rag:index fills.',
      }),
    ),
    format: t.Union([t.Literal('auto'), t.Literal('jsonl'), t.Literal('folder')], {
      default: 'auto',
      description: 'auto: a directory is a folder corpus, a file is JSONL',
    }),
    chunk_chars: t.Integer({
      default: 1500,
      minimum: 0,
      description:
        'Folder corpora: Markdown is cut at headings, then any piece longer than this at ' +
        'paragraphs; 0 keeps one document per file',
    }),
    stemming: t.Boolean({
      default: true,
      description: 'Porter stemming (English) on top of unicode61 with diacritics removed',
    }),
    embed: t.Boolean({
      default: true,
      description: 'Store dense vectors for this index when an embedder is configured',
    }),
    writable_by: t.Array(
      t.String({
        minLength: 1,
        maxLength: 128,
        pattern: '^[A-Za-z0-9._:*?-]+$',
        description: 'A glob over worker ids (* any run of characters, ? one), as in api_keys',
      }),
      {
        default: [],
        maxItems: 256,
        description:
          'Worker ids whose worker keys may write (rag:index) to this index; admin keys always ' +
          'may. Empty: admin only',
      },
    ),
    max_documents: t.Optional(
      t.Integer({
        minimum: 1,
        description:
          'Most documents rag:index may grow this index to (default: backends.rag.max_documents)',
      }),
    ),
    max_bytes: t.Optional(
      t.Integer({
        minimum: 1024,
        description:
          'Most bytes of stored text (title, content, metadata) rag:index may grow this index ' +
          'to (default: backends.rag.max_bytes)',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
);

const prefixes = {
  query_prefix: t.String({
    default: '',
    maxLength: 256,
    description: 'Put before every query (e.g. "query: " for E5 models)',
  }),
  document_prefix: t.String({
    default: '',
    maxLength: 256,
    description: 'Put before every document (e.g. "passage: " for E5 models)',
  }),
};

export const openAiEmbedderSchema = t.Object(
  {
    type: t.Literal('openai'),
    url: t.String({
      minLength: 1,
      description: 'Base URL (…/v1) or the full …/embeddings URL of an OpenAI-compatible API',
    }),
    model: t.String({ minLength: 1 }),
    api_key: t.Optional(t.String({ description: 'Sent as a Bearer token' })),
    dimensions: t.Optional(t.Integer({ minimum: 1, maximum: 16384 })),
    batch_size: t.Integer({ default: 64, minimum: 1, maximum: 2048 }),
    timeout_ms: t.Integer({ default: 30000, minimum: 100 }),
    max_input_chars: t.Integer({ default: 8000, minimum: 16 }),
    ...prefixes,
  },
  { additionalProperties: false },
);

export const onnxEmbedderSchema = t.Object(
  {
    type: t.Literal('onnx'),
    model_dir: t.String({
      minLength: 1,
      description: 'A directory with model.onnx and tokenizer.json (a BERT-style WordPiece model)',
    }),
    pooling: t.Union([t.Literal('mean'), t.Literal('cls')], { default: 'mean' }),
    max_tokens: t.Integer({ default: 256, minimum: 8, maximum: 8192 }),
    batch_size: t.Integer({ default: 16, minimum: 1, maximum: 1024 }),
    threads: t.Integer({ default: 1, minimum: 1, maximum: 64 }),
    max_input_chars: t.Integer({ default: 8000, minimum: 16 }),
    ...prefixes,
  },
  { additionalProperties: false },
);

export const embedderSchema = t.Union([openAiEmbedderSchema, onnxEmbedderSchema]);

export const ragConfigSchema = t.Object(
  {
    enabled: t.Boolean({ default: true }),
    indexes: t.Record(t.String({ pattern: INDEX_NAME }), indexSchema, {
      default: {},
      description:
        'Indexes by name; each is persisted as <data_dir>/rag/<name>.db and rebuilt only when ' +
        'its corpus changes. Without a "default" entry, "default" is the shipped demo corpus.',
    }),
    demo_corpus: t.Boolean({
      default: true,
      description: 'Serve the shipped demo corpus as "default" when indexes has no "default"',
    }),
    default_index: t.String({
      default: 'default',
      pattern: INDEX_NAME,
      description: 'The index calls use when they name none',
    }),
    embedder: t.Optional(embedderSchema),
    workers: t.Integer({
      default: 2,
      minimum: 1,
      maximum: 64,
      description: 'Search worker threads (each holds its own SQLite handles)',
    }),
    default_top_k: t.Integer({ default: 5, minimum: 1 }),
    default_mode: t.Union([t.Literal('bm25'), t.Literal('dense'), t.Literal('hybrid')], {
      default: 'bm25',
      description:
        'Mode of searches that name none (nor does their session); dense and hybrid need the ' +
        'embedder',
    }),
    max_top_k: t.Integer({ default: 100, minimum: 1, maximum: 10000 }),
    max_query_chars: t.Integer({ default: 4096, minimum: 16 }),
    max_batch_queries: t.Integer({ default: 64, minimum: 1 }),
    max_index_documents: t.Integer({
      default: 1000,
      minimum: 1,
      description: 'Most documents one rag:index call may add',
    }),
    max_index_bytes: t.Integer({
      default: 8 * 1024 * 1024,
      minimum: 1024,
      description: 'Most bytes (JSON) of documents one rag:index call may add',
    }),
    max_documents: t.Integer({
      default: DEFAULT_MAX_DOCUMENTS,
      minimum: 1,
      description: 'Default quota of every index: most documents rag:index may grow it to',
    }),
    max_bytes: t.Integer({
      default: DEFAULT_MAX_BYTES,
      minimum: 1024,
      description:
        'Default quota of every index: most bytes of stored text (title, content, metadata) ' +
        'rag:index may grow it to',
    }),
    common_term_ratio: t.Number({
      default: 0.1,
      exclusiveMinimum: 0,
      maximum: 1,
      description:
        'BM25 leaves out query words found in more than this share of the documents (when ' +
        'rarer words remain), because scoring them reads their whole posting list',
    }),
    common_term_min_docs: t.Integer({
      default: 20000,
      minimum: 0,
      description: 'Indexes smaller than this keep every query word',
    }),
    rrf_k: t.Integer({ default: 60, minimum: 1, description: 'Reciprocal-rank fusion constant' }),
  },
  { additionalProperties: false, default: {} },
);

export type RagConfig = Static<typeof ragConfigSchema>;
export type IndexConfig = Static<typeof indexSchema>;
export type EmbedderConfig = Static<typeof embedderSchema>;
export type OpenAiEmbedderConfig = Static<typeof openAiEmbedderSchema>;
export type OnnxEmbedderConfig = Static<typeof onnxEmbedderSchema>;
