// Finding processes by the marks in their environment (read from /proc): a timed-out command's
// processes, a destroyed session's daemonised leftovers, and what a previous server left behind.
import { readdirSync, readFileSync, statSync } from 'node:fs';

function allPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}

/** The uids the host's processes run as (the owner of /proc/<pid>). */
export function uidsInUse(): Set<number> {
  const uids = new Set<number>();
  for (const pid of allPids()) {
    const info = statSync(`/proc/${pid}`, { throwIfNoEntry: false });
    if (info) uids.add(info.uid);
  }
  return uids;
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

/** A process's pid in its own (innermost) pid namespace: the last value of NSpid. */
function pidInItsNamespace(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const line = status.slice(
      status.indexOf('NSpid:') + 6,
      status.indexOf('\n', status.indexOf('NSpid:')),
    );
    return Number(line.trim().split(/\s+/).pop());
  } catch {
    return undefined;
  }
}

/**
 * The processes a command started, among `candidates`: those carrying its mark, and those that
 * carry no command mark at all (`env -i` cleared it) but came after `lastPid`, the last pid the
 * shell's pid namespace had handed out when the previous command ended (pids are handed out in
 * increasing order; a session never gets near the namespace's pid_max). Jobs of earlier
 * commands keep their own mark, or came before, and are spared.
 */
export function processesOfCommand(
  candidates: readonly number[],
  mark: string,
  lastPid: number,
): number[] {
  const own = Buffer.from(`\0AGENTFLOW_COMMAND=${mark}\0`);
  const any = Buffer.from('\0AGENTFLOW_COMMAND=');
  const found: number[] = [];
  for (const pid of candidates) {
    if (pid === process.pid) continue;
    let env: Buffer;
    try {
      env = Buffer.concat([Buffer.from('\0'), readFileSync(`/proc/${pid}/environ`)]);
    } catch {
      continue; // exited
    }
    if (env.includes(own)) found.push(pid);
    else if (!env.includes(any) && (pidInItsNamespace(pid) ?? 0) > lastPid) found.push(pid);
  }
  return found;
}
