export function buildWeb(options?: { outdir?: string }): Promise<{ outdir: string; files: string[] }>;
