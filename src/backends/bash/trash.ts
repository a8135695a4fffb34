// Removing a workspace without holding up the server: a session can build a tree that takes
// minutes to delete (deep nesting makes a recursive delete in-process quadratic), so the
// workspace is renamed into the data directory's trash at once (one system call; the session's
// path is free again) and deleted by an `rm` process in the background. What a previous server
// left in the trash is deleted at start-up the same way. Deletions are gathered for a moment and
// handed to one `rm`: a spawn costs the server's thread about a millisecond, which a temporary
// session's call would otherwise pay before its answer.
import { mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** How long removals are gathered before one `rm` deletes them all. */
const GATHER_MS = 25;
const MAX_PER_RM = 500;

export class Trash {
  private counter = 0;
  private queued: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

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
      this.erase([path]);
      return;
    }
    this.queued.push(target);
    this.timer ??= setTimeout(() => this.flush(), GATHER_MS);
  }

  private flush(): void {
    this.timer = undefined;
    // A bounded argv per `rm`; what is left goes at the next round.
    this.erase(this.queued.splice(0, MAX_PER_RM));
    if (this.queued.length > 0) this.timer = setTimeout(() => this.flush(), GATHER_MS);
  }

  /** Deletes what an earlier run left in the trash. */
  empty(): void {
    const names = readdirSync(this.dir);
    if (names.length > 0) this.erase(names.map((name) => join(this.dir, name)));
  }

  private erase(paths: string[]): void {
    try {
      // --one-file-system: a mount inside (there should be none) is never descended into.
      Bun.spawn(['rm', '-rf', '--one-file-system', '--', ...paths], {
        stdin: 'ignore',
        stdout: 'ignore',
        stderr: 'ignore',
      }).unref();
    } catch {
      for (const path of paths) rmSync(path, { recursive: true, force: true });
    }
  }
}
