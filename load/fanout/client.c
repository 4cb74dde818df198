// Fan-out load client for `npm run bench:fanout` (built by load/fanout/run.ts into load/bin/).
//
// One process, one epoll loop, N subscriber WebSocket connections plus one publisher connection,
// so the client costs far less per delivered message than the server under test: the HTTP upgrade
// is done by hand with a fixed key, frames are counted by parsing WebSocket headers on the raw
// receive buffers (frames split across reads, 7/16/64-bit lengths), and JSON is never parsed; the
// publish timestamp is pulled out of a payload with memmem.
//
// Protocols: `bare` (subscribers only connect; the publisher's URL gets `?pub=1`), `hubbub`
// (every connection sends {"method":"connect"}, subscribers then {"method":"subscribe"}, each
// waiting for its reply; publishes are acknowledged with {"id":N,"result":...}) and `pusher`
// (subscribers speak the Pusher protocol on --sub-path: they wait for pusher:connection_established,
// send pusher:subscribe for --sub-channel and wait for subscription_succeeded; the publisher speaks
// hubbub's protocol on --path and publishes to --channel, the hub channel of that Pusher channel)
// and `socketio` (engine.io v4 over the WebSocket transport, --path /socket.io/?EIO=4&transport=websocket:
// every connection waits for the open packet `0{...}`, sends `40` and waits for `40{...}`; server
// pings `2` are answered with `3`; the publisher's URL gets `&pub=1` and sends `42["p","<data>"]`,
// deliveries are `42["m","<data>"]`). The Socket.IO payload is a JSON string, so it is built from
// characters that need no escaping: `t=<ns>;s=<seq>;xx..` instead of the JSON object.
//
// Modes: `throughput` publishes as fast as the window allows: at most W publishes' worth of
// deliveries (W * N frames, summed over all subscribers) may be outstanding, and for hubbub at most
// W unacknowledged publishes. `latency` publishes at a fixed rate from a timerfd.
// Each publish carries {"t":<CLOCK_MONOTONIC ns at send>,"s":<seq>,"pad":"xx.."}; a subscriber's
// receive time is taken right after the read() that brought the frame in, and now - t goes into a
// log-linear histogram (32 sub-buckets per power of two, ~3% resolution).
//
// --coalesce-us (the runner passes 10000 in throughput mode): after a wake-up that found few sockets
// ready, sleep that long so frames pile up and one read takes several; it halves the client's CPU
// at the same delivery rate. Latency mode never sleeps.
//
// Timeline: setup (connect all, bounded by --setup-timeout-ms), warm-up, measured window (counts,
// latency samples, own CPU via getrusage, server CPU via /proc/<pid>/stat), then a short drain that
// checks every published message reached every subscriber. Other processes' CPU during the window
// (from /proc) and each core's busy share (/proc/stat) are reported so the runner can flag noise.
// Prints one JSON line on stdout; progress and errors go to stderr. Exit status 0 on success, 1 on
// any error (JSON has "ok":false).

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define RBUF_CAP 16384
#define MAX_EVENTS 1024
#define TIMER_ID 0xFFFFFFFFu
#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_WAIT_CONNECT, ST_WAIT_SUB, ST_READY, ST_CLOSED };
enum { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN };

typedef struct {
  int fd;
  int state;
  int is_pub;
  uint32_t rlen;
  uint64_t skip;        // payload bytes of a frame too big for the buffer still to discard
  uint64_t count;       // data frames received while READY
  uint64_t count_start; // `count` when the measured window began
  unsigned char *rbuf;
  unsigned char *wbuf; // bytes the kernel did not take yet
  size_t wlen, woff, wcap;
} conn_t;

// ---- options ----
static const char *opt_host = "127.0.0.1";
static int opt_port = 0;
static const char *opt_path = "/";
static const char *opt_pub_query = "";
static const char *opt_channel = "bench:fanout";
static int opt_subs = 1000;
static int opt_hubbub = 0;
static int opt_pusher = 0;
static int opt_socketio = 0;
static uint64_t opt_test_drop_every = 0; // tests only: leave every Nth delivery uncounted
static const char *opt_sub_path = "/app/bench-key?protocol=7";
static const char *opt_sub_channel = "bench";
static int opt_latency_mode = 0;
static long opt_warmup_ms = 1000;
static long opt_duration_ms = 5000;
static long opt_drain_ms = 3000;
static long opt_setup_timeout_ms = 60000;
static long opt_stall_ms = 5000;
static int opt_window = 10;
static double opt_rate = 100;
static int opt_payload = 100;
static unsigned opt_sample = 1;
static int opt_server_pid = 0;
static int opt_concurrency = 64;
static long opt_coalesce_us = 0;
static int opt_progress = 0;

// ---- state ----
static int ep;
static int timer_fd = -1;
static conn_t *conns; // [0, subs) subscribers, [subs] publisher
static int nconns;
static int next_to_open = 0;
static int opening = 0;
static int ready_subs = 0;
static int phase = PH_SETUP;
static uint64_t t_setup_start, t_run_start, t_measure_start, t_measure_end, t_drain_end;
static uint64_t last_progress;

static uint64_t pubs_sent = 0, pub_acks = 0, pub_errors = 0, pub_self = 0;
static uint64_t total_recv = 0;
static uint64_t test_drop_ctr = 0;
static uint64_t win_reads = 0, win_bytes = 0, win_wakeups = 0;
static uint64_t win_recv = 0, win_pubs = 0, win_samples = 0, win_unparsed = 0;
static uint64_t sample_ctr = 0;
static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_max = 0;
static char first_pub_error[256] = "";
static uint64_t mask_state = 0x9E3779B97F4A7C15ull;
static struct rusage ru_start;
static long long srv_ticks_start = -1;
static uint64_t closed_during_drain = 0;

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
    else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
    else fputc(ch, f);
  }
  fputc('"', f);
}

static void fatal(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "fanout-client: %s\n", msg);
  fputs("{\"ok\":false,\"error\":", stdout);
  json_str(stdout, msg);
  fputs("}\n", stdout);
  fflush(stdout);
  exit(1);
}

// ---- histogram ----
static unsigned hist_index(uint64_t v) {
  if (v < HIST_SUB) return (unsigned)v;
  unsigned e = 63u - (unsigned)__builtin_clzll(v); // >= HIST_SUB_BITS
  unsigned sub = (unsigned)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
  return (e - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

static double hist_mid(unsigned idx) {
  if (idx < HIST_SUB) return (double)idx;
  unsigned e = idx / HIST_SUB + HIST_SUB_BITS - 1, sub = idx % HIST_SUB;
  double lo = (double)(HIST_SUB + sub) * (double)(1ull << (e - HIST_SUB_BITS));
  return lo + (double)(1ull << (e - HIST_SUB_BITS)) / 2.0;
}

static double hist_quantile_ms(double q) {
  uint64_t total = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) total += hist[i];
  if (total == 0) return -1;
  uint64_t rank = (uint64_t)(q * (double)total);
  if (rank < 1) rank = 1;
  uint64_t cum = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    cum += hist[i];
    if (cum >= rank) return hist_mid(i) / 1e6;
  }
  return (double)hist_max / 1e6;
}

// ---- CPU ----
static long long proc_ticks(int pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return -1;
  // After ")": field 3 (state) ... utime is field 14, stime field 15.
  unsigned long long utime = 0, stime = 0;
  int field = 2;
  for (char *tok = strtok(p + 1, " "); tok; tok = strtok(NULL, " ")) {
    field++;
    if (field == 14) utime = strtoull(tok, NULL, 10);
    if (field == 15) {
      stime = strtoull(tok, NULL, 10);
      break;
    }
  }
  return (long long)(utime + stime);
}

#define MAX_CPUS 64
typedef struct {
  unsigned long long v[10]; // user nice system idle iowait irq softirq steal guest guest_nice
} cpu_sample_t;
static cpu_sample_t cores_start[MAX_CPUS], cores_end[MAX_CPUS];
static int ncores = 0;

/** Reads the per-core lines of /proc/stat into `out`; returns how many cores. */
static int read_cores(cpu_sample_t *out) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9') continue;
    int id;
    cpu_sample_t c = {{0}};
    int got = sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &id, &c.v[0], &c.v[1], &c.v[2],
                     &c.v[3], &c.v[4], &c.v[5], &c.v[6], &c.v[7], &c.v[8], &c.v[9]);
    if (got < 8 || id < 0 || id >= MAX_CPUS) continue;
    out[id] = c;
    if (id + 1 > n) n = id + 1;
  }
  fclose(f);
  return n;
}

static void print_cores(void) {
  fputs("\"cores\":[", stdout);
  for (int i = 0; i < ncores; i++) {
    unsigned long long d[10], total = 0;
    for (int k = 0; k < 8; k++) { // guest time is already counted in user
      d[k] = cores_end[i].v[k] - cores_start[i].v[k];
      total += d[k];
    }
    if (total == 0) total = 1;
    double pct = 100.0 / (double)total;
    printf("%s{\"cpu\":%d,\"busyPct\":%.1f,\"userPct\":%.1f,\"sysPct\":%.1f,\"irqPct\":%.1f,\"stealPct\":%.1f}",
           i ? "," : "", i, (double)(total - d[3] - d[4]) * pct, (double)(d[0] + d[1]) * pct, (double)d[2] * pct,
           (double)(d[5] + d[6]) * pct, (double)d[7] * pct);
  }
  fputs("],", stdout);
}

// CPU used by every other process during the window (builds, tests: anything sharing the cores),
// from /proc/<pid>/stat at both ends. The client, the server and ksoftirqd (which runs the network
// work that overflows from both) are left out. Processes that start and end inside the window are
// missed; the per-core figures cover those.
#define MAX_PROCS 8192
typedef struct {
  int pid;
  long long ticks;
  char comm[32];
} proc_sample_t;
static proc_sample_t procs_start[MAX_PROCS];
static int nprocs_start = 0;
static double foreign_pct = 0;
static char foreign_top[160] = "";

static int read_procs(proc_sample_t *out) {
  DIR *d = opendir("/proc");
  if (!d) return 0;
  int n = 0, self = getpid();
  struct dirent *de;
  while ((de = readdir(d)) && n < MAX_PROCS) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    int pid = atoi(de->d_name);
    if (pid == self || pid == opt_server_pid) continue;
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0) continue;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0) continue;
    buf[len] = 0;
    char *l = strchr(buf, '('), *r = strrchr(buf, ')');
    if (!l || !r || r < l) continue;
    proc_sample_t *p = &out[n];
    p->pid = pid;
    snprintf(p->comm, sizeof p->comm, "%.*s", (int)(r - l - 1), l + 1);
    if (strncmp(p->comm, "ksoftirqd", 9) == 0) continue;
    unsigned long long ut = 0, st = 0;
    int field = 2;
    for (char *tok = strtok(r + 1, " "); tok; tok = strtok(NULL, " ")) {
      if (++field == 14) ut = strtoull(tok, NULL, 10);
      else if (field == 15) {
        st = strtoull(tok, NULL, 10);
        break;
      }
    }
    p->ticks = (long long)(ut + st);
    n++;
  }
  closedir(d);
  return n;
}

static void foreign_cpu(double secs) {
  static proc_sample_t end[MAX_PROCS];
  int n = read_procs(end);
  double hz = (double)sysconf(_SC_CLK_TCK);
  long long total = 0;
  long long top[3] = {0, 0, 0};
  int top_i[3] = {-1, -1, -1};
  for (int i = 0; i < n; i++) {
    long long before = 0;
    for (int k = 0; k < nprocs_start; k++)
      if (procs_start[k].pid == end[i].pid) {
        before = procs_start[k].ticks;
        break;
      }
    long long d = end[i].ticks - before;
    if (d <= 0) continue;
    total += d;
    for (int t = 0; t < 3; t++)
      if (d > top[t]) {
        for (int u = 2; u > t; u--) {
          top[u] = top[u - 1];
          top_i[u] = top_i[u - 1];
        }
        top[t] = d;
        top_i[t] = i;
        break;
      }
  }
  foreign_pct = (double)total / hz / secs * 100.0;
  size_t off = 0;
  for (int t = 0; t < 3 && top_i[t] >= 0; t++)
    off += (size_t)snprintf(foreign_top + off, sizeof foreign_top - off, "%s%s %.0f%%", t ? ", " : "",
                            end[top_i[t]].comm, (double)top[t] / hz / secs * 100.0);
}

static double ru_secs(const struct rusage *r) {
  return (double)r->ru_utime.tv_sec + (double)r->ru_utime.tv_usec / 1e6 + (double)r->ru_stime.tv_sec +
         (double)r->ru_stime.tv_usec / 1e6;
}

// ---- sockets ----
static void conn_events(conn_t *c, uint32_t ev) {
  struct epoll_event e = {.events = ev, .data.u32 = (uint32_t)(c - conns)};
  if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0) fatal("epoll_ctl MOD: %s", strerror(errno));
}

static void conn_send(conn_t *c, const void *data, size_t len) {
  const unsigned char *p = data;
  if (c->wlen == c->woff) {
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) fatal("send on connection %d: %s", (int)(c - conns), strerror(errno));
      n = 0;
    }
    if ((size_t)n == len) return;
    p += n;
    len -= (size_t)n;
    c->wlen = c->woff = 0;
    conn_events(c, EPOLLIN | EPOLLOUT);
  }
  if (c->wlen + len > c->wcap) {
    size_t cap = c->wcap ? c->wcap : 4096;
    while (cap < c->wlen + len) cap *= 2;
    if (cap > (64u << 20)) fatal("connection %d: over 64 MiB unsent (server not reading)", (int)(c - conns));
    c->wbuf = realloc(c->wbuf, cap);
    if (!c->wbuf) fatal("out of memory");
    c->wcap = cap;
  }
  memcpy(c->wbuf + c->wlen, p, len);
  c->wlen += len;
}

static void conn_flush(conn_t *c) {
  while (c->woff < c->wlen) {
    ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      fatal("send on connection %d: %s", (int)(c - conns), strerror(errno));
    }
    c->woff += (size_t)n;
  }
  c->wlen = c->woff = 0;
  conn_events(c, EPOLLIN);
}

/** Writes one masked client frame (FIN set) with `opcode` into `out`; returns its length. */
static size_t frame_encode(unsigned char *out, int opcode, const void *payload, size_t len) {
  size_t h = 0;
  out[h++] = (unsigned char)(0x80 | opcode);
  if (len < 126) {
    out[h++] = (unsigned char)(0x80 | len);
  } else if (len < 65536) {
    out[h++] = 0x80 | 126;
    out[h++] = (unsigned char)(len >> 8);
    out[h++] = (unsigned char)len;
  } else {
    out[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) out[h++] = (unsigned char)((uint64_t)len >> (8 * i));
  }
  mask_state ^= mask_state << 13;
  mask_state ^= mask_state >> 7;
  mask_state ^= mask_state << 17;
  unsigned char mask[4];
  memcpy(mask, &mask_state, 4);
  memcpy(out + h, mask, 4);
  h += 4;
  const unsigned char *p = payload;
  for (size_t i = 0; i < len; i++) out[h + i] = p[i] ^ mask[i & 3];
  return h + len;
}

static void send_text(conn_t *c, const char *text) {
  size_t len = strlen(text);
  unsigned char buf[1024];
  if (len + 14 > sizeof buf) fatal("frame too long");
  conn_send(c, buf, frame_encode(buf, 1, text, len));
}

static void open_conn(int i) {
  conn_t *c = &conns[i];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) fatal("socket: %s (open-file limit?)", strerror(errno));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt_port)};
  if (inet_pton(AF_INET, opt_host, &sa.sin_addr) != 1) fatal("bad --host %s (IPv4 only)", opt_host);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
    fatal("connect: %s", strerror(errno));
  c->fd = fd;
  c->state = ST_CONNECTING;
  c->rbuf = malloc(RBUF_CAP);
  if (!c->rbuf) fatal("out of memory");
  struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) fatal("epoll_ctl ADD: %s", strerror(errno));
  opening++;
}

static void open_more(void) {
  while (next_to_open < opt_subs && opening < opt_concurrency) open_conn(next_to_open++);
  if (ready_subs == opt_subs && next_to_open == opt_subs) {
    next_to_open++;
    open_conn(opt_subs); // the publisher, once every subscriber is in
  }
}

static void send_handshake(conn_t *c) {
  char req[1024];
  int n = snprintf(req, sizeof req,
                   "GET %s%s%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   opt_pusher && !c->is_pub ? opt_sub_path : opt_path, c->is_pub && *opt_pub_query ? (strchr(opt_path, '?') ? "&" : "?") : "",
                   c->is_pub ? opt_pub_query : "", opt_host,
                   opt_port);
  conn_send(c, req, (size_t)n);
  c->state = ST_HANDSHAKE;
}

static void start_run(void);

static void became_ready(conn_t *c) {
  c->state = ST_READY;
  opening--;
  if (c->is_pub) start_run();
  else {
    ready_subs++;
    open_more();
  }
}

static void after_upgrade(conn_t *c) {
  if ((opt_pusher && !c->is_pub) || opt_socketio) {
    c->state = ST_WAIT_CONNECT; // the server speaks first: pusher:connection_established, engine.io `0{...}`
  } else if (opt_hubbub) {
    send_text(c, "{\"id\":1,\"method\":\"connect\"}");
    c->state = ST_WAIT_CONNECT;
  } else {
    became_ready(c);
  }
}

// ---- publishing ----
#define MAX_PAYLOAD 250000
static char pad[MAX_PAYLOAD];

static size_t build_publish(unsigned char *out, uint64_t now) {
  static char text[MAX_PAYLOAD + 1024];
  int n;
  uint64_t seq = pubs_sent + 1;
  if (opt_hubbub)
    n = snprintf(text, sizeof text, "{\"id\":%llu,\"method\":\"publish\",\"channel\":\"%s\",\"data\":",
                 (unsigned long long)(seq + 1), opt_channel);
  else if (opt_socketio)
    n = snprintf(text, sizeof text, "42[\"p\",");
  else
    n = 0;
  int d0 = n;
  if (opt_socketio) // a JSON string: nothing in it needs escaping, so "t= survives the round trip as is
    n += snprintf(text + n, sizeof text - (size_t)n, "\"t=%llu;s=%llu;", (unsigned long long)now, (unsigned long long)seq);
  else
    n += snprintf(text + n, sizeof text - (size_t)n, "{\"t\":%llu,\"s\":%llu,\"pad\":\"", (unsigned long long)now,
                  (unsigned long long)seq);
  int padlen = opt_payload - (n - d0) - (opt_socketio ? 1 : 2);
  if (padlen < 0) padlen = 0;
  memcpy(text + n, pad, (size_t)padlen);
  n += padlen;
  text[n++] = '"';
  if (!opt_socketio) text[n++] = '}';
  if (opt_hubbub) text[n++] = '}';
  if (opt_socketio) text[n++] = ']';
  return frame_encode(out, 1, text, (size_t)n);
}

static uint64_t expected_per_sub(void) { return opt_hubbub ? pubs_sent - pub_errors : pubs_sent; }

static void publish_some(int max) {
  static unsigned char batch[4 << 20];
  size_t len = 0;
  conn_t *pub = &conns[opt_subs];
  for (int k = 0; k < max; k++) {
    uint64_t now = mono_ns();
    len += build_publish(batch + len, now);
    pubs_sent++;
    if (phase == PH_MEASURE) win_pubs++;
    if (len > sizeof batch - (MAX_PAYLOAD + 2048)) {
      conn_send(pub, batch, len);
      len = 0;
    }
  }
  if (len) conn_send(pub, batch, len);
}

static void publish_window(void) {
  if (phase != PH_WARMUP && phase != PH_MEASURE) return;
  uint64_t n = (uint64_t)opt_subs;
  uint64_t outstanding = expected_per_sub() * n - total_recv; // deliveries not yet seen
  uint64_t window = (uint64_t)opt_window;
  uint64_t budget = window * n;
  int can = 0;
  if (outstanding < budget) can = (int)((budget - outstanding) / n);
  if (opt_hubbub) {
    uint64_t unacked = pubs_sent - pub_acks - pub_errors;
    int by_ack = unacked >= window ? 0 : (int)(window - unacked);
    if (by_ack < can) can = by_ack;
  }
  if (can > 0) publish_some(can);
}

static void start_run(void) {
  t_run_start = mono_ns();
  last_progress = t_run_start;
  fprintf(stderr, "fanout-client: %d subscribers + publisher connected in %.2f s; warming up\n", opt_subs,
          (double)(t_run_start - t_setup_start) / 1e9);
  phase = PH_WARMUP;
  t_measure_start = t_run_start + (uint64_t)opt_warmup_ms * 1000000ull;
  t_measure_end = t_measure_start + (uint64_t)opt_duration_ms * 1000000ull;
  if (opt_latency_mode) {
    timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (timer_fd < 0) fatal("timerfd_create: %s", strerror(errno));
    uint64_t period = (uint64_t)(1e9 / opt_rate);
    struct itimerspec its = {.it_interval = {(time_t)(period / 1000000000ull), (long)(period % 1000000000ull)},
                             .it_value = {0, 1}};
    its.it_value = its.it_interval;
    if (timerfd_settime(timer_fd, 0, &its, NULL) < 0) fatal("timerfd_settime: %s", strerror(errno));
    struct epoll_event e = {.events = EPOLLIN, .data.u32 = TIMER_ID};
    epoll_ctl(ep, EPOLL_CTL_ADD, timer_fd, &e);
  }
}

// ---- receiving ----
static int extract_t(const unsigned char *p, size_t n, uint64_t *out) {
  const unsigned char *q, *end = p + n;
  if (n > 5 && memcmp(p, "{\"t\":", 5) == 0) q = p + 5; // bare servers relay the payload as is
  else if ((q = memmem(p, n, "\"t\":", 4))) q += 4;
  else if ((q = memmem(p, n, "\"t=", 3))) q += 3; // Socket.IO's string payload
  else return 0;
  while (q < end && *q == ' ') q++;
  if (q >= end || *q < '0' || *q > '9') return 0;
  uint64_t v = 0;
  while (q < end && *q >= '0' && *q <= '9') v = v * 10 + (uint64_t)(*q++ - '0');
  *out = v;
  return 1;
}

static int has(const unsigned char *p, size_t n, const char *needle) { return memmem(p, n, needle, strlen(needle)) != NULL; }

/**
 * Socket.IO's engine.io packets other than deliveries: answers pings, runs the connect handshake,
 * fails on a disconnect. Returns 1 when the frame is a delivery (`42...`) to count.
 */
static int on_socketio_packet(conn_t *c, const unsigned char *p, size_t avail) {
  int i = (int)(c - conns);
  if (avail == 1 && p[0] == '2') { // engine.io ping: a late pong gets the socket closed
    unsigned char buf[16];
    conn_send(c, buf, frame_encode(buf, 1, "3", 1));
    return 0;
  }
  if (avail >= 2 && p[0] == '4' && p[1] == '2') return c->state == ST_READY;
  if (avail >= 2 && p[0] == '4' && (p[1] == '1' || p[1] == '4'))
    fatal("connection %d: Socket.IO %s: %.*s", i, p[1] == '1' ? "disconnect" : "connect_error", avail > 300 ? 300 : (int)avail, p);
  if (avail >= 1 && p[0] == '1') fatal("connection %d: engine.io close", i);
  if (c->state == ST_WAIT_CONNECT && avail >= 1 && p[0] == '0') { // engine.io open: join the main namespace
    send_text(c, "40");
    c->state = ST_WAIT_SUB;
  } else if (c->state == ST_WAIT_SUB && avail >= 2 && p[0] == '4' && p[1] == '0') {
    became_ready(c);
  }
  return 0;
}

/** One frame; `avail` of its `full` payload bytes are at `p`. Returns 0 if the connection ended. */
static int on_frame(conn_t *c, int opcode, const unsigned char *p, size_t avail, uint64_t full, uint64_t now) {
  int i = (int)(c - conns);
  if (opcode == 8) {
    unsigned code = avail >= 2 ? ((unsigned)p[0] << 8 | p[1]) : 0;
    if (phase == PH_DRAIN) {
      closed_during_drain++;
      c->state = ST_CLOSED;
      epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
      close(c->fd);
      return 0;
    }
    fatal("server closed %s %d with code %u reason '%.*s'", c->is_pub ? "publisher" : "subscriber", i, code,
          avail > 2 ? (int)(avail - 2) : 0, avail > 2 ? (const char *)p + 2 : "");
  }
  if (opcode == 9) { // ping: answer with a pong carrying the same payload
    unsigned char buf[160];
    conn_send(c, buf, frame_encode(buf, 10, p, avail));
    return 1;
  }
  if (opcode == 10 || opcode == 0) return 1; // pong; continuation (never sent by these servers)
  if (opcode != 1 && opcode != 2) fatal("connection %d: unexpected opcode %d", i, opcode);
  (void)full;
  if (opt_socketio && !on_socketio_packet(c, p, avail)) return 1;

  switch (c->state) {
  case ST_READY:
    if (c->is_pub) {
      if (!opt_hubbub) pub_self++; // bare uWS also delivers to the publisher's own socket
      else if (has(p, avail, "\"error\"")) {
        pub_errors++;
        if (!first_pub_error[0]) snprintf(first_pub_error, sizeof first_pub_error, "%.*s", avail > 200 ? 200 : (int)avail, p);
      } else if (has(p, avail, "\"result\"")) pub_acks++;
      return 1;
    }
    if (opt_test_drop_every && ++test_drop_ctr % opt_test_drop_every == 0) return 1; // tests: a lost delivery
    c->count++;
    total_recv++;
    if (phase == PH_MEASURE) {
      win_recv++;
      if (++sample_ctr >= opt_sample) {
        sample_ctr = 0;
        uint64_t t;
        if (extract_t(p, avail, &t) && now >= t) {
          uint64_t d = now - t;
          hist[hist_index(d)]++;
          if (d > hist_max) hist_max = d;
          win_samples++;
        } else {
          win_unparsed++;
        }
      }
    }
    return 1;
  case ST_WAIT_CONNECT:
  case ST_WAIT_SUB:
    if (opt_pusher && !c->is_pub) {
      if (has(p, avail, "pusher:error") || has(p, avail, "subscription_error"))
        fatal("connection %d: pusher refused: %.*s", i, avail > 300 ? 300 : (int)avail, p);
      if (c->state == ST_WAIT_CONNECT && has(p, avail, "pusher:connection_established")) {
        char sub[256];
        snprintf(sub, sizeof sub, "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"%s\"}}", opt_sub_channel);
        send_text(c, sub);
        c->state = ST_WAIT_SUB;
      } else if (c->state == ST_WAIT_SUB && has(p, avail, "subscription_succeeded")) {
        became_ready(c);
      }
      return 1;
    }
    if (has(p, avail, "\"error\"")) fatal("connection %d: hubbub refused: %.*s", i, avail > 300 ? 300 : (int)avail, p);
    if (!has(p, avail, "\"result\"")) return 1; // not the reply we wait for
    if (c->state == ST_WAIT_CONNECT && !c->is_pub) {
      char sub[256];
      snprintf(sub, sizeof sub, "{\"id\":2,\"method\":\"subscribe\",\"channel\":\"%s\"}", opt_channel);
      send_text(c, sub);
      c->state = ST_WAIT_SUB;
    } else {
      became_ready(c);
    }
    return 1;
  default:
    return 1;
  }
}

/** Parses every complete frame in the connection's buffer; keeps a partial one for the next read. */
static void parse_frames(conn_t *c, uint64_t now) {
  unsigned char *b = c->rbuf;
  size_t len = c->rlen, pos = 0;
  while (pos < len) {
    if (c->skip) {
      size_t k = len - pos < c->skip ? len - pos : (size_t)c->skip;
      pos += k;
      c->skip -= k;
      continue;
    }
    if (len - pos < 2) break;
    unsigned b0 = b[pos], b1 = b[pos + 1];
    size_t hdr = 2;
    uint64_t plen = b1 & 0x7f;
    if (plen == 126) {
      if (len - pos < 4) break;
      plen = (uint64_t)b[pos + 2] << 8 | b[pos + 3];
      hdr = 4;
    } else if (plen == 127) {
      if (len - pos < 10) break;
      plen = 0;
      for (int k = 0; k < 8; k++) plen = plen << 8 | b[pos + 2 + k];
      hdr = 10;
    }
    if (b1 & 0x80) fatal("connection %d: masked frame from the server", (int)(c - conns));
    if ((b0 & 0x70) != 0) fatal("connection %d: RSV bits set (no extension was negotiated)", (int)(c - conns));
    size_t avail = len - pos - hdr;
    int opcode = (int)(b0 & 0x0f);
    if (plen <= avail) {
      if (!on_frame(c, opcode, b + pos + hdr, (size_t)plen, plen, now)) return;
      pos += hdr + (size_t)plen;
    } else if (hdr + plen > RBUF_CAP) { // can never fit: count it now, discard the rest as it comes
      if (avail < 64 && (pos > 0 || len < RBUF_CAP)) break; // first get the start, where "t" is
      if (opcode >= 8) fatal("connection %d: oversized control frame", (int)(c - conns));
      if (!on_frame(c, opcode, b + pos + hdr, avail, plen, now)) return;
      c->skip = plen - avail;
      pos = len;
    } else {
      break;
    }
  }
  if (pos > 0 && pos < len) memmove(b, b + pos, len - pos);
  c->rlen = (uint32_t)(len - pos);
}

static void on_readable(conn_t *c) {
  ssize_t n = read(c->fd, c->rbuf + c->rlen, RBUF_CAP - c->rlen);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    if (phase == PH_DRAIN) {
      closed_during_drain++;
      c->state = ST_CLOSED;
      epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
      close(c->fd);
      return;
    }
    fatal("%s %d: connection %s in state %d", c->is_pub ? "publisher" : "subscriber", (int)(c - conns),
          n == 0 ? "closed by the server" : strerror(errno), c->state);
  }
  if (n < 0) return;
  uint64_t now = mono_ns();
  c->rlen += (uint32_t)n;
  if (phase == PH_MEASURE) {
    win_reads++;
    win_bytes += (uint64_t)n;
  }
  if (c->state == ST_HANDSHAKE) {
    unsigned char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
    if (!end) {
      if (c->rlen == RBUF_CAP) fatal("connection %d: oversized handshake response", (int)(c - conns));
      return;
    }
    if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.1 101", 12) != 0) {
      char *eol = memchr(c->rbuf, '\r', c->rlen);
      fatal("connection %d: upgrade refused: %.*s", (int)(c - conns), (int)(eol - (char *)c->rbuf), c->rbuf);
    }
    size_t hl = (size_t)(end + 4 - c->rbuf);
    memmove(c->rbuf, c->rbuf + hl, c->rlen - hl);
    c->rlen -= (uint32_t)hl;
    after_upgrade(c);
  }
  if (c->rlen) parse_frames(c, now);
}

static void on_writable(conn_t *c) {
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t el = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) fatal("connect to %s:%d: %s", opt_host, opt_port, strerror(err));
    conn_events(c, EPOLLIN);
    send_handshake(c);
    return;
  }
  conn_flush(c);
}

// ---- main ----
static void usage(void) {
  fprintf(stderr,
          "usage: fanout-client --port P [--host 127.0.0.1] [--path /] [--pub-query pub=1] [--proto bare|hubbub|pusher|socketio]\n"
          "  [--sub-path /app/bench-key?protocol=7] [--sub-channel bench]\n"
          "  [--channel bench:fanout] [--subs 1000] [--mode throughput|latency] [--window 10] [--rate 100]\n"
          "  [--payload 100] [--sample 1] [--warmup-ms 1000] [--duration-ms 5000] [--drain-ms 3000]\n"
          "  [--setup-timeout-ms 60000] [--server-pid PID] [--concurrency 64] [--coalesce-us 0] [--progress 0|1]\n"
          "  [--test-drop-every N (tests: leave every Nth delivery uncounted, so it shows as missing)]\n");
  exit(2);
}

static long num(const char *s) {
  char *e;
  long v = strtol(s, &e, 10);
  if (*s == 0 || *e != 0) usage();
  return v;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "--host")) opt_host = v;
    else if (!strcmp(a, "--port")) opt_port = (int)num(v);
    else if (!strcmp(a, "--path")) opt_path = v;
    else if (!strcmp(a, "--pub-query")) opt_pub_query = v;
    else if (!strcmp(a, "--channel")) opt_channel = v;
    else if (!strcmp(a, "--sub-path")) opt_sub_path = v;
    else if (!strcmp(a, "--sub-channel")) opt_sub_channel = v;
    else if (!strcmp(a, "--subs")) opt_subs = (int)num(v);
    else if (!strcmp(a, "--proto")) {
      if (!strcmp(v, "hubbub")) opt_hubbub = 1;
      else if (!strcmp(v, "pusher")) opt_hubbub = opt_pusher = 1; // the publisher speaks hubbub's protocol
      else if (!strcmp(v, "socketio")) opt_socketio = 1;
      else if (strcmp(v, "bare")) usage();
    } else if (!strcmp(a, "--mode")) {
      if (!strcmp(v, "latency")) opt_latency_mode = 1;
      else if (strcmp(v, "throughput")) usage();
    } else if (!strcmp(a, "--window")) opt_window = (int)num(v);
    else if (!strcmp(a, "--rate")) opt_rate = strtod(v, NULL);
    else if (!strcmp(a, "--payload")) opt_payload = (int)num(v);
    else if (!strcmp(a, "--sample")) opt_sample = (unsigned)num(v);
    else if (!strcmp(a, "--warmup-ms")) opt_warmup_ms = num(v);
    else if (!strcmp(a, "--duration-ms")) opt_duration_ms = num(v);
    else if (!strcmp(a, "--drain-ms")) opt_drain_ms = num(v);
    else if (!strcmp(a, "--setup-timeout-ms")) opt_setup_timeout_ms = num(v);
    else if (!strcmp(a, "--server-pid")) opt_server_pid = (int)num(v);
    else if (!strcmp(a, "--concurrency")) opt_concurrency = (int)num(v);
    else if (!strcmp(a, "--coalesce-us")) opt_coalesce_us = num(v);
    else if (!strcmp(a, "--progress")) opt_progress = (int)num(v);
    else if (!strcmp(a, "--test-drop-every")) opt_test_drop_every = (uint64_t)num(v);
    else usage();
  }
  if (opt_port <= 0 || opt_subs < 1 || opt_window < 1 || opt_rate <= 0 || opt_sample < 1 || opt_payload < 20 ||
      opt_payload > MAX_PAYLOAD || opt_duration_ms < 100 || opt_concurrency < 1)
    usage();
  if (opt_coalesce_us < 0 || opt_coalesce_us > 100000) usage();
  signal(SIGPIPE, SIG_IGN);
  memset(pad, 'x', sizeof pad);
  // One descriptor per connection plus a few: raise the soft limit toward the hard one if needed,
  // so 10,000 subscribers fail here with a clear message rather than at socket() mid-setup.
  struct rlimit rl;
  rlim_t want = (rlim_t)opt_subs + 64;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want)
      fatal("open-file limit %llu is below the %llu descriptors %d subscribers need (ulimit -n)",
            (unsigned long long)rl.rlim_cur, (unsigned long long)want, opt_subs);
  }

  nconns = opt_subs + 1;
  conns = calloc((size_t)nconns, sizeof *conns);
  if (!conns) fatal("out of memory");
  for (int i = 0; i < nconns; i++) conns[i].fd = -1;
  conns[opt_subs].is_pub = 1;
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) fatal("epoll_create1: %s", strerror(errno));

  t_setup_start = mono_ns();
  open_more();
  static struct epoll_event evs[MAX_EVENTS];
  for (;;) {
    uint64_t now = mono_ns();
    // Phase changes and deadlines.
    if (phase == PH_SETUP && now - t_setup_start > (uint64_t)opt_setup_timeout_ms * 1000000ull)
      fatal("setup timed out: %d of %d subscribers ready", ready_subs, opt_subs);
    if (phase == PH_WARMUP && now >= t_measure_start) {
      phase = PH_MEASURE;
      nprocs_start = read_procs(procs_start); // the slow one (a few ms), before the window opens
      read_cores(cores_start);
      if (opt_server_pid) srv_ticks_start = proc_ticks(opt_server_pid);
      getrusage(RUSAGE_SELF, &ru_start);
      t_measure_start = mono_ns();
      t_measure_end = t_measure_start + (uint64_t)opt_duration_ms * 1000000ull;
      for (int i = 0; i < opt_subs; i++) conns[i].count_start = conns[i].count;
    }
    if (phase == PH_MEASURE && now >= t_measure_end) break;
    if (opt_progress && phase >= PH_WARMUP) { // one stderr line a second: deliveries/s, reads/s
      static uint64_t t_last = 0, recv_last = 0, reads_last = 0;
      if (t_last == 0) t_last = now;
      if (now - t_last >= 1000000000ull) {
        double dt = (double)(now - t_last) / 1e9;
        fprintf(stderr, "fanout-client: %.0f deliveries/s, %.0f reads/s\n", (double)(total_recv - recv_last) / dt,
                (double)(win_reads - reads_last) / dt);
        t_last = now;
        recv_last = total_recv;
        reads_last = win_reads;
      }
    }
    if ((phase == PH_WARMUP || phase == PH_MEASURE) && now - last_progress > (uint64_t)opt_stall_ms * 1000000ull)
      fatal("stalled: nothing received for %ld ms (%llu publishes, %llu acks, %llu errors, %llu deliveries)",
            opt_stall_ms, (unsigned long long)pubs_sent, (unsigned long long)pub_acks,
            (unsigned long long)pub_errors, (unsigned long long)total_recv);

    int timeout = 100;
    if (phase == PH_WARMUP || phase == PH_MEASURE) {
      uint64_t until = phase == PH_WARMUP ? t_measure_start : t_measure_end;
      uint64_t ms = until > now ? (until - now) / 1000000ull + 1 : 0;
      if (ms < (uint64_t)timeout) timeout = (int)ms;
    }
    int n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      fatal("epoll_wait: %s", strerror(errno));
    }
    uint64_t recv_before = total_recv + pub_acks + pub_errors;
    uint64_t acks_before = pub_acks + pub_errors;
    if (phase == PH_MEASURE) win_wakeups++;
    for (int k = 0; k < n; k++) {
      uint32_t id = evs[k].data.u32;
      if (id == TIMER_ID) {
        uint64_t exp = 0;
        if (read(timer_fd, &exp, sizeof exp) == (ssize_t)sizeof exp && (phase == PH_WARMUP || phase == PH_MEASURE))
          publish_some((int)exp);
        continue;
      }
      conn_t *c = &conns[id];
      if (c->state == ST_CLOSED) continue;
      if (c->state == ST_CONNECTING) {
        on_writable(c); // EPOLLOUT, or EPOLLERR/EPOLLHUP for a refused connect
        continue;
      }
      if (evs[k].events & EPOLLOUT) on_writable(c);
      if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
    int idle = total_recv == expected_per_sub() * (uint64_t)opt_subs &&
               (!opt_hubbub || pub_acks + pub_errors == pubs_sent);
    if (total_recv + pub_acks + pub_errors != recv_before || idle) last_progress = mono_ns();
    if (!opt_latency_mode) publish_window();
    // --coalesce-us (off by default): after a wake-up that found few sockets ready, let frames
    // pile up for a moment instead of waking once per socket the server writes. Measured on the
    // reference machine it saves little: a server writes each socket about once per batch anyway.
    // Not after a wake-up that brought the publisher's acknowledgements: hubbub writes a publish's
    // ack before its deliveries, and sleeping then would hold the next publishes back for the whole
    // pause (a penalty for acknowledging that bare servers, which send no ack, never pay).
    if (opt_coalesce_us > 0 && phase != PH_SETUP && n < MAX_EVENTS / 4 && pub_acks + pub_errors == acks_before) {
      struct timespec ts = {0, opt_coalesce_us * 1000};
      nanosleep(&ts, NULL);
    }
  }

  // End of the measured window.
  t_measure_end = mono_ns();
  struct rusage ru_end;
  getrusage(RUSAGE_SELF, &ru_end);
  ncores = read_cores(cores_end);
  long long srv_ticks_end = opt_server_pid ? proc_ticks(opt_server_pid) : -1;
  double secs = (double)(t_measure_end - t_measure_start) / 1e9;
  uint64_t win_min = UINT64_MAX, win_max = 0;
  for (int i = 0; i < opt_subs; i++) {
    uint64_t d = conns[i].count - conns[i].count_start;
    if (d < win_min) win_min = d;
    if (d > win_max) win_max = d;
  }
  foreign_cpu(secs);
  double client_cpu = (ru_secs(&ru_end) - ru_secs(&ru_start)) / secs * 100.0;
  double server_cpu = -1;
  if (srv_ticks_start >= 0 && srv_ticks_end >= 0)
    server_cpu = (double)(srv_ticks_end - srv_ticks_start) / (double)sysconf(_SC_CLK_TCK) / secs * 100.0;

  // Drain: no more publishes; wait until every subscriber has every published message.
  phase = PH_DRAIN;
  if (timer_fd >= 0) {
    epoll_ctl(ep, EPOLL_CTL_DEL, timer_fd, NULL);
    close(timer_fd);
  }
  // Long enough to deliver what is still in flight at the measured rate, twice over; at most 30 s.
  double in_flight = (double)(expected_per_sub() * (uint64_t)opt_subs - total_recv);
  double rate = (double)win_recv / secs;
  double drain_ms = rate > 0 ? 2000.0 * in_flight / rate : 0;
  if (drain_ms < (double)opt_drain_ms) drain_ms = (double)opt_drain_ms;
  if (drain_ms > 30000) drain_ms = 30000;
  t_drain_end = mono_ns() + (uint64_t)(drain_ms * 1e6);
  for (;;) {
    int acks_done = !opt_hubbub || pub_acks + pub_errors == pubs_sent;
    if (acks_done && total_recv >= expected_per_sub() * (uint64_t)opt_subs) break;
    uint64_t now = mono_ns();
    if (now >= t_drain_end) break;
    int n = epoll_wait(ep, evs, MAX_EVENTS, (int)((t_drain_end - now) / 1000000ull) + 1);
    if (n < 0 && errno != EINTR) fatal("epoll_wait: %s", strerror(errno));
    for (int k = 0; k < n; k++) {
      conn_t *c = &conns[evs[k].data.u32];
      if (c->state == ST_CLOSED) continue;
      if (evs[k].events & EPOLLOUT) on_writable(c);
      if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
    }
  }
  uint64_t expected = expected_per_sub() * (uint64_t)opt_subs;
  uint64_t missing = expected > total_recv ? expected - total_recv : 0;

  printf("{\"ok\":true,\"mode\":\"%s\",\"proto\":\"%s\",\"subs\":%d,\"seconds\":%.3f,\"deliveries\":%llu,"
         "\"deliveriesPerSec\":%.0f,\"publishes\":%llu,\"publishesPerSec\":%.1f,",
         opt_latency_mode ? "latency" : "throughput", opt_pusher ? "pusher" : opt_hubbub ? "hubbub" : opt_socketio ? "socketio" : "bare", opt_subs, secs,
         (unsigned long long)win_recv, (double)win_recv / secs, (unsigned long long)win_pubs,
         (double)win_pubs / secs);
  printf("\"p50Ms\":%.3f,\"p90Ms\":%.3f,\"p99Ms\":%.3f,\"p999Ms\":%.3f,\"maxMs\":%.3f,\"latencySamples\":%llu,"
         "\"unparsed\":%llu,",
         hist_quantile_ms(0.50), hist_quantile_ms(0.90), hist_quantile_ms(0.99), hist_quantile_ms(0.999),
         (double)hist_max / 1e6, (unsigned long long)win_samples, (unsigned long long)win_unparsed);
  print_cores();
  printf("\"foreignCpuPct\":%.1f,\"foreignTop\":", foreign_pct);
  json_str(stdout, foreign_top);
  putchar(',');
  printf("\"clientCpuPct\":%.1f,\"serverCpuPct\":", client_cpu);
  if (server_cpu < 0) printf("null");
  else printf("%.1f", server_cpu);
  printf(",\"minPerSub\":%llu,\"maxPerSub\":%llu,\"publishesTotal\":%llu,\"publishErrors\":%llu,\"missing\":%llu,"
         "\"closedInDrain\":%llu,\"publisherSelfDeliveries\":%llu,\"firstPublishError\":",
         (unsigned long long)(win_min == UINT64_MAX ? 0 : win_min), (unsigned long long)win_max,
         (unsigned long long)pubs_sent, (unsigned long long)pub_errors, (unsigned long long)missing,
         (unsigned long long)closed_during_drain, (unsigned long long)pub_self);
  if (first_pub_error[0]) json_str(stdout, first_pub_error);
  else printf("null");
  printf(",\"reads\":%llu,\"readBytes\":%llu,\"wakeups\":%llu", (unsigned long long)win_reads,
         (unsigned long long)win_bytes, (unsigned long long)win_wakeups);
  printf(",\"window\":%d,\"rate\":%.1f,\"payload\":%d,\"sample\":%u}\n", opt_window, opt_rate, opt_payload, opt_sample);
  fflush(stdout);
  return 0;
}
