// Test fixtures: an app built in-process on a temporary data directory (route tests call
// app.handle with no port), and the real server process for end-to-end tests.
import type { Subprocess } from 'bun';
import { afterEach } from 'bun:test';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app.ts';
import { processesWithEnv } from '../src/backends/bash/processes.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { silentLogger, type Logger } from '../src/core/log.ts';
import { createServices, type Services } from '../src/server.ts';

export const ROOT = join(import.meta.dir, '..');

export function tempDir(prefix = 'af-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Deep-merges `over` into `base` (plain objects only). */
function merge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object'
        ? merge(b as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** A validated config on a fresh data directory, with `overrides` merged in. */
export function testConfig(overrides: Record<string, unknown> = {}, dataDir = tempDir()): Config {
  const file = join(dataDir, 'test-config.json');
  writeFileSync(file, JSON.stringify(merge({ data_dir: dataDir, log_level: 'silent' }, overrides)));
  return loadConfig({ configPath: file }, {});
}

export interface TestApp {
  services: Services;
  app: ReturnType<typeof createApp>;
  dataDir: string;
  /** POSTs JSON (or raw text) and returns status and parsed body. */
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply>;
  get(path: string, headers?: Record<string, string>): Promise<Reply>;
  /** POST /execute of one action for `workerId`. */
  execute(workerId: string, action: string, params?: unknown): Promise<Reply>;
  close(): Promise<void>;
}

export interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

async function reply(res: Response): Promise<Reply> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

/**
 * The app on a fresh data directory that close() removes, or on `dataDir`, which close() leaves
 * for the caller (to build the app again on it, as after a restart).
 */
export async function buildApp(
  overrides: Record<string, unknown> = {},
  log: Logger = silentLogger,
  dataDir?: string,
): Promise<TestApp> {
  const owned = dataDir === undefined;
  dataDir ??= tempDir();
  const config = testConfig(overrides, dataDir);
  const services = await createServices(config, log);
  const app = createApp(services);
  const base = 'http://localhost';
  const post: TestApp['post'] = async (path, body, headers = {}) =>
    reply(
      await app.handle(
        new Request(base + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body:
            typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body),
        }),
      ),
    );
  return {
    services,
    app,
    dataDir,
    post,
    execute: (workerId, action, params = {}) =>
      post('/execute', { worker_id: workerId, action, params }),
    get: async (path, headers = {}) =>
      reply(await app.handle(new Request(base + path, { headers }))),
    close: async () => {
      await services.shutdown({ force: true, cleanupSessions: true });
      if (owned) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ServerProcess {
  url: string;
  port: number;
  dataDir: string;
  proc: Subprocess;
  post(path: string, body?: unknown): Promise<Reply>;
  get(path: string): Promise<Reply>;
  /** Sends SIGKILL and waits for the process to end. */
  kill(): Promise<void>;
  exited: Promise<number>;
  stderr(): string;
}

// Below Linux's ephemeral range (32768 and up), where outgoing connections take their ports.
let nextPort = 20000 + Math.floor(Math.random() * 10000);

export interface StartOptions {
  env?: Record<string, string>;
  /** A module bun loads into the server process before main.ts (test/fixtures/faults/inject.ts). */
  preload?: string;
}

/**
 * Starts `bun src/main.ts` on a free port and waits until /health answers. A port something else
 * on the machine took meanwhile is skipped (the server exits with "cannot listen").
 */
export async function startServer(
  opts: { dataDir?: string; config?: Record<string, unknown> } & StartOptions = {},
): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(opts);
    } catch (err) {
      if (attempt >= 5 || !String((err as Error).message).includes('cannot listen')) throw err;
    }
  }
}

async function startServerOnce(
  opts: { dataDir?: string; config?: Record<string, unknown> } & StartOptions,
): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? tempDir();
  const port = nextPort++;
  const configFile = join(dataDir, `server-config-${port}.json`);
  await Bun.write(configFile, JSON.stringify(merge({ log_level: 'info' }, opts.config ?? {})));
  const proc = Bun.spawn(
    [
      'bun',
      'run',
      ...(opts.preload ? [`--preload=${opts.preload}`] : []),
      join(ROOT, 'src/main.ts'),
      '--config',
      configFile,
      '--port',
      String(port),
      '--data-dir',
      dataDir,
    ],
    { stdout: 'pipe', stderr: 'pipe', env: { ...process.env, ...opts.env } },
  );
  let err = '';
  void (async () => {
    for await (const chunk of proc.stderr) err += new TextDecoder().decode(chunk);
  })();
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const res = await fetch(url + '/health');
      if (res.ok) break;
    } catch {
      // not up yet
    }
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`server did not start (exit ${proc.exitCode}): ${err}`);
    }
    await Bun.sleep(25);
  }
  const request = async (method: string, path: string, body?: unknown) =>
    reply(
      await fetch(url + path, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );
  return {
    url,
    port,
    dataDir,
    proc,
    post: (path, body) => request('POST', path, body),
    get: (path) => request('GET', path),
    kill: async () => {
      proc.kill('SIGKILL');
      await proc.exited;
    },
    exited: proc.exited,
    stderr: () => err,
  };
}

/** Pids of live processes whose environment has AGENTFLOW_INSTANCE (any data directory). */
export function processesOfSession(sessionId: string): number[] {
  const out = Bun.spawnSync([
    'bash',
    '-c',
    `grep -lza "AGENTFLOW_SESSION_ID=${sessionId}" /proc/[0-9]*/environ 2>/dev/null`,
  ]);
  return out.stdout
    .toString()
    .split('\n')
    .filter(Boolean)
    .map((p) => Number(p.split('/')[2]))
    .filter((pid) => pid !== process.pid);
}

/** The AGENTFLOW_INSTANCE mark the server gives every process of this data directory's sessions. */
export function instanceIdOf(dataDir: string): string {
  return new Bun.CryptoHasher('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 16);
}

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * A `python3` that finds no site packages (`-S`): pandas, numpy, matplotlib and scipy are absent
 * for it, as on a machine without them. Written into `dir`.
 */
export function barePython(dir: string): string {
  const python = join(dir, 'python3-bare');
  writeFileSync(python, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n', { mode: 0o755 });
  return python;
}

/** Live pids (not zombies) of processes started for sessions of the server on `dataDir`. */
export function processesOfDataDir(dataDir: string): number[] {
  return processesWithEnv('AGENTFLOW_INSTANCE', instanceIdOf(dataDir)).filter(isAlive);
}

/**
 * Test cleanup: SIGKILLs the servers still running, then the processes of their sessions, then
 * removes their data directories and `dirs`. Empties `servers` and `dirs`.
 */
export async function cleanupServers(servers: ServerProcess[], dirs: string[] = []): Promise<void> {
  const list = servers.splice(0);
  for (const s of list) {
    if (s.proc.exitCode === null && s.proc.signalCode === null) await s.kill();
  }
  for (const dir of new Set([...list.map((s) => s.dataDir), ...dirs.splice(0)])) {
    if (!existsSync(dir)) continue;
    for (const pid of processesOfDataDir(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Server processes for one test file: `newDataDir()` and `start()` remember what they made, and
 * everything is killed and removed after each test, even a failed one.
 */
export function serverFixture(prefix: string) {
  const servers: ServerProcess[] = [];
  const dirs: string[] = [];
  afterEach(() => cleanupServers(servers, dirs));
  return {
    newDataDir(): string {
      const dir = tempDir(prefix);
      dirs.push(dir);
      return dir;
    },
    async start(
      dataDir: string,
      config?: Record<string, unknown>,
      options: StartOptions = {},
    ): Promise<ServerProcess> {
      const server = await startServer({ dataDir, config, ...options });
      servers.push(server);
      return server;
    },
  };
}

/** Like processesOfSession, limited to the server on `dataDir` (ids repeat across data dirs). */
export function processesOfSessionIn(dataDir: string, sessionId: string): number[] {
  const mine = new Set(processesOfDataDir(dataDir));
  return processesOfSession(sessionId).filter((pid) => mine.has(pid));
}

/** Session processes left after `ms` of letting SIGKILLed ones finish exiting (normally none). */
export async function processesLeft(sessionId: string, ms = 1000): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = processesOfSession(sessionId);
  while (left.length > 0 && Date.now() < deadline) {
    await Bun.sleep(20);
    left = processesOfSession(sessionId);
  }
  return left;
}
