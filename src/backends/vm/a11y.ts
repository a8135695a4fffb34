// Accessibility-tree observations: when a session's config asks (`observation:
// "accessibility_tree" | "both"`), the results of the vm actions carry `accessibility_tree`, the
// desktop's AT-SPI tree as XML in the shape upstream's desktop server answers (upstream's vm
// formatter prints that string as the agent's observation). The tree comes from our dumper in the
// desktop image (images/desktop/a11y-tree.py), run through the desktop's exec path with a time limit.
import type { Logger } from '../../core/log.ts';
import type { Desktop } from './desktop.ts';

export const OBSERVATIONS = ['screenshot', 'accessibility_tree', 'both'] as const;
export type Observation = (typeof OBSERVATIONS)[number];

/** The tools whose results carry the tree: upstream's, which all answer `accessibility_tree`. */
export const OBSERVED_TOOLS: ReadonlySet<string> = new Set([
  'screenshot',
  'click',
  'double_click',
  'right_click',
  'move',
  'drag',
  'scroll',
  'type',
  'key',
  'hotkey',
  'key_down',
  'key_up',
  'mouse_down',
  'mouse_up',
  'wait',
  'pyautogui',
]);

/** Longest a tree may take; a desktop with a hung program answers null rather than stall. */
export const TREE_LIMIT_MS = 5000;

export function wantsTree(sessionConfig: Record<string, unknown> | null): boolean {
  const o = sessionConfig?.observation;
  return o === 'accessibility_tree' || o === 'both';
}

/**
 * The desktop's accessibility tree, or null (as upstream answers) when it cannot be had: the image
 * has no dumper, AT-SPI does not answer, the time is up, or the driver has no exec (qemu).
 */
export async function accessibilityTree(
  desktop: Desktop,
  limitMs: number,
  log: Logger,
  sessionId: string,
): Promise<string | null> {
  if (limitMs < 500) return null;
  // The dumper stops its walk a little before the limit and prints what it read; the kill after
  // the limit is for a dumper stuck in a call to a hung program.
  const walk = Math.max(0.2, (limitMs - 700) / 1000).toFixed(2);
  try {
    const r = await desktop.exec(
      `command -v agentflow-a11y-tree >/dev/null || exit 127; agentflow-a11y-tree ${walk}`,
      limitMs,
    );
    if (r.exit_code === 0 && r.stdout.startsWith('<') && !r.truncated) return r.stdout;
    log.warn('vm.a11y_tree_failed', {
      session_id: sessionId,
      exit_code: r.exit_code,
      timed_out: r.timed_out,
      truncated: r.truncated,
      stderr: r.stderr.slice(-500),
    });
  } catch (err) {
    log.warn('vm.a11y_tree_failed', { session_id: sessionId, error: String(err) });
  }
  return null;
}
