// Who a connection is and what it may do: authentication at `connect` (a token, or anonymity where
// allowed, or everyone when auth is off), token refresh on a live connection with a warning before
// expiry and a close at it, and the per-action check that combines capabilities with the
// namespace's openness.

import type { AuthConfig, Capability, NamespaceConfig } from '../config/index.js';
import type { Metrics } from '../observability/index.js';
import { CloseCodes, expiringFrame, HubError } from '../protocol/index.js';
import type { Session } from '../session.js';
import type { Clock } from '../util/clock.js';
import { Capabilities } from './capabilities.js';
import { TokenVerifier } from './tokens.js';

export class AuthGuard {
  private readonly verifier: TokenVerifier | undefined;
  private readonly anonymousCaps: Capabilities;

  constructor(
    private readonly config: AuthConfig,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
  ) {
    this.verifier = TokenVerifier.from(config);
    this.anonymousCaps = new Capabilities(config.anonymous.caps);
  }

  /** False when no key is configured: every connection is anonymous with every capability. */
  get enabled(): boolean {
    return this.verifier !== undefined;
  }

  /** Who the connection is: from its token, or anonymous where allowed; everyone when auth is off. */
  async authenticate(session: Session, token: string | undefined): Promise<void> {
    if (this.verifier === undefined) return;
    if (token === undefined) {
      if (!this.config.anonymous.allowed) {
        throw new HubError('unauthorized', 'a token is required to connect (connect {token})');
      }
      session.caps = this.anonymousCaps;
      return;
    }
    const id = await this.verifier.verify(token);
    session.info = { client: session.info.client, user: id.user, ...(id.info === undefined ? {} : { info: id.info }) };
    session.caps = id.caps;
    this.scheduleExpiry(session, id.expiresAt);
  }

  /** A new token on a live connection: same user, new capabilities and expiry. Returns the reply's JSON. */
  async refresh(session: Session, token: string): Promise<string> {
    if (this.verifier === undefined) throw new HubError('bad_request', 'auth is off on this hub; there is nothing to refresh');
    const id = await this.verifier.verify(token);
    if (id.user !== session.info.user) {
      throw new HubError('unauthorized', 'a refreshed token must be for the same user as the connection');
    }
    session.caps = id.caps;
    this.scheduleExpiry(session, id.expiresAt);
    return JSON.stringify(id.expiresAt === undefined ? {} : { expiresAt: id.expiresAt });
  }

  /** Capability from the token, or a public namespace's open reads. */
  allows(session: Session, channel: string, ns: NamespaceConfig, cap: Capability): boolean {
    if (session.caps.allows(channel, cap)) return true;
    return ns.public && (cap === 'subscribe' || cap === 'history' || cap === 'presence');
  }

  /** `allows`, or a counted `forbidden`. */
  authorize(session: Session, channel: string, ns: NamespaceConfig, cap: Capability): void {
    if (this.allows(session, channel, ns, cap)) return;
    this.metrics.forbidden.inc({ action: cap });
    throw new HubError('forbidden', `this connection may not ${cap} on ${channel}`);
  }

  /** Warns `refreshBeforeMs` ahead of expiry (the `expiring` push), then closes with 4005 at expiry. */
  private scheduleExpiry(session: Session, expiresAt: number | undefined): void {
    session.clearAuthTimers();
    session.expiresAt = expiresAt;
    if (expiresAt === undefined) return;
    const now = this.clock.now();
    const endsAt = expiresAt + this.config.clockToleranceSec * 1000;
    // A token that lives less than refreshBeforeMs is warned about halfway through its life, never
    // at once: a client answering each warning with a refresh must not loop.
    const warnAt = Math.max(expiresAt - this.config.refreshBeforeMs, now + (expiresAt - now) / 2);
    later(session.authTimers, warnAt - now, () => session.send(expiringFrame(expiresAt - this.clock.now())));
    later(session.authTimers, endsAt - now, () =>
      session.close(CloseCodes.token_expired, 'token expired; reconnect with a new token'),
    );
  }
}

/** setTimeout for any delay (Node caps one timer at about 24.8 days); past delays run at once. */
function later(timers: NodeJS.Timeout[], ms: number, fn: () => void): void {
  const MAX = 2 ** 31 - 1;
  const step = Math.max(0, Math.min(ms, MAX));
  const t = setTimeout(() => {
    timers.splice(timers.indexOf(t), 1);
    if (ms > MAX) later(timers, ms - MAX, fn);
    else fn();
  }, step);
  t.unref();
  timers.push(t);
}
