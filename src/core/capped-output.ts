// Output kept up to a byte limit, the rest cut and flagged: what a command's stdout or stderr
// returns (bash:run, vm:exec). Small pieces are packed into shared blocks, so output that arrives
// a byte at a time costs about what it weighs, not an object per piece.
const BLOCK = 16 * 1024;

export class CappedOutput {
  /** Full blocks (and large pieces, kept as they came). */
  private readonly parts: Uint8Array[] = [];
  /** The block small pieces are copied into, and how much of it is used. */
  private block: Buffer | undefined;
  private used = 0;
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const room = this.limit - this.size;
    if (room <= 0) {
      this.truncated = true;
      return;
    }
    const part = bytes.length > room ? bytes.subarray(0, room) : bytes;
    if (part.length < bytes.length) this.truncated = true;
    this.size += part.length;
    // Always a copy: the caller may reuse the chunk's memory.
    if (part.length >= BLOCK) {
      this.seal();
      this.parts.push(Uint8Array.prototype.slice.call(part));
      return;
    }
    if (!this.block || this.used + part.length > this.block.length) {
      this.seal();
      this.block = Buffer.allocUnsafe(Math.min(BLOCK, Math.max(part.length, room)));
    }
    this.block.set(part, this.used);
    this.used += part.length;
  }

  /** Moves the block in use to the full ones. */
  private seal(): void {
    if (this.block && this.used > 0) this.parts.push(this.block.subarray(0, this.used));
    this.block = undefined;
    this.used = 0;
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** The kept bytes, emptying the buffer (output held between two commands goes to the next). */
  take(): Buffer {
    this.seal();
    const all = Buffer.concat(this.parts);
    this.parts.length = 0;
    this.size = 0;
    return all;
  }

  /** The kept bytes as UTF-8, followed by `extra` (bytes not yet decided on, shown as they are). */
  text(extra?: Uint8Array): string {
    this.seal();
    const parts = extra && extra.length > 0 ? [...this.parts, extra] : this.parts;
    return Buffer.concat(parts).toString('utf8');
  }
}
