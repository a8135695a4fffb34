// The contract between the vm backend and what runs a session's desktop (docker, qemu).
import type { SessionInfo } from '../../backend.ts';
import type { Desktop } from '../desktop.ts';

export type DriverName = 'docker' | 'qemu';

/** A session's validated config (SPEC §6). */
export interface VmSessionConfig {
  screen_size?: [number, number];
  driver?: DriverName;
  image?: string;
  memory_mb?: number;
  cpus?: number;
}

export interface Driver {
  readonly name: DriverName;
  /** Why sessions cannot start now (engine unreachable, binary missing), or undefined. */
  probe(): Promise<string | undefined>;
  create(info: SessionInfo, config: VmSessionConfig): Promise<Desktop>;
  /** Re-attaches to the desktop a previous server process left running (1003 when gone). */
  restore(info: SessionInfo): Promise<Desktop>;
  /** Frees everything the session holds; `desktop` is undefined when it was never attached. */
  destroy(info: SessionInfo, desktop: Desktop | undefined): Promise<void>;
  /** Why a desktop died, e.g. "its container exited with code 137", read before destroy. */
  explainLoss(info: SessionInfo): Promise<string>;
  /**
   * At start-up: removes what belongs to no stored session, and answers the status of each
   * stored session of this driver (`active` when its desktop still runs, else `lost`).
   */
  recover(sessions: readonly SessionInfo[]): Promise<Map<string, string>>;
  close(): Promise<void>;
}
