// Bash session isolation with a real bubblewrap sandbox: what a session can and cannot see,
// reach and write, and the per-session resource limits.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config.ts';
import { silentLogger } from '../src/core/log.ts';
import { createApp, createServices } from '../src/server.ts';
import {
  ROOT,
  buildApp,
  processesLeft,
  processesOfSession,
  tempDir,
  type TestApp,
} from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildApp({
    backends: { bash: { allow_network: true, limits: { file_size_mb: 1, open_files: 64 } } },
  });
});
afterAll(() => t.close());

const run = async (worker: string, command: string) =>
  (await t.post('/execute', { worker_id: worker, action: 'bash:run', params: { command } })).body;
const create = (worker: string, config: Record<string, unknown> = {}) =>
  t.post('/session/create', { worker_id: worker, resource_type: 'bash', config });

describe('bubblewrap sandbox', () => {
  test('warmup chose bwrap', async () => {
    await t.post('/warmup', {});
    const status = (await t.get('/warmup/status')).body.data.backends.bash;
    expect(status.detail).toStartWith('isolation: bwrap');
  });

  test('the data directory shows only the session’s own workspace', async () => {
    await create('iso-a');
    await create('iso-b');
    const a = await run(
      'iso-a',
      `ls -A ${t.dataDir}; ls -A ${t.dataDir}/workspaces; cat ${t.dataDir}/agentflow.db`,
    );
    const own = (await t.post('/session/list', { worker_id: 'iso-a' })).body.data.sessions[0]
      .session_id;
    // A shell from the warm pool also sees the name its sandbox was started with, the directory
    // its own workspace really is (README "Warm pool"); never another session's.
    const [top, ...listed] = (a.data.stdout as string).trim().split('\n');
    expect(top).toBe('workspaces');
    expect(listed).toContain(own);
    for (const name of listed) if (name !== own) expect(name).toMatch(/^pool-[0-9a-f]{16}$/);
    expect(listed.length).toBeLessThanOrEqual(2);
    expect(a.data.stderr).toContain('No such file');
  });

  test('the system is read-only and /tmp is private to the session', async () => {
    const w = await run(
      'iso-a',
      'touch /etc/agentflow-test 2>&1; touch /new-file 2>&1; echo secret > /tmp/mine; cat /tmp/mine',
    );
    expect(w.data.stdout.match(/Read-only file system/g)).toHaveLength(2);
    expect(w.data.stdout).toContain('secret');
    const other = await run('iso-b', 'cat /tmp/mine 2>&1 || echo absent');
    expect(other.data.stdout).toContain('absent');
  });

  test('only the system directories are visible, not the rest of the host', async () => {
    const r = await run('iso-a', 'ls /');
    const entries = r.data.stdout.trim().split('\n');
    expect(entries).toEqual(expect.arrayContaining(['usr', 'etc', 'bin', 'tmp', 'proc', 'dev']));
    expect(entries).not.toContain('work');
    expect(entries).not.toContain('mnt');
  });

  test('the server’s processes are invisible', async () => {
    const r = await run(
      'iso-a',
      'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "; echo; ls /proc | grep -c "^[0-9]"',
    );
    expect(r.data.stdout).not.toContain('bun');
    const count = Number(r.data.stdout.trim().split('\n').pop());
    expect(count).toBeLessThan(10);
  });

  test('no network unless the session asks and the server allows', async () => {
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('pong') });
    try {
      const probe = `exec 3<>/dev/tcp/127.0.0.1/${server.port} && echo connected || echo refused`;
      const closed = await run('iso-a', `${probe} 2>/dev/null`);
      expect(closed.data.stdout).toBe('refused\n');
      await create('iso-net', { network: true });
      const open = await run('iso-net', `${probe} 2>/dev/null`);
      expect(open.data.stdout).toBe('connected\n');
    } finally {
      server.stop(true);
    }
  });

  test('a session asking for network on a server that forbids it is 1002', async () => {
    const strict = await buildApp();
    try {
      const r = await strict.post('/session/create', {
        worker_id: 'w',
        resource_type: 'bash',
        config: { network: true },
      });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain('allow_network');
    } finally {
      await strict.close();
    }
  });

  test('resource limits apply: file size and open files', async () => {
    const big = await run(
      'iso-a',
      'head -c 2000000 /dev/zero > big; echo "exit=$?"; stat -c %s big',
    );
    expect(big.data.stdout).toContain('exit=153'); // 128 + SIGXFSZ
    expect(big.data.stdout).toContain('1048576');
    const files = await run('iso-a', 'ulimit -n');
    expect(files.data.stdout).toBe('64\n');
  });

  test('the config file is hidden from sessions', async () => {
    const dataDir = tempDir();
    // Outside /tmp (already private in the sandbox), so only the file's own mask hides it.
    const configDir = mkdtempSync(join(ROOT, '.test-conf-'));
    const configPath = join(configDir, 'agentflow.json');
    writeFileSync(configPath, JSON.stringify({ data_dir: dataDir, log_level: 'silent' }));
    const services = await createServices(
      loadConfig({ configPath }, {}),
      silentLogger,
      () => {},
      configPath,
    );
    const app = createApp(services);
    try {
      const res = await app.handle(
        new Request('http://localhost/execute', {
          method: 'POST',
          body: JSON.stringify({
            worker_id: 'conf',
            action: 'bash:run',
            params: { command: `cat ${configPath} | wc -c` },
          }),
        }),
      );
      const body = (await res.json()) as any;
      const [size] = body.data.stdout.trim().split('\n');
      expect(size).toBe('0');
    } finally {
      await services.shutdown({ force: true, cleanupSessions: true });
      rmSync(configDir, { recursive: true, force: true });
    }
  });
});

describe('isolation none', () => {
  test('runs without a sandbox and says so', async () => {
    const open = await buildApp({ backends: { bash: { isolation: 'none' } } });
    try {
      await open.post('/warmup', {});
      expect((await open.get('/warmup/status')).body.data.backends.bash.detail).toBe(
        'isolation: none',
      );
      const r = await open.post('/execute', {
        worker_id: 'w',
        action: 'bash:run',
        params: { command: `ls ${open.dataDir}` },
      });
      expect(r.body.data.stdout).toContain('agentflow.db');
      // Without a pid namespace, destroy hunts down processes that left the shell's tree.
      await open.post('/session/create', { worker_id: 'leaver', resource_type: 'bash' });
      const made = await open.post('/execute', {
        worker_id: 'leaver',
        action: 'bash:run',
        params: { command: '(setsid sleep 303 &); (sleep 304 &); echo ok' },
      });
      const id = made.body.meta.session_id;
      await Bun.sleep(50);
      expect(processesOfSession(id).length).toBeGreaterThanOrEqual(3);
      // A timeout there too kills the command's processes, daemonised or not, and only those.
      const timedOut = await open.post('/execute', {
        worker_id: 'leaver',
        action: 'bash:run',
        params: { command: '(setsid sleep 305 &); sleep 306 & sleep 307', timeout: 0.3 },
      });
      expect(timedOut.body.code).toBe(2002);
      await Bun.sleep(100);
      const cmdlines = processesOfSession(id).map((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
        } catch {
          return '';
        }
      });
      expect(cmdlines.filter((c) => /sleep 30[567]/.test(c))).toEqual([]);
      expect(cmdlines.filter((c) => /sleep 30[34]/.test(c))).toHaveLength(2);
      await open.post('/session/destroy', { worker_id: 'leaver' });
      expect(await processesLeft(id)).toEqual([]);
    } finally {
      await open.close();
    }
  });
});
