// What a vm tool needs from a session's desktop, whatever runs it (a Docker container with Xvfb,
// a QEMU VM): the screen, input as a batch of low-level events, the cursor, and a shell.

/** X button numbers: 1 left, 2 middle, 3 right, 4/5 wheel up/down, 6/7 wheel left/right. */
export const BUTTONS = { left: 1, middle: 2, right: 3 } as const;
export type ButtonName = keyof typeof BUTTONS;

export type InputEvent =
  | { kind: 'move'; x: number; y: number }
  | { kind: 'button'; button: number; down: boolean }
  | { kind: 'key'; keysym: number; down: boolean }
  /** Lets the desktop's programs catch up (typing with an interval, drags). */
  | { kind: 'pause'; ms: number };

export interface Screenshot {
  /** base64 */
  image: string;
  format: 'png' | 'jpeg';
  width: number;
  height: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  exit_code: number | null;
  timed_out: boolean;
  truncated: boolean;
  duration_ms: number;
}

export interface Desktop {
  readonly width: number;
  readonly height: number;
  /** False once the connection to the display dropped (the container or VM died). */
  readonly alive: boolean;
  screenshot(format: 'png' | 'jpeg', quality: number): Promise<Screenshot>;
  /** Sends the events in order; resolves once the display has processed them. */
  input(events: readonly InputEvent[], signal?: AbortSignal): Promise<void>;
  cursor(): Promise<{ x: number; y: number }>;
  exec(command: string, timeoutMs: number): Promise<ExecResult>;
  /** Lets go of connections without touching what runs the desktop (detach, destroy). */
  close(): void;
}
