// Task folders the server reads (doc folders, ds seed folders) must sit where no session can swap
// their contents between the server's check and its read: under a directory a session can write,
// a link put in at the right moment made the server (as root) read any host file (red team,
// 2026-12-01). Such folders are refused with 1002, before anything is read.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, tempDir, type TestApp } from './helpers.ts';

let root: string;
let t: TestApp;

function writeDoc(dir: string): void {
  mkdirSync(join(dir, 'figures'), { recursive: true, mode: 0o755 });
  writeFileSync(
    join(dir, 'all_content.xml'),
    `<?xml version='1.0'?>\n<Document><Section section_id="1" start_page_num="1" end_page_num="1"><Heading>Glaciers</Heading><Paragraph page_num="1">Ice retreats.</Paragraph></Section></Document>`,
  );
  writeFileSync(
    join(dir, 'outline.xml'),
    `<?xml version='1.0'?>\n<Outline><Section section_id="1" start_page_num="1"><Heading>Glaciers</Heading></Section></Outline>`,
  );
  writeFileSync(join(dir, 'data.csv'), 'k,v\na,1\n');
}

/** A folder made by the test (root-owned, 0755) at `rel` under the root, written as a doc. */
function folder(rel: string, mode = 0o755): string {
  const dir = join(root, rel);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, mode);
  writeDoc(dir);
  return dir;
}

beforeAll(async () => {
  root = tempDir('af-settled-');
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'shared'), { mode: 0o755 });
  t = await buildApp({
    backends: {
      vm: { enabled: false },
      rag: { enabled: false },
      bash: { host_dirs: [join(root, 'shared')] },
      doc: { enabled: true, roots: [root] },
      ds: { enabled: true, seed_dirs: [root] },
    },
  });
});
afterAll(async () => {
  await t.close();
  rmSync(root, { recursive: true, force: true });
});

const search = (seed: string) =>
  t.execute('w', 'doc:search', { key_words: ['glaciers'], seed_path: seed });
const readCsv = (seed: string) =>
  t.execute('w', 'ds:read_csv', { csv_file: 'data.csv', seed_path: seed });

test('a folder only root and the server can change is served', async () => {
  const ok = folder('settled/doc');
  expect((await search(ok)).body.code).toBe(0);
  expect((await readCsv(ok)).body.code).toBe(0);
});

test('a folder under a sticky world-writable directory is fine when root owns its entry', async () => {
  mkdirSync(join(root, 'sticky'), { mode: 0o755 });
  chmodSync(join(root, 'sticky'), 0o1777);
  const ok = folder('sticky/doc');
  expect((await search(ok)).body.code).toBe(0);
});

test('inside a host directory sessions write: 1002 naming backends.bash.host_dirs', async () => {
  const bad = folder('shared/doc');
  for (const r of [await search(bad), await readCsv(bad)]) {
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('backends.bash.host_dirs');
  }
});

test('under a directory others can write (not sticky): 1002', async () => {
  mkdirSync(join(root, 'open'), { mode: 0o755 });
  chmodSync(join(root, 'open'), 0o777);
  const bad = folder('open/doc');
  for (const r of [await search(bad), await readCsv(bad)]) {
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('others can change');
  }
});

test('a folder others can write, or a figures/ others can write: 1002', async () => {
  const writable = folder('writable/doc', 0o777);
  expect((await search(writable)).body.code).toBe(1002);
  expect((await readCsv(writable)).body.code).toBe(1002);
  const figures = folder('figures/doc');
  chmodSync(join(figures, 'figures'), 0o777);
  const r = await search(figures);
  expect(r.body.code).toBe(1002);
  expect(r.body.message).toContain('subdirectory figures');
});

test('a folder owned by another user (a session uid): 1002', async () => {
  if (process.getuid?.() !== 0) return; // only root can give a folder away
  const owned = folder('owned/doc');
  Bun.spawnSync(['chown', '-R', '200123:200123', join(root, 'owned')]);
  expect((await search(owned)).body.code).toBe(1002);
  expect((await readCsv(owned)).body.code).toBe(1002);
});
