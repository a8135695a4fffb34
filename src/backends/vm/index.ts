// The vm backend (SPEC §6): a desktop per session that agents see through screenshots and drive
// with mouse and keyboard. Drivers run the desktops (drivers/docker.ts: a container with Xvfb,
// drivers/qemu.ts: a QEMU VM); tools.ts turns tool calls into input events for them.
import { join } from 'node:path';
import { ParameterError, SessionLostError } from '../../core/errors.ts';
import type { Backend, BackendEnv, SessionInfo } from '../backend.ts';
import { defineBackendModule } from '../backend.ts';
import { vmConfigSchema, vmSessionConfigSchema, type VmConfig } from './config.ts';
import type { Desktop } from './desktop.ts';
import { DockerDriver } from './drivers/docker.ts';
import type { Driver, DriverName, VmSessionConfig } from './drivers/driver.ts';
import { QemuDriver } from './drivers/qemu.ts';
import { ScreenshotEncoder } from './encoder.ts';
import type { Logger } from '../../core/log.ts';
import { accessibilityTree, OBSERVED_TOOLS, TREE_LIMIT_MS, wantsTree } from './a11y.ts';
import { checkUpstreamConfig, driverOfProvider, runSetup, type UpstreamConfig } from './setup.ts';
import { TaskRecord } from './task.ts';
import { vmTools, type VmHandleLike, type VmToolContext } from './tools.ts';
import type { ToolDefinition } from '../backend.ts';
import { X11ClosedError } from './x11/connection.ts';

export { vmConfigSchema };

/** A live session: its desktop, and once the desktop died, the 1003 every call answers. */
class VmHandle implements VmHandleLike {
  private gone: Promise<SessionLostError> | undefined;
  readonly task: TaskRecord;

  constructor(
    readonly info: SessionInfo,
    readonly driver: Driver,
    readonly desktop: Desktop,
  ) {
    this.task = TaskRecord.fromState(info.state);
  }

  async use<T>(fn: (desktop: Desktop) => Promise<T>): Promise<T> {
    if (this.gone || !this.desktop.alive) throw await this.lose();
    try {
      return await fn(this.desktop);
    } catch (err) {
      if (err instanceof X11ClosedError || !this.desktop.alive) throw await this.lose();
      throw err;
    }
  }

  /** The desktop died under the session: free what is left, and say so on every later call. */
  private lose(): Promise<SessionLostError> {
    return (this.gone ??= (async () => {
      const reason = await this.driver.explainLoss(this.info).catch(() => 'it stopped answering');
      await this.driver.destroy(this.info, this.desktop).catch(() => undefined);
      return new SessionLostError(
        `The desktop of session ${this.info.sessionId} is gone: ${reason}. What was left of it ` +
          'was cleaned up; the session was removed; create a new one.',
      );
    })());
  }
}

/**
 * Wraps a tool: every call is recorded in the session's task record (`last_action`,
 * `action_history`), as upstream does for each vm tool (vm:fail counts as a failed action, as
 * upstream's does); and when the session asks for accessibility-tree observations, the results of
 * upstream's observed tools carry `accessibility_tree`.
 */
function observed(tool: ToolDefinition<any, any>, log: Logger): ToolDefinition<any, any> {
  const name = `vm:${tool.name}`;
  const withTree = OBSERVED_TOOLS.has(tool.name);
  return {
    ...tool,
    async run(params, ctx) {
      const deadline = Date.now() + ctx.timeoutMs;
      const session = (ctx as unknown as VmToolContext).session as VmHandle;
      let result: unknown;
      try {
        result = await tool.run(params, ctx);
      } catch (err) {
        session.task.record(name, false);
        throw err;
      }
      session.task.record(name, tool.name !== 'fail');
      if (!withTree || !wantsTree(ctx.sessionConfig)) return result;
      const limit = Math.min(TREE_LIMIT_MS, deadline - Date.now() - 100);
      const tree = await session.use((d) =>
        accessibilityTree(d, limit, log, session.info.sessionId),
      );
      return { ...(result as object), accessibility_tree: tree };
    },
  };
}

/** The Docker socket named by DOCKER_HOST (unix:// only), else the standard one. */
function defaultDockerSocket(): string {
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

export default defineBackendModule({
  name: 'vm',
  configSchema: vmConfigSchema,
  async create(config: VmConfig, env: BackendEnv): Promise<Backend<VmHandle> | null> {
    const encoder = new ScreenshotEncoder(config.encoder_threads || undefined);
    const drivers: Record<DriverName, Driver> = {
      docker: new DockerDriver({
        socketPath: config.docker_socket ?? defaultDockerSocket(),
        image: config.image,
        allowedImages: config.allowed_images,
        network: config.network,
        memoryMb: config.memory_mb,
        cpus: config.cpus,
        pidsLimit: config.pids_limit,
        shmMb: config.shm_mb,
        startTimeoutMs: config.start_timeout_seconds * 1000,
        socketDir: config.socket_dir ?? join(env.dataDir, 'vm-x11'),
        socketHostDir: config.socket_host_dir,
        outputLimit: config.exec_output_limit_bytes,
        pngLevel: config.png_compression,
        damageTracking: config.damage_tracking,
        instanceId: env.instanceId,
        log: env.log,
        encoder,
      }),
      qemu: new QemuDriver(config.qemu, {
        dataDir: env.dataDir,
        instanceId: env.instanceId,
        log: env.log,
        encoder,
        pngLevel: config.png_compression,
      }),
    };

    if (config.enabled === undefined) {
      // On by default only where it can work, so a machine without Docker starts cleanly.
      const reason = await drivers[config.default_driver].probe();
      if (reason) {
        env.log.info('vm.disabled', { reason });
        return null;
      }
    }

    const driverOf = (info: SessionInfo): Driver =>
      drivers[
        (info.config.driver as DriverName | undefined) ??
          driverOfProvider(info.config.provider as string | undefined) ??
          config.default_driver
      ];
    /** Upstream config keys already logged as ignored (once per server, not per session). */
    const warned = new Set<string>();

    const checkLimits = (c: VmSessionConfig) => {
      if (c.memory_mb !== undefined && c.memory_mb > config.max_memory_mb) {
        throw new ParameterError(
          `memory_mb ${c.memory_mb} is above this server's limit (${config.max_memory_mb}).`,
        );
      }
      if (c.cpus !== undefined && c.cpus > config.max_cpus) {
        throw new ParameterError(
          `cpus ${c.cpus} is above this server's limit (${config.max_cpus}).`,
        );
      }
    };

    return {
      name: 'vm',
      description:
        'A desktop per session (a Docker container with Xvfb, or a QEMU VM): screenshots, mouse, ' +
        'keyboard, and a shell for setup.',
      sessionConfig: vmSessionConfigSchema,

      async warmup(ctx) {
        const driver = drivers[config.default_driver];
        const reason = await driver.probe();
        if (reason) {
          // Not fatal: the server runs without desktops; session create answers 2004 with this.
          env.log.warn('vm.unavailable', { reason });
          ctx.progress({ fraction: 1, detail: reason });
          return;
        }
        if (driver instanceof DockerDriver && !(await driver.imageLabels())) {
          const detail = `image ${config.image} is missing; build it with: bash scripts/build-images.sh`;
          env.log.warn('vm.image_missing', { image: config.image });
          ctx.progress({ fraction: 1, detail });
        }
      },

      async recover(sessions) {
        const statuses = new Map<string, string>();
        for (const driver of Object.values(drivers)) {
          const mine = sessions.filter((s) => driverOf(s) === driver);
          for (const [id, status] of await driver.recover(mine)) statuses.set(id, status);
        }
        return statuses;
      },

      async createSession(info) {
        const c = info.config as unknown as VmSessionConfig & UpstreamConfig;
        checkLimits(c);
        checkUpstreamConfig(c, env.log, warned);
        // The encoder threads start with the first desktop (while it boots), not with the server:
        // a server that never makes one does not carry them.
        encoder.start();
        const driver = driverOf(info);
        const desktop = await driver.create(info, c);
        if (c.setup?.length) {
          try {
            await runSetup(c.setup, {
              desktop,
              width: desktop.width,
              height: desktop.height,
              clientPassword: c.client_password ?? 'password',
              log: env.log,
              sessionId: info.sessionId,
            });
          } catch (err) {
            // A desktop whose task setup failed is not the session that was asked for.
            await driver.destroy(info, desktop).catch(() => undefined);
            throw err;
          }
        }
        return new VmHandle(info, driver, desktop);
      },

      async restoreSession(info) {
        encoder.start();
        const driver = driverOf(info);
        return new VmHandle(info, driver, await driver.restore(info));
      },

      async destroySession(info, handle) {
        await driverOf(info).destroy(info, handle?.desktop);
      },

      async detachSession(_info, handle) {
        handle.desktop.close();
      },

      async close() {
        for (const d of Object.values(drivers)) await d.close();
        encoder.close();
      },

      sessionState: (handle) => handle.task.toState(),

      tools: vmTools().map((tool) => observed(tool, env.log)),
    };
  },
});
