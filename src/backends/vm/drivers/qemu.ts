// The qemu driver: one qemu-system process per session, booting the configured kernel/initrd
// and/or a per-session copy-on-write overlay of the configured disk, driven through QMP:
// `screendump` for screenshots, `input-send-event` with a usb-tablet (absolute pointer) and the
// PS/2 keyboard for input. KVM when a boot probe shows it works, else TCG. Each session has a
// folder under <data_dir>/vm-qemu (QMP socket, serial log, pid file, overlay), so a restarted
// server re-attaches to VMs that kept running and reaps the others.
import type { Subprocess } from 'bun';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { BackendError, ResourceUnavailableError, SessionLostError } from '../../../core/errors.ts';
import type { Logger } from '../../../core/log.ts';
import type { SessionInfo } from '../../backend.ts';
import type { QemuConfig } from '../config.ts';
import type { Desktop } from '../desktop.ts';
import type { ScreenshotEncoder } from '../encoder.ts';
import type { Driver, VmSessionConfig } from './driver.ts';
import { QemuDesktop } from './qemu-desktop.ts';
import { QmpClient } from './qmp.ts';

/**
 * What a guest prints on its serial port once it is ready: session create waits for it (the test
 * guest of scripts/build-qemu-guest.sh prints it from its init).
 */
export const READY_MARKER = 'AGENTFLOW-READY';
/** accel auto: how long a KVM boot probe may take to print READY_MARKER before TCG is used. */
const KVM_PROBE_SECONDS = 5;

export interface QemuEnv {
  dataDir: string;
  instanceId: string;
  log: Logger;
  encoder: ScreenshotEncoder;
  pngLevel: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** A process's argv (empty when it is gone or unreadable). */
function commandLine(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
  } catch {
    return [];
  }
}

function kill(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export class QemuDriver implements Driver {
  readonly name = 'qemu' as const;
  private accelChoice: Promise<'kvm' | 'tcg'> | undefined;
  private readonly root: string;

  constructor(
    private readonly config: QemuConfig,
    private readonly env: QemuEnv,
  ) {
    this.root = join(env.dataDir, 'vm-qemu');
  }

  private binary(): string | undefined {
    const b = this.config.binary;
    return b.includes('/') ? (existsSync(b) ? b : undefined) : (Bun.which(b) ?? undefined);
  }

  async probe(): Promise<string | undefined> {
    if (!this.binary()) {
      return (
        `QEMU (${this.config.binary}) is not installed: apt-get install -y ` +
        '--no-install-recommends qemu-system-x86 qemu-utils, or set backends.vm.qemu.binary.'
      );
    }
    const { kernel, disk_image: disk, initrd } = this.config;
    if (!kernel && !disk) {
      return (
        'No guest is configured for the qemu driver: set backends.vm.qemu.kernel (and initrd) ' +
        'or backends.vm.qemu.disk_image (bash scripts/build-qemu-guest.sh builds a test guest).'
      );
    }
    for (const [name, path] of [
      ['kernel', kernel],
      ['initrd', initrd],
      ['disk_image', disk],
    ] as const) {
      if (path && !existsSync(path)) {
        return `backends.vm.qemu.${name} ${path} does not exist (bash scripts/build-qemu-guest.sh builds a test guest).`;
      }
    }
    return undefined;
  }

  /** KVM when asked, or when auto and a boot probe reaches the ready marker in time; else TCG. */
  private accel(): Promise<'kvm' | 'tcg'> {
    return (this.accelChoice ??= (async () => {
      const want = this.config.accel;
      if (want !== 'auto') return want;
      if (!existsSync('/dev/kvm') || !this.config.kernel) return 'tcg';
      const dir = join(this.root, `kvm-probe-${randomBytes(4).toString('hex')}`);
      mkdirSync(dir, { recursive: true });
      const proc = this.spawn(dir, 'kvm', undefined, 'kvm-probe', 256);
      try {
        const ok = await this.waitForMarker(dir, proc, Date.now() + KVM_PROBE_SECONDS * 1000);
        this.env.log.info('vm.qemu_accel', {
          accel: ok ? 'kvm' : 'tcg',
          probe: ok ? 'booted' : 'no boot in time',
        });
        return ok ? 'kvm' : 'tcg';
      } catch {
        return 'tcg';
      } finally {
        kill(proc.pid);
        rmSync(dir, { recursive: true, force: true });
      }
    })());
  }

  private spawn(
    dir: string,
    accel: 'kvm' | 'tcg',
    overlay: string | undefined,
    sessionId: string,
    memoryMb: number,
    cpus = 1,
  ): Subprocess {
    const c = this.config;
    const args = [
      this.binary()!,
      '-name',
      `agentflow-${sessionId}`,
      '-machine',
      `accel=${accel}`,
      '-m',
      String(memoryMb),
      '-smp',
      String(Math.max(1, Math.round(cpus))),
      '-nodefaults',
      '-no-user-config',
      '-vga',
      'std',
      '-display',
      'none',
      // A tablet gives an absolute pointer; the PS/2 keyboard comes with the machine.
      '-device',
      'qemu-xhci',
      '-device',
      'usb-tablet',
      '-qmp',
      `unix:${join(dir, 'qmp.sock')},server=on,wait=off`,
      '-serial',
      `file:${join(dir, 'serial.log')}`,
      '-monitor',
      'none',
      '-pidfile',
      join(dir, 'qemu.pid'),
    ];
    if (c.kernel) args.push('-kernel', resolve(c.kernel), '-append', c.append);
    if (c.initrd) args.push('-initrd', resolve(c.initrd));
    if (overlay) args.push('-drive', `file=${overlay},if=virtio,format=qcow2`);
    const log = openSync(join(dir, 'qemu.log'), 'a');
    try {
      return Bun.spawn(args, {
        stdin: 'ignore',
        stdout: log,
        stderr: log,
        // Its own process group, and it outlives this server (a restart re-attaches to it).
        detached: true,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          // Not AGENTFLOW_INSTANCE: the bash backend reaps every process with that mark at
          // start-up, and a VM must outlive a restart.
          AGENTFLOW_VM_INSTANCE: this.env.instanceId,
          AGENTFLOW_VM_SESSION: sessionId,
        },
      });
    } finally {
      closeSync(log);
    }
  }

  /** Waits for the ready marker on the serial log; false when the deadline passes. */
  private async waitForMarker(
    dir: string,
    proc: Subprocess | undefined,
    deadline: number,
  ): Promise<boolean> {
    const serial = join(dir, 'serial.log');
    for (;;) {
      if (existsSync(serial) && readFileSync(serial, 'latin1').includes(READY_MARKER)) {
        return true;
      }
      if (proc && proc.exitCode !== null) throw new Error(this.logTail(dir));
      if (Date.now() >= deadline) return false;
      await Bun.sleep(50);
    }
  }

  private logTail(dir: string): string {
    try {
      return readFileSync(join(dir, 'qemu.log'), 'utf8').trim().split('\n').slice(-5).join(' | ');
    } catch {
      return '';
    }
  }

  private async overlay(dir: string): Promise<string | undefined> {
    const base = this.config.disk_image;
    if (!base) return undefined;
    const file = join(dir, 'overlay.qcow2');
    const info = Bun.spawnSync(['qemu-img', 'info', '--output=json', resolve(base)]);
    const format =
      info.exitCode === 0 ? (JSON.parse(info.stdout.toString()).format as string) : 'raw';
    const made = Bun.spawnSync([
      'qemu-img',
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      resolve(base),
      '-F',
      format,
      file,
    ]);
    if (made.exitCode !== 0) {
      throw new BackendError(
        `qemu-img could not create the session overlay: ${made.stderr.toString().trim()}`,
      );
    }
    return file;
  }

  private async connect(dir: string, deadline: number, proc?: Subprocess): Promise<QmpClient> {
    const socket = join(dir, 'qmp.sock');
    for (;;) {
      if (existsSync(socket)) {
        const qmp = await QmpClient.open(socket, 2000).catch(() => undefined);
        if (qmp) return qmp;
      }
      if (proc && proc.exitCode !== null) {
        throw new BackendError(`QEMU exited with code ${proc.exitCode}: ${this.logTail(dir)}`);
      }
      if (Date.now() >= deadline)
        throw new BackendError(`QEMU's QMP socket did not answer in time`);
      await Bun.sleep(25);
    }
  }

  async create(info: SessionInfo, config: VmSessionConfig): Promise<Desktop> {
    const reason = await this.probe();
    if (reason) throw new ResourceUnavailableError(reason);
    const accel = await this.accel();
    const dir = join(this.root, randomBytes(6).toString('hex'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'session'), info.sessionId);
    let proc: Subprocess | undefined;
    let qmp: QmpClient | undefined;
    try {
      const overlay = await this.overlay(dir);
      proc = this.spawn(
        dir,
        accel,
        overlay,
        info.sessionId,
        config.memory_mb ?? this.config.memory_mb,
        config.cpus,
      );
      const deadline = Date.now() + this.config.boot_timeout_seconds * 1000;
      qmp = await this.connect(dir, deadline, proc);
      if (!(await this.waitForMarker(dir, proc, deadline))) {
        throw new BackendError(
          `The guest did not print "${READY_MARKER}" on its serial port within ` +
            `${this.config.boot_timeout_seconds}s (accel ${accel}).`,
        );
      }
      const desktop = new QemuDesktop(dir, qmp, this.env);
      await desktop.grab();
      return desktop;
    } catch (err) {
      qmp?.close();
      kill(proc?.pid);
      rmSync(dir, { recursive: true, force: true });
      throw err instanceof Error &&
        !(err instanceof BackendError) &&
        !(err instanceof ResourceUnavailableError)
        ? new BackendError(`QEMU could not start the guest: ${err.message}`)
        : err;
    }
  }

  /** The session folders under <data_dir>/vm-qemu, by session id. */
  private folders(): Map<string, string> {
    const out = new Map<string, string>();
    if (!existsSync(this.root)) return out;
    for (const name of readdirSync(this.root)) {
      const dir = join(this.root, name);
      try {
        out.set(readFileSync(join(dir, 'session'), 'utf8'), dir);
      } catch {
        out.set(`?${name}`, dir); // no session file: a leftover
      }
    }
    return out;
  }

  /**
   * The live QEMU of a session folder, from its pid file. The file outlives a reboot (or the VM),
   * and its pid may since belong to any process: only one whose argv is this folder's VM
   * (`-pidfile <dir>/qemu.pid`, and `-name agentflow-<session id>` as spawn() gives it) counts,
   * so recover, restore and destroy never adopt or kill an unrelated process.
   */
  private pidOf(dir: string): number | undefined {
    let pid: number;
    let sessionId: string | undefined;
    try {
      pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim());
    } catch {
      return undefined;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
    try {
      sessionId = readFileSync(join(dir, 'session'), 'utf8');
    } catch {
      sessionId = undefined; // a leftover folder: its pid file path alone must match
    }
    const argv = commandLine(pid);
    const has = (flag: string, value: string) =>
      argv.some((arg, i) => arg === flag && argv[i + 1] === value);
    const ours =
      has('-pidfile', join(dir, 'qemu.pid')) &&
      (sessionId === undefined || has('-name', `agentflow-${sessionId}`));
    if (!ours) {
      this.env.log.warn('vm.qemu_stale_pid', {
        dir,
        pid,
        reason: "its argv is not this folder's VM",
      });
      return undefined;
    }
    return pid;
  }

  async restore(info: SessionInfo): Promise<Desktop> {
    const dir = this.folders().get(info.sessionId);
    const pid = dir ? this.pidOf(dir) : undefined;
    if (!dir || !pid) {
      await this.destroy(info, undefined);
      throw new SessionLostError(
        `The VM of session ${info.sessionId} did not survive the server restart; it was cleaned ` +
          'up. The session was removed; create a new one.',
      );
    }
    const qmp = await this.connect(dir, Date.now() + 5000);
    const desktop = new QemuDesktop(dir, qmp, this.env);
    await desktop.grab();
    return desktop;
  }

  async explainLoss(info: SessionInfo): Promise<string> {
    const dir = this.folders().get(info.sessionId);
    const tail = dir ? this.logTail(dir) : '';
    return `its QEMU process exited${tail ? ` (${tail})` : ''}`;
  }

  async destroy(info: SessionInfo, desktop: Desktop | undefined): Promise<void> {
    desktop?.close();
    const dir = desktop instanceof QemuDesktop ? desktop.dir : this.folders().get(info.sessionId);
    if (!dir) return;
    kill(this.pidOf(dir));
    rmSync(dir, { recursive: true, force: true });
  }

  async recover(sessions: readonly SessionInfo[]): Promise<Map<string, string>> {
    const statuses = new Map<string, string>(sessions.map((s) => [s.sessionId, 'lost']));
    for (const [sessionId, dir] of this.folders()) {
      const pid = this.pidOf(dir);
      if (statuses.has(sessionId) && pid) {
        statuses.set(sessionId, 'active');
        continue;
      }
      kill(pid);
      rmSync(dir, { recursive: true, force: true });
    }
    return statuses;
  }

  async close(): Promise<void> {}
}
