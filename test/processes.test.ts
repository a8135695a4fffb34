// Telling a timed-out command's processes from older ones (processesOfCommand) with real
// processes: its mark, or no mark and a start after the command's, pid wrap-around included.
import { expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { processesOfCommand, startTicks } from '../src/backends/bash/processes.ts';

const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1'));

/** Waits until `pid` runs `sleep` (before its exec it still has the test's own environment). */
async function execed(pid: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith('sleep')) {
    if (Date.now() > deadline) throw new Error(`process ${pid} never ran sleep`);
    await Bun.sleep(5);
  }
}

test('an unmarked process is the command’s when it came after the command’s last pid, or far below it (a wrap)', async () => {
  const proc = Bun.spawn(['env', '-i', 'sleep', '10'], { stdout: 'ignore' });
  try {
    const pid = proc.pid;
    await execed(pid);
    const tick = startTicks(pid)!;
    expect(tick).toBeGreaterThan(0);
    // Started in the command's tick: pid order decides.
    expect(processesOfCommand([pid], 'm', { tick, lastPid: pid - 1 })).toEqual([pid]);
    expect(processesOfCommand([pid], 'm', { tick, lastPid: pid })).toEqual([]);
    expect(processesOfCommand([pid], 'm', { tick, lastPid: pid + 5 })).toEqual([]);
    // The last pid is far above: the counter wrapped between the two, so the process is newer.
    const wrapped = pid + Math.ceil(pidMax / 2) + 1;
    if (wrapped < pidMax) {
      expect(processesOfCommand([pid], 'm', { tick, lastPid: wrapped })).toEqual([pid]);
    }
    // Well after the command's start: newer whatever the pids; well before: older.
    expect(processesOfCommand([pid], 'm', { tick: tick - 10, lastPid: pid + 5 })).toEqual([pid]);
    expect(processesOfCommand([pid], 'm', { tick: tick + 10, lastPid: pid - 1 })).toEqual([]);
  } finally {
    proc.kill();
  }
});

test('a process with another command’s mark is spared, one with this command’s mark is not', async () => {
  const mine = Bun.spawn(['sleep', '10'], { env: { AGENTFLOW_COMMAND: 'this-one' } });
  const older = Bun.spawn(['sleep', '10'], { env: { AGENTFLOW_COMMAND: 'earlier' } });
  try {
    await execed(mine.pid);
    await execed(older.pid);
    const since = { tick: 0, lastPid: 0 };
    const found = processesOfCommand([mine.pid, older.pid], 'this-one', since);
    expect(found).toEqual([mine.pid]);
  } finally {
    mine.kill();
    older.kill();
  }
});
