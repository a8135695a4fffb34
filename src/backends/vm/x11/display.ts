// X11Display: screenshots and input on one X server through our own protocol client. Input goes
// through XTEST as one batch of requests followed by a single round trip, so a click costs about
// one socket round trip; screenshots are one GetImage, encoded in a worker thread.
import { BackendError } from '../../../core/errors.ts';
import type { InputEvent, Screenshot } from '../desktop.ts';
import type { ScreenshotEncoder } from '../encoder.ts';
import { FakeEvent, X11Connection } from './connection.ts';
import { Keymap } from './keymap.ts';

const SHIFT_L = 0xffe1;
const SHIFT_R = 0xffe2;
/** How long X clients get to re-read the keymap before we rebind spare keycodes again. */
const REBIND_PAUSE_MS = 30;
/** How long they get to see a keycode newly bound before it is pressed. */
const MAPPING_SETTLE_MS = 10;

export interface DisplayOptions {
  /** PNG deflate level. */
  pngLevel: number;
  /** Keep the last frame and fetch only what DAMAGE reports as redrawn (see screenshot()). */
  damageTracking?: boolean;
}

interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export class X11Display {
  private keymap: Keymap | undefined;
  private loadingKeymap: Promise<Keymap> | undefined;
  /** MappingNotify events our own rebinds will cause (not a reason to re-read the keymap). */
  private ownMappingChanges = 0;
  /** Keycodes we hold down, and those for which we pressed Shift ourselves. */
  private readonly held = new Set<number>();
  private readonly autoShift = new Set<number>();
  /** With DAMAGE: the last frame (BGRX), what was drawn since, and encodings of it. */
  private tracking = false;
  private frame: Buffer | undefined;
  private dirty: Rect | undefined;
  private readonly encoded = new Map<string, Promise<Screenshot>>();

  private constructor(
    private readonly conn: X11Connection,
    private readonly encoder: ScreenshotEncoder,
    private readonly options: DisplayOptions,
  ) {
    conn.onDamage = (x, y, w, h) => {
      const d = this.dirty;
      this.dirty = d
        ? {
            x0: Math.min(d.x0, x),
            y0: Math.min(d.y0, y),
            x1: Math.max(d.x1, x + w),
            y1: Math.max(d.y1, y + h),
          }
        : { x0: x, y0: y, x1: x + w, y1: y + h };
      this.encoded.clear();
    };
    conn.onMappingNotify = (request) => {
      if (request !== 1) return; // modifier or pointer mapping: the keymap is unchanged
      if (this.ownMappingChanges > 0) this.ownMappingChanges--;
      else this.keymap = undefined;
    };
  }

  static async open(
    socketPath: string,
    encoder: ScreenshotEncoder,
    options: DisplayOptions,
    timeoutMs = 5000,
  ): Promise<X11Display> {
    const conn = await X11Connection.open(socketPath, timeoutMs);
    try {
      await conn.initXTest();
      const bpp = conn.setup.bitsPerPixel.get(conn.screen.rootDepth);
      if (conn.screen.rootDepth !== 24 || bpp !== 32) {
        throw new BackendError(
          `The X server runs at depth ${conn.screen.rootDepth} (${bpp} bits per pixel); ` +
            'screenshots need depth 24 (start Xvfb with -screen 0 WxHx24).',
        );
      }
    } catch (err) {
      conn.close();
      throw err;
    }
    const display = new X11Display(conn, encoder, options);
    if (options.damageTracking) display.tracking = await conn.initDamage().catch(() => false);
    return display;
  }

  get width(): number {
    return this.conn.screen.width;
  }

  get height(): number {
    return this.conn.screen.height;
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  /** Called once when the X server goes away (its container died). */
  onClose(fn: () => void): void {
    this.conn.onClose = fn;
  }

  close(): void {
    this.conn.close();
  }

  async screenshot(format: 'png' | 'jpeg', quality: number): Promise<Screenshot> {
    if (!this.tracking) {
      const { data } = await this.conn.getImage(0, 0, this.width, this.height);
      return this.encode(data, format, quality);
    }
    await this.refreshFrame();
    // Nothing drawn since the last screenshot of this format: the same image, no work at all.
    const key = `${format}:${quality}`;
    let shot = this.encoded.get(key);
    if (!shot) {
      shot = this.encode(Buffer.from(this.frame!), format, quality);
      this.encoded.set(key, shot);
      shot.catch(() => this.encoded.delete(key));
    }
    return shot;
  }

  /**
   * Brings the kept frame up to date: fetches only the bounding box of what was drawn since the
   * last fetch. The damage is emptied (DamageSubtract) in the same write as the GetImage, so
   * anything drawn after it raises a new DamageNotify and is fetched next time.
   */
  private async refreshFrame(): Promise<void> {
    const { width, height } = this;
    // A round trip first: every DamageNotify the server sent before it is then read, so drawing
    // finished before this call (a program run by vm:exec) is never missed.
    await this.conn.sync();
    if (this.frame && !this.dirty) return;
    const d = this.frame ? this.dirty! : { x0: 0, y0: 0, x1: width, y1: height };
    const x0 = Math.max(0, d.x0);
    const y0 = Math.max(0, d.y0);
    const x1 = Math.min(width, d.x1);
    const y1 = Math.min(height, d.y1);
    this.dirty = undefined;
    this.encoded.clear();
    if (x1 <= x0 || y1 <= y0) {
      await this.conn.sync([this.conn.damageSubtract()]);
      return;
    }
    const w = x1 - x0;
    const { data } = await this.conn.getImage(x0, y0, w, y1 - y0, [this.conn.damageSubtract()]);
    if (!this.frame || w === width) {
      if (!this.frame) this.frame = Buffer.alloc(width * height * 4);
      data.copy(this.frame, y0 * width * 4);
      return;
    }
    for (let row = 0; row < y1 - y0; row++) {
      data.copy(this.frame, ((y0 + row) * width + x0) * 4, row * w * 4, (row + 1) * w * 4);
    }
  }

  private async encode(data: Buffer, format: 'png' | 'jpeg', quality: number): Promise<Screenshot> {
    const { width, height } = this;
    const encoded = await this.encoder.encode({ data, width, height, stride: width * 4 }, format, {
      quality,
      level: this.options.pngLevel,
    });
    return { image: encoded.image, format, width, height };
  }

  /**
   * Waits until the root window has property `name` (the desktop's start script sets it once
   * its window manager and first programs are up); false when `deadline` passes first.
   */
  async waitForRootProperty(name: string, deadline: number): Promise<boolean> {
    let atom = 0;
    for (;;) {
      atom ||= await this.conn.internAtom(name);
      if (atom && (await this.conn.getRootProperty(atom))) return true;
      if (Date.now() >= deadline) return false;
      await Bun.sleep(20);
    }
  }

  async cursor(): Promise<{ x: number; y: number }> {
    const { x, y } = await this.conn.queryPointer();
    return { x, y };
  }

  private async loadKeymap(): Promise<Keymap> {
    if (this.keymap) return this.keymap;
    this.loadingKeymap ??= this.conn
      .getKeyboardMapping()
      .then(({ perKeycode, keysyms }) => {
        this.keymap = new Keymap(this.conn.setup.minKeycode, perKeycode, keysyms);
        return this.keymap;
      })
      .finally(() => (this.loadingKeymap = undefined));
    return this.loadingKeymap;
  }

  private shiftHeld(keymap: Keymap): boolean {
    for (const keysym of [SHIFT_L, SHIFT_R]) {
      const stroke = keymap.lookup(keysym);
      if (stroke && this.held.has(stroke.keycode)) return true;
    }
    return false;
  }

  async input(events: readonly InputEvent[], signal?: AbortSignal): Promise<void> {
    let keymap = await this.loadKeymap();
    let batch: Buffer[] = [];
    /** Spare keycodes this batch relies on: they must not be rebound before it is sent. */
    let pinned = new Set<number>();
    const flush = async () => {
      const requests = batch;
      batch = [];
      pinned = new Set();
      await this.conn.sync(requests);
    };

    for (const ev of events) {
      if (signal?.aborted) break;
      if (ev.kind === 'pause') {
        await flush();
        await Bun.sleep(ev.ms);
        continue;
      }
      if (ev.kind === 'move') {
        batch.push(this.conn.fakeInput(FakeEvent.MotionNotify, 0, ev.x, ev.y));
        continue;
      }
      if (ev.kind === 'button') {
        const type = ev.down ? FakeEvent.ButtonPress : FakeEvent.ButtonRelease;
        batch.push(this.conn.fakeInput(type, ev.button));
        continue;
      }
      if (!ev.down) {
        const stroke = keymap.lookup(ev.keysym);
        if (!stroke || !this.held.has(stroke.keycode)) continue; // never pressed: nothing to do
        batch.push(this.conn.fakeInput(FakeEvent.KeyRelease, stroke.keycode));
        this.held.delete(stroke.keycode);
        if (this.autoShift.delete(stroke.keycode)) {
          const shift = keymap.lookup(SHIFT_L)!;
          batch.push(this.conn.fakeInput(FakeEvent.KeyRelease, shift.keycode));
          this.held.delete(shift.keycode);
        }
        continue;
      }
      let stroke = keymap.lookup(ev.keysym);
      if (!stroke) {
        // Not on the layout: bind it to a spare keycode first, and let clients see the change.
        let keycode = keymap.bind(ev.keysym, new Set([...pinned, ...this.held]));
        if (keycode === undefined) {
          await flush();
          await Bun.sleep(REBIND_PAUSE_MS);
          keymap = await this.loadKeymap();
          keycode = keymap.bind(ev.keysym, this.held);
        }
        if (keycode === undefined) {
          throw new BackendError('Every spare keycode is held down; release keys (vm:key_up).');
        }
        await flush();
        this.ownMappingChanges++;
        await this.conn.sync([this.conn.changeKeyboardMapping(keycode, [ev.keysym, ev.keysym])]);
        // Clients re-read the keymap when its MappingNotify reaches them: a press sent at once
        // can beat that and be read with the old mapping (no keysym at all).
        await Bun.sleep(MAPPING_SETTLE_MS);
        stroke = { keycode, shift: false };
      }
      pinned.add(stroke.keycode);
      keymap.touch(stroke.keycode);
      if (stroke.shift && !this.shiftHeld(keymap)) {
        const shift = keymap.lookup(SHIFT_L);
        if (shift) {
          batch.push(this.conn.fakeInput(FakeEvent.KeyPress, shift.keycode));
          this.held.add(shift.keycode);
          this.autoShift.add(stroke.keycode);
        }
      }
      batch.push(this.conn.fakeInput(FakeEvent.KeyPress, stroke.keycode));
      this.held.add(stroke.keycode);
    }
    await flush();
  }
}
