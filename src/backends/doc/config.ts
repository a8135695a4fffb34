// The doc section of the config (`backends.doc`), with upstream's key names (its `apis.doc`): the
// default document, the limits of each tool, and the OpenAI-compatible vision model doc:read uses
// for its goal-directed summary; plus the folders a task's seed_path may point into.
import { Type as t, type Static } from '@sinclair/typebox';

export const docConfigSchema = t.Object(
  {
    enabled: t.Boolean({ default: false }),
    seed_path: t.Optional(t.String({ minLength: 1 })),
    roots: t.Array(t.String({ minLength: 1 }), { default: ['.'] }),
    max_search_results: t.Integer({ default: 10, minimum: 1, maximum: 1000 }),
    max_image_num: t.Integer({ default: 10, minimum: 0, maximum: 100 }),
    max_text_token: t.Integer({ default: 20000, minimum: 100 }),
    max_image_bytes: t.Integer({ default: 8 * 1024 * 1024, minimum: 1024 }),
    vlm_model: t.Optional(t.String({ minLength: 1 })),
    vlm_api_key: t.Optional(t.String({ minLength: 1 })),
    vlm_api_url: t.Optional(t.String({ minLength: 1 })),
    vlm_max_tokens: t.Integer({ default: 16384, minimum: 1 }),
    vlm_timeout: t.Number({ default: 300, exclusiveMinimum: 0 }),
    vlm_retry_max_attempts: t.Integer({ default: 3, minimum: 1, maximum: 20 }),
    cached_documents: t.Integer({ default: 16, minimum: 1 }),
  },
  { additionalProperties: false, default: {} },
);

export type DocConfig = Static<typeof docConfigSchema>;
