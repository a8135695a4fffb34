// The uids sandboxed sessions run as when the server runs as root: one per live session, from a
// configured range, so a session is an unprivileged user of its own (its process limit counts
// only its own processes, and it cannot touch another session's files or processes). A
// session's uid is recorded as the owner of its workspace, so a restart finds it again. Uids are
// handed out round-robin: a freed one comes back only after the whole range has been used (the
// position survives restarts, in a file of the data directory), and never while a process on the
// host runs as it (another server on the same range, a leftover).
import { readFileSync, writeFileSync } from 'node:fs';
import { ResourceUnavailableError } from '../../core/errors.ts';

/** How long a look at the host's uids stays good: it reads every /proc entry. */
const BUSY_TTL_MS = 5000;

export class SessionUids {
  private readonly used = new Set<number>();
  private next: number;
  private busy: { uids: ReadonlySet<number>; at: number } | undefined;

  constructor(
    readonly first: number,
    readonly count: number,
    /** Where the round-robin position is kept between runs. */
    private readonly positionFile?: string,
  ) {
    let saved = NaN;
    try {
      if (positionFile) saved = Number(readFileSync(positionFile, 'utf8'));
    } catch {
      // first run
    }
    this.next = this.has(saved) ? saved : first;
    this.save();
  }

  private save(): void {
    if (this.positionFile) writeFileSync(this.positionFile, String(this.next), { mode: 0o600 });
  }

  has(uid: number): boolean {
    return uid >= this.first && uid < this.first + this.count;
  }

  /** Marks a uid found on a remembered workspace as taken. */
  claim(uid: number): void {
    if (this.has(uid)) this.used.add(uid);
  }

  /**
   * A free uid; `busy` tells the uids the host's processes run as. It is asked at most every few
   * seconds: what it guards against (another server on the same range, a leftover process)
   * changes slowly, and this server's own sessions are in `used` at once.
   */
  take(busy: () => ReadonlySet<number>): number {
    const now = Date.now();
    if (!this.busy || now - this.busy.at > BUSY_TTL_MS) this.busy = { uids: busy(), at: now };
    const running = this.busy.uids;
    for (let i = 0; i < this.count; i++) {
      const uid = this.next;
      this.next = uid + 1 >= this.first + this.count ? this.first : uid + 1;
      if (!this.used.has(uid) && !running.has(uid)) {
        this.used.add(uid);
        this.save();
        return uid;
      }
    }
    throw new ResourceUnavailableError(
      `All ${this.count} session uids (backends.bash.session_uids) are in use; destroy sessions ` +
        'or widen the range.',
    );
  }

  release(uid: number): void {
    this.used.delete(uid);
  }
}
