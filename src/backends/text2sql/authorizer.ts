// The text2sql authorizer (sqlite3_set_authorizer): SQLite asks it about every action a statement
// would take while preparing it, so the policy sees what the SQL does, not how it is spelled. It
// is an allow list: reading tables, SELECT, functions (but the ones that reach outside the
// database), recursive CTEs, and pragmas that only report. Anything else is refused.

/** Why an action was refused, for the caller's error message. */
export interface Refusal {
  what: string;
}

// SQLite's action codes (sqlite3.h, "Authorizer Action Codes").
const NAMES: Record<number, string> = {
  1: 'CREATE INDEX',
  2: 'CREATE TABLE',
  3: 'CREATE TEMP INDEX',
  4: 'CREATE TEMP TABLE',
  5: 'CREATE TEMP TRIGGER',
  6: 'CREATE TEMP VIEW',
  7: 'CREATE TRIGGER',
  8: 'CREATE VIEW',
  9: 'DELETE',
  10: 'DROP INDEX',
  11: 'DROP TABLE',
  12: 'DROP TEMP INDEX',
  13: 'DROP TEMP TABLE',
  14: 'DROP TEMP TRIGGER',
  15: 'DROP TEMP VIEW',
  16: 'DROP TRIGGER',
  17: 'DROP VIEW',
  18: 'INSERT',
  22: 'BEGIN/COMMIT/ROLLBACK',
  23: 'UPDATE',
  24: 'ATTACH',
  25: 'DETACH',
  26: 'ALTER TABLE',
  27: 'REINDEX',
  28: 'ANALYZE',
  29: 'CREATE VIRTUAL TABLE',
  30: 'DROP VIRTUAL TABLE',
  32: 'SAVEPOINT',
};

const PRAGMA = 19;
const READ = 20;
const SELECT = 21;
const FUNCTION = 31;
const RECURSIVE = 33;

/** Pragmas that report on the schema, with or without a table or index name as argument. */
const SCHEMA_PRAGMAS = new Set([
  'table_info',
  'table_xinfo',
  'table_list',
  'index_list',
  'index_info',
  'index_xinfo',
  'foreign_key_list',
]);

/** Pragmas that only report when given no argument (with one, most of them change a setting). */
const REPORTING_PRAGMAS = new Set([
  'collation_list',
  'encoding',
  'foreign_keys',
  'function_list',
  'page_count',
  'page_size',
  'pragma_list',
  'schema_version',
  'user_version',
  'application_id',
  'freelist_count',
  'integrity_check',
  'quick_check',
  'foreign_key_check',
]);

/** Functions that reach outside the database (load_extension loads code; fts3_tokenizer takes a pointer). */
// printf/format: one call with a huge width or precision loops for seconds inside SQLite, where
// neither the progress handler nor a thread's termination can stop it (red team, 2026-12-01).
const REFUSED_FUNCTIONS = new Set(['load_extension', 'fts3_tokenizer', 'printf', 'format']);

/** null: allowed; else what was refused. `a`/`b`/`c` are the action's arguments from SQLite. */
export function authorize(
  action: number,
  a: string | null,
  b: string | null,
  _c: string | null,
): Refusal | null {
  switch (action) {
    case READ:
    case SELECT:
    case RECURSIVE:
      return null;
    case FUNCTION:
      return REFUSED_FUNCTIONS.has((b ?? '').toLowerCase()) ? { what: `${b}()` } : null;
    case PRAGMA: {
      const name = (a ?? '').toLowerCase();
      if (SCHEMA_PRAGMAS.has(name)) return null;
      if (REPORTING_PRAGMAS.has(name) && b === null) return null;
      return { what: b === null ? `PRAGMA ${name}` : `PRAGMA ${name}=${b}` };
    }
    default: {
      const what = NAMES[action] ?? `action ${action}`;
      return { what: a ? `${what} (${a})` : what };
    }
  }
}
