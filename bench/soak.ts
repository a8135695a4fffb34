// `bun run soak` (issue 6; a bench, not CI): a bounded soak of one server under mixed traffic
// with constant session churn, watching for leaks. 64 workers (async loops in this process) talk
// to one server on 127.0.0.1 for --minutes (default 10; --quick: 1). Each worker, over and over:
// creates a bash session, runs commands on it (state checks, file write/read, `sleep 30 &` left
// in the background, `sleep 5` with timeout 0.2), then destroys it or abandons it to expire (the
// server runs with a 5 s TTL); makes temporary-session calls (some with background processes or
// timeouts); sends a few bad requests; checks that abandoned sessions did expire. Every answer is
// checked against the code expected for it (and its HTTP status); any other code, or a failed
// content check, counts as an error.
//
// Every 10 s a sample is printed: requests served, codes seen, errors, and from /proc the server's
// RSS, open fds, child processes, bash processes under it, processes carrying the data
// directory's mark, cross-checked against its GET /metrics. At the end every held session is
// destroyed, abandoned ones are left to expire, and the end state is compared with the baseline
// taken before the traffic: RSS flat after warm-up, fds and child processes back to baseline, no
// bash left. A table and a one-line verdict follow; the exit status is 1 when it is not flat or
// when there were errors.
//
// Options:
//   --minutes=N     traffic duration (default 10)
//   --quick         1 minute (a smoke test of the soak itself)
//   --workers=N     concurrent workers (default 64)
//   --ttl=S         the server's sessions.ttl_seconds (default 5)
//   --sample=S      sampling interval, seconds (default 10)
//   --think-ms=MS   mean pause between a worker's operations (default 10; uniform 0..2×)
//   --seed=N        seed of the traffic mix (default 1)
//   --head          run the last commit's src/ instead of the working tree
//   --json=FILE     also write the samples and the summary as JSON
//   --markdown      also print the summary table as Markdown
// Like the rest of the suite, the server runs from a snapshot of src/ taken at the start, on a
// temporary data directory, and every process started here is killed at the end (and on Ctrl-C).
import {
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  cleanupAll,
  fmtMB,
  installCleanupHooks,
  log,
  MB,
  median,
  percentile,
  rss,
  serverDir,
  sleep,
  snapshotServer,
  startServer,
  tempDir,
  treeCpu,
  type Server,
} from './lib.ts';

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    quick: { type: 'boolean', default: false },
    workers: { type: 'string', default: '64' },
    ttl: { type: 'string', default: '5' },
    sample: { type: 'string', default: '10' },
    'think-ms': { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    head: { type: 'boolean', default: false },
    json: { type: 'string' },
    markdown: { type: 'boolean', default: false },
  },
  strict: true,
});

function numberArg(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) {
    process.stderr.write(`soak: --${name} must be a number from ${min} to ${max}\n`);
    process.exit(2);
  }
  return n;
}

const MINUTES = args.quick ? 1 : numberArg('minutes', args.minutes!, 0.2, 24 * 60);
const WORKERS = Math.round(numberArg('workers', args.workers!, 1, 1024));
const TTL_S = numberArg('ttl', args.ttl!, 1, 3600);
const SAMPLE_S = numberArg('sample', args.sample!, 1, 3600);
const THINK_MS = numberArg('think-ms', args['think-ms']!, 0, 10_000);
const SEED = Math.round(numberArg('seed', args.seed!, 0, 2 ** 31));
const SWEEP_S = 1;
/** Bound on every HTTP request of the traffic (the slowest expected answer is well under 1 s). */
const REQUEST_TIMEOUT_MS = 30_000;
/** Bound on each worker's operations, besides the deadline. */
const MAX_OPS_PER_WORKER = 1_000_000;
/** An abandoned session must be gone this long after its last use. */
const EXPIRY_DUE_MS = (TTL_S + SWEEP_S + 3) * 1000;
/** How long the end waits for sessions to expire and processes and fds to go back to baseline. */
const SETTLE_LIMIT_MS = (TTL_S + SWEEP_S) * 1000 + 45_000;

// ---------------------------------------------------------------------------------------------
// Traffic bookkeeping

/** HTTP status each AgentFlow code may come with (SPEC §2). */
const STATUS_OF: Record<number, readonly number[]> = {
  0: [200],
  1001: [404],
  1002: [400],
  1003: [404, 409],
  1005: [404],
  2002: [504],
};

const stats = {
  requests: 0,
  /** Every envelope code seen, expected or not. */
  codes: new Map<number, number>(),
  /** Errors: an unexpected code, a wrong HTTP status, a failed check, a network error. */
  errors: new Map<string, number>(),
  errorCount: 0,
  latency: new Map<string, number[]>(),
  /** What the traffic did, to compare with the server's own session-event counters. */
  sessionsCreated: 0,
  sessionsDestroyed: 0,
  sessionsAbandoned: 0,
  temporaryCalls: 0,
  timeouts: 0,
  backgroundJobs: 0,
  expiryChecks: 0,
};

const errorExamples: string[] = [];

function error(op: string, what: string, detail?: string): void {
  const key = `${op}: ${what}`;
  stats.errors.set(key, (stats.errors.get(key) ?? 0) + 1);
  stats.errorCount++;
  if (errorExamples.length < 20) {
    errorExamples.push(`${new Date().toISOString()} ${key}${detail ? ` — ${detail}` : ''}`);
  }
}

/** What an answer held, for the error log: code, the run result (outputs cut), meta. */
function describe(r: Reply): string {
  const d = r.body?.data ?? {};
  const cut = (x: unknown) => (typeof x === 'string' && x.length > 200 ? x.slice(0, 200) + '…' : x);
  return JSON.stringify({
    http: r.status,
    code: r.code,
    message: r.code === 0 ? undefined : r.body?.message,
    data: {
      stdout: cut(d.stdout),
      stderr: cut(d.stderr),
      exit_code: d.exit_code,
      timed_out: d.timed_out,
      duration_ms: d.duration_ms,
      size: d.size,
    },
    meta: r.body?.meta,
    ms: Math.round(r.ms),
  });
}

function check(op: string, ok: boolean, what: string, detail?: string | Reply): boolean {
  if (ok) return true;
  if (typeof detail === 'object') {
    // A shell whose sandbox failed to start answers code 0 with bwrap's message and exit 1.
    const stderr = detail.body?.data?.stderr;
    if (typeof stderr === 'string' && stderr.startsWith('bwrap:'))
      what += ' (sandbox failed to start)';
    error(op, what, describe(detail));
  } else {
    error(op, what, detail);
  }
  return false;
}

interface Reply {
  status: number;
  code: number;
  body: any;
  ok: boolean;
  ms: number;
}

let baseUrl = '';

/** One request; counts it, records its latency, and checks its code against `expected`. */
async function send(
  op: string,
  path: string,
  body: unknown,
  expected: readonly number[],
): Promise<Reply | undefined> {
  const t0 = performance.now();
  let status: number;
  let text: string;
  try {
    const res = await fetch(baseUrl + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    status = res.status;
    text = await res.text();
  } catch (err) {
    stats.requests++;
    error(op, `network error (${(err as Error).name})`, (err as Error).message);
    return undefined;
  }
  const ms = performance.now() - t0;
  stats.requests++;
  let lat = stats.latency.get(op);
  if (!lat) stats.latency.set(op, (lat = []));
  lat.push(ms);
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed?.code !== 'number') {
    error(op, `HTTP ${status} without an envelope`, text.slice(0, 200));
    return undefined;
  }
  const code: number = parsed.code;
  stats.codes.set(code, (stats.codes.get(code) ?? 0) + 1);
  const reply: Reply = { status, code, body: parsed, ok: true, ms };
  if (!expected.includes(code)) {
    reply.ok = false;
    check(op, false, `code ${code} (expected ${expected.join('/')})`, reply);
  } else if (!STATUS_OF[code]?.includes(status)) {
    reply.ok = false;
    check(op, false, `code ${code} with HTTP ${status}`, reply);
  }
  return reply;
}

/** A small seeded PRNG (mulberry32), so a run's mix can be repeated. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Held {
  workerId: string;
  sessionId: string;
  usesLeft: number;
  /** The previous operation on the session (context for an error). */
  last: string;
}

/** Sessions left to expire, oldest first: {worker id, when last used}. */
const abandoned: { workerId: string; at: number }[] = [];

// ---------------------------------------------------------------------------------------------
// Operations

const run = (workerId: string, command: string, timeout?: number) => ({
  worker_id: workerId,
  action: 'bash:run',
  params: { command },
  ...(timeout === undefined ? {} : { timeout }),
});

async function openSession(workerId: string, uses: number): Promise<Held | undefined> {
  const r = await send(
    'session/create',
    '/session/create',
    { worker_id: workerId, resource_type: 'bash' },
    [0],
  );
  if (!r?.ok) return undefined;
  if (!check('session/create', r.body.data?.created === true, 'created is not true'))
    return undefined;
  stats.sessionsCreated++;
  return { workerId, sessionId: r.body.data.session_id, usesLeft: uses, last: 'create' };
}

async function sessionEcho(h: Held, tag: string): Promise<void> {
  const r = await send('run (session)', '/execute', run(h.workerId, `echo ${tag}`), [0]);
  const ctx = `after ${h.last}: `;
  h.last = 'echo';
  if (!r?.ok) return;
  check('run (session)', r.body.data?.stdout === `${tag}\n`, 'wrong stdout', ctx + describe(r));
  check(
    'run (session)',
    r.body.meta?.temporary_session === false,
    'ran in a temporary session (held session lost)',
    ctx + describe(r),
  );
  check('run (session)', r.body.meta?.session_id === h.sessionId, 'ran in another session', r);
}

async function sessionState(h: Held, n: number): Promise<void> {
  const set = await send(
    'run (state)',
    '/execute',
    run(h.workerId, `export SOAK_N=${n}; mkdir -p d${n} && cd d${n}`),
    [0],
  );
  h.last = 'state';
  if (!set?.ok) return;
  const get = await send(
    'run (state)',
    '/execute',
    run(h.workerId, 'echo "$SOAK_N"; basename "$PWD"'),
    [0],
  );
  if (!get?.ok) return;
  check('run (state)', get.body.data?.stdout === `${n}\nd${n}\n`, 'state lost between calls', get);
}

async function sessionFiles(h: Held, n: number, rnd: () => number): Promise<void> {
  const size = 64 + Math.floor(rnd() * 8192);
  const content = `${h.workerId}:${n}:`.padEnd(size, String.fromCharCode(97 + (n % 26)));
  const path = `files/${n % 8}.txt`; // a few files per session, rewritten
  h.last = 'files';
  const w = await send(
    'write_file',
    '/execute',
    { worker_id: h.workerId, action: 'bash:write_file', params: { path, content } },
    [0],
  );
  if (!w?.ok) return;
  check('write_file', w.body.data?.size === Buffer.byteLength(content), 'wrong size written', w);
  const r = await send(
    'read_file',
    '/execute',
    { worker_id: h.workerId, action: 'bash:read_file', params: { path } },
    [0],
  );
  if (!r?.ok) return;
  check('read_file', r.body.data?.content === content, 'content read back differs', r);
}

async function background(workerId: string, temporary: boolean): Promise<void> {
  const op = temporary ? 'run bg (temporary)' : 'run bg (session)';
  const r = await send(op, '/execute', run(workerId, 'sleep 30 & echo started'), [0]);
  if (!r?.ok) return;
  stats.backgroundJobs++;
  if (temporary) stats.temporaryCalls++;
  check(op, r.body.data?.stdout === 'started\n', 'wrong stdout', r);
  check(
    op,
    r.body.meta?.temporary_session === temporary,
    `temporary_session is not ${temporary}`,
    r,
  );
}

async function timeoutCall(workerId: string, temporary: boolean): Promise<void> {
  const op = temporary ? 'timeout (temporary)' : 'timeout (session)';
  const r = await send(op, '/execute', run(workerId, 'sleep 5', 0.2), [2002]);
  if (!r?.ok) return;
  stats.timeouts++;
  if (temporary) stats.temporaryCalls++;
  check(op, r.body.data?.timed_out === true, 'data.timed_out is not true', r);
  check(op, r.ms < 3000, 'answered later than 3 s', r);
  check(
    op,
    r.body.meta?.temporary_session === temporary,
    `temporary_session is not ${temporary}`,
    r,
  );
}

async function temporaryEcho(workerId: string, tag: string): Promise<void> {
  const r = await send('run (temporary)', '/execute', run(workerId, `echo ${tag}`), [0]);
  if (!r?.ok) return;
  stats.temporaryCalls++;
  check('run (temporary)', r.body.data?.stdout === `${tag}\n`, 'wrong stdout', r);
  check(
    'run (temporary)',
    r.body.meta?.temporary_session === true,
    'temporary_session is not true',
  );
}

/** A request that must be refused with a given code; `workerId` may hold a session. */
async function badRequest(workerId: string, kind: number, held: boolean): Promise<void> {
  switch (kind % 8) {
    case 0:
      await send(
        'bad: unknown tool',
        '/execute',
        { worker_id: workerId, action: 'bash:nope', params: { command: 'x' } },
        [1001],
      );
      return;
    case 1:
      await send(
        'bad: missing param',
        '/execute',
        { worker_id: workerId, action: 'bash:run', params: {} },
        [1002],
      );
      return;
    case 2:
      await send(
        'bad: malformed JSON',
        '/execute',
        `{"worker_id": "${workerId}", "action": `,
        [1002],
      );
      return;
    case 3:
      await send('bad: worker id', '/execute', run('bad worker id!', 'echo x'), [1002]);
      return;
    case 4:
      await send(
        'bad: resource type',
        '/session/create',
        { worker_id: workerId, resource_type: 'nope' },
        [1005],
      );
      return;
    case 5:
      await send(
        'bad: no session',
        '/session/destroy',
        { worker_id: `${workerId}-none`, resource_type: 'bash' },
        [1003],
      );
      return;
    case 6:
      await send('bad: timeout', '/execute', run(workerId, 'echo x', -1), [1002]);
      return;
    default:
      if (held) {
        await send(
          'bad: missing file',
          '/execute',
          { worker_id: workerId, action: 'bash:read_file', params: { path: 'no/such/file' } },
          [1002],
        );
      } else {
        await send(
          'bad: unknown tool',
          '/execute',
          { worker_id: workerId, action: 'nope', params: {} },
          [1001],
        );
      }
  }
}

/** Takes the oldest abandoned session that is past due and checks it is gone (1003). */
async function expiryCheck(): Promise<boolean> {
  const first = abandoned[0];
  if (!first || Date.now() - first.at < EXPIRY_DUE_MS) return false;
  abandoned.shift();
  stats.expiryChecks++;
  const r = await send(
    'expiry check',
    '/session/destroy',
    { worker_id: first.workerId, resource_type: 'bash' },
    [1003],
  );
  if (r && r.code === 0)
    error(
      'expiry check',
      `session still there ${((Date.now() - first.at) / 1000).toFixed(1)} s after last use`,
    );
  return true;
}

async function endSession(h: Held, rnd: () => number): Promise<void> {
  if (rnd() < 0.65) {
    const r = await send(
      'session/destroy',
      '/session/destroy',
      { worker_id: h.workerId, resource_type: 'bash' },
      [0],
    );
    if (!r?.ok) return;
    stats.sessionsDestroyed++;
    check('session/destroy', r.body.data?.session_id === h.sessionId, 'destroyed another session');
    if (rnd() < 0.2) {
      await send(
        'destroy again',
        '/session/destroy',
        { worker_id: h.workerId, resource_type: 'bash' },
        [1003],
      );
    }
  } else {
    stats.sessionsAbandoned++;
    abandoned.push({ workerId: h.workerId, at: Date.now() });
  }
}

/** One worker: a bounded loop of operations until `deadline`; returns the session it holds. */
async function worker(i: number, deadline: number): Promise<Held | undefined> {
  const rnd = rng(SEED * 7919 + i);
  let held: Held | undefined;
  let generation = 0;
  let n = 0;
  for (let ops = 0; ops < MAX_OPS_PER_WORKER && performance.now() < deadline; ops++) {
    n++;
    const x = rnd();
    const temp = () => `soak-t${i}-${n}`;
    if (!held) {
      if (x < 0.45) {
        held = await openSession(`soak-w${i}-${generation++}`, 4 + Math.floor(rnd() * 20));
      } else if (x < 0.75) {
        const y = rnd();
        if (y < 0.8) await temporaryEcho(temp(), `t${n}`);
        else if (y < 0.9) await background(temp(), true);
        else await timeoutCall(temp(), true);
      } else if (x < 0.9) {
        await badRequest(`soak-b${i}`, Math.floor(rnd() * 8), false);
      } else if (!(await expiryCheck())) {
        await temporaryEcho(temp(), `t${n}`);
      }
    } else {
      if (x < 0.4) await sessionEcho(held, `s${n}`);
      else if (x < 0.52) await sessionState(held, n);
      else if (x < 0.67) await sessionFiles(held, n, rnd);
      else if (x < 0.73) {
        await background(held.workerId, false);
        held.last = 'sleep 30 &';
      } else if (x < 0.77) {
        await timeoutCall(held.workerId, false);
        held.last = 'timeout';
        await sessionEcho(held, `after-timeout-${n}`); // the shell must still work
      } else if (x < 0.82) {
        const r = await send(
          'session/create again',
          '/session/create',
          { worker_id: held.workerId, resource_type: 'bash' },
          [0],
        );
        if (r?.ok) {
          check('session/create again', r.body.data?.created === false, 'created is not false');
          check(
            'session/create again',
            r.body.data?.session_id === held.sessionId,
            'another session id',
          );
        }
      } else if (x < 0.9) await temporaryEcho(temp(), `t${n}`);
      else {
        await badRequest(held.workerId, Math.floor(rnd() * 8), true);
        held.last = 'bad request';
      }
      if (--held.usesLeft <= 0) {
        await endSession(held, rnd);
        held = undefined;
      }
    }
    if (THINK_MS > 0) await sleep(rnd() * 2 * THINK_MS);
  }
  return held;
}

// ---------------------------------------------------------------------------------------------
// Readings: /proc and /metrics

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  state: string;
}

function allProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const open = text.indexOf('(');
      const close = text.lastIndexOf(')');
      const f = text.slice(close + 2).split(' ');
      out.push({ pid, comm: text.slice(open + 1, close), state: f[0]!, ppid: Number(f[1]) });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

interface ProcReading {
  /** Live (not zombie) direct children of the server: one per session shell (bwrap or bash). */
  children: number;
  /** Direct children that exited and are not reaped yet. */
  zombies: number;
  /** All live descendants. */
  descendants: number;
  bash: number;
  sleep: number;
  /** Live processes anywhere whose environment names a workspace of our data directory. */
  marked: number;
}

function readProcs(serverPid: number, dataDir: string): ProcReading {
  const procs = allProcs();
  const kids = new Map<number, Proc[]>();
  for (const p of procs) {
    const list = kids.get(p.ppid) ?? [];
    list.push(p);
    kids.set(p.ppid, list);
  }
  const direct = kids.get(serverPid) ?? [];
  const r: ProcReading = {
    children: direct.filter((p) => p.state !== 'Z').length,
    zombies: direct.filter((p) => p.state === 'Z').length,
    descendants: 0,
    bash: 0,
    sleep: 0,
    marked: 0,
  };
  const stack = [...direct];
  for (let guard = 0; stack.length > 0 && guard < 1_000_000; guard++) {
    const p = stack.pop()!;
    if (p.state !== 'Z') {
      r.descendants++;
      if (p.comm === 'bash') r.bash++;
      if (p.comm === 'sleep') r.sleep++;
    }
    stack.push(...(kids.get(p.pid) ?? []));
  }
  const needle = Buffer.from(`AGENTFLOW_WORKSPACE=${join(dataDir, 'workspaces')}/`);
  for (const p of procs) {
    if (p.state === 'Z' || p.pid === serverPid || p.pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p.pid}/environ`).includes(needle)) r.marked++;
    } catch {
      // gone, or not ours
    }
  }
  return r;
}

function storeBytes(dataDir: string): number {
  let n = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      n += statSync(join(dataDir, `agentflow.db${suffix}`)).size;
    } catch {
      // not there
    }
  }
  return n;
}

interface FdReading {
  total: number;
  sockets: number;
  pipes: number;
  files: number;
  other: number;
}

function readFds(pid: number): FdReading {
  const r: FdReading = { total: 0, sockets: 0, pipes: 0, files: 0, other: 0 };
  let names: string[] = [];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return r;
  }
  for (const fd of names) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    r.total++;
    if (target.startsWith('socket:')) r.sockets++;
    else if (target.startsWith('pipe:')) r.pipes++;
    else if (target.startsWith('/')) r.files++;
    else r.other++;
  }
  return r;
}

interface MetricsReading {
  rss: number;
  fds: number;
  children: number;
  sessions: number;
  events: Record<string, number>;
}

async function readMetrics(): Promise<MetricsReading | undefined> {
  try {
    const res = await fetch(baseUrl + '/metrics', { signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    const m: MetricsReading = { rss: NaN, fds: NaN, children: NaN, sessions: 0, events: {} };
    for (const line of text.split('\n')) {
      if (line.startsWith('#') || line.trim() === '') continue;
      const sp = line.lastIndexOf(' ');
      const name = line.slice(0, sp);
      const value = Number(line.slice(sp + 1));
      if (name === 'process_resident_memory_bytes') m.rss = value;
      else if (name === 'process_open_fds') m.fds = value;
      else if (name === 'agentflow_child_processes') m.children = value;
      else if (name.startsWith('agentflow_sessions_active')) m.sessions += value;
      else if (name.startsWith('agentflow_session_events_total')) {
        const event = /event="([^"]+)"/.exec(name)?.[1];
        if (event) m.events[event] = (m.events[event] ?? 0) + value;
      }
    }
    return m;
  } catch {
    return undefined;
  }
}

interface Sample {
  label: string;
  /** Seconds since the traffic started. */
  t: number;
  requests: number;
  rps: number;
  /** Codes seen during the interval. */
  codes: Record<string, number>;
  errors: number;
  rss: number;
  fds: FdReading;
  procs: ProcReading;
  metrics?: MetricsReading;
  /** Server CPU (its own, and its descendants') during the interval, % of one core. */
  cpuServer: number;
  cpuChildren: number;
  load1: number;
  /** Bytes of the SQLite store (db + WAL + shm) in the data directory. */
  store: number;
}

let lastCounts = {
  at: 0,
  requests: 0,
  errors: 0,
  codes: new Map<number, number>(),
  cpu: { server: 0, children: 0 },
};

async function takeSample(
  label: string,
  t: number,
  server: Server,
  dataDir: string,
): Promise<Sample> {
  const now = performance.now();
  const cpu = treeCpu(server.pid);
  const procs = readProcs(server.pid, dataDir);
  const fds = readFds(server.pid);
  const r = rss(server.pid);
  const metrics = await readMetrics();
  const dt = Math.max(1e-3, (now - lastCounts.at) / 1000);
  const codes: Record<string, number> = {};
  for (const [code, n] of stats.codes) {
    const d = n - (lastCounts.codes.get(code) ?? 0);
    if (d > 0) codes[code] = d;
  }
  const sample: Sample = {
    label,
    t,
    requests: stats.requests,
    rps: (stats.requests - lastCounts.requests) / dt,
    codes,
    errors: stats.errorCount - lastCounts.errors,
    rss: r,
    fds,
    procs,
    metrics,
    cpuServer: (cpu.server - lastCounts.cpu.server) / 10 / dt,
    cpuChildren: (cpu.children - lastCounts.cpu.children) / 10 / dt,
    load1: loadavg()[0]!,
    store: storeBytes(dataDir),
  };
  lastCounts = {
    at: now,
    requests: stats.requests,
    errors: stats.errorCount,
    codes: new Map(stats.codes),
    cpu,
  };
  return sample;
}

// ---------------------------------------------------------------------------------------------
// Output

function textTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (c: string[]) =>
    c
      .map((x, i) => (x ?? '').padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

function markdownTable(header: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

const SAMPLE_HEADER = [
  't',
  'req/s',
  'requests',
  'codes in interval',
  'errors',
  'RSS (/metrics)',
  'fds (/metrics) sock/pipe/file',
  'children (/metrics)',
  'bash',
  'sleep',
  'marked',
  'sessions',
  'CPU srv/children',
  'load',
];

const mb = (b: number) => (Number.isFinite(b) ? (b / MB).toFixed(1) : 'n/a');
const orNa = (x: number | undefined) =>
  x === undefined || !Number.isFinite(x) ? 'n/a' : String(x);

function sampleRow(s: Sample): string[] {
  const codes = Object.entries(s.codes)
    .map(([c, n]) => `${c}:${n}`)
    .join(' ');
  return [
    s.label,
    s.rps.toFixed(0),
    String(s.requests),
    codes || '-',
    String(s.errors),
    `${mb(s.rss)} (${mb(s.metrics?.rss ?? NaN)}) MB`,
    `${s.fds.total} (${orNa(s.metrics?.fds)}) ${s.fds.sockets}/${s.fds.pipes}/${s.fds.files}`,
    `${s.procs.children} (${orNa(s.metrics?.children)})${s.procs.zombies ? ` +${s.procs.zombies}Z` : ''}`,
    String(s.procs.bash),
    String(s.procs.sleep),
    String(s.procs.marked),
    orNa(s.metrics?.sessions),
    `${s.cpuServer.toFixed(0)}%/${s.cpuChildren.toFixed(0)}%`,
    s.load1.toFixed(1),
  ];
}

// ---------------------------------------------------------------------------------------------
// The run

interface Settled {
  ms: number;
  done: boolean;
  /** When each part first got back to baseline (ms after the clean-up started), or NaN. */
  sessionsMs: number;
  processesMs: number;
  fdsMs: number;
  /** The last reading that was not yet back (what held it up). */
  last: string;
}

/** Waits (bounded) until sessions, processes and fds are back to the baseline. */
async function settle(server: Server, dataDir: string, base: Sample): Promise<Settled> {
  const t0 = performance.now();
  const deadline = t0 + SETTLE_LIMIT_MS;
  const r: Settled = {
    ms: NaN,
    done: false,
    sessionsMs: NaN,
    processesMs: NaN,
    fdsMs: NaN,
    last: '',
  };
  const mark = (key: 'sessionsMs' | 'processesMs' | 'fdsMs', ok: boolean) => {
    if (ok && Number.isNaN(r[key])) r[key] = performance.now() - t0;
  };
  for (let i = 0; i < 10_000 && performance.now() < deadline; i++) {
    const p = readProcs(server.pid, dataDir);
    const fds = readFds(server.pid);
    const m = await readMetrics();
    const sessionsOk = m?.sessions === 0;
    const procsOk = p.children <= base.procs.children && p.bash === 0 && p.marked === 0;
    const fdsOk = fds.total <= base.fds.total;
    mark('sessionsMs', sessionsOk);
    mark('processesMs', procsOk);
    mark('fdsMs', fdsOk);
    if (sessionsOk && procsOk && fdsOk) {
      r.done = true;
      break;
    }
    r.last =
      `sessions ${orNa(m?.sessions)}, children ${p.children}, bash ${p.bash}, ` +
      `marked ${p.marked}, fds ${fds.total} (${fds.sockets} sockets, ${fds.pipes} pipes, ${fds.files} files)`;
    await sleep(500);
  }
  r.ms = performance.now() - t0;
  return r;
}

interface SummaryRow {
  metric: string;
  base: string;
  warm: string;
  late: string;
  after: string;
  goal: string;
  met: boolean | null;
}

async function main(): Promise<number> {
  installCleanupHooks();
  const trafficMs = MINUTES * 60_000;
  // Everything below is bounded; this is the backstop if something hangs anyway.
  const watchdog = setTimeout(
    () => {
      log('soak: WATCHDOG — the run overran its bound; killing everything');
      cleanupAll();
      process.exit(3);
    },
    trafficMs + SETTLE_LIMIT_MS + 180_000,
  );
  const cpu = cpus();
  const startedAt = new Date();
  log('AgentFlow server soak (bench/soak.ts)');
  log(`  date:     ${startedAt.toISOString()}`);
  log(
    `  machine:  ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${process.platform}/${process.arch}; ` +
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} (shared machine)`,
  );
  log(`  bun:      ${Bun.version}`);
  const measured = snapshotServer(args.head ? 'head' : 'worktree');
  log(`  server:   ${measured}`);
  log(
    `  traffic:  ${MINUTES} min, ${WORKERS} workers, think time ${THINK_MS} ms mean, seed ${SEED}; ` +
      `sessions.ttl_seconds ${TTL_S}, sweep ${SWEEP_S} s; sample every ${SAMPLE_S} s`,
  );

  const dataDir = tempDir('af-soak-data-');
  const confDir = tempDir('af-soak-conf-');
  const configPath = join(confDir, 'config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      // warn: a JSON line per request at info would write some 100 MB over 10 minutes.
      log_level: 'warn',
      sessions: { ttl_seconds: TTL_S, sweep_interval_seconds: SWEEP_S },
      // Only the bash backend is exercised; rag would only add its index to the RSS.
      backends: { rag: { enabled: false } },
    }),
  );
  const server = await startServer({
    name: 'agentflow-soak',
    args: ['src/main.ts', '--port', '{port}', '--data-dir', dataDir, '--config', configPath],
    cwd: serverDir(),
    dataDir,
    readyPath: '/ready',
  });
  baseUrl = server.url;
  log(`  config:   ${JSON.stringify(JSON.parse(readFileSync(configPath, 'utf8')))}`);
  log(`  pid ${server.pid}, ${server.url}, data ${dataDir}`);
  log('');

  // Baseline: one session and one temporary call go through every path once, then idle.
  await send('warm', '/session/create', { worker_id: 'soak-warm', resource_type: 'bash' }, [0]);
  await send('warm', '/execute', run('soak-warm', 'echo hi'), [0]);
  await send('warm', '/session/destroy', { worker_id: 'soak-warm' }, [0]);
  await send('warm', '/execute', run('soak-warm-t', 'echo hi'), [0]);
  const warmErrors = stats.errorCount;
  await sleep(2000);
  lastCounts = {
    ...lastCounts,
    at: performance.now(),
    requests: stats.requests,
    cpu: treeCpu(server.pid),
  };
  const base = await takeSample('base', 0, server, dataDir);
  log(textTable(SAMPLE_HEADER, [sampleRow(base)]));

  // Traffic, with a sample every SAMPLE_S seconds until it ends.
  const t0 = performance.now();
  const deadline = t0 + trafficMs;
  const samples: Sample[] = [];
  const workers = Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i, deadline)));
  const nSamples = Math.max(1, Math.round(trafficMs / (SAMPLE_S * 1000)));
  for (let k = 1; k <= nSamples; k++) {
    const at = Math.min(deadline, t0 + k * SAMPLE_S * 1000);
    await sleep(Math.max(0, at - performance.now()));
    const s = await takeSample(
      `${((at - t0) / 1000).toFixed(0)}s`,
      (at - t0) / 1000,
      server,
      dataDir,
    );
    samples.push(s);
    log(sampleRow(s).join(' | '));
  }
  const held = (await workers).filter((h): h is Held => h !== undefined);
  const trafficS = (performance.now() - t0) / 1000;
  const end = await takeSample('end', trafficS, server, dataDir);
  log(sampleRow(end).join(' | '));

  // Clean-up: destroy what the workers still hold; abandoned sessions are left to expire.
  log(
    `\nstopping: destroying ${held.length} held sessions; ${abandoned.length} abandoned ones left to expire`,
  );
  for (const h of held) {
    const r = await send(
      'final destroy',
      '/session/destroy',
      { worker_id: h.workerId, resource_type: 'bash' },
      [0],
    );
    if (r?.ok) stats.sessionsDestroyed++;
  }
  const settled = await settle(server, dataDir, base);
  const sec = (ms: number) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(1)} s` : 'never');
  log(
    `back to baseline: sessions after ${sec(settled.sessionsMs)}, processes after ` +
      `${sec(settled.processesMs)}, fds after ${sec(settled.fdsMs)}` +
      (settled.done ? '' : ` — NOT all back within ${sec(SETTLE_LIMIT_MS)}; last: ${settled.last}`),
  );
  if (settled.done && settled.last) log(`  (last reading before that: ${settled.last})`);
  const list = await send('final list', '/session/list', {}, [0]);
  const listed: number = list?.body?.data?.count ?? NaN;
  const wsDir = join(dataDir, 'workspaces');
  const workspacesLeft = existsSync(wsDir) ? readdirSync(wsDir).length : 0;
  const after = await takeSample('after', trafficS, server, dataDir);
  const all = [base, ...samples, end, after];

  // Summary.
  const inWindow = (lo: number, hi: number) =>
    samples.filter((s) => s.t > lo * trafficS && s.t <= hi * trafficS + 1e-9);
  let warmWin = inWindow(0.25, 0.5);
  let lateWin = inWindow(0.75, 1);
  if (warmWin.length === 0) warmWin = samples.slice(0, 1);
  if (lateWin.length === 0) lateWin = samples.slice(-1);
  const med = (win: Sample[], f: (s: Sample) => number) => median(win.map(f));
  const rssWarm = med(warmWin, (s) => s.rss);
  const rssLate = med(lateWin, (s) => s.rss);
  const rssPeak = Math.max(...samples.map((s) => s.rss));
  const rssBand = Math.max(0.2 * rssWarm, 16 * MB);
  // Least-squares slope of RSS after warm-up (first quarter), MB per minute.
  const post = samples.filter((s) => s.t > 0.25 * trafficS);
  let slope = NaN;
  if (post.length >= 2) {
    const mx = post.reduce((a, s) => a + s.t, 0) / post.length;
    const my = post.reduce((a, s) => a + s.rss, 0) / post.length;
    const num = post.reduce((a, s) => a + (s.t - mx) * (s.rss - my), 0);
    const den = post.reduce((a, s) => a + (s.t - mx) ** 2, 0);
    slope = den > 0 ? ((num / den) * 60) / MB : NaN;
  }
  const events = after.metrics?.events ?? {};
  const srvCreated = events.created ?? NaN;
  const srvDestroyed = events.destroyed ?? NaN;
  const srvExpired = events.expired ?? NaN;
  const srvTemporary = events.temporary ?? NaN;
  // The warm-up above created 1 session and made 1 temporary call.
  const clientCreated = stats.sessionsCreated + 1;
  const clientTemporary = stats.temporaryCalls + 1;
  const clientDestroyed = stats.sessionsDestroyed + 1;
  const trafficErrors = stats.errorCount - warmErrors;
  const metricsAgree = all.filter((s) => s.metrics?.children === s.procs.children).length;

  const errorsRow: SummaryRow = {
    metric: 'requests; errors (unexpected code or failed check)',
    base: '',
    warm: '',
    late: `${stats.requests} requests, ${(stats.requests / trafficS).toFixed(0)} req/s`,
    after: `${trafficErrors} errors`,
    goal: '0 errors',
    met: trafficErrors === 0,
  };
  const rows: SummaryRow[] = [
    {
      metric: 'server RSS (/proc VmRSS)',
      base: fmtMB(base.rss),
      warm: fmtMB(rssWarm),
      late: `${fmtMB(rssLate)} (peak ${fmtMB(rssPeak)})`,
      after: fmtMB(after.rss),
      goal: `late − warm ≤ ${fmtMB(rssBand)}`,
      met: rssLate - rssWarm <= rssBand,
    },
    {
      metric: 'RSS slope after warm-up',
      base: '',
      warm: '',
      late: `${slope.toFixed(2)} MB/min`,
      after: '',
      goal: '',
      met: null,
    },
    {
      metric: 'open fds (sockets/pipes/files)',
      base: `${base.fds.total} (${base.fds.sockets}/${base.fds.pipes}/${base.fds.files})`,
      warm: med(warmWin, (s) => s.fds.total).toFixed(0),
      late: med(lateWin, (s) => s.fds.total).toFixed(0),
      after: `${after.fds.total} (${after.fds.sockets}/${after.fds.pipes}/${after.fds.files})`,
      goal: '≤ baseline',
      met: after.fds.total <= base.fds.total,
    },
    {
      metric: 'child processes (/proc, live)',
      base: String(base.procs.children),
      warm: med(warmWin, (s) => s.procs.children).toFixed(0),
      late: med(lateWin, (s) => s.procs.children).toFixed(0),
      after: `${after.procs.children}${after.procs.zombies ? ` (+${after.procs.zombies} zombie)` : ''}`,
      goal: '≤ baseline',
      met: after.procs.children <= base.procs.children,
    },
    {
      metric: 'child processes (/metrics)',
      base: orNa(base.metrics?.children),
      warm: med(warmWin, (s) => s.metrics?.children ?? NaN).toFixed(0),
      late: med(lateWin, (s) => s.metrics?.children ?? NaN).toFixed(0),
      after: `${orNa(after.metrics?.children)} (= /proc in ${metricsAgree}/${all.length} samples)`,
      goal: '= /proc at the end',
      met: after.metrics?.children === after.procs.children,
    },
    {
      metric: 'bash processes under the server',
      base: String(base.procs.bash),
      warm: med(warmWin, (s) => s.procs.bash).toFixed(0),
      late: med(lateWin, (s) => s.procs.bash).toFixed(0),
      after: String(after.procs.bash),
      goal: '0',
      met: after.procs.bash === 0,
    },
    {
      metric: 'processes marked with the data dir (any parent)',
      base: String(base.procs.marked),
      warm: med(warmWin, (s) => s.procs.marked).toFixed(0),
      late: med(lateWin, (s) => s.procs.marked).toFixed(0),
      after: String(after.procs.marked),
      goal: '0',
      met: after.procs.marked === 0,
    },
    {
      metric: 'sessions active (/metrics); listed; workspaces',
      base: orNa(base.metrics?.sessions),
      warm: med(warmWin, (s) => s.metrics?.sessions ?? NaN).toFixed(0),
      late: med(lateWin, (s) => s.metrics?.sessions ?? NaN).toFixed(0),
      after: `${orNa(after.metrics?.sessions)}; ${listed}; ${workspacesLeft}`,
      goal: '0; 0; 0',
      met: after.metrics?.sessions === 0 && listed === 0 && workspacesLeft === 0,
    },
    {
      metric: 'SQLite store on disk (db + WAL + shm)',
      base: fmtMB(base.store),
      warm: fmtMB(med(warmWin, (s) => s.store)),
      late: fmtMB(med(lateWin, (s) => s.store)),
      after: fmtMB(after.store),
      goal: 'bounded (WAL checkpointed)',
      met: null,
    },
    {
      metric: 'session events: server vs traffic',
      base: '',
      warm: '',
      late: `created ${clientCreated}, destroyed ${clientDestroyed}, abandoned ${stats.sessionsAbandoned}, temporary ${clientTemporary}`,
      after: `created ${srvCreated}, destroyed ${srvDestroyed}, expired ${srvExpired}, temporary ${srvTemporary}`,
      goal: 'equal (expired = abandoned)',
      met:
        srvCreated === clientCreated &&
        srvTemporary === clientTemporary &&
        srvDestroyed === clientDestroyed &&
        srvExpired === stats.sessionsAbandoned,
    },
    errorsRow,
    {
      metric: 'back to baseline after the traffic',
      base: '',
      warm: '',
      late: '',
      after: `sessions ${sec(settled.sessionsMs)}, processes ${sec(settled.processesMs)}, fds ${sec(settled.fdsMs)}`,
      goal: `≤ ${(SETTLE_LIMIT_MS / 1000).toFixed(0)} s`,
      met: settled.done,
    },
  ];

  log(
    '\n== Samples (every ' +
      SAMPLE_S +
      ' s; RSS/fds/children from /proc, /metrics in parentheses)\n',
  );
  log(textTable(SAMPLE_HEADER, all.map(sampleRow)));

  log('\n== Latency by operation (ms)\n');
  const latRows = [...stats.latency]
    .sort((a, b) => b[1].length - a[1].length)
    .map(([op, l]) => {
      const s = [...l].sort((a, b) => a - b);
      return [
        op,
        String(s.length),
        percentile(s, 50).toFixed(2),
        percentile(s, 99).toFixed(2),
        s[s.length - 1]!.toFixed(1),
      ];
    });
  log(textTable(['operation', 'count', 'p50', 'p99', 'max'], latRows));

  log(
    `\ntraffic: ${stats.sessionsCreated} sessions created, ${stats.sessionsDestroyed} destroyed, ` +
      `${stats.sessionsAbandoned} abandoned to expire (${stats.expiryChecks} checked gone in-run), ` +
      `${stats.temporaryCalls} temporary-session calls, ${stats.timeouts} timeouts, ` +
      `${stats.backgroundJobs} background sleeps`,
  );
  if (stats.errors.size > 0) {
    log('\nerrors:');
    for (const [k, n] of stats.errors) log(`  ${n} × ${k}`);
    for (const e of errorExamples) log(`  e.g. ${e}`);
  }

  const summaryHeader = [
    'Metric',
    'Baseline (idle)',
    'After warm-up',
    'End of traffic',
    'After clean-up',
    'Goal',
    'Met',
  ];
  const summaryCells = rows.map((r) => [
    r.metric,
    r.base,
    r.warm,
    r.late,
    r.after,
    r.goal,
    r.met === null ? '' : r.met ? 'yes' : 'NO',
  ]);
  log('\n== Start vs end\n');
  log(textTable(summaryHeader, summaryCells));
  if (args.markdown) {
    log('\n' + markdownTable(summaryHeader, summaryCells));
    log('\n' + markdownTable(SAMPLE_HEADER, all.map(sampleRow)));
    log('\n' + markdownTable(['operation', 'count', 'p50', 'p99', 'max'], latRows));
  }

  const missed = rows.filter((r) => r.met === false);
  // Flat is about resources; errors are reported beside it (and fail the run too).
  const leaks = missed.filter((r) => r !== errorsRow);
  const errorNote =
    trafficErrors === 0
      ? '0 errors'
      : `${trafficErrors} errors (${[...stats.errors].map(([k, n]) => `${n} × ${k}`).join('; ')})`;
  const verdict =
    leaks.length === 0
      ? `VERDICT: FLAT — ${MINUTES} min, ${stats.requests} requests; RSS ${fmtMB(rssWarm)} → ` +
        `${fmtMB(rssLate)} after warm-up (${slope.toFixed(2)} MB/min), fds ${base.fds.total} → ` +
        `${after.fds.total}, children ${base.procs.children} → ${after.procs.children}, ` +
        `no bash left; ${errorNote}`
      : `VERDICT: NOT FLAT — missed: ${leaks.map((r) => r.metric).join('; ')}; ${errorNote}`;
  log('\n' + verdict);

  if (args.json) {
    writeFileSync(
      args.json,
      JSON.stringify(
        {
          date: startedAt.toISOString(),
          cores: cpu.length,
          server: measured,
          options: {
            minutes: MINUTES,
            workers: WORKERS,
            ttl: TTL_S,
            sample: SAMPLE_S,
            thinkMs: THINK_MS,
            seed: SEED,
          },
          samples: all,
          summary: rows,
          traffic: {
            ...stats,
            codes: Object.fromEntries(stats.codes),
            errors: Object.fromEntries(stats.errors),
            latency: undefined,
          },
          errorExamples,
          verdict,
        },
        null,
        2,
      ),
    );
  }
  await server.stop();
  clearTimeout(watchdog);
  return missed.length === 0 ? 0 : 1;
}

let status = 1;
try {
  status = await main();
} catch (err) {
  log(`soak FAILED: ${(err as Error).stack ?? String(err)}`);
} finally {
  cleanupAll();
}
process.exit(status);
