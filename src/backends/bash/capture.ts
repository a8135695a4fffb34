// Captures one command's output from a long-lived pipe: keeps up to `limit` bytes, and finds the
// end-of-command marker the shell prints after the command (which may straddle chunk boundaries).
import { CappedOutput } from '../../core/capped-output.ts';

export class StreamCapture {
  private readonly kept: CappedOutput;
  /** Bytes that may be the start of the marker, held back until the next chunk decides. */
  private tail: Buffer = Buffer.alloc(0);
  /** Bytes after the marker, up to its terminating NUL (the trailer: exit code and cwd). */
  private trailer: Buffer | undefined;
  /** Set once the marker and its trailer have arrived. */
  done: string | undefined;

  constructor(
    private readonly marker: Buffer,
    limit: number,
  ) {
    this.kept = new CappedOutput(limit);
  }

  get truncated(): boolean {
    return this.kept.truncated;
  }

  /** Feeds bytes; returns what arrived after the marker's trailer (output of later activity). */
  push(chunk: Uint8Array): Buffer | undefined {
    if (this.done !== undefined) return Buffer.from(chunk);
    if (this.trailer !== undefined) return this.pushTrailer(Buffer.from(chunk));
    const data = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : Buffer.from(chunk);
    const at = data.indexOf(this.marker);
    if (at >= 0) {
      this.kept.push(data.subarray(0, at));
      this.tail = Buffer.alloc(0);
      this.trailer = Buffer.alloc(0);
      return this.pushTrailer(data.subarray(at + this.marker.length));
    }
    const safe = Math.max(0, data.length - (this.marker.length - 1));
    this.kept.push(data.subarray(0, safe));
    this.tail = Buffer.from(data.subarray(safe));
    return undefined;
  }

  private pushTrailer(bytes: Buffer): Buffer | undefined {
    const all = Buffer.concat([this.trailer!, bytes]);
    const nul = all.indexOf(0);
    if (nul < 0) {
      this.trailer = all;
      return undefined;
    }
    this.done = all.subarray(0, nul).toString('utf8');
    const rest = all.subarray(nul + 1);
    return rest.length > 0 ? rest : undefined;
  }

  /** The output so far, including bytes held back as a possible marker start. */
  text(): string {
    return this.kept.text(this.done === undefined ? this.tail : undefined);
  }
}
