// Bash warmup, run in a worker thread: finds the shell, checks it runs, checks that the workspace
// root is writable, and decides the isolation mode by starting a real sandbox exactly as a
// session's is started (as the session uid when the server is root, under the seccomp filter),
// so a misconfigured machine fails (or falls back, loudly) at warmup with a clear reason.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveTask } from '../../core/workers.ts';
import { shellPrefix, type Isolation, type SandboxPlan } from './sandbox.ts';
import { sessionFilter } from './seccomp.ts';

export interface ProbeInput {
  shell: string;
  workspaceRoot: string;
  isolation: 'auto' | Isolation;
  wantLimits: boolean;
  /** The first session uid, tried when the server runs as root. */
  probeUid: number;
}

export interface ProbeResult {
  shellPath: string;
  version: string;
  isolation: Isolation;
  bwrapPath: string;
  prlimitPath?: string;
  setprivPath?: string;
  /** The server is root: sessions run as their own unprivileged uid. */
  dropToSessionUid: boolean;
  warnings: string[];
}

/** What the probe shell reports: its uid, and whether a seccomp filter is on (2). */
const REPORT = 'echo "$(id -u) $(grep -o "^Seccomp:.*" /proc/self/status | tr -dc 0-9)"';

function sandboxWorks(
  bwrapPath: string,
  setprivPath: string | undefined,
  shellPath: string,
  workspaceRoot: string,
  uid: number | undefined,
): string | null {
  const dataDir = mkdtempSync(join(workspaceRoot, '.probe-'));
  const workspace = join(dataDir, 'workspaces', 'probe');
  mkdirSync(workspace, { recursive: true, mode: 0o700 });
  const filter = sessionFilter();
  const filterPath = join(dataDir, 'filter.bpf');
  if (filter) writeFileSync(filterPath, filter);
  try {
    if (uid !== undefined) Bun.spawnSync(['chown', `${uid}:${uid}`, workspace]);
    const plan: SandboxPlan = {
      isolation: 'bwrap',
      bwrapPath,
      ...(setprivPath ? { setprivPath } : {}),
      dataDir,
      hiddenPaths: [],
      hostDirs: [],
      limits: {},
    };
    const argv = shellPrefix(plan, {
      workspace,
      network: false,
      ...(uid === undefined ? {} : { uid }),
      ...(filter ? { seccompFd: 3 } : {}),
    });
    const file = filter ? Bun.file(filterPath) : undefined;
    const probe = Bun.spawnSync([...argv, shellPath, '--noprofile', '--norc', '-c', REPORT], {
      cwd: workspace,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['ignore', 'pipe', 'pipe', ...(file ? [file] : [])],
    });
    if (probe.exitCode !== 0) {
      return `bwrap failed (exit ${probe.exitCode}): ${probe.stderr.toString().trim()}`;
    }
    const [seenUid, seccomp] = probe.stdout.toString().trim().split(' ');
    if (uid !== undefined && seenUid !== String(uid)) {
      return `the sandbox ran as uid ${seenUid}, not the session uid ${uid}`;
    }
    if (filter && seccomp !== '2') return 'the sandbox did not apply its seccomp filter';
    return null;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

serveTask<ProbeInput, ProbeResult>((input, progress) => {
  const { shell, workspaceRoot, isolation, wantLimits } = input;
  const shellPath = shell.includes('/') ? shell : Bun.which(shell);
  if (!shellPath) throw new Error(`shell "${shell}" was not found on PATH`);
  const probe = Bun.spawnSync([shellPath, '--noprofile', '--norc', '-c', 'echo "$BASH_VERSION"']);
  if (probe.exitCode !== 0) {
    throw new Error(
      `${shellPath} did not run (exit ${probe.exitCode}): ${probe.stderr.toString()}`,
    );
  }
  progress(0.3, 'shell found');
  mkdirSync(workspaceRoot, { recursive: true });
  const testFile = join(workspaceRoot, `.probe-${process.pid}-${Date.now()}`);
  writeFileSync(testFile, 'ok');
  rmSync(testFile);
  progress(0.6, 'workspace writable');

  const warnings: string[] = [];
  let effective: Isolation = 'none';
  const bwrapPath = Bun.which('bwrap') ?? 'bwrap';
  const setprivPath = Bun.which('setpriv') ?? undefined;
  const root = process.getuid?.() === 0;
  if (isolation === 'none') {
    warnings.push(
      'isolation "none" is configured: bash sessions run WITHOUT a sandbox, as the server\'s ' +
        "user, able to read and write whatever it can (the server's environment included).",
    );
  } else {
    let why: string | null;
    if (!Bun.which('bwrap')) why = 'bwrap (bubblewrap) is not installed';
    else if (root && !setprivPath) {
      why =
        'setpriv (util-linux) is not installed, and a root server needs it to drop sessions to their own uid';
    } else {
      const uid = root ? input.probeUid : undefined;
      why = sandboxWorks(bwrapPath, setprivPath, shellPath, workspaceRoot, uid);
    }
    if (why === null) effective = 'bwrap';
    else if (isolation === 'bwrap') throw new Error(`isolation "bwrap" is configured but ${why}`);
    else {
      warnings.push(
        `${why}: bash sessions run WITHOUT a sandbox (isolation "none"), as the server's user, ` +
          'able to read and write whatever it can. Install bubblewrap (in a container: allow ' +
          'it to make namespaces, see the README) to isolate them.',
      );
    }
  }
  const prlimitPath = Bun.which('prlimit') ?? undefined;
  if (wantLimits && !prlimitPath) {
    warnings.push(
      'prlimit (util-linux) is not installed: per-session resource limits are NOT applied',
    );
  }
  return {
    shellPath,
    version: probe.stdout.toString().trim(),
    isolation: effective,
    bwrapPath,
    ...(prlimitPath ? { prlimitPath } : {}),
    ...(setprivPath ? { setprivPath } : {}),
    dropToSessionUid: effective === 'bwrap' && root,
    warnings,
  };
});
