// `bun run bench`: the whole benchmark suite in one run. Every benchmark starts its own baseline
// in the same run (this machine is shared and noisy), all traffic goes to 127.0.0.1, every server
// gets a temporary data directory, and every process started here is killed at the end, on
// failure and on Ctrl-C too.
//
// Options:
//   --quick          shorter load runs and fewer rounds (a smoke test of the suite itself)
//   --no-wrk         use the Bun load client even when wrk is installed
//   --only=a,b       run only some of: idle, load, many, restart, mcp, python, text2sql, doc, pool, web
//   --json=FILE      also write the result rows as JSON
//   --markdown       also print the table as Markdown
//   --head           benchmark the last commit instead of the working tree
// The server's sources are copied to a temporary directory at the start, so edits made to src/
// while the suite runs do not change what is measured half-way through.
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { benchHttpLoad } from './http-load.ts';
import { benchIdleRss } from './idle-rss.ts';
import { cleanupAll, installCleanupHooks, log, snapshotServer } from './lib.ts';
import { describeLoadTool, forceLoadTool } from './load.ts';
import { benchManySessions } from './many-sessions.ts';
import { benchMcp } from './mcp.ts';
import { benchPool } from './pool.ts';
import { benchPython } from './python.ts';
import { row, table, markdown, type Row } from './report.ts';
import { benchRestart } from './restart.ts';
import { benchText2sql } from './text2sql.ts';
import { benchDocSearch } from './doc.ts';
import { benchWeb } from './web.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'no-wrk': { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'string' },
    markdown: { type: 'boolean', default: false },
    head: { type: 'boolean', default: false },
  },
  strict: true,
});

const ALL = [
  'idle',
  'load',
  'many',
  'restart',
  'mcp',
  'python',
  'text2sql',
  'doc',
  'pool',
  'web',
] as const;
type BenchName = (typeof ALL)[number];
const only = new Set(
  (args.only?.split(',').map((s) => s.trim()) ?? [...ALL]).filter((s): s is BenchName =>
    (ALL as readonly string[]).includes(s),
  ),
);
if (args['no-wrk']) forceLoadTool('bun-client');
const quick = args.quick;

async function main(): Promise<void> {
  installCleanupHooks();
  const started = performance.now();
  const cpu = cpus();
  log('AgentFlow server benchmarks');
  log(`  date:     ${new Date().toISOString()}`);
  log(
    `  machine:  ${cpu.length} cores (${cpu[0]?.model.trim() ?? 'unknown CPU'}), ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${process.platform}/${process.arch}`,
  );
  log(`  bun:      ${Bun.version}`);
  const measured = snapshotServer(args.head ? 'head' : 'worktree');
  log(`  server:   ${measured}`);
  log(`  load:     ${describeLoadTool()}`);
  log(`  mode:     ${quick ? 'quick' : 'full'}`);
  log('');

  const rows: Row[] = [];
  const step = async (name: BenchName, title: string, fn: () => Promise<Row[]>) => {
    if (!only.has(name)) return;
    log(
      `== ${title}   (load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')})`,
    );
    const t = performance.now();
    try {
      rows.push(...(await fn()));
    } catch (err) {
      log(`  FAILED: ${(err as Error).stack ?? String(err)}`);
      rows.push(row({ bench: title, metric: 'run', ours: 'FAILED', goal: 'runs', met: false }));
      process.exitCode = 1;
    }
    log(`  (${((performance.now() - t) / 1000).toFixed(1)} s)\n`);
  };

  await step('idle', '7. idle RSS', benchIdleRss);
  await step('load', '1–4. bash:run over HTTP vs echo and spawn-per-command', () =>
    benchHttpLoad({
      rounds: quick ? 1 : 3,
      seqSeconds: quick ? 1 : 3,
      concSeconds: quick ? 1 : 4,
      connections: 64,
    }),
  );
  await step('many', '5. 1,000 bash sessions at once', () =>
    benchManySessions({
      sessions: quick ? 200 : 1000,
      concurrency: 8,
      phaseTimeoutMs: 120_000,
    }),
  );
  await step('restart', '6. restart with 10,000 stored sessions', () =>
    benchRestart({ sessions: 10_000, rounds: quick ? 1 : 5, timeoutMs: 30_000 }),
  );

  await step('mcp', '8. bash:run through /mcp vs /execute', () =>
    benchMcp({ calls: quick ? 100 : 1000 }),
  );

  await step('python', '9–10. python:run and ds:read_csv vs python3 -c', () =>
    benchPython({ calls: quick ? 50 : 300, spawns: quick ? 10 : 40 }),
  );

  await step('pool', '11–12. temporary-session bash:run, warm pool on vs off', () =>
    benchPool({ calls: quick ? 30 : 150, pauseMs: 60 }),
  );

  await step('text2sql', '13. text2sql:execute vs bun:sqlite', () =>
    benchText2sql({ calls: quick ? 200 : 1000 }),
  );
  await step('doc', '14. doc:search vs the FTS5 query in-process', () =>
    benchDocSearch({ calls: quick ? 200 : 1000 }),
  );
  await step('web', '15. web:search vs a direct provider fetch', () =>
    benchWeb({ calls: quick ? 50 : 300 }),
  );

  log(`== Results (load generator: ${describeLoadTool()})\n`);
  log(table(rows));
  if (args.markdown) log('\n' + markdown(rows));
  const missed = rows.filter((r) => r.met === false);
  log(
    `\n${rows.filter((r) => r.met !== null).length - missed.length} goals met, ${missed.length} missed` +
      (missed.length ? `: ${missed.map((r) => `${r.bench} / ${r.metric}`).join('; ')}` : ''),
  );
  log(
    `total time ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
      `load average at the end ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
  );
  if (args.json) {
    writeFileSync(
      args.json,
      JSON.stringify(
        {
          date: new Date().toISOString(),
          cores: cpu.length,
          server: measured,
          load: describeLoadTool(),
          rows,
        },
        null,
        2,
      ),
    );
  }
}

try {
  await main();
} finally {
  cleanupAll();
}
