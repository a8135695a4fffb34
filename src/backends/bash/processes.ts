// Process-tree chores read from /proc: the processes a shell started (to kill a timed-out command
// without the shell), and the processes a previous server left behind (to reap them at start-up).
import { readdirSync, readFileSync } from 'node:fs';

interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), pgrp: Number(fields[2]) };
  } catch {
    return undefined; // the process exited while we looked
  }
}

function allPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (Number.isInteger(pid) && pid > 0) pids.push(pid);
  }
  return pids;
}

/**
 * Every process in `rootPid`'s process group and every descendant of it (including ones that
 * moved to a new session with setsid), excluding `rootPid` itself.
 */
export function processesUnder(rootPid: number): number[] {
  const stats = allPids()
    .map(readStat)
    .filter((s): s is ProcStat => s !== undefined);
  const children = new Map<number, number[]>();
  for (const s of stats) {
    const list = children.get(s.ppid) ?? [];
    list.push(s.pid);
    children.set(s.ppid, list);
  }
  const found = new Set<number>(stats.filter((s) => s.pgrp === rootPid).map((s) => s.pid));
  const visited = new Set<number>([rootPid]);
  const stack = [...(children.get(rootPid) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (visited.has(pid)) continue;
    visited.add(pid);
    found.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  found.delete(rootPid);
  return [...found];
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

/** Kills a process, its whole process group and all its descendants. */
export function killTree(rootPid: number): void {
  const under = processesUnder(rootPid);
  try {
    process.kill(-rootPid, 'SIGKILL');
  } catch {
    // no such group (the shell already exited)
  }
  killAll([rootPid, ...under]);
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
