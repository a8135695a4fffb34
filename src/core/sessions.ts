// SessionManager: one session per (worker_id, resource_type), idempotent create, TTL refreshed by
// every call and enforced by a sweeper, temporary sessions, and a FIFO queue per session so calls
// on one session never interleave while different sessions run in parallel.
import type { TSchema } from '@sinclair/typebox';
import type { Backend } from '../backends/backend.ts';
import {
  InternalError,
  ParameterError,
  ResourceTypeNotFoundError,
  ResourceUnavailableError,
  SessionError,
  SessionLostError,
} from './errors.ts';
import type { Logger } from './log.ts';
import type { Store, StoredSession } from './store.ts';
import { Session } from './session.ts';
import { compileValidator, stripUnknownKeys, type Validator } from './validate.ts';

export interface SessionOptions {
  ttlMs: number;
  sweepIntervalMs: number;
  /** Caps: sessions open at once (stored + temporary), and stored sessions per worker. */
  maxTotal: number;
  maxPerWorker: number;
  /** Sessions of one resource type open at once (stored, temporary, being created). */
  maxPerType?: Readonly<Record<string, number>>;
  /** Unknown session-config keys are a 1002 instead of dropped (`execution.strict_params`). */
  strictConfig?: boolean;
  /** Told of every lifecycle event (metrics); logging is done here. */
  onEvent?: (event: SessionEvent, resourceType: string) => void;
}

export type SessionEvent = 'created' | 'destroyed' | 'expired' | 'restored' | 'temporary';

const key = (workerId: string, resourceType: string) => `${workerId}\u0000${resourceType}`;

/** Store failures (disk full, read-only) surface as 5000 with the cause, never as a crash. */
function storeFailure(what: string, err: unknown): InternalError {
  const cause = err instanceof Error ? err.message : String(err);
  return new InternalError(`Could not ${what} in the session store: ${cause}`);
}

export class SessionManager {
  private readonly sessions = new Map<string, Session>();
  private readonly creating = new Map<string, Promise<Session>>();
  private readonly temporaries = new Set<Session>();
  /** Temporary sessions being created, by type (counted against the caps like the others). */
  private readonly temporariesStarting = new Map<string, number>();
  /** Sessions used since the last flush to the store. */
  private readonly dirty = new Set<Session>();
  private readonly backends: Map<string, Backend>;
  private readonly configValidators = new Map<string, Validator<TSchema>>();
  private sweeper: ReturnType<typeof setInterval> | undefined;

  constructor(
    backends: readonly Backend[],
    private readonly store: Store,
    private readonly options: SessionOptions,
    private readonly log: Logger,
  ) {
    this.backends = new Map(backends.map((b) => [b.name, b]));
    for (const b of backends) {
      if (b.sessionConfig) this.configValidators.set(b.name, compileValidator(b.sessionConfig));
    }
  }

  /** Loads stored sessions and lets each backend recover (or reap) its live resources. */
  async restore(): Promise<void> {
    const byType = new Map<string, Session[]>();
    for (const row of this.store.loadSessions()) {
      const backend = this.backends.get(row.resource_type);
      if (!backend?.sessionConfig) {
        this.log.warn('session.dropped', {
          session_id: row.session_id,
          reason: `resource type ${row.resource_type} is not enabled`,
        });
        continue;
      }
      const session = this.fromRow(row, backend);
      this.sessions.set(key(row.worker_id, row.resource_type), session);
      const list = byType.get(backend.name) ?? [];
      list.push(session);
      byType.set(backend.name, list);
    }
    for (const backend of this.backends.values()) {
      const list = byType.get(backend.name) ?? [];
      let statuses: Map<string, string> | undefined;
      try {
        statuses = await backend.recover?.(list.map((s) => s.info));
      } catch (err) {
        // The server still starts: each remembered session keeps its stored status, and its
        // next call restores it (or finds it lost) as after any restart.
        this.log.error('session.recover_failed', {
          resource_type: backend.name,
          sessions: list.length,
          error: String(err),
        });
      }
      // Kept in memory only: recover() decides it afresh at every start, and writing 10,000
      // rows would cost the start-up more than the rest of restoring them.
      for (const s of list) s.status = statuses?.get(s.id) ?? s.status;
    }
  }

  private fromRow(row: StoredSession, backend: Backend): Session {
    return new Session(
      {
        sessionId: row.session_id,
        workerId: row.worker_id,
        resourceType: row.resource_type,
        sessionName: row.session_name,
        config: row.config,
        state: row.state,
        temporary: false,
      },
      backend,
      row.status,
      row.created_at,
      row.last_used_at,
      row.expires_at,
      JSON.stringify(row.state),
    );
  }

  startSweeper(): void {
    this.sweeper ??= setInterval(() => void this.sweep(), this.options.sweepIntervalMs);
    this.sweeper.unref?.();
  }

  stopSweeper(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Destroys sessions past their expiry that have no call under way. */
  async sweep(now = Date.now()): Promise<number> {
    this.flush();
    const expired = [...this.sessions.values()].filter(
      (s) => s.expiresAt <= now && s.inFlight === 0 && !s.destroyed,
    );
    await Promise.all(expired.map((s) => this.destroySession(s, 'expired')));
    return expired.length;
  }

  sessionBackend(resourceType: string): Backend {
    const backend = this.backends.get(resourceType);
    if (!backend) {
      const known = [...this.backends.keys()].join(', ');
      throw new ResourceTypeNotFoundError(
        `Unknown resource type "${resourceType}". Enabled resource types: ${known}.`,
      );
    }
    if (!backend.sessionConfig) {
      throw new ParameterError(
        `Resource type "${resourceType}" has no sessions: call its tools directly.`,
      );
    }
    return backend;
  }

  get(workerId: string, resourceType: string): Session | undefined {
    return this.sessions.get(key(workerId, resourceType));
  }

  list(workerId?: string): Session[] {
    this.flush();
    const all = [...this.sessions.values()];
    return workerId === undefined ? all : all.filter((s) => s.info.workerId === workerId);
  }

  count(): number {
    return this.sessions.size;
  }

  /** Returns the worker's session of this type, creating it when absent (idempotent). */
  async getOrCreate(
    workerId: string,
    resourceType: string,
    config: unknown,
    customName?: string,
  ): Promise<{ session: Session; created: boolean; ignored: string[] }> {
    const backend = this.sessionBackend(resourceType);
    // Validated even when the session exists: a bad config is an error, not silently ignored.
    const { config: validConfig, ignored } = this.parseConfig(resourceType, config);
    const k = key(workerId, resourceType);
    const existing = this.sessions.get(k);
    if (existing) return { session: existing, created: false, ignored };
    const pending = this.creating.get(k);
    if (pending) return { session: await pending, created: false, ignored };
    const promise = this.create(backend, workerId, validConfig, customName, false);
    this.creating.set(k, promise);
    try {
      const session = await promise;
      this.sessions.set(k, session);
      return { session, created: true, ignored };
    } finally {
      this.creating.delete(k);
    }
  }

  /** A session for one call only: never stored, destroyed by `finishTemporary`. */
  async createTemporary(workerId: string, resourceType: string): Promise<Session> {
    const backend = this.sessionBackend(resourceType);
    const { config } = this.parseConfig(resourceType, {});
    const promise = this.create(backend, workerId, config, undefined, true);
    const starting = this.temporariesStarting;
    starting.set(resourceType, (starting.get(resourceType) ?? 0) + 1);
    try {
      const session = await promise;
      this.temporaries.add(session);
      return session;
    } finally {
      const left = starting.get(resourceType)! - 1;
      if (left === 0) starting.delete(resourceType);
      else starting.set(resourceType, left);
    }
  }

  async finishTemporary(session: Session): Promise<void> {
    this.temporaries.delete(session);
    await this.destroySession(session, 'temporary');
  }

  /** Temporary sessions are never kept: shutdown destroys them whatever it does with the rest. */
  private async destroyTemporaries(): Promise<void> {
    const list = [...this.temporaries];
    this.temporaries.clear();
    await Promise.all(list.map((s) => this.destroySession(s, 'shutdown')));
  }

  /**
   * The config validated with its defaults. Unknown keys are dropped and listed unless strict:
   * upstream's clients send their own backends' options (`{"top_k": 10, "rerank": true}`).
   */
  private parseConfig(
    resourceType: string,
    config: unknown,
  ): { config: Record<string, unknown>; ignored: string[] } {
    const validator = this.configValidators.get(resourceType)!;
    if (
      config !== undefined &&
      (typeof config !== 'object' || config === null || Array.isArray(config))
    ) {
      throw new ParameterError(`Invalid session config for ${resourceType}: must be an object`);
    }
    const lenient = this.options.strictConfig
      ? { value: config ?? {}, ignored: [] }
      : stripUnknownKeys(validator.schema, config ?? {});
    const parsed = validator.parse(
      lenient.value,
      (msg) => new ParameterError(`Invalid session config for ${resourceType}: ${msg}`),
    ) as Record<string, unknown>;
    return { config: parsed, ignored: lenient.ignored };
  }

  /** Open sessions of one type: stored, temporary and being created. */
  private openOfType(resourceType: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.info.resourceType === resourceType) n++;
    for (const s of this.temporaries) if (s.info.resourceType === resourceType) n++;
    for (const k of this.creating.keys()) if (k.endsWith(`\u0000${resourceType}`)) n++;
    return n + (this.temporariesStarting.get(resourceType) ?? 0);
  }

  private async create(
    backend: Backend,
    workerId: string,
    config: Record<string, unknown>,
    customName: string | undefined,
    temporary: boolean,
  ): Promise<Session> {
    let open = this.sessions.size + this.temporaries.size + this.creating.size;
    for (const n of this.temporariesStarting.values()) open += n;
    if (open >= this.options.maxTotal) {
      throw new ResourceUnavailableError(
        `The server holds ${this.options.maxTotal} sessions, its limit (sessions.max_total); ` +
          'destroy some or retry later.',
      );
    }
    const typeCap = this.options.maxPerType?.[backend.name];
    if (typeCap !== undefined && this.openOfType(backend.name) >= typeCap) {
      throw new ResourceUnavailableError(
        `The server holds ${typeCap} ${backend.name} sessions, the limit for that type ` +
          `(sessions.max_per_type.${backend.name}); destroy some or retry later.`,
      );
    }
    if (!temporary && this.list(workerId).length >= this.options.maxPerWorker) {
      throw new ResourceUnavailableError(
        `Worker "${workerId}" holds ${this.options.maxPerWorker} sessions, the limit ` +
          '(sessions.max_per_worker).',
      );
    }
    let number: number;
    try {
      number = this.store.nextSessionNumber();
    } catch (err) {
      throw storeFailure('number a new session', err);
    }
    const sessionId = `${backend.name}_${workerId}_${String(number).padStart(3, '0')}`;
    const now = Date.now();
    const session = new Session(
      {
        sessionId,
        workerId,
        resourceType: backend.name,
        sessionName: customName ?? sessionId,
        config,
        state: {},
        temporary,
      },
      backend,
      'active',
      now,
      now,
      now + this.options.ttlMs,
      '{}',
    );
    session.handle = await backend.createSession?.(session.info);
    if (temporary) return session;
    try {
      this.store.insertSession({
        session_id: sessionId,
        worker_id: workerId,
        resource_type: backend.name,
        session_name: session.info.sessionName,
        status: session.status,
        config,
        state: {},
        created_at: now,
        last_used_at: now,
        expires_at: session.expiresAt,
      });
    } catch (err) {
      await Promise.resolve()
        .then(() => backend.destroySession?.(session.info, session.handle))
        .catch(() => undefined);
      throw storeFailure('record the new session', err);
    }
    this.emit('created', session);
    return session;
  }

  /**
   * Runs one call on the session: in FIFO order with other calls on it, restoring its live
   * handle first when the server restarted since it was last used, refreshing its TTL after.
   */
  run<T>(session: Session, deadline: number, fn: (handle: unknown) => Promise<T>): Promise<T> {
    session.inFlight++;
    return session
      .enqueue(deadline, async () => {
        if (session.destroyed) {
          throw new SessionError(`Session ${session.id} was destroyed while this call waited.`);
        }
        try {
          if (session.handle === undefined && session.backend.restoreSession) {
            session.handle = await session.backend.restoreSession(session.info);
            this.emit('restored', session);
          }
          return await fn(session.handle);
        } catch (err) {
          if (err instanceof SessionLostError) await this.destroySession(session, 'lost');
          throw err;
        }
      })
      .finally(() => {
        session.inFlight--;
        if (!session.destroyed) this.touch(session);
      });
  }

  /**
   * Records a use in memory; the store gets it at the next flush (every sweep tick, and before
   * anything reads or reports the rows), so a tool call costs no SQLite write of its own.
   */
  touch(session: Session): void {
    const now = Date.now();
    session.lastUsedAt = now;
    session.expiresAt = now + this.options.ttlMs;
    if (session.info.temporary) return;
    if (session.handle !== undefined && session.backend.sessionState) {
      session.info.state = session.backend.sessionState(session.handle);
    }
    this.dirty.add(session);
  }

  /** Writes every use recorded since the last flush, in one transaction. */
  flush(): void {
    if (this.dirty.size === 0) return;
    const rows = [];
    for (const s of this.dirty) {
      if (s.destroyed) continue;
      const json = JSON.stringify(s.info.state);
      const state = json !== s.persistedState ? json : null;
      rows.push({ id: s.id, lastUsedAt: s.lastUsedAt, expiresAt: s.expiresAt, state, s, json });
    }
    try {
      this.store.touchSessions(rows);
      for (const r of rows) r.s.persistedState = r.json;
      this.dirty.clear();
    } catch (err) {
      // The calls themselves succeeded; keep the rows dirty and try again at the next tick.
      this.log.error('store.flush_failed', { sessions: rows.length, error: String(err) });
    }
  }

  /** Extends the TTL of one or all of the worker's sessions. */
  refresh(workerId: string, resourceType?: string): Session[] {
    const targets = this.targets(workerId, resourceType);
    for (const s of targets) this.touch(s);
    this.flush();
    return targets;
  }

  /** Destroys one or all of the worker's sessions; returns those destroyed. */
  async destroy(workerId: string, resourceType?: string): Promise<Session[]> {
    const targets = this.targets(workerId, resourceType);
    await Promise.all(targets.map((s) => this.destroySession(s, 'requested')));
    return targets;
  }

  /** The worker's session of `resourceType`, or all of its sessions; 1003 when there is none. */
  private targets(workerId: string, resourceType?: string): Session[] {
    if (resourceType !== undefined) {
      this.sessionBackend(resourceType);
      const s = this.get(workerId, resourceType);
      if (!s) {
        throw new SessionError(
          `Worker "${workerId}" has no ${resourceType} session. Create one with POST /session/create.`,
        );
      }
      return [s];
    }
    const all = this.list(workerId);
    if (all.length === 0) throw new SessionError(`Worker "${workerId}" has no sessions.`);
    return all;
  }

  private async destroySession(session: Session, reason: string): Promise<void> {
    if (session.destroyed) return;
    session.destroyed = true;
    const k = key(session.info.workerId, session.info.resourceType);
    if (this.sessions.get(k) === session) this.sessions.delete(k);
    try {
      await session.backend.destroySession?.(session.info, session.handle as never);
    } catch (err) {
      this.log.error('session.destroy_failed', { session_id: session.id, error: String(err) });
    }
    if (!session.info.temporary) {
      try {
        this.store.deleteSession(session.id);
      } catch (err) {
        this.log.error('store.delete_failed', { session_id: session.id, error: String(err) });
      }
    }
    this.emit(
      session.info.temporary ? 'temporary' : reason === 'expired' ? 'expired' : 'destroyed',
      session,
      reason,
    );
  }

  private emit(event: SessionEvent, session: Session, reason?: string): void {
    this.options.onEvent?.(event, session.info.resourceType);
    if (event === 'temporary') return; // one per call: the request log covers them
    this.log.info(`session.${event}`, {
      session_id: session.id,
      worker_id: session.info.workerId,
      ...(reason ? { reason } : {}),
    });
  }

  async destroyAll(): Promise<void> {
    await this.destroyTemporaries();
    await Promise.all([...this.sessions.values()].map((s) => this.destroySession(s, 'shutdown')));
  }

  /** Shutdown that keeps sessions: backends let go of live handles; rows stay for the next start. */
  async detachAll(): Promise<void> {
    await this.destroyTemporaries();
    await Promise.all(
      [...this.sessions.values()].map(async (s) => {
        if (s.handle === undefined) return;
        try {
          await s.backend.detachSession?.(s.info, s.handle as never);
        } catch (err) {
          this.log.error('session.detach_failed', { session_id: s.id, error: String(err) });
        }
        s.handle = undefined;
      }),
    );
  }
}
