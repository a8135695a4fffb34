// The rag backend (SPEC §6): shared, sessionless retrieval over named indexes. Warmup opens or
// builds each index in a one-shot worker (build-worker.ts), then starts the search pool
// (pool.ts → search-worker.ts); no search or build ever runs on the HTTP loop.
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runWorkerTask } from '../../core/workers.ts';
import type { Backend, BackendEnv } from '../backend.ts';
import { defineBackendModule } from '../backend.ts';
import { describeSource, type BuildInput, type BuildOutput } from './build.ts';
import { ragConfigSchema, type IndexConfig, type RagConfig } from './config.ts';
import { writeGuard, type WritePolicy } from './access.ts';
import type { CorpusSource } from './corpus.ts';
import demoCorpus from './demo-corpus.jsonl' with { type: 'text' };
import { WorkerPool } from './pool.ts';
import type { Quota } from './quota.ts';
import { ragTools, sessionConfigSchema } from './tools.ts';
import type { WorkerInit } from './search-worker.ts';
import { workerUrl } from '../../core/workers.ts';

export { ragConfigSchema };

interface IndexSpec {
  name: string;
  file: string;
  source: CorpusSource;
  config: IndexConfig;
  writers: WritePolicy;
  quota: Quota;
}

function sourceOf(config: IndexConfig): CorpusSource {
  if (config.corpus === undefined) return { kind: 'none' };
  const path = resolve(config.corpus);
  let format = config.format;
  if (format === 'auto') {
    let dir = false;
    try {
      dir = statSync(path).isDirectory();
    } catch {
      // missing: reported by the build as a missing corpus file
    }
    format = dir ? 'folder' : 'jsonl';
  }
  return format === 'folder'
    ? { kind: 'folder', path, chunkChars: config.chunk_chars }
    : { kind: 'jsonl', path };
}

/** An index's quota: its own limits, else the backend-wide ones, with the keys that set them. */
function quotaOf(config: RagConfig, c: IndexConfig, key: string | null): Quota {
  const keyOf = (field: 'max_documents' | 'max_bytes') =>
    key === null
      ? `backends.rag.${field}`
      : c[field] === undefined
        ? `${key}.${field}, or backends.rag.${field} for every index`
        : `${key}.${field}`;
  return {
    documents: c.max_documents ?? config.max_documents,
    bytes: c.max_bytes ?? config.max_bytes,
    documentsKey: keyOf('max_documents'),
    bytesKey: keyOf('max_bytes'),
  };
}

/** The indexes a config describes: its own, plus the demo corpus as "default" unless replaced. */
export function indexSpecs(config: RagConfig, dataDir: string): IndexSpec[] {
  const dir = join(dataDir, 'rag');
  const specs: IndexSpec[] = Object.entries(config.indexes).map(([name, c]) => {
    const key = `backends.rag.indexes.${name}`;
    return {
      name,
      file: join(dir, `${name}.db`),
      source: sourceOf(c),
      config: c,
      writers: { index: name, writableBy: c.writable_by, configKey: key },
      quota: quotaOf(config, c, key),
    };
  });
  if (config.demo_corpus && !('default' in config.indexes)) {
    // The demo corpus has no config entry: admin-only writes, the backend-wide quota.
    const c: IndexConfig = {
      format: 'jsonl',
      chunk_chars: 0,
      stemming: true,
      embed: true,
      writable_by: [],
    };
    specs.unshift({
      name: 'default',
      file: join(dir, 'default.db'),
      source: { kind: 'text', label: 'the shipped demo corpus', text: demoCorpus },
      config: c,
      writers: { index: 'default', writableBy: [], configKey: null },
      quota: quotaOf(config, c, null),
    });
  }
  return specs;
}

export default defineBackendModule({
  name: 'rag',
  configSchema: ragConfigSchema,
  create(config, env: BackendEnv): Backend {
    const specs = indexSpecs(config, env.dataDir);
    const byName = new Map(specs.map((s) => [s.name, s]));
    const guards = new Map(specs.map((s) => [s.name, writeGuard(s.writers)]));
    let pool: WorkerPool | null = null;

    const init: WorkerInit = {
      indexes: Object.fromEntries(
        specs.map((s) => [
          s.name,
          {
            file: s.file,
            embed: s.config.embed,
            source: describeSource(s.source),
            quota: s.quota,
          },
        ]),
      ),
      embedder: config.embedder ?? null,
      options: {
        commonTermRatio: config.common_term_ratio,
        commonTermMinDocs: config.common_term_min_docs,
        rrfK: config.rrf_k,
      },
    };

    const tools = ragTools(config, {
      indexes: () => specs.map((s) => s.name),
      authorizeWrite: (index, caller) => guards.get(index)!(caller),
      denseReason(index, mode) {
        if (mode === 'bm25') return null;
        if (!config.embedder) {
          return (
            `mode "${mode}" needs an embedder, and none is configured: set ` +
            'backends.rag.embedder (an OpenAI-compatible endpoint or an ONNX model directory), ' +
            'or use mode "bm25".'
          );
        }
        if (!byName.get(index)!.config.embed) {
          return `Index "${index}" has no vectors (embed: false in its config); use mode "bm25".`;
        }
        return null;
      },
      paths(index) {
        const spec = byName.get(index)!;
        const corpus =
          spec.source.kind === 'jsonl' || spec.source.kind === 'folder' ? spec.source.path : null;
        return { corpus, file: spec.file };
      },
      request(req, pin) {
        // Warmup always runs before a tool call (the executor sees to it), so the pool exists.
        return pool!.request(req, pin);
      },
    });

    return {
      name: 'rag',
      description:
        'Shared document retrieval: BM25 (SQLite FTS5), dense and hybrid search over named, ' +
        'persisted indexes. No session needed; a session only sets defaults (index, top_k, mode).',
      shared: true,
      sessionConfig: sessionConfigSchema(config),
      tools,

      async warmup(ctx) {
        // A warmup after a failed one may rebuild files the old pool still holds open.
        await pool?.close();
        pool = null;
        mkdirSync(join(env.dataDir, 'rag'), { recursive: true });
        const share = 1 / Math.max(1, specs.length);
        for (const [i, spec] of specs.entries()) {
          const input: BuildInput = {
            name: spec.name,
            file: spec.file,
            source: spec.source,
            tokenizer: spec.config.stemming ? 'porter' : 'unicode61',
            embedder: config.embedder ?? null,
            embed: spec.config.embed,
          };
          let out: BuildOutput;
          try {
            out = await runWorkerTask<BuildOutput>(
              workerUrl('backends/rag/build-worker.ts'),
              input,
              (fraction, detail) =>
                ctx.progress({ fraction: Math.min(0.99, (i + fraction) * share), detail }),
            );
          } catch (err) {
            throw new Error(`index "${spec.name}": ${(err as Error).message}`);
          }
          if (out.recovered)
            env.log.warn('rag.index_recovered', { index: spec.name, why: out.recovered });
          env.log.info('rag.index_ready', { index: spec.name, ...out });
        }
        const p = new WorkerPool(config.workers, init);
        try {
          await p.broadcast({ op: 'open' });
        } catch (err) {
          await p.close();
          throw err;
        }
        pool = p;
      },

      async close() {
        await pool?.close();
        pool = null;
      },
    };
  },
});
