// web:search p50 through the server against its baseline in the same run: the same Serper request
// sent straight to the same fake provider (a Bun server on loopback answering Serper's format), so
// the difference is what the server adds (routing, validation, formatting, the second hop).
import {
  fmtMs,
  fmtRatio,
  log,
  median,
  postJson,
  removeTempDir,
  startOurServer,
  tempDir,
} from './lib.ts';
import { row, type Row } from './report.ts';

const KEY = 'bench-serper-key';

export async function benchWeb(opts: { calls: number }): Promise<Row[]> {
  const provider = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(req) {
      if (req.headers.get('x-api-key') !== KEY) return new Response('forbidden', { status: 403 });
      const { q } = (await req.json()) as { q: string };
      return Response.json({
        organic: Array.from({ length: 10 }, (_, i) => ({
          title: `${q} result ${i + 1}`,
          link: `https://example.org/${i}`,
          snippet: `About ${q}, part ${i + 1}.`,
        })),
      });
    },
  });
  const serperUrl = `http://127.0.0.1:${provider.port}`;
  const dataDir = tempDir();
  const server = await startOurServer('agentflow-web', dataDir, {
    backends: { web: { enabled: true, serper_api_key: KEY, serper_url: serperUrl } },
  });
  try {
    const url = `${server.url}/execute`;
    const call = { worker_id: 'bench-web', action: 'web:search', params: { query: ['kettle'] } };
    const direct = () =>
      fetch(`${serperUrl}/search`, {
        method: 'POST',
        headers: { 'X-API-KEY': KEY, 'Content-Type': 'application/json' },
        body: JSON.stringify({ q: 'kettle', location: 'United States', gl: 'us', hl: 'en' }),
      }).then((r) => r.json());
    for (let i = 0; i < 20; i++) await Promise.all([postJson(url, call), direct()]);
    // Interleaved, so drift in the machine's load falls on both alike.
    const ours: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < opts.calls; i++) {
      let t = performance.now();
      const r = await postJson(url, call);
      ours.push(performance.now() - t);
      if (!String(r.body?.data?.result).includes('kettle result 10')) {
        throw new Error(`web:search answered ${JSON.stringify(r.body)}`);
      }
      t = performance.now();
      await direct();
      base.push(performance.now() - t);
    }
    const a = median(ours);
    const b = median(base);
    log(`  web:search p50 ${fmtMs(a)} (${opts.calls} calls); direct Serper fetch p50 ${fmtMs(b)}`);
    return [
      row({
        bench: '15. web:search through a fake Serper on loopback',
        metric: 'p50 latency',
        ours: fmtMs(a),
        baseline: `${fmtMs(b)} direct fetch`,
        ratio: fmtRatio(a / b),
        goal: '≤ 2 ms over the direct fetch',
        met: a - b <= 2,
      }),
    ];
  } finally {
    await server.stop();
    provider.stop(true);
    removeTempDir(dataDir);
  }
}
