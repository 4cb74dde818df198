// Throwaway Redis servers for tests: one child `redis-server` per test file on a free port, with
// no persistence, ready once it answers PING; stop, kill -9 and restart on the same port for fault
// tests. Without the binary, tests skip with a warning, or fail in CI (CI=true) so that a missing
// Redis can never turn the Redis suites silently green.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { it } from 'vitest';
import { freePort } from './process.js';

let binary: string | null | undefined;

/** The path of redis-server (env REDIS_SERVER, else from PATH), or null when it is not installed. */
export function redisServerBinary(): string | null {
  if (binary === undefined) {
    const configured = process.env.REDIS_SERVER;
    if (configured !== undefined) {
      binary = existsSync(configured) ? configured : null;
    } else {
      try {
        binary = execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || null;
      } catch {
        binary = null;
      }
    }
  }
  return binary;
}

/**
 * True when Redis tests can run. Otherwise registers one test that fails in CI, or warns loudly
 * and returns false elsewhere, so the caller can skip its suite.
 */
export function redisAvailable(suite: string): boolean {
  if (redisServerBinary() !== null) return true;
  const reason = 'redis-server is not installed (put it on PATH, or set REDIS_SERVER to its path)';
  if (process.env.CI === 'true') {
    it(`runs ${suite} (CI requires redis-server)`, () => {
      throw new Error(`${reason}; install Redis >= 6.2 on the CI runner (apt-get install redis-server)`);
    });
  } else {
    console.warn(`SKIPPED ${suite}: ${reason}`);
    it.skip(`${suite}: ${reason}`, () => undefined);
  }
  return false;
}

/** Resolves when something on the port answers PING with PONG, or rejects after timeoutMs. */
async function waitForPong(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let reply = '';
      socket.setTimeout(500, () => {
        socket.destroy();
        resolve(false);
      });
      socket.on('connect', () => socket.write('PING\r\n'));
      socket.on('data', (d) => {
        reply += d.toString();
        if (reply.includes('\r\n')) {
          socket.destroy();
          resolve(reply.startsWith('+PONG'));
        }
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private output = '';

  private constructor(
    readonly port: number,
    /** Where SAVE writes dump.rdb and a restart loads it from; none: nothing survives a restart. */
    private readonly dir: string | undefined,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The server process id (for pinning it to a core in benchmarks). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Starts a server on a free port. With `dir`, an explicit SAVE writes a snapshot there that a
   * restart loads (no automatic saves either way).
   */
  static async start(options: { dir?: string } = {}): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), options.dir);
    await server.spawn();
    return server;
  }

  /** Stops the server (SIGTERM: no save, no persistence configured) and waits for it to exit. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** Kills the server without warning, as a crash would. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** Starts it again on the same port: empty, or from the last SAVE when started with a dir. */
  async restart(): Promise<void> {
    if (this.running) await this.stop();
    await this.spawn();
  }

  private async spawn(): Promise<void> {
    const bin = redisServerBinary();
    if (bin === null) throw new Error('redis-server is not installed');
    this.output = '';
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    if (this.dir !== undefined) args.push('--dir', this.dir);
    const child = spawn(bin, [...args, '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child = child;
    try {
      await waitForPong(this.port, 10_000);
    } catch (err) {
      child.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${this.output}`, { cause: err });
    }
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
  }
}
