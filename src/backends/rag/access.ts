// Who may write to an index (rag:index): an admin key always; a worker key when the index's
// writable_by matches its worker id. Reads (search, stats) stay open to every worker.
import { globToRegExp, type Caller } from '../../core/auth.ts';
import { PermissionError } from '../../core/errors.ts';

export interface WritePolicy {
  index: string;
  /** Worker-id globs from the index's config; empty: admin only. */
  writableBy: readonly string[];
  /** The index's config path (`backends.rag.indexes.<name>`); null for the shipped demo corpus. */
  configKey: string | null;
}

/** A check that throws 1006 naming the index and what to configure when `caller` may not write. */
export function writeGuard(policy: WritePolicy): (caller: Caller) => void {
  const patterns = policy.writableBy.map(globToRegExp);
  return (caller) => {
    if (caller.admin || patterns.some((p) => p.test(caller.workerId))) return;
    const who = `${caller.key === null ? 'A call' : `Key "${caller.key}"`} for worker "${caller.workerId}"`;
    if (policy.configKey === null) {
      throw new PermissionError(
        `${who} may not write to index "${policy.index}": it is the shipped demo corpus, which ` +
          'only an admin key may change. To let workers write, configure an index of your own ' +
          'under backends.rag.indexes with writable_by listing their worker ids (globs).',
      );
    }
    const list = policy.writableBy.length
      ? JSON.stringify(policy.writableBy)
      : 'empty (admin only)';
    throw new PermissionError(
      `${who} may not write to index "${policy.index}": ${policy.configKey}.writable_by is ` +
        `${list}. Add a glob matching the worker id there, or write with an admin key.`,
    );
  };
}
