// The vm backend's config section (`backends.vm`) and the session config of SPEC §6.
import { Type } from '@sinclair/typebox';
import { Type as t, type Static } from '@sinclair/typebox';
import { OBSERVATIONS } from './a11y.ts';
import { IMAGE_REFERENCE_PATTERN, IMAGE_REFERENCE_RULE } from './image-reference.ts';

/** A Docker image reference; anything else never reaches the Engine API (see image-reference.ts). */
function imageReference(options: { default?: string; description?: string }) {
  return t.String({
    minLength: 1,
    maxLength: 256,
    pattern: IMAGE_REFERENCE_PATTERN,
    errorMessage: IMAGE_REFERENCE_RULE,
    ...options,
  });
}

const driverName = t.Union([t.Literal('docker'), t.Literal('qemu')]);

export const qemuConfigSchema = t.Object(
  {
    binary: t.String({ default: 'qemu-system-x86_64', minLength: 1 }),
    kernel: t.Optional(t.String({ minLength: 1, description: 'Kernel to boot (-kernel)' })),
    initrd: t.Optional(t.String({ minLength: 1, description: 'Initramfs (-initrd)' })),
    append: t.String({ default: 'console=ttyS0 quiet', description: 'Kernel command line' }),
    disk_image: t.Optional(
      t.String({
        minLength: 1,
        description: 'Base disk (qcow2/raw); each session runs on its own copy-on-write overlay',
      }),
    ),
    accel: t.Union([t.Literal('auto'), t.Literal('kvm'), t.Literal('tcg')], {
      default: 'auto',
      description: 'auto: KVM when a boot probe shows it works, else TCG',
    }),
    memory_mb: t.Integer({ default: 512, minimum: 64 }),
    boot_timeout_seconds: t.Number({ default: 60, exclusiveMinimum: 0 }),
  },
  { additionalProperties: false, default: {} },
);

export const vmConfigSchema = t.Object(
  {
    enabled: t.Optional(
      t.Boolean({
        description:
          'Unset: on when the default driver can run (a Docker engine answers at start-up, or ' +
          'the QEMU binary exists). true: always on (sessions answer 2004 while Docker is down).',
      }),
    ),
    default_driver: t.Union([t.Literal('docker'), t.Literal('qemu')], { default: 'docker' }),
    docker_socket: t.Optional(
      t.String({
        minLength: 1,
        description: 'Default: DOCKER_HOST (unix://) or /var/run/docker.sock',
      }),
    ),
    image: imageReference({ default: 'agentflow-desktop:latest' }),
    allowed_images: t.Array(t.String({ minLength: 1 }), {
      default: ['agentflow-*'],
      description: 'Images a session config may name; a trailing * matches any suffix',
    }),
    network: t.String({
      default: 'none',
      minLength: 1,
      description: 'Docker network mode of session containers (none, bridge, a network name)',
    }),
    memory_mb: t.Integer({ default: 2048, minimum: 128, description: 'Per session, default' }),
    cpus: t.Number({ default: 1, exclusiveMinimum: 0, description: 'Per session, default' }),
    max_memory_mb: t.Integer({
      default: 16384,
      minimum: 128,
      description: 'Most a session may ask',
    }),
    max_cpus: t.Number({ default: 8, exclusiveMinimum: 0, description: 'Most a session may ask' }),
    pids_limit: t.Integer({ default: 1024, minimum: 16 }),
    shm_mb: t.Integer({
      default: 256,
      minimum: 16,
      description: '/dev/shm size (browsers need it)',
    }),
    start_timeout_seconds: t.Number({ default: 30, exclusiveMinimum: 0 }),
    socket_dir: t.Optional(
      t.String({
        minLength: 1,
        description: 'Folder of the per-session X sockets (default: <data_dir>/vm-x11)',
      }),
    ),
    socket_host_dir: t.Optional(
      t.String({
        minLength: 1,
        description:
          'socket_dir as the Docker host sees it, when the server runs in a container and ' +
          'it cannot be found from the container mounts',
      }),
    ),
    exec_output_limit_bytes: t.Integer({ default: 1024 * 1024, minimum: 1024 }),
    png_compression: t.Integer({
      default: 3,
      minimum: 1,
      maximum: 9,
      description: 'Deflate level of PNG screenshots (1 fastest .. 9 smallest)',
    }),
    damage_tracking: t.Boolean({
      default: true,
      description:
        "Keep each desktop's last frame and fetch only what the X DAMAGE extension reports as " +
        'redrawn; an unchanged screen is answered from the last encoding (~8 MB per 1080p session)',
    }),
    encoder_threads: t.Integer({
      default: 0,
      minimum: 0,
      maximum: 64,
      description: 'Screenshot encoder threads (0: one per core, at most 4)',
    }),
    qemu: qemuConfigSchema,
  },
  { additionalProperties: false, default: {} },
);

export type VmConfig = Static<typeof vmConfigSchema>;
export type QemuConfig = Static<typeof qemuConfigSchema>;

export const MIN_SCREEN = [320, 200] as const;
export const MAX_SCREEN = [4096, 4096] as const;
export const DEFAULT_SCREEN: [number, number] = [1920, 1080];

/** One OSWorld-style setup step: `{type, parameters}`; parameters are checked per type. */
const setupStep = t.Object(
  {
    type: t.String({ minLength: 1, maxLength: 64 }),
    parameters: t.Optional(t.Record(t.String({ maxLength: 64 }), t.Unknown())),
  },
  { additionalProperties: false },
);

/**
 * Upstream session-config keys that mean nothing here (its VM pool, cloud providers, ports of its
 * in-VM server, recording): accepted, and logged once per server (`vm.config_ignored`).
 */
export const UPSTREAM_IGNORED = [
  'connection_type',
  'host',
  'port',
  'region',
  'pool_size',
  'pool_reset',
  'snapshot_name',
  'use_proxy',
  'server_port',
  'chromium_port',
  'vnc_port',
  'vlc_port',
  'recording',
  'recording_path',
  'vm_path',
] as const;

const ignoredValue = t.Union([t.String({ maxLength: 4096 }), t.Number(), t.Boolean(), t.Null()]);

export const vmSessionConfigSchema = t.Object(
  {
    // No default on the tuple itself: TypeBox would fill a one-element array from it
    // ([800] → [800, 1080]) instead of rejecting it. DEFAULT_SCREEN applies when absent.
    screen_size: t.Optional(
      Type.Tuple(
        [
          Type.Integer({ minimum: MIN_SCREEN[0], maximum: MAX_SCREEN[0] }),
          Type.Integer({ minimum: MIN_SCREEN[1], maximum: MAX_SCREEN[1] }),
        ],
        { description: '[width, height] in pixels (default [1920, 1080])' },
      ),
    ),
    driver: t.Optional(driverName),
    image: t.Optional(
      imageReference({
        description: 'Docker image (default: backends.vm.image; must match allowed_images)',
      }),
    ),
    memory_mb: t.Optional(t.Integer({ minimum: 128, maximum: 1048576 })),
    cpus: t.Optional(t.Number({ exclusiveMinimum: 0, maximum: 256 })),
    observation: t.Optional(
      t.Union(
        OBSERVATIONS.map((o) => t.Literal(o)),
        {
          description:
            'accessibility_tree / both: the results of vm actions carry accessibility_tree (the ' +
            "desktop's AT-SPI tree as XML); screenshot (or unset): they do not",
        },
      ),
    ),
    // Upstream's session config (see README.md, "Upstream session config").
    setup: t.Optional(
      t.Array(setupStep, {
        maxItems: 100,
        description:
          'OSWorld-style steps run in the desktop at session create: launch, execute, command, ' +
          'sleep, open, activate_window',
      }),
    ),
    os_type: t.Optional(
      t.String({ maxLength: 64, description: 'Ubuntu / Linux (the only desktops here)' }),
    ),
    provider: t.Optional(
      t.String({
        maxLength: 64,
        description: 'docker or qemu pick the driver; others are ignored',
      }),
    ),
    headless: t.Optional(t.Boolean({ description: 'Desktops are always headless here' })),
    client_password: t.Optional(
      t.String({ maxLength: 256, description: 'Replaces {CLIENT_PASSWORD} in setup commands' }),
    ),
    ...Object.fromEntries(UPSTREAM_IGNORED.map((key) => [key, t.Optional(ignoredValue)])),
  },
  { additionalProperties: false },
);
