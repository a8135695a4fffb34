// What the HTTP layer needs from the rest of the server: the services createApp is built from.
import type { Config } from '../config.ts';
import type { KeyRing } from '../core/auth.ts';
import type { Executor } from '../core/executor.ts';
import type { Gate } from '../core/gate.ts';
import type { Logger } from '../core/log.ts';
import type { SessionManager } from '../core/sessions.ts';
import type { ToolRegistry } from '../core/tools.ts';
import type { WarmupManager } from '../core/warmup.ts';
import type { ServerMetrics } from '../observability.ts';

export interface ShutdownRequest {
  force: boolean;
  cleanupSessions: boolean;
}

export interface AppDeps {
  config: Config;
  keys: KeyRing;
  registry: ToolRegistry;
  sessions: SessionManager;
  executor: Executor;
  warmup: WarmupManager;
  gate: Gate;
  log: Logger;
  metrics: ServerMetrics;
  requestShutdown(req: ShutdownRequest): void;
}
