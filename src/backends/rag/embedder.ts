// The Embedder interface and the OpenAI-compatible HTTP implementation. Embedders run inside the
// worker threads (build and search), never on the HTTP loop. Vectors come back L2-normalised, so
// a dot product is the cosine similarity.
import type { EmbedderConfig, OpenAiEmbedderConfig } from './config.ts';
import { RagError } from './types.ts';

export type EmbedKind = 'query' | 'document';

export interface Embedder {
  /** Identifies the vector space: an index whose vectors came from another id is re-embedded. */
  readonly id: string;
  /** A short human description for rag:stats. */
  readonly describe: string;
  /** Most texts one embed call sends at once (callers split larger lists). */
  readonly batchSize: number;
  embed(texts: readonly string[], kind: EmbedKind, signal?: AbortSignal): Promise<Float32Array[]>;
}

export async function createEmbedder(config: EmbedderConfig): Promise<Embedder> {
  if (config.type === 'openai') return new OpenAiEmbedder(config);
  const { OnnxEmbedder } = await import('./onnx.ts');
  return OnnxEmbedder.load(config);
}

/** The id an embedder config will have, known without loading it (for rag:stats and staleness). */
export function embedderLabel(config: EmbedderConfig): string {
  return config.type === 'openai'
    ? `openai:${config.model}${config.dimensions ? `:${config.dimensions}` : ''}`
    : `onnx:${config.model_dir}`;
}

export function normalize(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return v;
}

function backendError(message: string): RagError {
  return new RagError('backend', message);
}

/** POSTs {model, input} to an OpenAI-compatible /embeddings endpoint. */
export class OpenAiEmbedder implements Embedder {
  readonly id: string;
  readonly describe: string;
  readonly batchSize: number;
  private readonly url: string;

  constructor(private readonly config: OpenAiEmbedderConfig) {
    const base = config.url.replace(/\/+$/, '');
    this.url = base.endsWith('/embeddings') ? base : `${base}/embeddings`;
    this.id =
      `${embedderLabel(config)}|q=${config.query_prefix}|d=${config.document_prefix}` +
      `|max=${config.max_input_chars}`;
    this.describe = `openai ${config.model} at ${this.url}`;
    this.batchSize = config.batch_size;
  }

  async embed(
    texts: readonly string[],
    kind: EmbedKind,
    signal?: AbortSignal,
  ): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) {
      out.push(...(await this.embedBatch(texts.slice(i, i + this.batchSize), kind, signal)));
    }
    return out;
  }

  private async embedBatch(
    texts: readonly string[],
    kind: EmbedKind,
    signal?: AbortSignal,
  ): Promise<Float32Array[]> {
    const prefix = kind === 'query' ? this.config.query_prefix : this.config.document_prefix;
    const input = texts.map((t) => (prefix + t).slice(0, this.config.max_input_chars));
    const body: Record<string, unknown> = { model: this.config.model, input };
    if (this.config.dimensions) body.dimensions = this.config.dimensions;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.config.api_key) headers.authorization = `Bearer ${this.config.api_key}`;
    const timeout = AbortSignal.timeout(this.config.timeout_ms);
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      const why =
        timeout.aborted && !signal?.aborted
          ? `no answer within ${this.config.timeout_ms} ms`
          : (err as Error).message;
      throw backendError(
        `Embedder ${this.url} is unreachable (${why}). Check that it runs and that ` +
          'backends.rag.embedder.url is right.',
      );
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      throw backendError(
        `Embedder ${this.url} answered HTTP ${res.status}: ${text.slice(0, 300) || res.statusText}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw backendError(
        `Embedder ${this.url} answered something that is not JSON: ${JSON.stringify(text.slice(0, 120))}`,
      );
    }
    const data = (parsed as { data?: unknown })?.data;
    if (!Array.isArray(data) || data.length !== texts.length) {
      throw backendError(
        `Embedder ${this.url} answered without one data[].embedding per input ` +
          `(sent ${texts.length}, got ${Array.isArray(data) ? data.length : 'no data array'}).`,
      );
    }
    const vectors: Float32Array[] = new Array(texts.length);
    let dims = -1;
    for (let i = 0; i < data.length; i++) {
      const item = data[i] as { embedding?: unknown; index?: unknown };
      const e = item?.embedding;
      const at = typeof item?.index === 'number' ? item.index : i;
      if (
        !Array.isArray(e) ||
        e.length === 0 ||
        !e.every((x) => typeof x === 'number' && Number.isFinite(x)) ||
        at < 0 ||
        at >= texts.length
      ) {
        throw backendError(
          `Embedder ${this.url} answered an invalid embedding at data[${i}] (expected a ` +
            'non-empty array of finite numbers).',
        );
      }
      if (dims !== -1 && e.length !== dims) {
        throw backendError(
          `Embedder ${this.url} answered vectors of different lengths (${dims} and ${e.length}).`,
        );
      }
      dims = e.length;
      vectors[at] = normalize(Float32Array.from(e as number[]));
    }
    return vectors;
  }
}
