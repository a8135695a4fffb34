// Per-session memory and process caps through cgroups, when the server may make them (root, with
// the memory and pids controllers mounted writable: cgroup v1, or v2 with both enabled). Each
// live session has a cgroup of its own (a reused slot) under one per data directory; its shell is
// moved in before the session's first command runs, and everything it starts stays in it. Where
// this is not possible, warmup says why and sessions run with rlimits alone.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

export interface SessionCaps {
  /** Memory of all the session's processes together (memory.max / memory.limit_in_bytes). */
  memoryBytes?: number;
  /** Processes (and threads) of the session together (pids.max). */
  processes?: number;
}

interface Controller {
  name: 'memory' | 'pids';
  /** The directory this data directory's session cgroups are made in. */
  root: string;
  v2: boolean;
}

const CONTROLLERS = ['memory', 'pids'] as const;

/** Where each controller is mounted, and this process's own cgroup in it. */
function locate(name: 'memory' | 'pids'): { dir: string; v2: boolean } | undefined {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const own = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  for (const line of mounts) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const mountPoint = left.split(' ')[4]!;
    const [fsType, , options = ''] = right.split(' ');
    if (fsType === 'cgroup' && options.split(',').includes(name)) {
      const path = own.find((l) => l.split(':')[1]?.split(',').includes(name))?.split(':')[2];
      if (path !== undefined) return { dir: join(mountPoint, path), v2: false };
    }
    if (fsType === 'cgroup2') {
      const enabled = readFileSync(join(mountPoint, 'cgroup.controllers'), 'utf8').split(/\s+/);
      const path = own.find((l) => l.startsWith('0::'))?.slice(3);
      // v2 keeps processes out of inner cgroups: ours holds this server, so the session cgroups go
      // beside it, under its parent.
      if (enabled.includes(name) && path !== undefined) {
        return { dir: dirname(join(mountPoint, path)), v2: true };
      }
    }
  }
  return undefined;
}

export class SessionCgroups {
  /** The session each cgroup slot serves now; slots are reused, since making and removing a
   * memory cgroup costs milliseconds (a free slot is one a destroyed session left empty). */
  private readonly slots = new Map<string, string>();
  private readonly free: string[] = [];
  private made = 0;

  private constructor(private readonly controllers: readonly Controller[]) {
    // Slots of an earlier run of this server are empty now (its processes are reaped at start).
    for (const c of controllers.slice(0, 1)) {
      for (const entry of readdirSync(c.root, { withFileTypes: true })) {
        if (entry.isDirectory() && /^slot-\d+$/.test(entry.name)) this.free.push(entry.name);
      }
    }
    this.made = this.free.length;
  }

  /** The cgroups of one data directory's sessions, or why there are none here. */
  static open(instanceId: string): SessionCgroups | string {
    if (process.getuid?.() !== 0) return 'the server does not run as root';
    const controllers: Controller[] = [];
    for (const name of CONTROLLERS) {
      let where: ReturnType<typeof locate>;
      try {
        where = locate(name);
      } catch (err) {
        return `cgroups cannot be read (${(err as Error).message})`;
      }
      if (!where) return `the ${name} cgroup controller is not mounted`;
      const root = join(where.dir, `agentflow-${instanceId}`);
      try {
        mkdirSync(root, { recursive: true });
        if (where.v2) writeFileSync(join(root, 'cgroup.subtree_control'), `+${name}`);
      } catch (err) {
        return `cannot make cgroups under ${where.dir} (${(err as Error).message})`;
      }
      controllers.push({ name, root, v2: where.v2 });
    }
    return new SessionCgroups(controllers);
  }

  /** Gives the session a cgroup with its caps (a free slot, else a new one). */
  create(sessionId: string, caps: SessionCaps): void {
    if (this.slots.has(sessionId)) return;
    let slot = this.free.pop();
    // A slot left by an earlier run whose processes have not all exited yet is not reused.
    while (slot !== undefined && this.busy(slot)) slot = this.free.pop();
    slot ??= `slot-${++this.made}`;
    for (const c of this.controllers) {
      const dir = join(c.root, slot);
      mkdirSync(dir, { recursive: true });
      const set = (file: string, value: number | string) => {
        if (existsSync(join(dir, file))) writeFileSync(join(dir, file), String(value));
      };
      if (c.name === 'memory' && caps.memoryBytes) {
        if (c.v2) {
          set('memory.max', caps.memoryBytes);
          set('memory.swap.max', 0);
        } else {
          // memsw (memory + swap) must stay at or above the memory limit: set in that order.
          set('memory.limit_in_bytes', caps.memoryBytes);
          set('memory.memsw.limit_in_bytes', caps.memoryBytes);
        }
      }
      if (c.name === 'pids' && caps.processes) set('pids.max', caps.processes);
    }
    this.slots.set(sessionId, slot);
  }

  /** A pooled shell's slot becomes its session's. */
  rekey(from: string, to: string): void {
    const slot = this.slots.get(from);
    if (slot === undefined) return;
    this.slots.delete(from);
    this.slots.set(to, slot);
  }

  /**
   * Moves processes into the session's cgroup (those already in it are left alone); what they
   * start from then on stays there. Called on the shell's first process right after it is
   * spawned, and on all of them once the shell is ready, before its first command: whatever
   * forked in between is caught there, before any of the session's code runs.
   */
  join(sessionId: string, pids: readonly number[]): void {
    const slot = this.slots.get(sessionId);
    if (!slot) return;
    for (const c of this.controllers) {
      const procs = join(c.root, slot, 'cgroup.procs');
      let inside: Set<number>;
      try {
        inside = new Set(readFileSync(procs, 'utf8').split('\n').filter(Boolean).map(Number));
      } catch {
        continue; // the slot is gone (the server is stopping)
      }
      for (const pid of pids) {
        if (inside.has(pid)) continue;
        try {
          writeFileSync(procs, String(pid));
        } catch {
          // the process ended meanwhile
        }
      }
    }
  }

  /** Whether anything still runs in a slot. */
  private busy(slot: string): boolean {
    try {
      return readFileSync(join(this.controllers[0]!.root, slot, 'cgroup.procs'), 'utf8') !== '';
    } catch {
      return false;
    }
  }

  /** The session is gone: its slot is free again once its killed processes have left it. */
  release(sessionId: string, attempt = 0): void {
    const slot = this.slots.get(sessionId);
    if (!slot) return;
    if (this.busy(slot) && attempt < 50) {
      setTimeout(() => this.release(sessionId, attempt + 1), 100).unref();
      return;
    }
    this.slots.delete(sessionId);
    // A slot something still runs in (after 5 s) is not handed out again.
    if (attempt < 50) this.free.push(slot);
  }

  /**
   * The server stops: removes every slot and, once empty, the root. Killed sessions take a moment
   * to leave their slots, so this waits for them a little (at most ~1 s).
   */
  async close(): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      let left = 0;
      for (const c of this.controllers) {
        for (const slot of [...this.free, ...this.slots.values()]) {
          if (!rmdirQuietly(join(c.root, slot))) left++;
        }
        if (!rmdirQuietly(c.root)) left++;
      }
      if (left === 0) return;
      await Bun.sleep(50);
    }
  }
}

/** Whether `dir` is gone now (removed, or it was not there). */
function rmdirQuietly(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    // busy: a session's processes are still in it
    return (err as { code?: string }).code === 'ENOENT';
  }
}
