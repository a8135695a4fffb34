// The text2sql tools, named and shaped as upstream's (sandbox/tool_schemas/sql_tools.py): each
// answer carries upstream's payload under `result` (what its SQLResult formatter reads), and the
// same fields at the top level. SQL errors are 1002 naming what SQLite said, a write 1002 saying
// it was refused, an interrupted statement 2002, a database that cannot be opened 2004.
import { Type as t } from '@sinclair/typebox';
import {
  BackendError,
  ExecutionTimeoutError,
  ParameterError,
  ResourceUnavailableError,
} from '../../core/errors.ts';
import { defineTool, type ToolDefinition } from '../backend.ts';
import type { Text2sqlConfig } from './config.ts';
import type { QueryPool } from './pool.ts';
import type { QueryResult } from './sqlite-ffi.ts';

export interface Text2sqlRuntime {
  pool(): QueryPool;
}

const dbId = t.String({
  minLength: 1,
  maxLength: 256,
  description: 'The ID of the database (as text2sql:list_databases returns it)',
});

export function text2sqlTools(config: Text2sqlConfig, rt: Text2sqlRuntime): ToolDefinition[] {
  const names = Object.keys(config.databases);
  const pathOf = (id: string): string => {
    // Only a configured name: never a path, never a key of Object.prototype.
    if (!Object.hasOwn(config.databases, id)) {
      throw new ParameterError(
        `Unknown database "${id}". Databases on this server: ${names.join(', ') || '(none)'}. ` +
          'Add one under backends.text2sql.databases in the config.',
      );
    }
    return config.databases[id]!;
  };

  const run = async (
    id: string,
    sql: string,
    signal: AbortSignal,
    timeoutMs: number,
    maxRows = config.max_rows,
  ): Promise<QueryResult> => {
    const limit = Math.min(timeoutMs, config.query_timeout_seconds * 1000);
    const reply = await rt
      .pool()
      .run({ op: 'query', path: pathOf(id), sql, maxRows, timeoutMs: limit }, signal);
    if (reply.ok) return reply.value!;
    switch (reply.kind) {
      case 'sql':
        throw new ParameterError(`SQL error on database "${id}": ${reply.message}`);
      case 'refused':
        throw new ParameterError(`Database "${id}": ${reply.message}`);
      case 'interrupted':
        throw new ExecutionTimeoutError(
          `Database "${id}": ${reply.message} (backends.text2sql.query_timeout_seconds is ` +
            `${config.query_timeout_seconds}, or the call's own timeout); make the query cheaper ` +
            'or add a LIMIT',
        );
      case 'unavailable':
        throw new ResourceUnavailableError(
          `Database "${id}" cannot be used: ${reply.message}. Check ` +
            `backends.text2sql.databases.${id} in the config.`,
        );
      default:
        throw new BackendError(`Database "${id}": ${reply.message}; retry the call.`);
    }
  };

  const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

  return [
    defineTool({
      name: 'list_databases',
      description: 'List all available databases that can be queried.',
      params: t.Object({}, { additionalProperties: false }),
      async run() {
        return { result: { databases: names }, databases: names };
      },
    }),
    defineTool({
      name: 'get_schema',
      description:
        'Get the table structure (tables, columns, foreign keys) of a specific database.',
      params: t.Object(
        {
          db_id: dbId,
          table_names: t.Optional(
            t.Array(t.String({ maxLength: 256 }), {
              maxItems: 1000,
              description: 'Tables to describe; omitted or empty: every table',
            }),
          ),
        },
        { additionalProperties: false },
      ),
      async run(p, ctx) {
        const q = (sql: string) => run(p.db_id, sql, ctx.signal, ctx.timeoutMs, 100_000);
        const listed = await q(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        );
        const all = listed.rows.map((r) => String(r[0]));
        const wanted = p.table_names?.length ? p.table_names.filter((n) => all.includes(n)) : all;
        const schema: Record<string, unknown> = {};
        for (const table of wanted) {
          const cols = await q(`PRAGMA table_info(${quoted(table)})`);
          const fks = await q(`PRAGMA foreign_key_list(${quoted(table)})`);
          schema[table] = {
            columns: cols.rows.map((c) => ({ name: c[1], type: c[2], pk: Number(c[5]) > 0 })),
            foreign_keys: fks.rows.map((f) => ({ to_table: f[2], from_col: f[3], to_col: f[4] })),
          };
        }
        const missing = (p.table_names ?? []).filter((n) => !all.includes(n));
        const answer = { db_id: p.db_id, schema };
        return {
          result: answer,
          ...answer,
          ...(missing.length ? { missing_tables: missing } : {}),
        };
      },
    }),
    defineTool({
      name: 'execute',
      description:
        'Execute a SQL query on a specific database. Only reading statements (SELECT, WITH, ' +
        'schema PRAGMAs) run: the database is read-only. At most ' +
        `${config.max_rows} rows come back; \`truncated\` says when there were more.`,
      params: t.Object(
        {
          db_id: dbId,
          query: t.String({
            minLength: 1,
            maxLength: 100_000,
            description: "The SQL query string (e.g., 'SELECT * FROM users LIMIT 5')",
          }),
        },
        { additionalProperties: false },
      ),
      async run(p, ctx) {
        const r = await run(p.db_id, p.query, ctx.signal, ctx.timeoutMs);
        const answer = {
          columns: r.columns,
          rows: r.rows,
          row_count: r.rows.length,
          truncated: r.truncated,
        };
        return { result: answer, ...answer, max_rows: config.max_rows };
      },
    }),
  ] as ToolDefinition[];
}
