// Key names → X keysyms. Agents write keys the way their tool taught them: X keysym names
// (`Return`, `ctrl` as xdotool spells it), pyautogui names (`enter`, `pgdn`, `win`), Playwright
// names (`ArrowUp`, `Control`), single characters, and combos like `ctrl+shift+t`. The table of
// accepted spellings is documented in src/backends/vm/README.md.
import { ParameterError } from '../../core/errors.ts';
import { KEYSYMS } from './keysyms.ts';

/** Lower-case alias → X keysym name. */
const ALIASES: Readonly<Record<string, string>> = {
  ctrl: 'Control_L',
  control: 'Control_L',
  ctrlleft: 'Control_L',
  lctrl: 'Control_L',
  ctrlright: 'Control_R',
  rctrl: 'Control_R',
  alt: 'Alt_L',
  altleft: 'Alt_L',
  lalt: 'Alt_L',
  option: 'Alt_L',
  optionleft: 'Alt_L',
  altright: 'Alt_R',
  ralt: 'Alt_R',
  optionright: 'Alt_R',
  altgr: 'ISO_Level3_Shift',
  shift: 'Shift_L',
  shiftleft: 'Shift_L',
  lshift: 'Shift_L',
  shiftright: 'Shift_R',
  rshift: 'Shift_R',
  super: 'Super_L',
  win: 'Super_L',
  winleft: 'Super_L',
  windows: 'Super_L',
  cmd: 'Super_L',
  command: 'Super_L',
  meta: 'Super_L',
  winright: 'Super_R',
  enter: 'Return',
  return: 'Return',
  ret: 'Return',
  '\n': 'Return',
  '\r': 'Return',
  esc: 'Escape',
  escape: 'Escape',
  tab: 'Tab',
  '\t': 'Tab',
  space: 'space',
  spacebar: 'space',
  backspace: 'BackSpace',
  bksp: 'BackSpace',
  '\b': 'BackSpace',
  del: 'Delete',
  delete: 'Delete',
  ins: 'Insert',
  insert: 'Insert',
  home: 'Home',
  end: 'End',
  pageup: 'Prior',
  pgup: 'Prior',
  page_up: 'Prior',
  prior: 'Prior',
  pagedown: 'Next',
  pgdn: 'Next',
  page_down: 'Next',
  next: 'Next',
  up: 'Up',
  down: 'Down',
  left: 'Left',
  right: 'Right',
  arrowup: 'Up',
  arrowdown: 'Down',
  arrowleft: 'Left',
  arrowright: 'Right',
  capslock: 'Caps_Lock',
  numlock: 'Num_Lock',
  scrolllock: 'Scroll_Lock',
  print: 'Print',
  printscreen: 'Print',
  prtsc: 'Print',
  prtscr: 'Print',
  prntscrn: 'Print',
  pause: 'Pause',
  break: 'Break',
  menu: 'Menu',
  apps: 'Menu',
  contextmenu: 'Menu',
  clear: 'Clear',
  help: 'Help',
  select: 'Select',
  execute: 'Execute',
  num0: 'KP_0',
  num1: 'KP_1',
  num2: 'KP_2',
  num3: 'KP_3',
  num4: 'KP_4',
  num5: 'KP_5',
  num6: 'KP_6',
  num7: 'KP_7',
  num8: 'KP_8',
  num9: 'KP_9',
  add: 'KP_Add',
  subtract: 'KP_Subtract',
  multiply: 'KP_Multiply',
  divide: 'KP_Divide',
  decimal: 'KP_Decimal',
  separator: 'KP_Separator',
  plus: 'plus',
  minus: 'minus',
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
  sleep: 'XF86Sleep',
  // The rest of pyautogui's key names (upstream checks keys against that list).
  browserfavorites: 'XF86Favorites',
  browserstop: 'XF86Stop',
  launchmail: 'XF86Mail',
  launchmediaselect: 'XF86AudioMedia',
  // Windows' "application 1 / 2" keys are My Computer and Calculator on keyboards (HID AL usages).
  launchapp1: 'XF86MyComputer',
  launchapp2: 'XF86Calculator',
  convert: 'Henkan',
  nonconvert: 'Muhenkan',
  kana: 'Hiragana_Katakana',
  modechange: 'Mode_switch',
  hangul: 'Hangul',
  hanguel: 'Hangul',
  hanja: 'Hangul_Hanja',
  junja: 'Hangul_Jeonja',
  fn: 'XF86Fn',
};

/**
 * Keysyms outside the sections keysyms.ts is generated from: the Korean mode keys (keysymdef.h,
 * XK_KOREAN) and XF86Fn (XF86keysym.h defines it through its evdev range, which the generator skips).
 */
const EXTRA_KEYSYMS: Readonly<Record<string, number>> = {
  Hangul: 0xff31,
  Hangul_Hanja: 0xff34,
  Hangul_Jeonja: 0xff38,
  XF86Fn: 0x10081000 + 0x1d0,
};

/** pyautogui key names no X keysym stands for, and why (answered as 1002 with the reason). */
const NO_X_KEYSYM: Readonly<Record<string, string>> = {
  accept:
    'Windows input-method key VK_ACCEPT; X has no keysym for it (an X input method is driven ' +
    'by its own keys, e.g. Henkan, Muhenkan, Hangul)',
  final: 'Windows input-method key VK_FINAL (final-character mode); X has no keysym for it',
};

/** Multi-character keysym names by their lower-case spelling (`kp_enter` → `KP_Enter`). */
const LOWER_NAMES: ReadonlyMap<string, number> = (() => {
  const map = new Map<string, number>();
  for (const [name, value] of [...Object.entries(KEYSYMS), ...Object.entries(EXTRA_KEYSYMS)]) {
    if (name.length > 1 && !map.has(name.toLowerCase())) map.set(name.toLowerCase(), value);
  }
  return map;
})();

for (let i = 1; i <= 24; i++) {
  if (KEYSYMS[`F${i}`] === undefined) throw new Error(`keysyms.ts lacks F${i}`);
}

/** The keysym that types `char` (one Unicode code point); undefined for control characters. */
export function keysymForChar(char: string): number | undefined {
  const alias = ALIASES[char];
  if (alias) return KEYSYMS[alias];
  const cp = char.codePointAt(0)!;
  if ((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xff)) return cp;
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return undefined;
  return 0x01000000 + cp;
}

/** One key name → keysym, or undefined when nothing matches. */
function lookup(name: string): number | undefined {
  // Spellings first: `multiply` is pyautogui's keypad key, not the Latin-1 keysym × of that name.
  const alias = ALIASES[name.toLowerCase()];
  if (alias) return KEYSYMS[alias] ?? EXTRA_KEYSYMS[alias];
  const exact = KEYSYMS[name] ?? EXTRA_KEYSYMS[name];
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  const named = LOWER_NAMES.get(lower);
  if (named !== undefined) return named;
  if ([...name].length === 1) return keysymForChar(name);
  if (/^0x[0-9a-f]{1,8}$/i.test(name)) return Number.parseInt(name.slice(2), 16);
  return undefined;
}

function unknown(name: string): ParameterError {
  const why = NO_X_KEYSYM[name.toLowerCase()];
  if (why) return new ParameterError(`The key "${name}" cannot be pressed here: ${why}.`);
  return new ParameterError(
    `Unknown key name "${name}". Use an X keysym name (Return, Escape, F5, Control_L, a), a ` +
      'common spelling (enter, esc, ctrl, alt, shift, cmd, win, pgdn, up), or one character.',
  );
}

/** Resolves one key; throws 1002 for an unknown name. */
export function resolveKey(name: string): number {
  const keysym = lookup(name);
  if (keysym === undefined) throw unknown(name);
  return keysym;
}

/**
 * Resolves a key or a combo: `ctrl+c` (also `ctrl-c` when not itself a key name) gives the
 * keysyms to press in order. A lone `+` or `-` is the key itself.
 */
export function resolveCombo(spec: string): number[] {
  const single = lookup(spec);
  if (single !== undefined) return [single];
  for (const sep of ['+', '-']) {
    if (!spec.includes(sep)) continue;
    const parts = spec.split(sep).map((p) => p.trim());
    // `ctrl++` means ctrl and plus.
    for (let i = parts.length - 1; i > 0; i--) {
      if (parts[i] === '' && parts[i - 1] === '') parts.splice(i - 1, 2, sep);
    }
    if (parts.some((p) => p === '')) throw unknown(spec);
    return parts.map(resolveKey);
  }
  throw unknown(spec);
}
