// tern's web page: a hash-routed single page over ternd's public query API.
// No build step and no library: DOM helpers, hand-drawn SVG charts, and one
// function per view. Numbers are the API's; where the CLI derives something
// (report tiers, check verdicts, compare verdicts, the critical path) the
// same rule is written here and cites the C file it follows.
'use strict';

// ---- DOM and formatting --------------------------------------------------

const SVGNS = 'http://www.w3.org/2000/svg';

// el('div', {class: 'x', onclick: f}, child, 'text', ...): children may be
// nodes, strings, numbers, arrays or null.
function el(tag, attrs, ...kids) {
  return build(document.createElement(tag), attrs, kids);
}
function svg(tag, attrs, ...kids) {
  return build(document.createElementNS(SVGNS, tag), attrs, kids);
}
function build(n, attrs, kids) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    n.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return n;
}

// As cli_fmt_ms (collector/cli/format.c).
function fmtMs(ms) {
  if (ms >= 1000) return (ms / 1000).toFixed(2) + 's';
  if (ms >= 1) return ms.toFixed(1) + 'ms';
  return (ms * 1000).toFixed(0) + 'µs';
}
function fmtPct(f) { return (100 * f).toFixed(2) + '%'; }
function fmtRate(r) { return r.toFixed(2); }
function fmtInt(n) { return Math.round(n).toLocaleString('en-US'); }
function fmtTime(ms, seconds) {
  const d = new Date(ms);
  const p = (x) => String(x).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}` + (seconds ? `:${p(d.getSeconds())}` : '');
}
function fmtDateTime(ms) {
  const d = new Date(ms);
  return d.toLocaleString('en-GB', { hour12: false });
}
function fmtChange(pct) {
  if (pct === null || !isFinite(pct)) return '–';
  return (pct > 0 ? '+' : '') + pct.toFixed(1) + '%';
}

// A number cell: shows text, keeps the API's value in data-v for tests.
function num(v, text, cls) {
  return el('td', { class: 'num' + (cls ? ' ' + cls : ''), 'data-v': v }, text);
}

// Durations as users type them (util_parse_duration, util/text.c): decimal
// numbers each with a unit ns, us/µs, ms, s, m, h, d, w; a bare 0. Returns
// nanoseconds, or null.
const UNITS = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9, d: 86400e9, w: 604800e9 };
function parseDuration(s) {
  s = s.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d|w)/y;
  let total = 0, m, at = 0;
  if (!s) return null;
  while (at < s.length) {
    re.lastIndex = at;
    if (!(m = re.exec(s))) return null;
    total += parseFloat(m[1]) * UNITS[m[2]];
    at = re.lastIndex;
  }
  return total;
}
function durParam(ms) { return Math.round(ms * 1000) + 'us'; }

// ---- the API -------------------------------------------------------------

async function api(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === null || v === undefined || v === '') continue;
    for (const x of Array.isArray(v) ? v : [v]) q.append(k, x);
  }
  const url = path + (q.toString() ? '?' + q : '');
  const r = await fetch(url);
  let body;
  try { body = await r.json(); } catch { body = null; }
  if (!r.ok) {
    const msg = body && body.errors && body.errors[0] ? body.errors[0].msg : `HTTP ${r.status}`;
    throw new Error(`${path}: ${msg}`);
  }
  return body;
}

// ---- the window ----------------------------------------------------------

const win = { lookback: '15m', start: null, end: null }; // start/end in µs when custom

function windowParams() {
  return win.start ? { start: win.start, end: win.end } : { lookback: win.lookback };
}
// [start, end) in ms, now for a lookback.
function windowMs() {
  if (win.start) return [win.start / 1000, win.end / 1000];
  const end = Date.now();
  return [end - parseDuration(win.lookback) / 1e6, end];
}
// The SPM parameters for about 30 points over the window, whole minutes.
function spmParams() {
  const [s, e] = windowMs();
  const lookback = Math.max(60000, Math.round((e - s) / 60000) * 60000);
  const step = Math.max(60000, Math.ceil(lookback / 30 / 60000) * 60000);
  return { endTs: Math.round(e), lookback, step, ratePer: step };
}
function windowLabel() {
  if (!win.start) return 'last ' + win.lookback;
  return fmtDateTime(win.start / 1000) + ' – ' + fmtDateTime(win.end / 1000);
}

// A summary over the window (the CLI's cli_summary, collector/cli/query.c).
function summary(extra) {
  return api('/api/tern/summary', { ...windowParams(), ...extra }).then((b) => b.data);
}

// SPM series: {service or operation: [{t, v}]} of one family.
async function spm(kind, params) {
  const fam = await api('/api/metrics/' + kind, params);
  const out = {};
  for (const m of fam.metrics || []) {
    const label = (name) => (m.labels.find((l) => l.name === name) || {}).value;
    const key = label('operation') ? label('operation') : label('service_name');
    out[key] = m.metricPoints.map((p) => ({
      t: Date.parse(p.timestamp), v: p.gaugeValue.doubleValue,
    }));
  }
  return out;
}

// ---- charts (SVG) --------------------------------------------------------

const COLORS = ['#2f6fdd', '#e07a1f', '#c2364a', '#2e9d62', '#7a4fd0', '#6b7280'];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function sparkline(points, w = 110, h = 26) {
  const s = svg('svg', { width: w, height: h, class: 'spark', viewBox: `0 0 ${w} ${h}` });
  if (!points || points.length < 1) return s;
  const t0 = points[0].t, t1 = points[points.length - 1].t || t0 + 1;
  const max = Math.max(...points.map((p) => p.v)) || 1;
  const x = (t) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * (w - 4) + 2 : w / 2);
  const y = (v) => h - 3 - (v / max) * (h - 6);
  // One point is a level, not a dot: draw it across.
  const pts = points.length > 1 ? points.map((p) => `${x(p.t)},${y(p.v)}`) : [`2,${y(points[0].v)}`, `${w - 2},${y(points[0].v)}`];
  s.append(svg('polyline', { points: pts.join(' ') }));
  const last = points[points.length - 1];
  s.append(svg('circle', { cx: points.length > 1 ? x(last.t) : w - 2, cy: y(last.v), r: 2 }));
  return s;
}

// Lines over time. series: [{name, points:[{t,v}]}]; t0, t1 in ms;
// onClick(t, v) gets the time and value under the pointer.
function lineChart({ series, t0, t1, fmt, onClick, height = 220, width = 640, title }) {
  const W = width, H = height, L = 64, R = 12, T = 12, B = 26;
  const all = series.flatMap((s) => s.points.map((p) => p.v));
  const max = niceMax(Math.max(0, ...all));
  const x = (t) => L + ((t - t0) / (t1 - t0 || 1)) * (W - L - R);
  const y = (v) => T + (1 - v / max) * (H - T - B);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart' + (onClick ? ' clickable' : ''), role: 'img', 'aria-label': title || '' });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    g.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    g.append(svg('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, fmt(v)));
  }
  for (let k = 0; k <= 4; k++) {
    const t = t0 + ((t1 - t0) * k) / 4;
    g.append(svg('text', { x: x(t), y: H - 8, class: 'axis', 'text-anchor': k === 0 ? 'start' : k === 4 ? 'end' : 'middle' }, fmtTime(t, t1 - t0 < 600000)));
  }
  series.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    if (s.points.length > 1 && !s.dots)
      g.append(svg('polyline', { points: s.points.map((p) => `${x(p.t)},${y(p.v)}`).join(' '), stroke: color, class: 'line' }));
    for (const p of s.points) {
      const dot = svg('circle', { cx: x(p.t), cy: y(p.v), r: s.dots ? 4 : 2.5, fill: color, class: s.dots ? 'dot' : null },
        svg('title', {}, p.title || `${s.name} ${fmtTime(p.t)}: ${fmt(p.v)}`));
      g.append(p.href ? svg('a', { href: p.href }, dot) : dot);
    }
  });
  if (onClick) {
    g.addEventListener('click', (ev) => {
      const r = g.getBoundingClientRect();
      const px = ((ev.clientX - r.left) / r.width) * W, py = ((ev.clientY - r.top) / r.height) * H;
      if (px < L || px > W - R || py < T || py > H - B) return;
      onClick(t0 + ((px - L) / (W - L - R)) * (t1 - t0), max * (1 - (py - T) / (H - T - B)));
    });
  }
  const legend = el('div', { class: 'legend' }, series.map((s, i) =>
    el('span', {}, el('i', { style: `background:${s.color || COLORS[i % COLORS.length]}` }), s.name)));
  return el('figure', {}, title ? el('figcaption', {}, title) : null, g, legend);
}

// Bars: [{label, v, title}], onClick(bar).
function barChart({ bars, fmt, onClick, title, height = 180 }) {
  const W = 640, H = height, L = 48, R = 8, T = 10, B = 40;
  const max = Math.ceil(niceMax(Math.max(0, ...bars.map((b) => b.v))) / 4) * 4;
  const bw = (W - L - R) / Math.max(1, bars.length);
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': title || '' });
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4, yy = T + (1 - v / max) * (H - T - B);
    g.append(svg('line', { x1: L, x2: W - R, y1: yy, y2: yy, class: 'grid' }));
    g.append(svg('text', { x: L - 6, y: yy + 4, class: 'axis', 'text-anchor': 'end' }, fmt(v)));
  }
  bars.forEach((b, i) => {
    const hh = (b.v / max) * (H - T - B);
    const r = svg('rect', { x: L + i * bw + 1, y: H - B - hh, width: Math.max(1, bw - 2), height: hh, class: 'bar' + (onClick ? ' clickable' : ''), 'data-label': b.label },
      svg('title', {}, b.title || `${b.label}: ${b.v}`));
    if (onClick) r.addEventListener('click', () => onClick(b));
    g.append(r);
    if (bars.length <= 12 || i % Math.ceil(bars.length / 8) === 0)
      g.append(svg('text', { x: L + i * bw + bw / 2, y: H - B + 14, class: 'axis', 'text-anchor': 'middle' }, b.label));
  });
  return el('figure', {}, title ? el('figcaption', {}, title) : null, g);
}

// ---- tables --------------------------------------------------------------

// A sortable table. cols: [{key, label, num, cell(row) -> td}]; sort state
// kept in state {key, dir}.
function table(cols, rows, state, rerender) {
  const sorted = rows.slice();
  if (state && state.key) {
    const c = cols.find((c) => c.key === state.key);
    const val = c && c.sortValue ? c.sortValue : (r) => r[state.key];
    sorted.sort((a, b) => {
      const x = val(a), y = val(b);
      const r = typeof x === 'string' ? x.localeCompare(y) : (x ?? -Infinity) - (y ?? -Infinity);
      return state.dir * r;
    });
  }
  const head = el('tr', {}, cols.map((c) => el('th', {
    class: (c.num ? 'num' : '') + (state && state.key === c.key ? ' sorted' : ''),
    'data-key': c.key,
    onclick: state && c.key ? () => {
      state.dir = state.key === c.key ? -state.dir : c.num ? -1 : 1;
      state.key = c.key;
      rerender();
    } : null,
  }, c.label, state && state.key === c.key ? (state.dir > 0 ? ' ▲' : ' ▼') : '')));
  return el('table', { class: 'data' }, el('thead', {}, head),
    el('tbody', {}, sorted.map((r) => el('tr', {}, cols.map((c) => c.cell(r))))));
}

function statCols() {
  return [
    { key: 'calls', label: 'Calls', num: true, cell: (r) => num(r.calls, fmtInt(r.calls)) },
    { key: 'rate_per_s', label: 'Calls/s', num: true, cell: (r) => num(r.rate_per_s, fmtRate(r.rate_per_s)) },
    { key: 'errors', label: 'Errors', num: true, cell: (r) => num(r.errors, fmtInt(r.errors)) },
    { key: 'error_rate', label: 'Error rate', num: true, cell: (r) => num(r.error_rate, fmtPct(r.error_rate), r.error_rate > 0.01 ? 'bad' : '') },
    { key: 'p50_ms', label: 'p50', num: true, cell: (r) => num(r.p50_ms, fmtMs(r.p50_ms)) },
    { key: 'p95_ms', label: 'p95', num: true, cell: (r) => num(r.p95_ms, fmtMs(r.p95_ms)) },
    { key: 'p99_ms', label: 'p99', num: true, cell: (r) => num(r.p99_ms, fmtMs(r.p99_ms)) },
  ];
}

function link(href, text) { return el('a', { href }, text); }
function svcHref(s) { return '#/service/' + encodeURIComponent(s); }
function section(title, ...kids) { return el('section', { class: 'card' }, el('h2', {}, title), kids); }
function errorBox(e) { return el('p', { class: 'error' }, String(e.message || e)); }

// ---- views ---------------------------------------------------------------

const overviewSort = { key: 'p95_ms', dir: -1 };

async function viewOverview() {
  const cur = await summary();
  const len = cur.end - cur.start;
  const prev = await api('/api/tern/summary', { start: cur.start - len, end: cur.start }).then((b) => b.data);
  const services = cur.services.map((r) => r.service);
  const sp = spmParams();
  const p95 = services.length
    ? await spm('latencies', { service: services, quantile: 0.95, ...sp }).catch(() => ({}))
    : {};
  const slow = await api('/api/tern/slow', {}).then((b) => b.data).catch(() => []);
  const rows = cur.services.map((r) => {
    const p = prev.services.find((x) => x.service === r.service);
    const change = p && p.p95_ms > 0 ? ((r.p95_ms - p.p95_ms) / p.p95_ms) * 100 : null;
    return { ...r, change };
  });
  const cols = [
    { key: 'service', label: 'Service', cell: (r) => el('td', { class: 'svc' }, link(svcHref(r.service), r.service)) },
    ...statCols(),
    { key: null, label: 'p95 trend', cell: (r) => el('td', {}, el('a', { href: tracesHref({ service: r.service, minDuration: durParam(r.p95_ms) }), title: `traces of ${r.service} slower than its p95` }, sparkline(p95[r.service]))) },
    { key: 'change', label: 'p95 vs previous', num: true, cell: (r) => num(r.change ?? '', fmtChange(r.change), r.change > 10 ? 'bad' : r.change < -10 ? 'good' : '') },
  ];
  const holder = el('div', { id: 'services-table' });
  const draw = () => holder.replaceChildren(rows.length
    ? table(cols, rows, overviewSort, draw)
    : el('p', { class: 'muted' }, 'No spans in this window. Point an OpenTelemetry exporter at ternd (OTLP on :4317 or :4318).'));
  draw();
  const slowList = slow.length
    ? el('ul', { class: 'slow', id: 'slow-list' }, slow.map((s) => el('li', {},
      link(svcHref(s.service), s.service), ' ', el('span', { class: 'op' }, s.operation),
      el('div', { class: 'muted' }, `p95 ${fmtMs(s.p95_ms)} vs ${fmtMs(s.baseline_p95_ms)} (×${s.ratio.toFixed(2)}), ${fmtInt(s.calls)} calls`))))
    : el('p', { class: 'muted', id: 'slow-list' }, 'Nothing is slower than its last hour.');
  return el('div', { class: 'overview' },
    section(`Services · ${windowLabel()}`, el('p', { class: 'muted' },
      `Entry spans per service over ${Math.round(cur.window_s / 60)} min; change against the ${Math.round(cur.window_s / 60)} min before.`), holder),
    el('aside', {}, section('Slow now', el('p', { class: 'muted' }, 'p95 of the last 5 min at least 1.5× the hour before (/api/tern/slow).'), slowList)));
}

// Example traces of service from t (ms) ± half a step, around latency ms.
function tracesHref(p) {
  return '#/traces?' + new URLSearchParams(Object.entries(p).filter(([, v]) => v !== null && v !== undefined && v !== ''));
}

// The service page; q's op and kind narrow it to one operation.
async function viewService(name, q) {
  const op = q.get('op') || '', kind = q.get('kind') || 'server';
  const sp = spmParams();
  const sel = { service: name, spanKind: kind, ...(op ? { groupByOperation: true } : {}), ...sp };
  const [sum, lat50, lat95, lat99, calls, errs, deps] = await Promise.all([
    summary({ service: name }),
    spm('latencies', { ...sel, quantile: 0.5 }),
    spm('latencies', { ...sel, quantile: 0.95 }),
    spm('latencies', { ...sel, quantile: 0.99 }),
    spm('calls', sel),
    spm('errors', sel),
    api('/api/dependencies', { endTs: sp.endTs, lookback: sp.lookback }).then((b) => b.data),
  ]);
  const none = { calls: 0, errors: 0, error_rate: 0, p50_ms: 0, p95_ms: 0, p99_ms: 0, rate_per_s: 0 };
  const row = (op ? sum.operations.find((o) => o.operation === op && o.span_kind === kind) : sum.services[0]) || none;
  const key = op || name; // the SPM series' label
  const t1 = sp.endTs, t0 = t1 - sp.lookback;
  const openTraces = (t, v) => {
    location.hash = tracesHref({ service: name, operation: op, start: Math.round((t - sp.step) * 1000), end: Math.round((t + sp.step / 2) * 1000), minDuration: durParam(v * 0.8), maxDuration: durParam(v * 1.25) });
  };
  const latency = lineChart({
    title: `Latency (${kind} spans, per step) — click for example traces`, t0, t1, fmt: fmtMs, onClick: openTraces,
    series: [{ name: 'p50', points: lat50[key] || [] }, { name: 'p95', points: lat95[key] || [] }, { name: 'p99', points: lat99[key] || [] }],
  });
  const callsChart = lineChart({ title: 'Calls per second', t0, t1, fmt: (v) => v.toFixed(v < 10 ? 2 : 0), height: 160, series: [{ name: 'calls/s', points: calls[key] || [] }] });
  const errChart = lineChart({ title: 'Error rate', t0, t1, fmt: fmtPct, height: 160, series: [{ name: 'errors / calls', color: COLORS[2], points: errs[key] || [] }] });
  const opHref = (o, k) => svcHref(name) + (o ? '?' + new URLSearchParams({ op: o, kind: k }) : '');
  const opSel = el('select', { id: 'svc-op', onchange: (ev) => { const [k, o] = JSON.parse(ev.target.value); location.hash = opHref(o, k); } },
    el('option', { value: JSON.stringify(['server', '']) }, 'all (entry spans)'),
    sum.operations.map((o) => el('option', { value: JSON.stringify([o.span_kind, o.operation]), selected: o.operation === op && o.span_kind === kind }, `${o.operation} (${o.span_kind})`)));

  const opsState = { key: 'total_ms', dir: -1 };
  const opsHolder = el('div', { id: 'ops-table' });
  const opCols = [
    { key: 'operation', label: 'Operation', cell: (r) => el('td', {}, link(opHref(r.operation, r.span_kind), r.operation), ' ',
      el('a', { href: tracesHref({ service: name, operation: r.operation }), class: 'small-link' }, 'traces')) },
    { key: 'span_kind', label: 'Kind', cell: (r) => el('td', { class: 'muted' }, r.span_kind) },
    ...statCols(),
    { key: 'total_ms', label: 'Share of time', num: true, cell: (r) => el('td', { class: 'num share', 'data-v': r.time_share },
      el('span', { class: 'sharebar', style: `width:${(100 * r.time_share).toFixed(1)}%` }), fmtPct(r.time_share)) },
  ];
  const drawOps = () => opsHolder.replaceChildren(table(opCols, sum.operations, opsState, drawOps));
  drawOps();

  const callers = deps.filter((d) => d.child === name && d.parent !== name);
  const callees = deps.filter((d) => d.parent === name && d.child !== name);
  const depList = (list, key) => list.length
    ? el('ul', { class: 'plain' }, list.map((d) => el('li', {}, link(svcHref(d[key]), d[key]), el('span', { class: 'muted' }, ` ${fmtInt(d.callCount)} calls · ${fmtPct(edgeErrorRate(d))} errors`))))
    : el('p', { class: 'muted' }, 'none');

  const hist = el('div', { id: 'histogram' }, el('p', { class: 'muted' }, 'Loading the latency histogram…'));
  const versions = el('datalist', { id: 'cmp-versions' });
  histogram(name, op, kind, hist, versions).catch((e) => hist.replaceChildren(errorBox(e)));

  return el('div', {},
    el('h1', {}, op ? [link(svcHref(name), name), ' / ', op] : name, el('span', { class: 'muted small' }, ` · ${windowLabel()}`)),
    el('p', { class: 'inline' }, el('label', {}, 'Operation ', opSel),
      el('span', { class: 'muted' }, op ? ` ${kind} spans of this operation` : ' the service\'s entry spans; charts: its server spans')),
    el('div', { class: 'kpis', id: 'service-kpis' },
      kpi('Calls', row.calls, fmtInt(row.calls)), kpi('Calls/s', row.rate_per_s, fmtRate(row.rate_per_s)),
      kpi('Errors', row.errors, fmtInt(row.errors)), kpi('Error rate', row.error_rate, fmtPct(row.error_rate)),
      kpi('p50', row.p50_ms, fmtMs(row.p50_ms)), kpi('p95', row.p95_ms, fmtMs(row.p95_ms)), kpi('p99', row.p99_ms, fmtMs(row.p99_ms))),
    el('div', { class: 'grid2' }, section('Latency over time', latency), section('Latency histogram', hist)),
    el('div', { class: 'grid2' }, section('Calls', callsChart), section('Errors', errChart)),
    section('Operations by share of time', opsHolder),
    el('div', { class: 'grid2' }, section('Callers', depList(callers, 'parent')), section('Callees', depList(callees, 'child'))),
    section('Compare versions or windows', compareForm(name, versions)));
}

function kpi(label, v, text) {
  return el('div', { class: 'kpi', 'data-k': label }, el('div', { class: 'muted' }, label), el('div', { class: 'v', 'data-v': v }, text));
}

// The latency histogram of the service's spans of kind (of operation op
// when given), from the traces of
// the window (up to 1500, the API's limit): log-spaced buckets; a click
// opens the traces of that bucket. The service.version values seen go
// into versionList (the comparison's suggestions).
async function histogram(name, op, kind, holder, versionList) {
  const traces = (await api('/api/traces', { service: name, operation: op, limit: 1500, ...windowParams() })).data;
  const durs = [], versions = new Set();
  for (const tr of traces)
    for (const p of Object.values(tr.processes))
      if (p.serviceName === name)
        for (const t of p.tags || []) if (t.key === 'service.version') versions.add(String(t.value));
  // The versions seen offer themselves to the comparison's inputs.
  versionList.replaceChildren(...[...versions].sort().map((v) => el('option', { value: 'version=' + v })));
  for (const tr of traces)
    for (const s of tr.spans)
      if (tr.processes[s.processID].serviceName === name && (!op || s.operationName === op) && s.tags.some((t) => t.key === 'span.kind' && t.value === kind))
        durs.push(s.duration / 1000);
  if (!durs.length) return holder.replaceChildren(el('p', { class: 'muted' }, `No ${kind} spans in this window.`));
  const lo = Math.min(...durs), hi = Math.max(...durs);
  const n = 24, a = Math.log(Math.max(lo, 0.001)), b = Math.log(Math.max(hi, lo * 1.0001, 0.0011));
  const edges = Array.from({ length: n + 1 }, (_, i) => Math.exp(a + ((b - a) * i) / n));
  const counts = new Array(n).fill(0);
  for (const d of durs) counts[Math.min(n - 1, Math.max(0, Math.floor(((Math.log(Math.max(d, 0.001)) - a) / (b - a || 1)) * n)))]++;
  const [s, e] = windowMs();
  holder.replaceChildren(barChart({
    title: `${durs.length} ${kind} spans from ${traces.length} traces — click a bar for its traces`,
    fmt: (v) => String(Math.round(v)),
    bars: counts.map((c, i) => ({ label: fmtMs(edges[i]), v: c, lo: edges[i], hi: edges[i + 1], title: `${fmtMs(edges[i])}–${fmtMs(edges[i + 1])}: ${c} spans` })),
    onClick: (bar) => { location.hash = tracesHref({ service: name, operation: op, start: Math.round(s * 1000), end: Math.round(e * 1000), minDuration: durParam(bar.lo), maxDuration: durParam(bar.hi) }); },
  }));
}

// tern compare (collector/cli/compare.c): per operation of the current
// side, p50/p95/p99/error rate change in percent; a change above the
// threshold is a regression, below minus it an improvement.
const CMP_KEYS = ['p50_ms', 'p95_ms', 'p99_ms', 'error_rate'];
function pctChange(base, cur) {
  if (base === 0) return cur === 0 ? 0 : Infinity;
  return ((cur - base) / base) * 100;
}
function compareOps(rb, rc, threshold) {
  let regressions = 0;
  const ops = rc.map((x) => {
    const y = rb.find((z) => z.operation === x.operation && z.span_kind === x.span_kind);
    const e = { operation: x.operation, span_kind: x.span_kind, calls: x.calls };
    if (!y) return { ...e, verdict: 'new' };
    let worse = false, better = false;
    for (const k of CMP_KEYS) {
      const ch = pctChange(y[k], x[k]);
      e['baseline_' + k] = y[k];
      e['current_' + k] = x[k];
      e['change_pct_' + k] = isFinite(ch) ? ch : null;
      if (ch > threshold) worse = true;
      else if (ch < -threshold) better = true;
    }
    e.verdict = worse ? 'regression' : better ? 'improvement' : 'same';
    regressions += e.verdict === 'regression';
    return e;
  });
  return { ops, regressions };
}

// A side: "version=V" or "window=START,END" (unix seconds or ISO times).
function sideParams(spec) {
  if (spec.startsWith('version=') && spec.length > 8) return { ...windowParams(), version: spec.slice(8) };
  const m = /^window=([^,]+),(.+)$/.exec(spec);
  if (!m) throw new Error(`'${spec}' is not version=V or window=START,END`);
  const t = (x) => (/^\d+(\.\d+)?$/.test(x) ? parseFloat(x) * 1e6 : Date.parse(x.endsWith('Z') ? x : x + 'Z') * 1000);
  const a = t(m[1]), b = t(m[2]);
  if (!(b > a)) throw new Error(`'${spec}': the window's end must follow its start`);
  return { start: Math.round(a), end: Math.round(b) };
}

function compareForm(service, versionList) {
  const base = el('input', { id: 'cmp-base', placeholder: 'version=1.1', value: '', list: 'cmp-versions', size: 24 });
  const cur = el('input', { id: 'cmp-cur', placeholder: 'version=1.2', value: '', list: 'cmp-versions', size: 24 });
  const thr = el('input', { id: 'cmp-thr', value: '5', size: 4 });
  const out = el('div', { id: 'cmp-out' });
  const run = async () => {
    try {
      const [ob, oc] = await Promise.all([
        api('/api/tern/summary', { service, ...sideParams(base.value.trim()) }),
        api('/api/tern/summary', { service, ...sideParams(cur.value.trim()) }),
      ]);
      const rb = ob.data.operations, rc = oc.data.operations;
      if (!rb.length || !rc.length) {
        out.replaceChildren(el('p', { class: 'verdict fail' }, `FAIL: no spans of ${service} in the ${!rb.length ? 'baseline' : 'current'} side`));
        return;
      }
      const threshold = parseFloat(thr.value);
      const { ops, regressions } = compareOps(rb, rc, threshold);
      const cell = (e, k) => e['baseline_' + k] === undefined ? el('td', { class: 'num' }, '–')
        : el('td', { class: 'num', 'data-v': e['change_pct_' + k] ?? '' },
          k === 'error_rate' ? `${fmtPct(e.baseline_error_rate)} / ${fmtPct(e.current_error_rate)}`
            : `${fmtMs(e['baseline_' + k])} / ${fmtMs(e['current_' + k])} (${fmtChange(e['change_pct_' + k])})`);
      out.replaceChildren(
        el('p', { class: 'verdict ' + (regressions ? 'fail' : 'ok') }, `${regressions} regression(s) beyond ${threshold}%`),
        el('table', { class: 'data' }, el('thead', {}, el('tr', {}, ['Operation', 'Kind', 'Calls', 'p50 base / cur', 'p95 base / cur', 'p99 base / cur', 'Errors base / cur', 'Verdict'].map((h, i) => el('th', { class: i >= 2 && i <= 6 ? 'num' : '' }, h)))),
          el('tbody', {}, ops.map((e) => el('tr', { class: 'v-' + e.verdict }, el('td', {}, e.operation), el('td', { class: 'muted' }, e.span_kind),
            num(e.calls, fmtInt(e.calls)), CMP_KEYS.map((k) => cell(e, k)), el('td', { class: 'verdict-cell' }, e.verdict))))));
    } catch (e) { out.replaceChildren(errorBox(e)); }
  };
  return el('div', {}, versionList, el('form', { class: 'inline', onsubmit: (ev) => { ev.preventDefault(); run(); } },
    el('label', {}, 'Baseline ', base), el('label', {}, 'Current ', cur), el('label', {}, 'Threshold % ', thr),
    el('button', { type: 'submit', id: 'cmp-run' }, 'Compare')),
  el('p', { class: 'muted' }, 'Each side is version=V (service.version, over the window above) or window=START,END (unix seconds or 2026-11-21T06:00:00Z), as tern compare takes them.'), out);
}

// ---- traces --------------------------------------------------------------

async function viewTraces(q) {
  const services = (await api('/api/services')).data;
  const f = {
    service: q.get('service') || services[0] || '', operation: q.get('operation') || '',
    minDuration: q.get('minDuration') || '', maxDuration: q.get('maxDuration') || '',
    tags: q.get('tags') || '', errors: q.get('errors') === '1', limit: q.get('limit') || '20',
  };
  const ops = f.service ? (await api('/api/operations', { service: f.service })).data : [];
  const svcSel = el('select', { id: 'tr-service', name: 'service' }, services.map((s) => el('option', { value: s, selected: s === f.service }, s)));
  const opSel = el('select', { id: 'tr-operation', name: 'operation' }, el('option', { value: '' }, 'all operations'),
    [...new Set(ops.map((o) => o.name))].map((o) => el('option', { value: o, selected: o === f.operation }, o)));
  const inp = (id, name, v, ph) => el('input', { id, name, value: v, placeholder: ph, size: 9 });
  const form = el('form', { class: 'inline', id: 'trace-search', onsubmit: (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const p = {};
    for (const [k, v] of fd) if (v) p[k] = k === 'errors' ? '1' : v;
    if (q.get('start')) { p.start = q.get('start'); p.end = q.get('end'); }
    location.hash = tracesHref(p);
  } },
  el('label', {}, 'Service ', svcSel), el('label', {}, 'Operation ', opSel),
  el('label', {}, 'Min ', inp('tr-min', 'minDuration', f.minDuration, '100ms')),
  el('label', {}, 'Max ', inp('tr-max', 'maxDuration', f.maxDuration, '2s')),
  el('label', {}, 'Tags ', el('input', { id: 'tr-tags', name: 'tags', value: f.tags, placeholder: 'http.status_code:500 region:eu', size: 24 })),
  el('label', {}, el('input', { type: 'checkbox', id: 'tr-errors', name: 'errors', checked: f.errors }), ' errors only'),
  el('label', {}, 'Limit ', inp('tr-limit', 'limit', f.limit, '20')),
  el('button', { type: 'submit' }, 'Search'));
  svcSel.addEventListener('change', () => { opSel.value = ''; form.requestSubmit(); });

  const params = { service: f.service, operation: f.operation, minDuration: f.minDuration, maxDuration: f.maxDuration, limit: f.limit };
  Object.assign(params, q.get('start') ? { start: q.get('start'), end: q.get('end') } : windowParams());
  const tags = f.tags.split(/\s+/).filter(Boolean);
  if (f.errors) tags.push('error:true');
  params.tag = tags;
  let results;
  try {
    results = f.service ? (await api('/api/traces', params)).data : [];
  } catch (e) { return el('div', {}, section('Search traces', form), errorBox(e)); }
  const rows = results.map(traceRow);
  const st = { key: 'start', dir: -1 };
  const holder = el('div', { id: 'trace-results' });
  const cols = [
    { key: 'root', label: 'Trace', cell: (r) => el('td', {}, link('#/trace/' + r.id, r.root), el('div', { class: 'muted mono' }, r.id)) },
    { key: 'start', label: 'Started', num: true, cell: (r) => num(r.start, fmtDateTime(r.start / 1000)) },
    { key: 'spans', label: 'Spans', num: true, cell: (r) => num(r.spans, r.spans) },
    { key: 'services', label: 'Services', num: true, cell: (r) => num(r.services, r.services) },
    { key: 'errors', label: 'Errors', num: true, cell: (r) => num(r.errors, r.errors, r.errors ? 'bad' : '') },
    { key: 'duration', label: 'Duration', num: true, cell: (r) => num(r.duration, fmtMs(r.duration / 1000)) },
  ];
  const draw = () => holder.replaceChildren(rows.length ? table(cols, rows, st, draw) : el('p', { class: 'muted' }, 'No traces match.'));
  draw();
  // Duration against start time, one dot a trace (errors red); a click opens it.
  let scatter = null;
  if (rows.length) {
    const ts = rows.map((r) => r.start / 1000), pad = Math.max(1000, (Math.max(...ts) - Math.min(...ts)) * 0.05);
    const pt = (r) => ({ t: r.start / 1000, v: r.duration / 1000, href: '#/trace/' + r.id, title: `${r.root}: ${fmtMs(r.duration / 1000)}, ${r.spans} spans` });
    scatter = lineChart({
      t0: Math.min(...ts) - pad, t1: Math.max(...ts) + pad, fmt: fmtMs, height: 190, width: 1300,
      series: [{ name: 'traces', dots: true, points: rows.filter((r) => !r.errors).map(pt) },
        { name: 'with errors', dots: true, color: COLORS[2], points: rows.filter((r) => r.errors).map(pt) }],
    });
  }
  const range = q.get('start') ? ` between ${fmtDateTime(q.get('start') / 1000)} and ${fmtDateTime(q.get('end') / 1000)}` : ` · ${windowLabel()}`;
  return el('div', {}, section('Search traces', form), section(`${rows.length} traces${range}`, scatter, holder));
}

function isError(s) { return s.tags.some((t) => t.key === 'error' && t.value === true); }

function traceRow(tr) {
  let t0 = Infinity, t1 = 0, root = null;
  const ids = new Set(tr.spans.map((s) => s.spanID));
  for (const s of tr.spans) {
    t0 = Math.min(t0, s.startTime);
    t1 = Math.max(t1, s.startTime + s.duration);
    const p = s.references.find((r) => r.refType === 'CHILD_OF');
    if ((!p || !ids.has(p.spanID)) && (!root || s.startTime < root.startTime)) root = s;
  }
  return {
    id: tr.traceID, start: t0, duration: t1 - t0, spans: tr.spans.length,
    services: new Set(tr.spans.map((s) => tr.processes[s.processID].serviceName)).size,
    errors: tr.spans.filter(isError).length,
    root: root ? `${tr.processes[root.processID].serviceName}: ${root.operationName}` : tr.traceID,
  };
}

// The tree and the critical path, as collector/cli/trace.c: from a span,
// take the child that ends last (children clamped to the parent's
// interval), then the child that ends last before that child's start, and
// so on; recurse into each taken child with its clamped interval.
function traceTree(tr) {
  const spans = tr.spans.map((s) => ({
    s, id: s.spanID, start: s.startTime, dur: s.duration, kids: [], parent: null, critical: false,
    service: tr.processes[s.processID].serviceName, error: isError(s),
    parentId: (s.references.find((r) => r.refType === 'CHILD_OF') || {}).spanID,
  }));
  const order = spans.slice().sort((a, b) => a.start - b.start);
  const byId = new Map();
  for (const x of spans) if (!byId.has(x.id)) byId.set(x.id, x);
  for (const x of order) {
    const p = x.parentId !== undefined ? byId.get(x.parentId) : undefined;
    if (p && p !== x) { x.parent = p; p.kids.push(x); }
  }
  const critical = (x, lo, hi) => {
    x.critical = true;
    let limit = hi;
    for (;;) {
      let best = null, bestEnd = 0;
      for (const c of x.kids) {
        const st = Math.max(c.start, lo), end = Math.min(c.start + c.dur, hi);
        if (c.critical || end > limit || st > end) continue;
        if (!best || end > bestEnd) { best = c; bestEnd = end; }
      }
      if (!best) break;
      const bst = Math.max(best.start, lo);
      critical(best, bst, bestEnd);
      limit = bst;
    }
  };
  const roots = order.filter((x) => !x.parent);
  for (const r of roots) critical(r, r.start, r.start + r.dur);
  const rows = [];
  const walk = (x, depth) => { rows.push({ ...x, depth }); x.kids.forEach((k) => walk(k, depth + 1)); };
  roots.forEach((r) => walk(r, 0));
  return rows;
}

async function viewTrace(id) {
  const tr = (await api('/api/traces/' + encodeURIComponent(id))).data[0];
  const rows = traceTree(tr);
  const t0 = Math.min(...rows.map((r) => r.start)), t1 = Math.max(...rows.map((r) => r.start + r.dur));
  const total = t1 - t0 || 1;
  const details = el('div', { id: 'span-details', class: 'details' }, el('p', { class: 'muted' }, 'Click a span for its attributes, events, status and resource.'));
  const services = [...new Set(rows.map((r) => r.service))];
  const color = (svc) => COLORS[services.indexOf(svc) % COLORS.length];
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => el('span', { style: `left:${f * 100}%` }, fmtMs((f * total) / 1000)));
  const wf = el('div', { class: 'waterfall', id: 'waterfall' },
    el('div', { class: 'wf-row wf-head' }, el('div', { class: 'wf-label' }, 'Service: operation'), el('div', { class: 'wf-dur' }, 'Duration'), el('div', { class: 'wf-track ticks' }, ticks)),
    rows.map((r) => el('div', {
      class: 'wf-row' + (r.critical ? ' critical' : '') + (r.error ? ' error' : ''), 'data-span': r.id, tabindex: 0,
      onkeydown: (ev) => { if (ev.key === 'Enter') ev.currentTarget.click(); },
      onclick: (ev) => { wf.querySelectorAll('.selected').forEach((n) => n.classList.remove('selected')); ev.currentTarget.classList.add('selected'); details.replaceChildren(spanDetails(tr, r)); },
    },
    el('div', { class: 'wf-label', style: `padding-left:${r.depth * 14 + 4}px` },
      el('span', { class: 'cp', title: r.critical ? 'on the critical path' : '' }, r.critical ? '◆' : ''),
      el('b', { style: `color:${color(r.service)}` }, r.service), ': ', r.s.operationName, r.error ? el('span', { class: 'bad' }, ' ⚠') : null),
    el('div', { class: 'wf-dur', 'data-v': r.dur }, fmtMs(r.dur / 1000)),
    el('div', { class: 'wf-track' }, el('div', {
      class: 'wf-bar', style: `left:${((r.start - t0) / total) * 100}%;width:${Math.max(0.3, (r.dur / total) * 100)}%;background:${color(r.service)}`,
    })))));
  const crit = rows.filter((r) => r.critical);
  return el('div', {},
    el('h1', {}, 'Trace ', el('span', { class: 'mono' }, tr.traceID)),
    el('p', { id: 'trace-summary' }, el('b', { 'data-v': rows.length, id: 'span-count' }, `${rows.length} spans`), `, ${services.length} services, `,
      el('b', { 'data-v': total }, fmtMs(total / 1000)), `; critical path: ${crit.length} spans (◆, dark bars), errors marked ⚠.`),
    el('p', { class: 'muted', id: 'critical-path' }, 'Critical path: ', crit.map((r) => `${r.service}: ${r.s.operationName}`).join(' → ')),
    section('Waterfall', wf), section('Span details', details));
}

function spanDetails(tr, r) {
  const s = r.s, proc = tr.processes[s.processID];
  const kv = (list) => list.length
    ? el('table', { class: 'kv' }, el('tbody', {}, list.map((t) => el('tr', {}, el('th', {}, t.key), el('td', { class: 'mono' }, typeof t.value === 'object' ? JSON.stringify(t.value) : String(t.value))))))
    : el('p', { class: 'muted' }, 'none');
  const status = s.tags.filter((t) => t.key.startsWith('otel.status') || t.key === 'error');
  const attrs = s.tags.filter((t) => !status.includes(t));
  return el('div', {},
    el('h3', {}, `${r.service}: ${s.operationName}`),
    el('p', { class: 'muted mono' }, `span ${s.spanID}${r.parentId ? ' · parent ' + r.parentId : ''} · starts +${fmtMs((s.startTime - Math.min(...tr.spans.map((x) => x.startTime))) / 1000)} · ${fmtMs(s.duration / 1000)}${r.critical ? ' · on the critical path' : ''}`),
    el('h4', {}, 'Status'), kv(status.length ? status : [{ key: 'otel.status_code', value: 'UNSET' }]),
    el('h4', {}, 'Attributes'), kv(attrs),
    el('h4', {}, 'Events'), s.logs.length
      ? el('ul', { class: 'plain' }, s.logs.map((l) => el('li', {}, el('span', { class: 'mono' }, `+${fmtMs((l.timestamp - s.startTime) / 1000)} `),
        l.fields.map((f) => `${f.key}=${typeof f.value === 'object' ? JSON.stringify(f.value) : f.value}`).join(' '))))
      : el('p', { class: 'muted' }, 'none'),
    el('h4', {}, 'Resource'), kv([{ key: 'service.name', value: proc.serviceName }, ...(proc.tags || []).filter((t) => t.key !== 'service.name')]));
}

// ---- dependency graph ----------------------------------------------------

async function viewDeps() {
  const sp = spmParams();
  const [deps, sum] = await Promise.all([
    api('/api/dependencies', { endTs: sp.endTs, lookback: sp.lookback }).then((b) => b.data),
    summary(),
  ]);
  const names = [...new Set([...deps.flatMap((d) => [d.parent, d.child]), ...sum.services.map((s) => s.service)])].sort();
  if (!names.length) return section('Dependencies', el('p', { class: 'muted' }, 'No services in this window.'));
  // Layers: a service sits one column right of its deepest caller (cycles cut).
  const layer = new Map(names.map((n) => [n, 0]));
  for (let pass = 0; pass < names.length; pass++)
    for (const d of deps)
      if (d.parent !== d.child && layer.get(d.child) < layer.get(d.parent) + 1 && layer.get(d.parent) + 1 < names.length)
        layer.set(d.child, layer.get(d.parent) + 1);
  const cols = [];
  for (const n of names) (cols[layer.get(n)] ||= []).push(n);
  const NW = 170, NH = 54, GX = 220, GY = 40;
  const W = cols.length * NW + (cols.length - 1) * GX + 40;
  const H = Math.max(...cols.map((c) => (c || []).length)) * (NH + GY) + 20;
  const pos = new Map();
  cols.forEach((c, i) => (c || []).forEach((n, j) => pos.set(n, { x: 20 + i * (NW + GX), y: 20 + j * (NH + GY) + ((H - 20 - c.length * (NH + GY)) / 2) })));
  const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'graph', id: 'dep-graph', style: `max-width:${W}px` },
    svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
  const svcRow = (n) => sum.services.find((s) => s.service === n);
  for (const d of deps) {
    const a = pos.get(d.parent), b = pos.get(d.child);
    const x1 = a.x + NW, y1 = a.y + NH / 2, x2 = b.x, y2 = b.y + NH / 2;
    const self = d.parent === d.child;
    const path = self ? `M${a.x + NW - 30},${a.y} C${a.x + NW},${a.y - 40} ${a.x + NW + 40},${a.y} ${a.x + NW},${a.y + 14}`
      : `M${x1},${y1} C${x1 + GX / 2},${y1} ${x2 - GX / 2},${y2} ${x2},${y2}`;
    const er = edgeErrorRate(d);
    g.append(svg('path', { d: path, class: 'edge' + (er > 0.01 ? ' bad' : ''), 'marker-end': 'url(#arrow)', 'data-edge': `${d.parent}>${d.child}` }));
    const lx = self ? a.x + NW + 20 : (x1 + x2) / 2, ly = self ? a.y - 22 : (y1 + y2) / 2 - 22;
    g.append(svg('text', { x: lx, y: ly, class: 'edge-label', 'text-anchor': 'middle', 'data-calls': d.callCount, 'data-edge': `${d.parent}>${d.child}` }, `${fmtInt(d.callCount)} calls`));
    g.append(svg('text', { x: lx, y: ly + 14, class: 'edge-label edge-errors' + (er > 0.01 ? ' bad' : ''), 'text-anchor': 'middle', 'data-v': er, 'data-edge': `${d.parent}>${d.child}` }, `${fmtPct(er)} errors`));
  }
  for (const n of names) {
    const p = pos.get(n), r = svcRow(n);
    const a = svg('a', { href: svcHref(n) },
      svg('rect', { x: p.x, y: p.y, width: NW, height: NH, rx: 8, class: 'node' + (r && r.error_rate > 0.01 ? ' bad' : '') }),
      svg('text', { x: p.x + NW / 2, y: p.y + 22, 'text-anchor': 'middle', class: 'node-name' }, n),
      svg('text', { x: p.x + NW / 2, y: p.y + 40, 'text-anchor': 'middle', class: 'node-sub' },
        r ? `${fmtRate(r.rate_per_s)}/s · p95 ${fmtMs(r.p95_ms)}` : 'no entry spans'));
    g.append(a);
  }
  const edgeRows = deps.slice().sort((a, b) => b.callCount - a.callCount);
  return el('div', {}, section(`Dependencies · ${windowLabel()}`,
    el('p', { class: 'muted' }, 'Edges: the calls from caller to callee and the share of them that failed (the callee\'s span had status ERROR), from /api/dependencies: each caller\'s own error rate, not the callee\'s overall one. Nodes: entry calls/s and p95 (/api/tern/summary).'),
    el('div', { class: 'graph-wrap' }, g)),
  section('Edges', el('table', { class: 'data', id: 'dep-table' }, el('thead', {}, el('tr', {}, el('th', {}, 'Caller'), el('th', {}, 'Callee'), el('th', { class: 'num' }, 'Calls'), el('th', { class: 'num' }, 'Errors'), el('th', { class: 'num' }, 'Error rate'))),
    el('tbody', {}, edgeRows.map((d) => { const er = edgeErrorRate(d); return el('tr', {}, el('td', {}, link(svcHref(d.parent), d.parent)), el('td', {}, link(svcHref(d.child), d.child)), num(d.callCount, fmtInt(d.callCount)), num(d.errorCount, fmtInt(d.errorCount)), num(er, fmtPct(er), er > 0.01 ? 'bad' : '')); })))));
}

// The edge's own error rate: of the calls from parent to child, those
// whose child span failed (errorCount, ternd's addition to Jaeger's shape).
function edgeErrorRate(d) {
  return d.callCount > 0 ? (d.errorCount || 0) / d.callCount : 0;
}

// ---- bottleneck report ---------------------------------------------------

// tern report (collector/cli/report.c): operations by total time, the
// first `top`, in tiers by average latency, each tier with advice.
const TIERS = ['critical', 'high', 'medium', 'low'];
const ADVICE = [
  'these dominate user-facing time: profile them first; look for serial calls that could run in parallel, missing indexes, and retries',
  'look at their critical path (tern trace) for the slowest child and for N+1 calls; consider caching',
  'watch their p99 against p50: a wide gap points at contention or cold caches',
  'no action needed',
];
function reportTiers(ops, thrNs, top) {
  const n = top > 0 && top < ops.length ? top : ops.length;
  const out = { critical: [], high: [], medium: [], low: [] };
  for (const row of ops.slice(0, n)) {
    const avgNs = row.avg_ms * 1e6;
    let t = 3;
    for (let k = 0; k < 3; k++) if (avgNs > thrNs[k]) { t = k; break; }
    out[TIERS[t]].push(row);
  }
  return out;
}

async function viewReport(q) {
  const f = { critical: q.get('critical') || '2s', high: q.get('high') || '1s', medium: q.get('medium') || '500ms', top: q.get('top') || '', service: q.get('service') || '' };
  const services = (await api('/api/services')).data;
  const form = el('form', { class: 'inline', id: 'report-form', onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = '#/report?' + new URLSearchParams([...new FormData(form)].filter(([, v]) => v));
  } },
  el('label', {}, 'Service ', el('select', { name: 'service' }, el('option', { value: '' }, 'all'), services.map((s) => el('option', { value: s, selected: s === f.service }, s)))),
  ['critical', 'high', 'medium'].map((k) => el('label', {}, `${k} > `, el('input', { name: k, value: f[k], size: 6 }))),
  el('label', {}, 'Top ', el('input', { name: 'top', value: f.top, size: 4, placeholder: 'all' })),
  el('button', { type: 'submit' }, 'Report'));
  const thr = ['critical', 'high', 'medium'].map((k) => parseDuration(f[k]));
  if (thr.some((x) => x === null)) return el('div', {}, section('Bottleneck report', form), errorBox(new Error('thresholds must be durations (e.g. 500ms, 2s)')));
  if (!(thr[0] >= thr[1] && thr[1] >= thr[2])) return el('div', {}, section('Bottleneck report', form), errorBox(new Error('thresholds must be critical >= high >= medium')));
  const sum = await summary({ service: f.service });
  const tiers = reportTiers(sum.operations, thr, parseInt(f.top, 10) || 0);
  const cols = [
    { key: 'service', label: 'Service', cell: (r) => el('td', {}, link(svcHref(r.service), r.service)) },
    { key: 'operation', label: 'Operation', cell: (r) => el('td', {}, link(tracesHref({ service: r.service, operation: r.operation }), r.operation)) },
    { key: 'span_kind', label: 'Kind', cell: (r) => el('td', { class: 'muted' }, r.span_kind) },
    ...statCols().filter((c) => c.key !== 'errors'),
    { key: 'avg_ms', label: 'Avg', num: true, cell: (r) => num(r.avg_ms, fmtMs(r.avg_ms)) },
    { key: 'time_share', label: 'Share', num: true, cell: (r) => num(r.time_share, fmtPct(r.time_share)) },
  ];
  return el('div', {}, section('Bottleneck report', form,
    el('p', { class: 'muted' }, `Operations ranked by total time over ${Math.round(sum.window_s)} s, in tiers by average latency (as tern report).`)),
  TIERS.map((t, i) => el('section', { class: 'card tier tier-' + t, id: 'tier-' + t, 'data-count': tiers[t].length },
    el('h2', {}, t, el('span', { class: 'muted small' }, i < 3 ? ` (avg > ${fmtMs(thr[i] / 1e6)})` : ''), ': ', `${tiers[t].length} operations`),
    tiers[t].length ? [el('p', { class: 'advice' }, '→ ', ADVICE[i]), table(cols, tiers[t], null, null)] : null)));
}

// ---- SLO check -----------------------------------------------------------

// tern check (collector/cli/check.c): the service's row (entry spans), or
// the operation's busiest kind; each target above its limit is a violation;
// no calls is a failure.
function checkResult(data, operation, lim) {
  const rows = operation ? data.operations : data.services;
  let row = null;
  for (const x of rows) if (!row || x.calls > row.calls) row = x;
  const nodata = !row || row.calls === 0;
  const keys = [['p50', 'p50_ms'], ['p95', 'p95_ms'], ['p99', 'p99_ms'], ['error_rate', 'error_rate']];
  const violations = [];
  if (!nodata)
    keys.forEach(([name, key], k) => {
      if (lim[k] < 0 || row[key] <= lim[k]) return;
      violations.push({ target: name, limit: lim[k], actual: row[key] });
    });
  return { calls: row ? row.calls : 0, no_data: nodata, violations, ok: !nodata && violations.length === 0, row };
}

async function viewCheck(q) {
  const services = (await api('/api/services')).data;
  const f = { service: q.get('service') || services[0] || '', operation: q.get('operation') || '', p50: q.get('p50') || '', p95: q.get('p95') || '', p99: q.get('p99') || '', errorRate: q.get('errorRate') || '' };
  const form = el('form', { class: 'inline', id: 'check-form', onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = '#/check?' + new URLSearchParams([...new FormData(form)].filter(([, v]) => v));
  } },
  el('label', {}, 'Service ', el('select', { name: 'service' }, services.map((s) => el('option', { value: s, selected: s === f.service }, s)))),
  el('label', {}, 'Operation ', el('input', { name: 'operation', value: f.operation, placeholder: 'all (entry spans)', size: 16 })),
  ['p50', 'p95', 'p99'].map((k) => el('label', {}, `${k} ≤ `, el('input', { name: k, value: f[k], size: 6, placeholder: k === 'p95' ? '500ms' : '' }))),
  el('label', {}, 'errors ≤ ', el('input', { name: 'errorRate', value: f.errorRate, size: 5, placeholder: '1%' })),
  el('button', { type: 'submit' }, 'Check'));
  const head = section('SLO check', form, el('p', { class: 'muted' }, 'Targets as tern check takes them: durations for p50/p95/p99, a percentage for errors.'));
  if (!f.p50 && !f.p95 && !f.p99 && !f.errorRate) return el('div', {}, head, el('p', { class: 'muted' }, 'Give at least one target.'));
  const lim = [-1, -1, -1, -1];
  for (const [k, i] of [['p50', 0], ['p95', 1], ['p99', 2]]) {
    if (!f[k]) continue;
    const ns = parseDuration(f[k]);
    if (ns === null) return el('div', {}, head, errorBox(new Error(`'${f[k]}' is not a duration (e.g. 500ms, 1s)`)));
    lim[i] = ns / 1e6;
  }
  if (f.errorRate) {
    const m = /^(\d+(?:\.\d*)?|\.\d+)%?$/.exec(f.errorRate.trim());
    if (!m) return el('div', {}, head, errorBox(new Error(`'${f.errorRate}' is not a percentage (e.g. 1%)`)));
    lim[3] = parseFloat(m[1]) / 100;
  }
  const data = await summary({ service: f.service, operation: f.operation });
  const res = checkResult(data, f.operation, lim);
  const who = f.service + (f.operation ? ' / ' + f.operation : '');
  const verdict = res.no_data ? `FAIL: no spans of ${who} in the window`
    : res.ok ? `OK: ${who} meets every target (${fmtInt(res.calls)} calls)`
      : `FAIL: ${res.violations.length} target(s) violated for ${who} (${fmtInt(res.calls)} calls)`;
  const targets = [['p50', 'p50_ms'], ['p95', 'p95_ms'], ['p99', 'p99_ms'], ['error_rate', 'error_rate']];
  const fmtT = (name, v) => (name === 'error_rate' ? fmtPct(v) : fmtMs(v));
  return el('div', {}, head, section(`Result · ${windowLabel()}`,
    el('p', { class: 'verdict ' + (res.ok ? 'ok' : 'fail'), id: 'check-verdict' }, verdict),
    res.row ? el('table', { class: 'data narrow', id: 'check-table' }, el('thead', {}, el('tr', {}, el('th', {}, 'Target'), el('th', { class: 'num' }, 'Limit'), el('th', { class: 'num' }, 'Actual'), el('th', {}, 'Verdict'))),
      el('tbody', {}, targets.map(([name, key], i) => {
        const bad = res.violations.find((v) => v.target === name);
        return el('tr', { class: bad ? 'v-regression' : '' }, el('td', {}, name),
          el('td', { class: 'num' }, lim[i] < 0 ? '–' : fmtT(name, lim[i])), num(res.row[key], fmtT(name, res.row[key])),
          el('td', {}, lim[i] < 0 ? '' : bad ? 'violated' : 'met'));
      }))) : null));
}

// ---- routing -------------------------------------------------------------

let liveTimer = null;

// Draws the view the hash names. live: a refresh, drawn without dimming.
async function route(live) {
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  const q = new URLSearchParams(qs || '');
  const view = document.getElementById('view');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = parts[0] || 'overview';
  document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.dataset.nav === name));
  const views = {
    overview: () => viewOverview(), service: () => viewService(parts[1], q), traces: () => viewTraces(q),
    trace: () => viewTrace(parts[1]), deps: () => viewDeps(), report: () => viewReport(q), check: () => viewCheck(q),
  };
  const fn = views[name] || views.overview;
  document.body.dataset.view = name;
  document.body.dataset.ready = '';
  const token = (route.token = (route.token || 0) + 1);
  if (live !== true) view.classList.add('loading');
  try {
    const node = await fn();
    if (token !== route.token) return; // a newer navigation won
    view.replaceChildren(node);
  } catch (e) {
    if (token !== route.token) return;
    view.replaceChildren(errorBox(e));
  }
  view.classList.remove('loading');
  document.body.dataset.ready = name;
}

function setupWindow() {
  const sel = document.getElementById('win'), custom = document.getElementById('custom');
  const toLocal = (ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  sel.addEventListener('change', () => {
    if (sel.value === 'custom') {
      custom.hidden = false;
      const [s, e] = windowMs();
      document.getElementById('win-start').value = toLocal(s);
      document.getElementById('win-end').value = toLocal(e);
      return;
    }
    custom.hidden = true;
    Object.assign(win, { lookback: sel.value, start: null, end: null });
    route();
  });
  document.getElementById('win-apply').addEventListener('click', () => {
    const s = Date.parse(document.getElementById('win-start').value), e = Date.parse(document.getElementById('win-end').value);
    if (!(e > s)) return;
    Object.assign(win, { start: s * 1000, end: e * 1000 });
    route();
  });
  // Live refresh: the overview every 10 s while the box is ticked.
  liveTimer = setInterval(() => {
    if (document.getElementById('live').checked && !win.start && document.body.dataset.view === 'overview' && document.body.dataset.ready) route(true);
  }, 10000);
}

window.addEventListener('hashchange', () => route());
setupWindow();
route();
