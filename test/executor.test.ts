// The executor's deadlines: a call is stopped early enough that its answer, a 2002 included, is
// sent within its timeout (upstream's client times its HTTP request out after the same T).
import { expect, test } from 'bun:test';
import { t } from 'elysia';
import { rmSync } from 'node:fs';
import type { Backend } from '../src/backends/backend.ts';
import {
  ANSWER_RESERVE_MS,
  callDeadlines,
  Executor,
  type ExecutionFailure,
} from '../src/core/executor.ts';
import { Gate } from '../src/core/gate.ts';
import { silentLogger } from '../src/core/log.ts';
import { SessionManager } from '../src/core/sessions.ts';
import { Store } from '../src/core/store.ts';
import { ToolRegistry } from '../src/core/tools.ts';
import { WarmupManager } from '../src/core/warmup.ts';
import { tempDir } from './helpers.ts';

test('the backend stops 5% early (100 ms to 1 s, at most half); abandoning comes before T', () => {
  const at = (timeoutMs: number, graceMs = 2000) => {
    const d = callDeadlines(1_000_000, timeoutMs, graceMs);
    return [d.stopBy - 1_000_000, d.abandonAt - 1_000_000, d.answerBy - 1_000_000];
  };
  expect(at(1000)).toEqual([900, 1000 - ANSWER_RESERVE_MS, 1000]);
  expect(at(10_000)).toEqual([9500, 10_000 - ANSWER_RESERVE_MS, 10_000]);
  expect(at(60_000)).toEqual([59_000, 60_000 - ANSWER_RESERVE_MS, 60_000]);
  expect(at(120)).toEqual([60, 120 - ANSWER_RESERVE_MS, 120]);
  // A grace shorter than the margin abandons sooner; a grace of 0 abandons at the stop deadline.
  expect(at(10_000, 100)).toEqual([9500, 9600, 10_000]);
  expect(at(10_000, 0)).toEqual([9500, 9500, 10_000]);
  // Never before the stop deadline, even when the timeout is tiny.
  const tiny = callDeadlines(0, 10, 2000);
  expect(tiny.abandonAt).toBeGreaterThanOrEqual(tiny.stopBy);
  expect(tiny.abandonAt).toBeLessThanOrEqual(tiny.answerBy);
});

/** A backend whose warmup and session creation take as long as asked: the slow parts. */
function slowBackend(warmupMs: number, createMs: number, events: string[], destroyMs = 0): Backend {
  return {
    name: 'slow',
    description: 'slow to warm and to create',
    sessionConfig: t.Object({}),
    tools: [
      {
        name: 'go',
        description: 'go',
        params: t.Object({}),
        run: async () => {
          events.push('ran');
          return 'ran';
        },
      },
    ],
    warmup: async () => {
      await Bun.sleep(warmupMs);
      events.push('warm');
    },
    createSession: async () => {
      await Bun.sleep(createMs);
      events.push('created');
      return {};
    },
    destroySession: async () => {
      await Bun.sleep(destroyMs);
      events.push('destroyed');
    },
  };
}

async function executorFor(backend: Backend) {
  const dir = tempDir('af-executor-');
  const store = Store.open(dir);
  const sessions = new SessionManager(
    [backend],
    store,
    { ttlMs: 60_000, sweepIntervalMs: 60_000, maxTotal: 10, maxPerWorker: 10 },
    silentLogger,
  );
  const gate = new Gate();
  const executor = new Executor(
    new ToolRegistry([backend]),
    sessions,
    new WarmupManager([backend], silentLogger),
    gate,
    { defaultTimeoutMs: 60_000, maxTimeoutMs: 600_000, graceMs: 2000 },
  );
  const close = () => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { executor, gate, close };
}

async function until(what: () => boolean, ms = 5000) {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await Bun.sleep(10);
  }
}

test('a slow session creation does not hold the answer past the timeout; the tool never runs', async () => {
  const events: string[] = [];
  const { executor, gate, close } = await executorFor(slowBackend(0, 1200, events));
  try {
    const started = performance.now();
    const failure = await executor.execute({ workerId: 'w', action: 'slow:go', timeout: 0.5 }).then(
      () => null,
      (err: ExecutionFailure) => err,
    );
    expect(performance.now() - started).toBeLessThan(500);
    expect(failure?.error.code).toBe(2002);
    expect(failure?.error.message).toContain('creating its temporary session');
    // The work goes on in the background: it cleans up its temporary session, runs nothing, and
    // holds the shutdown gate until then.
    expect(gate.inFlight).toBe(1);
    await until(() => gate.inFlight === 0);
    expect(events).toEqual(['warm', 'created', 'destroyed']);
  } finally {
    close();
  }
});

test('a slow warmup answers 2002 within the timeout too', async () => {
  const events: string[] = [];
  const { executor, gate, close } = await executorFor(slowBackend(800, 0, events));
  try {
    const started = performance.now();
    const failure = await executor.execute({ workerId: 'w', action: 'slow:go', timeout: 0.3 }).then(
      () => null,
      (err: ExecutionFailure) => err,
    );
    expect(performance.now() - started).toBeLessThan(300);
    expect(failure?.error.code).toBe(2002);
    expect(failure?.error.message).toContain('warming up slow');
    await until(() => gate.inFlight === 0);
    expect(events).not.toContain('ran');
    // Once warm, a call with time enough runs.
    const ok = await executor.execute({ workerId: 'w', action: 'slow:go', timeout: 2 });
    expect(ok.data).toBe('ran');
    expect(ok.meta.temporary_session).toBe(true);
  } finally {
    close();
  }
});

test('a slow temporary-session teardown does not make a finished call late', async () => {
  const events: string[] = [];
  const { executor, gate, close } = await executorFor(slowBackend(0, 0, events, 1000));
  try {
    const started = performance.now();
    const ok = await executor.execute({ workerId: 'w', action: 'slow:go', timeout: 0.5 });
    expect(performance.now() - started).toBeLessThan(500);
    expect(ok.data).toBe('ran');
    expect(events).not.toContain('destroyed');
    await until(() => gate.inFlight === 0);
    expect(events).toEqual(['warm', 'created', 'ran', 'destroyed']);
    // With time to spare, the temporary session is gone before the answer (as SPEC §3 has it).
    events.length = 0;
    const quick = await executorFor(slowBackend(0, 0, events, 50));
    try {
      await quick.executor.execute({ workerId: 'w', action: 'slow:go', timeout: 5 });
      expect(events).toEqual(['warm', 'created', 'ran', 'destroyed']);
    } finally {
      quick.close();
    }
  } finally {
    close();
  }
});
