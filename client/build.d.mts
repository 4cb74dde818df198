// Types for client/build.mjs, so TypeScript tests can import buildClient().

export interface BuildOptions {
  /** Default: client/dist. */
  outdir?: string;
  /** Emit the .d.ts files too (default true). */
  declarations?: boolean;
}

export interface BuildResult {
  outdir: string;
  files: string[];
  /** hubbub.min.js in bytes. */
  minified: number;
  /** hubbub.min.js gzipped at level 9, in bytes. */
  gzipped: number;
}

export function buildClient(options?: BuildOptions): Promise<BuildResult>;
