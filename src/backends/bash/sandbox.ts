// How a session's shell is started, as an argv: the rlimits (prlimit), the bubblewrap sandbox
// (read-only system, private size-capped /tmp, only its own workspace writable, no view of the data
// directory, the config or the server's processes, no network unless allowed, no new user
// namespaces, dies with the server) and, when the server runs as root, the drop to the session's
// own unprivileged uid (setpriv) inside it. Nothing of the session reaches these host-side helpers:
// they run with the fixed environment the shell starts with (ShellOptions.env), and the session's
// variables are exported by the shell itself once it runs inside.
import { existsSync, lstatSync, readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export type Isolation = 'bwrap' | 'none';

export interface Limits {
  cpu_seconds?: number;
  memory_mb?: number;
  file_size_mb?: number;
  open_files?: number;
  processes?: number;
  tmp_mb?: number;
}

export interface SandboxPlan {
  /** undefined until warmup has decided; a shell is never started before that. */
  isolation: Isolation | undefined;
  bwrapPath: string;
  /** util-linux's prlimit; absent: limits are not applied (warned at warmup). */
  prlimitPath?: string;
  /** util-linux's setpriv, for the drop to the session's uid when the server runs as root. */
  setprivPath?: string;
  /** The user-namespace seccomp filter (bwrap reads it from a descriptor at every start). */
  seccompPath?: string;
  dataDir: string;
  /** Files or directories a session must never see (the config file). */
  hiddenPaths: readonly string[];
  /** Host directories the operator lets sessions work in (bound read-write at the same path). */
  hostDirs: readonly string[];
  limits: Limits;
}

/** Host directories that hold other users' files, sockets (docker.sock) or secrets. */
export const PRIVATE_DIRS = ['/tmp', '/var/tmp', '/run', '/root', '/home'];

/** The system a session sees, read-only: these top-level directories and nothing else. */
const SYSTEM_DIRS = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'etc', 'opt', 'srv'];
/** Under /var and /var/lib: what is skipped (private, or mounts that come and go: containers). */
const VAR_SKIP = new Set(['run', 'lock', 'tmp', 'lib']);
const VAR_LIB_SKIP = new Set(['docker', 'containerd', 'kubelet', 'lxc', 'lxcfs', 'machines']);

function bindEntries(dir: string, names: readonly string[]): string[] {
  const args: string[] = [];
  for (const name of names) {
    const path = dir === '/' ? `/${name}` : `${dir}/${name}`;
    const info = lstatSync(path, { throwIfNoEntry: false });
    if (!info) continue;
    if (info.isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else if (info.isDirectory()) args.push('--ro-bind', path, path);
  }
  return args;
}

let systemBinds: string[] | undefined;

/**
 * Binds of the host system, computed once. Not `--ro-bind / /`: that copies every host mount,
 * and a container mount appearing or vanishing meanwhile (Docker) makes bwrap fail to start.
 */
function system(): string[] {
  if (systemBinds) return systemBinds;
  const args = bindEntries('/', SYSTEM_DIRS);
  if (existsSync('/var')) {
    args.push('--dir', '/var');
    args.push(
      ...bindEntries(
        '/var',
        readdirSync('/var').filter((n) => !VAR_SKIP.has(n)),
      ),
    );
    if (existsSync('/var/lib')) {
      args.push('--dir', '/var/lib');
      const lib = readdirSync('/var/lib').filter((n) => !VAR_LIB_SKIP.has(n));
      args.push(...bindEntries('/var/lib', lib));
    }
  }
  return (systemBinds = args);
}

const MB = 1024 * 1024;

function isOwnRealPath(dir: string): boolean {
  try {
    return realpathSync(dir) === dir && statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function rlimitArgs(prlimit: string | undefined, limits: Limits): string[] {
  if (!prlimit) return [];
  const args: string[] = [];
  if (limits.cpu_seconds) args.push(`--cpu=${limits.cpu_seconds}`);
  if (limits.memory_mb) args.push(`--as=${limits.memory_mb * MB}`);
  if (limits.file_size_mb) args.push(`--fsize=${limits.file_size_mb * MB}`);
  if (limits.open_files) args.push(`--nofile=${limits.open_files}`);
  if (limits.processes) args.push(`--nproc=${limits.processes}`);
  return args.length > 0 ? [prlimit, ...args, '--'] : [];
}

export interface ShellStart {
  workspace: string;
  /** Where the workspace appears inside, when not at its own path (a warm-pool shell's). */
  mountAt?: string;
  /** The session's own uid (and gid) when the server runs as root; else the server's. */
  uid?: number;
  network: boolean;
  /** The descriptor (in the child) bwrap reads the seccomp filter from. */
  seccompFd?: number;
  /** More bwrap mounts after the standard ones (another backend's read-only binds). */
  extraMounts?: readonly string[];
}

/** The argv that precedes `bash --noprofile --norc` for one session's shell. */
export function shellPrefix(plan: SandboxPlan, start: ShellStart): string[] {
  const limits = rlimitArgs(plan.prlimitPath, plan.limits);
  if (plan.isolation !== 'bwrap') return limits;
  const { workspace } = start;
  const inside = start.mountAt ?? workspace;
  const args = [plan.bwrapPath];
  if (start.seccompFd !== undefined) args.push('--seccomp', String(start.seccompFd));
  args.push(...system(), '--dev', '/dev', '--proc', '/proc');
  // Private, size-capped scratch space, writable by the session's uid (sticky like a real /tmp).
  const size = String((plan.limits.tmp_mb ?? 256) * MB);
  for (const dir of [...PRIVATE_DIRS, '/dev/shm']) {
    args.push('--perms', '1777', '--size', size, '--tmpfs', dir);
  }
  // The data directory holds the store and every other workspace: an empty tmpfs replaces it,
  // and only this session's workspace is bound back in, at the same path.
  args.push('--tmpfs', plan.dataDir, '--perms', '0755', '--dir', dirname(inside));
  args.push('--bind', workspace, inside);
  // Bound only while the path is its own real path: a link on the way (planted by a session in a
  // shared directory, say) is never followed to another host directory.
  for (const dir of plan.hostDirs) if (isOwnRealPath(dir)) args.push('--bind', dir, dir);
  for (const hidden of plan.hiddenPaths) {
    if (!existsSync(hidden)) continue;
    if (statSync(hidden).isDirectory()) args.push('--tmpfs', hidden);
    else args.push('--ro-bind', '/dev/null', hidden);
  }
  if (start.extraMounts) args.push(...start.extraMounts);
  // No user namespace when dropping to a real uid: the session is then a plain unprivileged
  // host user (a namespace would map it to host root). Without root, bwrap needs one to work.
  args.push('--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup');
  if (start.uid === undefined) args.push('--unshare-user');
  if (start.network) args.push('--share-net');
  // The root itself (bwrap's tmpfs) turns read-only once every mount point is made.
  args.push('--remount-ro', '/');
  args.push('--die-with-parent', '--new-session', '--chdir', inside);
  // --as-pid-1 makes the shell the namespace's init (it reaps orphans), one process fewer. Not
  // when it runs as another uid than bwrap: the parent-death signal that ends the sandbox with
  // the server could not reach it (a signal across users needs CAP_KILL). bwrap's own init, of
  // bwrap's user, gets it, and the kernel ends the whole namespace with it.
  if (start.uid === undefined) args.push('--as-pid-1');
  if (start.uid !== undefined) {
    // Enough privilege for setpriv to switch users and to enter the workspace; setpriv then
    // drops every capability, for good (empty bounding set, no new privileges: setuid binaries
    // such as su or mount stay unprivileged).
    args.push('--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID');
    args.push('--cap-add', 'CAP_DAC_READ_SEARCH');
    args.push(
      plan.setprivPath ?? 'setpriv',
      `--reuid=${start.uid}`,
      `--regid=${start.uid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--no-new-privs',
      '--',
    );
  }
  return [...limits, ...args];
}
