// Finding processes by the marks in their environment (read from /proc): a timed-out command's
// processes, a destroyed session's daemonised leftovers, and what a previous server left behind.
import { readdirSync, readFileSync } from 'node:fs';

function allPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}

export function killAll(pids: readonly number[], signal: NodeJS.Signals = 'SIGKILL'): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Processes whose environment holds `name=value` (how shells of this data directory are marked). */
export function processesWithEnv(name: string, value: string): number[] {
  const needle = Buffer.from(`\0${name}=${value}\0`);
  const found: number[] = [];
  for (const pid of allPids()) {
    if (pid === process.pid) continue;
    try {
      const env = Buffer.concat([Buffer.from('\0'), readFileSync(`/proc/${pid}/environ`)]);
      if (env.includes(needle)) found.push(pid);
    } catch {
      // exited, or not ours to read
    }
  }
  return found;
}
