// The vision model doc:read asks for a goal-directed summary: any OpenAI-compatible chat
// completions endpoint. The section's images go first (as data URLs, one user message each,
// as upstream sends them), then the section's text and the goal, asking for evidence and a
// summary as JSON inside <json> tags.
import { BackendError, ExecutionTimeoutError } from '../../core/errors.ts';
import type { DocConfig } from './config.ts';
import type { DocImage } from './document.ts';

export interface VlmSettings {
  model: string;
  url: string;
  apiKey?: string;
  maxTokens: number;
  timeoutMs: number;
  attempts: number;
}

export function vlmSettings(config: DocConfig): VlmSettings | null {
  if (!config.vlm_model || !config.vlm_api_url) return null;
  return {
    model: config.vlm_model,
    url: config.vlm_api_url,
    apiKey: config.vlm_api_key,
    maxTokens: config.vlm_max_tokens,
    timeoutMs: config.vlm_timeout * 1000,
    attempts: config.vlm_retry_max_attempts,
  };
}

const completionsUrl = (url: string) =>
  url.replace(/\/+$/, '').endsWith('/chat/completions')
    ? url
    : `${url.replace(/\/+$/, '')}/chat/completions`;

const describe = (img: DocImage) =>
  img.type === 'Page'
    ? `Page ${img.page_num} of the document, as an image.`
    : img.type === 'Image'
      ? `Figure ${img.image_id} of this section.`
      : `Table ${img.table_id} of this section, as an image.`;

function instructions(sectionXml: string, goal: string, notes: string[]): string {
  return [
    'Read the document section below together with the images sent before this message.',
    ...notes,
    '',
    '## Section',
    sectionXml,
    '',
    '## Goal',
    goal,
    '',
    'Find every passage of the text and every detail of the images that bears on the goal. Quote',
    'the evidence in full rather than paraphrasing it, then summarise what it tells about the goal.',
    'Answer with one JSON object with the string fields "rational", "evidence" and "summary",',
    'written as plain Markdown, between <json> and </json>.',
  ].join('\n');
}

export interface Summary {
  evidence: string;
  summary: string;
}

/** Asks the model; retries failed requests; a reply without usable JSON becomes the summary. */
export async function summarise(
  vlm: VlmSettings,
  images: readonly DocImage[],
  sectionXml: string,
  goal: string,
  notes: string[],
  signal: AbortSignal,
): Promise<Summary> {
  const messages = [
    { role: 'system', content: [{ type: 'text', text: 'You are a careful reader of documents.' }] },
    ...images.map((img) => ({
      role: 'user',
      content: [
        { type: 'text', text: describe(img) },
        { type: 'image_url', image_url: { url: `data:${img.mime_type};base64,${img.base64}` } },
      ],
    })),
    { role: 'user', content: [{ type: 'text', text: instructions(sectionXml, goal, notes) }] },
  ];
  const url = completionsUrl(vlm.url);
  let last = '';
  for (let attempt = 1; attempt <= vlm.attempts; attempt++) {
    if (signal.aborted) break;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(vlm.apiKey ? { authorization: `Bearer ${vlm.apiKey}` } : {}),
        },
        body: JSON.stringify({ model: vlm.model, messages, max_tokens: vlm.maxTokens }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(vlm.timeoutMs)]),
      });
      if (!res.ok) {
        last = `HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`;
        if (res.status >= 400 && res.status < 500 && res.status !== 429) break;
        continue;
      }
      const body = (await res.json()) as { choices?: { message?: { content?: unknown } }[] };
      const content = body.choices?.[0]?.message?.content;
      if (typeof content !== 'string' || !content.trim()) {
        last = 'the reply had no message content';
        continue;
      }
      return parseReply(content);
    } catch (err) {
      if (signal.aborted) break;
      last = (err as Error).message;
    }
  }
  if (signal.aborted) {
    throw new ExecutionTimeoutError('doc:read ran out of time waiting for the vision model.');
  }
  throw new BackendError(
    `The vision model at ${url} did not answer (${vlm.attempts} attempts; last: ${last}). ` +
      'Check backends.doc.vlm_api_url, vlm_model and vlm_api_key.',
  );
}

function parseReply(content: string): Summary {
  const inner = /<json>([\s\S]*?)<\/json>/.exec(content)?.[1] ?? content;
  try {
    const json = JSON.parse(inner.trim()) as { evidence?: unknown; summary?: unknown };
    return { evidence: String(json.evidence ?? ''), summary: String(json.summary ?? '') };
  } catch {
    return { evidence: '', summary: content.trim() };
  }
}
