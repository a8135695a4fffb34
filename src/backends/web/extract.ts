// A fetched page as readable text: HTML through Mozilla's Readability (on a linkedom DOM, no
// browser), text-like types as they are, anything else refused with its content type named.
import { Readability } from '@mozilla/readability';
import { parseHTML } from 'linkedom';
import { BackendError } from '../../core/errors.ts';

const TEXT_TYPES = /^(text\/|application\/(json|xml|xhtml\+xml|ld\+json|javascript)|[^;]*\+xml)/;

/** The charset a Content-Type names, when the decoder knows it. */
function decoder(contentType: string): TextDecoder {
  const label = /charset=["']?([^;"'\s]+)/i.exec(contentType)?.[1];
  try {
    return new TextDecoder((label ?? 'utf-8') as 'utf-8');
  } catch {
    return new TextDecoder('utf-8');
  }
}

const squeeze = (s: string) =>
  s
    .replace(/[ \t\f\v\r]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();

// textContent runs paragraphs together; a line break after each block keeps them apart.
const BLOCK_END =
  /<\/(p|div|h[1-6]|li|tr|dt|dd|blockquote|pre|section|article|header|figure|table)>|<br\s*\/?>/gi;

const NOT_TEXT = /<(script|style|noscript|template)\b[\s\S]*?<\/\1\s*>/gi;

const textOf = (html: string) =>
  parseHTML(
    `<!doctype html><html><body>${html.replace(NOT_TEXT, '').replace(BLOCK_END, '$&\n')}</body></html>`,
  ).document.body.textContent ?? '';

function htmlText(html: string, url: string): string {
  const { document } = parseHTML(html);
  const title = document.querySelector('title')?.textContent?.trim() ?? '';
  // Readability changes the document it reads, so the fallback reads the page again.
  const article = new Readability(
    document as unknown as ConstructorParameters<typeof Readability>[0],
    { charThreshold: 100 },
  ).parse();
  const body = article?.content ? textOf(article.content) : textOf(html);
  const heading = article?.title || title;
  const text = squeeze(body);
  return heading ? `Title: ${heading}\nURL Source: ${url}\n\n${text}` : text;
}

/** The page's text, or a 2001 saying what the content is when it is not text. */
export function readableText(body: Uint8Array, contentType: string, url: string): string {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const decoded = () => decoder(contentType).decode(body);
  if (
    type === 'text/html' ||
    type === 'application/xhtml+xml' ||
    (!type && /<html/i.test(decoded()))
  ) {
    return htmlText(decoded(), url);
  }
  if (!type || TEXT_TYPES.test(type)) return squeeze(decoded());
  throw new BackendError(
    `${url} is ${type}, not a web page or text; web:visit reads HTML and text only`,
  );
}
