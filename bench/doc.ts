// doc:search p50 through the app on a generated 300-section document (the parsed document and
// its FTS5 index cached after the first call), against the same FTS5 query on an in-process
// bun:sqlite index of the same items, in the same run.
import { Database } from 'bun:sqlite';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareP50, inProcessApp } from './in-process.ts';
import { removeTempDir, tempDir } from './lib.ts';
import type { Row } from './report.ts';

const WORDS =
  'glacier radar ice rock borehole survey melt snow calibration depth flow season'.split(' ');

export async function benchDocSearch(opts: { calls: number }): Promise<Row[]> {
  const dir = tempDir('af-bench-doc-');
  try {
    const seed = join(dir, 'paper');
    mkdirSync(seed, { recursive: true });
    const paragraphs: string[] = [];
    const sections = Array.from({ length: 300 }, (_, s) => {
      const ps = Array.from({ length: 5 }, (_, p) => {
        const text = Array.from(
          { length: 40 },
          (_, w) => WORDS[(s * 7 + p * 3 + w * w) % WORDS.length],
        ).join(' ');
        paragraphs.push(text);
        return `<Paragraph page_num="${s + 1}.0">${text}</Paragraph>`;
      });
      return `<Section section_id="${s + 1}"><Heading>Section ${s + 1}</Heading>${ps.join('')}</Section>`;
    });
    writeFileSync(join(seed, 'all_content.xml'), `<Document>${sections.join('')}</Document>`);
    writeFileSync(join(seed, 'outline.xml'), '<Outline/>');
    const app = await inProcessApp(dir, { doc: { enabled: true, roots: [dir] } });
    const call = () =>
      app.execute('doc:search', { key_words: ['borehole calibration'], seed_path: seed });
    const local = new Database(':memory:');
    local.run(
      "CREATE VIRTUAL TABLE items USING fts5(text, tokenize='porter unicode61 remove_diacritics 2')",
    );
    const insert = local.prepare('INSERT INTO items (text) VALUES (?)');
    local.transaction(() => paragraphs.forEach((p) => insert.run(p)))();
    const q = local.query(
      "SELECT rowid, bm25(items) AS r, snippet(items, 0, '', '', ' ... ', 64) FROM items WHERE items MATCH ? ORDER BY r LIMIT 10",
    );
    try {
      return [
        await compareP50(
          {
            bench: '14. doc:search (300 sections, 1,500 paragraphs)',
            tool: 'doc:search',
            baselineLabel: 'the FTS5 query in-process',
          },
          opts.calls,
          call,
          () => q.all('"borehole" OR "calibration"'),
        ),
      ];
    } finally {
      local.close();
      await app.close();
    }
  } finally {
    removeTempDir(dir);
  }
}
