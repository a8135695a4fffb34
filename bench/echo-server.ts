// Baseline: a bare Bun.serve that parses the JSON body and answers a small JSON object (no
// framework, no validation, no work). `bun run bench/echo-server.ts <port>`.
export {};

const port = Number(process.argv[2] ?? 0);

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  async fetch(req) {
    if (req.method === 'GET') return Response.json({ status: 'ok' });
    const body = (await req.json()) as Record<string, unknown>;
    return Response.json({
      code: 0,
      message: 'success',
      data: { worker_id: body.worker_id ?? null, action: body.action ?? null },
      meta: {},
    });
  },
});

process.on('SIGTERM', () => {
  void server.stop(true);
  process.exit(0);
});
