// The composition root: builds every service from a validated config (store, backends, registry,
// sessions, warmup, executor) and owns start-up and shutdown. main.ts and the tests both use it.
import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createApp } from './app.ts';
import type { Backend, BackendModule } from './backends/backend.ts';
import { backendModules } from './backends/index.ts';
import type { Config } from './config.ts';
import { KeyRing } from './core/auth.ts';
import { lockDataDir } from './core/datadir-lock.ts';
import { Executor } from './core/executor.ts';
import { Gate } from './core/gate.ts';
import type { Logger } from './core/log.ts';
import { SessionManager } from './core/sessions.ts';
import { Store } from './core/store.ts';
import { ToolRegistry } from './core/tools.ts';
import { WarmupManager, type BackendWarmupStatus } from './core/warmup.ts';
import type { AppDeps, ShutdownRequest } from './http/deps.ts';
import { createMetrics, type ServerMetrics } from './observability.ts';

export interface Services extends AppDeps {
  metrics: ServerMetrics;
  store: Store;
  backends: Backend[];
  dataDir: string;
  /** Runs the shutdown sequence of SPEC §5; resolves when everything is closed. */
  shutdown(req: ShutdownRequest): Promise<void>;
}

/**
 * Warmup whose status also lists the resource types the config asks for but this server does not
 * serve (never loaded, with why), so /warmup/status shows them; readiness ignores them.
 */
class ReportingWarmup extends WarmupManager {
  constructor(
    backends: readonly Backend[],
    log: Logger,
    private readonly unavailable: Readonly<Record<string, string>>,
  ) {
    super(backends, log);
  }

  override status(): Record<string, BackendWarmupStatus> {
    const missing = Object.entries(this.unavailable).map(([name, error]) => [
      name,
      { loaded: false, warmed_up: false, error },
    ]);
    return { ...Object.fromEntries(missing), ...super.status() };
  }
}

export async function createServices(
  config: Config,
  log: Logger,
  /** Called once a shutdown requested over HTTP has finished (main.ts exits the process). */
  onStopped: () => void = () => {},
  /** The config file, hidden from sessions (it may hold keys). */
  configPath?: string,
  /** Resource types the config asks for that this server lacks, with why (config-upstream.ts). */
  unavailable: Readonly<Record<string, string>> = {},
): Promise<Services> {
  const dataDir = resolve(config.data_dir);
  // The store, indexes and workspaces are the server's alone: a new data directory is private.
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if ((statSync(dataDir).mode & 0o077) !== 0) {
    log.warn('data_dir.open', {
      data_dir: dataDir,
      warning:
        'the data directory can be read by other users (its store holds session configs); ' +
        'chmod 700 it',
    });
  }
  const instanceId = createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 16);
  const unlock = lockDataDir(dataDir);
  let store: Store;
  try {
    store = Store.open(dataDir);
  } catch (err) {
    unlock();
    throw err;
  }

  const backends: Backend[] = [];
  const bashSection = config.backends.bash as { enabled?: boolean; host_dirs?: string[] };
  const sessionWritable =
    bashSection.enabled === false ? [] : (bashSection.host_dirs ?? []).map((d) => resolve(d));
  for (const module of backendModules as readonly BackendModule[]) {
    const section = (config.backends as Record<string, { enabled?: boolean }>)[module.name];
    if (section?.enabled === false) continue;
    const hiddenPaths = configPath ? [resolve(configPath)] : [];
    const backend = await module.create(section as never, {
      dataDir,
      instanceId,
      log,
      hiddenPaths,
      sessionWritable,
    });
    if (backend) backends.push(backend);
  }

  const metrics = createMetrics();
  const registry = new ToolRegistry(backends, {
    strictParams: config.execution.strict_params,
  });
  const sessions = new SessionManager(
    backends,
    store,
    {
      ttlMs: config.sessions.ttl_seconds * 1000,
      sweepIntervalMs: config.sessions.sweep_interval_seconds * 1000,
      maxTotal: config.sessions.max_total,
      maxPerWorker: config.sessions.max_per_worker,
      maxPerType: config.sessions.max_per_type,
      strictConfig: config.execution.strict_params,
      onEvent: (event, resourceType) =>
        metrics.sessionEvents.inc({ resource_type: resourceType, event }),
    },
    log,
  );
  await sessions.restore();
  sessions.startSweeper();
  const warmup = new ReportingWarmup(backends, log, unavailable);
  const gate = new Gate();
  const executor = new Executor(registry, sessions, warmup, gate, {
    defaultTimeoutMs: config.execution.default_timeout_seconds * 1000,
    maxTimeoutMs: config.execution.max_timeout_seconds * 1000,
    graceMs: config.execution.grace_seconds * 1000,
    onCall: (tool, code, seconds) =>
      metrics.toolCalls.observe({ tool, code: String(code) }, seconds),
  });
  metrics.watch(sessions, warmup, backends);

  let closing: Promise<void> | undefined;
  const shutdown = (req: ShutdownRequest): Promise<void> =>
    (closing ??= (async () => {
      log.info('shutdown.started', { force: req.force, cleanup_sessions: req.cleanupSessions });
      gate.close();
      if (!req.force) {
        const drained = await gate.drained(config.shutdown.drain_timeout_seconds * 1000);
        if (!drained) log.warn('shutdown.drain_timeout', { in_flight: gate.inFlight });
      }
      sessions.stopSweeper();
      if (req.cleanupSessions) await sessions.destroyAll();
      else await sessions.detachAll();
      for (const b of backends) {
        // Through a promise, so a close() that throws synchronously cannot stop the shutdown.
        await Promise.resolve()
          .then(() => b.close?.())
          .catch((err: unknown) =>
            log.error('backend.close_failed', { backend: b.name, error: String(err) }),
          );
      }
      sessions.flush();
      store.close();
      unlock();
      log.info('shutdown.done');
    })());

  return {
    config,
    keys: new KeyRing(config.api_key, config.api_keys),
    registry,
    sessions,
    executor,
    warmup,
    gate,
    log,
    store,
    metrics,
    backends,
    dataDir,
    shutdown,
    requestShutdown: (req) => void shutdown(req).then(onStopped),
  };
}

export { createApp };
