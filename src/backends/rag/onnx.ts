// The local ONNX embedder: a model directory with model.onnx and tokenizer.json (a BERT-family
// sentence-embedding model exported to ONNX, e.g. all-MiniLM-L6-v2 or bge-small-en-v1.5).
// onnxruntime-node is imported only when this embedder is configured, so the server runs without
// it; when it is missing the warmup fails with a 2003 saying how to install it.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { OnnxEmbedderConfig } from './config.ts';
import { normalize, type EmbedKind, type Embedder } from './embedder.ts';
import { RagError } from './types.ts';
import { WordPiece } from './wordpiece.ts';

/** The part of the onnxruntime-node API this embedder uses. */
interface OrtTensor {
  readonly data: Float32Array | BigInt64Array;
  readonly dims: readonly number[];
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}
interface Ort {
  Tensor: new (type: 'int64', data: BigInt64Array, dims: number[]) => OrtTensor;
  InferenceSession: {
    create(
      path: string,
      options: { intraOpNumThreads: number; interOpNumThreads: number },
    ): Promise<OrtSession>;
  };
}

/** A variable, so bundlers leave the import to run time and the package stays optional. */
const RUNTIME_PACKAGE = 'onnxruntime-node';

async function loadRuntime(): Promise<Ort> {
  try {
    const mod = (await import(RUNTIME_PACKAGE)) as Ort & { default?: Ort };
    return mod.InferenceSession ? mod : mod.default!;
  } catch (err) {
    throw new RagError(
      'warmup',
      `The ONNX embedder needs the ${RUNTIME_PACKAGE} package, which could not be loaded ` +
        `(${(err as Error).message}). Install it with \`bun add ${RUNTIME_PACKAGE}\` next to ` +
        'the server, or configure an OpenAI-compatible embedder instead.',
    );
  }
}

export class OnnxEmbedder implements Embedder {
  readonly batchSize: number;

  private constructor(
    private readonly ort: Ort,
    private readonly session: OrtSession,
    private readonly tokenizer: WordPiece,
    private readonly config: OnnxEmbedderConfig,
    readonly id: string,
    readonly describe: string,
  ) {
    this.batchSize = config.batch_size;
  }

  static async load(config: OnnxEmbedderConfig): Promise<OnnxEmbedder> {
    const dir = config.model_dir;
    const model = join(dir, 'model.onnx');
    const tokenizerFile = join(dir, 'tokenizer.json');
    for (const f of [model, tokenizerFile]) {
      if (!existsSync(f)) {
        throw new RagError(
          'warmup',
          `ONNX model directory ${dir} has no ${f.slice(dir.length + 1)}: it needs model.onnx ` +
            'and tokenizer.json (see the README, "Dense retrieval").',
        );
      }
    }
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(tokenizerFile, 'utf8'));
    } catch (err) {
      throw new RagError('warmup', `${tokenizerFile} is not valid JSON: ${(err as Error).message}`);
    }
    const tokenizer = new WordPiece(json as never, tokenizerFile);
    const ort = await loadRuntime();
    let session: OrtSession;
    try {
      session = await ort.InferenceSession.create(model, {
        intraOpNumThreads: config.threads,
        interOpNumThreads: 1,
      });
    } catch (err) {
      throw new RagError('warmup', `cannot load ${model}: ${(err as Error).message}`);
    }
    if (!session.inputNames.includes('input_ids')) {
      throw new RagError(
        'warmup',
        `${model} has no input_ids input (inputs: ${session.inputNames.join(', ')}); export a ` +
          'BERT-style encoder.',
      );
    }
    const id =
      `onnx:${realpathSync(dir)}:${statSync(model).size}:${config.pooling}:${config.max_tokens}` +
      `|q=${config.query_prefix}|d=${config.document_prefix}|max=${config.max_input_chars}`;
    return new OnnxEmbedder(ort, session, tokenizer, config, id, `onnx ${dir} (${config.pooling})`);
  }

  async embed(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.batchSize) {
      out.push(...(await this.embedBatch(texts.slice(i, i + this.batchSize), kind)));
    }
    return out;
  }

  private async embedBatch(texts: readonly string[], kind: EmbedKind): Promise<Float32Array[]> {
    const prefix = kind === 'query' ? this.config.query_prefix : this.config.document_prefix;
    const encoded = texts.map(
      (t) =>
        this.tokenizer.encode(
          (prefix + t).slice(0, this.config.max_input_chars),
          this.config.max_tokens,
        ).ids,
    );
    const b = encoded.length;
    const len = Math.max(...encoded.map((e) => e.length));
    const ids = new BigInt64Array(b * len).fill(BigInt(this.tokenizer.pad));
    const mask = new BigInt64Array(b * len);
    encoded.forEach((e, r) =>
      e.forEach((id, c) => {
        ids[r * len + c] = BigInt(id);
        mask[r * len + c] = 1n;
      }),
    );
    const feeds: Record<string, OrtTensor> = {
      input_ids: new this.ort.Tensor('int64', ids, [b, len]),
    };
    const names = this.session.inputNames;
    if (names.includes('attention_mask')) {
      feeds.attention_mask = new this.ort.Tensor('int64', mask, [b, len]);
    }
    if (names.includes('token_type_ids')) {
      feeds.token_type_ids = new this.ort.Tensor('int64', new BigInt64Array(b * len), [b, len]);
    }
    let outputs: Record<string, OrtTensor>;
    try {
      outputs = await this.session.run(feeds);
    } catch (err) {
      throw new RagError('backend', `ONNX model failed to run: ${(err as Error).message}`);
    }
    const outNames = this.session.outputNames;
    const name = outNames.includes('sentence_embedding')
      ? 'sentence_embedding'
      : outNames.includes('last_hidden_state')
        ? 'last_hidden_state'
        : outNames[0]!;
    const tensor = outputs[name]!;
    const data = tensor.data as Float32Array;
    const dims = tensor.dims;
    const vectors: Float32Array[] = [];
    if (dims.length === 2) {
      const h = dims[1]!;
      for (let r = 0; r < b; r++) vectors.push(normalize(data.slice(r * h, (r + 1) * h)));
      return vectors;
    }
    const t = dims[1]!;
    const h = dims[2]!;
    for (let r = 0; r < b; r++) {
      const v = new Float32Array(h);
      if (this.config.pooling === 'cls') {
        v.set(data.subarray(r * t * h, r * t * h + h));
      } else {
        const n = encoded[r]!.length;
        for (let c = 0; c < n; c++) {
          const off = (r * t + c) * h;
          for (let j = 0; j < h; j++) v[j]! += data[off + j]!;
        }
        for (let j = 0; j < h; j++) v[j]! /= n;
      }
      vectors.push(normalize(v));
    }
    return vectors;
  }
}
