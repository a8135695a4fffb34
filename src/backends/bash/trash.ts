// Removing a workspace without holding up the server: a session can build a tree that takes
// minutes to delete (deep nesting makes a recursive delete in-process quadratic), so the
// workspace is renamed into the data directory's trash at once (one system call; the session's
// path is free again) and deleted by an `rm` process in the background. What a previous server
// left in the trash is deleted at start-up the same way.
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export class Trash {
  private counter = 0;

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** Takes `path` out of the way now and deletes it in the background. */
  remove(path: string): void {
    const target = join(this.dir, `${process.pid}-${Date.now()}-${++this.counter}`);
    try {
      renameSync(path, target);
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return;
      // Not renameable (another filesystem): delete in place, still off the request path.
      this.erase(path);
      return;
    }
    this.erase(target);
  }

  /** Deletes what an earlier run left in the trash. */
  empty(): void {
    for (const name of readdirSync(this.dir)) this.erase(join(this.dir, name));
  }

  private erase(path: string): void {
    try {
      // --one-file-system: a mount inside (there should be none) is never descended into.
      Bun.spawn(['rm', '-rf', '--one-file-system', '--', path], {
        stdin: 'ignore',
        stdout: 'ignore',
        stderr: 'ignore',
      }).unref();
    } catch {
      rmSync(path, { recursive: true, force: true });
    }
  }
}
