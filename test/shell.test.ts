// ShellSession on its own, with real processes: a shell that cannot start is an error (2001) that
// says why, not a silent success; a shell killed from outside is started again on the next call.
import { expect, test } from 'bun:test';
import { BackendError } from '../src/core/errors.ts';
import { ShellSession, type ShellOptions } from '../src/backends/bash/shell.ts';
import { killAll } from '../src/backends/bash/processes.ts';
import { tempDir } from './helpers.ts';

const options = (prefix: string[]): ShellOptions => ({
  shell: 'bash',
  prefix: () => prefix,
  sweepLeftovers: true,
  sessionId: `shell-test-${Math.random().toString(36).slice(2)}`,
  home: tempDir(),
  cwd: tempDir(),
  env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  exports: {},
  outputLimit: 4096,
});

test('a shell whose sandbox fails to start answers 2001 with what it printed', async () => {
  const shell = new ShellSession(
    options(['sh', '-c', 'echo "sandbox setup broke" >&2; exit 1', '--']),
  );
  try {
    const err = await shell.run('echo never', 5000).catch((e) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err.code).toBe(2001);
    expect(err.message).toContain('sandbox setup broke');
  } finally {
    shell.kill();
  }
});

test('a shell killed while idle is started again and the command runs', async () => {
  const shell = new ShellSession(options([]));
  try {
    expect((await shell.run('cd /tmp; echo first', 5000)).stdout).toBe('first\n');
    killAll([shell.pid]);
    await Bun.sleep(150);
    const r = await shell.run('echo again; pwd', 5000);
    expect(r.stdout).toBe('again\n/tmp\n');
    expect(r.exit_code).toBe(0);
  } finally {
    shell.kill();
  }
});
