// Bash warmup, run in a worker thread: finds the shell, checks it runs, and checks that the
// workspace root is writable, so a misconfigured machine fails at warmup with a clear reason.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serveTask } from '../../core/workers.ts';

export interface ProbeInput {
  shell: string;
  workspaceRoot: string;
}

export interface ProbeResult {
  shellPath: string;
  version: string;
}

serveTask<ProbeInput, ProbeResult>(({ shell, workspaceRoot }, progress) => {
  const shellPath = shell.includes('/') ? shell : Bun.which(shell);
  if (!shellPath) throw new Error(`shell "${shell}" was not found on PATH`);
  const probe = Bun.spawnSync([shellPath, '--noprofile', '--norc', '-c', 'echo "$BASH_VERSION"']);
  if (probe.exitCode !== 0) {
    throw new Error(
      `${shellPath} did not run (exit ${probe.exitCode}): ${probe.stderr.toString()}`,
    );
  }
  progress(0.5, 'shell found');
  mkdirSync(workspaceRoot, { recursive: true });
  const testFile = join(workspaceRoot, `.probe-${process.pid}-${Date.now()}`);
  writeFileSync(testFile, 'ok');
  rmSync(testFile);
  return { shellPath, version: probe.stdout.toString().trim() };
});
