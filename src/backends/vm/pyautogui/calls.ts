// The pyautogui functions vm:pyautogui runs, each bound to its argument names as pyautogui
// declares them (positional or keyword) and turned into the desktop's input events. Arguments are
// checked before anything runs: a wrong type, an unknown argument, a key name or a point outside
// the screen is a 1002 naming the call.
import { ParameterError } from '../../../core/errors.ts';
import type { Desktop, InputEvent } from '../desktop.ts';
import { keysymForChar, resolveKey } from '../keys.ts';
import type { Call, Value } from './parse.ts';

/** What a call does once its arguments are checked; `cursor` is read only when it needs it. */
export type Plan = (cursor: () => Promise<{ x: number; y: number }>) => Promise<InputEvent[]>;

interface Signature {
  /** Argument names in pyautogui's positional order. */
  params: readonly string[];
  /** Names accepted and ignored here (screenshots for logs, pyautogui's own pause). */
  ignored?: readonly string[];
  /** Takes any number of positional arguments (hotkey). */
  variadic?: boolean;
  plan(a: Args, desktop: Desktop): Plan;
}

const IGNORED = ['logScreenshot', '_pause', 'tween'];

class Args {
  constructor(
    readonly call: string,
    private readonly values: Record<string, Value | undefined>,
    readonly rest: Value[] = [],
  ) {}

  private bad(name: string, what: string): never {
    throw new ParameterError(`pyautogui.${this.call}: ${name} ${what}`);
  }

  has(name: string): boolean {
    return this.values[name] !== undefined && this.values[name] !== null;
  }

  raw(name: string): Value | undefined {
    return this.values[name] ?? undefined;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    const v = this.values[name];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.bad(name, 'must be a number');
    if (v < min || v > max) this.bad(name, `must be ${min}..${max} (got ${v})`);
    return v;
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    const v = this.number(name, fallback, min, max);
    if (!Number.isInteger(v)) this.bad(name, `must be a whole number (got ${v})`);
    return v;
  }

  string(name: string): string {
    const v = this.values[name];
    if (typeof v !== 'string') this.bad(name, 'must be a string');
    return v;
  }

  button(): number {
    const v = this.values.button ?? 'left';
    const b = BUTTON_NAMES[String(v).toLowerCase()];
    if (b === undefined) this.bad('button', `must be left, middle, right, primary or secondary`);
    return b;
  }
}

const BUTTON_NAMES: Record<string, number> = {
  left: 1,
  primary: 1,
  '1': 1,
  middle: 2,
  '2': 2,
  right: 3,
  secondary: 3,
  '3': 3,
};

/** Binds a call's arguments to the signature's names, as Python would (1002 when it would not). */
function bind(call: Call, sig: Signature): Args {
  const values: Record<string, Value | undefined> = {};
  const rest: Value[] = [];
  call.args.forEach((v, i) => {
    if (sig.variadic) rest.push(v);
    else if (i < sig.params.length) values[sig.params[i]!] = v;
    else {
      throw new ParameterError(
        `pyautogui.${call.name} takes at most ${sig.params.length} positional arguments ` +
          `(${sig.params.join(', ')}); ${call.args.length} were given`,
      );
    }
  });
  for (const [k, v] of Object.entries(call.kwargs)) {
    if ([...IGNORED, ...(sig.ignored ?? [])].includes(k)) continue;
    if (!sig.params.includes(k)) {
      throw new ParameterError(
        `pyautogui.${call.name} has no argument named ${k} here (it takes ${sig.params.join(', ')})`,
      );
    }
    if (values[k] !== undefined) {
      throw new ParameterError(`pyautogui.${call.name} got ${k} both by position and by name`);
    }
    values[k] = v;
  }
  return new Args(call.name, values, rest);
}

/**
 * The target point of a call: x and y, or x as an (x, y) pair; a missing coordinate is the
 * pointer's (as in pyautogui). Known coordinates are checked against the screen now.
 */
function target(a: Args, desktop: Desktop) {
  let x = a.raw('x');
  let y = a.raw('y');
  if (Array.isArray(x) && (y === undefined || y === null)) {
    if (x.length !== 2) throw new ParameterError(`pyautogui.${a.call}: x as a point needs (x, y)`);
    [x, y] = x;
  }
  const coord = (v: Value | undefined, name: string, size: number): number | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new ParameterError(`pyautogui.${a.call}: ${name} must be a number`);
    }
    const n = Math.round(v);
    if (n < 0 || n >= size) {
      throw new ParameterError(
        `pyautogui.${a.call}: ${name}=${v} is outside the screen (0..${size - 1})`,
      );
    }
    return n;
  };
  const px = coord(x, 'x', desktop.width);
  const py = coord(y, 'y', desktop.height);
  return {
    given: px !== undefined || py !== undefined,
    async resolve(cursor: () => Promise<{ x: number; y: number }>) {
      if (px !== undefined && py !== undefined) return { x: px, y: py };
      const c = await cursor();
      return { x: px ?? c.x, y: py ?? c.y };
    },
  };
}

const press = (button: number): InputEvent[] => [
  { kind: 'button', button, down: true },
  { kind: 'button', button, down: false },
];
const pause = (seconds: number): InputEvent[] =>
  seconds > 0 ? [{ kind: 'pause', ms: Math.round(seconds * 1000) }] : [];

/** Motion from `from` to `to` over `seconds` (one jump when 0), in steps of about 20 ms. */
function glide(from: { x: number; y: number }, to: { x: number; y: number }, seconds: number) {
  const steps = Math.min(100, Math.max(1, Math.round((seconds * 1000) / 20)));
  const events: InputEvent[] = [];
  for (let i = 1; i <= steps; i++) {
    if (seconds > 0) events.push({ kind: 'pause', ms: Math.round((seconds * 1000) / steps) });
    events.push({
      kind: 'move',
      x: Math.round(from.x + ((to.x - from.x) * i) / steps),
      y: Math.round(from.y + ((to.y - from.y) * i) / steps),
    });
  }
  return events;
}

/** Key names of press / keyDown / hotkey / write([...]): strings, checked now. */
function keysOf(a: Args, v: Value | undefined, name: string): number[] {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) throw new ParameterError(`pyautogui.${a.call}: ${name} is empty`);
  return list.map((k) => {
    if (typeof k !== 'string') {
      throw new ParameterError(`pyautogui.${a.call}: ${name} must be key names (strings)`);
    }
    return resolveKey(k);
  });
}

const tap = (keysym: number): InputEvent[] => [
  { kind: 'key', keysym, down: true },
  { kind: 'key', keysym, down: false },
];

function clicks(count: number, interval: number, button: number): InputEvent[] {
  const events: InputEvent[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) events.push(...pause(interval));
    events.push(...press(button));
  }
  return events;
}

const clickAt =
  (fixed: { clicks?: number; button?: number }) =>
  (a: Args, d: Desktop): Plan => {
    const at = target(a, d);
    const count = fixed.clicks ?? a.integer('clicks', 1, 0, 100);
    const interval = a.number('interval', 0, 0, 10);
    const duration = a.number('duration', 0, 0, 60);
    const button = fixed.button ?? a.button();
    return async (cursor) => {
      const from = await cursor();
      const to = await at.resolve(async () => from);
      return [...glide(from, to, duration), ...clicks(count, interval, button)];
    };
  };

function scroll(down: number, up: number) {
  return (a: Args, d: Desktop): Plan => {
    if (!a.has('clicks')) throw new ParameterError(`pyautogui.${a.call}: clicks is required`);
    const amount = a.integer('clicks', 0, -1000, 1000);
    const at = target(a, d);
    return async (cursor) => {
      const events: InputEvent[] = at.given
        ? [{ kind: 'move', ...(await at.resolve(cursor)) }]
        : [];
      for (let i = 0; i < Math.abs(amount); i++) events.push(...press(amount > 0 ? up : down));
      return events;
    };
  };
}

function buttonTransition(down: boolean) {
  return (a: Args, d: Desktop): Plan => {
    const at = target(a, d);
    const button = a.button();
    const duration = a.number('duration', 0, 0, 60);
    return async (cursor) => {
      const events: InputEvent[] = [];
      if (at.given) events.push(...glide(await cursor(), await at.resolve(cursor), duration));
      events.push({ kind: 'button', button, down });
      return events;
    };
  };
}

function write(a: Args): Plan {
  const message = a.raw('message');
  const interval = a.number('interval', 0, 0, 10);
  let keysyms: number[];
  if (Array.isArray(message)) keysyms = keysOf(a, message, 'message');
  else if (typeof message === 'string') {
    keysyms = [...message].map((ch) => {
      const k = keysymForChar(ch);
      if (k === undefined) {
        throw new ParameterError(`pyautogui.${a.call}: message holds a control character`);
      }
      return k;
    });
  } else throw new ParameterError(`pyautogui.${a.call}: message must be a string or key names`);
  const events = keysyms.flatMap((k, i) => [...(i > 0 ? pause(interval) : []), ...tap(k)]);
  return async () => events;
}

const key = (down: boolean) => (a: Args) => {
  const [keysym] = keysOf(a, a.string('key'), 'key');
  const events: InputEvent[] = [{ kind: 'key', keysym: keysym!, down }];
  return async () => events;
};

export const SIGNATURES: Readonly<Record<string, Signature>> = {
  click: {
    params: ['x', 'y', 'clicks', 'interval', 'button', 'duration'],
    plan: clickAt({}),
  },
  doubleClick: {
    params: ['x', 'y', 'interval', 'button', 'duration'],
    plan: clickAt({ clicks: 2 }),
  },
  rightClick: { params: ['x', 'y', 'duration'], plan: clickAt({ clicks: 1, button: 3 }) },
  moveTo: {
    params: ['x', 'y', 'duration'],
    plan(a, d) {
      const at = target(a, d);
      const duration = a.number('duration', 0, 0, 60);
      return async (cursor) => {
        const from = await cursor();
        return glide(from, await at.resolve(async () => from), duration);
      };
    },
  },
  dragTo: {
    params: ['x', 'y', 'duration', 'button', 'mouseDownUp'],
    plan(a, d) {
      const at = target(a, d);
      const duration = a.number('duration', 0, 0, 60);
      const button = a.button();
      const downUp = a.raw('mouseDownUp') ?? true;
      if (typeof downUp !== 'boolean') {
        throw new ParameterError('pyautogui.dragTo: mouseDownUp must be True or False');
      }
      return async (cursor) => {
        const from = await cursor();
        const to = await at.resolve(async () => from);
        // Programs see motion with the button down, not a jump: at least a few steps.
        const path = glide(from, to, Math.max(duration, 0.08));
        if (!downUp) return path;
        return [
          { kind: 'button', button, down: true },
          ...path,
          { kind: 'button', button, down: false },
        ];
      };
    },
  },
  scroll: { params: ['clicks', 'x', 'y'], plan: scroll(5, 4) },
  vscroll: { params: ['clicks', 'x', 'y'], plan: scroll(5, 4) },
  // X buttons 6 and 7 are the wheel left and right; pyautogui's positive hscroll is right.
  hscroll: { params: ['clicks', 'x', 'y'], plan: scroll(6, 7) },
  write: { params: ['message', 'interval'], plan: write },
  typewrite: { params: ['message', 'interval'], plan: write },
  press: {
    params: ['keys', 'presses', 'interval'],
    plan(a) {
      const keysyms = keysOf(a, a.raw('keys'), 'keys');
      const presses = a.integer('presses', 1, 0, 100);
      const interval = a.number('interval', 0, 0, 10);
      const events: InputEvent[] = [];
      for (let i = 0; i < presses; i++) {
        for (const k of keysyms) {
          if (events.length > 0) events.push(...pause(interval));
          events.push(...tap(k));
        }
      }
      return async () => events;
    },
  },
  hotkey: {
    params: ['interval'],
    variadic: true,
    plan(a) {
      const names = a.rest.length === 1 && Array.isArray(a.rest[0]) ? a.rest[0] : a.rest;
      const keysyms = keysOf(a, names, 'keys');
      const interval = a.number('interval', 0, 0, 10);
      const events: InputEvent[] = [];
      for (const k of keysyms) {
        if (events.length > 0) events.push(...pause(interval));
        events.push({ kind: 'key', keysym: k, down: true });
      }
      for (const k of [...keysyms].reverse()) {
        events.push(...pause(interval), { kind: 'key', keysym: k, down: false });
      }
      return async () => events;
    },
  },
  keyDown: { params: ['key'], plan: key(true) },
  keyUp: { params: ['key'], plan: key(false) },
  mouseDown: { params: ['x', 'y', 'button', 'duration'], plan: buttonTransition(true) },
  mouseUp: { params: ['x', 'y', 'button', 'duration'], plan: buttonTransition(false) },
  sleep: {
    params: ['seconds'],
    plan(a) {
      if (!a.has('seconds')) throw new ParameterError('pyautogui.sleep: seconds is required');
      const seconds = a.number('seconds', 0, 0, 3600);
      return async () => pause(seconds);
    },
  },
};

/** Checks one parsed call and answers what it will do; 1002 for anything not supported. */
export function planCall(call: Call, desktop: Desktop): Plan {
  const sig = Object.hasOwn(SIGNATURES, call.name) ? SIGNATURES[call.name] : undefined;
  if (!sig) {
    throw new ParameterError(
      `pyautogui.${call.name} is not supported; supported: ` +
        `${Object.keys(SIGNATURES)
          .map((n) => `pyautogui.${n}`)
          .join(', ')}`,
    );
  }
  return sig.plan(bind(call, sig), desktop);
}

/** Seconds a list of events pauses in all. */
export function pausedSeconds(events: readonly InputEvent[]): number {
  return events.reduce((s, e) => s + (e.kind === 'pause' ? e.ms / 1000 : 0), 0);
}
