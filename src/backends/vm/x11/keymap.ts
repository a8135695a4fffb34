// The X server's keyboard mapping seen from our side: which keycode (and whether Shift) types a
// keysym, and spare keycodes to bind keysyms the layout lacks (é, €, emoji), as xdotool does.
// Spare keycodes are reused least-recently-used, so one `type` call never rebinds a keycode it
// still needs while X clients catch up with the MappingNotify.

export interface KeyStroke {
  keycode: number;
  /** The keysym sits in column 1: Shift must be down. */
  shift: boolean;
}

export class Keymap {
  private readonly strokes = new Map<number, KeyStroke>();
  /** Keycodes with no keysym at all, least recently bound first. */
  private readonly spare: number[] = [];
  private readonly boundTo = new Map<number, number>();

  constructor(
    readonly minKeycode: number,
    readonly perKeycode: number,
    keysyms: Uint32Array,
  ) {
    const count = keysyms.length / perKeycode;
    for (let i = 0; i < count; i++) {
      const keycode = minKeycode + i;
      const row = keysyms.subarray(i * perKeycode, (i + 1) * perKeycode);
      if (row.every((k) => k === 0)) {
        this.spare.push(keycode);
        continue;
      }
      // Columns 0 and 1 are group 1 without and with Shift; later groups need layout switches.
      for (let col = 0; col < Math.min(2, perKeycode); col++) {
        const keysym = row[col]!;
        if (keysym !== 0 && !this.strokes.has(keysym)) {
          this.strokes.set(keysym, { keycode, shift: col === 1 });
        }
      }
      // A keycode with one keysym types it with and without Shift (e.g. Return, F1).
      if (perKeycode > 1 && row[1] === 0 && row[0] !== 0 && !this.strokes.has(row[0]!)) {
        this.strokes.set(row[0]!, { keycode, shift: false });
      }
    }
    // Prefer spare keycodes at the top (248..255 on a pc105 layout): nothing physical uses them.
    this.spare.reverse();
  }

  get spareCount(): number {
    return this.spare.length;
  }

  lookup(keysym: number): KeyStroke | undefined {
    return this.strokes.get(keysym);
  }

  /**
   * Binds `keysym` to the least recently used spare keycode, skipping `busy` ones; returns the
   * keycode, or undefined when every spare keycode is busy.
   */
  bind(keysym: number, busy: ReadonlySet<number>): number | undefined {
    const at = this.spare.findIndex((k) => !busy.has(k));
    if (at < 0) return undefined;
    const keycode = this.spare.splice(at, 1)[0]!;
    this.spare.push(keycode);
    const previous = this.boundTo.get(keycode);
    if (previous !== undefined) this.strokes.delete(previous);
    this.boundTo.set(keycode, keysym);
    this.strokes.set(keysym, { keycode, shift: false });
    return keycode;
  }

  /** Marks a bound keycode as just used (so it is rebound last). */
  touch(keycode: number): void {
    const at = this.spare.indexOf(keycode);
    if (at >= 0) this.spare.push(...this.spare.splice(at, 1));
  }
}
