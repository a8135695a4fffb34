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

/**
 * Every key name upstream accepts (pyautogui's KEYBOARD_KEYS, which upstream checks keys against)
 * and what it is here: the X keysym it presses, or null for a 1002 whose message says why.
 */
const UPSTREAM_KEYS: Record<string, string | null> = {
  // Characters: tab, newline, carriage return, and printable ASCII but the capital letters.
  '\t': 'Tab',
  '\n': 'Return',
  '\r': 'Return',
  ...Object.fromEntries(
    Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i))
      .filter((c) => !/[A-Z]/.test(c))
      .map((c) => [c, c]),
  ),
  ...Object.fromEntries(Array.from({ length: 24 }, (_, i) => [`f${i + 1}`, `F${i + 1}`])),
  ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`num${i}`, `KP_${i}`])),
  add: 'KP_Add',
  subtract: 'KP_Subtract',
  multiply: 'KP_Multiply',
  divide: 'KP_Divide',
  decimal: 'KP_Decimal',
  separator: 'KP_Separator',
  alt: 'Alt_L',
  altleft: 'Alt_L',
  altright: 'Alt_R',
  option: 'Alt_L',
  optionleft: 'Alt_L',
  optionright: 'Alt_R',
  ctrl: 'Control_L',
  ctrlleft: 'Control_L',
  ctrlright: 'Control_R',
  shift: 'Shift_L',
  shiftleft: 'Shift_L',
  shiftright: 'Shift_R',
  win: 'Super_L',
  winleft: 'Super_L',
  winright: 'Super_R',
  command: 'Super_L',
  fn: 'XF86Fn',
  enter: 'Return',
  return: 'Return',
  tab: 'Tab',
  esc: 'Escape',
  escape: 'Escape',
  backspace: 'BackSpace',
  del: 'Delete',
  delete: 'Delete',
  insert: 'Insert',
  home: 'Home',
  end: 'End',
  pageup: 'Prior',
  pgup: 'Prior',
  pagedown: 'Next',
  pgdn: 'Next',
  up: 'Up',
  down: 'Down',
  left: 'Left',
  right: 'Right',
  capslock: 'Caps_Lock',
  numlock: 'Num_Lock',
  scrolllock: 'Scroll_Lock',
  print: 'Print',
  printscreen: 'Print',
  prntscrn: 'Print',
  prtsc: 'Print',
  prtscr: 'Print',
  pause: 'Pause',
  apps: 'Menu',
  clear: 'Clear',
  help: 'Help',
  select: 'Select',
  execute: 'Execute',
  sleep: 'XF86Sleep',
  volumeup: 'XF86AudioRaiseVolume',
  volumedown: 'XF86AudioLowerVolume',
  volumemute: 'XF86AudioMute',
  playpause: 'XF86AudioPlay',
  nexttrack: 'XF86AudioNext',
  prevtrack: 'XF86AudioPrev',
  stop: 'XF86AudioStop',
  browserback: 'XF86Back',
  browserforward: 'XF86Forward',
  browserrefresh: 'XF86Refresh',
  browserhome: 'XF86HomePage',
  browsersearch: 'XF86Search',
  browserfavorites: 'XF86Favorites',
  browserstop: 'XF86Stop',
  launchmail: 'XF86Mail',
  launchmediaselect: 'XF86AudioMedia',
  launchapp1: 'XF86MyComputer',
  launchapp2: 'XF86Calculator',
  yen: 'yen',
  // Input-method keys.
  kanji: 'Kanji',
  kana: 'Hiragana_Katakana',
  convert: 'Henkan',
  nonconvert: 'Muhenkan',
  modechange: 'Mode_switch',
  hangul: 'Hangul',
  hanguel: 'Hangul',
  hanja: 'Hangul_Hanja',
  junja: 'Hangul_Jeonja',
  accept: null,
  final: null,
};

/** Keysym values of the names above that keysyms.ts does not carry. */
const VALUES: Record<string, number> = {
  Hangul: 0xff31,
  Hangul_Hanja: 0xff34,
  Hangul_Jeonja: 0xff38,
  XF86Fn: 0x100811d0,
};

describe("upstream's key names", () => {
  test('all 193 are listed, and each presses its keysym or is refused saying why', () => {
    expect(Object.keys(UPSTREAM_KEYS)).toHaveLength(193);
    for (const [name, keysym] of Object.entries(UPSTREAM_KEYS)) {
      if (keysym === null) {
        let err: unknown;
        try {
          resolveKey(name);
        } catch (e) {
          err = e;
        }
        expect({ name, code: (err as ParameterError).code }).toEqual({ name, code: 1002 });
        expect((err as Error).message).toContain('X has no keysym');
        continue;
      }
      const expected = VALUES[keysym] ?? resolveKey(keysym);
      expect({ name, keysym: resolveKey(name) }).toEqual({ name, keysym: expected });
      // Upstream compares lower-cased names: any case works here too.
      if (name.length > 1) expect([name, resolveKey(name.toUpperCase())]).toEqual([name, expected]);
    }
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
