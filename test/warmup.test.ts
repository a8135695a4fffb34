// Warmup runs in real worker threads; a failed warmup answers 2003 and keeps /ready at 503 while
// the rest of the server works.
import { expect, test } from 'bun:test';
import type { ProbeInput, ProbeResult } from '../src/backends/bash/probe-worker.ts';
import { runWorkerTask, workerUrl } from '../src/core/workers.ts';
import { buildApp } from './helpers.ts';

test('bash warmup probes the shell in a worker thread', async () => {
  const t = await buildApp({ warmup: { at_start: false } });
  try {
    const before = await t.get('/warmup/status');
    expect(before.body.data.backends.bash).toMatchObject({ loaded: true, warmed_up: false });
    expect((await t.get('/ready')).status).toBe(503);
    const w = await t.post('/warmup', {});
    expect(w.body.data.backends.bash.ok).toBe(true);
    const after = await t.get('/warmup/status');
    expect(after.body.data.backends.bash).toMatchObject({
      loaded: true,
      warmed_up: true,
      progress: 1,
    });
    expect((await t.get('/ready')).status).toBe(200);
  } finally {
    await t.close();
  }
});

test('a call on a cold backend warms it first', async () => {
  const t = await buildApp({ warmup: { at_start: false } });
  try {
    const r = await t.post('/execute', {
      worker_id: 'cold',
      action: 'bash:run',
      params: { command: 'echo warm' },
    });
    expect(r.body.data.stdout).toBe('warm\n');
    expect((await t.get('/warmup/status')).body.data.backends.bash.warmed_up).toBe(true);
  } finally {
    await t.close();
  }
});

test('a failed warmup is 2003 on use and on /warmup, /ready says why, health stays ok', async () => {
  const t = await buildApp({ backends: { bash: { shell: '/no/such/bash' } } });
  try {
    const r = await t.post('/execute', {
      worker_id: 'w',
      action: 'bash:run',
      params: { command: 'true' },
    });
    expect(r.status).toBe(503);
    expect(r.body.code).toBe(2003);
    expect(r.body.message).toContain('/no/such/bash');
    const create = await t.post('/session/create', { worker_id: 'w', resource_type: 'bash' });
    expect(create.body.code).toBe(2003);
    const w = await t.post('/warmup', { backends: ['bash'] });
    expect(w.status).toBe(503);
    expect(w.body.code).toBe(2003);
    expect(w.body.data.backends.bash.ok).toBe(false);
    const ready = await t.get('/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.message).toContain('bash');
    expect((await t.get('/warmup/status')).body.data.backends.bash.error).toContain(
      '/no/such/bash',
    );
    expect((await t.get('/health')).status).toBe(200);
  } finally {
    await t.close();
  }
});

test('a worker task reports progress and errors', async () => {
  const progress: number[] = [];
  const probe = workerUrl('backends/bash/probe-worker.ts');
  const input: ProbeInput = {
    shell: 'bash',
    workspaceRoot: '/tmp/af-probe',
    isolation: 'auto',
    wantLimits: false,
    probeUid: 200000,
  };
  const ok = await runWorkerTask<ProbeResult>(probe, input, (f) => progress.push(f));
  expect(ok.shellPath).toContain('bash');
  expect(ok.isolation).toBe('bwrap');
  expect(progress).toEqual([0.3, 0.6]);
  await expect(runWorkerTask(probe, { ...input, shell: 'definitely-not-a-shell' })).rejects.toThrow(
    /not found/,
  );
});
