// The XML of a preprocessed document (outline.xml, all_content.xml) as a small element tree, read
// with saxes: a strict, well-formedness-checking parser whose errors carry line and column, and
// which expands no entity a DOCTYPE declares (so no external entities and no entity bombs).
// `pretty` writes an element back, indented, as upstream's tools show sections to the model.
import { SaxesParser } from 'saxes';

export interface XmlElement {
  tag: string;
  attrs: Record<string, string>;
  children: (XmlElement | string)[];
}

export class XmlSyntaxError extends Error {}

export function parseXml(text: string, fileName: string): XmlElement {
  const parser = new SaxesParser({ fileName });
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  let failure: Error | null = null;
  parser.on('error', (err) => {
    failure ??= err;
  });
  parser.on('opentag', (tag) => {
    const el: XmlElement = {
      tag: tag.name,
      attrs: { ...(tag.attributes as Record<string, string>) },
      children: [],
    };
    stack.at(-1)?.children.push(el);
    if (!root) root = el;
    stack.push(el);
  });
  parser.on('closetag', () => void stack.pop());
  const addText = (t: string) => {
    const top = stack.at(-1);
    if (top) top.children.push(t);
  };
  parser.on('text', addText);
  parser.on('cdata', addText);
  parser.write(text).close();
  if (failure) throw new XmlSyntaxError((failure as Error).message);
  if (!root) throw new XmlSyntaxError(`${fileName}: no root element`);
  return root;
}

/** Every element below (and including) `el`, in document order. */
export function* descendants(el: XmlElement): Generator<XmlElement> {
  yield el;
  for (const c of el.children) if (typeof c !== 'string') yield* descendants(c);
}

/** The element's own text (its direct text children), trimmed. */
export function ownText(el: XmlElement): string {
  return el.children
    .filter((c): c is string => typeof c === 'string')
    .join('')
    .trim();
}

export const childText = (el: XmlElement, tag: string): string => {
  const c = el.children.find((x): x is XmlElement => typeof x !== 'string' && x.tag === tag);
  return c ? ownText(c) : '';
};

const escape = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
const escapeAttr = (s: string) => escape(s).replaceAll('"', '&quot;');

/** The element as indented XML: one element per line, text kept inline with its element. */
export function pretty(el: XmlElement, indent = ''): string {
  const attrs = Object.entries(el.attrs)
    .map(([k, v]) => ` ${k}="${escapeAttr(v)}"`)
    .join('');
  const elements = el.children.filter((c): c is XmlElement => typeof c !== 'string');
  const text = ownText(el);
  if (elements.length === 0) {
    return text
      ? `${indent}<${el.tag}${attrs}>${escape(text)}</${el.tag}>`
      : `${indent}<${el.tag}${attrs}/>`;
  }
  const lines = [`${indent}<${el.tag}${attrs}>`];
  if (text) lines.push(`${indent}  ${escape(text)}`);
  for (const c of elements) lines.push(pretty(c, `${indent}  `));
  lines.push(`${indent}</${el.tag}>`);
  return lines.join('\n');
}
