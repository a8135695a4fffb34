import { afterAll, beforeAll, expect, test } from 'bun:test';
import { buildApp, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await buildApp();
});
afterAll(() => t.close());

test('bash:run through app.handle', async () => {
  const r = await t.post('/execute', {
    worker_id: 'w1',
    action: 'bash:run',
    params: { command: 'echo hi' },
  });
  expect(r.status).toBe(200);
  expect(r.body.data.stdout).toBe('hi\n');
  expect(r.body.meta.temporary_session).toBe(true);
});
