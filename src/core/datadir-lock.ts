// One server per data directory: two would reap each other's shells and race on the store. The
// lock is an exclusive SQLite transaction on a small file, so the OS releases it when the process
// dies, even by kill -9, and no stale pid file can block a restart.
import { Database } from 'bun:sqlite';
import { join } from 'node:path';

export const LOCK_FILE = 'server.lock';

/** Takes the data directory's lock or throws naming the directory; returns the release function. */
export function lockDataDir(dataDir: string): () => void {
  const db = new Database(join(dataDir, LOCK_FILE), { create: true });
  try {
    db.exec('PRAGMA busy_timeout = 0');
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch {
    db.close();
    throw new Error(
      `another agentflow server is using the data directory ${dataDir}; stop it or use another --data-dir`,
    );
  }
  return () => {
    try {
      db.exec('ROLLBACK');
    } finally {
      db.close();
    }
  };
}
