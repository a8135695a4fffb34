// What a vm session remembers of the agent's task, persisted as the session's state: the last
// action and whether it failed, a short history, and how the agent ended the task (vm:done,
// vm:fail). Field names are those upstream's vm sessions keep (`last_action`,
// `last_action_failed`, `action_history`), so evaluation code reading them finds the same facts.

/** Upstream keeps the last 50 actions. */
const HISTORY = 50;

export interface ActionRecord {
  tool: string;
  ok: boolean;
  /** Seconds since the epoch, as upstream records it. */
  ts: number;
}

export interface TaskEnd {
  status: 'done' | 'failed';
  reason?: string;
  /** ISO-8601 UTC. */
  at: string;
}

export class TaskRecord {
  private lastAction: string | null = null;
  private lastActionFailed = false;
  private history: ActionRecord[] = [];
  private end: TaskEnd | null = null;

  /** Picks up what a previous server process persisted (restart, re-attach). */
  static fromState(state: Record<string, unknown>): TaskRecord {
    const r = new TaskRecord();
    if (typeof state.last_action === 'string') r.lastAction = state.last_action;
    r.lastActionFailed = state.last_action_failed === true;
    if (Array.isArray(state.action_history)) {
      r.history = (state.action_history as ActionRecord[]).slice(-HISTORY);
    }
    const task = state.task as TaskEnd | null | undefined;
    if (task && (task.status === 'done' || task.status === 'failed')) r.end = task;
    return r;
  }

  record(tool: string, ok: boolean): void {
    this.history.push({ tool, ok, ts: Date.now() / 1000 });
    if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY);
    this.lastAction = tool;
    this.lastActionFailed = !ok;
  }

  done(): void {
    this.end = { status: 'done', at: new Date().toISOString() };
  }

  fail(reason: string | undefined): void {
    this.end = { status: 'failed', ...(reason ? { reason } : {}), at: new Date().toISOString() };
  }

  toState(): Record<string, unknown> {
    return {
      last_action: this.lastAction,
      last_action_failed: this.lastActionFailed,
      action_history: this.history,
      task: this.end,
    };
  }
}
