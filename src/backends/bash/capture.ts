// Captures one command's output from a long-lived pipe: keeps up to `limit` bytes, and finds the
// end-of-command marker the shell prints after the command (which may straddle chunk boundaries).

export class StreamCapture {
  private readonly kept: Uint8Array[] = [];
  private size = 0;
  truncated = false;
  /** Bytes that may be the start of the marker, held back until the next chunk decides. */
  private tail: Buffer = Buffer.alloc(0);
  /** Bytes after the marker, up to its terminating NUL (the trailer: exit code and cwd). */
  private trailer: Buffer | undefined;
  /** Set once the marker and its trailer have arrived. */
  done: string | undefined;

  constructor(
    private readonly marker: Buffer,
    private readonly limit: number,
  ) {}

  /** Feeds bytes; returns what arrived after the marker's trailer (output of later activity). */
  push(chunk: Uint8Array): Buffer | undefined {
    if (this.done !== undefined) return Buffer.from(chunk);
    if (this.trailer !== undefined) return this.pushTrailer(Buffer.from(chunk));
    const data = this.tail.length > 0 ? Buffer.concat([this.tail, chunk]) : Buffer.from(chunk);
    const at = data.indexOf(this.marker);
    if (at >= 0) {
      this.keep(data.subarray(0, at));
      this.tail = Buffer.alloc(0);
      this.trailer = Buffer.alloc(0);
      return this.pushTrailer(data.subarray(at + this.marker.length));
    }
    const safe = Math.max(0, data.length - (this.marker.length - 1));
    this.keep(data.subarray(0, safe));
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

  private keep(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const room = this.limit - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (part.length < bytes.length) this.truncated = true;
    // Copy: the caller may reuse the chunk's memory.
    this.kept.push(Uint8Array.prototype.slice.call(part));
    this.size += part.length;
  }

  /** The output so far, including bytes held back as a possible marker start. */
  text(): string {
    const parts =
      this.done === undefined && this.tail.length > 0 ? [...this.kept, this.tail] : this.kept;
    return Buffer.concat(parts).toString('utf8');
  }
}
