// The hub's one way to ask the backend: whichever hooks run (HTTP or in-process), every call gets
// the hook's deadline, its concurrency limit, the forwarded headers it may see, a checked answer,
// and its metrics. Anything short of a valid answer in time becomes `backend_unavailable` (with a
// log line); a refusal becomes the coded error the backend chose. The hub never waits longer than
// the deadline, whatever the backend does.

import type { HooksConfig } from '../config/index.js';
import type { Logger, Metrics } from '../observability/index.js';
import { HubError } from '../protocol/index.js';
import { HookFailure } from './failure.js';
import { describeIssue, HttpHooks } from './http-hooks.js';
import {
  answerSchemas,
  type HookAnswers,
  type HookContext,
  type HookName,
  hookNames,
  type HookRequests,
  type HookResult,
  type Hooks,
} from './types.js';

/** What connections keep when no header is forwarded: one frozen object for all of them. */
const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

type Call<H extends HookName> = (req: HookRequests[H], ctx: HookContext) => Promise<HookAnswers[H]>;

/** Calls in flight up to a limit; more wait in order, each until its own deadline. */
class Slots {
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  acquire(signal: AbortSignal): Promise<void> {
    if (this.inFlight < this.max) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal.removeEventListener('abort', giveUp);
        resolve();
      };
      const giveUp = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(new HookFailure('timeout', 'no free slot before the deadline (maxConcurrency calls in flight)'));
      };
      this.waiting.push(grant);
      signal.addEventListener('abort', giveUp, { once: true });
    });
  }

  /** Hands the slot to the next waiter, if any (it stays taken), or frees it. */
  release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.inFlight--;
    else next();
  }
}

interface Hook {
  call: Call<HookName>;
  slots: Slots;
  timeoutMs: number;
  forward: readonly string[];
}

export class BackendHooks {
  private readonly hooks = new Map<HookName, Hook>();
  private readonly http: HttpHooks;
  /** Upgrade headers any hook forwards: a session keeps only these. */
  readonly forwardedHeaders: readonly string[];

  constructor(
    private readonly config: HooksConfig,
    inProcess: Hooks | undefined,
    private readonly metrics: Metrics,
    private readonly log: Logger,
  ) {
    this.http = new HttpHooks(config);
    const forwarded = new Set<string>();
    for (const name of hookNames) {
      const fn = inProcess?.[name];
      const hasUrl = config[name].url !== undefined;
      if (fn !== undefined && hasUrl) {
        throw new Error(`hooks.${name}: both a URL and an in-process ${name} hook are given; use one`);
      }
      let call: Call<HookName>;
      if (fn !== undefined) call = checked(name, fn.bind(inProcess) as Call<HookName>);
      else if (hasUrl) call = (this.http[name] as Call<HookName>).bind(this.http);
      else continue;
      const cfg = config[name];
      // Upgrade requests give header names in lower case.
      const forward = cfg.forwardHeaders.map((h) => h.toLowerCase());
      this.hooks.set(name, { call, slots: new Slots(cfg.maxConcurrency), timeoutMs: cfg.timeoutMs, forward });
      for (const h of forward) forwarded.add(h);
    }
    this.forwardedHeaders = [...forwarded];
  }

  /** The upgrade headers some hook forwards, and no others: what a session keeps. */
  keptHeaders(headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    return this.forwardedHeaders.length === 0 ? NO_HEADERS : pick(headers, this.forwardedHeaders);
  }

  has(name: HookName): boolean {
    return this.hooks.has(name);
  }

  /** Whether connect goes to the hook for this connect (no token, or always). */
  handlesConnect(token: string | undefined): boolean {
    return this.hooks.has('connect') && (token === undefined || this.config.connect.always);
  }

  /**
   * Asks the backend. Resolves with the accepting answer's result; rejects with the backend's
   * refusal (its code, default `defaultRefusal`) or `backend_unavailable`.
   */
  async call<H extends HookName>(
    name: H,
    req: HookRequests[H],
    headers: Readonly<Record<string, string>>,
    defaultRefusal: 'forbidden' | 'unauthorized' = 'forbidden',
  ): Promise<HookResult<H>> {
    const hook = this.hooks.get(name);
    if (hook === undefined) throw new HubError('not_available', `the ${name} hook is not configured on this hub`);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), hook.timeoutMs);
    const { signal } = controller;
    const ctx: HookContext = { headers: pick(headers, hook.forward), signal };
    this.metrics.hookInFlight.inc({ hook: name });
    const end = this.metrics.hookDuration.startTimer({ hook: name });
    let answer: HookAnswers[H];
    try {
      await hook.slots.acquire(signal);
      try {
        answer = (await untilAborted(hook.call(req, ctx), signal)) as HookAnswers[H];
      } finally {
        hook.slots.release();
      }
    } catch (err) {
      this.metrics.hookCalls.inc({ hook: name, outcome: 'unavailable' });
      const failure = err instanceof HookFailure ? err : undefined;
      this.log.warn(
        { hook: name, why: failure?.kind ?? 'failed', ...(failure === undefined ? { err } : { reason: failure.message }) },
        'hook gave no usable answer; the client gets backend_unavailable',
      );
      throw new HubError('backend_unavailable', `the application's backend did not answer (${name}); retry later`);
    } finally {
      clearTimeout(timer);
      end();
      this.metrics.hookInFlight.dec({ hook: name });
    }
    if ('error' in answer) {
      this.metrics.hookCalls.inc({ hook: name, outcome: 'refused' });
      throw new HubError(answer.error.code ?? defaultRefusal, answer.error.message, { refusedBy: 'backend' });
    }
    this.metrics.hookCalls.inc({ hook: name, outcome: 'ok' });
    return answer.result as HookResult<H>;
  }

  close(): void {
    this.http.close();
  }
}

/** An in-process hook's answer is checked like an HTTP one: the same rules for every backend. */
function checked<H extends HookName>(name: H, fn: Call<H>): Call<H> {
  return async (req, ctx) => {
    const answer: unknown = await fn(req, ctx);
    const parsed = answerSchemas[name].safeParse(answer);
    if (!parsed.success) throw new HookFailure('malformed', `the ${name} hook's answer is invalid: ${describeIssue(parsed.error)}`);
    return parsed.data as HookAnswers[H];
  };
}

function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new HookFailure('timeout', 'the hook did not answer in time'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new HookFailure('failed', String(err)));
      },
    );
  });
}

function pick(headers: Readonly<Record<string, string>>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = headers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}
