// The rag tools (SPEC §6): their params schemas, the limits they enforce and the defaults a
// worker's rag session lends. The work itself happens in the worker pool. Integers use TypeBox's
// own Type.Integer: Elysia's t.Integer also accepts numeric strings and would pass "3" through.
// Answers lead with upstream's fields (`context`, `contexts`): upstream's rollout runner dumps
// `data` as JSON and keeps its first 4000 characters, so what the model must read comes first.
import { Type } from '@sinclair/typebox';
import { Type as t } from '@sinclair/typebox';
import type { Caller } from '../../core/auth.ts';
import { ParameterError } from '../../core/errors.ts';
import { VERSION } from '../../version.ts';
import { defineTool, type ToolDefinition } from '../backend.ts';
import { INDEX_NAME, type RagConfig } from './config.ts';
import type { SearchAnswer, SearchMode, StoredDocument } from './types.ts';
import type { AddOutcome, IndexStats, WorkerRequest } from './search-worker.ts';

export interface RagRuntime {
  /** The index names this server serves. */
  indexes(): string[];
  /** Throws 1006 unless `caller` may write to the index (admin, or matched by writable_by). */
  authorizeWrite(index: string, caller: Caller): void;
  /** True when dense/hybrid can run on the index (an embedder, and embed on for the index). */
  denseReason(index: string, mode: SearchMode): string | null;
  request<T>(req: WorkerRequest, pin?: number): Promise<T>;
  /** Where an index lives: its corpus (null when shipped or absent) and its SQLite file. */
  paths(index: string): { corpus: string | null; file: string };
}

const modeSchema = t.Union([t.Literal('bm25'), t.Literal('dense'), t.Literal('hybrid')], {
  description:
    'bm25 (lexical), dense (embeddings) or hybrid (both, fused by rank); default ' +
    'backends.rag.default_mode (bm25 unless configured)',
});

export function sessionConfigSchema(config: RagConfig) {
  return t.Object(
    {
      index: t.Optional(t.String({ pattern: INDEX_NAME, description: 'Default index' })),
      top_k: t.Optional(Type.Integer({ minimum: 1, maximum: config.max_top_k })),
      mode: t.Optional(modeSchema),
    },
    { additionalProperties: false },
  );
}

interface Defaults {
  index: string;
  k: number;
  mode: SearchMode;
}

export function ragTools(config: RagConfig, rt: RagRuntime): ToolDefinition[] {
  const queryString = t.String({
    minLength: 1,
    maxLength: config.max_query_chars,
    description: 'Free text; search operators are not interpreted',
  });
  const topK = t.Optional(
    Type.Integer({
      minimum: 1,
      maximum: config.max_top_k,
      description: `Results to return (default ${config.default_top_k}, or the session's top_k)`,
    }),
  );
  const index = t.Optional(
    t.String({
      pattern: INDEX_NAME,
      description: `Index name (default "${config.default_index}", or the session's index)`,
    }),
  );

  const defaults = (
    p: { index?: string; top_k?: number; mode?: SearchMode },
    session: Record<string, unknown> | null,
  ): Defaults => {
    const d: Defaults = {
      index: p.index ?? (session?.index as string | undefined) ?? config.default_index,
      k: p.top_k ?? (session?.top_k as number | undefined) ?? config.default_top_k,
      mode: p.mode ?? (session?.mode as SearchMode | undefined) ?? config.default_mode,
    };
    if (!rt.indexes().includes(d.index)) {
      throw new ParameterError(
        `Unknown index "${d.index}". Indexes on this server: ${rt.indexes().join(', ') || '(none)'}. ` +
          'Add one under backends.rag.indexes in the config.',
      );
    }
    const why = rt.denseReason(d.index, d.mode);
    if (why) throw new ParameterError(why);
    return d;
  };

  const nonBlank = (q: string, what: string) => {
    if (!q.trim()) throw new ParameterError(`${what} is empty: give some words to search for.`);
  };

  const resultSchema = t.Object({
    context: t.String({
      description: 'The results as one string ([title] then content, --- between)',
    }),
    query: t.String({ description: 'The query, echoed as upstream does' }),
    results: t.Array(
      t.Object({
        id: t.String(),
        score: t.Number(),
        title: t.Optional(t.String()),
        content: t.String(),
        metadata: t.Optional(t.Record(t.String(), t.Unknown())),
      }),
    ),
    index: t.String(),
    mode: modeSchema,
  });

  return [
    defineTool({
      name: 'search',
      description:
        'Search an index for the documents that best match a query. Returns the ranked ' +
        'results and `context`, the same results as one string ready for a prompt.',
      params: t.Object(
        { query: queryString, top_k: topK, index, mode: t.Optional(modeSchema) },
        { additionalProperties: false },
      ),
      returns: resultSchema,
      async run(p, ctx) {
        nonBlank(p.query, 'query');
        const d = defaults(p, ctx.sessionConfig);
        const [answer] = await rt.request<SearchAnswer[]>({
          op: 'search',
          index: d.index,
          queries: [p.query],
          k: d.k,
          mode: d.mode,
        });
        return {
          context: answer!.context,
          query: p.query,
          results: answer!.results,
          index: d.index,
          mode: d.mode,
        };
      },
    }),
    defineTool({
      name: 'batch_search',
      description:
        'Run several searches in one call: `contexts` holds one context string per query, in ' +
        'order, and `results` one {query, results, context} each.',
      params: t.Object(
        {
          queries: t.Array(queryString, { minItems: 1, maxItems: config.max_batch_queries }),
          top_k: topK,
          index,
          mode: t.Optional(modeSchema),
        },
        { additionalProperties: false },
      ),
      async run(p, ctx) {
        p.queries.forEach((q, i) => nonBlank(q, `queries[${i}]`));
        const d = defaults(p, ctx.sessionConfig);
        const answers = await rt.request<SearchAnswer[]>({
          op: 'search',
          index: d.index,
          queries: p.queries,
          k: d.k,
          mode: d.mode,
        });
        return {
          count: answers.length,
          contexts: answers.map((a) => a.context),
          results: answers.map((a, i) => ({ query: p.queries[i]!, ...a })),
          index: d.index,
          mode: d.mode,
        };
      },
    }),
    defineTool({
      name: 'index',
      description:
        'Add documents to an index (persisted). A document whose id exists is replaced; ' +
        'documents without an id get one (returned in ids).',
      params: t.Object(
        {
          documents: t.Array(
            t.Object(
              {
                id: t.Optional(t.String({ minLength: 1, maxLength: 512 })),
                title: t.Optional(t.String({ maxLength: 4096 })),
                content: t.String({ minLength: 1 }),
                metadata: t.Optional(t.Record(t.String(), t.Unknown())),
              },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: config.max_index_documents },
          ),
          index,
        },
        { additionalProperties: false },
      ),
      async run(p, ctx) {
        // Who may write comes first: a caller without the scope learns nothing else.
        const d = defaults({ index: p.index, mode: 'bm25' }, ctx.sessionConfig);
        rt.authorizeWrite(d.index, ctx.caller);
        const bytes = Buffer.byteLength(JSON.stringify(p.documents));
        if (bytes > config.max_index_bytes) {
          throw new ParameterError(
            `documents hold ${bytes} bytes, over the limit of ${config.max_index_bytes} per ` +
              'call: send them in smaller batches.',
          );
        }
        const docs: StoredDocument[] = p.documents.map((doc, i) => {
          if (!doc.content.trim()) {
            throw new ParameterError(`documents[${i}].content is empty: a document needs text.`);
          }
          const out: StoredDocument = {
            id: doc.id ?? `doc-${crypto.randomUUID()}`,
            content: doc.content,
          };
          if (doc.title) out.title = doc.title;
          if (doc.metadata) out.metadata = doc.metadata;
          return out;
        });
        // Writes go to one worker so they never wait on each other's locks.
        const outcome = await rt.request<AddOutcome>(
          { op: 'add', index: d.index, documents: docs },
          0,
        );
        return { index: d.index, ...outcome, ids: docs.map((doc) => doc.id) };
      },
    }),
    defineTool({
      name: 'stats',
      description:
        'Describe an index: documents, vectors, size on disk, embedder, tokenizer, corpus, ' +
        "last build and last update, also under upstream's names; `indexes` lists every index.",
      params: t.Object({ index }, { additionalProperties: false }),
      async run(p, ctx) {
        const d = defaults({ index: p.index, mode: 'bm25' }, ctx.sessionConfig);
        const stats = await rt.request<IndexStats>({ op: 'stats', index: d.index });
        const paths = rt.paths(d.index);
        return {
          ...stats,
          indexes: rt.indexes(),
          // Upstream's names for the same facts (its `index` object, flattened: `index` here
          // stays the index's name, as in every other rag answer).
          initialized: true,
          backend_version: VERSION,
          corpus_path: paths.corpus,
          corpus_size: stats.documents,
          index_path: paths.file,
          index_size: stats.documents,
          model_name: stats.embedder,
        };
      },
    }),
  ] as ToolDefinition[];
}
