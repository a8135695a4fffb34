// doc:search and doc:read with upstream's params (sandbox/tool_schemas/doc_tools.py) and
// upstream's answer: one string in `result` (what its DocResult formatter prints), with the same
// content structured beside it. seed_path comes from the call (upstream's rollout merges the
// task's kwargs into every call), else the worker's doc session, else backends.doc.seed_path.
import { Type as t } from '@sinclair/typebox';
import { ParameterError } from '../../core/errors.ts';
import { defineTool, type ToolDefinition } from '../backend.ts';
import type { DocConfig } from './config.ts';
import { sectionPages, type DocFolder, type DocImage, type SearchHit } from './document.ts';
import { summarise, type VlmSettings } from './vlm.ts';
import { descendants, pretty } from './xml.ts';

export interface DocRuntime {
  /** The document a seed_path names (1002 when it may not be read or is not one). */
  open(seedPath: string): DocFolder;
  vlm: VlmSettings | null;
}

const SEPARATOR = '\n\n----------\n\n';

const stringOrList = (description: string) =>
  t.Union(
    [
      t.String({ minLength: 1, maxLength: 1024 }),
      t.Array(t.String({ minLength: 1, maxLength: 1024 }), { minItems: 1, maxItems: 64 }),
    ],
    {
      description,
    },
  );

const seedPath = t.Optional(
  t.String({
    minLength: 1,
    maxLength: 4096,
    description:
      "The document folder (upstream's task kwargs pass it); default: the session's or the config's",
  }),
);

export const docSessionConfig = t.Object({ seed_path: seedPath }, { additionalProperties: false });

const escapeAttr = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');
const escapeText = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;');

function hitXml(h: SearchHit): string {
  const ids =
    h.type === 'HTML_Table'
      ? ` table_id="${escapeAttr(h.table_id!)}"`
      : h.type === 'Image'
        ? ` image_id="${escapeAttr(h.image_id!)}"`
        : '';
  const attrs = `type="${h.type}"${ids} section_id="${escapeAttr(h.section_id)}" page_num="${escapeAttr(h.page_num)}"`;
  const body =
    h.type === 'Paragraph'
      ? h.snippet
      : h.type === 'Image'
        ? [h.caption, h.alt_text].filter(Boolean).join('\n')
        : h.text;
  return `  <Item ${attrs}>${escapeText(body)}</Item>`;
}

export function docTools(config: DocConfig, rt: DocRuntime): ToolDefinition[] {
  const seedOf = (p: { seed_path?: string }, session: Record<string, unknown> | null): string => {
    const seed = p.seed_path ?? (session?.seed_path as string | undefined) ?? config.seed_path;
    if (!seed) {
      throw new ParameterError(
        "seed_path is missing: give the document folder as seed_path (upstream's task kwargs), " +
          'in the doc session config, or as backends.doc.seed_path.',
      );
    }
    return seed;
  };
  const list = (v: string | string[]) => (typeof v === 'string' ? [v] : v);

  return [
    defineTool({
      name: 'search',
      description:
        'Search the document for keywords: headings, paragraphs, tables and image captions or ' +
        'alt text, ranked by BM25. Use it to find the sections to read.',
      params: t.Object(
        {
          key_words: stringOrList('Keywords to search for; each is searched on its own'),
          max_search_results: t.Optional(
            t.Integer({
              minimum: 1,
              maximum: 1000,
              description: `Results per keyword (default ${config.max_search_results})`,
            }),
          ),
          seed_path: seedPath,
        },
        { additionalProperties: false },
      ),
      async run(p, ctx) {
        const doc = rt.open(seedOf(p, ctx.sessionConfig));
        const max = p.max_search_results ?? config.max_search_results;
        const searches = list(p.key_words).map((kw) => ({ key_word: kw, ...doc.search(kw, max) }));
        const text = searches
          .map(({ key_word, total, hits }) => {
            const q = JSON.stringify(key_word);
            if (total === 0) return `No section, paragraph, table or image matches ${q}.`;
            const head =
              total > hits.length
                ? `Search for ${q}: ${total} matches, the best ${hits.length} below:`
                : `Search for ${q}: ${total} matches:`;
            return `${head}\n\n<Search_Result>\n${hits.map(hitXml).join('\n')}\n</Search_Result>`;
          })
          .join(SEPARATOR);
        return {
          result: text,
          searches: searches.map(({ key_word, total, hits }) => ({
            key_word,
            total,
            results: hits.map(({ text: _, ...h }) => h),
          })),
        };
      },
    }),
    defineTool({
      name: 'read',
      description:
        'Read sections of the document (text, figures, tables and page images) for a goal. ' +
        'With a vision model configured, answers the evidence and a summary for the goal; ' +
        'otherwise the sections as they are, images included.',
      params: t.Object(
        {
          section_ids: stringOrList("Section ids to read (e.g. ['1.2.1', '3']), from doc:search"),
          goal: t.String({
            minLength: 1,
            maxLength: 8192,
            description: 'What to find in the sections',
          }),
          max_image_num: t.Optional(
            t.Integer({
              minimum: 0,
              maximum: 100,
              description: `Images per section (default ${config.max_image_num})`,
            }),
          ),
          max_text_token: t.Optional(
            t.Integer({
              minimum: 100,
              maximum: 1_000_000,
              description: `Characters of section text (default ${config.max_text_token})`,
            }),
          ),
          seed_path: seedPath,
        },
        { additionalProperties: false },
      ),
      async run(p, ctx) {
        const doc = rt.open(seedOf(p, ctx.sessionConfig));
        const ids = list(p.section_ids);
        const unknown = ids.filter((id) => !doc.sections.has(id));
        if (unknown.length > 0) {
          const known = [...doc.sections.keys()];
          throw new ParameterError(
            `Unknown section id(s) ${unknown.map((u) => JSON.stringify(u)).join(', ')}. This ` +
              `document has ${known.length}: ${known.slice(0, 200).join(', ')}${known.length > 200 ? ', …' : ''}.`,
          );
        }
        const maxImages = p.max_image_num ?? config.max_image_num;
        const maxText = p.max_text_token ?? config.max_text_token;
        const sections = [];
        const parts: string[] = [];
        for (const id of ids) {
          const el = doc.sections.get(id)!;
          let text = pretty(el);
          const textCut = text.length > maxText;
          if (textCut)
            text = `${text.slice(0, maxText)}\n… [section text cut at ${maxText} characters]`;
          const images = pickImages(doc, el, maxImages);
          const notes = [
            ...(images.cut ? ["Some of the section's images were left out (too many)."] : []),
            ...(textCut ? [`The section text was cut at ${maxText} characters.`] : []),
          ];
          if (rt.vlm) {
            const s = await summarise(rt.vlm, images.list, text, p.goal, notes, ctx.signal);
            parts.push(
              `From section ${id}, for the goal "${p.goal}":\n\nEvidence:\n${s.evidence}\n\nSummary:\n${s.summary}`,
            );
            sections.push({
              section_id: id,
              evidence: s.evidence,
              summary: s.summary,
              images: images.list.map(({ base64: _, ...meta }) => meta),
              text_truncated: textCut,
            });
          } else {
            parts.push(
              `Section ${id} as it stands (no vision model is configured, so no summary for the ` +
                `goal: set backends.doc.vlm_model and vlm_api_url). ${images.list.length} image(s) ` +
                `are in sections[].images.\n\n${text}`,
            );
            sections.push({ section_id: id, text, images: images.list, text_truncated: textCut });
          }
        }
        return { result: parts.join(SEPARATOR), summarised: rt.vlm !== null, sections };
      },
    }),
  ] as ToolDefinition[];
}

/** Pages, then figures and tables; over the cap, pages go first, then tables, then the rest is cut. */
function pickImages(
  doc: DocFolder,
  section: ReturnType<DocFolder['sections']['get']> & {},
  max: number,
) {
  let list: DocImage[] = [];
  for (const n of sectionPages(section)) {
    const img = doc.page(n);
    if (img) list.push(img);
  }
  for (const el of descendants(section)) {
    const img =
      el.tag === 'Image'
        ? doc.figure(el.attrs.image_id ?? '')
        : el.tag === 'HTML_Table'
          ? doc.table(el.attrs.table_id ?? '')
          : null;
    if (img) list.push(img);
  }
  let cut = false;
  if (list.length > max) list = list.filter((i) => i.type !== 'Page');
  if (list.length > max) list = list.filter((i) => i.type !== 'HTML_Table');
  if (list.length > max) {
    list = list.slice(0, max);
    cut = true;
  }
  return { list, cut };
}
