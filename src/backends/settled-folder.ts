// A folder the server reads for a task (a ds seed folder, a doc folder) must sit where no session
// can change it between the server's check of its path and its use: otherwise a session that can
// write a directory on that path swaps a link in at the right moment and the server (as root)
// reads, or binds into a sandbox, whatever the link names. So every directory from / down to the
// folder (and the folder's own subdirectories the server reads) belongs to root or the server's
// user and is writable by no one else; a sticky directory (/tmp) is fine above an entry root or
// the server owns. And it lies in no directory sessions are given to write (bash host_dirs).
import { lstatSync, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { ParameterError } from '../core/errors.ts';

const serverUid = process.geteuid?.() ?? 0;
const trusted = (st: Stats) => st.uid === 0 || st.uid === serverUid;
const othersWrite = (st: Stats) => (st.mode & 0o022) !== 0;
const sticky = (st: Stats) => (st.mode & 0o1000) !== 0;

const within = (path: string, dir: string) =>
  path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Throws 1002 unless `real` (a real path: no links) is settled as described above. `what` names
 * it in the message; `inner` lists subdirectories that must be settled too when present.
 */
export function assertSettled(
  real: string,
  what: string,
  writableBySessions: readonly string[],
  inner: readonly string[] = [],
): void {
  const refuse = (why: string): never => {
    throw new ParameterError(
      `${what} "${real}" ${why}: a session could swap its contents while the server reads ` +
        'them. Keep task folders where only root or the server’s user can write.',
    );
  };
  for (const dir of writableBySessions) {
    if (within(real, dir))
      refuse(`lies in ${dir}, which sessions can write (backends.bash.host_dirs)`);
  }
  const stat = (path: string): Stats => {
    try {
      return lstatSync(path);
    } catch {
      return refuse(`changed while it was checked (${path} is gone)`);
    }
  };
  const parts = real.split(sep).filter(Boolean);
  let parent = stat(sep);
  let path = '';
  for (const part of parts) {
    path += sep + part;
    const here = stat(path);
    if (!trusted(parent) || (othersWrite(parent) && !(sticky(parent) && trusted(here)))) {
      refuse(
        `has a directory above it that others can change (${path.slice(0, -part.length - 1) || sep})`,
      );
    }
    parent = here;
  }
  for (const sub of ['', ...inner]) {
    let st: Stats;
    try {
      st = lstatSync(join(real, sub));
    } catch {
      continue; // an optional subdirectory that is not there
    }
    if (!st.isDirectory()) continue;
    if (!trusted(st) || othersWrite(st)) {
      refuse(`${sub ? `has a subdirectory ${sub} that` : 'is a folder that'} others can write`);
    }
  }
}
