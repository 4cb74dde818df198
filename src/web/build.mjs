// Builds the pages the hub serves (demos at /, the console at /console) into dist/web/: each
// page's TypeScript bundled by esbuild into one script, next to the HTML, the stylesheet and the
// icon copied as they are. Run directly (`node src/web/build.mjs`, part of `npm run build`), or
// import buildWeb() (the browser tests do). The pages use the SDK from the hub's /hubbub.js.

import { copyFileSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = join(here, '../..');

const ENTRIES = {
  chat: 'demo/chat.ts',
  leaderboard: 'demo/leaderboard.ts',
  dashboard: 'demo/dashboard.ts',
  console: 'console/console.ts',
};

/** Via a temporary file and a rename: the hub may be serving the old file while this runs. */
function writeAtomic(file, contents) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

export async function buildWeb({ outdir = join(root, 'dist/web') } = {}) {
  const result = await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, file]) => [name, join(here, file)])),
    bundle: true,
    minify: true,
    format: 'iife',
    target: 'es2020',
    legalComments: 'none',
    logLevel: 'silent',
    outdir,
    write: false,
  });
  const files = [];
  for (const out of result.outputFiles) {
    writeAtomic(out.path, out.contents);
    files.push(out.path);
  }
  const pages = join(here, 'pages');
  for (const name of readdirSync(pages)) {
    const target = join(outdir, name);
    mkdirSync(outdir, { recursive: true });
    const tmp = `${target}.${process.pid}.tmp`;
    copyFileSync(join(pages, name), tmp);
    renameSync(tmp, target);
    files.push(target);
  }
  return { outdir, files };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { files } = await buildWeb();
  process.stdout.write(`web: ${files.map((f) => relative(root, f)).join(', ')}\n`);
}
