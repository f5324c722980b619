// The ground-truth test of ternd's analytics (issue 10): independent
// processes export a known topology, with known durations and errors, to a
// real ternd, the way real services do (children before their parents,
// seconds apart, a duplicate export, a retry after a crash), and ternd's
// answers must equal what the test computes itself from what it sent.
//
//   frontend  OpenTelemetry JS SDK, OTLP/gRPC        (sdk_agent.mjs)
//   search    OpenTelemetry JS SDK, OTLP/HTTP protobuf
//   worker    OpenTelemetry JS SDK, OTLP/HTTP JSON, every batch exported twice
//   api       libtern, its own OTLP/gRPC exporter    (truth-agent, agent.c)
//   legacy    libtern, spans without a kind (OTLP kind UNSPECIFIED)
//
// One trace:
//
//   frontend  GET_/checkout  SERVER root
//   ├─ frontend  render        INTERNAL
//   ├─ frontend  call_api      CLIENT ──> api  POST_/order  SERVER
//   │                                    ├─ api validate        INTERNAL
//   │                                    ├─ api publish_order   PRODUCER ──> worker process_order CONSUMER
//   │                                    └─ api call_legacy     CLIENT   ──> legacy legacy_handle UNSPECIFIED
//   └─ frontend  call_search   CLIENT ──> search  search  SERVER   (twice in every third trace: fan-out)
//                                         └─ search rank  INTERNAL
//
// Each round begins every span top-down (a child needs its parent's ids),
// then ends and exports them bottom-up, one level every GAP_MS: legacy,
// worker and rank first, the roots last. In round KILL_ROUND ternd is
// killed with SIGKILL in the middle (after the api's children went out,
// before the api's SERVER spans) and restarted on the same data directory
// and ports; the frontend's exporter retries meanwhile, and the worker
// resends a batch ternd had already acknowledged. After the last round and
// the settle time the test compares; then it kills ternd again, restarts
// it and compares once more (the answers must survive the replay).
//
// Truth (computed here, from what was sent; duplicates count once):
//   per service, its entry spans (kind SERVER or CONSUMER, no parent, or a
//   parent in another service): calls, errors (status ERROR), p50/p95/p99
//   as the exact value of rank floor(q * (n - 1)) of the sorted durations,
//   the rank the sketch reads (tern_sketch_quantile in agent/sketch.c;
//   bench/query compares the same way);
//   per (service, kind): all spans and errors (the SPM series);
//   per (parent service -> child service): parent -> child pairs, and of
//   them those whose child span has status ERROR (the edge's errorCount);
//   per trace: its spans.
// ternd: /api/tern/summary (services), /api/metrics/calls and
// /api/metrics/errors (summed over the window: step = ratePer = 1 minute;
// a call-rate point at every step, idle ones included, and an error-rate
// series for every service and kind with calls), /api/metrics/latencies
// (one point over the whole window), /api/dependencies, /api/traces/{id}
// (every trace). Counts must be equal, percentiles within 1 %.
//
// usage: TERND=/path/to/ternd node truth.mjs /path/to/truth-agent
// env: TRUTH_ROUNDS (4), TRUTH_TRACES (traces per round, 50),
//      TRUTH_SETTLE_MS (10000), TRUTH_GAP_MS (1500)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const TERND = process.env.TERND;
const AGENT = process.argv[2];
if (!TERND || !AGENT) {
  console.error('usage: TERND=/path/to/ternd node truth.mjs /path/to/truth-agent');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.TRUTH_ROUNDS || 4);
const TRACES = Number(process.env.TRUTH_TRACES || 50);
const SETTLE_MS = Number(process.env.TRUTH_SETTLE_MS || 10000);
const GAP_MS = Number(process.env.TRUTH_GAP_MS || 1500);
const KILL_ROUND = Math.min(1, ROUNDS - 1);
const PCT_TOL = 0.01;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);

// ---- ternd ----

// n distinct free ports: all are held until all are known. ternd binds
// them itself, and binds the same ones again after a kill -9, where the
// libtern agents (their endpoint fixed at tern_init) find it.
async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const got = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return got;
}

const [grpcPort, httpPort, queryPort] = await freePorts(3);
const ports = { grpc: grpcPort, http: httpPort, query: queryPort };
const dataDir = mkdtempSync(join(tmpdir(), 'tern-truth-'));
const help = spawnSync(TERND, ['--help'], { encoding: 'utf8' });
const settleFlag = `${help.stdout}${help.stderr}`.includes('--analytics-settle-ms');

function startTernd() {
  const args = [
    '--otlp-grpc', `127.0.0.1:${ports.grpc}`, '--otlp-http', `127.0.0.1:${ports.http}`,
    '--query', `127.0.0.1:${ports.query}`, '--data', dataDir, '--sink', 'store',
    '--analytics-checkpoint-ms', '1000', '--log-level', 'warn',
  ];
  // Without the option (a ternd before issue 10) it would refuse to start;
  // the environment variable is set in both cases.
  if (settleFlag) args.push('--analytics-settle-ms', String(SETTLE_MS));
  const env = { ...process.env, TERND_ANALYTICS_SETTLE_MS: String(SETTLE_MS) };
  return new Promise((resolve, reject) => {
    const proc = spawn(TERND, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let seen = 0;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('ternd did not print its listening lines within 30 s'));
    }, 30000);
    const early = (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`ternd exited early: code ${code} signal ${sig}`));
    };
    proc.on('exit', early);
    createInterface({ input: proc.stdout }).on('line', (line) => {
      if (!/^listening /.test(line) || ++seen !== 3) return;
      clearTimeout(timer);
      proc.removeListener('exit', early);
      resolve(proc);
    });
  });
}

function killTernd(proc, sig) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      resolve({ code: proc.exitCode, sig: proc.signalCode });
      return;
    }
    proc.on('exit', (code, s) => resolve({ code, sig: s }));
    proc.kill(sig);
  });
}

// ---- agents: one process per service, one reply line per command ----

class Agent {
  constructor(service, cmd, args) {
    this.service = service;
    this.nextKey = 0;
    this.waiting = [];
    this.ended = [];   // spans ended, not yet exported
    this.exported = 0; // libtern's exported counter at the last flush
    this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc.on('exit', (code, sig) => {
      this.dead = `agent ${service} exited: code ${code} signal ${sig}`;
      for (const w of this.waiting.splice(0)) w.reject(new Error(this.dead));
    });
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const w = this.waiting.shift();
      if (!w) return;
      if (line.startsWith('?')) w.reject(new Error(`agent ${service}: ${line}`));
      else w.resolve(line);
    });
  }

  send(lines) {
    if (this.dead) return Promise.reject(new Error(this.dead));
    const replies = lines.map(() => new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
    }));
    this.proc.stdin.write(lines.map((l) => l + '\n').join(''));
    return Promise.all(replies);
  }
}

const grpcUrl = `http://127.0.0.1:${ports.grpc}`;
const httpUrl = `http://127.0.0.1:${ports.http}/v1/traces`;
const sdk = (svc, proto, url) => new Agent(svc, process.execPath,
  [join(here, 'sdk_agent.mjs'), svc, proto, url]);
const agents = {
  frontend: sdk('frontend', 'grpc', grpcUrl),
  search: sdk('search', 'http-proto', httpUrl),
  worker: sdk('worker', 'http-json', httpUrl),
  api: new Agent('api', AGENT, ['api', grpcUrl]),
  legacy: new Agent('legacy', AGENT, ['legacy', grpcUrl]),
};

// ---- the plan: durations and errors from a seeded generator ----

let seed = 0x7e4d2025;
function rand() { // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
// A lognormal duration around median_ms, in whole nanoseconds, 1 ms..4 s.
function duration(medianMs, sigma) {
  const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const ms = Math.min(4000, Math.max(1, medianMs * Math.exp(sigma * z)));
  return Math.round(ms * 1e6 + rand() * 1000);
}
const KIND = { unspecified: 0, internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k]));

// Every span sent, by "service key"; the truth is computed from this.
const sent = new Map();
const stats = { exports: 0, spansSent: 0, duplicates: 0, retriedExports: 0 };

// Begins spans: specs [{ svc, kind, name, parent (a span or null), med, sigma, errP }].
// Returns the span records, with their ids as the agent made them.
async function begin(specs) {
  const bySvc = new Map();
  for (const s of specs) {
    const a = agents[s.svc];
    s.key = a.nextKey++;
    s.dur = duration(s.med, s.sigma);
    s.err = rand() < s.errP;
    if (!bySvc.has(s.svc)) bySvc.set(s.svc, []);
    bySvc.get(s.svc).push(s);
  }
  await Promise.all([...bySvc].map(async ([svc, list]) => {
    const replies = await agents[svc].send(list.map((s) =>
      `B ${s.key} ${s.kind} ${s.name} ${s.parent ? s.parent.tp : '-'}`));
    replies.forEach((r, i) => {
      const [c, key, tp] = r.split(' ');
      const s = list[i];
      if (c !== 'C' || Number(key) !== s.key) throw new Error(`agent ${svc}: ${r}`);
      s.tp = tp;
      [, s.traceId, s.spanId] = tp.split('-');
      sent.set(`${svc} ${s.key}`, s);
    });
  }));
  return specs;
}

// Ends spans (their durations and errors are already drawn).
async function end(spans) {
  const bySvc = new Map();
  for (const s of spans) {
    if (!bySvc.has(s.svc)) bySvc.set(s.svc, []);
    bySvc.get(s.svc).push(s);
    agents[s.svc].ended.push(s);
  }
  await Promise.all([...bySvc].map(([svc, list]) =>
    agents[svc].send(list.map((s) => `E ${s.key} ${s.dur} ${s.err ? 1 : 0}`))));
}

// Exports what a service ended since its last flush: F (times 2: a
// duplicate export), or R (the SDK resends its last batch). Every span
// exported notes when its export began and when ternd had taken it.
async function flush(svc, cmd = 'F', times = 1) {
  const a = agents[svc];
  const libtern = svc === 'api' || svc === 'legacy';
  const batch = cmd === 'R' ? [] : a.ended.splice(0);
  const began = Date.now();
  const [r] = await a.send([libtern ? 'F' : cmd === 'R' ? 'R' : `F ${times}`]);
  const done = Date.now();
  if (done - began > 500) log(`${svc}: export of ${batch.length} spans took ${done - began} ms`);
  for (const s of batch) {
    s.sentAt = began;
    s.takenAt = done;
  }
  const f = r.split(' ').map(Number);
  let n;
  let copies = 1;
  if (libtern) {
    // F RC EXPORTED DROPPED: counters since the agent started.
    n = f[2] - a.exported;
    a.exported = f[2];
    if (f[1] !== 0 || f[3] !== 0 || n !== batch.length) {
      throw new Error(`libtern ${svc}: flush of ${batch.length} spans answered ${r} (rc, exported, dropped)`);
    }
  } else {
    // F OK SPANS ATTEMPTS
    n = f[2];
    copies = cmd === 'R' ? 1 : times;
    if (f[1] !== 1 || (cmd !== 'R' && n !== batch.length)) {
      throw new Error(`sdk ${svc}: export of ${batch.length} spans answered ${r} (ok, spans, attempts)`);
    }
    stats.retriedExports += f[3] - copies;
  }
  stats.exports += copies;
  stats.spansSent += n * copies;
  stats.duplicates += cmd === 'R' ? n : n * (copies - 1);
}

const spec = (svc, kind, name, parent, med, sigma, errP) =>
  ({ svc, kind: KIND[kind], name, parent, med, sigma, errP });

let ternd = await startTernd();
let restarts = 0;
// Whatever way this script ends (an agent that died, a ternd that did not
// come back), the ternd it started goes with it; the agents end when
// their stdin closes.
process.on('exit', () => {
  if (ternd.exitCode === null && ternd.signalCode === null) ternd.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});
log(`ternd on grpc ${ports.grpc} http ${ports.http} query ${ports.query}, data ${dataDir}; ` +
  `settle ${SETTLE_MS} ms by ${settleFlag ? '--analytics-settle-ms and ' : ''}` +
  `TERND_ANALYTICS_SETTLE_MS`);
const runStartMs = Date.now();

async function round(r) {
  // Begin, top-down.
  const roots = await begin(Array.from({ length: TRACES }, () =>
    spec('frontend', 'server', 'GET_/checkout', null, 120, 0.7, 0.05)));
  const fe = await begin(roots.flatMap((root, i) => {
    const out = [
      spec('frontend', 'internal', 'render', root, 5, 0.5, 0.05),
      spec('frontend', 'client', 'call_api', root, 70, 0.6, 0.02),
      spec('frontend', 'client', 'call_search', root, 30, 0.6, 0.0),
    ];
    if (i % 3 === 0) out.push(spec('frontend', 'client', 'call_search', root, 30, 0.6, 0.0));
    return out;
  }));
  const render = fe.filter((s) => s.name === 'render');
  const callApi = fe.filter((s) => s.name === 'call_api');
  const callSearch = fe.filter((s) => s.name === 'call_search');
  const [apiSrv, searchSrv] = await Promise.all([
    begin(callApi.map((p) => spec('api', 'server', 'POST_/order', p, 60, 0.8, 0.08))),
    begin(callSearch.map((p) => spec('search', 'server', 'search', p, 25, 0.9, 0.06))),
  ]);
  const [apiKids, rank] = await Promise.all([
    begin(apiSrv.flatMap((p) => [
      spec('api', 'internal', 'validate', p, 2, 0.5, 0.1),
      spec('api', 'producer', 'publish_order', p, 3, 0.5, 0.0),
      spec('api', 'client', 'call_legacy', p, 15, 0.6, 0.03),
    ])),
    begin(searchSrv.map((p) => spec('search', 'internal', 'rank', p, 10, 0.5, 0.04))),
  ]);
  const [legacy, worker] = await Promise.all([
    begin(apiKids.filter((s) => s.name === 'call_legacy')
      .map((p) => spec('legacy', 'unspecified', 'legacy_handle', p, 8, 1.0, 0.1))),
    begin(apiKids.filter((s) => s.name === 'publish_order')
      .map((p) => spec('worker', 'consumer', 'process_order', p, 300, 0.6, 0.07))),
  ]);

  // End and export, bottom-up: one level every GAP_MS.
  await end([...legacy, ...rank, ...worker]);
  await Promise.all([flush('legacy'), flush('search'), flush('worker', 'F', 2)]);
  await sleep(GAP_MS);
  await end([...searchSrv, ...apiKids]);
  await Promise.all([flush('search'), flush('api')]);
  await sleep(GAP_MS);
  await end([...apiSrv, ...render]);
  if (r !== KILL_ROUND) {
    await Promise.all([flush('api'), flush('frontend')]);
  } else {
    // Children of this round (the api's, the search's) wait in ternd for
    // parents that come after the crash. The SDK's exporter retries while
    // ternd is down. libtern exports once ternd is back: its gRPC channel,
    // had it failed to connect meanwhile, would wait out gRPC's reconnect
    // backoff (4-10 s measured), and the parents of its children would
    // come later than the settle time.
    await killTernd(ternd, 'SIGKILL');
    log(`round ${r}: ternd killed (SIGKILL) before the api's SERVER spans; restarting in 0.5 s`);
    const restarted = sleep(500).then(startTernd).then((p) => {
      ternd = p;
      restarts++;
      log(`round ${r}: ternd restarted on the same data directory and ports`);
    });
    await Promise.all([flush('frontend'), restarted.then(() => flush('api'))]);
    // A batch ternd acknowledged before the crash, sent again (an exporter
    // that never saw the answer): the same spans, again.
    await flush('worker', 'R');
  }
  await sleep(GAP_MS);
  await end([...callApi, ...callSearch]);
  await flush('frontend');
  await sleep(GAP_MS);
  await end(roots);
  await flush('frontend');
}

for (let r = 0; r < ROUNDS; r++) {
  await round(r);
  log(`round ${r} sent (${sent.size} spans so far)`);
}
const lastExportMs = Date.now();

// ---- truth ----

function exactQuantile(sorted, q) {
  return sorted[Math.floor(q * (sorted.length - 1))];
}

function computeTruth() {
  const services = new Map(); // svc -> { calls, errors, durs }
  const spm = new Map();      // "svc kind" -> { calls, errors }
  const edges = new Map();    // "parent child" -> n
  const edgeErrors = new Map(); // "parent child" -> n of those whose child failed
  for (const s of sent.values()) {
    const ps = s.parent ? s.parent.svc : null;
    const entry = s.kind === KIND.server || s.kind === KIND.consumer || ps === null || ps !== s.svc;
    if (entry) {
      if (!services.has(s.svc)) services.set(s.svc, { calls: 0, errors: 0, durs: [] });
      const v = services.get(s.svc);
      v.calls++;
      v.errors += s.err ? 1 : 0;
      v.durs.push(s.dur);
    }
    const k = `${s.svc} ${KIND_NAME[s.kind]}`;
    if (!spm.has(k)) spm.set(k, { calls: 0, errors: 0, durs: [] });
    spm.get(k).calls++;
    spm.get(k).errors += s.err ? 1 : 0;
    spm.get(k).durs.push(s.dur);
    if (ps !== null && ps !== s.svc) {
      edges.set(`${ps} ${s.svc}`, (edges.get(`${ps} ${s.svc}`) || 0) + 1);
      if (s.err) edgeErrors.set(`${ps} ${s.svc}`, (edgeErrors.get(`${ps} ${s.svc}`) || 0) + 1);
    }
  }
  for (const v of [...services.values(), ...spm.values()]) {
    v.durs.sort((a, b) => a - b);
    v.p50 = exactQuantile(v.durs, 0.5) / 1e6;
    v.p95 = exactQuantile(v.durs, 0.95) / 1e6;
    v.p99 = exactQuantile(v.durs, 0.99) / 1e6;
  }
  const traces = new Map(); // trace id -> spans
  for (const s of sent.values()) traces.set(s.traceId, (traces.get(s.traceId) || 0) + 1);
  return { services, spm, edges, edgeErrors, traces };
}

// ---- ternd's answers ----

const MIN = 60000;
const winStartMs = Math.floor(runStartMs / MIN) * MIN - 2 * MIN;
const winEndMs = Math.ceil((lastExportMs + 2 * MIN) / MIN) * MIN;
// The SPM points every answer must have: one at each step t, for
// t = endTs - lookback + k * step, k = 1 .. lookback / step (Prometheus'
// query_range, which Jaeger asks, also has k = 0). Some are idle.
const STEPS = (winEndMs - winStartMs) / MIN;
const stepTimes = new Set(Array.from({ length: STEPS }, (_, k) => winStartMs + (k + 1) * MIN));

async function getJson(path) {
  const res = await fetch(`http://127.0.0.1:${ports.query}${path}`);
  const body = await res.text();
  if (res.status !== 200) throw new Error(`GET ${path}: HTTP ${res.status}: ${body.slice(0, 300)}`);
  return JSON.parse(body);
}

async function askTernd(truth) {
  const summary = await getJson(`/api/tern/summary?start=${winStartMs * 1000}&end=${winEndMs * 1000}`);
  const services = new Map();
  for (const row of summary.data.services || []) services.set(row.service, row);
  const deps = await getJson(`/api/dependencies?endTs=${winEndMs}&lookback=${winEndMs - winStartMs}`);
  const edges = new Map();
  const edgeErrors = new Map();
  for (const d of deps.data || []) {
    edges.set(`${d.parent} ${d.child}`, (edges.get(`${d.parent} ${d.child}`) || 0) + d.callCount);
    edgeErrors.set(`${d.parent} ${d.child}`, (edgeErrors.get(`${d.parent} ${d.child}`) || 0) + d.errorCount);
  }
  // SPM: one query per kind for every service; step = ratePer = 1 minute,
  // so the points' windows tile the whole window and calls = rate * 60.
  const svcs = [...new Set([...truth.services.keys(), ...[...truth.spm.keys()].map((k) => k.split(' ')[0])])];
  const svcParams = svcs.map((s) => `service=${encodeURIComponent(s)}`).join('&');
  const serviceOf = (m) => m.labels.find((l) => l.name === 'service_name').value;
  const q = `${svcParams}&endTs=${winEndMs}&lookback=${winEndMs - winStartMs}&step=${MIN}&ratePer=${MIN}`;
  const spm = new Map();
  const blank = () => ({ calls: 0, errors: 0, callsRaw: 0, errorsRaw: 0, points: 0, idleNonZero: 0 });
  for (const kind of Object.keys(KIND)) {
    const calls = await getJson(`/api/metrics/calls?${q}&spanKind=${kind}`);
    const errs = await getJson(`/api/metrics/errors?${q}&spanKind=${kind}`);
    const perPoint = new Map(); // "svc ts" -> calls
    for (const m of calls.metrics || []) {
      const svc = serviceOf(m);
      const v = spm.get(`${svc} ${kind}`) || blank();
      for (const p of m.metricPoints) {
        const n = p.gaugeValue.doubleValue * (MIN / 1000);
        perPoint.set(`${svc} ${p.timestamp}`, n);
        v.callsRaw += n;
        if (stepTimes.has(Date.parse(p.timestamp))) v.points++;
      }
      v.calls = Math.round(v.callsRaw);
      spm.set(`${svc} ${kind}`, v);
    }
    for (const m of errs.metrics || []) {
      const svc = serviceOf(m);
      const v = spm.get(`${svc} ${kind}`) || blank();
      v.errorSeries = true;
      for (const p of m.metricPoints) {
        const n = perPoint.get(`${svc} ${p.timestamp}`) || 0;
        const val = p.gaugeValue.doubleValue;
        v.errorsRaw += val * n;
        if (n === 0 && typeof val === 'number' && val !== 0) v.idleNonZero++;
      }
      v.errors = Math.round(v.errorsRaw);
      spm.set(`${svc} ${kind}`, v);
    }
    // Latencies: one point (step = ratePer = lookback) over the whole window.
    const whole = `${svcParams}&endTs=${winEndMs}&lookback=${winEndMs - winStartMs}&step=${winEndMs - winStartMs}` +
      `&ratePer=${winEndMs - winStartMs}&spanKind=${kind}`;
    for (const [p, qv] of [['p50', 0.5], ['p95', 0.95], ['p99', 0.99]]) {
      const lat = await getJson(`/api/metrics/latencies?${whole}&quantile=${qv}`);
      for (const m of lat.metrics || []) {
        const svc = serviceOf(m);
        const v = spm.get(`${svc} ${kind}`) || blank();
        const pts = m.metricPoints.filter((pt) => pt.gaugeValue.doubleValue > 0);
        if (pts.length === 1) v[p] = pts[0].gaugeValue.doubleValue;
        spm.set(`${svc} ${kind}`, v);
      }
    }
  }
  // Each trace read back: its spans, a duplicate shown once.
  const traces = new Map();
  for (const id of truth.traces.keys()) {
    const res = await fetch(`http://127.0.0.1:${ports.query}/api/traces/${id}`);
    const body = await res.json().catch(() => null);
    traces.set(id, res.status === 200 && body && body.data && body.data[0] ? body.data[0].spans.length : -res.status);
  }
  return { services, edges, edgeErrors, spm, traces };
}

// ---- compare and print ----

function compare(truth, got, label, print = true) {
  const rows = [];
  const diffs = [];
  let maxPctErr = 0;
  const add = (what, t, g, ok) => {
    rows.push([what, t, g, ok ? 'ok' : 'DIFF']);
    if (!ok) diffs.push(`${what}: truth ${t}, ternd ${g}`);
  };
  const svcNames = [...new Set([...truth.services.keys(), ...got.services.keys()])].sort();
  for (const svc of svcNames) {
    const t = truth.services.get(svc) || { calls: 0, errors: 0 };
    const g = got.services.get(svc);
    const gc = g ? g.calls : 0;
    const ge = g ? g.errors : 0;
    add(`summary ${svc} calls`, t.calls, g ? gc : '(none)', gc === t.calls);
    add(`summary ${svc} errors`, t.errors, g ? ge : '(none)', ge === t.errors);
    for (const p of ['p50', 'p95', 'p99']) {
      if (t.calls === 0) continue;
      const gv = g ? g[`${p}_ms`] : undefined;
      const err = typeof gv === 'number' ? Math.abs(gv - t[p]) / t[p] : Infinity;
      if (Number.isFinite(err)) maxPctErr = Math.max(maxPctErr, err);
      add(`summary ${svc} ${p}_ms`, t[p].toFixed(3),
        typeof gv === 'number' ? `${gv.toFixed(3)} (${(100 * err).toFixed(2)} %)` : '(none)',
        err <= PCT_TOL + 1e-9);
    }
  }
  const spmKeys = [...new Set([...truth.spm.keys(), ...got.spm.keys()])].sort();
  for (const k of spmKeys) {
    const t = truth.spm.get(k) || { calls: 0, errors: 0 };
    const g = got.spm.get(k) || { calls: 0, errors: 0, callsRaw: 0, errorsRaw: 0 };
    // A sum that is not a whole number is wrong too (rates that do not add up).
    const whole = (x) => Math.abs(x - Math.round(x)) < 1e-6;
    add(`metrics ${k} calls`, t.calls, g.calls, g.calls === t.calls && whole(g.callsRaw));
    add(`metrics ${k} errors`, t.errors, g.errors, g.errors === t.errors && whole(g.errorsRaw));
    if (t.calls === 0) continue;
    for (const p of ['p50', 'p95', 'p99']) {
      const gv = g[p];
      const err = typeof gv === 'number' ? Math.abs(gv - t[p]) / t[p] : Infinity;
      if (Number.isFinite(err)) maxPctErr = Math.max(maxPctErr, err);
      add(`metrics ${k} latency ${p}_ms`, t[p].toFixed(3),
        typeof gv === 'number' ? `${gv.toFixed(3)} (${(100 * err).toFixed(2)} %)` : '(none)',
        err <= PCT_TOL + 1e-9);
    }
    // Jaeger's answers: a call-rate point at every step (0 where idle), and
    // an error-rate series even for a service without errors.
    add(`metrics ${k} call-rate steps with a point`, STEPS, g.points, g.points === STEPS);
    add(`metrics ${k} error-rate series`, 'yes', g.errorSeries ? 'yes' : 'no', g.errorSeries === true);
    add(`metrics ${k} error rate != 0 at idle steps`, 0, g.idleNonZero, g.idleNonZero === 0);
  }
  // The traces: one row for all, and the first few that differ.
  const wrongTraces = [...truth.traces].filter(([id, n]) => got.traces.get(id) !== n);
  add('traces read back with their span count', truth.traces.size,
    truth.traces.size - wrongTraces.length, wrongTraces.length === 0);
  for (const [id, n] of wrongTraces.slice(0, 3)) add(`  trace ${id} spans`, n, got.traces.get(id), false);
  const edgeKeys = [...new Set([...truth.edges.keys(), ...got.edges.keys()])].sort();
  for (const k of edgeKeys) {
    const t = truth.edges.get(k) || 0;
    const g = got.edges.get(k) || 0;
    add(`dependencies ${k.replace(' ', ' -> ')}`, t, g, g === t);
    const te = truth.edgeErrors.get(k) || 0;
    const ge = got.edgeErrors.get(k);
    add(`dependencies ${k.replace(' ', ' -> ')} errors`, te, ge ?? '(none)', (ge ?? 0) === te && (ge !== undefined || g === 0));
  }
  if (!print) return { diffs, maxPctErr, rows: rows.length };
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => String(r[i]).length), 6));
  console.log(`\n== ${label}: truth vs ternd ==`);
  console.log(`${'number'.padEnd(w[0])}  ${'truth'.padStart(w[1])}  ${'ternd'.padStart(w[2])}`);
  for (const r of rows) {
    console.log(`${String(r[0]).padEnd(w[0])}  ${String(r[1]).padStart(w[1])}  ${String(r[2]).padStart(w[2])}  ${r[3]}`);
  }
  return { diffs, maxPctErr, rows: rows.length };
}

// Asks until ternd agrees or the deadline passes; returns the last comparison.
async function settleAndCompare(truth, label, fromMs) {
  const deadline = fromMs + SETTLE_MS + 10000;
  await sleep(Math.max(0, fromMs + SETTLE_MS + 500 - Date.now()));
  for (;;) {
    const got = await askTernd(truth);
    const c = compare(truth, got, label, false);
    if (c.diffs.length === 0 || Date.now() > deadline) {
      return compare(truth, got, `${label} (${((Date.now() - fromMs) / 1000).toFixed(1)} s after the last export)`);
    }
    await sleep(1000);
  }
}

let failed = 0;
const truth = computeTruth();
try {
  const first = await settleAndCompare(truth, 'after the settle time', lastExportMs);
  await killTernd(ternd, 'SIGKILL');
  ternd = await startTernd();
  restarts++;
  log('ternd killed (SIGKILL) after the run and restarted');
  const second = await settleAndCompare(truth, 'after a second kill -9 and restart', Date.now());
  for (const [label, c] of [['after the settle time', first], ['after the restart', second]]) {
    for (const d of c.diffs) console.log(`not ok - ${label}: ${d}`);
    if (c.diffs.length === 0) console.log(`ok - ${label}: all ${c.rows} numbers equal the truth`);
    failed += c.diffs.length;
  }
  const entries = [...truth.services.values()].reduce((a, v) => a + v.calls, 0);
  let minGap = Infinity;
  let maxGap = 0;
  for (const s of sent.values()) {
    if (!s.parent) continue;
    minGap = Math.min(minGap, s.parent.sentAt - s.takenAt);
    maxGap = Math.max(maxGap, s.parent.takenAt - s.sentAt);
  }
  const edges = [...truth.edges.values()].reduce((a, v) => a + v, 0);
  const edgeErrs = [...truth.edgeErrors.values()].reduce((a, v) => a + v, 0);
  console.log('\n== run figures ==');
  console.log(`services ${truth.services.size}, traces ${ROUNDS * TRACES}, unique spans ${sent.size}, ` +
    `entry spans ${entries}, edges ${truth.edges.size} (${edges} parent->child calls, ${edgeErrs} of them failed)`);
  console.log(`exports ${stats.exports}, spans sent ${stats.spansSent} (duplicates ${stats.duplicates}), ` +
    `exports retried by the SDK agents ${stats.retriedExports}, ternd restarts ${restarts} (kill -9)`);
  console.log(`max percentile error: after settle ${(100 * first.maxPctErr).toFixed(3)} %, ` +
    `after restart ${(100 * second.maxPctErr).toFixed(3)} %`);
  console.log(`settle ${SETTLE_MS} ms; a parent's export began ${minGap} ms or more after its ` +
    `child was taken, and was taken at most ${maxGap} ms after the child's export began ` +
    `(one level every ${GAP_MS} ms); run ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // The exporters' reconnection after the kill (gRPC's backoff) stretches
  // the gaps of that round; a parent taken after the settle time would
  // test what ternd does with a parent that comes too late, not this.
  if (maxGap >= SETTLE_MS) {
    console.log(`note: a parent came ${maxGap} ms after its child, more than the settle time: ` +
      'differences above may come from that (a slow machine?)');
  }
  if (minGap <= 0) {
    console.log('not ok - a parent was exported before its child was taken');
    failed++;
  }
} finally {
  await Promise.all(Object.values(agents).map(async (a) => {
    if (a.dead) return;
    await a.send(['Q']).catch(() => {});
  }));
  const { code, sig } = await killTernd(ternd, 'SIGTERM');
  if (code !== 0) {
    console.log(`not ok - ternd exit on SIGTERM: code ${code} signal ${sig}`);
    failed++;
  }
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(failed ? `FAIL: ${failed} numbers differ from the truth` : 'PASS');
process.exit(failed ? 1 : 0);
