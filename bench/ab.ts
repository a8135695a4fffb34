// `bun bench/ab.ts --base <other checkout>`: this checkout against another one (an earlier commit
// in a `git worktree`, say) in one process, calls interleaved, so the machine's load changes
// fall on both alike. Each side builds its own services in-process (app.handle, no HTTP) on a
// temporary data directory, with the default configuration (bash sandboxed, rag on, vm off), and
// runs `bash:run echo hi` on a session and on temporary sessions. It prints the p50 of each and
// the ratio this/base.
//
//   git worktree add --detach /tmp/base <rev> && (cd /tmp/base && bun install)
//   bun bench/ab.ts --base /tmp/base --rounds 300
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: { base: { type: 'string' }, rounds: { type: 'string', default: '300' } },
  strict: true,
});
if (!args.base) {
  console.error('usage: bun bench/ab.ts --base <other checkout> [--rounds N]');
  process.exit(2);
}

interface Side {
  call(worker: string): Promise<{ code: number }>;
  close(): Promise<void>;
}

async function build(tree: string): Promise<Side> {
  const { loadConfig } = await import(join(tree, 'src/config.ts'));
  const { createServices, createApp } = await import(join(tree, 'src/server.ts'));
  const { silentLogger } = await import(join(tree, 'src/core/log.ts'));
  const dir = mkdtempSync(join(tmpdir(), 'af-ab-'));
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({ data_dir: dir, log_level: 'silent', backends: { vm: { enabled: false } } }),
  );
  const services = await createServices(loadConfig({ configPath: file }, {}), silentLogger);
  const app = createApp(services);
  await services.warmup.ensure('bash');
  const post = (path: string, body: unknown) =>
    app
      .handle(
        new Request(`http://localhost${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        }),
      )
      .then((r: Response) => r.json());
  await post('/session/create', { worker_id: 'keep', resource_type: 'bash' });
  return {
    call: (worker) =>
      post('/execute', { worker_id: worker, action: 'bash:run', params: { command: 'echo hi' } }),
    close: async () => {
      await services.shutdown({ force: true, cleanupSessions: true });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const sides = { base: await build(args.base), this: await build(join(import.meta.dir, '..')) };
const times = {
  base: { session: [] as number[], temporary: [] as number[] },
  this: { session: [] as number[], temporary: [] as number[] },
};
const rounds = Number(args.rounds);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 ? (['base', 'this'] as const) : (['this', 'base'] as const);
  for (const name of order) {
    let start = performance.now();
    const r = await sides[name].call('keep');
    times[name].session.push(performance.now() - start);
    if (r.code !== 0) throw new Error(`${name}: ${JSON.stringify(r)}`);
    if (round % 3 === 0) {
      start = performance.now();
      const q = await sides[name].call(`temporary-${round}`);
      times[name].temporary.push(performance.now() - start);
      if (q.code !== 0) throw new Error(`${name}: ${JSON.stringify(q)}`);
    }
  }
}
const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const kind of ['session', 'temporary'] as const) {
  const b = p50(times.base[kind]);
  const t = p50(times.this[kind]);
  console.log(
    `bash:run, ${kind.padEnd(9)} p50: base ${b.toFixed(3)} ms, this ${t.toFixed(3)} ms, ` +
      `ratio ${(t / b).toFixed(2)} (n ${times.this[kind].length})`,
  );
}
await sides.base.close();
await sides.this.close();
