// Fallback load generator when wrk is not installed: a separate Bun process running N keep-alive
// connections (one async loop each, each with its own request body), each sending its next
// request when the previous answer has arrived. Prints one JSON line of results.
// `bun run bench/load-client.ts '<json LoadClientArgs>'`.

export interface LoadClientArgs {
  url: string;
  /** Request bodies; connection i sends bodies[i % bodies.length]. */
  bodies: string[];
  connections: number;
  durationMs: number;
  maxRequests: number;
}

export interface LoadClientResult {
  requests: number;
  durationUs: number;
  errors: number;
  non2xx: number;
  p50Us: number;
  p99Us: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as LoadClientArgs;
const latencies: number[] = [];
let errors = 0;
let non2xx = 0;
let sent = 0;
const started = performance.now();
const end = started + args.durationMs;

async function connection(i: number): Promise<void> {
  const body = args.bodies[i % args.bodies.length]!;
  while (performance.now() < end && sent < args.maxRequests) {
    sent++;
    const t0 = performance.now();
    try {
      const res = await fetch(args.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(10000),
      });
      await res.arrayBuffer();
      if (res.status < 200 || res.status > 299) non2xx++;
      latencies.push(performance.now() - t0);
    } catch {
      errors++;
    }
  }
}

await Promise.all(Array.from({ length: args.connections }, (_, i) => connection(i)));
const elapsed = performance.now() - started;
latencies.sort((a, b) => a - b);
const pick = (p: number) =>
  latencies.length === 0
    ? NaN
    : latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)]!;
const result: LoadClientResult = {
  requests: latencies.length,
  durationUs: Math.round(elapsed * 1000),
  errors,
  non2xx,
  p50Us: Math.round(pick(50) * 1000),
  p99Us: Math.round(pick(99) * 1000),
};
process.stdout.write(JSON.stringify(result) + '\n');
