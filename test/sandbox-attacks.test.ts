// A hostile session against the bash sandbox, tried as an attacker would: environment variables
// that would run code on the host, root inside the sandbox, forged end markers and floods, fork
// bombs, and processes that clear their environment to dodge a timeout.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import bashModule from '../src/backends/bash/index.ts';
import { silentLogger } from '../src/core/log.ts';
import { Value } from '@sinclair/typebox/value';
import {
  buildApp,
  isAlive,
  processesOfDataDir,
  processesOfSession,
  tempDir,
  type TestApp,
} from './helpers.ts';

const ROOT = process.getuid?.() === 0;
const OUTPUT_LIMIT = 64 * 1024;
let t: TestApp;

beforeAll(async () => {
  t = await buildApp({
    backends: {
      bash: {
        output_limit_bytes: OUTPUT_LIMIT,
        limits: { tmp_mb: 8, processes: 200 },
      },
    },
  });
  await t.post('/warmup', {});
});
afterAll(() => t.close());

const create = (worker: string, config: Record<string, unknown> = {}) =>
  t.post('/session/create', { worker_id: worker, resource_type: 'bash', config });
const run = async (worker: string, command: string, timeout?: number) =>
  (
    await t.post('/execute', {
      worker_id: worker,
      action: 'bash:run',
      params: { command, ...(timeout ? { timeout } : {}) },
    })
  ).body;
const sessionIdOf = async (worker: string): Promise<string> =>
  (await t.post('/session/list', { worker_id: worker })).body.data.sessions[0].session_id;

const environOf = (pid: number): string[] => {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').filter(Boolean);
  } catch {
    return [];
  }
};
const cmdlineOf = (pid: number): string => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
};

/** Polls /health on the app while `work` runs; returns the slowest answer in ms. */
async function slowestHealthDuring(work: Promise<unknown>): Promise<number> {
  let done = false;
  void work.finally(() => (done = true));
  let slowest = 0;
  while (!done) {
    const start = performance.now();
    const r = await t.get('/health');
    expect(r.status).toBe(200);
    slowest = Math.max(slowest, performance.now() - start);
    await Bun.sleep(20);
  }
  return slowest;
}

describe('session environment', () => {
  test('names that change how programs load or how the shell behaves are 1002, named', async () => {
    for (const name of [
      'LD_PRELOAD',
      'LD_LIBRARY_PATH',
      'LD_AUDIT',
      'BASH_ENV',
      'ENV',
      'PROMPT_COMMAND',
      'SHELLOPTS',
      'IFS',
      'GLIBC_TUNABLES',
      'AGENTFLOW_INSTANCE',
      'AGENTFLOW_COMMAND',
    ]) {
      const r = await create(`env-bad-${name.toLowerCase()}`, { env: { [name]: './evil.so' } });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe(1002);
      expect(r.body.message).toContain(name);
    }
    // Nothing was created for any of them.
    const list = (await t.post('/session/list', {})).body.data.sessions as { worker_id: string }[];
    expect(list.filter((s) => s.worker_id.startsWith('env-bad-'))).toEqual([]);
  });

  test('session variables reach the shell inside, never the helpers that start it', async () => {
    expect((await create('env-ok', { env: { AF_TEST_SECRET: 's3cr3t-value' } })).body.code).toBe(0);
    const r = await run('env-ok', 'echo "$AF_TEST_SECRET"; sleep 0.2 & wait');
    expect(r.data.stdout).toBe('s3cr3t-value\n');
    // Every process of this server's sessions: the session's shell and its host-side helpers
    // among them (a shell from the warm pool carries the pool's name, so not found by the
    // session's), the other sessions' and the pool's. The command's own children are gone.
    const pids = processesOfDataDir(t.dataDir);
    expect(pids.length).toBeGreaterThan(0);
    // The host-side processes (prlimit → bwrap) and the shells themselves start with the fixed
    // set; the session's variables are exported inside, by its shell.
    for (const pid of pids) {
      const env = environOf(pid).join('\n');
      expect(env).not.toContain('s3cr3t-value');
      expect(env).not.toContain('AGENTFLOW_API_KEY');
    }
    expect(pids.some((pid) => cmdlineOf(pid).includes('bwrap'))).toBe(true);
    for (const pid of pids) expect(cmdlineOf(pid)).not.toContain('s3cr3t-value');
  });
});

describe.skipIf(!ROOT)('a root server: sessions are unprivileged users of their own', () => {
  test('uid from the range, no capabilities, no new privileges, seccomp on', async () => {
    expect((await create('root-a', { cwd: 'proj/src' })).body.code).toBe(0);
    await create('root-b');
    const a = await run(
      'root-a',
      'id -u; id -g; id -G; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status',
    );
    const b = await run('root-b', 'id -u');
    const [uid, gid, groups, ...status] = a.data.stdout.trim().split('\n');
    expect(Number(uid)).toBeGreaterThanOrEqual(200000);
    expect(gid).toBe(uid);
    expect(groups).toBe(uid);
    expect(status.map((l: string) => l.replace(/\s+/g, ' '))).toEqual([
      'CapEff: 0000000000000000',
      'CapBnd: 0000000000000000',
      'NoNewPrivs: 1',
      'Seccomp: 2',
    ]);
    expect(b.data.stdout.trim()).not.toBe(uid);
    // The workspace, and what the session makes there, belong to its uid on the host.
    const id = await sessionIdOf('root-a');
    await run('root-a', 'echo mine > ~/made-by-session');
    const workspace = join(t.dataDir, 'workspaces', id);
    expect(statSync(workspace).uid).toBe(Number(uid));
    expect(statSync(join(workspace, 'proj', 'src')).uid).toBe(Number(uid));
    expect(statSync(join(workspace, 'made-by-session')).uid).toBe(Number(uid));
    // So do the files and directories bash:write_file makes for it, and it can change them.
    await t.post('/execute', {
      worker_id: 'root-a',
      action: 'bash:write_file',
      params: { path: 'by-server/note.txt', content: 'hi' },
    });
    expect(statSync(join(workspace, 'by-server')).uid).toBe(Number(uid));
    expect(statSync(join(workspace, 'by-server', 'note.txt')).uid).toBe(Number(uid));
    const edit = await run(
      'root-a',
      'cd ~ && echo more >> by-server/note.txt && rm -r by-server && echo ok',
    );
    expect(edit.data.stdout).toBe('ok\n');
  });

  test('remount, sysctl, a new user namespace, writes to the system and root files all fail', async () => {
    const attempts: Record<string, string> = {
      remount: 'mount -o remount,rw /usr',
      bind: 'mount --bind /tmp /usr',
      sysctl: 'echo "|/tmp/x" > /proc/sys/kernel/core_pattern',
      sysrq: 'echo b > /proc/sysrq-trigger',
      userns: 'unshare -r true',
      'userns-mount': 'unshare -rm sh -c "mount -t tmpfs none /usr"',
      'userns-python': 'python3 -c "import os; os.unshare(os.CLONE_NEWUSER)"',
      usr: 'touch /usr/agentflow-attack',
      etc: 'touch /etc/agentflow-attack',
      srv: 'touch /srv/agentflow-attack',
      opt: 'touch /opt/agentflow-attack',
      shadow: 'cat /etc/shadow',
      su: 'su -c id root </dev/null',
      chown: 'touch f && chown 0:0 f',
    };
    for (const [name, command] of Object.entries(attempts)) {
      const r = await run('root-a', `${command} >/dev/null 2>&1; echo "$?"`);
      expect({ name, status: r.data.stdout.trim() }).not.toEqual({ name, status: '0' });
    }
    for (const dir of ['/usr', '/etc', '/srv', '/opt']) {
      expect(() => statSync(join(dir, 'agentflow-attack'))).toThrow();
    }
  });
});

describe('end markers', () => {
  test('a command that prints a marker built from what it can see does not end early', async () => {
    await create('forge');
    // The old protocol put the nonce in $AGENTFLOW_COMMAND; a well-formed trailer after it.
    const r = await run(
      'forge',
      `printf '\\037__AF_%s__0 /\\0' "$AGENTFLOW_COMMAND"; printf '\\037__AF_%s__\\0' "$AGENTFLOW_COMMAND" >&2; ` +
        'sleep 0.2; echo real-end; exit 3',
    );
    expect(r.code).toBe(0);
    expect(r.data.stdout).toContain('real-end');
    expect(r.data.exit_code).toBe(3);
    // What the command can see of itself names no marker nonce.
    const seen = await run(
      'forge',
      'cat /proc/$$/environ /proc/$$/cmdline; env; echo "$BASH_COMMAND"',
    );
    expect(seen.data.stdout).not.toMatch(/__AF_[A-Za-z0-9_-]{16}__/);
  });

  test('a partial marker followed by endless output: bounded, linear, killed at the deadline', async () => {
    const before = process.memoryUsage().rss;
    const call = run(
      'forge',
      `printf '\\037__AF_%s__' "$AGENTFLOW_COMMAND"; yes "$AGENTFLOW_COMMAND"`,
      2,
    );
    const slowest = await slowestHealthDuring(call);
    const r = await call;
    expect(r.code).toBe(2002);
    expect(r.data.truncated).toBe(true);
    expect(r.data.stdout.length).toBeLessThanOrEqual(OUTPUT_LIMIT + 64);
    expect(slowest).toBeLessThan(1000);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
    // The session still works.
    expect((await run('forge', 'echo alive')).data.stdout).toBe('alive\n');
  });

  test('output between commands is capped like a command’s own', async () => {
    await create('stray');
    await run('stray', '(head -c 40000000 /dev/zero | tr "\\0" x) & echo started');
    await Bun.sleep(1500);
    const r = await run('stray', 'echo next');
    expect(r.code).toBe(0);
    expect(r.data.stdout.length).toBeLessThanOrEqual(OUTPUT_LIMIT + 64);
    expect(r.data.truncated).toBe(true);
  });
});

describe('timeouts', () => {
  test('a process that cleared its environment dies with the command; earlier jobs do not', async () => {
    await create('envi');
    await run('envi', 'env -i sleep 401 & echo earlier');
    const r = await run('envi', 'env -i sleep 402 & (env -i sleep 403 &); sleep 30', 0.5);
    expect(r.code).toBe(2002);
    const left = await run('envi', 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " "');
    expect(left.data.stdout).toContain('sleep 401');
    expect(left.data.stdout).not.toContain('sleep 402');
    expect(left.data.stdout).not.toContain('sleep 403');
  });
});

describe('limits', () => {
  test('a fork bomb is held to the process limit; the server and other sessions stay responsive', async () => {
    await create('bomb');
    await create('bystander');
    const id = await sessionIdOf('bomb');
    let most = 0;
    const call = run('bomb', 'b() { b | b & }; b; sleep 30', 3);
    let done = false;
    void call.finally(() => (done = true));
    while (!done) {
      most = Math.max(most, processesOfSession(id).length);
      const start = performance.now();
      const other = await run('bystander', 'echo fine');
      expect(other.data.stdout).toBe('fine\n');
      expect(performance.now() - start).toBeLessThan(3000);
      await Bun.sleep(50);
    }
    const r = await call;
    expect(r.code).toBe(2002);
    // 200 processes of the session's uid (as root, where it has its own); a few are helpers.
    if (ROOT) expect(most).toBeLessThanOrEqual(210);
    expect((await t.get('/health')).status).toBe(200);
    await t.post('/session/destroy', { worker_id: 'bomb' });
    const deadline = Date.now() + 5000;
    while (processesOfSession(id).filter(isAlive).length > 0 && Date.now() < deadline) {
      await Bun.sleep(50);
    }
    expect(processesOfSession(id).filter(isAlive)).toEqual([]);
  });

  test.skipIf(!ROOT)(
    'a session’s memory and processes are capped together (cgroup)',
    async () => {
      const capped = await buildApp({
        backends: { bash: { limits: { session_memory_mb: 64, session_processes: 64 } } },
      });
      try {
        await capped.post('/warmup', {});
        await capped.post('/session/create', { worker_id: 'hog', resource_type: 'bash' });
        const id = (await capped.post('/session/list', { worker_id: 'hog' })).body.data.sessions[0]
          .session_id;
        const exec = async (command: string) =>
          (await capped.execute('hog', 'bash:run', { command })).body;
        // Four processes of 40 MB each: each is under any per-process limit, together over 64 MB.
        const memory = await exec(
          'for i in 1 2 3 4; do python3 -c "import time; b = bytearray(40 << 20); time.sleep(3)" & done; wait; echo done',
        );
        expect(memory.data.stdout).toContain('done');
        expect(memory.data.stderr).toMatch(/Killed|MemoryError/);
        // Processes: forking stops at the cap (the sandbox's helpers and the shell count too).
        const forks = await exec(
          'python3 -c "import os, signal\nkids = []\ntry:\n  while len(kids) < 500:\n' +
            '    pid = os.fork()\n    if pid == 0:\n      signal.pause()\n    kids.append(pid)\n' +
            'except OSError:\n  pass\nprint(len(kids))\nfor k in kids:\n  os.kill(k, 9)"',
        );
        const forked = Number(forks.data.stdout.trim());
        expect(forked).toBeGreaterThan(10);
        expect(forked).toBeLessThan(64);
        const cgroupOf = (pid: number) => readFileSync(`/proc/${pid}/cgroup`, 'utf8');
        // Something of the session that carries its id (a shell from the warm pool carries the
        // pool's name; what it starts, the session's).
        await exec('sleep 300 >/dev/null 2>&1 &');
        const pids = processesOfSession(id).filter(isAlive);
        expect(pids.length).toBeGreaterThan(0);
        // Where its memory cgroup is (v1: the memory hierarchy; v2: the unified one); every
        // process of the session is in that one.
        const memoryLine = (pid: number) =>
          cgroupOf(pid)
            .split('\n')
            .find((l) => l.includes(':memory:') || l.startsWith('0::'))!;
        const line = memoryLine(pids[0]!);
        expect(line).toContain('agentflow-');
        for (const pid of pids) expect(memoryLine(pid)).toBe(line);
        const dir = line.includes(':memory:')
          ? join('/sys/fs/cgroup/memory', line.split(':')[2]!)
          : join('/sys/fs/cgroup', line.slice(3));
        const procs = () => readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim();
        expect(procs()).not.toBe('');
        await capped.post('/session/destroy', { worker_id: 'hog' });
        // Destroyed: nothing of it is left in its cgroup; the server removes the cgroups at close.
        const deadline = Date.now() + 5000;
        while (procs() !== '' && Date.now() < deadline) await Bun.sleep(50);
        expect(procs()).toBe('');
        await capped.close();
        expect(existsSync(dir)).toBe(false);
        expect(existsSync(dirname(dir))).toBe(false);
      } finally {
        await capped.close();
      }
    },
    30_000,
  );

  test('private /tmp and /dev/shm are size-capped', async () => {
    await create('tmpfull');
    const r = await run(
      'tmpfull',
      'head -c 16000000 /dev/zero > /tmp/big; echo "tmp=$?"; head -c 16000000 /dev/zero > /dev/shm/big; echo "shm=$?"',
    );
    expect(r.data.stdout).not.toContain('tmp=0');
    expect(r.data.stdout).not.toContain('shm=0');
    expect(r.data.stderr).toContain('No space left');
  });
});

test('a bash backend that has not warmed up refuses to start a shell (2003), never unsandboxed', async () => {
  const dataDir = tempDir();
  const config = Value.Default(bashModule.configSchema, {}) as never;
  const backend = await bashModule.create(config, {
    dataDir,
    sessionWritable: [],
    instanceId: 'unwarmed',
    log: silentLogger,
    hiddenPaths: [],
  });
  const info = {
    sessionId: 'bash_unwarmed_001',
    workerId: 'w',
    resourceType: 'bash',
    sessionName: 'bash_unwarmed_001',
    config: {},
    state: {},
    temporary: false,
  };
  const err = await backend!.createSession!(info).catch((e: { code?: number }) => e);
  expect(err.code).toBe(2003);
});

describe('red-team findings', () => {
  test('a workspace that takes long to delete does not hold up the server', async () => {
    const w = 'deep-tree';
    await create(w);
    const id = await sessionIdOf(w);
    const made = await run(
      w,
      "python3 -c \"import os\nfor i in range(2000):\n  os.mkdir('d'); os.chdir('d')\" && echo made",
      60,
    );
    expect(made.data.stdout).toBe('made\n');
    const workspace = join(t.dataDir, 'workspaces', id);
    const started = performance.now();
    const destroy = t.post('/session/destroy', { worker_id: w });
    const slowest = await slowestHealthDuring(destroy);
    expect((await destroy).body.code).toBe(0);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(slowest).toBeLessThan(500);
    expect(existsSync(workspace)).toBe(false);
  }, 90_000);

  test('host_dirs may not nest, and a host dir reached through a link is not bound', async () => {
    const outer = tempDir('af-host-');
    const err = await buildApp({ backends: { bash: { host_dirs: [outer, join(outer, 'in')] } } })
      .then((a) => a.close())
      .catch((e) => e);
    expect(err?.code).toBe(5001);
    expect(String(err?.message)).toContain('may not nest');
    const real = tempDir('af-host-real-');
    const link = join(outer, 'link');
    symlinkSync(real, link);
    const linked = await buildApp({ backends: { bash: { host_dirs: [link] } } });
    try {
      await linked.post('/warmup', {});
      const r = await linked.execute('via-link', 'bash:run', { command: `ls -d ${link} 2>&1` });
      expect(r.body.data.stdout).toContain('No such file');
    } finally {
      await linked.close();
      rmSync(outer, { recursive: true, force: true });
      rmSync(real, { recursive: true, force: true });
    }
  });

  test('an env too large to hand to the shell is 1002 at once', async () => {
    const started = performance.now();
    // Each value within its own limit; together 600,000 characters, most of them control bytes
    // (four characters each once quoted for the shell).
    const env = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`V${i}`, '\x7f'.repeat(30000)]),
    );
    const r = await create('env-huge', { env });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe(1002);
    expect(r.body.message).toContain('in all');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test('the seccomp filter is not a file in the data directory', async () => {
    const entries = readdirSync(t.dataDir);
    expect(entries.filter((e) => e.includes('seccomp') || e.endsWith('.bpf'))).toEqual([]);
  });

  test.skipIf(!ROOT)(
    'kernel keyrings are refused; a uid is not handed out again after a restart',
    async () => {
      const dataDir = tempDir();
      const first = await buildApp({}, silentLogger, dataDir);
      const uids: string[] = [];
      try {
        await first.post('/warmup', {});
        const keyctl = await first.execute('keys', 'bash:run', {
          command:
            'python3 -c "import ctypes, sys\nr = ctypes.CDLL(None).syscall(250, 0, -4, 0)\nsys.exit(0 if r >= 0 else 7)"; echo "$?"',
        });
        expect(keyctl.body.data.stdout.trim()).toBe('7');
        await first.post('/session/create', { worker_id: 'before', resource_type: 'bash' });
        uids.push(
          (await first.execute('before', 'bash:run', { command: 'id -u' })).body.data.stdout,
        );
        await first.post('/session/destroy', { worker_id: 'before' });
      } finally {
        await first.services.shutdown({ force: true, cleanupSessions: true });
      }
      const second = await buildApp({}, silentLogger, dataDir);
      try {
        await second.post('/warmup', {});
        await second.post('/session/create', { worker_id: 'after', resource_type: 'bash' });
        uids.push(
          (await second.execute('after', 'bash:run', { command: 'id -u' })).body.data.stdout,
        );
        expect(uids[1]).not.toBe(uids[0]);
      } finally {
        await second.close();
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
});
