// Per-session memory and process caps through cgroups, when the server may make them (root, with
// the memory and pids controllers mounted writable: cgroup v1, or v2 with both enabled). Each
// session gets a cgroup of its own under one per data directory; its shell's processes are moved
// in before the session's first command runs, and everything they start stays in it. Where this
// is not possible, warmup says why and sessions run with rlimits alone.
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
  private constructor(private readonly controllers: readonly Controller[]) {}

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

  /** Makes the session's cgroup with its caps (a leftover of the same name is reused). */
  create(sessionId: string, caps: SessionCaps): void {
    for (const c of this.controllers) {
      const dir = join(c.root, sessionId);
      mkdirSync(dir, { recursive: true });
      const set = (file: string, value: number | string) => {
        if (existsSync(join(dir, file))) writeFileSync(join(dir, file), String(value));
      };
      if (c.name === 'memory' && caps.memoryBytes) {
        if (c.v2) {
          set('memory.max', caps.memoryBytes);
          set('memory.swap.max', 0);
        } else {
          set('memory.limit_in_bytes', caps.memoryBytes);
          // With swap accounting on, swap counts too: the cap is on memory, not on RAM alone.
          set('memory.memsw.limit_in_bytes', caps.memoryBytes);
        }
      }
      if (c.name === 'pids' && caps.processes) set('pids.max', caps.processes);
    }
  }

  /** Moves processes into the session's cgroup; what they start from then on stays there. */
  join(sessionId: string, pids: readonly number[]): void {
    for (const c of this.controllers) {
      const procs = join(c.root, sessionId, 'cgroup.procs');
      for (const pid of pids) {
        try {
          writeFileSync(procs, String(pid));
        } catch {
          // the process ended meanwhile
        }
      }
    }
  }

  /** The pids in the session's cgroup (every process it runs, wherever it moved in the tree). */
  members(sessionId: string): number[] {
    const c = this.controllers[0]!;
    try {
      return readFileSync(join(c.root, sessionId, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  }

  /** Removes the session's cgroup once its processes are gone (retried a few times). */
  remove(sessionId: string, attempt = 0): void {
    let busy = false;
    for (const c of this.controllers) {
      try {
        rmdirSync(join(c.root, sessionId));
      } catch (err) {
        if ((err as { code?: string }).code === 'EBUSY') busy = true;
      }
    }
    if (busy && attempt < 20) setTimeout(() => this.remove(sessionId, attempt + 1), 100).unref();
  }

  /** At start-up: removes the cgroups of sessions the store does not remember. */
  reap(keep: ReadonlySet<string>): void {
    for (const c of this.controllers) {
      for (const name of readdirSync(c.root, { withFileTypes: true })) {
        if (name.isDirectory() && !keep.has(name.name)) this.remove(name.name);
      }
    }
  }
}
