// CLI entry: read config, open the store, start the app, handle signals.
import { parseArgs } from 'node:util';
import { loadConfig, type Config } from './config.ts';
import { newNotices } from './config-upstream.ts';
import { AgentFlowError } from './core/errors.ts';
import { createLogger, type LogLevel } from './core/log.ts';
import { guardProcess } from './core/process-guard.ts';
import { createApp, createServices } from './server.ts';
import { VERSION } from './version.ts';

const HELP = `agentflow-server ${VERSION} — tool-execution server for AI agents

Usage: agentflow-server [options]
       agentflow-server mcp --url <server>/mcp --key <key>   (stdio MCP bridge; mcp --help)

Options:
  --config <file>     JSON config file (also AGENTFLOW_CONFIG)
  --host <addr>       bind address (default 127.0.0.1; also AGENTFLOW_HOST)
  --port <n>          port (default 18890; also AGENTFLOW_PORT)
  --data-dir <dir>    data directory (default ./data; also AGENTFLOW_DATA_DIR)
  --insecure          allow a non-loopback bind without an API key
  --version           print the version
  --help              print this help`;

function fail(message: string): never {
  process.stderr.write(`agentflow-server: ${message}\n`);
  process.exit(2);
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

async function main(): Promise<void> {
  if (process.argv[2] === 'mcp') {
    const { runBridge } = await import('./mcp-bridge.ts');
    process.exit(await runBridge(process.argv.slice(3), process.env));
  }
  // What the server writes (store, indexes, workspaces) is its own: not readable by other users.
  process.umask(0o077);
  let args;
  try {
    args = parseArgs({
      options: {
        config: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string' },
        'data-dir': { type: 'string' },
        insecure: { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    fail(`${(err as Error).message}. See --help.`);
  }
  if (args.help) return void console.log(HELP);
  if (args.version) return void console.log(VERSION);

  let config: Config;
  const notices = newNotices();
  try {
    config = loadConfig(
      {
        configPath: args.config,
        host: args.host,
        port: args.port,
        dataDir: args['data-dir'],
      },
      process.env,
      notices,
    );
  } catch (err) {
    fail(err instanceof AgentFlowError ? err.message : String(err));
  }
  const anyKey = config.api_key !== undefined || config.api_keys.length > 0;
  if (!anyKey && !LOOPBACK.test(config.host) && !args.insecure) {
    fail(
      `refusing to listen on ${config.host} without an API key: anyone who reaches it could run ` +
        'commands. Set AGENTFLOW_API_KEY, or pass --insecure if the network is trusted.',
    );
  }

  const log = createLogger(config.log_level as LogLevel);
  // Before any backend exists: nothing one of them lets escape may end the process.
  guardProcess(log);
  for (const message of notices.warnings) log.warn('config.notice', { message });
  for (const [type, error] of Object.entries(notices.unavailable)) {
    log.warn('resource.unavailable', { resource_type: type, error });
  }
  let services;
  try {
    const configPath = args.config ?? process.env.AGENTFLOW_CONFIG;
    services = await createServices(config, log, () => exit(), configPath, notices.unavailable);
  } catch (err) {
    fail(`cannot start: ${(err as Error).message}`);
  }
  const app = createApp(services);
  try {
    app.listen({
      hostname: config.host,
      port: config.port,
      // Off: over its limit Bun answers a bare 413 before any of our code runs. Ours answer the
      // envelope: Content-Length in onRequest, a capped read for chunked bodies (http/body.ts).
      // A body left unread (a 401, a 404) is drained by Bun without being kept in memory.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      // Elysia turns SO_REUSEPORT on; then a second server would share the port silently.
      reusePort: false,
    });
  } catch (err) {
    fail(`cannot listen on ${config.host}:${config.port}: ${(err as Error).message}`);
  }
  const port = app.server?.port ?? config.port;
  log.info('server.started', {
    version: VERSION,
    url: `http://${config.host}:${port}`,
    data_dir: services.dataDir,
    backends: services.backends.map((b) => b.name),
    sessions: services.sessions.count(),
  });

  const exit = () => {
    void app.stop().catch(() => undefined);
    // Give the last responses a moment to flush.
    setTimeout(() => process.exit(0), 20);
  };
  const onSignal = (signal: string) => {
    log.info('signal', { signal });
    void services.shutdown({ force: false, cleanupSessions: false }).then(exit);
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));

  if (config.warmup.at_start) {
    for (const name of config.warmup.backends ?? services.warmup.names()) {
      if (services.warmup.has(name)) void services.warmup.warm(name);
    }
  }
}

await main();
