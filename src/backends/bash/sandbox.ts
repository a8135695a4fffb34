// How a session's shell is started: the bubblewrap sandbox (read-only system, private /tmp, only
// its own workspace writable, no view of the data directory, the config or the server's
// processes, no network unless allowed, dies with the server) and the rlimits, as an argv prefix.
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';

export type Isolation = 'bwrap' | 'none';

export interface Limits {
  cpu_seconds?: number;
  memory_mb?: number;
  file_size_mb?: number;
  open_files?: number;
  processes?: number;
}

export interface SandboxPlan {
  isolation: Isolation;
  bwrapPath: string;
  /** Absent when util-linux's prlimit is missing: limits are then not applied (warned at warmup). */
  prlimitPath?: string;
  dataDir: string;
  /** Files or directories a session must never see (the config file). */
  hiddenPaths: readonly string[];
  /** Host directories the operator lets sessions work in (bound read-write at the same path). */
  hostDirs: readonly string[];
  limits: Limits;
}

/** Host directories that hold other users' files, sockets (docker.sock) or secrets. */
const PRIVATE_DIRS = ['/tmp', '/var/tmp', '/run', '/root', '/home'];

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

function rlimitArgs(prlimit: string | undefined, limits: Limits): string[] {
  if (!prlimit) return [];
  const args: string[] = [];
  const mb = 1024 * 1024;
  if (limits.cpu_seconds) args.push(`--cpu=${limits.cpu_seconds}`);
  if (limits.memory_mb) args.push(`--as=${limits.memory_mb * mb}`);
  if (limits.file_size_mb) args.push(`--fsize=${limits.file_size_mb * mb}`);
  if (limits.open_files) args.push(`--nofile=${limits.open_files}`);
  if (limits.processes) args.push(`--nproc=${limits.processes}`);
  return args.length > 0 ? [prlimit, ...args, '--'] : [];
}

/** The argv that precedes `bash --noprofile --norc` for one session's shell. */
export function shellPrefix(
  plan: SandboxPlan,
  workspace: string,
  cwd: string,
  network: boolean,
): string[] {
  const limits = rlimitArgs(plan.prlimitPath, plan.limits);
  if (plan.isolation === 'none') return limits;
  const args = [plan.bwrapPath, ...system(), '--dev', '/dev', '--proc', '/proc'];
  for (const dir of PRIVATE_DIRS) args.push('--tmpfs', dir);
  // The data directory holds the store and every other workspace: an empty tmpfs replaces it,
  // and only this session's workspace is bound back in, at the same path.
  args.push('--tmpfs', plan.dataDir, '--bind', workspace, workspace);
  for (const dir of plan.hostDirs) if (existsSync(dir)) args.push('--bind', dir, dir);
  for (const hidden of plan.hiddenPaths) {
    if (!existsSync(hidden)) continue;
    if (statSync(hidden).isDirectory()) args.push('--tmpfs', hidden);
    else args.push('--ro-bind', '/dev/null', hidden);
  }
  args.push('--unshare-all');
  if (network) args.push('--share-net');
  // --as-pid-1: bash is the namespace's init (it reaps orphans), one process fewer per session.
  // The root itself (bwrap's tmpfs) turns read-only once every mount point is made.
  args.push('--remount-ro', '/');
  args.push('--die-with-parent', '--new-session', '--as-pid-1', '--chdir', cwd);
  return [...limits, ...args];
}
