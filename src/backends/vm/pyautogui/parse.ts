// A parser for the small part of Python that pyautogui commands are written in: statements of the
// form `pyautogui.<function>(<literal arguments>)`, separated by `;` or newlines. Nothing is ever
// evaluated: arguments must be literals (numbers, strings, True/False/None, lists and tuples of
// those, and `pyautogui.easeXxx` tween names); anything else is a 1002 saying what was found.
import { ParameterError } from '../../../core/errors.ts';

export type Value = number | string | boolean | null | Value[] | { tween: string };

export interface Call {
  /** The pyautogui function, e.g. `click`. */
  name: string;
  args: Value[];
  kwargs: Record<string, Value>;
}

type Token =
  | { kind: 'name'; text: string; at: number }
  | { kind: 'number'; value: number; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'op'; text: string; at: number }
  | { kind: 'end'; at: number };

const OPS = new Set(['(', ')', '[', ']', ',', '=', '.', ';', '-', '+', '\n']);
const NUMBER = /^(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

function refuse(source: string, at: number, what: string): never {
  const line = source.slice(0, at).split('\n').length;
  const near = source.slice(at, at + 24).split('\n')[0];
  throw new ParameterError(`pyautogui command, line ${line} near "${near}": ${what}`);
}

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  t: '\t',
  r: '\r',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '0': '\0',
  '\n': '',
};

/** Reads the string literal whose opening quote is at `start`; returns its value and end. */
function readString(source: string, start: number, raw: boolean): { value: string; end: number } {
  const triple = source.startsWith(source[start]!.repeat(3), start);
  const quote = source[start]!.repeat(triple ? 3 : 1);
  let i = start + quote.length;
  let value = '';
  for (;;) {
    if (i >= source.length) refuse(source, start, 'a string is not closed');
    if (source.startsWith(quote, i)) return { value, end: i + quote.length };
    const c = source[i]!;
    if (c === '\n' && !triple) refuse(source, start, 'a string is not closed on its line');
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const next = source[i + 1] ?? '';
    if (raw) {
      // A raw string keeps the backslash; it still cannot end the string.
      value += c + next;
      i += 2;
      continue;
    }
    if (next in SIMPLE_ESCAPES) {
      value += SIMPLE_ESCAPES[next];
      i += 2;
      continue;
    }
    const hex = { x: 2, u: 4, U: 8 }[next];
    if (hex) {
      const digits = source.slice(i + 2, i + 2 + hex);
      if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== hex) {
        refuse(source, i, `\\${next} needs ${hex} hex digits`);
      }
      const cp = Number.parseInt(digits, 16);
      if (cp > 0x10ffff) refuse(source, i, `\\${next}${digits} is not a character`);
      value += String.fromCodePoint(cp);
      i += 2 + hex;
      continue;
    }
    if (next === 'N') refuse(source, i, '\\N{...} escapes are not supported');
    // Python keeps unknown escapes as written.
    value += c + next;
    i += 2;
  }
}

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === ' ' || c === '\t' || c === '\r') {
      i++;
      continue;
    }
    if (c === '\\' && source[i + 1] === '\n') {
      i += 2;
      continue;
    }
    if (c === '#') {
      while (i < source.length && source[i] !== '\n') i++;
      continue;
    }
    const rest = source.slice(i, i + 64);
    const name = NAME.exec(rest);
    if (name) {
      const prefix = name[0];
      const quote = source[i + prefix.length];
      if ((quote === "'" || quote === '"') && /^[rRuUbBfF]{1,2}$/.test(prefix)) {
        if (/[fF]/.test(prefix)) refuse(source, i, 'f-strings are not supported (they evaluate)');
        if (/[bB]/.test(prefix)) refuse(source, i, 'bytes literals are not supported');
        const s = readString(source, i + prefix.length, /[rR]/.test(prefix));
        tokens.push({ kind: 'string', value: s.value, at: i });
        i = s.end;
        continue;
      }
      let j = i + prefix.length;
      while (j < source.length && /[A-Za-z0-9_]/.test(source[j]!)) j++;
      tokens.push({ kind: 'name', text: source.slice(i, j), at: i });
      i = j;
      continue;
    }
    const number = NUMBER.exec(rest);
    if (number && !(c === '.' && tokens.at(-1)?.kind === 'name')) {
      const text = number[0].replaceAll('_', '');
      if (/^0\d/.test(text)) refuse(source, i, 'numbers with leading zeros are not Python');
      tokens.push({ kind: 'number', value: Number(text), at: i });
      i += number[0].length;
      continue;
    }
    if (c === "'" || c === '"') {
      const s = readString(source, i, false);
      tokens.push({ kind: 'string', value: s.value, at: i });
      i = s.end;
      continue;
    }
    if (OPS.has(c)) {
      tokens.push({ kind: 'op', text: c, at: i });
      i++;
      continue;
    }
    refuse(source, i, `"${c}" is not part of a pyautogui call with literal arguments`);
  }
  tokens.push({ kind: 'end', at: source.length });
  return tokens;
}

/** Parses one command (one or more statements) into its calls, in order. */
export function parseCommand(source: string): Call[] {
  const tokens = tokenize(source);
  let p = 0;
  const peek = (k = 0) => tokens[Math.min(p + k, tokens.length - 1)]!;
  const isOp = (t: Token, text: string) => t.kind === 'op' && t.text === text;
  const describe = (t: Token): string =>
    t.kind === 'end'
      ? 'the end of the command'
      : t.kind === 'name' || t.kind === 'op'
        ? `"${t.text === '\n' ? '\\n' : t.text}"`
        : t.kind === 'string'
          ? 'a string'
          : 'a number';
  const expectOp = (text: string, what: string) => {
    const t = peek();
    if (!isOp(t, text)) refuse(source, t.at, `expected ${what}, found ${describe(t)}`);
    p++;
  };

  const value = (): Value => {
    const t = peek();
    if (t.kind === 'number') {
      p++;
      return t.value;
    }
    if (t.kind === 'string') {
      p++;
      return t.value;
    }
    if (t.kind === 'op' && (t.text === '-' || t.text === '+')) {
      const n = peek(1);
      if (n.kind !== 'number') refuse(source, t.at, `"${t.text}" must be followed by a number`);
      p += 2;
      return t.text === '-' ? -n.value : n.value;
    }
    if (t.kind === 'op' && (t.text === '[' || t.text === '(')) {
      const close = t.text === '[' ? ']' : ')';
      p++;
      const items: Value[] = [];
      let comma = false;
      while (!isOp(peek(), close)) {
        items.push(value());
        comma = isOp(peek(), ',');
        if (comma) p++;
        else if (!isOp(peek(), close)) {
          refuse(source, peek().at, `expected "," or "${close}", found ${describe(peek())}`);
        }
      }
      p++;
      // `(5)` is 5 in Python; `(5,)` is a tuple.
      if (close === ')' && items.length === 1 && !comma) return items[0]!;
      return items;
    }
    if (t.kind === 'name') {
      if (t.text === 'True' || t.text === 'False') {
        p++;
        return t.text === 'True';
      }
      if (t.text === 'None') {
        p++;
        return null;
      }
      if (isOp(peek(1), '(')) {
        refuse(source, t.at, `nested calls are not accepted (${t.text}(...) as an argument)`);
      }
      if (t.text === 'pyautogui' && isOp(peek(1), '.') && peek(2).kind === 'name') {
        const attr = (peek(2) as { text: string }).text;
        if (isOp(peek(3), '(')) {
          refuse(
            source,
            t.at,
            `nested calls are not accepted (pyautogui.${attr}(...) as an argument)`,
          );
        }
        if (/^(ease[A-Za-z]+|linear)$/.test(attr)) {
          p += 3;
          return { tween: attr };
        }
        refuse(source, t.at, `pyautogui.${attr} is not a value accepted here (only tween names)`);
      }
      refuse(
        source,
        t.at,
        `only literal arguments (numbers, strings, lists, True, False, None) are accepted; ` +
          `found the name "${t.text}"`,
      );
    }
    refuse(source, t.at, `expected an argument, found ${describe(t)}`);
  };

  const call = (): Call => {
    const head = peek();
    if (head.kind !== 'name' || head.text !== 'pyautogui') {
      const what = head.kind === 'name' ? `"${head.text}"` : describe(head);
      refuse(source, head.at, `only pyautogui.<function>(...) calls are accepted; found ${what}`);
    }
    p++;
    expectOp('.', '"." after pyautogui');
    const fn = peek();
    if (fn.kind !== 'name') refuse(source, fn.at, `expected a function name after "pyautogui."`);
    p++;
    if (isOp(peek(), '.')) {
      refuse(
        source,
        fn.at,
        `pyautogui.${fn.text}.… is attribute access; only pyautogui.<function>(...) calls are accepted`,
      );
    }
    if (!isOp(peek(), '(')) {
      refuse(source, peek().at, `pyautogui.${fn.text} must be called: pyautogui.${fn.text}(...)`);
    }
    p++;
    const args: Value[] = [];
    const kwargs: Record<string, Value> = {};
    while (!isOp(peek(), ')')) {
      const t = peek();
      if (t.kind === 'name' && isOp(peek(1), '=')) {
        if (t.text in kwargs) refuse(source, t.at, `the argument ${t.text} is given twice`);
        p += 2;
        kwargs[t.text] = value();
      } else {
        if (Object.keys(kwargs).length > 0) {
          refuse(source, t.at, 'a positional argument follows a keyword argument');
        }
        args.push(value());
      }
      if (isOp(peek(), ',')) p++;
      else if (!isOp(peek(), ')')) {
        refuse(source, peek().at, `expected "," or ")", found ${describe(peek())}`);
      }
    }
    p++;
    return { name: fn.text, args, kwargs };
  };

  const calls: Call[] = [];
  for (;;) {
    while (isOp(peek(), ';') || isOp(peek(), '\n')) p++;
    if (peek().kind === 'end') break;
    const t = peek();
    // `import pyautogui` is what scripts start with; it changes nothing.
    if (t.kind === 'name' && t.text === 'import') {
      const mod = peek(1);
      if (mod.kind === 'name' && mod.text === 'pyautogui') {
        p += 2;
      } else {
        refuse(source, t.at, 'only "import pyautogui" is accepted');
      }
    } else {
      calls.push(call());
    }
    const after = peek();
    if (!(after.kind === 'end' || isOp(after, ';') || isOp(after, '\n'))) {
      refuse(source, after.at, `expected ";" or a new line after a call, found ${describe(after)}`);
    }
  }
  return calls;
}
