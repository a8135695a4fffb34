// Bash warmup, run in a worker thread: finds the shell, checks it runs, checks that the workspace
// root is writable, and decides the isolation mode by running a real sandbox, so a misconfigured
// machine fails (or falls back, loudly) at warmup with a clear reason.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveTask } from '../../core/workers.ts';
import type { Isolation } from './sandbox.ts';

export interface ProbeInput {
  shell: string;
  workspaceRoot: string;
  isolation: 'auto' | Isolation;
  wantLimits: boolean;
}

export interface ProbeResult {
  shellPath: string;
  version: string;
  isolation: Isolation;
  bwrapPath: string;
  prlimitPath?: string;
  warnings: string[];
}

function bwrapWorks(bwrap: string, shellPath: string): string | null {
  const probe = Bun.spawnSync([
    bwrap,
    '--ro-bind',
    '/',
    '/',
    '--dev',
    '/dev',
    '--proc',
    '/proc',
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    shellPath,
    '--noprofile',
    '--norc',
    '-c',
    'true',
  ]);
  return probe.exitCode === 0
    ? null
    : `bwrap failed (exit ${probe.exitCode}): ${probe.stderr.toString().trim()}`;
}

serveTask<ProbeInput, ProbeResult>(({ shell, workspaceRoot, isolation, wantLimits }, progress) => {
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
  if (isolation === 'none') {
    warnings.push(
      'isolation "none" is configured: bash sessions run WITHOUT a sandbox, as the server\'s ' +
        "user, able to read and write whatever it can (the server's environment included).",
    );
  } else {
    const why = Bun.which('bwrap')
      ? bwrapWorks(bwrapPath, shellPath)
      : 'bwrap (bubblewrap) is not installed';
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
    warnings,
  };
});
