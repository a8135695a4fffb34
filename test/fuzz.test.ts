// Hostile input, property-based (fast-check): random JSON, wrong types, huge strings, deep
// nesting, NUL bytes, invalid UTF-8, traversal in worker ids and file paths. Invariants: never a
// 5xx, every error carries a SPEC code, the server stays healthy, nothing outside the session
// workspace is touched.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import fc from 'fast-check';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp, tempDir, type TestApp } from './helpers.ts';

const SPEC_CODES = new Set([0, 1001, 1002, 1003, 1004, 1005, 1006, 2001, 2002, 2003, 2004, 5002]);
const ENDPOINTS = [
  '/execute',
  '/execute/batch',
  '/session/create',
  '/session/destroy',
  '/session/list',
  '/session/refresh',
  '/api/v1/lifecycle/heartbeat',
  '/api/v1/lifecycle/status',
  '/api/v1/worker/disconnect',
  '/api/v1/init/resource',
  '/api/v1/init/batch',
  '/warmup',
];

let t: TestApp;
let canaryDir: string;
const canaryText = 'untouched';

beforeAll(async () => {
  t = await buildApp({
    // No desktops: a random body naming resource type vm would start real containers.
    backends: { vm: { enabled: false } },
    limits: { max_body_bytes: 256 * 1024 },
    execution: { default_timeout_seconds: 2, max_timeout_seconds: 5 },
  });
  canaryDir = tempDir('af-canary-');
  writeFileSync(join(canaryDir, 'canary.txt'), canaryText);
});
afterAll(() => t.close());

async function send(path: string, body: string | Uint8Array): Promise<void> {
  const res = await t.app.handle(
    new Request(`http://localhost${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    }),
  );
  const text = await res.text();
  expect(res.status).toBeLessThan(500);
  const reply = JSON.parse(text);
  expect(SPEC_CODES.has(reply.code)).toBe(true);
  if (reply.code !== 0) expect(typeof reply.meta.error_type).toBe('string');
}

const workerId = fc.oneof(
  fc.string({ maxLength: 140 }),
  fc.constantFrom('../../etc', '/', 'a/b', '..', 'w\u0000x', 'ok-worker', 'é', ' '),
  fc.integer(),
  fc.constant(null),
);
const path = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.constantFrom('../x', '/etc/passwd', '../../../../tmp/x', 'a/../../b', 'x\u0000y', '.', '/'),
);
const wild = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.anything({ maxDepth: 3 }));
const action = fc.oneof(
  fc.constantFrom('bash:run', 'bash:read_file', 'bash:write_file', 'bash.run', 'run', 'vm:x', ''),
  fc.string({ maxLength: 40 }),
);
const params = fc.oneof(
  wild,
  fc.record(
    { command: fc.oneof(fc.string({ maxLength: 200 }), wild), timeout: wild },
    { requiredKeys: [] },
  ),
  fc.record(
    { path, content: fc.oneof(fc.string({ maxLength: 200 }), wild), encoding: wild },
    { requiredKeys: [] },
  ),
);
const body = fc.record(
  {
    worker_id: workerId,
    action,
    params,
    timeout: fc.oneof(fc.double(), fc.integer(), wild),
    resource_type: fc.oneof(fc.constantFrom('bash', 'vm', 'rag', ''), fc.string({ maxLength: 70 })),
    config: wild,
    custom_name: fc.oneof(fc.string({ maxLength: 80 }), wild),
    actions: fc.array(fc.record({ action, params, timeout: wild }, { requiredKeys: [] }), {
      maxLength: 3,
    }),
    resource_configs: wild,
    backends: wild,
  },
  { requiredKeys: [] },
);

test('random bodies on every endpoint: no 5xx, SPEC codes only', async () => {
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ENDPOINTS), body, async (endpoint, b) => {
      await send(endpoint, JSON.stringify(b));
    }),
    { numRuns: 400 },
  );
}, 120_000);

test('raw garbage: invalid UTF-8, truncated JSON, deep nesting, huge strings, NUL bytes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ENDPOINTS),
      fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.string({ maxLength: 300 }),
        fc.jsonValue().map((v) => JSON.stringify(v).slice(0, -1)),
      ),
      async (endpoint, raw) => {
        await send(endpoint, raw);
      },
    ),
    { numRuns: 300 },
  );
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  await send('/execute', `{"worker_id":"w","action":"bash:run","params":{"command":${deep}}}`);
  await send('/execute', JSON.stringify({ worker_id: 'w'.repeat(100_000), action: 'bash:run' }));
  await send(
    '/execute',
    JSON.stringify({
      worker_id: 'w',
      action: 'bash:run',
      params: { command: 'x'.repeat(300_000) },
    }),
  );
  await send(
    '/execute',
    '{"worker_id":"w\u0000","action":"bash:run\u0000","params":{"command":"echo \u0000"}}',
  );
}, 120_000);

test('file tools with hostile paths touch nothing outside the workspace', async () => {
  const before = readdirSync(t.dataDir).sort();
  await fc.assert(
    fc.asyncProperty(
      path,
      fc.constantFrom('bash:write_file', 'bash:read_file'),
      async (p, tool) => {
        await send(
          '/execute',
          JSON.stringify({
            worker_id: 'fuzz-files',
            action: tool,
            // Unknown params are ignored now, so read_file really runs too: give it only its own.
            params: tool === 'bash:write_file' ? { path: p, content: 'pwned' } : { path: p },
          }),
        );
      },
    ),
    { numRuns: 200 },
  );
  for (const p of [`${canaryDir}/canary.txt`, `../../../../..${canaryDir}/canary.txt`]) {
    await send(
      '/execute',
      JSON.stringify({
        worker_id: 'fuzz-files',
        action: 'bash:write_file',
        params: { path: p, content: 'pwned' },
      }),
    );
  }
  expect(readFileSync(join(canaryDir, 'canary.txt'), 'utf8')).toBe(canaryText);
  expect(readdirSync(canaryDir)).toEqual(['canary.txt']);
  expect(readdirSync(t.dataDir).sort()).toEqual(before);
}, 30_000);

test('the server is healthy afterwards', async () => {
  expect((await t.get('/health')).status).toBe(200);
  const r = await t.post('/execute', {
    worker_id: 'after-fuzz',
    action: 'bash:run',
    params: { command: 'echo ok' },
  });
  expect(r.body.data.stdout).toBe('ok\n');
});
