// The operator console at /console: asks for an API key, trades it for a one-use ticket per
// WebSocket connect, and shows the hub's live numbers from its internal channel, the channel
// browser and the publish and disconnect forms.

import { connectionBanner } from '../shared/banner.ts';
import { byId } from '../shared/dom.ts';
import { hubUrl, sdk } from '../shared/sdk.ts';
import { Api, ApiError } from './api.ts';
import { ChannelBrowser } from './browser.ts';
import { isNumbers, LiveNumbers } from './live.ts';

const CONSOLE_CHANNEL = '$hubbub:console';

function start(api: Api): void {
  byId('login').hidden = true;
  byId('dashboard').hidden = false;
  const client = new (sdk().HubClient)(hubUrl(), { token: () => api.ticket() });
  connectionBanner(client, byId('status'));
  const live = new LiveNumbers();
  const numbers = client.subscribe(CONSOLE_CHANNEL);
  numbers.on('message', (m) => {
    if (isNumbers(m.data)) live.add(m.data);
  });
  const problem = byId('live-error');
  const report = (err: { code: string; message: string }) => {
    problem.textContent = `${err.code}: ${err.message}`;
    problem.hidden = false;
  };
  numbers.on('error', report);
  client.on('error', report);
  client.on('connected', () => (problem.hidden = true));
  new ChannelBrowser(api);
  byId('logout').addEventListener('click', () => {
    api.forget();
    void client.close().then(() => location.reload());
  });
}

async function login(api: Api, quiet: boolean): Promise<void> {
  const out = byId('login-error');
  try {
    // A ticket proves the key before anything else is shown.
    await api.ticket();
    api.remember();
    out.hidden = true;
    start(api);
  } catch (err) {
    api.forget();
    if (quiet) return;
    out.textContent =
      err instanceof ApiError && err.status === 401 ? 'That key was refused. Use one of api.keys (HUBBUB_API_KEYS), or the key the hub logged at start.' : err instanceof Error ? err.message : String(err);
    out.hidden = false;
    byId<HTMLInputElement>('key').select();
  }
}

byId<HTMLFormElement>('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = byId<HTMLInputElement>('key');
  const key = input.value.trim();
  input.value = '';
  if (key !== '') void login(new Api(key), false);
});
const saved = Api.saved();
if (saved !== undefined) void login(saved, true);
else byId<HTMLInputElement>('key').focus();
