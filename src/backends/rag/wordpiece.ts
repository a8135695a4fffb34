// A WordPiece tokenizer read from a Hugging Face tokenizer.json: the BERT normaliser and
// pre-tokeniser, greedy longest-match sub-words, [CLS] … [SEP]. This is what BERT-family
// embedding models (MiniLM, BGE, E5, GTE) use; other tokenizer types are refused with a clear
// error rather than tokenised wrongly.
import { RagError } from './types.ts';

interface TokenizerJson {
  normalizer?: {
    type?: string;
    lowercase?: boolean;
    strip_accents?: boolean | null;
    clean_text?: boolean;
    handle_chinese_chars?: boolean;
  } | null;
  model?: {
    type?: string;
    vocab?: Record<string, number>;
    unk_token?: string;
    continuing_subword_prefix?: string;
    max_input_chars_per_word?: number;
  };
  post_processor?: {
    type?: string;
    cls?: [string, number];
    sep?: [string, number];
    special_tokens?: Record<string, { ids?: number[] }>;
  } | null;
  padding?: { pad_id?: number } | null;
}

export interface Encoding {
  ids: number[];
}

const PUNCT = /[\p{P}\p{S}]/u;
const CJK = /[\u4E00-\u9FFF\u3400-\u4DBF\u{20000}-\u{2A6DF}\uF900-\uFAFF\u{2F800}-\u{2FA1F}]/u;

export class WordPiece {
  private readonly vocab: Map<string, number>;
  private readonly unk: number;
  private readonly prefix: string;
  private readonly maxWordChars: number;
  private readonly lowercase: boolean;
  private readonly stripAccents: boolean;
  private readonly chinese: boolean;
  readonly cls: number;
  readonly sep: number;
  readonly pad: number;

  constructor(json: TokenizerJson, source: string) {
    const m = json.model;
    if (m?.type !== 'WordPiece' || !m.vocab) {
      throw new RagError(
        'warmup',
        `${source}: the tokenizer model is ${m?.type ?? 'missing'}; only WordPiece ` +
          '(BERT-family) tokenizers are supported.',
      );
    }
    this.vocab = new Map(Object.entries(m.vocab));
    const id = (tok: string) => {
      const v = this.vocab.get(tok);
      if (v === undefined) throw new RagError('warmup', `${source}: the vocabulary has no ${tok}`);
      return v;
    };
    this.unk = id(m.unk_token ?? '[UNK]');
    this.prefix = m.continuing_subword_prefix ?? '##';
    this.maxWordChars = m.max_input_chars_per_word ?? 100;
    const n = json.normalizer;
    this.lowercase = n?.lowercase ?? true;
    this.stripAccents = n?.strip_accents ?? this.lowercase;
    this.chinese = n?.handle_chinese_chars ?? true;
    const pp = json.post_processor;
    this.cls = pp?.cls?.[1] ?? pp?.special_tokens?.['[CLS]']?.ids?.[0] ?? id('[CLS]');
    this.sep = pp?.sep?.[1] ?? pp?.special_tokens?.['[SEP]']?.ids?.[0] ?? id('[SEP]');
    this.pad = json.padding?.pad_id ?? this.vocab.get('[PAD]') ?? 0;
  }

  private normalize(text: string): string {
    // clean_text: control characters go, every whitespace becomes a space.
    let s = text.replace(/[\p{Cc}\p{Cf}]/gu, (c) => (/\s/.test(c) ? ' ' : '')).replace(/\s/g, ' ');
    if (this.chinese) s = s.replace(new RegExp(CJK.source, 'gu'), (c) => ` ${c} `);
    if (this.lowercase) s = s.toLowerCase();
    if (this.stripAccents) s = s.normalize('NFD').replace(/\p{Mn}/gu, '');
    return s;
  }

  private words(text: string): string[] {
    const out: string[] = [];
    for (const chunk of text.split(' ')) {
      let cur = '';
      for (const ch of chunk) {
        if (PUNCT.test(ch)) {
          if (cur) out.push(cur);
          out.push(ch);
          cur = '';
        } else cur += ch;
      }
      if (cur) out.push(cur);
    }
    return out;
  }

  private wordPieces(word: string, out: number[]): void {
    const chars = [...word];
    if (chars.length > this.maxWordChars) {
      out.push(this.unk);
      return;
    }
    const pieces: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found = -1;
      while (start < end) {
        const sub = (start > 0 ? this.prefix : '') + chars.slice(start, end).join('');
        const v = this.vocab.get(sub);
        if (v !== undefined) {
          found = v;
          break;
        }
        end--;
      }
      if (found === -1) {
        out.push(this.unk);
        return;
      }
      pieces.push(found);
      start = end;
    }
    out.push(...pieces);
  }

  /** [CLS] tokens… [SEP], cut to at most maxTokens ids in all. */
  encode(text: string, maxTokens: number): Encoding {
    const ids: number[] = [this.cls];
    for (const w of this.words(this.normalize(text))) {
      this.wordPieces(w, ids);
      if (ids.length >= maxTokens - 1) break;
    }
    ids.length = Math.min(ids.length, maxTokens - 1);
    ids.push(this.sep);
    return { ids };
  }
}
