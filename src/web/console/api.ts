// The console's calls to the hub's HTTP API. The key lives in this tab only (sessionStorage, gone
// when the tab closes) and travels in the Authorization header, never in a URL, so it stays out
// of the hub's request logs, the browser history and any Referer.

const KEY = 'hubbub-console-key';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What a namespace keeps: the console asks a channel only for these. */
export interface Keeps {
  history: boolean;
  presence: boolean;
  leaderboard: boolean;
}

export class Api {
  /** By namespace, from the last ticket. */
  namespaces: Record<string, Keeps> = {};

  constructor(private key: string) {}

  static saved(): Api | undefined {
    const key = sessionStorage.getItem(KEY);
    return key === null || key === '' ? undefined : new Api(key);
  }

  remember(): void {
    sessionStorage.setItem(KEY, this.key);
  }

  forget(): void {
    sessionStorage.removeItem(KEY);
    this.key = '';
  }

  get<T>(path: string, query: Record<string, string | number> = {}): Promise<T> {
    const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
    return this.call<T>('GET', q === '' ? path : `${path}?${q}`);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('POST', path, JSON.stringify(body));
  }

  /** A one-use ticket for the console's WebSocket (its connect token). */
  async ticket(): Promise<string> {
    const { ticket, namespaces } = await this.post<{ ticket: string; namespaces: Record<string, Keeps> }>('/api/console/ticket', {});
    this.namespaces = namespaces;
    return ticket;
  }

  private async call<T>(method: string, path: string, body?: string): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, { method, headers, ...(body === undefined ? {} : { body }), cache: 'no-store', credentials: 'omit' });
    const json: unknown = await res.json().catch(() => undefined);
    if (!res.ok) {
      const error = (json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      throw new ApiError(res.status, typeof error?.code === 'string' ? error.code : 'http_error', typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`);
    }
    return json as T;
  }
}
