// The ds backend on a seed folder of CSV files this test writes: upstream's tool names and
// params, results in the shape upstream's formatter prints, the seed folder read-only in the
// sandbox, and the seed_path checks.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { barePython, buildApp, serverFixture, tempDir, type TestApp } from './helpers.ts';

const root = tempDir('af-seeds-');
const seed = join(root, 'task-1');
const other = join(root, 'task-2');
const outside = tempDir('af-outside-');
let t: TestApp;
const servers = serverFixture('af-ds-e2e-');

const medals = ['country,gold,silver,bronze'];
for (let i = 0; i < 120; i++) medals.push(`c${i},${i % 7},${i % 5},${i % 3}`);

beforeAll(async () => {
  mkdirSync(seed);
  mkdirSync(other);
  writeFileSync(join(seed, 'medals.csv'), medals.join('\n') + '\n');
  writeFileSync(join(seed, 'cities.csv'), 'city,pop\nParis,2.1\nLyon,\nLyon,\n');
  writeFileSync(join(seed, 'notes.txt'), 'not a csv');
  writeFileSync(join(other, 'b.csv'), 'x\n1\n2\n');
  writeFileSync(join(outside, 'secret.csv'), 'k\nv\n');
  symlinkSync(outside, join(root, 'link-out'));
  // Sessions run as their own unprivileged uid: a seed folder is read as any user reads it.
  for (const dir of [root, seed, other]) chmodSync(dir, 0o755);
  t = await buildApp({
    backends: {
      vm: { enabled: false },
      rag: { enabled: false },
      ds: { enabled: true, seed_dirs: [root] },
    },
  });
  await t.post('/warmup', { backends: ['ds'] });
});
afterAll(async () => {
  await t.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const ds = (worker: string, tool: string, params: Record<string, unknown>) =>
  t.execute(worker, tool, { seed_path: seed, ...params });

describe('ds tools', () => {
  test('upstream’s spellings resolve, and inspect_data summarises every CSV file', async () => {
    const r = await ds('ins', 'ds_inspect_data', {});
    expect(r.body.code).toBe(0);
    expect(r.body.meta.tool).toBe('ds:inspect_data');
    const text: string = r.body.data.result;
    expect(text.indexOf('cities.csv:')).toBeLessThan(text.indexOf('medals.csv:'));
    expect(text).toContain('120 rows, 4 columns: country, gold, silver, bronze');
    expect(text).toContain('3 numeric and 1 other columns');
    expect(text).toContain('2 missing values, 1 duplicate rows');
    expect(text).not.toContain('notes.txt');
    expect((await ds('ins', 'ds-inspect_data', {})).body.data.result).toBe(text);
  });

  test('read_csv previews max_rows rows and says how many there are', async () => {
    const r = await ds('rc', 'ds_read_csv', { csv_file: 'medals.csv', max_rows: 2 });
    expect(r.body.data.result).toBe(
      'medals.csv\ncountry,gold,silver,bronze\nc0,0,0,0\nc1,1,1,1\n\n(first 2 of 120 rows)',
    );
    // Upstream keeps the file name only: a path cannot leave the seed folder.
    const up = await ds('rc', 'ds:read_csv', { csv_file: '../task-2/b.csv' });
    expect(up.body.data.result).toBe('No file b.csv in the seed folder.');
    const all = await ds('rc', 'ds:read_csv', { csv_file: 'cities.csv' });
    expect(all.body.data.result).toBe('cities.csv\ncity,pop\nParis,2.1\nLyon,\nLyon,');
  });

  test('run_python keeps state, starts in the seed folder and shows return_vars', async () => {
    await t.post('/session/create', { worker_id: 'rp', resource_type: 'ds' });
    const a = await ds('rp', 'ds_run_python', {
      code: 'df = pd.read_csv("medals.csv")\ntotal = int(df.gold.sum())\nprint("files", sorted(os.listdir(".")))',
      return_vars: ['total', 'df', 'nope'],
    });
    expect(a.body.code).toBe(0);
    const golds = medals.slice(1).reduce((s, line) => s + Number(line.split(',')[1]), 0);
    expect(a.body.data.vars.total).toBe(String(golds));
    expect(a.body.data.vars.df).toContain('(shape=(120, 4))');
    expect(a.body.data.vars).not.toHaveProperty('nope');
    expect(a.body.data.result).toContain(
      "Output:\nfiles ['cities.csv', 'medals.csv', 'notes.txt']",
    );
    expect(a.body.data.result).toContain(`Variables:\ntotal = ${golds}`);
    const b = await ds('rp', 'ds:run_python', { code: 'len(load_csv("cities.csv")) + total' });
    expect(b.body.data.result).toBe(`Result:\n${golds + 3}`);
    expect(b.body.data.restarted).toBe(false);
  });

  test('run_python returns figures as upstream’s image objects and errors as text', async () => {
    const r = await ds('img', 'ds_run_python', {
      code: 'plt.figure(figsize=(3, 2), dpi=100)\nplt.bar(["a", "b"], [1, 2])',
    });
    expect(r.body.data.images).toHaveLength(1);
    expect(r.body.data.images[0].type).toBe('image/png');
    const png = Buffer.from(r.body.data.images[0].base64, 'base64');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([300, 200]);
    const err = await ds('img', 'ds_run_python', { code: 'pd.read_csv("absent.csv")' });
    expect(err.body.code).toBe(0);
    expect(err.body.data.error.name).toBe('FileNotFoundError');
    expect(err.body.data.result).toStartWith('Error:\nTraceback');
  });

  test('the seed folder is read-only in the sandbox; the workspace is writable', async () => {
    const r = await ds('ro', 'ds_run_python', {
      code:
        'try:\n    open("new.csv", "w")\nexcept OSError as e:\n    print(type(e).__name__)\n' +
        'save_file(pd.DataFrame({"a": [1]}), "out.csv")',
    });
    expect(r.body.data.stdout).toBe('OSError\n');
    expect(r.body.data.result).toContain('File saved to:');
    // Only the seed folder itself is added to the sandbox, not its neighbours.
    const view = await ds('ro', 'ds_run_python', {
      code: `sorted(os.listdir(${JSON.stringify(root)})), os.path.exists(${JSON.stringify(outside)})`,
    });
    expect(view.body.data.result).toBe("Result:\n(['task-1'], False)");
  });

  test('another seed folder starts a fresh interpreter, and says so', async () => {
    await t.post('/session/create', { worker_id: 'sw', resource_type: 'ds' });
    await ds('sw', 'ds_run_python', { code: 'x = 1' });
    const r = await t.execute('sw', 'ds_run_python', {
      seed_path: other,
      code: 'sorted(os.listdir("."))',
    });
    expect(r.body.data).toMatchObject({ result: "Result:\n['b.csv']", restarted: true });
    const gone = await t.execute('sw', 'ds_run_python', { seed_path: other, code: 'x' });
    expect(gone.body.data.error.name).toBe('NameError');
  });

  test('a session config may carry seed_path for every call', async () => {
    await t.post('/session/create', {
      worker_id: 'cfg',
      resource_type: 'ds',
      config: { seed_path: other },
    });
    const r = await t.execute('cfg', 'ds:read_csv', { csv_file: 'b.csv' });
    expect(r.body.data.result).toBe('b.csv\nx\n1\n2');
  });

  test('an infinite loop answers 2002 and the session stays usable', async () => {
    await t.post('/session/create', { worker_id: 'loop', resource_type: 'ds' });
    await ds('loop', 'ds_run_python', { code: 'before = 5' });
    const r = await t.post('/execute', {
      worker_id: 'loop',
      action: 'ds_run_python',
      params: { seed_path: seed, code: 'while True: pass' },
      timeout: 1,
    });
    expect(r.body.code).toBe(2002);
    const after = await ds('loop', 'ds_run_python', { code: 'before + 1' });
    expect(after.body.data.result).toBe('Result:\n6');
  });
});

describe('bad input', () => {
  test.each([
    ['no seed_path', { csv_file: 'a.csv', seed_path: undefined }],
    ['a seed_path that does not exist', { csv_file: 'a.csv', seed_path: join(root, 'nope') }],
    ['a seed_path outside seed_dirs', { csv_file: 'a.csv', seed_path: outside }],
    ['a link out of seed_dirs', { csv_file: 'a.csv', seed_path: join(root, 'link-out') }],
    ['a seed_path that is a file', { csv_file: 'a.csv', seed_path: join(seed, 'medals.csv') }],
    ['no csv_file', {}],
    ['max_rows 0', { csv_file: 'a.csv', max_rows: 0 }],
  ])('read_csv with %s → 1002', async (_what, params) => {
    const r = await ds('bad', 'ds_read_csv', params);
    expect(r.body.code).toBe(1002);
    expect(r.status).toBe(400);
  });

  test('run_python without code, or with return_vars not a list → 1002', async () => {
    expect((await ds('bad', 'ds_run_python', {})).body.code).toBe(1002);
    expect((await ds('bad', 'ds_run_python', { code: '1', return_vars: 'x' })).body.code).toBe(
      1002,
    );
  });

  test('a seed folder the session uid may not read is explained', async () => {
    const closed = join(root, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const r = await t.execute('closed', 'ds_inspect_data', { seed_path: closed });
    if (process.getuid?.() !== 0) return; // the server's own user reads its own folder
    expect(r.body.code).toBe(2001);
    expect(r.body.message).toContain('chmod o+rx');
  });

  test('a seed folder holding the data directory → 1002', async () => {
    const app = await buildApp({
      backends: {
        vm: { enabled: false },
        rag: { enabled: false },
        ds: { enabled: true, seed_dirs: ['/'] },
      },
    });
    try {
      const r = await app.execute('dd', 'ds_inspect_data', { seed_path: join(app.dataDir, '..') });
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain('data directory');
    } finally {
      await app.close();
    }
  });

  test('the ds tools are listed', async () => {
    const names = (await t.get('/tools')).body.data.tools.map((x: { name: string }) => x.name);
    expect(names).toEqual(
      expect.arrayContaining(['ds:inspect_data', 'ds:read_csv', 'ds:run_python']),
    );
  });
});

describe('upstream config', () => {
  test('a ds_config.json-shaped file starts the server with the ds tools on', async () => {
    const server = await servers.start(servers.newDataDir(), {
      server: { url: 'http://127.0.0.1:18890', session_ttl: 300 },
      apis: {
        ds: {
          ds_max_csv: 1,
          ds_summary_max_chars: 12000,
          enable_llm_summary: true,
          summary_model: 'some-model',
          openai_api_key: '${AF_DS_TEST_UNSET_KEY}',
        },
      },
      // Our own key beside upstream's sections: where this test's seed folders are.
      backends: { ds: { enabled: true, seed_dirs: [root] } },
    });
    const { body } = await server.post('/api/v1/execute', {
      worker_id: 'up',
      action: 'ds_inspect_data',
      params: { seed_path: seed },
    });
    expect(body.code).toBe(0);
    expect(body.data.result).toStartWith('cities.csv:');
    expect(body.data.result).toEndWith('(first 1 of 2 CSV files)');
    expect(server.stderr()).toContain('enable_llm_summary');
  }, 60_000);
});

describe('without pandas', () => {
  test('inspect_data and read_csv fall back to the csv module', async () => {
    const dir = tempDir('af-ds-bare-');
    const python = barePython(dir);
    const app = await buildApp({
      backends: {
        vm: { enabled: false },
        rag: { enabled: false },
        ds: { enabled: true, python, isolation: 'none', seed_dirs: [root] },
      },
    });
    try {
      const ins = await app.execute('bare', 'ds_inspect_data', { seed_path: seed });
      expect(ins.body.data.result).toContain('medals.csv:\n120 rows, 4 columns: country, gold');
      const rc = await app.execute('bare', 'ds_read_csv', {
        seed_path: seed,
        csv_file: 'medals.csv',
        max_rows: 1,
      });
      expect(rc.body.data.result).toBe(
        'medals.csv\ncountry,gold,silver,bronze\nc0,0,0,0\n\n(first 1 of 120 rows)',
      );
      const pd = await app.execute('bare', 'ds_run_python', {
        seed_path: seed,
        code: 'pd.DataFrame',
      });
      expect(pd.body.data.error.name).toBe('ModuleNotFoundError');
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
