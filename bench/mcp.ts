// bash:run through /mcp (the SDK's client and Streamable HTTP transport) against the same call
// through POST /execute, on one server in the same run, calls interleaved so both see the same
// machine: p50 / p99 of each and the p50 ratio (goal ≤ 1.5×).
// Usage: bun run bench/mcp.ts [--calls 400]   (also `bun run bench --only=mcp`)
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  cleanupAll,
  fmtMs,
  fmtRatio,
  installCleanupHooks,
  log,
  percentile,
  postJson,
  startOurServer,
} from './lib.ts';
import { row, table, type Row } from './report.ts';

const COMMAND = 'echo hi';
const GOAL = 1.5;

export async function benchMcp(opts: { calls: number; warmup?: number }): Promise<Row[]> {
  const server = await startOurServer('agentflow-mcp');
  const client = new Client({ name: 'agentflow-bench', version: '1.0.0' });
  try {
    const rest = () =>
      postJson(`${server.url}/execute`, {
        worker_id: 'bench-rest',
        action: 'bash:run',
        params: { command: COMMAND },
      }).then((r) => {
        if (r.body?.code !== 0) throw new Error(`/execute answered ${JSON.stringify(r.body)}`);
      });
    const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { 'x-worker-id': 'bench-mcp' } },
    });
    await client.connect(transport);
    const mcp = () =>
      client.callTool({ name: 'bash_run', arguments: { command: COMMAND } }).then((r) => {
        if (r.isError) throw new Error(`/mcp answered ${JSON.stringify(r.content)}`);
      });
    // Both workers get a stored session, so neither pays for a temporary one.
    for (const worker of ['bench-rest', 'bench-mcp']) {
      await postJson(`${server.url}/session/create`, { worker_id: worker, resource_type: 'bash' });
    }
    // The same JSON-RPC request by plain fetch on the SDK client's MCP session: the server's
    // share of the cost, without the client library's (zod and ajv checks, SSE parsing).
    let id = 1_000_000;
    const raw = async () => {
      const res = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'x-worker-id': 'bench-mcp',
          'mcp-session-id': transport.sessionId!,
          'mcp-protocol-version': transport.protocolVersion ?? '2025-11-25',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: id++,
          method: 'tools/call',
          params: { name: 'bash_run', arguments: { command: COMMAND } },
        }),
      });
      const text = await res.text();
      if (!text.includes('"structuredContent"')) throw new Error(`/mcp answered ${text}`);
    };
    const calls = { rest, mcp, raw };
    const timings = { rest: [] as number[], mcp: [] as number[], raw: [] as number[] };
    const warmup = opts.warmup ?? 50;
    for (let i = 0; i < warmup + opts.calls; i++) {
      // Rotated, so no kind always runs right after another.
      const order = (['rest', 'mcp', 'raw'] as const).map((_, k, all) => all[(i + k) % 3]!);
      for (const name of order) {
        const t = performance.now();
        await calls[name]();
        if (i >= warmup) timings[name].push(performance.now() - t);
      }
    }
    const p = (xs: number[], q: number) =>
      percentile(
        [...xs].sort((a, b) => a - b),
        q,
      );
    const ratio = p(timings.mcp, 50) / p(timings.rest, 50);
    const bench = `8. bash:run through /mcp vs /execute (${opts.calls} calls each)`;
    return [
      row({
        bench,
        metric: 'p50',
        ours: fmtMs(p(timings.mcp, 50)),
        baseline: fmtMs(p(timings.rest, 50)),
        ratio: fmtRatio(ratio),
        goal: `≤ ${GOAL}×`,
        met: ratio <= GOAL,
      }),
      row({
        bench,
        metric: 'p99',
        ours: fmtMs(p(timings.mcp, 99)),
        baseline: fmtMs(p(timings.rest, 99)),
        ratio: fmtRatio(p(timings.mcp, 99) / p(timings.rest, 99)),
      }),
      row({
        bench,
        metric: 'p50, plain fetch (no SDK client)',
        ours: fmtMs(p(timings.raw, 50)),
        baseline: fmtMs(p(timings.rest, 50)),
        ratio: fmtRatio(p(timings.raw, 50) / p(timings.rest, 50)),
      }),
    ];
  } finally {
    await client.close().catch(() => undefined);
    await server.stop();
  }
}

if (import.meta.main) {
  const at = process.argv.indexOf('--calls');
  const calls = at > 0 ? Number(process.argv[at + 1]) : 400;
  installCleanupHooks();
  try {
    log(table(await benchMcp({ calls })));
  } finally {
    cleanupAll();
  }
}
