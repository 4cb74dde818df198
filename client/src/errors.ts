// The one error type the SDK raises: the server's coded errors and its own (`timeout`,
// `disconnected`, `closed`, and the refusal behind a close that must not be retried).

export class HubError extends Error {
  /** The server's error code (`unknown_namespace`, `rate_limited`, ...) or the SDK's (`timeout`, `disconnected`, `closed`). */
  readonly code: string;
  /** Whether the same command may succeed later. */
  readonly temporary: boolean;
  /** From the server's `details.retryAfterMs` (rate limits). */
  readonly retryAfterMs?: number;
  readonly details?: Record<string, unknown>;

  constructor(code: string, message: string, temporary = false, details?: Record<string, unknown>) {
    super(message);
    this.name = 'HubError';
    this.code = code;
    this.temporary = temporary;
    if (details) {
      this.details = details;
      if (typeof details.retryAfterMs === 'number') this.retryAfterMs = details.retryAfterMs;
    }
  }
}
