// A read-only SQLite connection driven through bun:ffi on the system's libsqlite3 (Debian's
// libsqlite3-0). bun:sqlite exposes neither sqlite3_set_authorizer nor sqlite3_limit, and those
// are what make the connection read-only by construction: opened with SQLITE_OPEN_READONLY, an
// authorizer (authorizer.ts) that refuses anything but reading, no attached databases allowed,
// and a progress handler that interrupts a statement at its deadline. Used in query-worker.ts.
import { CString, dlopen, FFIType, JSCallback, ptr, toArrayBuffer, type Pointer } from 'bun:ffi';
import { authorize, type Refusal } from './authorizer.ts';

const LIB_CANDIDATES = ['libsqlite3.so.0', 'libsqlite3.so', 'libsqlite3.dylib'];

const SQLITE_OK = 0;
const SQLITE_ROW = 100;
const SQLITE_DONE = 101;
const SQLITE_INTERRUPT = 9;
const OPEN_READONLY = 0x1;
const OPEN_URI = 0x40;
const OPEN_NOMUTEX = 0x8000;
const LIMIT_LENGTH = 0;
const LIMIT_ATTACHED = 7;
const TYPE_INTEGER = 1;
const TYPE_FLOAT = 2;
const TYPE_TEXT = 3;
const TYPE_BLOB = 4;

const { i32, i64, f64, ptr: p, cstring } = FFIType;

function load() {
  let lastError: unknown;
  for (const name of LIB_CANDIDATES) {
    try {
      return dlopen(name, {
        sqlite3_libversion: { args: [], returns: cstring },
        sqlite3_open_v2: { args: [p, p, i32, p], returns: i32 },
        sqlite3_close_v2: { args: [p], returns: i32 },
        sqlite3_errmsg: { args: [p], returns: cstring },
        sqlite3_extended_errcode: { args: [p], returns: i32 },
        sqlite3_limit: { args: [p, i32, i32], returns: i32 },
        sqlite3_set_authorizer: { args: [p, FFIType.function, p], returns: i32 },
        sqlite3_progress_handler: { args: [p, i32, FFIType.function, p], returns: FFIType.void },
        sqlite3_prepare_v2: { args: [p, p, i32, p, p], returns: i32 },
        sqlite3_finalize: { args: [p], returns: i32 },
        sqlite3_step: { args: [p], returns: i32 },
        sqlite3_stmt_readonly: { args: [p], returns: i32 },
        sqlite3_column_count: { args: [p], returns: i32 },
        sqlite3_column_name: { args: [p, i32], returns: cstring },
        sqlite3_column_type: { args: [p, i32], returns: i32 },
        sqlite3_column_int64: { args: [p, i32], returns: i64 },
        sqlite3_column_double: { args: [p, i32], returns: f64 },
        sqlite3_column_text: { args: [p, i32], returns: p },
        sqlite3_column_blob: { args: [p, i32], returns: p },
        sqlite3_column_bytes: { args: [p, i32], returns: i32 },
      });
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(
    `libsqlite3 could not be loaded (${(lastError as Error)?.message}): install Debian's ` +
      'libsqlite3-0 (apt-get install libsqlite3-0)',
  );
}

let lib: ReturnType<typeof load> | null = null;
const sqlite = () => (lib ??= load());

/** The library's version, e.g. "3.40.1"; throws when it cannot be loaded. */
export function libraryVersion(): string {
  return String(sqlite().symbols.sqlite3_libversion());
}

/** What went wrong, in SQLite's words, with the kind the tools turn into a code. */
export class SqlError extends Error {
  constructor(
    readonly kind: 'sql' | 'refused' | 'interrupted' | 'unavailable',
    message: string,
  ) {
    super(message);
  }
}

export interface QueryResult {
  columns: string[];
  rows: unknown[][];
  truncated: boolean;
}

const cstr = (s: string) => Buffer.from(`${s}\0`, 'utf8');
const ptrCell = () => new BigUint64Array(1);
const readPtr = (cell: BigUint64Array): Pointer | null =>
  cell[0] === 0n ? null : (Number(cell[0]) as Pointer);

/** How often (in virtual-machine instructions) the progress handler checks the deadline. */
const PROGRESS_EVERY = 10_000;

export class ReadOnlyConnection {
  private db: Pointer | null;
  private deadline = Infinity;
  /** The authorizer's first refusal while preparing, for the error message. */
  private refusal: Refusal | null = null;
  private readonly authCallback: JSCallback;
  private readonly progressCallback: JSCallback;

  constructor(readonly path: string) {
    const { symbols: s } = sqlite();
    const cell = ptrCell();
    // mode=ro in the URI and SQLITE_OPEN_READONLY: the file is never opened for writing.
    const uri = `file:${encodeURI(path).replaceAll('?', '%3f').replaceAll('#', '%23')}?mode=ro`;
    const rc = s.sqlite3_open_v2(
      ptr(cstr(uri)),
      ptr(cell),
      OPEN_READONLY | OPEN_URI | OPEN_NOMUTEX,
      null,
    );
    this.db = readPtr(cell);
    if (rc !== SQLITE_OK) {
      const why = this.db ? String(s.sqlite3_errmsg(this.db)) : `error ${rc}`;
      if (this.db) s.sqlite3_close_v2(this.db);
      this.db = null;
      throw new SqlError('unavailable', `cannot open ${path}: ${why}`);
    }
    const db = this.db!;
    s.sqlite3_limit(db, LIMIT_ATTACHED, 0);
    s.sqlite3_limit(db, LIMIT_LENGTH, 64 * 1024 * 1024);
    this.authCallback = new JSCallback(
      (_: unknown, action: number, a: Pointer | null, b: Pointer | null, c: Pointer | null) => {
        const text = (x: Pointer | null) => (x ? String(new CString(x)) : null);
        const verdict = authorize(action, text(a), text(b), text(c));
        if (verdict !== null) this.refusal ??= verdict;
        return verdict === null ? 0 : 1; // SQLITE_OK : SQLITE_DENY
      },
      { args: [p, i32, p, p, p, p], returns: i32 },
    );
    this.progressCallback = new JSCallback(() => (performance.now() > this.deadline ? 1 : 0), {
      args: [p],
      returns: i32,
    });
    s.sqlite3_set_authorizer(db, this.authCallback.ptr, null);
    s.sqlite3_progress_handler(db, PROGRESS_EVERY, this.progressCallback.ptr, null);
  }

  private handle(): Pointer {
    if (!this.db) throw new SqlError('unavailable', `the connection to ${this.path} is closed`);
    return this.db;
  }

  private error(rc: number, when: string): SqlError {
    const s = sqlite().symbols;
    const message = String(s.sqlite3_errmsg(this.handle()));
    if (this.refusal) {
      const r = this.refusal;
      this.refusal = null;
      return new SqlError(
        'refused',
        `write refused: ${r.what} is not allowed, the database is read-only (${message})`,
      );
    }
    if ((rc & 0xff) === SQLITE_INTERRUPT) {
      return new SqlError('interrupted', `the query was interrupted ${when}`);
    }
    // SQLITE_ERROR (syntax, no such table/column), MISMATCH, RANGE, TOOBIG, CONSTRAINT, READONLY:
    // the query's fault; anything else (I/O, corruption, busy) is the database's.
    const queryFault = [1, 8, 18, 19, 20, 25].includes(rc & 0xff);
    return new SqlError(queryFault ? 'sql' : 'unavailable', message);
  }

  /** Prepares `sql` (exactly one statement), runs it until `maxRows` rows or `timeoutMs`. */
  query(sql: string, maxRows: number, timeoutMs: number): QueryResult {
    const s = sqlite().symbols;
    const db = this.handle();
    const text = cstr(sql);
    const stmtCell = ptrCell();
    const tailCell = ptrCell();
    this.refusal = null;
    this.deadline = performance.now() + timeoutMs;
    try {
      let rc = s.sqlite3_prepare_v2(db, ptr(text), text.length, ptr(stmtCell), ptr(tailCell));
      if (rc !== SQLITE_OK) throw this.error(rc, 'while it was being prepared');
      const stmt = readPtr(stmtCell);
      if (!stmt) throw new SqlError('sql', 'the query is empty: give one SQL statement');
      try {
        this.refuseMoreStatements(text, tailCell);
        // A second lock on the same door: a statement that could write is never stepped.
        if (s.sqlite3_stmt_readonly(stmt) === 0) {
          throw new SqlError('refused', 'writing refused: this database is read-only');
        }
        const n = s.sqlite3_column_count(stmt);
        const columns = Array.from({ length: n }, (_, i) => String(s.sqlite3_column_name(stmt, i)));
        const rows: unknown[][] = [];
        let truncated = false;
        while (true) {
          rc = s.sqlite3_step(stmt);
          if (rc === SQLITE_DONE) break;
          if (rc !== SQLITE_ROW) throw this.error(rc, `after ${timeoutMs} ms, its time limit`);
          if (rows.length === maxRows) {
            truncated = true;
            break;
          }
          rows.push(this.row(stmt, n));
        }
        return { columns, rows, truncated };
      } finally {
        s.sqlite3_finalize(stmt);
      }
    } finally {
      this.deadline = Infinity;
    }
  }

  /** Whatever follows the first statement must be blank or comments. */
  private refuseMoreStatements(text: Buffer, tailCell: BigUint64Array): void {
    const s = sqlite().symbols;
    const start = Number(ptr(text));
    const offset = Number(tailCell[0]!) - start;
    const rest = text.subarray(offset, text.length - 1);
    if (rest.toString('utf8').trim() === '') return;
    const restText = Buffer.concat([rest, Buffer.from([0])]);
    const cell = ptrCell();
    const rc = s.sqlite3_prepare_v2(this.handle(), ptr(restText), restText.length, ptr(cell), null);
    const next = readPtr(cell);
    if (next) s.sqlite3_finalize(next);
    this.refusal = null;
    if (rc !== SQLITE_OK || next) {
      throw new SqlError(
        'sql',
        'the query holds more than one statement: send one SQL statement per call',
      );
    }
  }

  private row(stmt: Pointer, n: number): unknown[] {
    const s = sqlite().symbols;
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) {
      switch (s.sqlite3_column_type(stmt, i)) {
        case TYPE_INTEGER: {
          const v = s.sqlite3_column_int64(stmt, i) as bigint | number;
          const big = BigInt(v);
          // JSON has no 64-bit integers: beyond 2^53 the exact value is kept as a string.
          out[i] =
            big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER)
              ? Number(big)
              : big.toString();
          break;
        }
        case TYPE_FLOAT:
          out[i] = s.sqlite3_column_double(stmt, i);
          break;
        case TYPE_TEXT: {
          const at = s.sqlite3_column_text(stmt, i);
          const len = s.sqlite3_column_bytes(stmt, i);
          out[i] = at && len > 0 ? Buffer.from(toArrayBuffer(at, 0, len)).toString('utf8') : '';
          break;
        }
        case TYPE_BLOB: {
          const at = s.sqlite3_column_blob(stmt, i);
          const len = s.sqlite3_column_bytes(stmt, i);
          // Upstream's JSON encoder cannot carry bytes either; a blob is shown as hex, like SQL's.
          out[i] =
            at && len > 0 ? `X'${Buffer.from(toArrayBuffer(at, 0, len)).toString('hex')}'` : "X''";
          break;
        }
        default:
          out[i] = null;
      }
    }
    return out;
  }

  close(): void {
    if (this.db) sqlite().symbols.sqlite3_close_v2(this.db);
    this.db = null;
    this.authCallback.close();
    this.progressCallback.close();
  }
}
