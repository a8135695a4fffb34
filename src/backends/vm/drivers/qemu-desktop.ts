// A QEMU VM as a Desktop: screenshots through QMP `screendump` (PPM, encoded by the shared
// workers), input through `input-send-event` (usb-tablet absolute pointer, PS/2 keyboard).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BackendError, ParameterError } from '../../../core/errors.ts';
import type { Desktop, ExecResult, InputEvent, Screenshot } from '../desktop.ts';
import type { ScreenshotEncoder } from '../encoder.ts';
import type { QmpClient } from './qmp.ts';
import { qemuKey } from './qemu-keys.ts';

export interface QemuDesktopEnv {
  encoder: ScreenshotEncoder;
  pngLevel: number;
}

/** Key events sent at once, and the pause after them (see QemuDesktop.input). */
const KEYS_PER_BURST = 4;
const KEY_BURST_PAUSE_MS = 20;
/** QEMU's absolute pointer axes run 0..0x7fff whatever the screen size. */
const ABS_MAX = 0x7fff;
const BUTTON_NAMES: Record<number, string> = {
  1: 'left',
  2: 'middle',
  3: 'right',
  4: 'wheel-up',
  5: 'wheel-down',
  6: 'wheel-left',
  7: 'wheel-right',
};

/** Parses a binary PPM (P6, maxval 255): QEMU's default screendump format. */
function parsePpm(ppm: Buffer): { width: number; height: number; data: Uint8Array } {
  const fields: string[] = [];
  let at = 0;
  while (fields.length < 4) {
    while (/\s/.test(String.fromCharCode(ppm[at]!))) at++;
    const start = at;
    while (!/\s/.test(String.fromCharCode(ppm[at]!))) at++;
    fields.push(ppm.toString('latin1', start, at));
  }
  at++; // the single whitespace after maxval
  const [magic, w, h] = fields;
  if (magic !== 'P6') throw new BackendError('QEMU wrote a screendump that is not a P6 PPM');
  const width = Number(w);
  const height = Number(h);
  return { width, height, data: ppm.subarray(at, at + width * height * 3) };
}

export class QemuDesktop implements Desktop {
  width = 0;
  height = 0;
  private pointer = { x: 0, y: 0 };
  /** Keys we hold down (qcodes), and those for which we pressed Shift ourselves. */
  private readonly held = new Set<string>();
  private readonly autoShift = new Set<string>();

  constructor(
    readonly dir: string,
    private readonly qmp: QmpClient,
    private readonly env: QemuDesktopEnv,
  ) {}

  get alive(): boolean {
    return !this.qmp.closed;
  }

  /** Grabs the screen as raw RGB and learns its size (the guest picks its video mode). */
  async grab(): Promise<{ width: number; height: number; data: Uint8Array }> {
    const file = join(this.dir, 'screen.ppm');
    await this.qmp.execute('screendump', { filename: file });
    const frame = parsePpm(await readFile(file));
    this.width = frame.width;
    this.height = frame.height;
    return frame;
  }

  async screenshot(format: 'png' | 'jpeg', quality: number): Promise<Screenshot> {
    const { width, height, data } = await this.grab();
    const encoded = await this.env.encoder.encode(
      { data, width, height, stride: width * 3, layout: 'rgb' },
      format,
      { quality, level: this.env.pngLevel },
    );
    return { image: encoded.image, format, width, height };
  }

  async input(events: readonly InputEvent[], signal?: AbortSignal): Promise<void> {
    let batch: unknown[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const list = batch;
      batch = [];
      await this.qmp.execute('input-send-event', { events: list });
    };
    let keys = 0;
    const key = async (qcode: string, down: boolean) => {
      batch.push({ type: 'key', data: { down, key: { type: 'qcode', data: qcode } } });
      // The emulated PS/2 keyboard queues only 16 bytes: pace keys so the guest keeps up.
      if (++keys % KEYS_PER_BURST === 0) {
        await flush();
        await Bun.sleep(KEY_BURST_PAUSE_MS);
      }
    };

    for (const ev of events) {
      if (signal?.aborted) break;
      if (ev.kind === 'pause') {
        await flush();
        await Bun.sleep(ev.ms);
      } else if (ev.kind === 'move') {
        const scale = (v: number, size: number) =>
          Math.round((v * ABS_MAX) / Math.max(1, size - 1));
        batch.push(
          { type: 'abs', data: { axis: 'x', value: scale(ev.x, this.width) } },
          { type: 'abs', data: { axis: 'y', value: scale(ev.y, this.height) } },
        );
        this.pointer = { x: ev.x, y: ev.y };
      } else if (ev.kind === 'button') {
        batch.push({ type: 'btn', data: { down: ev.down, button: BUTTON_NAMES[ev.button] } });
      } else {
        const k = qemuKey(ev.keysym);
        if (!k) {
          throw new ParameterError(
            `Key 0x${ev.keysym.toString(16)} cannot be typed on the qemu driver: a VM has a US ` +
              'keyboard, so only what it can type is available (letters, digits, ASCII symbols, ' +
              'function and navigation keys).',
          );
        }
        if (ev.down) {
          if (k.shift && !this.held.has('shift') && !this.held.has('shift_r')) {
            await key('shift', true);
            this.held.add('shift');
            this.autoShift.add(k.qcode);
          }
          await key(k.qcode, true);
          this.held.add(k.qcode);
        } else if (this.held.has(k.qcode)) {
          await key(k.qcode, false);
          this.held.delete(k.qcode);
          if (this.autoShift.delete(k.qcode)) {
            await key('shift', false);
            this.held.delete('shift');
          }
        }
      }
    }
    await flush();
  }

  async cursor(): Promise<{ x: number; y: number }> {
    // A VM has no pointer query; the tablet sits where we last put it.
    return { ...this.pointer };
  }

  async exec(): Promise<ExecResult> {
    throw new ParameterError(
      'vm:exec is not supported by the qemu driver: the guest runs no agent to execute commands.',
    );
  }

  close(): void {
    this.qmp.close();
  }
}
