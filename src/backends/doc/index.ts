// The doc backend: upstream's doc tools over preprocessed document folders (document.ts), with
// an optional vision model for doc:read (vlm.ts). Shared and sessionless; a doc session only
// lends a default seed_path (upstream's clients create one per resource type they use).
import { defineBackendModule, type Backend } from '../backend.ts';
import { docConfigSchema } from './config.ts';
import { DocCache, placeSeed } from './document.ts';
import { docSessionConfig, docTools } from './tools.ts';
import { vlmSettings } from './vlm.ts';

export default defineBackendModule({
  name: 'doc',
  configSchema: docConfigSchema,
  create(config, env): Backend {
    const cache = new DocCache(config.cached_documents, config.max_image_bytes);
    const vlm = vlmSettings(config);
    return {
      name: 'doc',
      description:
        'Search and read preprocessed documents (outline.xml, all_content.xml, figures/, ' +
        "page_images/) given as a task's seed_path. No session needed.",
      shared: true,
      sessionConfig: docSessionConfig,
      tools: docTools(config, {
        open: (seed) =>
          cache.open(
            placeSeed(seed, {
              roots: config.roots,
              dataDir: env.dataDir,
              sessionWritable: env.sessionWritable,
            }),
          ),
        vlm,
      }),
      async warmup() {
        env.log.info('doc.ready', {
          vlm: vlm ? `${vlm.model} at ${vlm.url}` : null,
          roots: config.roots,
        });
      },
      async close() {
        cache.close();
      },
    };
  },
});
