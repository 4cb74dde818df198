// The two npm packages as a user gets them: `npm pack` of hubbub-server and hubbub-client holds
// what each needs and nothing else, and the tarballs installed into an empty project give a
// working `hubbub` command, a hub that serves its SDK, and an SDK that talks to it.

import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/process.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface PackedFile {
  path: string;
}
interface Packed {
  name: string;
  version: string;
  filename: string;
  files: PackedFile[];
}

/** `npm pack` of what is built (no scripts: `npm install` built it), as npm reports it. */
async function pack(args: string[]): Promise<Packed> {
  const { stdout } = await run(npm, ['pack', '--json', '--ignore-scripts', ...args], { cwd: root, maxBuffer: 16 << 20 });
  const [packed] = JSON.parse(stdout) as Packed[];
  if (packed === undefined) throw new Error(`npm pack printed nothing: ${stdout}`);
  return packed;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

describe('npm pack', () => {
  it('packs hubbub-client as its bundles, declarations and licence, with no dependencies', async () => {
    const packed = await pack(['--dry-run', '--workspace', 'client']);
    expect(packed.name).toBe('hubbub-client');
    const sources = readdirSync(join(root, 'client/src')).map((f) => `dist/${f.replace(/\.ts$/, '.d.ts')}`);
    expect(packed.files.map((f) => f.path).sort()).toEqual(
      ['LICENSE', 'README.md', 'package.json', 'dist/hubbub.min.js', 'dist/index.js', 'dist/index.js.map', ...sources].sort(),
    );
    const manifest = readJson(join(root, 'client/package.json'));
    expect(manifest).not.toHaveProperty('dependencies');
    expect(manifest).not.toHaveProperty('peerDependencies');
  });

  it('packs hubbub-server as its compiled code for every source file, and no sources, tests or maps', async () => {
    const packed = await pack(['--dry-run']);
    expect(packed.name).toBe('hubbub-server');
    const paths = packed.files.map((f) => f.path);
    // src/web holds the pages' browser code, bundled into dist/web by its own build.
    const expected = walk(join(root, 'src'))
      .filter((f) => f.endsWith('.ts') && !f.startsWith(join(root, 'src/web')))
      .flatMap((f) => {
        const base = `dist/${relative(join(root, 'src'), f).replace(/\.ts$/, '')}`;
        return [`${base}.js`, `${base}.d.ts`];
      });
    expect(paths.filter((p) => !p.startsWith('dist/')).sort()).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'package.json']);
    // The pages (demos, console), bundled: served by the installed hub without a build step.
    expect(paths).toEqual(expect.arrayContaining(['dist/web/index.html', 'dist/web/console.html']));
    expect(paths).toEqual(expect.arrayContaining(expected));
    expect(paths.filter((p) => p.endsWith('.map') || p.endsWith('.ts') && !p.endsWith('.d.ts'))).toEqual([]);
    const manifest = readJson(join(root, 'package.json'));
    expect(manifest.bin).toEqual({ hubbub: './dist/cli.js' });
    expect(readFileSync(join(root, 'dist/cli.js'), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    expect(manifest.dependencies).toMatchObject({ 'hubbub-client': readJson(join(root, 'client/package.json')).version });
  });
});

describe('the packed tarballs installed into an empty project', () => {
  let dir: string;
  let project: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hubbub-pack-'));
    project = join(dir, 'app');
    mkdirSync(project);
    const server = await pack(['--pack-destination', dir]);
    const client = await pack(['--pack-destination', dir, '--workspace', 'client']);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // The registry is reached for metadata only; tarballs come from npm's cache where it has them.
    await run(
      npm,
      ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, server.filename), join(dir, client.filename)],
      { cwd: project, maxBuffer: 16 << 20 },
    );
  }, 120_000);

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs hubbub-client alone with nothing else', async () => {
    const alone = join(dir, 'frontend');
    mkdirSync(alone);
    writeFileSync(join(alone, 'package.json'), JSON.stringify({ name: 'frontend', private: true }));
    const tarball = readdirSync(dir).find((f) => f.startsWith('hubbub-client-'));
    expect(tarball).toBeDefined();
    await run(npm, ['install', '--offline', '--no-audit', '--no-fund', join(dir, tarball as string)], { cwd: alone });
    expect(readdirSync(join(alone, 'node_modules')).filter((f) => !f.startsWith('.'))).toEqual(['hubbub-client']);
  }, 60_000);

  it('runs the hubbub command, which serves /health and /hubbub.js, and the installed SDK publishes through it', async () => {
    const port = await freePort();
    const bin = join(project, 'node_modules/.bin/hubbub');
    const hub = spawn(bin, ['--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn'], {
      cwd: project,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    hub.stdout.on('data', (d: Buffer) => (output += d.toString()));
    hub.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => hub.once('exit', resolve));
    try {
      const deadline = Date.now() + 15_000;
      while (!(await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false))) {
        if (hub.exitCode !== null || Date.now() > deadline) throw new Error(`the installed hubbub did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const served = await (await fetch(`http://127.0.0.1:${port}/hubbub.js`)).text();
      expect(served).toBe(readFileSync(join(project, 'node_modules/hubbub-client/dist/hubbub.min.js'), 'utf8'));

      // A user's script, importing both packages by name from the project's node_modules.
      writeFileSync(
        join(project, 'app.js'),
        [
          "import WebSocket from 'ws';",
          "import { HubClient } from 'hubbub-client';",
          "import { MemoryEngine, parseConfig } from 'hubbub-server';",
          "const client = new HubClient(process.argv[2], { WebSocket });",
          "const room = client.subscribe('chat:packaged');",
          'await room.ready;',
          "const got = new Promise((resolve) => room.on('message', (m) => resolve(m.data)));",
          "await room.publish({ text: 'from the tarball' });",
          'const data = await got;',
          'await client.close();',
          "console.log(JSON.stringify({ data, engine: typeof MemoryEngine, port: parseConfig({}).server.port }));",
        ].join('\n'),
      );
      const { stdout } = await run(process.execPath, ['app.js', `ws://127.0.0.1:${port}/ws`], { cwd: project, timeout: 15_000 });
      expect(JSON.parse(stdout)).toEqual({ data: { text: 'from the tarball' }, engine: 'function', port: 8080 });
    } finally {
      hub.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 60_000);
});
