// X keysyms → QEMU key codes (QKeyCode names of input-send-event) for a US keyboard layout in the
// guest. A VM has a physical keyboard, so only what a US keyboard can type is typeable; anything
// else answers 1002.
import { KEYSYMS } from '../keysyms.ts';

export interface QKey {
  qcode: string;
  shift: boolean;
}

const MAP = new Map<number, QKey>();

function add(keysymName: string, qcode: string, shift = false): void {
  const keysym = KEYSYMS[keysymName];
  if (keysym === undefined) throw new Error(`no keysym ${keysymName}`);
  MAP.set(keysym, { qcode, shift });
}

for (const c of 'abcdefghijklmnopqrstuvwxyz') {
  add(c, c);
  add(c.toUpperCase(), c, true);
}
const digits = '0123456789';
const shiftedNames = [
  'parenright',
  'exclam',
  'at',
  'numbersign',
  'dollar',
  'percent',
  'asciicircum',
  'ampersand',
  'asterisk',
  'parenleft',
];
for (let i = 0; i < 10; i++) {
  add(digits[i]!, digits[i]!);
  add(shiftedNames[i]!, digits[i]!, true);
}
for (const [plain, qcode, shiftedName] of [
  ['minus', 'minus', 'underscore'],
  ['equal', 'equal', 'plus'],
  ['bracketleft', 'bracket_left', 'braceleft'],
  ['bracketright', 'bracket_right', 'braceright'],
  ['semicolon', 'semicolon', 'colon'],
  ['apostrophe', 'apostrophe', 'quotedbl'],
  ['grave', 'grave_accent', 'asciitilde'],
  ['backslash', 'backslash', 'bar'],
  ['comma', 'comma', 'less'],
  ['period', 'dot', 'greater'],
  ['slash', 'slash', 'question'],
] as const) {
  add(plain, qcode);
  add(shiftedName, qcode, true);
}
for (const [name, qcode] of [
  ['space', 'spc'],
  ['Return', 'ret'],
  ['KP_Enter', 'kp_enter'],
  ['Escape', 'esc'],
  ['Tab', 'tab'],
  ['BackSpace', 'backspace'],
  ['Delete', 'delete'],
  ['Insert', 'insert'],
  ['Home', 'home'],
  ['End', 'end'],
  ['Prior', 'pgup'],
  ['Next', 'pgdn'],
  ['Left', 'left'],
  ['Right', 'right'],
  ['Up', 'up'],
  ['Down', 'down'],
  ['Shift_L', 'shift'],
  ['Shift_R', 'shift_r'],
  ['Control_L', 'ctrl'],
  ['Control_R', 'ctrl_r'],
  ['Alt_L', 'alt'],
  ['Alt_R', 'alt_r'],
  ['Super_L', 'meta_l'],
  ['Super_R', 'meta_r'],
  ['Menu', 'menu'],
  ['Caps_Lock', 'caps_lock'],
  ['Num_Lock', 'num_lock'],
  ['Scroll_Lock', 'scroll_lock'],
  ['Print', 'print'],
  ['Pause', 'pause'],
  ['KP_Add', 'kp_add'],
  ['KP_Subtract', 'kp_subtract'],
  ['KP_Multiply', 'kp_multiply'],
  ['KP_Divide', 'kp_divide'],
  ['KP_Decimal', 'kp_decimal'],
] as const) {
  add(name, qcode);
}
for (let i = 0; i <= 9; i++) add(`KP_${i}`, `kp_${i}`);
for (let i = 1; i <= 12; i++) add(`F${i}`, `f${i}`);

export function qemuKey(keysym: number): QKey | undefined {
  return MAP.get(keysym);
}
