// One JSON POST over a keep-alive agent, for proxy hooks and webhooks alike: the answer read up to
// a bound, the deadline given as an AbortSignal.

import http from 'node:http';
import https from 'node:https';
import { HookFailure } from './failure.js';

/** Largest answer body read (replaced publication data fits well within it). */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** A keep-alive agent for one endpoint, with at most `maxSockets` connections. */
export function agentFor(url: URL, maxSockets: number): http.Agent {
  const options = { keepAlive: true, maxSockets };
  return url.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
}

/** One POST; resolves with any status, rejects on network errors and at the signal (a `timeout` failure). */
export function post(
  url: URL,
  agent: http.Agent,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<{ status: number; text: string }> {
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method: 'POST', agent, headers, signal }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          req.destroy(new HookFailure('malformed', `the answer is over ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      reject(signal.aborted ? new HookFailure('timeout', 'the hook did not answer in time') : err);
    });
    req.end(body);
  });
}
