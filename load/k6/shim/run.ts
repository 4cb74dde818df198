// A small Node runner for hubbub's k6 scripts, to prove they work where k6 is not installed. It
// is not k6: it bundles a script with esbuild, resolves the k6 imports to the stand-ins in
// modules.ts, gives every VU its own copy of the script's module state (as k6 does), runs the
// scenarios' executors (per-vu-iterations, constant-vus, constant-arrival-rate) and checks the
// thresholds' simple forms. What it leaves out is listed in load/k6/shim/README.md.
//
//   node --import tsx load/k6/shim/run.ts [-e NAME=value]... [--summary-export FILE] load/k6/chat.ts
// exits 99 when a threshold fails, as k6 does.

import { writeFileSync } from 'node:fs';
import { compileFunction } from 'node:vm';
import { build } from 'esbuild';
import { evaluate, Registry, type ThresholdResult } from './metrics.js';
import { type ExecState, k6Modules, VuLoop } from './modules.js';

const K6_MODULES = ['k6', 'k6/metrics', 'k6/timers', 'k6/websockets', 'k6/http', 'k6/encoding', 'k6/crypto', 'k6/execution', 'k6/options'];

export interface RunOptions {
  /** The script's `__ENV` (the CLI adds the process environment, as `k6 run` does). */
  env?: Record<string, string>;
  /** Print iteration errors as they happen (default true). */
  log?: boolean;
}

export interface RunSummary {
  /** Every threshold passed, no iteration threw, nothing aborted the test. */
  ok: boolean;
  seconds: number;
  metrics: Record<string, { type: string; values: Record<string, number> }>;
  thresholds: ThresholdResult[];
  /** Errors thrown by iterations (first 20), and an abort's reason. */
  errors: string[];
}

interface ScenarioOptions {
  executor: string;
  exec?: string;
  startTime?: string;
  gracefulStop?: string;
  vus?: number;
  iterations?: number;
  maxDuration?: string;
  duration?: string;
  rate?: number;
  timeUnit?: string;
  preAllocatedVUs?: number;
  maxVUs?: number;
}

/** "1m30s", "500ms", "2s" -> ms. */
export function parseDuration(text: string | undefined, fallbackMs: number): number {
  if (text === undefined) return fallbackMs;
  let ms = 0;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const rest = text.replace(/(\d+(?:\.\d+)?)(ms|s|m|h)/g, (_m, n: string, unit: string) => {
    ms += Number(n) * (units[unit] ?? NaN);
    return '';
  });
  if (rest !== '' || Number.isNaN(ms)) throw new Error(`k6 shim: cannot read the duration "${text}"`);
  return ms;
}

type ScriptFunction = (...args: unknown[]) => unknown;
type Script = (require: (name: string) => unknown, module: { exports: Record<string, unknown> }, exports: Record<string, unknown>, env: Record<string, string>, vu: number, iter: number, console: Console) => void;

/** One VU: its own evaluation of the script, its open work, and what k6/execution tells it. */
interface Vu {
  exports: Record<string, unknown>;
  loop: VuLoop;
  state: ExecState;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export async function runK6Script(file: string, options: RunOptions = {}): Promise<RunSummary> {
  const env = options.env ?? {};
  const log = options.log ?? true;
  const bundled = await build({
    entryPoints: [file],
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'neutral',
    target: 'es2022',
    external: K6_MODULES,
    logLevel: 'silent',
  });
  const code = bundled.outputFiles[0]?.text ?? '';
  const script = compileFunction(code, ['require', 'module', 'exports', '__ENV', '__VU', '__ITER', 'console'], { filename: file }) as unknown as Script;

  const registry = new Registry();
  const iterations = registry.sink('iterations', 'counter');
  const dropped = registry.sink('dropped_iterations', 'counter');
  const errors: string[] = [];
  const vus: Vu[] = [];
  let aborted: string | undefined;
  let nextVuId = 1;

  const abortTest = (reason: string) => {
    aborted ??= reason;
    for (const vu of vus) vu.loop.abort();
  };

  /** Evaluates the script for VU `id` (0: the instance that only reads `options`, as in k6). */
  function newVu(id: number, scenario: ExecState['scenario']): Vu {
    const loop = new VuLoop();
    const state: ExecState = { vu: { idInTest: id, idInInstance: id, iterationInScenario: 0, iterationInInstance: 0, tags: {} }, scenario };
    const modules = k6Modules(loop, registry, state, abortTest);
    const module = { exports: {} as Record<string, unknown> };
    const require = (name: string) => {
      const m = modules[name];
      if (m === undefined) throw new Error(`k6 shim: no module ${name}`);
      return m;
    };
    script(require, module, module.exports, env, id, 0, console);
    const vu = { exports: module.exports, loop, state };
    if (id > 0) vus.push(vu);
    return vu;
  }

  const init = newVu(0, { name: '', executor: '', startTime: 0, iterationInTest: 0, iterationInInstance: 0, progress: 0 });
  const scriptOptions = (init.exports.options ?? {}) as { scenarios?: Record<string, ScenarioOptions>; thresholds?: Record<string, unknown> };
  for (const name of ['setup', 'teardown', 'handleSummary']) {
    if (typeof init.exports[name] === 'function') throw new Error(`k6 shim: ${name}() is not supported`);
  }
  const scenarios = scriptOptions.scenarios ?? { default: { executor: 'per-vu-iterations', vus: 1, iterations: 1 } };
  for (const [name, s] of Object.entries(scenarios)) {
    if (typeof init.exports[s.exec ?? 'default'] !== 'function') throw new Error(`k6 shim: scenario ${name} runs ${s.exec ?? 'default'}, which the script does not export`);
  }

  /** One iteration of `fnName` on `vu`: until the function and all it opened are done, or `hardStopAt`. */
  async function iterate(vu: Vu, fnName: string, hardStopAt: number, counter: { n: number }): Promise<void> {
    const fn = vu.exports[fnName] as ScriptFunction;
    vu.state.scenario.iterationInTest = counter.n++;
    const work = (async () => {
      try {
        await fn();
      } catch (err) {
        vu.loop.errors.push(err);
        vu.loop.abort();
      }
      await vu.loop.idle();
    })();
    let timer: NodeJS.Timeout | undefined;
    const interrupted = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        vu.loop.abort();
        void vu.loop.idle().then(resolve);
      }, hardStopAt - Date.now());
    });
    await Promise.race([work, interrupted]);
    clearTimeout(timer);
    for (const err of vu.loop.errors.splice(0)) {
      const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
      if (errors.length < 20) errors.push(text);
      if (log) console.error(`k6 shim: iteration of ${fnName} on VU ${vu.state.vu.idInTest} threw: ${text}`);
    }
    iterations.add(1);
    vu.state.vu.iterationInScenario++;
    vu.state.vu.iterationInInstance++;
  }

  async function runScenario(name: string, s: ScenarioOptions): Promise<void> {
    await sleep(parseDuration(s.startTime, 0));
    const fnName = s.exec ?? 'default';
    const scenario: ExecState['scenario'] = { name, executor: s.executor, startTime: Date.now(), iterationInTest: 0, iterationInInstance: 0, progress: 0 };
    const graceMs = parseDuration(s.gracefulStop, 30_000);
    const counter = { n: 0 };
    const allocate = (n: number) => Array.from({ length: n }, () => newVu(nextVuId++, { ...scenario }));
    if (aborted !== undefined) return;
    switch (s.executor) {
      case 'per-vu-iterations': {
        const hardStopAt = scenario.startTime + parseDuration(s.maxDuration, 600_000) + graceMs;
        await Promise.all(
          allocate(s.vus ?? 1).map(async (vu) => {
            for (let i = 0; i < (s.iterations ?? 1) && Date.now() < hardStopAt && aborted === undefined; i++) await iterate(vu, fnName, hardStopAt, counter);
          }),
        );
        return;
      }
      case 'constant-vus': {
        const endAt = scenario.startTime + parseDuration(s.duration, NaN);
        await Promise.all(
          allocate(s.vus ?? 1).map(async (vu) => {
            while (Date.now() < endAt && aborted === undefined) await iterate(vu, fnName, endAt + graceMs, counter);
          }),
        );
        return;
      }
      case 'constant-arrival-rate': {
        const endAt = scenario.startTime + parseDuration(s.duration, NaN);
        const everyMs = parseDuration(s.timeUnit, 1000) / (s.rate ?? NaN);
        if (!(everyMs > 0)) throw new Error(`k6 shim: scenario ${name} needs a rate > 0`);
        const pool = allocate(s.preAllocatedVUs ?? 1);
        const free = [...pool];
        const running: Promise<void>[] = [];
        for (let k = 0; aborted === undefined; k++) {
          const due = scenario.startTime + k * everyMs;
          if (due >= endAt) break;
          await sleep(due - Date.now());
          let vu = free.pop();
          if (vu === undefined && pool.length < (s.maxVUs ?? 0)) {
            vu = newVu(nextVuId++, { ...scenario });
            pool.push(vu);
          }
          if (vu === undefined) {
            dropped.add(1); // no free VU, as k6 counts it
            continue;
          }
          const busy = vu;
          running.push(iterate(busy, fnName, endAt + graceMs, counter).then(() => void free.push(busy)));
        }
        await Promise.all(running);
        return;
      }
      default:
        throw new Error(`k6 shim: executor ${s.executor} is not supported (per-vu-iterations, constant-vus, constant-arrival-rate are)`);
    }
  }

  const started = Date.now();
  await Promise.all(Object.entries(scenarios).map(([name, s]) => runScenario(name, s)));
  const seconds = (Date.now() - started) / 1000;
  for (const vu of vus) vu.loop.abort();

  const thresholds = evaluate(scriptOptions.thresholds ?? {}, registry, seconds);
  if (aborted !== undefined) errors.push(`aborted: ${aborted}`);
  const metrics: RunSummary['metrics'] = {};
  // As k6 shows: the metrics that got samples, and those a threshold names.
  for (const [name, sink] of registry.sinks) {
    if (sink.count > 0 || name in (scriptOptions.thresholds ?? {})) metrics[name] = { type: sink.type, values: sink.values_(seconds) };
  }
  return { ok: thresholds.every((t) => t.ok) && errors.length === 0, seconds, metrics, thresholds, errors };
}

/** A k6-like end-of-test text: every metric's values, then each threshold with ✓ or ✗. */
export function formatSummary(summary: RunSummary): string {
  const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(2));
  const lines = Object.entries(summary.metrics)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, m]) => `  ${name.padEnd(22)} ${Object.entries(m.values).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')}`);
  lines.push('', 'thresholds:');
  for (const t of summary.thresholds) lines.push(`  ${t.ok ? '✓' : '✗'} ${t.metric} ${t.expression} (${fmt(t.value)})`);
  for (const e of summary.errors) lines.push(`error: ${e}`);
  lines.push('', `${summary.ok ? 'passed' : 'FAILED'} in ${summary.seconds.toFixed(1)} s (k6 shim, not k6)`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  let file: string | undefined;
  let exportTo: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '-e' || arg === '--env') {
      const [k = '', ...v] = (argv[++i] ?? '').split('=');
      env[k] = v.join('=');
    } else if (arg === '--summary-export') exportTo = argv[++i];
    else file = arg;
  }
  if (file === undefined) {
    process.stderr.write('usage: node --import tsx load/k6/shim/run.ts [-e NAME=value]... [--summary-export FILE] SCRIPT.ts\n');
    return 2;
  }
  const summary = await runK6Script(file, { env });
  console.log(formatSummary(summary));
  if (exportTo !== undefined) writeFileSync(exportTo, JSON.stringify(summary, null, 2));
  return summary.ok ? 0 : 99;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
