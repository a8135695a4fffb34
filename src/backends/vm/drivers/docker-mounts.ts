// Where the Docker engine sees a folder of this server. On a host that is the folder itself;
// when the server runs in a container (the server image with the Docker socket mounted), it is
// the source of the volume or bind mount that holds the folder, found by inspecting our own
// container. Session containers bind-mount their X socket folder from that host path.
import type Docker from 'dockerode';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError } from '../../../core/errors.ts';

/** The id of the container this process runs in, read from its mounts; undefined on a host. */
function ownContainerId(): string | undefined {
  if (!existsSync('/.dockerenv')) return undefined;
  try {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    return /\/containers\/([0-9a-f]{64})\//.exec(mounts)?.[1];
  } catch {
    return undefined;
  }
}

/** `local` as the engine sees it; throws 5001 when the server is in a container and it is not on a mount. */
export async function engineSidePath(docker: Docker, local: string): Promise<string> {
  const self = ownContainerId();
  if (!self) return local;
  const info = await docker.getContainer(self).inspect();
  const mount = info.Mounts.filter(
    (m) => local === m.Destination || local.startsWith(m.Destination + '/'),
  ).sort((a, b) => b.Destination.length - a.Destination.length)[0];
  if (!mount) {
    throw new ConfigError(
      `The server runs in a container and backends.vm.socket_dir (${local}) is not on a ` +
        'volume or bind mount, so session containers cannot share X sockets with it. Mount a ' +
        'volume there (or set backends.vm.socket_host_dir to its path on the Docker host).',
    );
  }
  return join(mount.Source, relative(mount.Destination, local));
}
