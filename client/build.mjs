// Builds the client SDK (the hubbub-client package) into client/dist: an ESM bundle, a minified IIFE that
// sets the global `Hubbub` (served by the hub at /hubbub.js), and type declarations. Run directly
// (`node client/build.mjs`, part of `npm run build`), or import buildClient() (the tests do).

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL, URL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import ts from 'typescript';

const root = fileURLToPath(new URL('.', import.meta.url));
const srcDir = join(root, 'src');
const entry = join(srcDir, 'index.ts');

/**
 * Writes via a temporary file and a rename, so a reader (the hub serving /hubbub.js, another test
 * building at the same time) never sees half a file.
 */
function writeAtomic(file, contents) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

/** Declarations from the compiler API, checked with neither the DOM nor Node types: the SDK must need neither. */
function emitDeclarations(outdir) {
  const program = ts.createProgram([entry], {
    declaration: true,
    emitDeclarationOnly: true,
    stripInternal: true,
    outDir: outdir,
    rootDir: srcDir,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts'],
    types: [],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
  });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  if (diagnostics.length > 0) {
    const host = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
    throw new Error(`client type errors:\n${ts.formatDiagnostics(diagnostics, host)}`);
  }
  const files = [];
  program.emit(undefined, (file, text) => {
    writeAtomic(file, text);
    files.push(file);
  });
  return files;
}

/**
 * Builds the SDK into `outdir` (default client/dist). Returns the paths written and the IIFE's
 * minified and gzipped (level 9) sizes in bytes.
 */
export async function buildClient({ outdir = join(root, 'dist'), declarations = true } = {}) {
  const common = {
    entryPoints: [entry],
    bundle: true,
    minify: true,
    // Private members are named `_x`: mangled to one or two letters, which is most of the size budget.
    mangleProps: /^_/,
    target: 'es2019',
    // Plain assignments in constructors, not a defineProperty helper per class field.
    tsconfigRaw: { compilerOptions: { useDefineForClassFields: false, verbatimModuleSyntax: true } },
    legalComments: 'none',
    logLevel: 'silent',
    write: false,
  };
  const [esm, iife] = await Promise.all([
    build({ ...common, format: 'esm', sourcemap: 'linked', outfile: join(outdir, 'index.js') }),
    // Assigning the global from an entry of its own, rather than esbuild's `globalName`, spares
    // the bundle its module-namespace helpers (about 200 bytes gzipped).
    build({
      ...common,
      entryPoints: undefined,
      stdin: {
        contents:
          "import { HubClient, HubError, Leaderboard, Subscription } from './index.ts';\n" +
          'globalThis.Hubbub = { HubClient, HubError, Leaderboard, Subscription };\n',
        resolveDir: srcDir,
        sourcefile: 'hubbub-global.js',
        loader: 'js',
      },
      format: 'iife',
      outfile: join(outdir, 'hubbub.min.js'),
    }),
  ]);
  const files = [];
  let minified = 0;
  let gzipped = 0;
  for (const out of [...esm.outputFiles, ...iife.outputFiles]) {
    writeAtomic(out.path, out.contents);
    files.push(out.path);
    if (out.path.endsWith('hubbub.min.js')) {
      minified = out.contents.length;
      gzipped = gzipSync(out.contents, { level: 9 }).length;
    }
  }
  if (declarations) files.push(...emitDeclarations(outdir));
  return { outdir, files, minified, gzipped };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { files, minified, gzipped } = await buildClient();
  process.stdout.write(
    `client: ${files.map((f) => relative(root, f)).join(', ')}\n` +
      `client: hubbub.min.js ${minified} bytes, ${gzipped} gzipped (budget 4224)\n`,
  );
}
