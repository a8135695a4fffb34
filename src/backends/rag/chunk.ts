// How a text or Markdown file becomes documents. The rule (also in the README): a Markdown file
// is cut at its headings (#..######, outside code fences); a section, or a whole .txt file, longer
// than `chunkChars` is cut between paragraphs, and a paragraph longer than that between sentences
// or words. Each piece's title is the file's title (its first `# ` heading, else its file name),
// followed by the heading path of the section (`Guide › Install › Linux`). chunkChars 0 keeps one
// document per file.

export interface Chunk {
  title: string;
  content: string;
  heading?: string;
}

interface Section {
  path: string[];
  lines: string[];
}

const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$/;
const FENCE = /^ {0,3}(```|~~~)/;

export function chunkFile(
  fileName: string,
  text: string,
  markdown: boolean,
  chunkChars: number,
): Chunk[] {
  const baseTitle = fileName.replace(/\.[^.]+$/, '');
  if (!markdown) {
    return pieces(text, chunkChars).map((content) => ({ title: baseTitle, content }));
  }
  const sections = markdownSections(text);
  const h1 = sections.find((s) => s.path.length === 1 && s.path[0] !== undefined)?.path[0];
  const fileTitle = h1 ?? baseTitle;
  if (chunkChars === 0) {
    return text.trim() ? [{ title: fileTitle, content: text.trim() }] : [];
  }
  const out: Chunk[] = [];
  for (const s of sections) {
    const body = s.lines.join('\n');
    // The title already carries the file's H1, so it is not repeated in the path.
    const path = s.path[0] === h1 ? s.path.slice(1) : s.path;
    const heading = path.filter(Boolean).join(' › ');
    const title = heading ? `${fileTitle} › ${heading}` : fileTitle;
    for (const content of pieces(body, chunkChars)) {
      out.push(heading ? { title, content, heading } : { title, content });
    }
  }
  return out;
}

function markdownSections(text: string): Section[] {
  const sections: Section[] = [];
  let current: Section = { path: [], lines: [] };
  let fence: string | null = null;
  for (const line of text.split(/\r?\n/)) {
    const f = FENCE.exec(line);
    if (f) {
      if (fence === null) fence = f[1]!;
      else if (f[1] === fence) fence = null;
    }
    const h = fence === null && !f ? HEADING.exec(line) : null;
    if (h) {
      sections.push(current);
      const level = h[1]!.length;
      const path = current.path.slice(0, level - 1);
      while (path.length < level - 1) path.push('');
      path.push(h[2]!.trim());
      current = { path, lines: [] };
    } else {
      current.lines.push(line);
    }
  }
  sections.push(current);
  return sections;
}

/** Cuts text into pieces of at most `max` characters at paragraph, then sentence, then word ends. */
export function pieces(text: string, max: number): string[] {
  const trimmed = text.trim();
  if (!trimmed) return [];
  if (max === 0 || trimmed.length <= max) return [trimmed];
  const paragraphs = trimmed
    .split(/\n[ \t]*\n+/)
    .map((p) => p.trim())
    .filter(Boolean);
  const out: string[] = [];
  let buf = '';
  const flush = () => {
    if (buf) out.push(buf);
    buf = '';
  };
  for (const p of paragraphs) {
    if (p.length > max) {
      flush();
      out.push(...splitLong(p, max));
    } else if (buf && buf.length + 2 + p.length > max) {
      flush();
      buf = p;
    } else {
      buf = buf ? `${buf}\n\n${p}` : p;
    }
  }
  flush();
  return out;
}

function splitLong(p: string, max: number): string[] {
  const out: string[] = [];
  let rest = p;
  while (rest.length > max) {
    const window = rest.slice(0, max);
    // Prefer the last sentence end in the second half of the window, then the last space.
    let cut = -1;
    for (const m of window.matchAll(/[.!?。！？][)"'\]]*\s/g)) cut = m.index! + m[0].length;
    if (cut < max / 2) cut = window.lastIndexOf(' ') + 1;
    if (cut < max / 2) cut = max;
    out.push(rest.slice(0, cut).trim());
    rest = rest.slice(cut).trimStart();
  }
  if (rest.trim()) out.push(rest.trim());
  return out;
}
