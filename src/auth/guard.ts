// Who a connection is and what it may do: authentication at `connect` (a token, or anonymity where
// allowed, or everyone when auth is off), token refresh on a live connection with a warning before
// expiry and a close at it, and the per-action check that combines capabilities with the
// namespace's openness. With a connect hook, the application's backend says who a connection is
// (e.g. from its session cookie), and the refresh hook renews it before it expires.

import type { AuthConfig, Capability, NamespaceConfig } from '../config/index.js';
import type { JsonValue } from '../engine/types.js';
import type { BackendHooks } from '../hooks/index.js';
import type { Metrics } from '../observability/index.js';
import { CloseCodes, expiringFrame, HubError, isHubError } from '../protocol/index.js';
import type { Session } from '../session.js';
import type { Clock } from '../util/clock.js';
import { Capabilities } from './capabilities.js';
import { TokenVerifier } from './tokens.js';

/** How soon a refresh the backend could not answer is asked again (within the time left). */
const REFRESH_RETRY_MS = 5000;

export class AuthGuard {
  private readonly verifier: TokenVerifier | undefined;
  private readonly anonymousCaps: Capabilities;

  constructor(
    private readonly config: AuthConfig,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
    private readonly hooks: BackendHooks,
    /** A refresh hook answer changed a connection's capabilities. */
    private readonly refreshed: (session: Session) => void = () => {},
  ) {
    this.verifier = TokenVerifier.from(config);
    this.anonymousCaps = new Capabilities(config.anonymous.caps);
  }

  /** False when no key nor connect hook is configured: every connection is anonymous with every capability. */
  get enabled(): boolean {
    return this.verifier !== undefined || this.hooks.has('connect');
  }

  /**
   * Who the connection is: from the connect hook, or its token, or anonymous where allowed;
   * everyone when auth is off. Without a key to verify tokens, the connect hook gets every
   * connect, so a made-up token can never walk past it.
   */
  async authenticate(session: Session, token: string | undefined, name?: string): Promise<void> {
    if (this.hooks.handlesConnect(token) || (this.verifier === undefined && this.hooks.has('connect'))) {
      return this.proxyConnect(session, token, name);
    }
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
    if (id.channels !== undefined) session.serverChannels = id.channels;
    this.scheduleExpiry(session, id.expiresAt);
  }

  private async proxyConnect(session: Session, token: string | undefined, name: string | undefined): Promise<void> {
    const { client } = session.info;
    const request = {
      client,
      remoteAddress: session.conn.remoteAddress,
      ...(name === undefined ? {} : { name }),
      ...(token === undefined ? {} : { token }),
    };
    const answer = await this.hooks.call('connect', request, session.headers, 'unauthorized');
    session.info = { client, user: answer.user, ...(answer.info === undefined ? {} : { info: answer.info as JsonValue }) };
    // No capabilities in the answer: none, beyond public namespaces and namespaces whose own hooks decide.
    session.caps = answer.caps === undefined ? Capabilities.none : new Capabilities(answer.caps);
    session.proxied = true;
    if (answer.channels !== undefined) session.serverChannels = answer.channels;
    this.scheduleExpiry(session, answer.expiresAt);
  }

  /**
   * The refresh hook renews a proxied connection ahead of its expiry. A refusal closes it (its
   * client reconnects, and the connect hook decides again); an unavailable backend is asked again
   * a little later, until the expiry itself closes the connection.
   */
  private async proxyRefresh(session: Session, expiresAt: number): Promise<void> {
    if (!session.isOpen || session.expiresAt !== expiresAt) return;
    const { client, user } = session.info;
    try {
      const answer = await this.hooks.call('refresh', { client, user, expiresAt }, session.headers);
      if (!session.isOpen || session.expiresAt !== expiresAt) return;
      if (answer.info !== undefined) session.info = { client, user, info: answer.info as JsonValue };
      if (answer.caps !== undefined) {
        session.caps = new Capabilities(answer.caps);
        this.refreshed(session);
      }
      this.scheduleExpiry(session, answer.expiresAt);
    } catch (err) {
      if (!isHubError(err, 'backend_unavailable')) {
        session.close(CloseCodes.token_expired, isHubError(err) ? err.message : 'refresh refused; reconnect');
        return;
      }
      const left = expiresAt - this.clock.now();
      if (left > 0) later(session.authTimers, Math.min(REFRESH_RETRY_MS, left / 2), () => void this.proxyRefresh(session, expiresAt));
    }
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
    if (!session.proxied) {
      later(session.authTimers, warnAt - now, () => session.send(expiringFrame(expiresAt - this.clock.now())));
    } else if (this.hooks.has('refresh')) {
      // The backend renews it; the client has no token to send.
      later(session.authTimers, warnAt - now, () => void this.proxyRefresh(session, expiresAt));
    }
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
