// Output kept up to a byte limit, the rest cut and flagged: what a command's stdout or stderr
// returns (bash:run, vm:exec).
export class CappedOutput {
  private readonly parts: Uint8Array[] = [];
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
    // A copy: the caller may reuse the chunk's memory.
    this.parts.push(Uint8Array.prototype.slice.call(part));
    this.size += part.length;
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** The kept bytes, emptying the buffer (output held between two commands goes to the next). */
  take(): Buffer {
    const all = Buffer.concat(this.parts);
    this.parts.length = 0;
    this.size = 0;
    return all;
  }

  /** The kept bytes as UTF-8, followed by `extra` (bytes not yet decided on, shown as they are). */
  text(extra?: Uint8Array): string {
    const parts = extra && extra.length > 0 ? [...this.parts, extra] : this.parts;
    return Buffer.concat(parts).toString('utf8');
  }
}
