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

/**
 * Every descendant of `pid`, from the kernel's children lists: a walk over the process's own
 * tree rather than a scan of the whole machine.
 */
export function descendantsOf(pid: number): number[] {
  const found: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const parent = stack.pop()!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${parent}/task`);
    } catch {
      continue; // exited
    }
    for (const tid of tasks) {
      try {
        const list = readFileSync(`/proc/${parent}/task/${tid}/children`, 'latin1').trim();
        for (const child of list ? list.split(' ') : []) {
          found.push(Number(child));
          stack.push(Number(child));
        }
      } catch {
        // the task ended while we looked
      }
    }
  }
  return found;
}

/**
 * Processes whose environment holds `name=value` (how shells of this data directory, sessions
 * and commands are marked), among `candidates` or else among all processes.
 */
export function processesWithEnv(
  name: string,
  value: string,
  candidates: readonly number[] = allPids(),
): number[] {
  const needle = Buffer.from(`\0${name}=${value}\0`);
  const found: number[] = [];
  for (const pid of candidates) {
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
