// Request logs and Prometheus metrics: one JSON line per request with the ids that tie it to the
// response, and counters/histograms/gauges that move with the traffic.
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { createLogger } from '../src/core/log.ts';
import { buildApp, type TestApp } from './helpers.ts';

const lines: Record<string, any>[] = [];
let t: TestApp;
beforeAll(async () => {
  t = await buildApp(
    {},
    createLogger('info', false, (line) => lines.push(JSON.parse(line))),
  );
});
afterAll(() => t.close());

const waitFor = async (pred: () => boolean) => {
  for (let i = 0; i < 50 && !pred(); i++) await Bun.sleep(10);
};

test('each request is logged once with its id, worker, action, session, code and duration', async () => {
  await t.post('/session/create', { worker_id: 'obs', resource_type: 'bash' });
  const ok = await t.post(
    '/execute',
    { worker_id: 'obs', action: 'bash:run', params: { command: 'echo' } },
    { 'x-request-id': 'req-ok' },
  );
  const bad = await t.post(
    '/execute',
    { worker_id: 'obs', action: 'bash:nope' },
    { 'x-request-id': 'req-bad' },
  );
  await waitFor(() => lines.some((l) => l.request_id === 'req-bad'));
  const okLine = lines.filter((l) => l.event === 'request' && l.request_id === 'req-ok');
  expect(okLine).toHaveLength(1);
  expect(okLine[0]).toMatchObject({
    level: 'info',
    method: 'POST',
    route: '/execute',
    status: 200,
    code: 0,
    worker_id: 'obs',
    action: 'bash:run',
    session_id: ok.body.meta.session_id,
  });
  expect(typeof okLine[0]!.duration_ms).toBe('number');
  expect(typeof okLine[0]!.time).toBe('string');
  const badLine = lines.find((l) => l.event === 'request' && l.request_id === 'req-bad');
  expect(badLine).toMatchObject({ status: 404, code: bad.body.code, action: 'bash:nope' });
  expect(lines.some((l) => l.event === 'session.created' && l.worker_id === 'obs')).toBe(true);
});

test('/metrics exposes requests, tool latency, sessions, warmup and process figures', async () => {
  await t.post('/execute', { worker_id: 'obs2', action: 'bash:run', params: { command: 'true' } });
  await waitFor(() => lines.filter((l) => l.event === 'request').length >= 3);
  const r = await t.app.handle(new Request('http://localhost/metrics'));
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toContain('text/plain');
  const text = await r.text();
  expect(text).toMatch(/agentflow_http_requests_total\{route="\/execute",code="0"\} \d+/);
  expect(text).toMatch(/agentflow_http_requests_total\{route="\/execute",code="1001"\} 1/);
  expect(text).toMatch(
    /agentflow_tool_call_duration_seconds_count\{tool="bash:run",code="0"\} [2-9]/,
  );
  expect(text).toMatch(
    /agentflow_tool_call_duration_seconds_bucket\{tool="bash:run",code="0",le="\+Inf"\}/,
  );
  expect(text).toContain('agentflow_sessions_active{resource_type="bash"} 1');
  expect(text).toContain('agentflow_session_events_total{resource_type="bash",event="created"} 1');
  expect(text).toContain(
    'agentflow_session_events_total{resource_type="bash",event="temporary"} 1',
  );
  expect(text).toMatch(/agentflow_backend_warmed_up\{backend="bash"\} (0|1)/);
  expect(text).toMatch(/process_resident_memory_bytes \d{7,}/);
  expect(text).toMatch(/process_open_fds \d+/);
  expect(text).toMatch(/agentflow_child_processes \d+/);
});

test('errors answered by the shared error handler are logged and counted with their AgentFlow code', async () => {
  const r = await t.post(
    '/session/refresh',
    { worker_id: 'nobody', resource_type: 'bash' },
    { 'x-request-id': 'req-1003' },
  );
  expect(r.body.code).toBe(1003);
  await waitFor(() => lines.some((l) => l.request_id === 'req-1003'));
  expect(lines.find((l) => l.request_id === 'req-1003')).toMatchObject({ status: 404, code: 1003 });
  const text = await (await t.app.handle(new Request('http://localhost/metrics'))).text();
  expect(text).toMatch(/agentflow_http_requests_total\{route="\/session\/refresh",code="1003"\} 1/);
});
