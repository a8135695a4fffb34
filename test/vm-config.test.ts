// What a vm session config may carry into the host: image names only in the Docker reference
// grammar (they become Engine API URL paths), nothing a worker could point at host paths,
// devices, env or networks; and an engine redirect never escapes the request that caused it.
import { describe, expect, test } from 'bun:test';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { vmSessionConfigSchema } from '../src/backends/vm/config.ts';
import { DockerDriver } from '../src/backends/vm/drivers/docker.ts';
import { ScreenshotEncoder } from '../src/backends/vm/encoder.ts';
import { loadConfig } from '../src/config.ts';
import { ConfigError, ParameterError } from '../src/core/errors.ts';
import { silentLogger } from '../src/core/log.ts';
import { compileValidator, stripUnknownKeys } from '../src/core/validate.ts';
import { buildApp, tempDir } from './helpers.ts';
import { dockerReachable, SKIP_MESSAGE } from './fixtures/vm/docker.ts';

const GRAMMAR = '[registry/]name[:tag][@digest]';
const session = compileValidator(vmSessionConfigSchema);
const parse = (config: unknown) => session.parse(config, (message) => new ParameterError(message));

const DIGEST = `sha256:${'a1'.repeat(32)}`;

describe('image references', () => {
  test('the Docker reference grammar is accepted', () => {
    for (const image of [
      'agentflow-desktop',
      'agentflow-desktop:latest',
      'agentflow-desktop:v1.2_rc-3',
      'agentflow-team/desktop__x.y:tag',
      'agentflow-a--b',
      `agentflow-desktop@${DIGEST}`,
      `agentflow-desktop:latest@${DIGEST}`,
      'registry.local:5000/agentflow-desktop:1',
      'localhost/agentflow/desktop',
    ]) {
      expect(parse({ image })).toEqual({ image });
    }
  });

  test('anything else is a 1002 naming the field and the grammar', () => {
    for (const image of [
      'agentflow-../../x',
      'agentflow-desktop/../../../containers/create',
      'agentflow-x/./y',
      'agentflow-x//y',
      'agentflow-x/',
      '/agentflow-x',
      'agentflow-Desktop',
      'agentflow-x:',
      'agentflow-x:.tag',
      `agentflow-x:${'t'.repeat(129)}`,
      'agentflow-x@sha256:xyz',
      'agentflow-x@sha256',
      'agentflow-x?all=1',
      'agentflow-x#frag',
      'agentflow-x%2F..%2Fy',
      'agentflow-x y',
      'agentflow-x\n',
      'agentflow-x.',
      'agentflow-x_',
      'agentflow-x___y',
    ]) {
      let error: unknown;
      try {
        parse({ image });
      } catch (err) {
        error = err;
      }
      expect({ image, error }).toEqual({ image, error: expect.any(ParameterError) });
      expect((error as Error).message).toStartWith('image: ');
      expect((error as Error).message).toContain(GRAMMAR);
    }
  });

  test("the operator's backends.vm.image is held to the same grammar (5001)", () => {
    const dir = tempDir('af-vmconf-');
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ backends: { vm: { image: 'desktop/../x' } } }));
    expect(() => loadConfig({ configPath: file }, {})).toThrow(ConfigError);
    expect(() => loadConfig({ configPath: file }, {})).toThrow(
      /backends\.vm\.image: .*name\[:tag\]/,
    );
  });
});

describe('a session config cannot reach into the host', () => {
  // vm on with an engine that does not exist: every answer below comes from validation alone.
  const app = (strict = false) =>
    buildApp({
      execution: { strict_params: strict },
      backends: { vm: { enabled: true, docker_socket: '/nonexistent/docker.sock' } },
    });

  // Keys the vm config does not have: ignored by default (upstream's configs carry many), refused
  // with strict_params; never passed on.
  const unknown: [Record<string, unknown>, string][] = [
    [{ binds: ['/:/host'] }, 'binds'],
    [{ volumes: { '/etc': {} } }, 'volumes'],
    [{ mounts: [{ source: '/', target: '/host' }] }, 'mounts'],
    [{ devices: ['/dev/kvm'] }, 'devices'],
    [{ env: { LD_PRELOAD: '/tmp/x.so' } }, 'env'],
    [{ network: 'host' }, 'network'],
    [{ privileged: true }, 'privileged'],
    [{ cap_add: ['SYS_ADMIN'] }, 'cap_add'],
    [{ disk_image: '/etc/shadow' }, 'disk_image'],
    [{ kernel: '/boot/vmlinuz' }, 'kernel'],
    [{ qemu: { binary: '/bin/sh' } }, 'qemu'],
    [{ socket_dir: '/' }, 'socket_dir'],
  ];

  test('keys the vm config does not have never reach the backend: stripped, named, or 1002 when strict', async () => {
    const lenient = await app();
    const strict = await app(true);
    try {
      const vm = lenient.services.backends.find((b) => b.name === 'vm')!;
      for (const [config, field] of unknown) {
        const { value, ignored } = stripUnknownKeys(vm.sessionConfig!, config);
        expect(ignored).toEqual([field]);
        expect(value).toEqual({});
        const r = await strict.post('/session/create', {
          worker_id: 'w',
          resource_type: 'vm',
          config,
        });
        expect({ config, code: r.body.code }).toEqual({ config, code: 1002 });
        expect(r.body.message).toContain(field);
      }
    } finally {
      await lenient.close();
      await strict.close();
    }
  });

  test('bad values of the vm config’s own fields are refused with 1002 naming the field', async () => {
    const t = await app();
    try {
      const refused: [Record<string, unknown>, string][] = [
        [{ image: 'agentflow-../../x' }, 'image'],
        [{ screen_size: ['1024;id', 768] }, 'screen_size.0'],
        [{ memory_mb: '512 -drive file=/etc/shadow' }, 'memory_mb'],
        [{ cpus: '1,maxcpus=9' }, 'cpus'],
        [{ driver: 'docker --privileged' }, 'driver'],
      ];
      for (const [config, field] of refused) {
        const r = await t.post('/session/create', {
          worker_id: 'w',
          resource_type: 'vm',
          config,
        });
        expect({ config, code: r.body.code }).toEqual({ config, code: 1002 });
        expect(r.body.message).toContain(`${field}:`);
      }
    } finally {
      await t.close();
    }
  });
});

const reachable = await dockerReachable();
if (!reachable) console.warn(SKIP_MESSAGE);

(reachable ? test : test.skip)(
  'an engine redirect (an unclean path) is a 2001 of the request, not an error thrown elsewhere',
  async () => {
    const encoder = new ScreenshotEncoder(1);
    const driver = new DockerDriver({
      socketPath: '/var/run/docker.sock',
      image: 'agentflow-desktop:latest',
      allowedImages: ['agentflow-*'],
      network: 'none',
      memoryMb: 512,
      cpus: 1,
      pidsLimit: 64,
      shmMb: 64,
      startTimeoutMs: 5000,
      socketDir: tempDir('af-vmredirect-'),
      socketHostDir: undefined,
      outputLimit: 1024,
      pngLevel: 1,
      damageTracking: false,
      instanceId: 'redirect-test',
      log: silentLogger,
      encoder,
    });
    try {
      // Past the grammar check on purpose: the driver's own answer to what the engine redirects.
      const answer = await driver.imageLabels('agentflow-../../x').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(answer).toMatchObject({ code: 2001 });
      expect((answer as Error).message).toContain('redirect');
      // The engine is still driven normally afterwards.
      expect(await driver.imageLabels('agentflow-desktop:no-such-tag')).toBeUndefined();
    } finally {
      encoder.close();
    }
  },
);
