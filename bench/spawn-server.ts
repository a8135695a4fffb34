// Baseline: the spawn-per-command design most peers use. Each POST /execute runs
// Bun.spawn(['bash', '-c', command]) and answers stdout, stderr and the exit code.
// `bun run bench/spawn-server.ts <port>`.
export {};

const port = Number(process.argv[2] ?? 0);

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  async fetch(req) {
    if (req.method === 'GET') return Response.json({ status: 'ok' });
    const body = (await req.json()) as { params?: { command?: unknown } };
    const command = body.params?.command;
    if (typeof command !== 'string') {
      return Response.json({ code: 1002, message: 'params.command is required' }, { status: 400 });
    }
    const started = performance.now();
    const proc = Bun.spawn(['bash', '-c', command], {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    return Response.json({
      code: 0,
      message: 'success',
      data: {
        stdout,
        stderr,
        exit_code: exitCode,
        duration_ms: Math.round((performance.now() - started) * 100) / 100,
      },
      meta: {},
    });
  },
});

process.on('SIGTERM', () => {
  void server.stop(true);
  process.exit(0);
});
