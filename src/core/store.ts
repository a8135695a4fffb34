// The SQLite store (bun:sqlite, WAL): schema migrations with a version table, and the session rows
// that let sessions survive a restart or a kill -9. Knows nothing of HTTP or backends.
import { Database, type Statement } from 'bun:sqlite';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface StoredSession {
  session_id: string;
  worker_id: string;
  resource_type: string;
  session_name: string;
  status: string;
  config: Record<string, unknown>;
  state: Record<string, unknown>;
  /** Epoch milliseconds. */
  created_at: number;
  last_used_at: number;
  expires_at: number;
}

interface SessionRow extends Omit<StoredSession, 'config' | 'state'> {
  config: string;
  state: string;
}

/** Each entry moves the schema one version up; never edit a released entry, append a new one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE sessions (
     session_id    TEXT PRIMARY KEY,
     worker_id     TEXT NOT NULL,
     resource_type TEXT NOT NULL,
     session_name  TEXT NOT NULL,
     status        TEXT NOT NULL,
     config        TEXT NOT NULL DEFAULT '{}',
     state         TEXT NOT NULL DEFAULT '{}',
     created_at    INTEGER NOT NULL,
     last_used_at  INTEGER NOT NULL,
     expires_at    INTEGER NOT NULL,
     UNIQUE (worker_id, resource_type)
   );
   CREATE INDEX sessions_expires_at ON sessions (expires_at);
   CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO counters (name, value) VALUES ('session', 0);`,
];

export const STORE_FILE = 'agentflow.db';

export class Store {
  readonly path: string;
  private readonly db: Database;
  private readonly stmts: {
    insert: Statement;
    touch: Statement;
    remove: Statement;
    next: Statement;
  };

  private constructor(path: string) {
    this.path = path;
    this.db = new Database(path, { create: true, strict: true });
    this.db.exec('PRAGMA journal_mode = WAL');
    // NORMAL in WAL mode survives a process crash (kill -9); only an OS crash may lose the last
    // commits, which is the usual trade for not fsyncing on every tool call.
    this.db.exec('PRAGMA synchronous = NORMAL');
    this.db.exec('PRAGMA busy_timeout = 5000');
    this.migrate();
    this.stmts = {
      insert: this.db.prepare(
        `INSERT INTO sessions (session_id, worker_id, resource_type, session_name, status, config,
           state, created_at, last_used_at, expires_at)
         VALUES ($session_id, $worker_id, $resource_type, $session_name, $status, $config, $state,
           $created_at, $last_used_at, $expires_at)`,
      ),
      touch: this.db.prepare(
        `UPDATE sessions SET last_used_at = $last_used_at, expires_at = $expires_at,
           state = coalesce($state, state) WHERE session_id = $session_id`,
      ),
      remove: this.db.prepare(`DELETE FROM sessions WHERE session_id = $session_id`),
      next: this.db.prepare(
        `UPDATE counters SET value = value + 1 WHERE name = 'session' RETURNING value`,
      ),
    };
  }

  static open(dataDir: string): Store {
    mkdirSync(dataDir, { recursive: true });
    return new Store(join(dataDir, STORE_FILE));
  }

  get schemaVersion(): number {
    const row = this.db.query('SELECT version FROM schema_version').get() as {
      version: number;
    } | null;
    return row?.version ?? 0;
  }

  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const current = this.schemaVersion;
    if (current > MIGRATIONS.length) {
      throw new Error(
        `the store at ${this.path} has schema version ${current}, newer than this server ` +
          `understands (${MIGRATIONS.length}); run the newer server or restore a backup`,
      );
    }
    this.db.transaction(() => {
      for (let v = current; v < MIGRATIONS.length; v++) this.db.exec(MIGRATIONS[v]!);
      this.db.exec('DELETE FROM schema_version');
      this.db.query('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
    })();
  }

  loadSessions(): StoredSession[] {
    const rows = this.db.query('SELECT * FROM sessions ORDER BY created_at').all() as SessionRow[];
    return rows.map((r) => ({ ...r, config: JSON.parse(r.config), state: JSON.parse(r.state) }));
  }

  /** The next value of the per-server session counter (survives restarts, so ids never repeat). */
  nextSessionNumber(): number {
    return (this.stmts.next.get() as { value: number }).value;
  }

  insertSession(s: StoredSession): void {
    this.stmts.insert.run({
      ...s,
      config: JSON.stringify(s.config),
      state: JSON.stringify(s.state),
    });
  }

  /** Records uses of several sessions in one transaction (one fsync-free commit in WAL mode). */
  touchSessions(
    rows: readonly { id: string; lastUsedAt: number; expiresAt: number; state: string | null }[],
  ): void {
    this.db.transaction(() => {
      for (const r of rows) this.touchSession(r.id, r.lastUsedAt, r.expiresAt, r.state);
    })();
  }

  /** Records a use of the session; `state` is written only when given (it changed). */
  touchSession(
    sessionId: string,
    lastUsedAt: number,
    expiresAt: number,
    state: string | null,
  ): void {
    this.stmts.touch.run({
      session_id: sessionId,
      last_used_at: lastUsedAt,
      expires_at: expiresAt,
      state,
    });
  }

  deleteSession(sessionId: string): void {
    this.stmts.remove.run({ session_id: sessionId });
  }

  close(): void {
    this.db.close(false);
  }
}
