// API keys and scopes (SPEC §8): admin and worker keys, Bearer and X-API-Key, open endpoints,
// and keys never reaching logs or sessions.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { connect } from 'node:net';
import { createLogger } from '../src/core/log.ts';
import { buildApp, type TestApp } from './helpers.ts';

const ADMIN = 'admin-key-0123456789abcdef';
const TEAM_A = 'team-a-key-0123456789abcdef';
const lines: string[] = [];
let t: TestApp;

beforeAll(async () => {
  t = await buildApp(
    {
      api_key: ADMIN,
      api_keys: [{ key: TEAM_A, name: 'team-a', scope: 'worker', workers: 'team-a-*' }],
    },
    createLogger('debug', false, (line) => lines.push(line)),
  );
});
afterAll(() => t.close());

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const run = (worker: string, headers: Record<string, string>) =>
  t.post(
    '/execute',
    { worker_id: worker, action: 'bash:run', params: { command: 'env' } },
    headers,
  );

describe('authentication', () => {
  test('missing or wrong key is 401 + 1006', async () => {
    const attempts: Record<string, string>[] = [
      {},
      bearer('wrong-key-0123456789abcdef'),
      { 'x-api-key': 'nope' },
    ];
    for (const headers of attempts) {
      const r = await run('team-a-1', headers);
      expect(r.status).toBe(401);
      expect(r.body.code).toBe(1006);
    }
    const tools = await t.get('/tools');
    expect(tools.status).toBe(401);
  });

  test('Bearer and X-API-Key both work', async () => {
    expect((await run('anyone', bearer(ADMIN))).body.code).toBe(0);
    expect((await run('anyone', { 'x-api-key': ADMIN })).body.code).toBe(0);
  });

  test('the Bearer scheme is case-insensitive and spaces around the key are ignored', async () => {
    for (const value of [
      `bearer ${ADMIN}`,
      `BEARER ${ADMIN}`,
      `BeArEr ${ADMIN}`,
      `Bearer    ${ADMIN}`,
      `  Bearer ${ADMIN}  `,
      `Bearer\t${ADMIN}`,
    ]) {
      const r = await run('anyone', { authorization: value });
      expect([value, r.status, r.body.code]).toEqual([value, 200, 0]);
    }
    for (const value of [`Bearer`, `Bearer${ADMIN}`, `Basic ${ADMIN}`, `Bearer ${ADMIN} extra`]) {
      const r = await run('anyone', { authorization: value });
      expect([value, r.status, r.body.code]).toEqual([value, 401, 1006]);
    }
  });

  test('/health, /ready and the API docs stay open', async () => {
    expect((await t.get('/health')).status).toBe(200);
    await t.post('/warmup', {}, bearer(ADMIN));
    expect((await t.get('/api/v1/ready')).status).toBe(200);
    expect((await t.get('/swagger/json')).status).toBe(200);
  });
});

describe('unknown routes', () => {
  test('answer 404 + 1002 with or without a key, and say nothing but that', async () => {
    for (const headers of [
      {},
      bearer('wrong-key-0123456789abcdef'),
      bearer(TEAM_A),
      bearer(ADMIN),
    ]) {
      for (const path of ['/no/such/route', '/swagger/execute', '/EXECUTE', '/api/v1/metrics']) {
        const r = await t.post(path, { worker_id: 'team-a-1' }, headers);
        expect([path, r.status, r.body.code, r.body.meta.error_type]).toEqual([
          path,
          404,
          1002,
          'EndpointNotFoundError',
        ]);
        expect(r.body.data).toBeNull();
        expect(r.body.message).toBe(`No endpoint POST ${path}. The API is described at /swagger.`);
      }
    }
  });

  test('HEAD of a keyed GET route needs the key too', async () => {
    const head = (path: string, headers: Record<string, string> = {}) =>
      t.app.handle(new Request(`http://localhost${path}`, { method: 'HEAD', headers }));
    expect((await head('/metrics')).status).toBe(401);
    expect((await head('/metrics', bearer(TEAM_A))).status).toBe(403);
    expect((await head('/metrics', bearer(ADMIN))).status).toBe(200);
    expect((await head('/tools')).status).toBe(401);
    expect((await head('/health')).status).toBe(200);
  });
});

describe('worker keys', () => {
  test('may act for matching worker ids only (body or X-Worker-ID)', async () => {
    expect((await run('team-a-7', bearer(TEAM_A))).body.code).toBe(0);
    const other = await run('team-b-1', bearer(TEAM_A));
    expect(other.status).toBe(403);
    expect(other.body.code).toBe(1006);
    const viaHeader = await t.post(
      '/session/create',
      { resource_type: 'bash' },
      { ...bearer(TEAM_A), 'x-worker-id': 'team-b-2' },
    );
    expect(viaHeader.status).toBe(403);
    const batch = await t.post(
      '/execute/batch',
      { worker_id: 'intruder', actions: [{ action: 'bash:run', params: { command: 'id' } }] },
      bearer(TEAM_A),
    );
    expect(batch.body.code).toBe(1006);
  });

  test('admin-only endpoints refuse worker keys with 403', async () => {
    const cases: [string, 'GET' | 'POST', unknown][] = [
      ['/shutdown', 'POST', {}],
      ['/api/v1/server/shutdown', 'POST', {}],
      ['/warmup', 'POST', {}],
      ['/session/list', 'POST', {}],
      ['/metrics', 'GET', undefined],
    ];
    for (const [path, method, body] of cases) {
      const r =
        method === 'GET'
          ? await t.get(path, bearer(TEAM_A))
          : await t.post(path, body, bearer(TEAM_A));
      expect(r.status).toBe(403);
      expect(r.body.code).toBe(1006);
    }
    // …while what a worker needs stays available to it.
    expect((await t.get('/tools', bearer(TEAM_A))).status).toBe(200);
    expect((await t.get('/warmup/status', bearer(TEAM_A))).status).toBe(200);
    expect((await t.post('/session/list', { worker_id: 'team-a-7' }, bearer(TEAM_A))).status).toBe(
      200,
    );
    expect((await t.get('/metrics', bearer(ADMIN))).status).toBe(200);
  });
});

test('keys never appear in logs or in a session’s environment', async () => {
  process.env.AGENTFLOW_API_KEY = ADMIN;
  try {
    const r = await run('team-a-9', bearer(TEAM_A));
    expect(r.body.data.stdout).not.toContain(ADMIN);
    expect(r.body.data.stdout).not.toContain(TEAM_A);
    expect(r.body.data.stdout).not.toContain('AGENTFLOW_API_KEY');
  } finally {
    delete process.env.AGENTFLOW_API_KEY;
  }
  await Bun.sleep(20);
  const all = lines.join('\n');
  expect(all).toContain('"event":"request"');
  expect(all).not.toContain(ADMIN);
  expect(all).not.toContain(TEAM_A);
});

test('/health stays open for an HTTP/1.0 request without a Host header', async () => {
  const server = t.app.listen({ port: 0, hostname: '127.0.0.1' });
  const port = server.server!.port!;
  try {
    const text = await new Promise<string>((resolve, reject) => {
      let reply = '';
      const socket = connect(port, '127.0.0.1', () => socket.write('GET /health HTTP/1.0\r\n\r\n'));
      socket.on('data', (chunk) => (reply += chunk.toString()));
      socket.on('end', () => resolve(reply));
      socket.on('error', reject);
    });
    expect(text).toContain('200 OK');
    expect(text).toContain('"status":"ok"');
  } finally {
    await server.stop();
  }
});
