// Key names (X keysyms, pyautogui/xdotool/Playwright spellings, characters, combos) and the PNG
// encoder of the vm backend: pure functions, no Docker needed.
import { describe, expect, test } from 'bun:test';
import { ParameterError } from '../src/core/errors.ts';
import { keysymForChar, resolveCombo, resolveKey } from '../src/backends/vm/keys.ts';
import { encodePng } from '../src/backends/vm/png.ts';
import { qemuKey } from '../src/backends/vm/drivers/qemu-keys.ts';
import { decodePng } from './fixtures/vm/docker.ts';

describe('key names', () => {
  test('X keysym names, exactly and in any case', () => {
    expect(resolveKey('Return')).toBe(0xff0d);
    expect(resolveKey('return')).toBe(0xff0d);
    expect(resolveKey('KP_Enter')).toBe(0xff8d);
    expect(resolveKey('kp_enter')).toBe(0xff8d);
    expect(resolveKey('F12')).toBe(0xffc9);
    expect(resolveKey('XF86AudioMute')).toBe(0x1008ff12);
  });

  test('common spellings of pyautogui, xdotool and Playwright', () => {
    const same: [string, string][] = [
      ['enter', 'Return'],
      ['esc', 'Escape'],
      ['ctrl', 'Control_L'],
      ['Control', 'Control_L'],
      ['cmd', 'Super_L'],
      ['win', 'Super_L'],
      ['super', 'Super_L'],
      ['alt', 'Alt_L'],
      ['option', 'Alt_L'],
      ['shift', 'Shift_L'],
      ['pgdn', 'Next'],
      ['pageup', 'Prior'],
      ['ArrowUp', 'Up'],
      ['backspace', 'BackSpace'],
      ['del', 'Delete'],
      ['space', 'space'],
      ['printscreen', 'Print'],
      ['num5', 'KP_5'],
      ['volumeup', 'XF86AudioRaiseVolume'],
    ];
    for (const [alias, name] of same)
      expect([alias, resolveKey(alias)]).toEqual([alias, resolveKey(name)]);
  });

  test('single characters keep their case; other characters map to Unicode keysyms', () => {
    expect(resolveKey('a')).toBe(0x61);
    expect(resolveKey('A')).toBe(0x41);
    expect(resolveKey('+')).toBe(0x2b);
    expect(resolveKey('é')).toBe(0xe9);
    expect(resolveKey('€')).toBe(0x010020ac);
    expect(keysymForChar('\n')).toBe(0xff0d);
    expect(keysymForChar('\t')).toBe(0xff09);
    expect(keysymForChar('\u0007')).toBeUndefined();
  });

  test('combos with + or -', () => {
    expect(resolveCombo('ctrl+c')).toEqual([0xffe3, 0x63]);
    expect(resolveCombo('ctrl+shift+T')).toEqual([0xffe3, 0xffe1, 0x54]);
    expect(resolveCombo('ctrl-alt-Delete')).toEqual([0xffe3, 0xffe9, 0xffff]);
    expect(resolveCombo('ctrl++')).toEqual([0xffe3, 0x2b]);
    expect(resolveCombo('-')).toEqual([0x2d]);
    expect(resolveCombo('Return')).toEqual([0xff0d]);
  });

  test('unknown names are parameter errors (1002)', () => {
    for (const name of ['nosuchkey', 'ctrl+nosuchkey', 'ctrl+', 'F99', '']) {
      let err: unknown;
      try {
        resolveCombo(name);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ParameterError);
      expect((err as ParameterError).code).toBe(1002);
    }
  });

  test('the qemu driver types what a US keyboard can', () => {
    expect(qemuKey(resolveKey('a'))).toEqual({ qcode: 'a', shift: false });
    expect(qemuKey(resolveKey('A'))).toEqual({ qcode: 'a', shift: true });
    expect(qemuKey(resolveKey('!'))).toEqual({ qcode: '1', shift: true });
    expect(qemuKey(resolveKey('enter'))).toEqual({ qcode: 'ret', shift: false });
    expect(qemuKey(resolveKey('é'))).toBeUndefined();
  });
});

describe('PNG encoder', () => {
  test('BGRX and RGB pixels round-trip through our encoder and a standard inflate', () => {
    const width = 37;
    const height = 11;
    const bgrx = new Uint8Array(width * height * 4);
    const rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        // Rows 4..6 repeat row 3, so both scanline kinds (unfiltered, Up) are exercised.
        const yy = y >= 4 && y <= 6 ? 3 : y;
        const [r, g, b] = [(x * 7 + yy) & 255, (yy * 31) & 255, (x * yy) & 255];
        bgrx.set([b, g, r, 0], (y * width + x) * 4);
        rgb.set([r, g, b], (y * width + x) * 3);
      }
    }
    const expected = Buffer.from(rgb);
    for (const png of [
      encodePng(bgrx, width, height, width * 4),
      encodePng(rgb, width, height, width * 3, 9, 'rgb'),
    ]) {
      const decoded = decodePng(png);
      expect([decoded.width, decoded.height]).toEqual([width, height]);
      expect(Buffer.concat(decoded.rows).equals(expected)).toBe(true);
    }
  });
});
