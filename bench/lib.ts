// Shared helpers of the benchmark suite: starting and stopping processes (every one is tracked and
// killed on exit, even on failure), temporary directories, free ports, percentiles and /proc
// memory readings of a process tree.
import type { Subprocess } from 'bun';
import { createHash } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(import.meta.dir, '..');
export const HOST = '127.0.0.1';

/** Where our server's sources are run from (a snapshot taken at the start of the run). */
let serverRoot = ROOT;
export const serverDir = () => serverRoot;

// ---------------------------------------------------------------------------------------------
// Cleanup registry

const started = new Set<Subprocess>();
const tempDirs = new Set<string>();
/** Descendants seen under a tracked process (bash shells of our server), killed at cleanup. */
const seenDescendants = new Map<number, string>();

export function track<T extends Subprocess>(proc: T): T {
  started.add(proc);
  void proc.exited.then(() => started.delete(proc));
  return proc;
}

export function tempDir(prefix = 'af-bench-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

function cmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return undefined;
  }
}

/** Remembers the current descendants of `pid` so cleanup can kill them if they outlive it. */
export function rememberDescendants(pid: number): void {
  for (const d of descendants(pid)) {
    const cmd = cmdline(d);
    if (cmd !== undefined) seenDescendants.set(d, cmd);
  }
}

/** Kills every process this run started (SIGKILL) and removes the temporary directories. */
export function cleanupAll(): void {
  for (const proc of started) {
    rememberDescendants(proc.pid);
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  started.clear();
  for (const [pid, cmd] of seenDescendants) {
    // Only if it is still the same program (the pid was not reused).
    if (cmdline(pid) === cmd) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  seenDescendants.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let hooked = false;
export function installCleanupHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      cleanupAll();
      process.exit(130);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// A snapshot of the server's sources, so that edits made while the suite runs (others work in
// src/ at the same time) cannot mix two versions into one run.

function git(args: string[]): string {
  const r = Bun.spawnSync(['git', ...args], { cwd: ROOT, stderr: 'ignore' });
  return r.success ? r.stdout.toString().trim() : '';
}

function treeHash(dir: string): string {
  const hash = createHash('sha256');
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) hash.update(path.slice(dir.length)).update(readFileSync(path));
    }
  };
  walk(dir);
  return hash.digest('hex').slice(0, 12);
}

/**
 * Copies the server (src/ and the project files) to a temporary directory and runs it from
 * there: from the working tree as it is now, or from the last commit (`head`). Returns a
 * description of what is measured.
 */
export function snapshotServer(from: 'worktree' | 'head'): string {
  const dir = tempDir('af-bench-src-');
  const files = ['package.json', 'tsconfig.json', 'bunfig.toml', 'scripts/build-binary.ts'];
  const head = git(['rev-parse', '--short', 'HEAD']) || 'unknown';
  let what: string;
  if (from === 'head') {
    const archive = Bun.spawnSync(['git', 'archive', '--format=tar', 'HEAD', 'src', ...files], {
      cwd: ROOT,
    });
    if (!archive.success) throw new Error(`git archive failed: ${archive.stderr.toString()}`);
    const untar = Bun.spawnSync(['tar', '-x', '-C', dir], { stdin: archive.stdout });
    if (!untar.success) throw new Error(`tar failed: ${untar.stderr.toString()}`);
    what = `commit ${head} (git HEAD)`;
  } else {
    const dirty = git(['status', '--porcelain', '--', 'src']) !== '';
    cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
    for (const f of files) {
      if (existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    }
    what = dirty ? `working tree (commit ${head} + uncommitted changes in src/)` : `commit ${head}`;
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  serverRoot = dir;
  return `${what}, src/ sha256 ${treeHash(join(dir, 'src'))}`;
}

// ---------------------------------------------------------------------------------------------
// Ports, processes, servers

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => Bun.sleep(ms);

export interface Server {
  name: string;
  proc: Subprocess;
  pid: number;
  port: number;
  url: string;
  dataDir?: string;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  /** argv after `bun run`, e.g. ['src/main.ts', '--port', '1234']; `{port}` is substituted. */
  args: string[];
  port?: number;
  dataDir?: string;
  /** Path polled until it answers 200 (default /health). */
  readyPath?: string;
  readyTimeoutMs?: number;
  env?: Record<string, string>;
  /** Working directory (default: the repository). */
  cwd?: string;
}

/** Waits until GET `url` answers 200; returns the time it took, or throws after `timeoutMs`. */
export async function waitFor200(url: string, timeoutMs: number, proc?: Subprocess): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (proc?.exitCode !== null && proc?.exitCode !== undefined) {
      throw new Error(`${url}: the process exited with ${proc.exitCode} before answering`);
    }
    if (performance.now() > deadline)
      throw new Error(`${url} did not answer 200 in ${timeoutMs} ms`);
    await sleep(5);
  }
}

/** Starts `bun run <args>` as a tracked process and waits until it answers its ready path. */
export async function startServer(opts: StartOptions): Promise<Server> {
  const port = opts.port ?? (await freePort());
  const logDir = opts.dataDir ?? tempDir('af-bench-log-');
  const logFile = join(logDir, `${opts.name.replace(/\W+/g, '-')}.log`);
  const args = opts.args.map((a) => a.replace('{port}', String(port)));
  const fd = openSync(logFile, 'a');
  const proc = track(
    Bun.spawn([process.execPath, 'run', ...args], {
      cwd: opts.cwd ?? ROOT,
      stdin: 'ignore',
      stdout: fd,
      stderr: fd,
      env: { ...process.env, ...opts.env },
    }),
  );
  closeSync(fd);
  const url = `http://${HOST}:${port}`;
  try {
    await waitFor200(url + (opts.readyPath ?? '/health'), opts.readyTimeoutMs ?? 20000, proc);
  } catch (err) {
    proc.kill('SIGKILL');
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    throw new Error(`${opts.name}: ${(err as Error).message}\n${log}`);
  }
  return {
    name: opts.name,
    proc,
    pid: proc.pid,
    port,
    url,
    dataDir: opts.dataDir,
    logFile,
    stop: () => stopProcess(proc),
  };
}

/** SIGTERM, then SIGKILL after `graceMs`; also kills descendants that outlive the process. */
export async function stopProcess(proc: Subprocess, graceMs = 10000): Promise<void> {
  rememberDescendants(proc.pid);
  const kids = descendants(proc.pid).map((pid) => [pid, cmdline(pid)] as const);
  if (proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGTERM');
    const exited = await Promise.race([
      proc.exited.then(() => true),
      sleep(graceMs).then(() => false),
    ]);
    if (!exited) {
      proc.kill('SIGKILL');
      await proc.exited;
    }
  }
  for (const [pid, cmd] of kids) {
    if (cmd !== undefined && cmdline(pid) === cmd) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
}

/**
 * Our server: `bun run src/main.ts` on a fresh temporary data directory, with `config` (written
 * into the data directory) when given.
 */
export function startOurServer(
  name = 'agentflow',
  dataDir = tempDir(),
  config?: Record<string, unknown>,
): Promise<Server> {
  const args = ['src/main.ts', '--port', '{port}', '--data-dir', dataDir];
  if (config) {
    const file = join(dataDir, 'bench-config.json');
    writeFileSync(file, JSON.stringify(config));
    args.push('--config', file);
  }
  return startServer({
    name,
    args,
    cwd: serverRoot,
    dataDir,
    // Readiness includes the bash backend's warmup (SPEC §5 /ready).
    readyPath: '/ready',
  });
}

export function startEchoServer(): Promise<Server> {
  return startServer({ name: 'bun-echo', args: ['bench/echo-server.ts', '{port}'] });
}

export function startSpawnServer(): Promise<Server> {
  return startServer({ name: 'spawn-per-command', args: ['bench/spawn-server.ts', '{port}'] });
}

// ---------------------------------------------------------------------------------------------
// HTTP helpers

export async function postJson(
  url: string,
  body: unknown,
  timeoutMs = 30000,
): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep text
  }
  return { status: res.status, body: parsed };
}

/** Runs `fn` over `items` with at most `concurrency` in flight; stops early past `deadline`. */
export async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
  deadline = Infinity,
): Promise<(R | undefined)[]> {
  const results: (R | undefined)[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length && performance.now() < deadline) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  const s = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// /proc readings

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    const fields = text.slice(close + 2).split(' ');
    return { pid, ppid: Number(fields[1]), comm: text.slice(open + 1, close) };
  } catch {
    return undefined;
  }
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const s = readStat(pid);
    if (s) out.push(s);
  }
  return out;
}

/** Every descendant of `root` (children, grandchildren, ...), not `root` itself. */
export function descendants(root: number, stats = allStats()): number[] {
  const children = new Map<number, number[]>();
  for (const s of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(s.pid);
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Descendants of `root` whose command name is `comm`. */
export function descendantsNamed(root: number, comm: string): number[] {
  const stats = allStats();
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  return descendants(root, stats).filter((pid) => byPid.get(pid)?.comm === comm);
}

/** Processes anywhere whose environment has AGENTFLOW_WORKSPACE under `dataDir` (our shells). */
export function shellsOfDataDir(dataDir: string): number[] {
  const needle = Buffer.from(`AGENTFLOW_WORKSPACE=${dataDir}`);
  const found: number[] = [];
  for (const s of allStats()) {
    if (s.comm !== 'bash') continue;
    try {
      if (readFileSync(`/proc/${s.pid}/environ`).includes(needle)) found.push(s.pid);
    } catch {
      // gone
    }
  }
  return found;
}

function statusField(pid: number, field: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'latin1');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Resident set size of one process, bytes. */
export const rss = (pid: number) => statusField(pid, 'VmRSS');
/** Peak resident set size of one process, bytes. */
export const peakRss = (pid: number) => statusField(pid, 'VmHWM');

/** Proportional set size (shared pages split among their users), bytes. */
export function pss(pid: number): number {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'latin1');
    const m = /^Pss:\s+(\d+) kB/m.exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface TreeMemory {
  processes: number;
  rss: number;
  pss: number;
}

/** RSS and PSS summed over `root` and all its descendants. */
export function treeMemory(root: number): TreeMemory {
  const pids = [root, ...descendants(root)];
  let r = 0;
  let p = 0;
  for (const pid of pids) {
    r += rss(pid);
    p += pss(pid);
  }
  return { processes: pids.length, rss: r, pss: p };
}

const CLK_TCK = 100; // USER_HZ, the unit of /proc/<pid>/stat times on Linux

/** utime+stime and cutime+cstime (reaped children) of one process, milliseconds. */
function cpuOf(pid: number): { self: number; reaped: number } {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 14–17 of stat(5) are at 11–14 once pid and comm are cut off.
    const tick = 1000 / CLK_TCK;
    return {
      self: (Number(f[11]) + Number(f[12])) * tick,
      reaped: (Number(f[13]) + Number(f[14])) * tick,
    };
  } catch {
    return { self: 0, reaped: 0 };
  }
}

export interface TreeCpu {
  /** CPU of the root process itself, ms. */
  server: number;
  /** CPU of its descendants, live and reaped (shells, spawned commands), ms. */
  children: number;
}

/** CPU time used so far by `root` and everything under it (10 ms resolution). */
export function treeCpu(root: number): TreeCpu {
  const r = cpuOf(root);
  let children = r.reaped;
  for (const pid of descendants(root)) {
    const c = cpuOf(pid);
    children += c.self + c.reaped;
  }
  return { server: r.self, children };
}

// ---------------------------------------------------------------------------------------------
// Formatting

export const MB = 1024 * 1024;
export const fmtMs = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : 'n/a');
export const fmtMB = (bytes: number) =>
  Number.isFinite(bytes) ? `${(bytes / MB).toFixed(1)} MB` : 'n/a';
export const fmtRate = (rps: number) => (Number.isFinite(rps) ? `${rps.toFixed(0)} req/s` : 'n/a');
export const fmtRatio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');

export function log(line: string): void {
  process.stdout.write(line + '\n');
}
