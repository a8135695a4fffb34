// Corpus readers: a JSONL file ({id?, title?, content, metadata?} per line; `_id`, `text` and
// `contents` are accepted as the BEIR and upstream spellings) or a folder of .txt/.md files
// (chunked, see chunk.ts). Errors name the file and line, so a broken corpus is easy to fix.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { chunkFile } from './chunk.ts';
import { RagError, type StoredDocument } from './types.ts';

export type CorpusSource =
  | { kind: 'jsonl'; path: string }
  | { kind: 'folder'; path: string; chunkChars: number }
  /** JSONL text shipped inside the server (the demo corpus). */
  | { kind: 'text'; label: string; text: string }
  | { kind: 'none' };

export interface CorpusReader {
  /** How many units `read` reports progress in (lines or files), and what they are. */
  readonly total: number;
  readonly unit: 'documents' | 'files';
  read(onUnit: (done: number) => void): Iterable<StoredDocument>;
}

const TEXT_EXTENSIONS = new Set(['.txt', '.md', '.markdown']);

function corpusError(message: string): RagError {
  return new RagError('warmup', message);
}

/** Identifies the corpus content cheaply (sizes and mtimes; the whole text for shipped text). */
export function fingerprint(source: CorpusSource): string {
  const h = createHash('sha256');
  switch (source.kind) {
    case 'jsonl': {
      const st = statOrThrow(source.path, 'corpus file');
      h.update(`jsonl\0${source.path}\0${st.size}\0${st.mtimeMs}`);
      break;
    }
    case 'folder':
      h.update(`folder\0${source.path}\0${source.chunkChars}`);
      for (const f of listFolder(source.path)) h.update(`\0${f.rel}\0${f.size}\0${f.mtimeMs}`);
      break;
    case 'text':
      h.update(`text\0${source.text}`);
      break;
    case 'none':
      h.update('none');
  }
  return h.digest('hex').slice(0, 32);
}

export function openCorpus(source: CorpusSource): CorpusReader {
  switch (source.kind) {
    case 'jsonl': {
      const st = statOrThrow(source.path, 'corpus file');
      if (st.isDirectory()) {
        throw corpusError(`corpus file ${source.path} is a directory (use format "folder")`);
      }
      const path = source.path;
      return jsonlReader(() => fileLines(path), path);
    }
    case 'text': {
      const bytes = new TextEncoder().encode(source.text);
      return jsonlReader(() => bufferLines(bytes), source.label);
    }
    case 'folder':
      return folderReader(source.path, source.chunkChars);
    case 'none':
      return { total: 0, unit: 'documents', read: () => [] };
  }
}

function statOrThrow(path: string, what: string) {
  try {
    return statSync(path);
  } catch {
    throw corpusError(`${what} ${path} does not exist (check backends.rag.indexes in the config)`);
  }
}

const CHUNK_BYTES = 1 << 20;
const decoder = new TextDecoder();

/** The lines of a file, read 1 MiB at a time so a corpus of any size streams. */
function* fileLines(path: string): Generator<string> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw corpusError(`cannot read corpus file ${path}: ${(err as Error).message}`);
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    let carry: Uint8Array = new Uint8Array(0);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK_BYTES, null);
      if (n === 0) break;
      let data: Uint8Array = buf.subarray(0, n);
      if (carry.length) data = Buffer.concat([carry, data]);
      let start = 0;
      for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, start)) {
        yield decoder.decode(data.subarray(start, i));
        start = i + 1;
      }
      carry = Uint8Array.from(data.subarray(start));
    }
    if (carry.length) yield decoder.decode(carry);
  } finally {
    closeSync(fd);
  }
}

function* bufferLines(data: Uint8Array): Generator<string> {
  let start = 0;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, start)) {
    yield decoder.decode(data.subarray(start, i));
    start = i + 1;
  }
  if (start < data.length) yield decoder.decode(data.subarray(start));
}

function jsonlReader(lines: () => Iterable<string>, label: string): CorpusReader {
  let total = 0;
  for (const l of lines()) if (l.trim()) total++;
  return {
    total,
    unit: 'documents',
    *read(onUnit) {
      let line = 0;
      let done = 0;
      for (const text of lines()) {
        line++;
        const raw = text.trim();
        if (!raw) continue;
        onUnit(++done);
        yield parseLine(raw, label, line);
      }
    },
  };
}

function parseLine(raw: string, label: string, line: number): StoredDocument {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw corpusError(`corpus ${label} line ${line} is not valid JSON: ${(err as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw corpusError(`corpus ${label} line ${line} is not a JSON object`);
  }
  const o = value as Record<string, unknown>;
  const content = o.content ?? o.text ?? o.contents;
  if (typeof content !== 'string' || !content.trim()) {
    throw corpusError(`corpus ${label} line ${line} has no "content" string`);
  }
  const rawId = o.id ?? o._id;
  const id =
    typeof rawId === 'string' && rawId !== ''
      ? rawId
      : typeof rawId === 'number'
        ? String(rawId)
        : String(line);
  const doc: StoredDocument = { id, content };
  if (typeof o.title === 'string' && o.title) doc.title = o.title;
  if (o.metadata && typeof o.metadata === 'object' && !Array.isArray(o.metadata)) {
    doc.metadata = o.metadata as Record<string, unknown>;
  }
  return doc;
}

interface FolderFile {
  rel: string;
  abs: string;
  size: number;
  mtimeMs: number;
}

/** The folder's .txt/.md files, recursively, in a stable order; hidden entries are skipped. */
function listFolder(root: string): FolderFile[] {
  const st = statOrThrow(root, 'corpus folder');
  if (!st.isDirectory()) throw corpusError(`corpus folder ${root} is not a directory`);
  const out: FolderFile[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      if (e.name.startsWith('.')) continue;
      const abs = join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else if (e.isFile() && TEXT_EXTENSIONS.has(extname(e.name).toLowerCase())) {
        const s = statSync(abs);
        out.push({
          rel: relative(root, abs).split(sep).join('/'),
          abs,
          size: s.size,
          mtimeMs: s.mtimeMs,
        });
      }
    }
  };
  walk(root);
  return out;
}

function folderReader(root: string, chunkChars: number): CorpusReader {
  const files = listFolder(root);
  return {
    total: files.length,
    unit: 'files',
    *read(onUnit) {
      let done = 0;
      for (const f of files) {
        const buf = readFileSync(f.abs);
        onUnit(++done);
        if (buf.includes(0)) continue; // binary file with a text extension
        const ext = extname(f.rel).toLowerCase();
        const chunks = chunkFile(
          f.rel.slice(f.rel.lastIndexOf('/') + 1),
          buf.toString('utf8'),
          ext !== '.txt',
          chunkChars,
        );
        for (let i = 0; i < chunks.length; i++) {
          const c = chunks[i]!;
          const metadata: Record<string, unknown> = { path: f.rel };
          if (chunks.length > 1) metadata.chunk = i + 1;
          if (c.heading) metadata.heading = c.heading;
          yield {
            id: chunks.length > 1 ? `${f.rel}#${i + 1}` : f.rel,
            title: c.title,
            content: c.content,
            metadata,
          };
        }
      }
    },
  };
}
