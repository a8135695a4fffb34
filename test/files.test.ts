// bash:read_file / bash:write_file on what a session can leave in its workspace: symbolic links,
// FIFOs, sockets, devices and directories are refused at once with 1002 (the server stays
// responsive), sizes stay within the limits even for a file that grows meanwhile, and what a write
// creates can be handed to the session's user.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeWorkspaceFile } from '../src/backends/bash/files.ts';
import { buildApp, tempDir, type TestApp } from './helpers.ts';

const MAX_READ = 1000;
const MiB = 1024 * 1024;

let t: TestApp;
beforeAll(async () => {
  t = await buildApp({
    backends: { bash: { max_file_bytes: MAX_READ, limits: { file_size_mb: 1 } } },
  });
});
afterAll(() => t.close());

let n = 0;
/** A fresh session: its worker id and workspace directory. */
async function session(): Promise<{ worker: string; workspace: string }> {
  const worker = `files-w${++n}`;
  const r = await t.post('/session/create', { worker_id: worker, resource_type: 'bash' });
  expect(r.body.code).toBe(0);
  return { worker, workspace: join(t.dataDir, 'workspaces', r.body.data.session_id) };
}
const run = async (worker: string, command: string) => {
  const r = await t.execute(worker, 'bash:run', { command });
  expect(r.body.code).toBe(0);
  return r.body.data.stdout as string;
};
/** Calls bounded by a short request timeout: a tool that blocks shows up as 2002, not a hang. */
const read = (worker: string, path: string, encoding?: string) =>
  t.post('/execute', {
    worker_id: worker,
    action: 'bash:read_file',
    params: { path, ...(encoding ? { encoding } : {}) },
    timeout: 5,
  });
const write = (worker: string, path: string, content: string, append = false) =>
  t.post('/execute', {
    worker_id: worker,
    action: 'bash:write_file',
    params: { path, content, append },
    timeout: 5,
  });

describe('symbolic links', () => {
  test('a symlink is refused even when it points inside the workspace', async () => {
    const { worker } = await session();
    await run(worker, 'echo inside > real.txt; ln -s real.txt link; mkdir d; ln -s d dlink');
    for (const r of [
      await read(worker, 'link'),
      await write(worker, 'link', 'x'),
      await read(worker, 'dlink/x'),
      await write(worker, 'dlink/x', 'x'),
      await write(worker, 'dlink/new/x', 'x'),
    ]) {
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain('do not follow symbolic links');
      expect(r.body.message).toContain('bash:run');
    }
    expect(await run(worker, 'cat real.txt; ls d')).toBe('inside\n');
  });

  test('an absolute path inside the workspace is accepted, as a relative one', async () => {
    const { worker, workspace } = await session();
    const wr = await write(worker, join(workspace, 'sub/abs.txt'), 'abs\n');
    expect(wr.body).toMatchObject({ code: 0, data: { path: 'sub/abs.txt', size: 4 } });
    const rd = await read(worker, join(workspace, 'sub/./abs.txt'));
    expect(rd.body.data).toMatchObject({ path: 'sub/abs.txt', content: 'abs\n' });
  });
});

describe('special files', () => {
  test('FIFOs, sockets and directories are refused at once; the server keeps answering', async () => {
    const a = await session();
    const b = await session();
    await write(b.worker, 'other.txt', 'still here\n');
    await run(a.worker, 'mkfifo fifo; mkfifo fifo-read; mkdir dir');
    const socket = Bun.listen({ unix: join(a.workspace, 'sock'), socket: { data() {} } });
    try {
      // The shell holding one FIFO open (read-write: no blocking) makes opening it for writing
      // succeed: only the type check refuses it.
      await run(a.worker, 'exec 3<>fifo-read');
      const started = performance.now();
      const replies = await Promise.all([
        write(a.worker, 'fifo', 'x'),
        write(a.worker, 'fifo', 'y'),
        write(a.worker, 'fifo-read', 'x'),
        read(a.worker, 'fifo'),
        read(a.worker, 'fifo-read'),
        write(a.worker, 'sock', 'x'),
        read(a.worker, 'sock'),
        write(a.worker, 'dir', 'x'),
        read(a.worker, 'dir'),
        read(a.worker, '.'),
        read(b.worker, 'other.txt'),
      ]);
      expect(performance.now() - started).toBeLessThan(3000);
      const other = replies.pop()!;
      expect(other.body).toMatchObject({ code: 0, data: { content: 'still here\n' } });
      for (const r of replies) expect(r.body.code).toBe(1002);
      const messages = replies.map((r) => r.body.message as string);
      expect(messages.slice(0, 7).every((m) => m.startsWith('Not a regular file'))).toBe(true);
      expect(messages[3]).toContain('is a FIFO');
      expect(messages[4]).toContain('is a FIFO');
      expect(messages[2]).toContain('is a FIFO');
      expect(messages[8]).toContain('is a directory');
      expect(messages[7]).toContain('is a directory');
    } finally {
      socket.stop(true);
    }
    expect(await run(a.worker, 'echo alive')).toBe('alive\n');
  });

  test('a device node is neither read nor written', async () => {
    const { worker, workspace } = await session();
    // Sessions cannot mknod; the test can when it runs as root with CAP_MKNOD.
    const made = Bun.spawnSync(['mknod', join(workspace, 'null'), 'c', '1', '3']);
    if (made.exitCode !== 0) {
      console.warn(`skipped: mknod failed here (${made.stderr.toString().trim()})`);
      return;
    }
    for (const r of [await read(worker, 'null'), await write(worker, 'null', 'x')]) {
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain('is a device');
    }
  });
});

describe('limits', () => {
  test('a file above max_file_bytes is refused with its size and the limit', async () => {
    const { worker } = await session();
    await run(
      worker,
      `head -c ${MAX_READ + 1} /dev/zero > big; head -c ${MAX_READ} /dev/zero > ok`,
    );
    const big = await read(worker, 'big');
    expect(big.body.code).toBe(1002);
    expect(big.body.message).toContain(
      `is ${MAX_READ + 1} bytes, above the ${MAX_READ}-byte limit`,
    );
    expect((await read(worker, 'ok', 'base64')).body.data.size).toBe(MAX_READ);
  });

  test('a file growing while it is read never comes back above max_file_bytes', async () => {
    const { worker } = await session();
    // Grows from 0 to 3000 bytes in 100-byte steps, again and again.
    await run(
      worker,
      `(while :; do : > g; for i in {1..30}; do printf '%0100d' 0 >> g; done; done) >/dev/null 2>&1 &
      until [ -e g ]; do sleep 0.01; done`,
    );
    let ok = 0;
    let refused = 0;
    const deadline = Date.now() + 5000;
    // Until both outcomes were seen (the loop really raced the reads), within a bound.
    for (let i = 0; (i < 300 || ok === 0 || refused === 0) && Date.now() < deadline; i++) {
      const r = await read(worker, 'g');
      if (r.body.code === 0) {
        ok++;
        expect(r.body.data.size).toBeLessThanOrEqual(MAX_READ);
        expect(r.body.data.content.length).toBe(r.body.data.size);
      } else {
        refused++;
        expect(r.body.code).toBe(1002);
        expect(r.body.message).toContain(`above the ${MAX_READ}-byte limit`);
      }
    }
    expect(ok).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  test('a write or an append past limits.file_size_mb is refused and changes nothing', async () => {
    const { worker } = await session();
    const tooBig = await write(worker, 'huge.txt', 'x'.repeat(MiB + 1));
    expect(tooBig.body.code).toBe(1002);
    expect(tooBig.body.message).toContain(`above the ${MiB}-byte file size limit`);
    expect(await run(worker, 'ls')).toBe('');
    expect((await write(worker, 'log.txt', 'x'.repeat(700 * 1024))).body.code).toBe(0);
    const append = await write(worker, 'log.txt', 'y'.repeat(400 * 1024), true);
    expect(append.body.code).toBe(1002);
    expect(append.body.message).toContain(`${1100 * 1024} bytes, above the ${MiB}-byte`);
    expect(await run(worker, 'stat -c %s log.txt')).toBe(`${700 * 1024}\n`);
    expect((await write(worker, 'log.txt', 'y'.repeat(MiB - 700 * 1024), true)).body.code).toBe(0);
    expect(await run(worker, 'stat -c %s log.txt')).toBe(`${MiB}\n`);
  });
});

test('no descriptor is left open, whatever the outcome', async () => {
  const { worker } = await session();
  await run(
    worker,
    `mkfifo fifo; ln -s x link; mkdir dir; head -c ${MAX_READ + 1} /dev/zero > big`,
  );
  const fds = () => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 0; i < 50; i++) {
    await write(worker, `d${i % 5}/f.txt`, 'x', i % 2 === 1);
    await read(worker, `d${i % 5}/f.txt`);
    for (const path of ['fifo', 'link', 'dir', 'big', 'missing', 'link/x', 'd0/f.txt/x']) {
      await read(worker, path);
      await write(worker, path, 'x');
    }
  }
  // Slack for whatever else the runtime opens meanwhile; a leak would be hundreds.
  expect(fds() - before).toBeLessThan(10);
});

describe('writeWorkspaceFile', () => {
  const root = process.getuid?.() === 0;
  test.skipIf(!root)(
    'what a write creates belongs to the owner; what existed keeps its own',
    async () => {
      const workspace = tempDir('af-owner-');
      try {
        mkdirSync(join(workspace, 'old'));
        const owner = { uid: 4242, gid: 4343 };
        const options = { append: false, maxBytes: MiB, owner };
        const r = await writeWorkspaceFile(workspace, 'old/new/deep/f.txt', 'hi', 'utf8', options);
        expect(r).toEqual({ path: 'old/new/deep/f.txt', size: 2 });
        const ids = (p: string) => {
          const s = statSync(join(workspace, p));
          return [s.uid, s.gid];
        };
        expect(ids('old/new')).toEqual([4242, 4343]);
        expect(ids('old/new/deep')).toEqual([4242, 4343]);
        expect(ids('old/new/deep/f.txt')).toEqual([4242, 4343]);
        expect(ids('old')).toEqual([0, 0]);
        expect(ids('.')).toEqual([0, 0]);
        // Rewriting a file that exists keeps its owner.
        await writeWorkspaceFile(workspace, 'mine.txt', 'a', 'utf8', {
          append: false,
          maxBytes: MiB,
        });
        await writeWorkspaceFile(workspace, 'mine.txt', 'b', 'utf8', options);
        expect(ids('mine.txt')).toEqual([0, 0]);
        expect(statSync(join(workspace, 'mine.txt')).mode & 0o777).toBe(0o644 & ~process.umask());
      } finally {
        rmSync(workspace, { recursive: true, force: true });
      }
    },
  );

  test('an existing symlink among the parents is refused and nothing is made beyond it', async () => {
    const workspace = tempDir('af-owner-');
    const outside = tempDir('af-owner-out-');
    try {
      symlinkSync(outside, join(workspace, 'link'));
      const options = { append: false, maxBytes: MiB };
      await expect(
        writeWorkspaceFile(workspace, 'link/a/b.txt', 'x', 'utf8', options),
      ).rejects.toMatchObject({ code: 1002 });
      expect(readdirSync(outside)).toEqual([]);
      expect(existsSync(join(workspace, 'a'))).toBe(false);
    } finally {
      rmSync(workspace, { recursive: true, force: true });
      rmSync(outside, { recursive: true, force: true });
    }
  });
});
