// The text2sql backend: shared, sessionless SQL over SQLite files named in config, read-only by
// construction (sqlite-ffi.ts, authorizer.ts). Queries run in query threads (pool.ts); a session
// only exists for upstream's clients, which create one per resource type they use.
import { Type as t } from '@sinclair/typebox';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { WarmupError } from '../../core/errors.ts';
import { defineBackendModule, type Backend } from '../backend.ts';
import { text2sqlConfigSchema } from './config.ts';
import { QueryPool } from './pool.ts';
import { libraryVersion } from './sqlite-ffi.ts';
import { text2sqlTools } from './tools.ts';

export default defineBackendModule({
  name: 'text2sql',
  configSchema: text2sqlConfigSchema,
  create(config, env): Backend | null {
    // Nothing to serve: off, so a server without databases lists no SQL tools.
    if (Object.keys(config.databases).length === 0) return null;
    const databases = Object.fromEntries(
      Object.entries(config.databases).map(([id, path]) => [id, resolve(path)]),
    );
    const resolved = { ...config, databases };
    let pool: QueryPool | null = null;
    return {
      name: 'text2sql',
      description:
        'Read-only SQL over the SQLite databases named in backends.text2sql.databases. No ' +
        'session needed.',
      shared: true,
      sessionConfig: t.Object({}, { additionalProperties: false }),
      tools: text2sqlTools(resolved, { pool: () => (pool ??= new QueryPool(config.workers)) }),
      async warmup() {
        let version: string;
        try {
          version = libraryVersion();
        } catch (err) {
          throw new WarmupError((err as Error).message);
        }
        for (const [id, path] of Object.entries(databases)) {
          if (!existsSync(path)) {
            env.log.warn('text2sql.database_missing', { db_id: id, path });
          }
        }
        pool ??= new QueryPool(config.workers);
        env.log.info('text2sql.ready', { sqlite: version, databases: Object.keys(databases) });
      },
      async close() {
        await pool?.close();
        pool = null;
      },
    };
  },
});
