// The bash backend through the API: persistent state, separate streams, output cap, timeouts that
// kill every child, files inside the workspace only.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, processesLeft, processesOfSession, tempDir, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildApp({ backends: { bash: { output_limit_bytes: 4096 } } });
});
afterAll(() => t.close());

let n = 0;
async function session(): Promise<string> {
  const worker = `bash-w${++n}`;
  const r = await t.post('/session/create', { worker_id: worker, resource_type: 'bash' });
  expect(r.body.code).toBe(0);
  return worker;
}
const run = (worker: string, command: string, extra: Record<string, unknown> = {}) =>
  t.post('/execute', { worker_id: worker, action: 'bash:run', params: { command, ...extra } });
const sessionId = async (worker: string) =>
  (await t.post('/session/list', { worker_id: worker })).body.data.sessions[0].session_id as string;

describe('bash:run', () => {
  test('cd, export and functions persist between calls', async () => {
    const w = await session();
    await run(
      w,
      'mkdir -p a/b && cd a/b && export GREETING=hello && greet() { echo "$GREETING $1"; }',
    );
    const r = await run(w, 'greet world; basename "$PWD"');
    expect(r.body.data.stdout).toBe('hello world\nb\n');
    expect(r.body.data.cwd.endsWith('/a/b')).toBe(true);
  });

  test('stdout and stderr are kept apart; a failing command is code 0 with its exit status', async () => {
    const w = await session();
    const r = await run(w, 'echo out; echo err >&2; exit_code() { return 3; }; exit_code');
    expect(r.status).toBe(200);
    expect(r.body.code).toBe(0);
    expect(r.body.data).toMatchObject({
      stdout: 'out\n',
      stderr: 'err\n',
      exit_code: 3,
      return_code: 3,
      timed_out: false,
      truncated: false,
    });
  });

  test('output without a trailing newline, binary-ish bytes and quotes survive', async () => {
    const w = await session();
    const r = await run(w, `printf 'a\\tb'; printf "it's \\"quoted\\" \\\\ $'x'"`);
    expect(r.body.data.stdout).toBe(`a\tbit's "quoted" \\ $'x'`);
    const multi = await run(w, 'cat <<EOF\nline1\nline2\nEOF');
    expect(multi.body.data.stdout).toBe('line1\nline2\n');
    const utf = await run(w, 'echo "héllo → 世界"');
    expect(utf.body.data.stdout).toBe('héllo → 世界\n');
  });

  test('a syntax error is reported, and the shell stays usable', async () => {
    const w = await session();
    const r = await run(w, 'echo "unterminated');
    expect(r.body.data.exit_code).not.toBe(0);
    expect(r.body.data.stderr).toContain('unexpected EOF');
    expect((await run(w, 'echo ok')).body.data.stdout).toBe('ok\n');
  });

  test('a command reading stdin gets EOF instead of the protocol stream', async () => {
    const w = await session();
    const r = await run(w, 'cat; read x; echo "read=$?"');
    expect(r.body.data.stdout).toBe('read=1\n');
  });

  test('output beyond the cap is cut and flagged', async () => {
    const w = await session();
    const r = await run(w, 'head -c 10000 /dev/zero | tr "\\0" x; echo tail >&2');
    expect(r.body.data.stdout.length).toBe(4096);
    expect(r.body.data.truncated).toBe(true);
    expect(r.body.data.stderr).toBe('tail\n');
    expect((await run(w, 'echo next')).body.data.stdout).toBe('next\n');
  });

  test('exit ends the shell; the next call gets a fresh one in the same directory', async () => {
    const w = await session();
    await run(w, 'mkdir -p d && cd d');
    const r = await run(w, 'echo bye; exit 7');
    expect(r.body.data.stdout).toBe('bye\n');
    expect(r.body.data.exit_code).toBe(7);
    const next = await run(w, 'basename "$PWD"');
    expect(next.body.data.stdout).toBe('d\n');
  });

  test('a timed-out command is killed with all its children; the session stays usable in its directory', async () => {
    const w = await session();
    await run(w, 'mkdir -p here && cd here && export KEEP=1');
    const id = await sessionId(w);
    const before = processesOfSession(id).length;
    const r = await t.post('/execute', {
      worker_id: w,
      action: 'bash:run',
      params: { command: 'echo started; sleep 100 & sleep 100' },
      timeout: 0.5,
    });
    expect(r.status).toBe(504);
    expect(r.body.code).toBe(2002);
    expect(r.body.data.timed_out).toBe(true);
    expect(r.body.data.stdout).toBe('started\n');
    await Bun.sleep(100);
    // Only the shell itself is left.
    expect(processesOfSession(id).length).toBe(before);
    const after = await run(w, 'basename "$PWD"; echo $KEEP');
    expect(after.body.data.stdout).toBe('here\n1\n');
  });

  test('a timeout kills only what that command started, not earlier background jobs', async () => {
    const w = await session();
    await run(w, 'sleep 300 & echo $! > bg.pid');
    const r = await run(w, 'sleep 100 & sleep 100', { timeout: 0.3 });
    expect(r.body.code).toBe(2002);
    const alive = await run(w, 'kill -0 $(cat bg.pid) && echo alive');
    expect(alive.body.data.stdout).toBe('alive\n');
  });

  test('destroy also kills processes that left the shell (setsid, double fork)', async () => {
    const w = await session();
    const id = await sessionId(w);
    await run(w, '(setsid sleep 301 &); (sleep 302 &)');
    await Bun.sleep(100);
    // The two sleeps (and the shell, unless it came from the warm pool: a pooled shell started
    // under the pool's name, and only what it starts carries the session's).
    expect(processesOfSession(id).length).toBeGreaterThanOrEqual(2);
    await t.post('/session/destroy', { worker_id: w });
    await Bun.sleep(100);
    expect(await processesLeft(id)).toEqual([]);
  });

  test('the tool timeout param bounds the command too', async () => {
    const w = await session();
    const started = performance.now();
    const r = await run(w, 'sleep 30', { timeout: 0.3 });
    expect(r.body.code).toBe(2002);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  test('a builtin loop that ignores the kill restarts the shell in its directory', async () => {
    const w = await session();
    await run(w, 'mkdir -p loop && cd loop');
    const r = await run(w, 'while :; do :; done', { timeout: 0.3 });
    expect(r.body.code).toBe(2002);
    const after = await run(w, 'basename "$PWD"');
    expect(after.body.data.stdout).toBe('loop\n');
  });

  test('background output between calls is given to the next call', async () => {
    const w = await session();
    await run(w, '(sleep 0.2; echo late) &');
    await Bun.sleep(400);
    const r = await run(w, 'echo now');
    expect(r.body.data.stdout).toBe('late\nnow\n');
  });

  test('the shell does not inherit the server environment', async () => {
    process.env.AGENTFLOW_TEST_SECRET = 'leak';
    const w = await session();
    const r = await run(w, 'echo "[$AGENTFLOW_TEST_SECRET]" "$HOME" "$AGENTFLOW_SESSION_ID"');
    delete process.env.AGENTFLOW_TEST_SECRET;
    const [secret, home, id] = r.body.data.stdout.trim().split(' ');
    expect(secret).toBe('[]');
    expect(home).toContain('/workspaces/');
    expect(id).toBe(await sessionId(w));
  });

  test('a command with a NUL byte is 1002', async () => {
    const w = await session();
    const r = await run(w, 'echo a\u0000b');
    expect(r.body.code).toBe(1002);
  });
});

describe('session config', () => {
  test('cwd (relative, created in the workspace) and env', async () => {
    const r = await t.post('/session/create', {
      worker_id: 'cfg1',
      resource_type: 'bash',
      config: { cwd: 'proj/src', env: { MODE: 'test' } },
    });
    expect(r.body.code).toBe(0);
    const out = await run('cfg1', 'pwd; echo $MODE');
    const [pwd, mode] = out.body.data.stdout.trim().split('\n');
    expect(pwd.endsWith('/proj/src')).toBe(true);
    expect(mode).toBe('test');
  });

  test('cwd is a path in the session’s view: its private /tmp is fine, a host path is not', async () => {
    const tmp = await t.post('/session/create', {
      worker_id: 'cfg-tmp',
      resource_type: 'bash',
      config: { cwd: '/tmp' },
    });
    expect(tmp.body.code).toBe(0);
    expect((await run('cfg-tmp', 'pwd')).body.data.stdout).toBe('/tmp\n');
    const missing = await t.post('/session/create', {
      worker_id: 'cfg-missing',
      resource_type: 'bash',
      config: { cwd: '/tmp/not-there' },
    });
    expect(missing.status).toBe(400);
    expect(missing.body.code).toBe(1002);
    expect(missing.body.message).toContain('/tmp/not-there');
    // Nothing of the refused session is left behind.
    expect((await t.post('/session/list', { worker_id: 'cfg-missing' })).body.data.count).toBe(0);
  });

  test('absolute cwd: refused outside the workspace in the sandbox, allowed in host_dirs', async () => {
    const dir = tempDir();
    const refused = await t.post('/session/create', {
      worker_id: 'cfg2',
      resource_type: 'bash',
      config: { cwd: dir },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe(1002);
    expect(refused.body.message).toContain('host_dirs');
    const allowed = await buildApp({ backends: { bash: { host_dirs: [dir] } } });
    try {
      // As root, sessions run as their own uid: a host dir must let them in.
      const closed = await allowed.post('/session/create', {
        worker_id: 'cfg3',
        resource_type: 'bash',
        config: { cwd: dir },
      });
      if (process.getuid?.() === 0) {
        expect(closed.body.code).toBe(1002);
        chmodSync(dir, 0o1777);
      }
      const created = await allowed.post('/session/create', {
        worker_id: 'cfg3',
        resource_type: 'bash',
        config: { cwd: dir },
      });
      expect(created.body.code).toBe(0);
      const r = await allowed.post('/execute', {
        worker_id: 'cfg3',
        action: 'bash:run',
        params: { command: 'pwd; echo hi > made-here' },
      });
      expect(r.body.data.stdout).toBe(dir + '\n');
      expect(existsSync(join(dir, 'made-here'))).toBe(true);
    } finally {
      await allowed.close();
    }
  });
});

describe('files', () => {
  test('write then read, utf8 and base64, in the workspace', async () => {
    const w = await session();
    const wr = await t.post('/execute', {
      worker_id: w,
      action: 'bash:write_file',
      params: { path: 'dir/note.txt', content: 'héllo\n' },
    });
    expect(wr.body.code).toBe(0);
    expect(wr.body.data).toEqual({ path: 'dir/note.txt', size: 7 });
    expect((await run(w, 'cat dir/note.txt')).body.data.stdout).toBe('héllo\n');
    const rd = await t.post('/execute', {
      worker_id: w,
      action: 'bash:read_file',
      params: { path: 'dir/note.txt' },
    });
    expect(rd.body.data.content).toBe('héllo\n');
    const bin = Buffer.from([0, 1, 2, 255]).toString('base64');
    await t.post('/execute', {
      worker_id: w,
      action: 'bash:write_file',
      params: { path: 'b.bin', content: bin, encoding: 'base64' },
    });
    const rb = await t.post('/execute', {
      worker_id: w,
      action: 'bash:read_file',
      params: { path: 'b.bin', encoding: 'base64' },
    });
    expect(rb.body.data.content).toBe(bin);
    expect(rb.body.data.size).toBe(4);
    await t.post('/execute', {
      worker_id: w,
      action: 'bash:write_file',
      params: { path: 'dir/note.txt', content: 'more\n', append: true },
    });
    expect((await run(w, 'cat dir/note.txt')).body.data.stdout).toBe('héllo\nmore\n');
  });

  test('paths outside the workspace are refused with 1002 and nothing is touched', async () => {
    const w = await session();
    const outside = tempDir();
    const victim = join(outside, 'victim.txt');
    writeFileSync(victim, 'safe');
    const id = await sessionId(w);
    const workspace = join(t.dataDir, 'workspaces', id);
    symlinkSync(outside, join(workspace, 'link'));
    symlinkSync(join(outside, 'nothing-here'), join(workspace, 'dangling'));
    for (const path of [
      '../x.txt',
      '/etc/passwd',
      victim,
      'link/victim.txt',
      'a/../../x',
      'dangling',
    ]) {
      const wr = await t.post('/execute', {
        worker_id: w,
        action: 'bash:write_file',
        params: { path, content: 'pwned' },
      });
      expect(wr.body.code).toBe(1002);
      const rd = await t.post('/execute', {
        worker_id: w,
        action: 'bash:read_file',
        params: { path },
      });
      expect(rd.body.code).toBe(1002);
    }
    expect(await Bun.file(victim).text()).toBe('safe');
    expect(existsSync(join(outside, 'nothing-here'))).toBe(false);
  });

  test('missing file, directory, bad base64 are 1002', async () => {
    const w = await session();
    const id = await sessionId(w);
    mkdirSync(join(t.dataDir, 'workspaces', id, 'adir'));
    const read = (path: string) =>
      t.post('/execute', { worker_id: w, action: 'bash:read_file', params: { path } });
    expect((await read('missing.txt')).body.code).toBe(1002);
    expect((await read('adir')).body.code).toBe(1002);
    const bad = await t.post('/execute', {
      worker_id: w,
      action: 'bash:write_file',
      params: { path: 'x', content: '***', encoding: 'base64' },
    });
    expect(bad.body.code).toBe(1002);
    const badEnc = await t.post('/execute', {
      worker_id: w,
      action: 'bash:read_file',
      params: { path: 'x', encoding: 'latin1' },
    });
    expect(badEnc.body.code).toBe(1002);
  });
});
