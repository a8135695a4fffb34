// One preprocessed document folder (upstream's seeds/doc format: outline.xml, all_content.xml,
// figures/, page_images/, tables/): where a seed_path may point, its sections, its searchable
// items in an in-memory FTS5 index (rag's tokenizer and query building), and its images, read
// only from inside the folder. Loaded documents are cached until their XML files change.
import { Database } from 'bun:sqlite';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { assertSettled } from '../settled-folder.ts';
import { extname, join, resolve, sep } from 'node:path';
import { ParameterError } from '../../core/errors.ts';
import { matchExpression, queryTerms } from '../rag/query.ts';
import { TOKENIZERS } from '../rag/store.ts';
import {
  childText,
  descendants,
  ownText,
  parseXml,
  XmlSyntaxError,
  type XmlElement,
} from './xml.ts';

export interface DocItem {
  type: 'Section' | 'Paragraph' | 'HTML_Table' | 'Image';
  section_id: string;
  page_num: string;
  text: string;
  table_id?: string;
  image_id?: string;
  caption?: string;
  alt_text?: string;
}

export interface SearchHit extends DocItem {
  score: number;
  snippet: string;
}

export interface DocImage {
  type: 'Page' | 'Image' | 'HTML_Table';
  page_num?: number;
  image_id?: string;
  table_id?: string;
  mime_type: string;
  base64: string;
}

const MIME: Record<string, string> = {
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.bmp': 'image/bmp',
};

const SAFE_ID = /^[A-Za-z0-9_.-]{1,128}$/;
/** `path` is `dir` or below it (a root such as `/` already ends with the separator). */
const inside = (path: string, dir: string) =>
  path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

export interface Placement {
  roots: readonly string[];
  /** Never a document folder: the server's data directory (bash workspaces live there). */
  dataDir: string;
  /** Directories sessions can write: never under one (see settled-folder.ts). */
  sessionWritable: readonly string[];
}

/** The real path of a seed_path the config allows, or a 1002 saying why not. */
export function placeSeed(seedPath: string, where: Placement): string {
  let real: string;
  try {
    real = realpathSync(resolve(seedPath));
  } catch {
    throw new ParameterError(
      `seed_path "${seedPath}" does not exist: give a preprocessed document folder.`,
    );
  }
  const roots = where.roots.flatMap((r) => {
    try {
      return [realpathSync(resolve(r))];
    } catch {
      return [];
    }
  });
  if (!roots.some((r) => inside(real, r))) {
    throw new ParameterError(
      `seed_path "${seedPath}" is outside the folders documents may come from ` +
        '(backends.doc.roots): move the document there or add its folder to the config.',
    );
  }
  let data = '';
  try {
    data = realpathSync(where.dataDir);
  } catch {
    // no data directory yet: nothing to keep out
  }
  if (data && inside(real, data)) {
    throw new ParameterError(
      `seed_path "${seedPath}" is inside the server's data directory, which is never a document.`,
    );
  }
  if (
    !statSync(real).isDirectory() ||
    !existsSync(join(real, 'all_content.xml')) ||
    !existsSync(join(real, 'outline.xml'))
  ) {
    throw new ParameterError(
      `seed_path "${seedPath}" is not a preprocessed document folder: it needs outline.xml and ` +
        'all_content.xml (and figures/, page_images/, tables/ for images).',
    );
  }
  assertSettled(real, 'seed_path', where.sessionWritable, ['figures', 'page_images', 'tables']);
  return real;
}

export class DocFolder {
  readonly sections = new Map<string, XmlElement>();
  readonly items: DocItem[] = [];
  private readonly fts = new Database(':memory:');

  constructor(
    readonly dir: string,
    readonly stamp: string,
    private readonly maxImageBytes: number,
  ) {
    const read = (name: string) => {
      const file = this.file(name);
      if (!file)
        throw new ParameterError(`${name} of ${dir} lies outside the folder (a link): refused.`);
      try {
        return parseXml(readFileSync(file, 'utf8'), name);
      } catch (err) {
        if (err instanceof XmlSyntaxError) {
          throw new ParameterError(`The document at ${dir} is not well-formed XML: ${err.message}`);
        }
        throw err;
      }
    };
    read('outline.xml');
    const content = read('all_content.xml');
    this.collect(content);
    this.fts.run(`CREATE VIRTUAL TABLE items USING fts5(text, tokenize='${TOKENIZERS.porter}')`);
    const insert = this.fts.prepare('INSERT INTO items (rowid, text) VALUES (?, ?)');
    this.fts.transaction(() => this.items.forEach((it, i) => insert.run(i, it.text)))();
  }

  /** Searchable items in document order, as upstream's search walks them. */
  private collect(root: XmlElement): void {
    let section = '';
    for (const el of descendants(root)) {
      const page = el.attrs.page_num ?? '';
      if (el.tag === 'Section') {
        section = el.attrs.section_id ?? '';
        if (section) this.sections.set(section, el);
        const first = el.children.find((c): c is XmlElement => typeof c !== 'string');
        const heading = first ? ownText(first) : '';
        if (heading)
          this.items.push({
            type: 'Section',
            section_id: section,
            page_num: el.attrs.start_page_num ?? '',
            text: heading,
          });
      } else if (el.tag === 'Paragraph' && ownText(el)) {
        this.items.push({
          type: 'Paragraph',
          section_id: section,
          page_num: page,
          text: ownText(el),
        });
      } else if (el.tag === 'HTML_Table' && ownText(el)) {
        this.items.push({
          type: 'HTML_Table',
          section_id: section,
          page_num: page,
          text: ownText(el),
          table_id: el.attrs.table_id ?? '',
        });
      } else if (el.tag === 'Image') {
        const caption = childText(el, 'Caption');
        const alt = childText(el, 'Alt_Text');
        if (caption || alt) {
          this.items.push({
            type: 'Image',
            section_id: section,
            page_num: page,
            text: [caption, alt].filter(Boolean).join('\n'),
            image_id: el.attrs.image_id ?? '',
            caption,
            alt_text: alt,
          });
        }
      }
    }
  }

  /** The best `limit` items for `keyword` by BM25, and how many matched in all. */
  search(keyword: string, limit: number): { total: number; hits: SearchHit[] } {
    const terms = queryTerms(keyword);
    if (terms.length === 0) return { total: 0, hits: [] };
    const match = matchExpression(terms);
    const total = (
      this.fts.query('SELECT count(*) AS n FROM items WHERE items MATCH ?').get(match) as {
        n: number;
      }
    ).n;
    const rows = this.fts
      .query(
        "SELECT rowid AS i, bm25(items) AS rank, snippet(items, 0, '', '', ' ... ', 64) AS snip " +
          'FROM items WHERE items MATCH ? ORDER BY rank LIMIT ?',
      )
      .all(match, limit) as { i: number; rank: number; snip: string }[];
    // bm25() is lower for better matches; the score we show is higher for better ones.
    return {
      total,
      hits: rows.map((r) => ({ ...this.items[r.i]!, score: -r.rank, snippet: r.snip })),
    };
  }

  /** A file of the folder by relative path, or null when missing or a link out of the folder. */
  private file(rel: string): string | null {
    try {
      const real = realpathSync(join(this.dir, rel));
      return inside(real, this.dir) ? real : null;
    } catch {
      return null;
    }
  }

  private image(candidates: string[]): { mime_type: string; base64: string } | null {
    for (const rel of candidates) {
      const file = this.file(rel);
      const mime = MIME[extname(rel).toLowerCase()];
      if (!file || !mime) continue;
      const st = statSync(file);
      if (!st.isFile() || st.size > this.maxImageBytes) continue;
      return { mime_type: mime, base64: readFileSync(file).toString('base64') };
    }
    return null;
  }

  figure(id: string): DocImage | null {
    if (!SAFE_ID.test(id) || id.includes('..')) return null;
    const img = this.image([
      `figures/image_${id}_compressed.jpg`,
      `figures/image_${id}.jpg`,
      `figures/image_${id}.png`,
    ]);
    return img && { type: 'Image', image_id: id, ...img };
  }

  table(id: string): DocImage | null {
    if (!SAFE_ID.test(id) || id.includes('..')) return null;
    const img = this.image([`tables/table_${id}.png`, `tables/table_${id}.jpg`]);
    return img && { type: 'HTML_Table', table_id: id, ...img };
  }

  /** Page images are numbered from 0 (`page_0000`), page numbers from 1. */
  page(n: number): DocImage | null {
    const index = String(n - 1).padStart(4, '0');
    const img = this.image([
      `page_images/page_${index}_compressed.jpg`,
      `page_images/page_${index}.jpg`,
      `page_images/page_${index}.png`,
    ]);
    return img && { type: 'Page', page_num: n, ...img };
  }

  close(): void {
    this.fts.close();
  }
}

/** Opens documents, keeping the last few; a folder whose XML changed is read again. */
export class DocCache {
  private readonly docs = new Map<string, DocFolder>();

  constructor(
    private readonly size: number,
    private readonly maxImageBytes: number,
  ) {}

  open(dir: string): DocFolder {
    const stamp = ['outline.xml', 'all_content.xml']
      .map((f) => {
        const st = statSync(join(dir, f));
        return `${st.size}:${st.mtimeMs}`;
      })
      .join('/');
    const cached = this.docs.get(dir);
    if (cached && cached.stamp === stamp) {
      this.docs.delete(dir);
      this.docs.set(dir, cached);
      return cached;
    }
    cached?.close();
    this.docs.delete(dir);
    const doc = new DocFolder(dir, stamp, this.maxImageBytes);
    this.docs.set(dir, doc);
    while (this.docs.size > this.size) {
      const [oldest, d] = this.docs.entries().next().value!;
      d.close();
      this.docs.delete(oldest);
    }
    return doc;
  }

  close(): void {
    for (const d of this.docs.values()) d.close();
    this.docs.clear();
  }
}

/** The pages a section's elements are on (`page_num="2.0"` is page 2). */
export function sectionPages(section: XmlElement): number[] {
  const pages = new Set<number>();
  for (const el of descendants(section)) {
    const n = Math.trunc(Number.parseFloat(el.attrs.page_num ?? ''));
    if (Number.isFinite(n) && n >= 1) pages.add(n);
  }
  return [...pages].sort((a, b) => a - b);
}
