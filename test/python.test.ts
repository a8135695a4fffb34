// The python backend against a real sandboxed interpreter: persistent state, results, errors,
// timeouts, crashes, figures, isolation, cleanup and bad input.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync, rmSync } from 'node:fs';
import {
  barePython,
  buildApp,
  isAlive,
  processesLeft,
  processesOfSessionIn,
  serverFixture,
  tempDir,
  type TestApp,
} from './helpers.ts';

let t: TestApp;
const servers = serverFixture('af-py-e2e-');
beforeAll(async () => {
  t = await buildApp({
    backends: {
      vm: { enabled: false },
      rag: { enabled: false },
      python: { enabled: true, output_limit_bytes: 4096 },
    },
  });
  await t.post('/warmup', { backends: ['bash', 'python'] });
});
afterAll(() => t.close());

const run = async (worker: string, code: string, timeout?: number) =>
  (
    await t.post('/execute', {
      worker_id: worker,
      action: 'python:run',
      params: { code },
      ...(timeout ? { timeout } : {}),
    })
  ).body;
const create = (worker: string) =>
  t.post('/session/create', { worker_id: worker, resource_type: 'python' });
const sessionIdOf = async (worker: string) =>
  (await t.post('/session/list', { worker_id: worker })).body.data.sessions[0].session_id as string;
const isRoot = process.getuid?.() === 0;

describe('interpreter', () => {
  test('warmup reports the python version and which data-science packages are present', async () => {
    const status = (await t.get('/warmup/status')).body.data.backends.python;
    expect(status.warmed_up).toBe(true);
    const probe = Bun.spawnSync([
      '/usr/bin/python3',
      '-c',
      'import importlib.util as u; print(" ".join(("yes" if u.find_spec(p) else "no") for p in ("pandas","numpy","matplotlib","scipy")))',
    ]);
    const [pd, np, mpl, sp] = probe.stdout.toString().trim().split(' ');
    expect(status.detail).toContain(`pandas ${pd}, numpy ${np}, matplotlib ${mpl}, scipy ${sp}`);
    expect(status.detail).toMatch(/python 3\.\d+/);
  });

  test('state persists between calls and the last expression comes back as its repr', async () => {
    await create('st');
    const a = await run(
      'st',
      'import math\nrows = [1, 2, 3]\nprint("sum", sum(rows))\n{"n": len(rows)}',
    );
    expect(a.code).toBe(0);
    expect(a.data).toMatchObject({
      stdout: 'sum 6\n',
      result: "{'n': 3}",
      error: null,
      restarted: false,
    });
    const b = await run('st', 'rows.append(math.floor(4.5)); rows');
    expect(b.data.result).toBe('[1, 2, 3, 4]');
    // An assignment, or an expression worth None, has no result (as in a REPL).
    expect((await run('st', 'y = 1')).data.result).toBeNull();
    expect((await run('st', 'None')).data.result).toBeNull();
  });

  test('stderr, and writes straight to fds 1 and 2, are captured without breaking the protocol', async () => {
    const r = await run(
      'st',
      'import os, sys\nprint("to err", file=sys.stderr)\nos.write(1, b"\\x00\\x00\\x00\\x05hello")\nos.write(2, b"raw")\n7',
    );
    expect(r.data.stdout).toBe('\0\0\0\x05hello');
    expect(r.data.stderr).toBe('to err\nraw');
    expect(r.data.result).toBe('7');
    expect((await run('st', 'rows')).data.result).toBe('[1, 2, 3, 4]');
  });

  test('an exception comes back with its name, value and traceback; the session stays', async () => {
    const r = await run('st', 'def f(d):\n    return d["missing"]\nf({})');
    expect(r.code).toBe(0);
    expect(r.data.error.name).toBe('KeyError');
    expect(r.data.error.value).toBe("'missing'");
    expect(r.data.error.traceback).toContain('return d["missing"]');
    expect(r.data.error.traceback).toContain('line 3');
    expect(r.data.error.traceback).not.toContain('<string>');
    const syntax = await run('st', 'def (:');
    expect(syntax.data.error.name).toBe('SyntaxError');
    const exit = await run('st', 'raise SystemExit(4)');
    expect(exit.data.error.name).toBe('SystemExit');
    expect((await run('st', 'rows')).data.result).toBe('[1, 2, 3, 4]');
  });

  test('output beyond the cap is cut and flagged; so is a huge repr', async () => {
    const big = await run('st', 'list(range(100000))');
    expect(big.data.result.length).toBeLessThan(4200);
    expect(big.data.result).toEndWith('... [cut at 4096 characters]');
    const r = await run('st', 'print("x" * 100000)');
    expect(r.data.truncated).toBe(true);
    expect(r.data.stdout.length).toBe(4096);
    expect((await run('st', 'print("ok")')).data).toMatchObject({
      stdout: 'ok\n',
      truncated: false,
    });
  });

  test('a plot comes back as a PNG of the figure’s size', async () => {
    const r = await run(
      'st',
      'import matplotlib.pyplot as plt\nfig = plt.figure(figsize=(4, 3), dpi=100)\nplt.plot([1, 3, 2])\n' +
        'plt.show()\nplt.figure(figsize=(2, 2), dpi=50)\nplt.matplotlib.get_backend()',
    );
    expect(r.code).toBe(0);
    expect(r.data.result).toBe("'agg'");
    expect(r.data.images).toHaveLength(2);
    const png = Buffer.from(r.data.images[0], 'base64');
    expect(png.subarray(0, 8)).toEqual(
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    );
    expect(png.subarray(12, 16).toString()).toBe('IHDR');
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([400, 300]);
    const small = Buffer.from(r.data.images[1], 'base64');
    expect([small.readUInt32BE(16), small.readUInt32BE(20)]).toEqual([100, 100]);
    // Figures are returned once: the next call has none.
    expect((await run('st', '1')).data.images).toEqual([]);
  });
});

describe('timeouts and crashes', () => {
  test('an infinite loop is interrupted at the timeout (2002) and the variables survive', async () => {
    await create('to');
    await run('to', 'kept = "yes"');
    const started = performance.now();
    const r = await run('to', 'n = 0\nwhile True:\n    n += 1', 2);
    expect(r.code).toBe(2002);
    expect(performance.now() - started).toBeLessThan(2500);
    expect(r.message).toContain('kept its variables');
    expect(r.data.error.name).toBe('KeyboardInterrupt');
    const after = await run('to', 'kept, n > 0');
    expect(after.data).toMatchObject({ result: "('yes', True)", restarted: false });
  });

  test('code that ignores the interrupt is killed; the next call runs in a fresh interpreter', async () => {
    const r = await run(
      'to',
      'import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass',
      1.5,
    );
    expect(r.code).toBe(2002);
    expect(r.message).toContain('interpreter was killed');
    const after = await run('to', 'kept');
    expect(after.code).toBe(0);
    expect(after.data.restarted).toBe(true);
    expect(after.data.error.name).toBe('NameError');
    expect((await run('to', '2 + 2')).data).toMatchObject({ result: '4', restarted: false });
  });

  test('os._exit and a segfault are reported (2001) and the next call works', async () => {
    await create('crash');
    await run('crash', 'a = 1');
    const exit = await run('crash', 'import os\nos._exit(3)');
    expect(exit.code).toBe(2001);
    expect(exit.message).toContain('exit status 3');
    expect(exit.message).toContain('next call starts a fresh interpreter');
    const next = await run('crash', '"alive"');
    expect(next.data).toMatchObject({ result: "'alive'", restarted: true });
    const segv = await run('crash', 'import ctypes\nctypes.string_at(0)');
    expect(segv.code).toBe(2001);
    expect(segv.message).toContain('SIGSEGV');
    expect((await run('crash', '3 * 3')).data).toMatchObject({ result: '9', restarted: true });
  });
});

describe('sessions and sandbox', () => {
  test('two sessions have separate state', async () => {
    await create('sep-a');
    await create('sep-b');
    await run('sep-a', 'secret = "a"');
    expect((await run('sep-b', 'secret')).data.error.name).toBe('NameError');
    expect((await run('sep-a', 'secret')).data.result).toBe("'a'");
  });

  test('the interpreter sees its own workspace, not another’s nor the data directory', async () => {
    const a = await sessionIdOf('sep-a');
    const b = await sessionIdOf('sep-b');
    await run('sep-b', 'open("note.txt", "w").write("b only")');
    const r = await run(
      'sep-a',
      'import os\n' +
        `ws = ${JSON.stringify(`${t.dataDir}/python-workspaces`)}\n` +
        `(os.getcwd(), sorted(os.listdir(ws)), sorted(os.listdir(${JSON.stringify(t.dataDir)})), ` +
        `os.path.exists(ws + "/${b}/note.txt"), os.path.exists(${JSON.stringify(`${t.dataDir}/agentflow.db`)}))`,
    );
    expect(r.data.error).toBeNull();
    expect(r.data.result).toBe(
      `('${t.dataDir}/python-workspaces/${a}', ['${a}'], ['python-workspaces'], False, False)`,
    );
  });

  test.skipIf(!isRoot)('as root, the interpreter runs as the session’s own uid', async () => {
    const r = await run('sep-a', 'import os\n(os.getuid(), os.getgid())');
    const [uid, gid] = JSON.parse(r.data.result.replace('(', '[').replace(')', ']'));
    expect(uid).toBeGreaterThanOrEqual(300000);
    expect(gid).toBe(uid);
    const other = JSON.parse((await run('sep-b', 'import os\nos.getuid()')).data.result);
    expect(other).not.toBe(uid);
  });

  test('destroy kills the interpreter and its sandbox', async () => {
    await create('gone');
    await run('gone', 'x = 1');
    const id = await sessionIdOf('gone');
    const pids = processesOfSessionIn(t.dataDir, id);
    expect(pids.length).toBeGreaterThan(0);
    await t.post('/session/destroy', { worker_id: 'gone', resource_type: 'python' });
    expect(await processesLeft(id)).toEqual([]);
    expect(pids.filter(isAlive)).toEqual([]);
  });

  test('a call without a session runs in a temporary one', async () => {
    const r = await t.execute('temp-py', 'python_run', { code: '6 * 7' });
    expect(r.body.data.result).toBe('42');
    expect(r.body.meta.temporary_session).toBe(true);
  });
});

describe('bad input', () => {
  test.each([
    ['no code', {}],
    ['empty code', { code: '' }],
    ['code not a string', { code: 12 }],
    ['a NUL byte', { code: 'a\0b' }],
    ['a negative timeout', { code: '1', timeout: -1 }],
  ])('%s → 1002', async (_what, params) => {
    const r = await t.execute('bad', 'python:run', params);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(1002);
  });

  test('an unknown python tool → 1001', async () => {
    const r = await t.execute('bad', 'python:exec', { code: '1' });
    expect([r.status, r.body.code]).toEqual([404, 1001]);
  });

  test('python:run is listed, in the OpenAI format too', async () => {
    const tools = (await t.get('/tools')).body.data.tools.map((x: { name: string }) => x.name);
    expect(tools).toContain('python:run');
    const openai = (await t.get('/tools?format=openai')).body.data.tools;
    expect(openai.map((x: { function: { name: string } }) => x.function.name)).toContain(
      'python__run',
    );
  });
});

describe('server restart', () => {
  test('a stored session answers after a kill -9, saying its interpreter is fresh', async () => {
    const dataDir = servers.newDataDir();
    const config = { backends: { python: { enabled: true } } };
    const first = await servers.start(dataDir, config);
    const call = { worker_id: 'rs', action: 'python:run', params: { code: 'v = 5; v' } };
    await first.post('/session/create', { worker_id: 'rs', resource_type: 'python' });
    expect((await first.post('/execute', call)).body.data.result).toBe('5');
    const id = (await first.post('/session/list', { worker_id: 'rs' })).body.data.sessions[0]
      .session_id;
    await first.kill();
    const second = await servers.start(dataDir, config);
    const again = await second.post('/execute', {
      worker_id: 'rs',
      action: 'python:run',
      params: { code: "'v' in globals()" },
    });
    expect(again.body.data).toMatchObject({ result: 'False', restarted: true });
    expect((await second.post('/execute', call)).body.data).toMatchObject({
      result: '5',
      restarted: false,
    });
    // One interpreter for the session: the first server's died with it or was reaped.
    const drivers = processesOfSessionIn(dataDir, id).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/usr/bin/python3\0-c\0');
      } catch {
        return false;
      }
    });
    expect(drivers).toHaveLength(1);
  }, 60_000);
});

describe('without the data-science packages', () => {
  test('warmup says they are absent and plain Python still works', async () => {
    // `python3 -S` has no site directories: pandas, numpy, matplotlib and scipy cannot be found.
    const dir = tempDir('af-py-bare-');
    const python = barePython(dir);
    const app = await buildApp({
      backends: {
        vm: { enabled: false },
        rag: { enabled: false },
        python: { enabled: true, python, isolation: 'none' },
      },
    });
    try {
      await app.post('/warmup', { backends: ['python'] });
      const status = (await app.get('/warmup/status')).body.data.backends.python;
      expect(status.detail).toContain('pandas no, numpy no, matplotlib no, scipy no');
      const ok = await app.execute('bare', 'python:run', { code: 'import json\njson.dumps([1])' });
      expect(ok.body.data).toMatchObject({ result: "'[1]'", error: null });
      const pd = await app.execute('bare', 'python:run', { code: 'import pandas' });
      expect(pd.body.data.error.name).toBe('ModuleNotFoundError');
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
