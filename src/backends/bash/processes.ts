// Finding processes by the marks in their environment (read from /proc): a timed-out command's
// processes, a destroyed session's daemonised leftovers, and what a previous server left behind.
import { openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';

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
  return candidates.filter((pid) => environOf(pid)?.includes(needle));
}

/**
 * A process's environment as it was exec'd, each entry NUL-delimited on both sides (so a search
 * for `\0NAME=value\0` matches whole entries); undefined for this process, one that exited, or
 * one not ours to read.
 */
function environOf(pid: number): Buffer | undefined {
  if (pid === process.pid) return undefined;
  try {
    return Buffer.concat([NUL, readFileSync(`/proc/${pid}/environ`)]);
  } catch {
    return undefined;
  }
}

const NUL = Buffer.from('\0');

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux ABI in use). */
const TICKS_PER_SECOND = 100;

/** When the process started, in clock ticks since boot (field 22 of /proc/<pid>/stat). */
export function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may hold spaces and parentheses: count from its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[19]);
  } catch {
    return undefined;
  }
}

/** Now, in the same clock ticks since boot, less `agoMs`. */
export function ticksSinceBoot(agoMs = 0): number {
  const uptime = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
  return Math.floor((uptime - agoMs / 1000) * TICKS_PER_SECOND);
}

let loadavg: number | undefined;
const loadavgBuffer = Buffer.alloc(128);

/**
 * The pid the kernel handed out last (pids are handed out in increasing order, then wrap): the
 * last field of /proc/loadavg, read through a descriptor kept open (it is read per command).
 */
export function lastPid(): number {
  loadavg ??= openSync('/proc/loadavg', 'r');
  const n = readSync(loadavg, loadavgBuffer, 0, loadavgBuffer.length, 0);
  const text = loadavgBuffer.toString('latin1', 0, n).trim();
  return Number(text.slice(text.lastIndexOf(' ') + 1));
}

/** When a command began: the tick (floored) and the last pid handed out before it. */
export interface CommandStart {
  tick: number;
  lastPid: number;
}

/** Ticks either side of the command's start where only pid order can tell (uptime is rounded). */
const AMBIGUOUS_TICKS = 2;

/**
 * Whether a process started after the command did. Ticks are 10 ms and /proc/uptime is rounded
 * down to one, so near the command's start tick only pid order tells: a process there is newer
 * when its pid came after the last one handed out before the command (or far below it: the
 * counter wrapped). Well past that tick it is newer; well before, older.
 */
function startedSince(pid: number, since: CommandStart): boolean {
  const tick = startTicks(pid);
  if (tick === undefined) return false;
  if (tick > since.tick + AMBIGUOUS_TICKS) return true;
  if (tick < since.tick - AMBIGUOUS_TICKS) return false;
  // The counter wraps at pid_max (32768 on many machines): a pid far below the last one was
  // handed out after a wrap, so after the command started.
  return pid > since.lastPid || since.lastPid - pid > pidMax() / 2;
}

let pidMaxValue: number | undefined;

function pidMax(): number {
  if (pidMaxValue === undefined) {
    try {
      pidMaxValue = Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1')) || 32768;
    } catch {
      pidMaxValue = 32768;
    }
  }
  return pidMaxValue;
}

/**
 * The processes a command started, among `candidates`: those carrying its mark, and those that
 * carry no command mark at all (`env -i` cleared it) but started after the command did. Jobs of
 * earlier commands keep their own mark, or started before, and are spared.
 */
export function processesOfCommand(
  candidates: readonly number[],
  mark: string,
  since: CommandStart,
): number[] {
  const own = Buffer.from(`\0AGENTFLOW_COMMAND=${mark}\0`);
  const any = Buffer.from('\0AGENTFLOW_COMMAND=');
  return candidates.filter((pid) => {
    const env = environOf(pid);
    if (!env) return false;
    return env.includes(own) || (!env.includes(any) && startedSince(pid, since));
  });
}
