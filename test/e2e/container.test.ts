// The container files, checked without a Docker engine (none runs here): the Dockerfile's final
// stage is carried out step by step in a temporary folder (its COPY and RUN lines, the build
// stage's output taken from this checkout's `npm run build`), then its ENTRYPOINT is started with
// its ENV, its HEALTHCHECK command must pass, and SIGTERM must end it with exit 0. compose.yaml is
// parsed and checked for two nodes sharing one Redis.

import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { freePort } from '../helpers/process.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');

interface Instruction {
  op: string;
  args: string;
}
interface Stage {
  from: string;
  name: string | undefined;
  steps: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped, split into stages at FROM. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { op: op.toUpperCase(), args: rest.replace(/\s+/g, ' ') };
    if (instruction.op === 'FROM') {
      const [from = '', as, name] = instruction.args.split(' ');
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, steps: [] });
    } else if (stages.length === 0 && instruction.op === 'ARG') {
      const [k = '', v = ''] = instruction.args.split('=');
      args.set(k, v);
    } else {
      stages.at(-1)?.steps.push(instruction);
    }
  }
  return { args, stages };
}

/** ENV in both forms: `K=V K2=V2` and the legacy `K V`. */
function envPairs(args: string): [string, string][] {
  if (!args.includes('=')) {
    const [k = '', ...v] = args.split(' ');
    return [[k, v.join(' ')]];
  }
  return args.split(' ').map((kv) => kv.split('=') as [string, string]);
}

const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const final = dockerfile.stages.at(-1) as Stage;
const stepsOf = (stage: Stage, op: string) => stage.steps.filter((s) => s.op === op);

describe('Dockerfile', () => {
  it('builds in one stage and runs on a Debian with glibc >= 2.38 (uWS), as a non-root user, with production dependencies only', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    const build = dockerfile.stages[0] as Stage;
    expect(build.name).toBe('build');
    expect(stepsOf(build, 'RUN').map((s) => s.args)).toContain('npm run build');
    expect(['20', '22', '24']).toContain(dockerfile.args.get('NODE_VERSION'));
    // trixie (Debian 13) has glibc 2.41: @btc-vision/uwebsockets.js needs 2.38.
    for (const stage of dockerfile.stages) expect(stage.from).toBe('node:${NODE_VERSION}-trixie-slim');
    expect(stepsOf(final, 'USER').at(-1)?.args).toBe('node');
    expect(stepsOf(final, 'RUN').some((s) => /\bnpm ci --omit=dev\b/.test(s.args))).toBe(true);
    expect(stepsOf(final, 'COPY').map((s) => s.args)).toEqual(expect.arrayContaining([expect.stringMatching(/^--from=build /)]));
    // Exec form: node is PID 1, so `docker stop`'s SIGTERM reaches it, not a shell.
    expect(JSON.parse(stepsOf(final, 'ENTRYPOINT').at(-1)?.args ?? 'null')).toEqual(['node', 'dist/cli.js']);
    expect(stepsOf(final, 'STOPSIGNAL').at(-1)?.args).toBe('SIGTERM');
    const dockerignore = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n');
    expect(dockerignore).toEqual(expect.arrayContaining(['node_modules', 'dist', 'client/dist']));
  });

  describe('its final stage, carried out in a temporary folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hubbub-image-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('starts the hub from its ENTRYPOINT with its ENV, passes its HEALTHCHECK, and exits 0 on SIGTERM', async () => {
      let workdir = dir;
      const systemSteps: string[] = [];
      const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dir };
      const inImage = (p: string) => (isAbsolute(p) ? join(dir, p) : join(workdir, p));
      for (const { op, args } of final.steps) {
        if (op === 'WORKDIR') {
          workdir = inImage(args);
          mkdirSync(workdir, { recursive: true });
        } else if (op === 'ENV') {
          for (const [k, v] of envPairs(args)) env[k] = v;
        } else if (op === 'COPY') {
          const parts = args.split(' ');
          const fromBuild = parts[0]?.startsWith('--from=') === true;
          const paths = fromBuild ? parts.slice(1) : parts;
          const dest = paths.pop() as string;
          for (const src of paths) {
            // The build stage's WORKDIR is /app; its output is what `npm run build` made here.
            const from = fromBuild ? join(root, src.replace(/^\/app\//, '')) : join(root, src);
            const to = dest.endsWith('/') ? join(inImage(dest), src.split('/').at(-1) as string) : inImage(dest);
            cpSync(from, to, { recursive: true });
          }
        } else if (op === 'RUN') {
          const command = args.replace(/--mount=\S+\s*/g, '');
          // Only the installs run here; the rest would act on this machine's own / and users.
          if (command.startsWith('npm ')) await run('sh', ['-c', command], { cwd: workdir, env, maxBuffer: 16 << 20 });
          else systemSteps.push(command);
        }
      }
      // The data directory for a durable single node (HUBBUB_DATA_DIR=/data), writable by the user it runs as.
      expect(systemSteps).toEqual(['mkdir -p /data && chown node:node /data']);
      const port = String(await freePort());
      // Loopback only in tests; the image itself listens on 0.0.0.0.
      const runtimeEnv = { ...env, HUBBUB_PORT: port, HUBBUB_HOST: '127.0.0.1', HUBBUB_LOG_LEVEL: 'warn' };
      const [cmd = '', ...argv] = JSON.parse(stepsOf(final, 'ENTRYPOINT').at(-1)?.args ?? '[]') as string[];
      const hub = spawn(cmd, argv, { cwd: workdir, env: runtimeEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      hub.stdout.on('data', (d: Buffer) => (output += d.toString()));
      hub.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => hub.once('exit', resolve));
      try {
        const health = stepsOf(final, 'HEALTHCHECK').at(-1)?.args ?? '';
        const [hcCmd = '', ...hcArgs] = JSON.parse(health.slice(health.indexOf('CMD ') + 4)) as string[];
        const deadline = Date.now() + 15_000;
        for (;;) {
          const ok = await run(hcCmd, hcArgs, { cwd: workdir, env: runtimeEnv }).then(() => true, () => false);
          if (ok) break;
          if (hub.exitCode !== null || Date.now() > deadline) throw new Error(`the image's hub never became healthy:\n${output}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(await (await fetch(`http://127.0.0.1:${port}/hubbub.js`)).text()).toContain('Hubbub');
        // A production image: no demo pages, the console's page is there (behind the API key).
        expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
        expect((await fetch(`http://127.0.0.1:${port}/console`)).status).toBe(200);
      } finally {
        hub.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
    }, 90_000);
  });
});

describe('compose.yaml', () => {
  interface Service {
    build?: string;
    image?: string;
    ports?: string[];
    environment?: Record<string, string>;
    depends_on?: Record<string, { condition: string }>;
    healthcheck?: { test: string[] };
  }
  const compose = parseYaml(readFileSync(join(root, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };

  it('runs two hubbub nodes from this Dockerfile on one Redis, each started once Redis answers', () => {
    const nodes = Object.entries(compose.services).filter(([, s]) => s.build === '.');
    expect(nodes.map(([name]) => name).sort()).toEqual(['hubbub-1', 'hubbub-2']);
    const redis = Object.entries(compose.services).find(([, s]) => s.image?.startsWith('redis:'));
    expect(redis).toBeDefined();
    const [redisName, redisService] = redis as [string, Service];
    expect(redisService.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
    const hostPorts = new Set<string>();
    for (const [, node] of nodes) {
      expect(node.environment?.HUBBUB_REDIS_URL).toBe(`redis://${redisName}:6379`);
      expect(node.depends_on?.[redisName]?.condition).toBe('service_healthy');
      for (const p of node.ports ?? []) hostPorts.add(p.split(':')[0] as string);
    }
    expect(hostPorts.size).toBe(2);
    // Keys and the token secret must be the same on every node.
    const [a, b] = nodes.map(([, s]) => s.environment);
    expect(a).toEqual(b);
    expect(a?.HUBBUB_API_KEYS).toMatch(/^\$\{HUBBUB_API_KEYS:\?/);
  });
});
