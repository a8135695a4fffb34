// The docker driver: one container per session from the desktop image, made and removed through
// the Docker Engine API (dockerode), with limits, an init, and no network by default. The
// container's X socket directory is a per-session folder of `socket_dir`, bind-mounted at
// /tmp/.X11-unix, so the server speaks X11 to it directly (x11/display.ts); `docker exec` is used
// only for vm:exec. Containers carry labels so a restarted server finds its own again.
import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SessionInfo } from '../../backend.ts';
import {
  AgentFlowError,
  BackendError,
  ConfigError,
  ParameterError,
  ResourceUnavailableError,
  SessionLostError,
} from '../../../core/errors.ts';
import type { Logger } from '../../../core/log.ts';
import { DEFAULT_SCREEN } from '../config.ts';
import type { Desktop } from '../desktop.ts';
import type { ScreenshotEncoder } from '../encoder.ts';
import { X11Display } from '../x11/display.ts';
import { DockerDesktop } from './docker-desktop.ts';
import { engineSidePath } from './docker-mounts.ts';
import type { Driver, VmSessionConfig } from './driver.ts';

export const BUILD_COMMAND = 'bash scripts/build-images.sh';

export interface DockerDriverOptions {
  socketPath: string;
  image: string;
  /** Image names a session config may ask for; `*` at the end matches any suffix. */
  allowedImages: readonly string[];
  network: string;
  memoryMb: number;
  cpus: number;
  pidsLimit: number;
  shmMb: number;
  startTimeoutMs: number;
  /** Where this server sees the per-session X socket folders. */
  socketDir: string;
  /** The same folder as the Docker engine sees it; found automatically when unset. */
  socketHostDir: string | undefined;
  outputLimit: number;
  pngLevel: number;
  damageTracking: boolean;
  instanceId: string;
  log: Logger;
  encoder: ScreenshotEncoder;
}

const LABEL = {
  managed: 'agentflow.managed',
  instance: 'agentflow.instance',
  session: 'agentflow.session_id',
  worker: 'agentflow.worker_id',
  x11: 'agentflow.x11_dir',
} as const;

/** Image label naming the root window property the desktop sets once it is ready. */
const READY_LABEL = 'agentflow.ready-property';

/** Unix socket paths are limited to 107 bytes. */
const MAX_SOCKET_PATH = 107;

/**
 * docker-modem follows HTTP redirects itself, with a second request that has no 'error' listener
 * and no unix socket: its failure (a DNS lookup of a path segment) is thrown from an event
 * emitter, outside any promise of ours, and ends the process. The engine redirects only paths
 * that are not clean; with no redirects allowed, the modem reports the 3xx on the request we
 * await instead. It reads this limit from its http module at every request (the copy dockerode
 * loads: docker-modem is a direct dependency so that there is one).
 */
function refuseRedirects(modemHttp: { maxRedirects: number }): void {
  modemHttp.maxRedirects = 0;
}

function errorCode(err: unknown): string | number | undefined {
  const e = err as { code?: string; statusCode?: number };
  return e?.statusCode ?? e?.code;
}

/** Container logs (multiplexed, no TTY) as text, for an error message. */
function logText(raw: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= raw.length) {
    const size = raw.readUInt32BE(at + 4);
    parts.push(raw.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  return Buffer.concat(parts).toString('utf8').trim().split('\n').slice(-10).join(' | ');
}

export class DockerDriver implements Driver {
  readonly name = 'docker' as const;
  private docker: Promise<Docker> | undefined;
  private hostDir: Promise<string> | undefined;
  /** Session ids and socket folders this process made: never orphans, whenever reaping runs. */
  private readonly createdHere = new Set<string>();

  constructor(private readonly options: DockerDriverOptions) {}

  /** dockerode, loaded on first use: importing it costs ~150 ms of every server start. */
  private client(): Promise<Docker> {
    return (this.docker ??= Promise.all([
      import('dockerode'),
      import('docker-modem/lib/http.js'),
    ]).then(([{ default: Dockerode }, { default: modemHttp }]) => {
      refuseRedirects(modemHttp);
      return new Dockerode({ socketPath: this.options.socketPath });
    }));
  }

  private unreachable(err: unknown): ResourceUnavailableError {
    const why = err instanceof Error ? err.message : String(err);
    return new ResourceUnavailableError(
      `The Docker engine is unreachable at ${this.options.socketPath} (${why}). Start dockerd ` +
        '(bash scripts/ci-setup-vm.sh installs and starts it) or set backends.vm.docker_socket.',
    );
  }

  /** Runs a Docker API call; a dead engine becomes 2004, anything else 2001. */
  private async api<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof AgentFlowError) throw err;
      const code = errorCode(err);
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
        throw this.unreachable(err);
      }
      const why = String(err).includes('Max redirects exceeded')
        ? 'the engine answered with a redirect, which this server never follows'
        : ((err as { json?: { message?: string } }).json?.message ?? String(err));
      throw new BackendError(`Docker could not ${what}: ${why}`);
    }
  }

  /** Whether the engine answers, asked with a plain request so start-up need not load dockerode. */
  async probe(): Promise<string | undefined> {
    try {
      const res = await fetch('http://docker/_ping', {
        unix: this.options.socketPath,
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) throw new Error(`_ping answered HTTP ${res.status}`);
      return undefined;
    } catch (err) {
      return this.unreachable(err).message;
    }
  }

  /** The image's labels, or undefined when the image is missing. */
  async imageLabels(image = this.options.image): Promise<Record<string, string> | undefined> {
    return this.api(`inspect the image ${image}`, async () => {
      try {
        const info = await (await this.client()).getImage(image).inspect();
        return info.Config?.Labels ?? {};
      } catch (err) {
        if (errorCode(err) === 404) return undefined;
        throw err;
      }
    });
  }

  private checkImageAllowed(image: string): void {
    const ok = this.options.allowedImages.some((p) =>
      p.endsWith('*') ? image.startsWith(p.slice(0, -1)) : image === p,
    );
    if (!ok) {
      throw new ParameterError(
        `Image "${image}" is not allowed for vm sessions; allowed: ` +
          `${this.options.allowedImages.join(', ')} (backends.vm.allowed_images).`,
      );
    }
  }

  /** The socket folder as the Docker engine sees it (differs when this server is in a container). */
  private socketHostDir(): Promise<string> {
    return (this.hostDir ??= (async () => {
      if (this.options.socketHostDir) return this.options.socketHostDir;
      return this.api("find the server container's mounts", async () =>
        engineSidePath(await this.client(), this.options.socketDir),
      );
    })().catch((err) => {
      this.hostDir = undefined;
      throw err;
    }));
  }

  private containerName(info: SessionInfo): string {
    const id = info.sessionId.replace(/[^a-zA-Z0-9_.-]/g, '_');
    return `agentflow-${this.options.instanceId.slice(0, 8)}-${id}`;
  }

  async create(info: SessionInfo, config: VmSessionConfig): Promise<Desktop> {
    this.createdHere.add(info.sessionId);
    const o = this.options;
    const image = config.image ?? o.image;
    if (config.image !== undefined) this.checkImageAllowed(image);
    const [width, height] = config.screen_size ?? DEFAULT_SCREEN;
    const key = randomBytes(6).toString('hex');
    this.createdHere.add(key);
    const localDir = join(o.socketDir, key);
    const socketPath = join(localDir, 'X0');
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      throw new ConfigError(
        `X socket path ${socketPath} is longer than unix sockets allow; set ` +
          'backends.vm.socket_dir to a shorter folder (e.g. /run/agentflow-x11).',
      );
    }
    const hostDir = join(await this.socketHostDir(), key);

    const labels = await this.imageLabels(image);
    if (!labels) {
      throw new ResourceUnavailableError(
        `The Docker image ${image} is missing. Build it with: ${BUILD_COMMAND}`,
      );
    }

    mkdirSync(localDir, { recursive: true });
    chmodSync(localDir, 0o1777); // the X server in the container runs as an unprivileged user
    let container: Docker.Container | undefined;
    try {
      container = await this.api('create the desktop container', async () =>
        (await this.client()).createContainer({
          name: this.containerName(info),
          Image: image,
          Env: [`SCREEN_SIZE=${width}x${height}`],
          Labels: {
            [LABEL.managed]: 'true',
            [LABEL.instance]: o.instanceId,
            [LABEL.session]: info.sessionId,
            [LABEL.worker]: info.workerId,
            [LABEL.x11]: key,
          },
          HostConfig: {
            Init: true,
            NetworkMode: o.network,
            Memory: (config.memory_mb ?? o.memoryMb) * 1024 * 1024,
            MemorySwap: (config.memory_mb ?? o.memoryMb) * 1024 * 1024,
            NanoCpus: Math.round((config.cpus ?? o.cpus) * 1e9),
            PidsLimit: o.pidsLimit,
            ShmSize: o.shmMb * 1024 * 1024,
            SecurityOpt: ['no-new-privileges'],
            Binds: [`${hostDir}:/tmp/.X11-unix`],
          },
        }),
      );
      const c = container;
      await this.api('start the desktop container', () => c.start());
      const display = await this.waitForX(c, socketPath, labels[READY_LABEL]);
      if (display.width !== width || display.height !== height) {
        display.close();
        throw new BackendError(
          `The desktop came up at ${display.width}x${display.height}, not ${width}x${height}: ` +
            `image ${image} ignores SCREEN_SIZE.`,
        );
      }
      return new DockerDesktop(c, key, display, o.outputLimit);
    } catch (err) {
      await container?.remove({ force: true, v: true }).catch(() => undefined);
      rmSync(localDir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Session create returns when the desktop is ready: X answers, and when the image names a ready
   * property (label agentflow.ready-property), its start script has set it on the root window.
   */
  private async waitForX(
    container: Docker.Container,
    socketPath: string,
    readyProperty: string | undefined,
  ): Promise<X11Display> {
    const deadline = Date.now() + this.options.startTimeoutMs;
    let nextStateCheck = Date.now() + 250;
    let display: X11Display | undefined;
    for (;;) {
      if (!display && existsSync(socketPath)) {
        display = await X11Display.open(socketPath, this.options.encoder, {
          pngLevel: this.options.pngLevel,
          damageTracking: this.options.damageTracking,
        }).catch(() => undefined); // the socket exists but the server is not accepting yet
      }
      if (display) {
        const soon = Math.min(deadline, Date.now() + 250);
        const ready = !readyProperty || (await display.waitForRootProperty(readyProperty, soon));
        if (ready) return display;
      }
      const now = Date.now();
      if (now >= nextStateCheck || now >= deadline) {
        nextStateCheck = now + 250;
        const state = await container.inspect().catch(() => undefined);
        if (!state?.State.Running || now >= deadline) {
          display?.close();
          const logs = await container
            .logs({ stdout: true, stderr: true, tail: 20, follow: false })
            .then((b) => logText(b as unknown as Buffer))
            .catch(() => '');
          const what = state?.State.Running
            ? `did not answer within ${this.options.startTimeoutMs / 1000}s`
            : `exited with code ${state?.State.ExitCode ?? '?'}`;
          throw new BackendError(
            `The desktop container ${what} before its X server was ready` +
              (logs ? `; its log: ${logs}` : '.'),
          );
        }
      }
      await Bun.sleep(15);
    }
  }

  /** Containers of one session (or of every session when `sessionId` is undefined). */
  private async containers(sessionId?: string): Promise<Docker.ContainerInfo[]> {
    const label = [`${LABEL.managed}=true`, `${LABEL.instance}=${this.options.instanceId}`];
    if (sessionId !== undefined) label.push(`${LABEL.session}=${sessionId}`);
    return this.api('list containers', async () =>
      (await this.client()).listContainers({ all: true, filters: { label } }),
    );
  }

  async restore(info: SessionInfo): Promise<Desktop> {
    const [found] = await this.containers(info.sessionId);
    if (!found || found.State !== 'running') {
      await this.destroy(info, undefined);
      throw new SessionLostError(
        `The desktop of session ${info.sessionId} did not survive the server restart ` +
          `(${found ? `its container is ${found.State}` : 'its container is gone'}); it was ` +
          'cleaned up. The session was removed; create a new one.',
      );
    }
    const key = found.Labels[LABEL.x11] ?? '';
    const display = await X11Display.open(
      join(this.options.socketDir, key, 'X0'),
      this.options.encoder,
      {
        pngLevel: this.options.pngLevel,
        damageTracking: this.options.damageTracking,
      },
    ).catch(async (err: Error) => {
      await this.destroy(info, undefined);
      throw new SessionLostError(
        `The desktop of session ${info.sessionId} no longer answers (${err.message}); it was ` +
          'cleaned up. The session was removed; create a new one.',
      );
    });
    return new DockerDesktop(
      (await this.client()).getContainer(found.Id),
      key,
      display,
      this.options.outputLimit,
    );
  }

  async explainLoss(info: SessionInfo): Promise<string> {
    const [found] = await this.containers(info.sessionId).catch(() => []);
    if (!found) return 'its container was removed';
    const state = await (
      await this.client()
    )
      .getContainer(found.Id)
      .inspect()
      .catch(() => undefined);
    if (!state) return 'its container was removed';
    if (state.State.OOMKilled) return 'its container ran out of memory (raise memory_mb)';
    if (!state.State.Running) return `its container exited with code ${state.State.ExitCode}`;
    return 'its X server stopped answering';
  }

  async destroy(info: SessionInfo, desktop: Desktop | undefined): Promise<void> {
    desktop?.close();
    // Without a live handle (never restored, or lost), the labels say what the session had.
    const doomed =
      desktop instanceof DockerDesktop
        ? [{ id: desktop.container.id, key: desktop.socketKey }]
        : (await this.containers(info.sessionId)).map((c) => ({
            id: c.Id,
            key: c.Labels[LABEL.x11] ?? '',
          }));
    await Promise.all(
      doomed.map(async ({ id }) =>
        (await this.client())
          .getContainer(id)
          .remove({ force: true, v: true })
          .catch((err) => {
            if (errorCode(err) !== 404) throw err;
          }),
      ),
    );
    for (const { key } of doomed) {
      if (key) rmSync(join(this.options.socketDir, key), { recursive: true, force: true });
    }
  }

  async recover(sessions: readonly SessionInfo[]): Promise<Map<string, string>> {
    if (sessions.length === 0) {
      // Nothing to re-attach: reaping orphans can wait until the server answers.
      setTimeout(
        () =>
          void this.reap().catch((err: unknown) =>
            this.options.log.warn('vm.reap_failed', { error: String(err) }),
          ),
        0,
      );
      return new Map();
    }
    return this.reap(sessions);
  }

  /** Marks stored sessions active (container running) or lost; removes every other container. */
  private async reap(sessions: readonly SessionInfo[] = []): Promise<Map<string, string>> {
    const statuses = new Map<string, string>(sessions.map((s) => [s.sessionId, 'lost']));
    let list: Docker.ContainerInfo[];
    try {
      list = await this.containers();
    } catch (err) {
      this.options.log.warn('vm.recover_skipped', { error: (err as Error).message });
      return statuses;
    }
    const keep = new Set<string>();
    const doomed: Docker.ContainerInfo[] = [];
    for (const c of list) {
      const id = c.Labels[LABEL.session] ?? '';
      if (statuses.has(id) && c.State === 'running' && !keep.has(id)) {
        statuses.set(id, 'active');
        keep.add(c.Labels[LABEL.x11] ?? '');
      } else if (!this.createdHere.has(id)) {
        // Only what an earlier process left: sessions made since this start are not orphans.
        doomed.push(c);
      }
    }
    await Promise.all(
      doomed.map(async (c) =>
        (await this.client())
          .getContainer(c.Id)
          .remove({ force: true, v: true })
          .catch(() => undefined),
      ),
    );
    if (doomed.length > 0) this.options.log.info('vm.reaped', { containers: doomed.length });
    if (existsSync(this.options.socketDir)) {
      for (const name of readdirSync(this.options.socketDir)) {
        if (!keep.has(name) && !this.createdHere.has(name))
          rmSync(join(this.options.socketDir, name), { recursive: true, force: true });
      }
    }
    return statuses;
  }

  async close(): Promise<void> {}
}
