// Who may call a route, property-based: every route of the app's route table × every kind of key
// × hostile request targets and Host values, through app.handle and over a raw socket against the
// real server (for targets fetch would normalise). Without the right key nothing runs: no marker
// file, no session touched, no shutdown requested; the answer is 1006 (401/403) or an unknown
// route (1002, 404). The expected scope of each route is the README's table.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import fc from 'fast-check';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createApp } from '../src/app.ts';
import { SCOPE_FIELD } from '../src/http/scope.ts';
import { ROOT, buildApp, serverFixture, tempDir, type TestApp } from './helpers.ts';

const ADMIN = 'admin-key-0123456789abcdef';
const TEAM_A = 'team-a-key-0123456789abcdef';
const TEAM_B = 'team-b-key-0123456789abcdef';
const WORKER = 'team-a-1';
const KEYS = {
  api_key: ADMIN,
  api_keys: [
    { key: TEAM_A, name: 'team-a', scope: 'worker', workers: 'team-a-*' },
    { key: TEAM_B, name: 'team-b', scope: 'worker', workers: 'team-b-*' },
  ],
  // The property runs real commands: no sandbox (the marker must be visible), no vm, no rag.
  backends: { bash: { isolation: 'none' }, vm: { enabled: false }, rag: { enabled: false } },
};

type Scope = 'open' | 'key' | 'worker' | 'admin';
type Who = 'none' | 'wrong' | 'other-worker' | 'own-worker' | 'admin';
const WHO: Who[] = ['none', 'wrong', 'other-worker', 'own-worker', 'admin'];
const headersOf: Record<Who, Record<string, string>> = {
  none: {},
  wrong: { authorization: 'Bearer wrong-key-0123456789abcdef' },
  'other-worker': { authorization: `Bearer ${TEAM_B}` },
  'own-worker': { 'x-api-key': TEAM_A },
  admin: { authorization: `Bearer ${ADMIN}` },
};

/** The README's scope table: `METHOD /path` (without /api/v1) → scope. */
function documentedScopes(): Map<string, Scope> {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### API keys and scopes'));
  const out = new Map<string, Scope>();
  for (const line of section.split('\n')) {
    const m = /^\| (`[A-Z]+ \/[^|]*`) \| (open|key|worker|admin)\b/.exec(line);
    if (!m) continue;
    for (const r of m[1]!.matchAll(/`([A-Z]+ \/[^`]*)`/g)) out.set(r[1]!, m[2] as Scope);
  }
  return out;
}
const POLICY = documentedScopes();
const ROOT_ONLY = new Set(['GET /metrics', 'GET /swagger', 'GET /swagger/json']);

interface RouteCase {
  method: string;
  /** The route's pattern, e.g. /api/v1/tools/:name. */
  pattern: string;
  /** A concrete path for it. */
  path: string;
  scope: Scope;
}

function routeCases(app: { routes: { method: string; path: string }[] }): RouteCase[] {
  return app.routes.map(({ method, path }) => {
    const bare = path.startsWith('/api/v1/') ? path.slice(7) : path;
    const scope = POLICY.get(`${method} ${bare}`);
    if (!scope) throw new Error(`${method} ${path} is not in the README's scope table`);
    return { method, pattern: path, path: path.replaceAll(':name', 'bash:run'), scope };
  });
}

type Placement = 'body' | 'header' | 'none';

/** Where the worker id really goes: a GET carries no body, so one placed there is not sent. */
const sentIn = (route: RouteCase, placement: Placement): Placement =>
  route.method === 'GET' && placement === 'body' ? 'none' : placement;

/** What the request may do: run, or be refused with this HTTP status. */
function expected(scope: Scope, who: Who, placement: Placement): 'run' | 401 | 403 {
  if (scope === 'open') return 'run';
  if (who === 'none' || who === 'wrong') return 401;
  if (who === 'admin' || scope === 'key') return 'run';
  if (scope === 'admin') return 403;
  return who === 'own-worker' && placement !== 'none' ? 'run' : 403;
}

/** One body that is valid (or near enough) for every POST route, and has a side effect on each. */
function bodyFor(marker: string, placement: Placement): Record<string, unknown> {
  const touch = { command: `touch ${marker}/ran-$$` };
  return {
    ...(placement === 'body' ? { worker_id: WORKER } : {}),
    action: 'bash:run',
    params: touch,
    actions: [{ action: 'bash:run', params: touch }],
    resource_type: 'bash',
    resource_configs: { bash: { content: null } },
    backends: ['bash'],
  };
}

/** Hostile spellings of a request target. `raw` ones only survive a raw socket. */
const TARGETS: { name: string; raw?: boolean; of: (p: string) => string }[] = [
  { name: 'plain', of: (p) => p },
  { name: 'trailing slash', of: (p) => `${p}/` },
  { name: 'double slash', of: (p) => `/${p}` },
  { name: 'upper case', of: (p) => p.toUpperCase() },
  { name: 'encoded slash first', of: (p) => `/%2f${p.slice(1)}` },
  { name: 'encoded slash last', of: (p) => `${p}%2f` },
  { name: 'encoded slash upper', of: (p) => `/%2F${p.slice(1)}` },
  { name: 'swagger prefix', of: (p) => `/swagger${p}` },
  { name: 'api prefix doubled slash', of: (p) => `/api/v1/${p}` },
  { name: 'query', of: (p) => `${p}?worker_id=x&x=/swagger` },
  { name: 'dot segment', raw: true, of: (p) => `/.${p}` },
  { name: 'swagger dot-dot', raw: true, of: (p) => `/swagger/..${p}` },
  { name: 'api dot-dot', raw: true, of: (p) => `/api/v1/..${p}` },
  { name: 'encoded dot-dot', raw: true, of: (p) => `/swagger/%2e%2e${p}` },
  { name: 'backslashes', raw: true, of: (p) => p.replaceAll('/', '\\') },
  { name: 'absolute form', raw: true, of: (p) => `http://x${p}` },
  { name: 'absolute form, swagger', raw: true, of: (p) => `http://swagger/swagger${p}` },
];

interface Answer {
  status: number;
  code?: number;
  errorType?: string;
  text: string;
}

function parse(status: number, text: string): Answer {
  try {
    const body = JSON.parse(text);
    return { status, code: body?.code, errorType: body?.meta?.error_type, text };
  } catch {
    return { status, text };
  }
}

/** Checks one answer against the decision; returns whether the request was let through. */
function check(what: string, answer: Answer, decision: 'run' | 401 | 403, plain: boolean): boolean {
  const unknownRoute = answer.status === 404 && answer.errorType === 'EndpointNotFoundError';
  const label = `${what} → ${answer.status} ${answer.text.slice(0, 200)}`;
  if (unknownRoute) {
    expect({ label, plain }).toEqual({ label, plain: false });
    expect(answer.code).toBe(1002);
    return false;
  }
  if (decision === 'run') {
    expect({ label, refused: answer.code === 1006 }).toEqual({ label, refused: false });
    expect({ label, status: answer.status < 500 || answer.status === 503 }).toEqual({
      label,
      status: true,
    });
    return true;
  }
  expect({ label, status: answer.status, code: answer.code }).toEqual({
    label,
    status: decision,
    code: 1006,
  });
  return false;
}

describe('scopes through app.handle', () => {
  let t: TestApp;
  let app: ReturnType<typeof createApp>;
  let marker: string;
  let shutdowns = 0;

  beforeAll(async () => {
    t = await buildApp(KEYS);
    // Sessions are made directly below, and a bash backend starts no shell before its warmup.
    await t.services.warmup.ensure('bash');
    // The real services, with shutdown counted instead of done, so admin calls can be sent too.
    app = createApp({ ...t.services, requestShutdown: () => void shutdowns++ });
    marker = tempDir('af-marker-');
  });
  afterAll(async () => {
    await t.close();
    rmSync(marker, { recursive: true, force: true });
  });

  const snapshot = () => JSON.stringify(t.services.sessions.list().map((s) => s.view()));
  const ensureSessions = async () => {
    for (const w of [WORKER, 'team-b-1'])
      await t.services.sessions.getOrCreate(w, 'bash', undefined);
  };

  test('every route of the table is in the README scope table, and the table has no stale row', () => {
    const cases = routeCases(app);
    const seen = new Set(cases.map((c) => `${c.method} ${c.pattern.replace(/^\/api\/v1\//, '/')}`));
    expect([...POLICY.keys()].filter((k) => !seen.has(k))).toEqual([]);
    for (const c of cases) {
      if (c.pattern.startsWith('/api/v1/')) continue;
      const key = `${c.method} ${c.pattern}`;
      const prefixed = app.routes.some(
        (r) => r.method === c.method && r.path === `/api/v1${c.pattern}`,
      );
      expect({ key, prefixed }).toEqual({ key, prefixed: !ROOT_ONLY.has(key) });
    }
  });

  test('every route declares its scope, the one the README documents', () => {
    const undeclared: string[] = [];
    for (const route of app.routes) {
      const declared = (route.hooks as { detail?: Record<string, unknown> }).detail?.[SCOPE_FIELD];
      const bare = route.path.startsWith('/api/v1/') ? route.path.slice(7) : route.path;
      const key = `${route.method} ${bare}`;
      if (declared === undefined) undeclared.push(key);
      else
        expect({ key, declared }).toEqual({
          key,
          declared: POLICY.get(key) ?? 'missing from the README',
        });
    }
    // Only the swagger plugin's own pages (the API docs) carry no scope: they are open.
    expect(undeclared.sort()).toEqual(['GET /swagger', 'GET /swagger/json']);
  });

  test('property: routes × keys × hostile targets × hosts', async () => {
    const cases = routeCases(app);
    const targets = TARGETS.filter((x) => !x.raw);
    const hosts = ['localhost', 'a', 'a:1', '[::1]:18890', '127.0.0.1', 'h'.repeat(300), 'sw'];
    await ensureSessions();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...cases),
        fc.constantFrom(...WHO),
        fc.constantFrom(...targets),
        fc.constantFrom(...hosts),
        fc.constantFrom<Placement>('body', 'header', 'none'),
        async (route, who, target, host, placement) => {
          await ensureSessions();
          const before = snapshot();
          const shutdownsBefore = shutdowns;
          const url = `http://${host}${target.of(route.path)}`;
          const headers: Record<string, string> = {
            'content-type': 'application/json',
            ...headersOf[who],
            ...(placement === 'header' ? { 'x-worker-id': WORKER } : {}),
          };
          const res = await app.handle(
            new Request(url, {
              method: route.method,
              headers,
              body: route.method === 'GET' ? undefined : JSON.stringify(bodyFor(marker, placement)),
            }),
          );
          const answer = parse(res.status, await res.text());
          const what = `${route.method} ${url} as ${who}, worker id in ${placement}`;
          const decision = expected(route.scope, who, sentIn(route, placement));
          const ran = check(what, answer, decision, target.name === 'plain');
          if (!ran) {
            expect({ what, marker: readdirSync(marker) }).toEqual({ what, marker: [] });
            expect({ what, sessions: snapshot() }).toEqual({ what, sessions: before });
            expect({ what, shutdowns }).toEqual({ what, shutdowns: shutdownsBefore });
          }
          for (const f of readdirSync(marker)) rmSync(join(marker, f));
        },
      ),
      { numRuns: 1500 },
    );
  }, 120_000);

  test('the marker works: an own worker key runs the command', async () => {
    const r = await app.handle(
      new Request('http://localhost/execute', {
        method: 'POST',
        headers: { 'x-api-key': TEAM_A },
        body: JSON.stringify(bodyFor(marker, 'body')),
      }),
    );
    expect(((await r.json()) as { code: number }).code).toBe(0);
    expect(readdirSync(marker).length).toBe(1);
    for (const f of readdirSync(marker)) rmSync(join(marker, f));
  });
});

/** Sends raw bytes on a fresh connection and reads the answer until the server closes it. */
function rawRequest(port: number, text: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(all)?.[1] ?? 0);
      const head = all.indexOf('\r\n\r\n');
      const rawBody = head < 0 ? '' : all.slice(head + 4);
      const chunked = /\r\ntransfer-encoding: chunked/i.test(all.slice(0, head));
      resolve(parse(status, chunked ? dechunk(rawBody) : rawBody));
    });
  });
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 4 + size);
  }
}

describe('scopes over a raw socket against the real server', () => {
  const fixture = serverFixture('af-auth-raw-');

  test('property: routes × keys × raw request targets × Host headers', async () => {
    const marker = tempDir('af-marker-');
    try {
      const server = await fixture.start(fixture.newDataDir(), { ...KEYS, log_level: 'silent' });
      const admin = async (path: string, body: unknown) =>
        (
          await fetch(server.url + path, {
            method: 'POST',
            headers: { authorization: `Bearer ${ADMIN}` },
            body: JSON.stringify(body),
          })
        ).json() as Promise<{ data: { sessions: unknown[] } }>;
      const snapshot = async () => JSON.stringify((await admin('/session/list', {})).data.sessions);
      const ensureSessions = async () => {
        for (const w of [WORKER, 'team-b-1']) {
          await admin('/session/create', { worker_id: w, resource_type: 'bash' });
        }
      };
      // The route table of an app built like the server's (the same code builds both).
      const local = await buildApp(KEYS);
      const cases = routeCases(local.app);
      await local.close();
      // A Host the server rewrites to a bare path (empty, invalid) or keeps (a, long, ports, IPv6);
      // null sends none (HTTP/1.0).
      const hosts: (string | null)[] = [
        `127.0.0.1:${server.port}`,
        'a',
        '',
        'h'.repeat(2000),
        'a:1',
        '[::1]:8080',
        '[::1]',
        'a/b',
        'a@b',
        null,
      ];
      await ensureSessions();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...cases),
          // The admin key is left out here: it would stop this server (app.handle covers it).
          fc.constantFrom<Who>('none', 'wrong', 'other-worker', 'own-worker'),
          fc.constantFrom(...TARGETS),
          fc.constantFrom(...hosts),
          fc.constantFrom<Placement>('body', 'header', 'none'),
          async (route, who, target, host, placement) => {
            await ensureSessions();
            const before = await snapshot();
            const body = route.method === 'GET' ? '' : JSON.stringify(bodyFor(marker, placement));
            const headers = {
              ...headersOf[who],
              ...(placement === 'header' ? { 'x-worker-id': WORKER } : {}),
              ...(host === null ? {} : { host }),
              'content-type': 'application/json',
              'content-length': String(Buffer.byteLength(body)),
              connection: 'close',
            };
            const requestTarget = target.of(route.path);
            const text =
              `${route.method} ${requestTarget} HTTP/1.${host === null ? 0 : 1}\r\n` +
              Object.entries(headers)
                .map(([k, v]) => `${k}: ${v}\r\n`)
                .join('') +
              `\r\n${body}`;
            const answer = await rawRequest(server.port, text);
            const what = `${route.method} ${requestTarget} (Host ${JSON.stringify(host)}) as ${who}, worker id in ${placement}`;
            // Bun's own parser refuses some targets (400, no envelope, no JS ran).
            const refusedByBun = answer.status === 400 && answer.code === undefined;
            const decision = expected(route.scope, who, sentIn(route, placement));
            const plain = target.name === 'plain' && host !== null && host.startsWith('127.');
            const ran = !(refusedByBun && !plain) && check(what, answer, decision, plain);
            if (!ran) {
              expect({ what, marker: readdirSync(marker) }).toEqual({ what, marker: [] });
              expect({ what, sessions: await snapshot() }).toEqual({ what, sessions: before });
            }
            for (const f of readdirSync(marker)) rmSync(join(marker, f));
          },
        ),
        { numRuns: 400 },
      );
      expect(server.proc.exitCode).toBeNull();
    } finally {
      rmSync(marker, { recursive: true, force: true });
    }
  }, 180_000);

  test('the issue’s requests: Host a with /swagger/execute, /swagger/session/list, /swagger/shutdown', async () => {
    const marker = tempDir('af-marker-');
    try {
      const server = await fixture.start(fixture.newDataDir(), { ...KEYS, log_level: 'silent' });
      const send = (path: string, body: string) =>
        rawRequest(
          server.port,
          `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
            `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
      const run = await send(
        '/swagger/execute',
        JSON.stringify({
          worker_id: 'w',
          action: 'bash:run',
          params: { command: `touch ${marker}/x` },
        }),
      );
      expect([run.status, run.code]).toEqual([404, 1002]);
      expect(existsSync(join(marker, 'x'))).toBe(false);
      const list = await send('/swagger/session/list', '{}');
      expect([list.status, list.code]).toEqual([404, 1002]);
      const stop = await send('/swagger/shutdown', '{}');
      expect([stop.status, stop.code]).toEqual([404, 1002]);
      expect((await fetch(server.url + '/health')).status).toBe(200);
      for (const path of ['/execute', '/session/list', '/shutdown']) {
        const r = await send(path, '{"worker_id":"w"}');
        expect([path, r.status, r.code]).toEqual([path, 401, 1006]);
      }
      expect(server.proc.exitCode).toBeNull();
    } finally {
      rmSync(marker, { recursive: true, force: true });
    }
  });
});
