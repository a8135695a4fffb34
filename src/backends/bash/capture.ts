// Captures one command's output from a long-lived pipe: keeps up to `limit` bytes, and finds the
// end-of-command marker the shell prints after the command (which may straddle chunk boundaries).
// Parsing is linear and bounded whatever the command prints: every byte is scanned a bounded
// number of times, and at most `limit` bytes (plus a trailer of a few KiB) are held. Bytes that
// look like a marker but are not followed by a well-formed trailer are output like any other.
import { CappedOutput } from '../../core/capped-output.ts';

/** The trailer after a marker, NUL-terminated: "<status> <cwd>" on stdout (a path is at most
 * 4 KiB), nothing on stderr. */
const MAX_TRAILER = 4096 + 16;
export const STDOUT_TRAILER = /^\d{1,3} \//;
export const STDERR_TRAILER = /^$/;
const EMPTY = Buffer.alloc(0);

export class StreamCapture {
  private readonly kept: CappedOutput;
  /** Bytes that may be the start of the marker, held back until the next chunk decides. */
  private tail: Buffer = EMPTY;
  /** Bytes after the marker, up to its terminating NUL (the trailer: exit code and cwd). */
  private trailer: Buffer | undefined;
  /** Set once the marker and its trailer have arrived. */
  done: string | undefined;

  constructor(
    private readonly marker: Buffer,
    limit: number,
    /** What the first bytes of a real trailer look like. */
    private readonly trailerStart: RegExp,
  ) {
    this.kept = new CappedOutput(limit);
  }

  get truncated(): boolean {
    return this.kept.truncated;
  }

  /** Feeds bytes; returns what arrived after the marker's trailer (output of later activity). */
  push(chunk: Uint8Array): Buffer | undefined {
    let data = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let pos = 0;
    // The first NUL at or after `pos`, found once and reused while it lies ahead (-2: not yet
    // looked for): a run of fake markers does not rescan the same bytes for each of them.
    let nul = -2;
    const nextNul = () => (nul === -1 || nul >= pos ? nul : (nul = data.indexOf(0, pos)));
    const restart = (bytes: Buffer) => {
      data = bytes;
      pos = 0;
      nul = -2;
    };
    for (;;) {
      if (this.done !== undefined) {
        return pos < data.length ? Buffer.from(data.subarray(pos)) : undefined;
      }
      if (this.trailer !== undefined) {
        const have: Buffer = this.trailer;
        const room = MAX_TRAILER - have.length;
        const end = nextNul();
        if (end >= 0 && end - pos < room) {
          const head = Buffer.concat([have, data.subarray(pos, Math.min(end, pos + 8))]);
          if (this.trailerStart.test(head.toString('latin1'))) {
            this.done = Buffer.concat([have, data.subarray(pos, end)]).toString('utf8');
            this.trailer = undefined;
            pos = end + 1;
            continue;
          }
        } else if (end < 0 && data.length - pos < room) {
          this.trailer = Buffer.concat([have, data.subarray(pos)]);
          return undefined;
        }
        // Not the shell's marker: its bytes are output, and scanning goes on after them.
        this.trailer = undefined;
        this.kept.push(this.marker);
        if (have.length > 0) restart(Buffer.concat([have, data.subarray(pos)]));
        continue;
      }
      if (this.tail.length > 0) {
        restart(Buffer.concat([this.tail, data.subarray(pos)]));
        this.tail = EMPTY;
      }
      const at = data.indexOf(this.marker, pos);
      if (at >= 0) {
        this.kept.push(data.subarray(pos, at));
        this.trailer = EMPTY;
        pos = at + this.marker.length;
        continue;
      }
      const safe = Math.max(pos, data.length - (this.marker.length - 1));
      this.kept.push(data.subarray(pos, safe));
      this.tail = Buffer.from(data.subarray(safe));
      return undefined;
    }
  }

  /** The output so far, including bytes held back as a possible marker start. */
  text(): string {
    return this.kept.text(this.done === undefined ? this.tail : undefined);
  }
}
