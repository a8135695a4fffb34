// The compiled binary: built by `bun run build`'s script, started from an empty directory with no
// node_modules, answering the smoke subset; and the CLI's clear one-line failures.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from './helpers.ts';

let dir: string;
let binary: string;

beforeAll(async () => {
  dir = tempDir('af-bin-');
  binary = join(dir, 'agentflow-server');
  const build = Bun.spawnSync(['bun', 'run', join(ROOT, 'scripts/build-binary.ts'), binary]);
  if (build.exitCode !== 0) throw new Error(`build failed: ${build.stderr.toString()}`);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => {
  const r = Bun.spawnSync([binary, ...args], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() };
};

test('--version and --help', () => {
  const pkg = require('../package.json');
  expect(cli('--version')).toMatchObject({ code: 0, out: `${pkg.version}\n` });
  const help = cli('--help');
  expect(help.code).toBe(0);
  expect(help.out).toContain('--data-dir');
});

test('bad flags and config values exit non-zero with one clear line', () => {
  const unknown = cli('--frobnicate');
  expect(unknown.code).not.toBe(0);
  expect(unknown.err.trim().split('\n')).toHaveLength(1);
  expect(unknown.err).toContain('frobnicate');
  const port = cli('--port', 'eighty');
  expect(port.code).not.toBe(0);
  expect(port.err.trim().split('\n')).toHaveLength(1);
  expect(port.err).toContain('port');
  const dataDir = cli('--data-dir', '/etc/hostname/data');
  expect(dataDir.code).not.toBe(0);
  expect(dataDir.err.trim().split('\n')).toHaveLength(1);
  expect(dataDir.err).toContain('/etc/hostname/data');
  const open = cli('--host', '0.0.0.0');
  expect(open.code).not.toBe(0);
  expect(open.err).toContain('--insecure');
});

test('serves from an empty directory: health, bash, file tools, sessions, warm worker thread', async () => {
  const port = 30000 + Math.floor(Math.random() * 20000);
  const proc = Bun.spawn([binary, '--port', String(port)], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '' },
    stderr: 'pipe',
    stdout: 'pipe',
  });
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 200; i++) {
      if (
        await fetch(`${url}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await Bun.sleep(25);
    }
    const post = async (path: string, body: unknown) =>
      (
        await fetch(url + path, { method: 'POST', body: JSON.stringify(body) })
      ).json() as Promise<any>;
    const run = await post('/execute', {
      worker_id: 'bin',
      action: 'bash:run',
      params: { command: 'echo hi' },
    });
    expect(run.code).toBe(0);
    expect(run.data.stdout).toBe('hi\n');
    const created = await post('/session/create', { worker_id: 'bin', resource_type: 'bash' });
    expect(created.data.created).toBe(true);
    const listed = await post('/session/list', { worker_id: 'bin' });
    expect(listed.data.sessions).toHaveLength(1);
    // The file tools' openat2 goes through bun:ffi, which must work in the binary too.
    const file = { worker_id: 'bin', action: 'bash:write_file' };
    await post('/execute', { ...file, params: { path: 'd/f.txt', content: 'bin\n' } });
    await post('/execute', {
      worker_id: 'bin',
      action: 'bash:run',
      params: { command: 'ln -s d l' },
    });
    const read = (path: string) =>
      post('/execute', { worker_id: 'bin', action: 'bash:read_file', params: { path } });
    expect((await read('d/f.txt')).data.content).toBe('bin\n');
    expect((await read('l/f.txt')).message).toContain('do not follow symbolic links');
    const warm = (await (await fetch(`${url}/warmup/status`)).json()) as any;
    expect(warm.data.backends.bash.warmed_up).toBe(true);
    // rag's build and search workers are embedded too: the demo corpus answers.
    const search = await post('/execute', {
      worker_id: 'bin',
      action: 'rag:search',
      params: { query: 'session', top_k: 3 },
    });
    expect(search.code).toBe(0);
    expect(search.data.results.length).toBeGreaterThan(0);
    const bad = await post('/execute', {
      worker_id: 'bin',
      action: 'bash:run',
      params: { command: 1 },
    });
    expect(bad.meta.error_type).toBe('ParameterError');
    // Data lands in ./data of the working directory by default.
    expect(await Bun.file(join(dir, 'data', 'agentflow.db')).exists()).toBe(true);
  } finally {
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }
});

test('worker keys alone also allow a non-loopback bind', async () => {
  const configPath = join(dir, 'keys.json');
  await Bun.write(
    configPath,
    JSON.stringify({ api_keys: [{ key: 'k'.repeat(20), scope: 'worker', workers: 'a-*' }] }),
  );
  const port = 30000 + Math.floor(Math.random() * 20000);
  const proc = Bun.spawn(
    [
      binary,
      '--host',
      '0.0.0.0',
      '--port',
      String(port),
      '--config',
      configPath,
      '--data-dir',
      join(dir, 'data-keys'),
    ],
    { cwd: dir, env: { PATH: process.env.PATH ?? '' }, stderr: 'pipe' },
  );
  try {
    let up = false;
    for (let i = 0; i < 200 && !up && proc.exitCode === null; i++) {
      up = await fetch(`http://127.0.0.1:${port}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (!up) await Bun.sleep(25);
    }
    expect(up).toBe(true);
  } finally {
    proc.kill('SIGKILL');
    await proc.exited;
  }
});

test('a second server on the same port is refused, not sharing it', async () => {
  const port = 30000 + Math.floor(Math.random() * 20000);
  const first = Bun.spawn([binary, '--port', String(port), '--data-dir', join(dir, 'data-a')], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '' },
    stderr: 'ignore',
  });
  try {
    for (let i = 0; i < 200; i++) {
      if (
        await fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await Bun.sleep(25);
    }
    const second = cli('--port', String(port), '--data-dir', join(dir, 'data-b'));
    expect(second.code).not.toBe(0);
    expect(second.err).toContain(`${port}`);
  } finally {
    first.kill('SIGKILL');
    await first.exited;
  }
});

test('a port in use is a clear startup error', async () => {
  const blocker = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('x') });
  try {
    const r = cli('--port', String(blocker.port), '--data-dir', join(dir, 'data-port'));
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`${blocker.port}`);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  } finally {
    blocker.stop(true);
  }
});
