// The README's examples, run as written: every JavaScript/TypeScript block is extracted, its
// imports pointed at this checkout, its localhost:8080 at a hub on a free port, and run in a child
// process. A block must finish (or, if it keeps a connection open, run for a moment) without an
// error, and print what the README says it prints.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub-server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/```(js|ts)\n([\s\S]*?)```/g)].map((m, i) => ({ n: i + 1, lang: m[1] as string, code: m[2] as string }));

/** Module names as a user installs them, mapped to this checkout's sources. */
const modules: Record<string, string> = {
  'hubbub-client': join(root, 'client/src/index.ts'),
  'hubbub-server': join(root, 'src/index.ts'),
};

function runBlock(code: string, port: number, dir: string, n: number): Promise<{ code: number | null; out: string; err: string }> {
  let source = code.replaceAll('localhost:8080', `127.0.0.1:${port}`);
  for (const [name, path] of Object.entries(modules)) source = source.replaceAll(`from '${name}'`, `from '${path}'`);
  // A block that keeps a connection open is given a moment to do its work, then ended.
  source += '\nsetTimeout(() => process.exit(0), 1500).unref?.();\n';
  const file = join(dir, `block-${n}.mts`);
  writeFileSync(file, source);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      env: { ...process.env, HUBBUB_AUTH_SECRET: 'readme-example-secret-of-32-chars!!' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (exit) => {
      clearTimeout(timer);
      resolve({ code: exit, out, err });
    });
  });
}

describe("the README's examples", () => {
  let hub: TestHub;
  let dir: string;
  beforeAll(async () => {
    hub = await startTestHub('ws');
    // Inside the checkout, so that the blocks' own imports (ws, jose) resolve as in a user's app.
    mkdirSync(join(root, 'node_modules/.cache'), { recursive: true });
    dir = mkdtempSync(join(root, 'node_modules/.cache/readme-'));
  });
  afterAll(async () => {
    await hub.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('has JavaScript examples to run', () => {
    expect(blocks.filter((b) => b.code.includes('import ')).length).toBeGreaterThanOrEqual(4);
  });

  for (const block of blocks.filter((b) => b.code.includes('import ') && !b.code.includes('<script'))) {
    it(`runs example ${block.n} (${block.code.split('\n')[0]?.slice(0, 60)})`, async () => {
      const r = await runBlock(block.code, hub.port, dir, block.n);
      expect(r.err, r.out).toBe('');
      expect(r.code, r.err).toBe(0);
      // What the block's comments say it prints, where they say it (`// {"id":1,...` lines).
      if (block.code.includes("console.log(m.toString())")) expect(r.out).toContain('"push":"pub"');
      if (block.code.includes('board.rank(')) expect(r.out).toContain('rank');
      if (block.code.includes('MemoryEngine')) expect(r.out).toContain('chat:lobby');
    }, 20_000);
  }
});
