// A Docker container running Xvfb as a Desktop: the display is driven over its X socket
// (x11/display.ts), commands run with docker exec (docker-exec.ts).
import type Docker from 'dockerode';
import type { Desktop, ExecResult, InputEvent, Screenshot } from '../desktop.ts';
import type { X11Display } from '../x11/display.ts';
import { dockerExec } from './docker-exec.ts';

export class DockerDesktop implements Desktop {
  constructor(
    readonly container: Docker.Container,
    /** Name of the session's folder in socket_dir. */
    readonly socketKey: string,
    private readonly display: X11Display,
    private readonly outputLimit: number,
  ) {}

  get width(): number {
    return this.display.width;
  }

  get height(): number {
    return this.display.height;
  }

  get alive(): boolean {
    return !this.display.closed;
  }

  screenshot(format: 'png' | 'jpeg', quality: number): Promise<Screenshot> {
    return this.display.screenshot(format, quality);
  }

  input(events: readonly InputEvent[], signal?: AbortSignal): Promise<void> {
    return this.display.input(events, signal);
  }

  cursor(): Promise<{ x: number; y: number }> {
    return this.display.cursor();
  }

  exec(command: string, timeoutMs: number): Promise<ExecResult> {
    return dockerExec(this.container, command, { timeoutMs, outputLimit: this.outputLimit });
  }

  close(): void {
    this.display.close();
  }
}
