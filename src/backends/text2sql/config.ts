// The text2sql section of the config (`backends.text2sql`): the databases by name, the row cap,
// the per-query time limit and the number of query threads.
import { Type as t, type Static } from '@sinclair/typebox';

export const DB_ID = '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$';

export const text2sqlConfigSchema = t.Object(
  {
    enabled: t.Boolean({ default: true }),
    databases: t.Record(t.String({ pattern: DB_ID }), t.String({ minLength: 1 }), {
      default: {},
      description: 'SQLite files by database id (db_id)',
    }),
    max_rows: t.Integer({ default: 100, minimum: 1, maximum: 100_000 }),
    query_timeout_seconds: t.Number({ default: 30, exclusiveMinimum: 0 }),
    workers: t.Integer({ default: 2, minimum: 1, maximum: 64 }),
  },
  { additionalProperties: false, default: {} },
);

export type Text2sqlConfig = Static<typeof text2sqlConfigSchema>;
