// The bash session sandbox for other programs than a shell (python, ds): the same warmup probe,
// bubblewrap view, seccomp filter, rlimits, per-session uid and cgroup slot, and a workspace of
// its own per session under `<data dir>/<name>-workspaces` (bash's recovery only sweeps its own
// root). Each user keeps its own uid range and cgroup root, so no two backends hand out one slot.
import { Type as t, type Static } from '@sinclair/typebox';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync } from 'node:fs';
import { statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendEnv, WarmupContext } from '../backend.ts';
import { WarmupError } from '../../core/errors.ts';
import { workerUrl } from '../../core/workers.ts';
import { SessionCgroups } from './cgroups.ts';
import { bashConfigSchema } from './index.ts';
import type { ProbeInput, ProbeResult } from './probe-worker.ts';
import { killAll, processesWithEnv, uidsInUse } from './processes.ts';
import { shellPrefix, type SandboxPlan } from './sandbox.ts';
import { sessionFilter } from './seccomp.ts';
import { SessionUids } from './session-uids.ts';
import { Trash } from './trash.ts';

/** The sandbox settings of a backend's config section; `firstUid` keeps uid ranges apart. */
export function sandboxSettings(firstUid: number) {
  return {
    isolation: bashConfigSchema.properties.isolation,
    session_uids: t.Object(
      {
        first: t.Integer({ default: firstUid, minimum: 1000, description: 'First uid (and gid)' }),
        count: t.Integer({ default: 65536, minimum: 1, description: 'How many uids' }),
      },
      {
        additionalProperties: false,
        default: {},
        description:
          'When the server runs as root, each session runs as its own uid from this range ' +
          '(keep it apart from backends.bash.session_uids)',
      },
    ),
    limits: bashConfigSchema.properties.limits,
  };
}

const settingsSchema = t.Object(sandboxSettings(0));
export type SandboxSettings = Static<typeof settingsSchema>;

/** One session's place in the sandbox: how to start a program there. */
export interface SandboxedSession {
  readonly workspace: string;
  readonly uid?: number;
  /** The argv before the program; `mounts` are extra bwrap mounts (read-only binds). */
  prefix(mounts?: readonly string[]): string[];
  /** The seccomp filter's descriptor, handed to the child as fd 3. */
  openStartFd?: () => number;
  onProcesses?: (pids: number[]) => void;
  /** Environment marks: how a later start finds and reaps the session's processes. */
  readonly marks: Record<string, string>;
}

export class ProgramSandbox {
  readonly workspaceRoot: string;
  private readonly trash: Trash;
  private readonly plan: SandboxPlan;
  private uids: SessionUids | undefined;
  private cgroups: SessionCgroups | undefined;
  private filterFd: number | undefined;
  /** What warmup found, for the warmup status detail. */
  summary = '';

  constructor(
    private readonly name: string,
    private readonly settings: SandboxSettings,
    private readonly env: BackendEnv,
  ) {
    this.workspaceRoot = join(env.dataDir, `${name}-workspaces`);
    this.trash = new Trash(join(env.dataDir, `${name}-trash`));
    this.trash.empty();
    this.plan = {
      isolation: undefined,
      bwrapPath: 'bwrap',
      dataDir: env.dataDir,
      hiddenPaths: env.hiddenPaths,
      hostDirs: [],
      limits: { ...settings.limits },
    };
  }

  get isolation() {
    return this.plan.isolation;
  }

  /** Decides the isolation exactly as bash does (its probe, in a worker thread). */
  async warmup(ctx: WarmupContext): Promise<void> {
    const input: ProbeInput = {
      shell: 'bash',
      workspaceRoot: this.workspaceRoot,
      isolation: this.settings.isolation,
      wantLimits: true,
      probeUid: this.settings.session_uids.first,
    };
    mkdirSync(this.workspaceRoot, { recursive: true, mode: 0o700 });
    const probe = await ctx.runInWorker<ProbeResult>(
      workerUrl('backends/bash/probe-worker.ts'),
      input,
    );
    const plan = this.plan;
    plan.bwrapPath = probe.bwrapPath;
    if (probe.prlimitPath) plan.prlimitPath = probe.prlimitPath;
    if (probe.setprivPath) plan.setprivPath = probe.setprivPath;
    if (probe.isolation === 'bwrap') {
      const filter = sessionFilter();
      if (filter && this.filterFd === undefined) {
        // An open, unlinked file, as bash keeps it: nothing on disk a session could rewrite.
        const path = join(this.env.dataDir, `.seccomp-${this.name}-${process.pid}`);
        writeFileSync(path, filter, { mode: 0o600 });
        this.filterFd = openSync(path, 'r');
        unlinkSync(path);
      }
      if (this.filterFd !== undefined) plan.seccompPath = `/proc/self/fd/${this.filterFd}`;
      if (probe.dropToSessionUid && !this.uids) {
        const { first, count } = this.settings.session_uids;
        this.uids = new SessionUids(first, count, join(this.env.dataDir, `${this.name}-uids.next`));
        plan.limits.processes ??= 512;
        for (const entry of readdirSync(this.workspaceRoot)) {
          this.uids.claim(statSync(join(this.workspaceRoot, entry)).uid);
        }
        const opened = SessionCgroups.open(`${this.env.instanceId}-${this.name}`);
        if (typeof opened === 'string') {
          probe.warnings.push(`per-session memory and process caps are NOT enforced: ${opened}`);
        } else this.cgroups = opened;
      }
    }
    plan.isolation = probe.isolation;
    for (const warning of probe.warnings) this.env.log.warn(`${this.name}.warning`, { warning });
    const who = this.uids ? `uids ${this.uids.first}+` : 'server user';
    this.summary = `isolation: ${probe.isolation}, ${who}`;
  }

  /** Makes (or takes back) the session's workspace, uid and cgroup slot. */
  open(sessionId: string): SandboxedSession {
    if (this.plan.isolation === undefined) {
      throw new WarmupError(`The ${this.name} backend has not warmed up yet; retry after /warmup.`);
    }
    const workspace = join(this.workspaceRoot, sessionId);
    mkdirSync(workspace, { recursive: true, mode: 0o700 });
    let uid: number | undefined;
    if (this.uids) {
      const owner = statSync(workspace).uid;
      if (this.uids.has(owner)) {
        this.uids.claim(owner);
        uid = owner;
      } else {
        uid = this.uids.take(uidsInUse);
        chownSync(workspace, uid, uid);
      }
    }
    const { limits } = this.settings;
    const group = this.cgroups;
    group?.create(sessionId, {
      memoryBytes: limits.session_memory_mb * 1024 * 1024,
      processes: limits.session_processes,
    });
    const seccomp = this.plan.seccompPath;
    return {
      workspace,
      ...(uid === undefined ? {} : { uid }),
      prefix: (mounts) =>
        shellPrefix(this.plan, {
          workspace,
          network: false,
          ...(uid === undefined ? {} : { uid }),
          ...(seccomp ? { seccompFd: 3 } : {}),
          ...(mounts ? { extraMounts: mounts } : {}),
        }),
      ...(seccomp ? { openStartFd: () => openSync(seccomp, 'r') } : {}),
      ...(group ? { onProcesses: (pids: number[]) => group.join(sessionId, pids) } : {}),
      marks: { AGENTFLOW_INSTANCE: this.env.instanceId, AGENTFLOW_SESSION_ID: sessionId },
    };
  }

  /** Frees the session's uid and slot and deletes its workspace in the background. */
  release(sessionId: string, session: SandboxedSession | undefined): void {
    const workspace = join(this.workspaceRoot, sessionId);
    const uid = session?.uid ?? statSync(workspace, { throwIfNoEntry: false })?.uid;
    if (uid !== undefined) this.uids?.release(uid);
    this.cgroups?.release(sessionId);
    this.trash.remove(workspace);
  }

  /** The server keeps the session for its next start: only the uid is let go. */
  detach(session: SandboxedSession): void {
    if (session.uid !== undefined) this.uids?.release(session.uid);
  }

  /** At start-up: kills what the last run left of sessions not kept, deletes their workspaces. */
  recover(keep: ReadonlySet<string>): void {
    const orphans = processesWithEnv('AGENTFLOW_INSTANCE', this.env.instanceId);
    killAll(orphans);
    if (!existsSync(this.workspaceRoot)) return;
    for (const entry of readdirSync(this.workspaceRoot)) {
      if (!keep.has(entry)) this.trash.remove(join(this.workspaceRoot, entry));
    }
  }

  async close(): Promise<void> {
    await this.cgroups?.close();
    if (this.filterFd !== undefined) closeSync(this.filterFd);
    this.filterFd = undefined;
  }
}
