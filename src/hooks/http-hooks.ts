// Proxy hooks over HTTP: each call is one JSON POST to the hook's URL on a keep-alive agent (one
// per hook, so a slow hook cannot take the sockets of another), with the forwarded upgrade
// headers and the configured fixed ones. Idempotent hooks (connect, refresh, subscribe) are tried
// again after a network error or a 5xx while their deadline allows; publish and rpc never are,
// since the backend may have acted on the first attempt.

import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { HooksConfig } from '../config/index.js';
import { HookFailure } from './failure.js';
import { agentFor, post } from './http-post.js';
import { answerSchemas, type HookAnswers, type HookContext, type HookName, type HookRequests, type Hooks } from './types.js';

const FIRST_RETRY_MS = 25;

interface Endpoint {
  url: URL;
  agent: http.Agent;
  headers: Record<string, string>;
  retries: number;
}

export class HttpHooks implements Hooks {
  private readonly endpoints = new Map<HookName, Endpoint>();

  constructor(config: HooksConfig) {
    for (const name of Object.keys(config) as HookName[]) {
      const hook = config[name];
      if (hook.url === undefined) continue;
      const url = new URL(hook.url);
      const agent = agentFor(url, hook.maxConcurrency);
      const retries = 'retries' in hook ? hook.retries : 0;
      this.endpoints.set(name, { url, agent, headers: hook.headers, retries });
    }
  }

  /** The hooks this instance serves (those with a URL). */
  get names(): HookName[] {
    return [...this.endpoints.keys()];
  }

  connect(req: HookRequests['connect'], ctx: HookContext): Promise<HookAnswers['connect']> {
    return this.call('connect', req, ctx);
  }

  refresh(req: HookRequests['refresh'], ctx: HookContext): Promise<HookAnswers['refresh']> {
    return this.call('refresh', req, ctx);
  }

  subscribe(req: HookRequests['subscribe'], ctx: HookContext): Promise<HookAnswers['subscribe']> {
    return this.call('subscribe', req, ctx);
  }

  publish(req: HookRequests['publish'], ctx: HookContext): Promise<HookAnswers['publish']> {
    return this.call('publish', req, ctx);
  }

  rpc(req: HookRequests['rpc'], ctx: HookContext): Promise<HookAnswers['rpc']> {
    return this.call('rpc', req, ctx);
  }

  /** Closes the kept-alive sockets. */
  close(): void {
    for (const endpoint of this.endpoints.values()) endpoint.agent.destroy();
  }

  private async call<H extends HookName>(name: H, req: HookRequests[H], ctx: HookContext): Promise<HookAnswers[H]> {
    const endpoint = this.endpoints.get(name);
    if (endpoint === undefined) throw new HookFailure('failed', `no URL configured for the ${name} hook`);
    const body = JSON.stringify(req);
    const headers = {
      ...endpoint.headers,
      ...ctx.headers,
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
    };
    let delay = FIRST_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      const outcome = await post(endpoint.url, endpoint.agent, headers, body, ctx.signal).then(
        (res) => ({ res }),
        (err: unknown) => ({ err }),
      );
      if ('res' in outcome) {
        const { status, text } = outcome.res;
        if (status === 200) return parseAnswer(name, text);
        if (status < 500 || attempt >= endpoint.retries) {
          throw new HookFailure('failed', `the ${name} hook answered HTTP ${status}`);
        }
      } else if (ctx.signal.aborted || attempt >= endpoint.retries) {
        throw outcome.err instanceof HookFailure ? outcome.err : new HookFailure('failed', `the ${name} hook failed: ${String(outcome.err)}`);
      }
      // Backoff, cut short by the deadline (sleep rejects when the signal aborts).
      await sleep(delay, undefined, { signal: ctx.signal }).catch(() => {
        throw new HookFailure('timeout', `the ${name} hook did not answer in time`);
      });
      delay *= 2;
    }
  }
}

function parseAnswer<H extends HookName>(name: H, text: string): HookAnswers[H] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HookFailure('malformed', `the ${name} hook answered something that is not JSON`);
  }
  const parsed = answerSchemas[name].safeParse(json);
  if (!parsed.success) throw new HookFailure('malformed', `the ${name} hook's answer is invalid: ${describeIssue(parsed.error)}`);
  return parsed.data as HookAnswers[H];
}

export function describeIssue(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid';
  return issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message;
}
