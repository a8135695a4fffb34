// The real server process survives what a backend lets escape: the image reference that made
// dockerode follow a redirect into an unhandled DNS error (it killed the process), and errors a
// backend throws from a timer or leaves as an unhandled rejection, logged with their stack.
import { expect, test } from 'bun:test';
import { serverFixture, type ServerProcess } from './helpers.ts';

const servers = serverFixture('af-guard-');

/** The server still answers /health and runs a command on a fresh bash session. */
async function stillServes(server: ServerProcess, workerId = 'after'): Promise<void> {
  expect(server.proc.exitCode).toBeNull();
  expect((await server.get('/health')).status).toBe(200);
  const r = await server.post('/execute', {
    worker_id: workerId,
    action: 'bash:run',
    params: { command: 'echo alive' },
  });
  expect(r.body).toMatchObject({ code: 0, data: { stdout: 'alive\n' } });
}

test('an image reference with a path in it answers 1002 and the server stays up', async () => {
  const server = await servers.start(servers.newDataDir(), { backends: { vm: { enabled: true } } });
  const r = await server.post('/session/create', {
    worker_id: 'w',
    resource_type: 'vm',
    config: { image: 'agentflow-../../x' },
  });
  expect(r.status).toBe(400);
  expect(r.body.code).toBe(1002);
  expect(r.body.message).toContain('image');
  expect(r.body.message).toContain('[registry/]name[:tag][@digest]');
  await stillServes(server);
});
