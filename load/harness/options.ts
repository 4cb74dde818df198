// Command-line options of `npm run load -- <scenario> [options]`, each scenario's defaults, and
// the --help text.

export const SCENARIOS = ['fanout', 'chat', 'dashboard', 'notify', 'churn', 'reconnect-storm', 'soak'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface Options {
  scenario: Scenario;
  conns: number;
  workers: number;
  /** Publications per second, all publishers together. */
  rate: number;
  durationS: number;
  payload: number;
  rooms: number;
  /** Channels are `<namespace>:fanout`, `:room-<k>`, `:user-<i>`. */
  namespace: string;
  /** Planned disconnect + reconnect cycles per second, all clients together. */
  churn: number;
  /** Share of the clients that may be churned; the others stay connected throughout. */
  churnShare: number;
  sdk: number;
  restartAtS: number;
  sampleS: number;
  rssBoundMb: number;
  history: number;
  dataDir: string | undefined;
  transport: string;
  url: string | undefined;
  api: string | undefined;
  apiKey: string | undefined;
  hubPid: number | undefined;
  pin: boolean;
  json: boolean;
  progress: boolean;
  reconnectJitterMs: number;
}

export const HELP = `Usage: npm run load -- <scenario> [options]

Scenarios:
  fanout           --conns subscribers of one channel; one of them publishes --rate/s over its socket
  chat             --rooms rooms of --conns/--rooms members; every member publishes (--rate/s in all)
  dashboard        --conns subscribers over --rooms channels; publications by the HTTP API (--rate/s)
  notify           every client subscribes to its own channel; the HTTP API publishes to random ones
  churn            --churn clients a second disconnect and reconnect with \`since\`; HTTP publishing
  reconnect-storm  the harness's own hub (history in a temp --data-dir) is restarted at --restart-at;
                   every client reconnects at once with \`since\`: resumed vs reported vs silent gaps
  soak             churn + steady publishing for --minutes; samples hub RSS (and heap from /metrics)
                   every --sample-s and prints verdicts (RSS flat, nothing lost, no silent gap)

Options (defaults depend on the scenario; --help after a scenario shows its own):
  --conns N            clients (raw sockets), spread over the workers
  --workers W          client processes, each on its own source address 127.0.0.2, .3, ... (default 2;
                       one process holds at most ~20,000 sockets: 50,000 clients want 3 or more)
  --rate R             publications per second in all
  --duration S         seconds of load (not soak)
  --minutes M          soak: minutes of load (default 10)
  --payload BYTES      padding in each publication's data (default 100)
  --rooms N            channels for chat, dashboard, churn, reconnect-storm and soak
  --churn N            planned disconnect + reconnect cycles per second, all clients together
  --churn-share F      share of clients that may be churned (default 0.5); the rest stay connected
  --sdk N              hubbub-client SDK subscribers measuring latency end to end (default 3)
  --restart-at S       reconnect-storm: restart the hub this many seconds in (default: half the run)
  --sample-s S         soak: seconds between RSS samples (default 10)
  --rss-bound-mb MB    soak: the most the hub's RSS may grow over the run's second half (default 16)
  --history N          own hub: publications kept per channel for resuming (default 1000)
  --data-dir DIR       own hub: keep history in DIR/hubbub.aof (reconnect-storm: a temp dir by default)
  --transport T        own hub: auto | uws | ws (default auto)
  --url ws://H:P/ws    load a running hub instead of starting one (with --api and --api-key)
  --api http://H:P     that hub's HTTP API (for HTTP publishing and /metrics)
  --api-key KEY        that hub's API key (default: $HUBBUB_API_KEY)
  --hub-pid PID        that hub's pid, to read its RSS and CPU from /proc
  --namespace NS       the channels' namespace (default load; a --url hub needs it configured with
                       clientPublish for fanout/chat, and history for resuming)
  --no-pin             do not pin the own hub to core 1 (nor workers to core 0) with taskset
  --reconnect-jitter-ms MS  clients cut off reconnect within this (default 50: "all at once")
  --json               print the summary as JSON (progress lines still go to stderr)
  --quiet              no progress lines
  --help               this text

Exit code: 0 when nothing acknowledged was lost, no silent gap was seen (and, soak, every verdict
passed); 1 otherwise; 2 when the run itself failed.`;

function defaults(scenario: Scenario): Options {
  const base: Options = {
    scenario,
    conns: 1000,
    workers: 2,
    rate: 100,
    durationS: 10,
    payload: 100,
    rooms: 10,
    namespace: 'load',
    churn: 0,
    churnShare: 0.5,
    sdk: 3,
    restartAtS: Number.NaN,
    sampleS: 10,
    rssBoundMb: 16,
    history: 1000,
    dataDir: undefined,
    transport: 'auto',
    url: undefined,
    api: undefined,
    apiKey: process.env.HUBBUB_API_KEY,
    hubPid: undefined,
    pin: true,
    json: false,
    progress: true,
    reconnectJitterMs: 50,
  };
  switch (scenario) {
    case 'fanout':
      return { ...base, rooms: 1 };
    case 'chat':
      // A person says something every 20 s or so.
      return { ...base, rooms: 20, rate: 50 };
    case 'dashboard':
      return { ...base, rooms: 4, rate: 20 };
    case 'notify':
      return { ...base, rate: 200 };
    case 'churn':
      return { ...base, rate: 20, churn: 100 };
    case 'reconnect-storm':
      return { ...base, rate: 50 };
    case 'soak':
      return { ...base, durationS: 600, rate: 50, churn: 10 };
  }
}

export function parseOptions(argv: string[]): Options | 'help' {
  const scenario = argv[0];
  if (scenario === undefined || scenario === '--help' || scenario === '-h') return 'help';
  if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new Error(`unknown scenario ${scenario}: one of ${SCENARIOS.join(', ')}`);
  const o = defaults(scenario as Scenario);
  let rateSet = false;
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] as string;
    const str = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg}: expected a value`);
      return v;
    };
    const num = (min = 0): number => {
      const n = Number(str());
      if (!Number.isFinite(n) || n < min) throw new Error(`${arg}: expected a number >= ${min}`);
      return n;
    };
    switch (arg) {
      case '--help':
      case '-h':
        return 'help';
      case '--conns': o.conns = Math.floor(num(1)); break;
      case '--workers': o.workers = Math.floor(num(1)); break;
      case '--rate': o.rate = num(); rateSet = true; break;
      case '--duration': o.durationS = num(0.1); break;
      case '--minutes': o.durationS = num(0.01) * 60; break;
      case '--payload': o.payload = Math.floor(num()); break;
      case '--rooms': o.rooms = Math.floor(num(1)); break;
      case '--namespace': o.namespace = str(); break;
      case '--churn': o.churn = num(); break;
      case '--churn-share': o.churnShare = Math.min(1, num()); break;
      case '--sdk': o.sdk = Math.floor(num()); break;
      case '--restart-at': o.restartAtS = num(0); break;
      case '--sample-s': o.sampleS = num(0.1); break;
      case '--rss-bound-mb': o.rssBoundMb = num(); break;
      case '--history': o.history = Math.floor(num()); break;
      case '--data-dir': o.dataDir = str(); break;
      case '--transport': o.transport = str(); break;
      case '--url': o.url = str(); break;
      case '--api': o.api = str(); break;
      case '--api-key': o.apiKey = str(); break;
      case '--hub-pid': o.hubPid = Math.floor(num(1)); break;
      case '--reconnect-jitter-ms': o.reconnectJitterMs = num(); break;
      case '--no-pin': o.pin = false; break;
      case '--json': o.json = true; break;
      case '--quiet': o.progress = false; break;
      default:
        throw new Error(`unknown option ${arg} (see --help)`);
    }
  }
  if (o.scenario === 'chat' && !rateSet) o.rate = o.conns / 20;
  if (Number.isNaN(o.restartAtS)) o.restartAtS = o.durationS / 2;
  if (o.url !== undefined && o.api === undefined) throw new Error('--url needs --api (the hub HTTP API, for publishing and /metrics)');
  if (o.url !== undefined && o.scenario === 'reconnect-storm') throw new Error('reconnect-storm restarts the harness\'s own hub: it cannot target --url');
  if (o.sdk > o.conns) o.sdk = o.conns;
  return o;
}
