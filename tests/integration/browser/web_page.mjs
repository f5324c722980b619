// The web page against a real ternd holding known data: every view is
// loaded in Debian's chromium, the numbers it shows are checked against
// the truth this test chose (calls, errors, percentiles within the
// sketch's 1%, a trace's span count and critical path, report tiers, SLO
// verdicts, version comparison), and each view is saved as a screenshot.
//
// Usage: TERND=/path/to/ternd node web_page.mjs [SCREENSHOT_DIR]
// Exits 77 when chromium or playwright-core is missing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

import { launchBrowser, loadPlaywright, openView, screenshotDir, shoot, startTernd } from './lib.mjs';

const pw = loadPlaywright();
const N = 200;
const MS = 1e6; // ns

// ---- the known data ------------------------------------------------------
// Trace i (0..N-1): frontend SERVER "GET /checkout" of D_i = 10 + 0.5 i ms
// (version 1.0 for i < 100, 2.0 after; error when i % 10 == 0) with three
// children: INTERNAL "cache" [0.5, 1.5] ms, CLIENT "GET backend" [1, B_i + 2]
// (backend SERVER "GET /price" [1.5, 1.5 + B_i] below it, error when
// i % 25 == 0), INTERNAL "render" [B_i + 2.5, D_i - 0.5]; B_i = 2 + 0.1 (i % 50).
// The critical path: checkout, render, GET backend, GET /price (not cache).
const D = (i) => 10 + 0.5 * i;
const B = (i) => 2 + 0.1 * (i % 50);
const hex = (n, len) => n.toString(16).padStart(len, '0');
const traceId = (i) => 'a0b1c2d3' + hex(i + 1, 24);

function spansOf(i, t0) {
  const id = (k) => hex(i * 16 + k + 1, 16);
  const at = (ms) => String(t0 + BigInt(Math.round(ms * MS)));
  const span = (k, parent, name, kind, s, e, err) => ({
    traceId: traceId(i), spanId: id(k), parentSpanId: parent === null ? '' : id(parent), name, kind,
    startTimeUnixNano: at(s), endTimeUnixNano: at(e),
    attributes: [{ key: 'test.index', value: { intValue: String(i) } }],
    status: err ? { code: 2, message: 'test error' } : {},
  });
  return {
    frontend: [
      span(0, null, 'GET /checkout', 2, 0, D(i), i % 10 === 0),
      span(1, 0, 'cache', 1, 0.5, 1.5, false),
      span(2, 0, 'GET backend', 3, 1, B(i) + 2, false),
      span(4, 0, 'render', 1, B(i) + 2.5, D(i) - 0.5, false),
    ],
    backend: [{ ...span(3, 2, 'GET /price', 2, 1.5, 1.5 + B(i), i % 25 === 0),
      events: [{ timeUnixNano: at(2), name: 'cache miss', attributes: [{ key: 'sku', value: { stringValue: `sku-${i}` } }] }] }],
  };
}

function resource(service, version) {
  return { attributes: [
    { key: 'service.name', value: { stringValue: service } },
    { key: 'service.version', value: { stringValue: version } },
  ] };
}

async function sendKnownData(httpAddr) {
  // Spread over the minutes from 10 to 2 minutes ago: inside the 15 min window.
  const now = BigInt(Date.now()) * 1000000n;
  const rs = [];
  for (let i = 0; i < N; i++) {
    const t0 = now - 600n * 1000000000n + BigInt(i) * 2400000000n; // 2.4 s apart
    const sp = spansOf(i, t0);
    const v = i < N / 2 ? '1.0' : '2.0';
    rs.push({ resource: resource('frontend', v), scopeSpans: [{ scope: { name: 'test' }, spans: sp.frontend }] });
    rs.push({ resource: resource('backend', '1.0'), scopeSpans: [{ scope: { name: 'test' }, spans: sp.backend }] });
  }
  // slowsvc, for the slow-now list: "GET /slow" took 10 ms from 40 to 20
  // minutes ago (the baseline hour) and 100 ms from 4 to 2 minutes ago.
  const slow = [];
  const root = (k, startNs, ms) => ({
    traceId: 'f0' + hex(k + 1, 30), spanId: hex(0x100000 + k, 16), name: 'GET /slow', kind: 2,
    startTimeUnixNano: String(startNs), endTimeUnixNano: String(startNs + BigInt(ms * MS)), attributes: [], status: {},
  });
  for (let k = 0; k < SLOW_BASE; k++) slow.push(root(k, now - 2400n * 1000000000n + BigInt(k) * 40000000000n, 10));
  for (let k = 0; k < SLOW_RECENT; k++) slow.push(root(1000 + k, now - 240n * 1000000000n + BigInt(k) * 6000000000n, 100));
  rs.push({ resource: resource('slowsvc', '1.0'), scopeSpans: [{ scope: { name: 'test' }, spans: slow }] });
  for (let k = 0; k < rs.length; k += 100) {
    const r = await fetch(`http://${httpAddr}/v1/traces`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceSpans: rs.slice(k, k + 100) }),
    });
    assert.equal(r.status, 200, `export: HTTP ${r.status}`);
  }
}

// The sketch's quantile is the value of rank floor(q (n - 1)) within 1%.
function quantile(values, q) {
  const s = values.slice().sort((a, b) => a - b);
  return s[Math.floor(q * (s.length - 1))];
}
const range = (n, f) => Array.from({ length: n }, (_, i) => f(i));
const SLOW_BASE = 30, SLOW_RECENT = 20;
const TRUTH = {
  frontend: { calls: N, errors: N / 10, durs: range(N, D) },
  backend: { calls: N, errors: N / 25, durs: range(N, B) },
};

function near(actual, truth, what, rel = 0.01, abs = 0) {
  assert.ok(Math.abs(actual - truth) <= rel * truth + abs,
    `${what}: page shows ${actual}, truth ${truth} (allowed ${rel * 100}% + ${abs})`);
}
// "12.3ms", "1.05s", "850µs" -> ms, and the rounding of that text.
function parseShown(text) {
  const m = /^([\d.]+)(µs|ms|s)$/.exec(text.trim());
  assert.ok(m, `not a duration: '${text}'`);
  const v = parseFloat(m[1]);
  return m[2] === 's' ? [v * 1000, 5] : m[2] === 'ms' ? [v, 0.05] : [v / 1000, 0.0005];
}

// ---- the checks ----------------------------------------------------------

async function checkOverview(page, base, dir) {
  await openView(page, base, '#/', 'overview');
  const rows = await page.$$eval('#services-table tbody tr', (trs) => trs.map((tr) => ({
    service: tr.cells[0].textContent,
    cells: [...tr.cells].slice(1).map((td) => ({ v: td.dataset.v, text: td.textContent })),
  })));
  assert.deepEqual(rows.map((r) => r.service).sort(), ['backend', 'frontend', 'slowsvc']);
  for (const r of rows) {
    const t = TRUTH[r.service];
    if (r.service === 'slowsvc') {
      assert.equal(r.cells[0].text, String(SLOW_RECENT), 'slowsvc calls in the window');
      continue;
    }
    const [calls, rate, errors, errRate, p50, p95, p99] = r.cells;
    assert.equal(calls.text, String(t.calls), `${r.service} calls`);
    assert.equal(Number(calls.v), t.calls);
    assert.equal(errors.text, String(t.errors), `${r.service} errors`);
    assert.equal(errRate.text, (100 * t.errors / t.calls).toFixed(2) + '%', `${r.service} error rate`);
    assert.ok(Number(rate.v) > 0, `${r.service} calls/s`);
    for (const [cell, q] of [[p50, 0.5], [p95, 0.95], [p99, 0.99]]) {
      const truth = quantile(t.durs, q);
      near(Number(cell.v), truth, `${r.service} p${q * 100} (API value on the page)`);
      const [shown, round] = parseShown(cell.text);
      near(shown, truth, `${r.service} p${q * 100} (as shown)`, 0.01, round);
    }
  }
  // Sorting: click Calls/s header twice and p95 once; the order follows.
  await page.click('#services-table th[data-key="p95_ms"]');
  const order = await page.$$eval('#services-table tbody tr', (trs) => trs.map((tr) => tr.cells[0].textContent));
  assert.deepEqual(order, ['backend', 'slowsvc', 'frontend'], 'p95 ascending after a click (6.9, 100, 104.5 ms)');
  // Slow now: slowsvc's p95 went from 10 ms to 100 ms.
  const slow = await page.$$eval('#slow-list li', (lis) => lis.map((li) => li.textContent));
  const s10 = slow.find((t) => t.startsWith('slowsvc GET /slow'));
  assert.ok(s10, `slowsvc in the slow-now list: ${JSON.stringify(slow)}`);
  near(Number(/×([\d.]+)/.exec(s10)[1]), 10, 'slowsvc p95 ratio', 0.03);
  const sparkHref = await page.getAttribute('#services-table tbody tr:has(a:text-is("frontend")) td:nth-child(9) a', 'href');
  const sq = new URLSearchParams(sparkHref.split('?')[1]);
  assert.equal(sq.get('service'), 'frontend');
  near(parseFloat(sq.get('minDuration')) / 1000, quantile(TRUTH.frontend.durs, 0.95), 'the sparkline opens traces above p95');
  const shot = await shoot(page, dir, 'overview');

  // Live refresh: the table is drawn anew within 10 s.
  await page.evaluate(() => { document.querySelector('#services-table table').dataset.old = '1'; });
  await page.waitForFunction(() => document.querySelector('#services-table table') && !document.querySelector('#services-table table[data-old]'), null, { timeout: 15000 });

  // A custom window of the last 5 whole minutes: calls and the p95 change
  // against the 5 minutes before are the API's for those windows.
  const minute = 60000, e = Math.floor(Date.now() / minute) * minute, s = e - 5 * minute;
  const iso = (ms) => new Date(ms).toISOString().slice(0, 16); // the page runs in UTC
  await page.selectOption('#win', 'custom');
  await page.fill('#win-start', iso(s));
  await page.fill('#win-end', iso(e));
  await page.evaluate(() => { document.body.dataset.ready = 'loading'; });
  await page.click('#win-apply');
  await page.waitForFunction(() => document.body.dataset.ready === 'overview');
  const get = (q) => fetch(`${base}/api/tern/summary?${new URLSearchParams(q)}`).then((r) => r.json()).then((b) => b.data.services.find((x) => x.service === 'frontend'));
  const cur = await get({ service: 'frontend', start: s * 1000, end: e * 1000 });
  const prev = await get({ service: 'frontend', start: (s - 5 * minute) * 1000, end: s * 1000 });
  const row = await page.$$eval('#services-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => ({ v: c.dataset.v, text: c.textContent }))).find((r) => r[0].text === 'frontend'));
  assert.ok(cur && prev && cur.calls > 0 && prev.calls > 0, 'data on both sides of the custom window');
  assert.equal(Number(row[1].v), cur.calls, 'calls in the custom window');
  assert.equal(Number(row[9].v), ((cur.p95_ms - prev.p95_ms) / prev.p95_ms) * 100, 'p95 change against the window before');
  await shoot(page, dir, 'overview-custom-window');
  await page.selectOption('#win', '15m');
  await page.waitForFunction(() => document.body.dataset.ready === 'overview');
  return shot;
}

async function checkService(page, base, dir) {
  await openView(page, base, '#/service/frontend', 'service');
  const kpis = await page.$$eval('#service-kpis .kpi', (ks) => Object.fromEntries(ks.map((k) => [k.dataset.k, k.querySelector('.v').textContent])));
  const t = TRUTH.frontend;
  assert.equal(kpis.Calls, String(t.calls));
  assert.equal(kpis.Errors, String(t.errors));
  for (const q of [50, 95, 99]) {
    const [shown, round] = parseShown(kpis['p' + q]);
    near(shown, quantile(t.durs, q / 100), `frontend p${q} on the service page`, 0.01, round);
  }
  // Operations by share of time: checkout first, all four there.
  const ops = await page.$$eval('#ops-table tbody tr', (trs) => trs.map((tr) => tr.cells[0].querySelector('a').textContent));
  assert.deepEqual(ops.slice().sort(), ['GET /checkout', 'GET backend', 'cache', 'render']);
  assert.equal(ops[0], 'GET /checkout');
  // Callees from the dependencies, with the edge's own error rate.
  const text = await page.textContent('main');
  assert.match(text, new RegExp(`Callees\\s*backend ${N} calls · ${(100 * TRUTH.backend.errors / N).toFixed(2)}% errors`));
  // The histogram counts the service's server spans of the window's traces.
  await page.waitForSelector('#histogram figure', { timeout: 15000 });
  assert.match(await page.textContent('#histogram figcaption'), new RegExp(`^${N} server spans from ${N} traces`));
  const bars = await page.$$eval('#histogram rect.bar', (rs) => rs.map((r) => Number(r.querySelector('title').textContent.split(': ')[1].split(' ')[0])));
  assert.equal(bars.reduce((a, b) => a + b, 0), N, 'histogram bars add up to the spans');
  // Version comparison, as tern compare: 2.0 is slower than 1.0.
  await page.fill('#cmp-base', 'version=1.0');
  await page.fill('#cmp-cur', 'version=2.0');
  await page.click('#cmp-run');
  await page.waitForSelector('#cmp-out table');
  const cmp = await page.$$eval('#cmp-out tbody tr', (trs) => trs.map((tr) => ({ op: tr.cells[0].textContent, verdict: tr.lastChild.textContent, p95: tr.cells[4].dataset.v })));
  const checkout = cmp.find((r) => r.op === 'GET /checkout');
  const versions = await page.$$eval('#cmp-versions option', (os) => os.map((o) => o.value));
  assert.deepEqual(versions, ['version=1.0', 'version=2.0'], 'the versions seen are offered');
  const p95a = quantile(range(N / 2, D), 0.95), p95b = quantile(range(N / 2, (i) => D(i + N / 2)), 0.95);
  assert.equal(checkout.verdict, 'regression');
  near(Number(checkout.p95), ((p95b - p95a) / p95a) * 100, 'p95 change of GET /checkout', 0.03);
  const shot = await shoot(page, dir, 'service');

  // One operation: render (internal spans), its own numbers and histogram.
  await page.click('#ops-table a:text-is("render")');
  await page.waitForFunction(() => document.body.dataset.ready === 'service' && location.hash.includes('op=render'));
  const renderDurs = range(N, (i) => D(i) - 0.5 - (B(i) + 2.5));
  const k2 = await page.$$eval('#service-kpis .kpi', (ks) => Object.fromEntries(ks.map((k) => [k.dataset.k, k.querySelector('.v').dataset.v])));
  assert.equal(Number(k2.Calls), N, 'render calls');
  for (const q of [50, 95, 99]) near(Number(k2['p' + q]), quantile(renderDurs, q / 100), `render p${q}`);
  await page.waitForSelector('#histogram figure', { timeout: 15000 });
  assert.match(await page.textContent('#histogram figcaption'), new RegExp(`^${N} internal spans from ${N} traces`));
  assert.ok((await page.$$('#view svg.chart.clickable circle')).length > 0, 'render latency points (SPM by operation, kind internal)');
  await shoot(page, dir, 'service-operation');
  await openView(page, base, '#/service/frontend', 'service');
  // One click on the latency chart opens example traces of that time and latency.
  const chart = page.locator('#view svg.chart.clickable').first();
  const box = await chart.boundingBox();
  await chart.click({ position: { x: box.width * 0.6, y: box.height * 0.5 } });
  await page.waitForFunction(() => location.hash.startsWith('#/traces?') && document.body.dataset.ready === 'traces', null, { timeout: 15000 });
  const h = new URLSearchParams(await page.evaluate(() => location.hash.split('?')[1]));
  assert.equal(h.get('service'), 'frontend');
  assert.ok(h.get('start') && h.get('end') && h.get('minDuration') && h.get('maxDuration'), 'time and latency range in the link');
  return shot;
}

async function checkTraces(page, base, dir) {
  await openView(page, base, '#/traces?service=frontend&errors=1&limit=100', 'traces');
  let n = await page.$$eval('#trace-results tbody tr', (trs) => trs.length);
  assert.equal(n, TRUTH.frontend.errors, 'traces with errors');
  // The scatter: one dot a trace, each a link to it.
  const dots = await page.$$eval('#view svg.chart a', (as) => as.map((a) => a.getAttribute('href')));
  assert.equal(dots.length, TRUTH.frontend.errors, 'a dot per trace');
  assert.ok(dots.every((h) => h.startsWith('#/trace/a0b1c2d3')));
  await openView(page, base, '#/traces?service=frontend&minDuration=100ms&limit=100', 'traces');
  n = await page.$$eval('#trace-results tbody tr', (trs) => trs.length);
  assert.equal(n, range(N, D).filter((d) => d >= 100).length, 'traces of 100 ms or more');
  const spans = await page.$$eval('#trace-results tbody tr', (trs) => trs.map((tr) => tr.cells[2].textContent));
  assert.ok(spans.every((s) => s === '5'), 'each trace has 5 spans');
  const shot = await shoot(page, dir, 'traces');
  // Tags, through the form: one trace has test.index 42; with errors only, too (42 % 10 != 0: none).
  await page.fill('#tr-min', '');
  await page.fill('#tr-tags', 'test.index:42');
  await page.evaluate(() => { document.body.dataset.ready = 'loading'; });
  await page.click('#trace-search button:text-is("Search")');
  await page.waitForFunction(() => document.body.dataset.ready === 'traces');
  const tagged = await page.$$eval('#trace-results tbody tr', (trs) => trs.map((tr) => tr.cells[0].querySelector('.mono').textContent));
  assert.deepEqual(tagged, [traceId(42)], 'the trace tagged test.index:42');
  await page.check('#tr-errors');
  await page.evaluate(() => { document.body.dataset.ready = 'loading'; });
  await page.click('#trace-search button:text-is("Search")');
  await page.waitForFunction(() => document.body.dataset.ready === 'traces');
  assert.equal(await page.$$eval('#trace-results tbody tr', (trs) => trs.length), 0, 'test.index:42 has no error');
  return shot;
}

async function checkTrace(page, base, dir) {
  const i = N - 1;
  await openView(page, base, `#/trace/${traceId(i)}`, 'trace');
  assert.equal(await page.getAttribute('#span-count', 'data-v'), '5');
  const rows = await page.$$eval('#waterfall .wf-row[data-span]', (rs) => rs.map((r) => ({
    label: r.querySelector('.wf-label').textContent.replace(/^◆/, ''), critical: r.classList.contains('critical'),
    dur: Number(r.querySelector('.wf-dur').dataset.v),
  })));
  assert.equal(rows.length, 5);
  const crit = rows.filter((r) => r.critical).map((r) => r.label).sort();
  assert.deepEqual(crit, ['backend: GET /price', 'frontend: GET /checkout', 'frontend: GET backend', 'frontend: render']);
  assert.equal(rows.find((r) => r.label === 'frontend: GET /checkout').dur, D(i) * 1000);
  // Span details: attributes, status, resource.
  await page.click('#waterfall .wf-row[data-span]:has-text("GET /price")');
  const details = await page.textContent('#span-details');
  assert.match(details, /test\.index/);
  assert.match(details, /service\.version/);
  assert.match(details, /\+500µs event=cache miss sku=sku-199/, 'the span event, its time and attributes');
  return shoot(page, dir, 'trace');
}

async function checkDeps(page, base, dir) {
  await openView(page, base, '#/deps', 'deps');
  assert.equal(await page.getAttribute('#dep-graph text[data-calls]', 'data-calls'), String(N));
  const row = await page.$$eval('#dep-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(row, [['frontend', 'backend', String(N), String(TRUTH.backend.errors), (100 * TRUTH.backend.errors / N).toFixed(2) + '%']]);
  return shoot(page, dir, 'dependencies');
}

// Run last (it adds data): backend gets a second caller, mobile, whose
// M calls to backend never fail (half of mobile's own spans do). Each
// edge shows its own error rate: frontend -> backend still 8 of 200,
// mobile -> backend 0 of M, neither backend's overall 8 of 200 + M.
const M = 40;
async function checkEdgeErrors(page, base, dir, httpAddr) {
  const now = BigInt(Date.now()) * 1000000n;
  const spans = { mobile: [], backend: [] };
  for (let k = 0; k < M; k++) {
    const t0 = now - 60n * 1000000000n + BigInt(k) * 100000000n;
    const tid = 'e0' + hex(k + 1, 30), root = hex(0x200000 + 2 * k, 16), child = hex(0x200001 + 2 * k, 16);
    const at = (ms) => String(t0 + BigInt(ms * MS));
    spans.mobile.push({ traceId: tid, spanId: root, name: 'sync', kind: 2, startTimeUnixNano: at(0), endTimeUnixNano: at(10),
      attributes: [], status: k % 2 ? { code: 2, message: 'test error' } : {} });
    spans.backend.push({ traceId: tid, spanId: child, parentSpanId: root, name: 'GET /price', kind: 2,
      startTimeUnixNano: at(1), endTimeUnixNano: at(5), attributes: [], status: {} });
  }
  const r = await fetch(`http://${httpAddr}/v1/traces`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ resourceSpans: [
      { resource: resource('mobile', '1.0'), scopeSpans: [{ scope: { name: 'test' }, spans: spans.mobile }] },
      { resource: resource('backend', '1.0'), scopeSpans: [{ scope: { name: 'test' }, spans: spans.backend }] },
    ] }),
  });
  assert.equal(r.status, 200, `export: HTTP ${r.status}`);
  const pct = (e, c) => (100 * e / c).toFixed(2) + '%';
  const want = [['frontend', 'backend', String(N), String(TRUTH.backend.errors), pct(TRUTH.backend.errors, N)],
    ['mobile', 'backend', String(M), '0', pct(0, M)]];
  // The API too: errorCount beside Jaeger's callCount (waiting until
  // mobile's spans are counted).
  let links = [];
  for (let t = 0; t < 50; t++) {
    const q = `endTs=${Date.now()}&lookback=900000`;
    links = (await (await fetch(`${base}/api/dependencies?${q}`)).json()).data;
    if (links.some((l) => l.parent === 'mobile' && l.callCount === M)) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.deepEqual(links.map((l) => [l.parent, l.child, l.callCount, l.errorCount]).sort(),
    [['frontend', 'backend', N, TRUTH.backend.errors], ['mobile', 'backend', M, 0]]);
  await openView(page, base, '#/deps', 'deps');
  const rows = await page.$$eval('#dep-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows, want, 'each edge\'s own calls, errors and error rate');
  assert.notEqual(pct(TRUTH.backend.errors, N + M), want[0][4], 'the callee\'s overall rate would differ');
  const shown = await page.$$eval('#dep-graph text.edge-errors', (ts) => Object.fromEntries(ts.map((t) => [t.dataset.edge, t.textContent])));
  assert.deepEqual(shown, { 'frontend>backend': `${pct(TRUTH.backend.errors, N)} errors`, 'mobile>backend': `${pct(0, M)} errors` });
  return shoot(page, dir, 'dependencies-two-callers');
}

async function checkReport(page, base, dir) {
  const thr = { critical: 50, high: 20, medium: 5 };
  await openView(page, base, `#/report?critical=${thr.critical}ms&high=${thr.high}ms&medium=${thr.medium}ms`, 'report');
  // The truth: each operation's average from the chosen durations, tiered as tern report.
  const avg = (f) => range(N, f).reduce((a, b) => a + b, 0) / N;
  const ops = { 'GET /slow': 100, 'GET /checkout': avg(D), render: avg((i) => D(i) - 0.5 - (B(i) + 2.5)), 'GET backend': avg((i) => B(i) + 1), 'GET /price': avg(B), cache: 1 };
  const want = { critical: [], high: [], medium: [], low: [] };
  for (const [op, a] of Object.entries(ops))
    want[a > thr.critical ? 'critical' : a > thr.high ? 'high' : a > thr.medium ? 'medium' : 'low'].push(op);
  for (const tier of Object.keys(want)) {
    const got = await page.$$eval(`#tier-${tier} tbody tr`, (trs) => trs.map((tr) => tr.cells[1].textContent));
    assert.deepEqual(got.sort(), want[tier].sort(), `tier ${tier}`);
  }
  return shoot(page, dir, 'report');
}

async function checkSlo(page, base, dir) {
  await openView(page, base, '#/check?service=backend&p99=1s', 'check');
  assert.match(await page.textContent('#check-verdict'), /^OK: backend meets every target \(200 calls\)$/);
  await openView(page, base, '#/check?service=frontend&p95=100ms&p99=1s&errorRate=5%25', 'check');
  // p95 is 104.5 ms > 100 ms and errors are 10% > 5%: two violations.
  assert.match(await page.textContent('#check-verdict'), /^FAIL: 2 target\(s\) violated for frontend \(200 calls\)$/);
  const rows = await page.$$eval('#check-table tbody tr', (trs) => trs.map((tr) => [tr.cells[0].textContent, tr.cells[3].textContent]));
  assert.deepEqual(rows, [['p50', ''], ['p95', 'violated'], ['p99', 'met'], ['error_rate', 'violated']]);
  return shoot(page, dir, 'check');
}

// ---- the page computes as the CLI does ---------------------------------
// tern report / check / compare / trace against the same ternd: the page's
// tiers, verdicts, changes and critical path must be the CLI's.

function tern(addr, args) {
  const r = spawnSync(process.env.TERN, [...args, '--addr', addr], { encoding: 'utf8', timeout: 20000 });
  assert.ok(r.status === 0 || r.status === 1, `tern ${args.join(' ')}: exit ${r.status} ${r.stderr}`);
  return r.stdout;
}

async function checkSameAsCli(page, base, addr) {
  if (!process.env.TERN) return console.log('note: TERN unset, CLI comparison not run');
  // Report tiers.
  const cliReport = JSON.parse(tern(addr, ['report', '--since', '15m', '--critical', '50ms', '--high', '20ms', '--medium', '5ms', '--json']));
  await openView(page, base, '#/report?critical=50ms&high=20ms&medium=5ms', 'report');
  for (const tier of ['critical', 'high', 'medium', 'low']) {
    const got = await page.$$eval(`#tier-${tier} tbody tr`, (trs) => trs.map((tr) => `${tr.cells[0].textContent}/${tr.cells[1].textContent}`));
    assert.deepEqual(got, cliReport[tier].map((r) => `${r.service}/${r.operation}`), `tern report's ${tier} tier`);
  }
  // SLO check.
  const cliCheck = JSON.parse(tern(addr, ['check', '--since', '15m', '--service', 'frontend', '--p95', '100ms', '--p99', '1s', '--error-rate', '5%', '--json']));
  await openView(page, base, '#/check?service=frontend&p95=100ms&p99=1s&errorRate=5%25', 'check');
  const verdict = await page.textContent('#check-verdict');
  assert.equal(verdict.startsWith('OK'), cliCheck.ok, 'tern check\'s verdict');
  const viol = await page.$$eval('#check-table tbody tr', (trs) => trs.filter((tr) => tr.cells[3].textContent === 'violated').map((tr) => [tr.cells[0].textContent, Number(tr.cells[2].dataset.v)]));
  assert.deepEqual(viol, cliCheck.violations.map((v) => [v.target, v.actual]), 'tern check\'s violations and actual values');
  // Compare.
  const cliCmp = JSON.parse(tern(addr, ['compare', '--since', '15m', '--service', 'frontend', '--baseline', 'version=1.0', '--current', 'version=2.0', '--json']));
  await openView(page, base, '#/service/frontend', 'service');
  await page.fill('#cmp-base', 'version=1.0');
  await page.fill('#cmp-cur', 'version=2.0');
  await page.click('#cmp-run');
  await page.waitForSelector('#cmp-out table');
  const rows = await page.$$eval('#cmp-out tbody tr', (trs) => trs.map((tr) => ({
    op: tr.cells[0].textContent, verdict: tr.lastChild.textContent,
    ch: [3, 4, 5, 6].map((i) => tr.cells[i].dataset.v === '' ? null : Number(tr.cells[i].dataset.v)),
  })));
  assert.deepEqual(rows, cliCmp.operations.map((e) => ({
    op: e.operation, verdict: e.verdict,
    ch: ['p50_ms', 'p95_ms', 'p99_ms', 'error_rate'].map((k) => e['change_pct_' + k]),
  })), 'tern compare\'s operations, changes and verdicts');
  // Critical path of the slowest trace.
  const id = traceId(N - 1);
  const text = tern(addr, ['trace', id]).split('\n').slice(2).filter(Boolean);
  const cliCrit = text.map((l) => l.slice(0, 52).trim()).filter((l) => l.startsWith('*')).map((l) => l.replace(/^\*\s*/, '')).sort();
  await openView(page, base, `#/trace/${id}`, 'trace');
  const crit = await page.$$eval('#waterfall .wf-row.critical .wf-label', (ls) => ls.map((l) => l.textContent.replace(/^◆/, '')));
  assert.deepEqual(crit.sort(), cliCrit, 'tern trace\'s critical path');
}

// ---- main ----------------------------------------------------------------

const dir = screenshotDir();
const ternd = await startTernd();
let browser;
let failed = false;
try {
  browser = await launchBrowser(pw);
  const page = await browser.ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const base = `http://${ternd.addrs.query}`;
  // An empty ternd: the page says what to do rather than fail.
  await openView(page, base, '#/', 'overview');
  assert.match(await page.textContent('#services-table'), /^No spans in this window/);
  await sendKnownData(ternd.addrs['otlp-http']);
  for (const [name, fn] of [['overview', checkOverview], ['service', checkService], ['traces', checkTraces],
    ['trace', checkTrace], ['dependencies', checkDeps], ['report', checkReport], ['check', checkSlo],
    ['same-as-cli', (p, b) => checkSameAsCli(p, b, ternd.addrs.query)],
    ['edge-errors', (p, b, d) => checkEdgeErrors(p, b, d, ternd.addrs['otlp-http'])]]) {
    try {
      await fn(page, base, dir);
      console.log(`ok ${name}`);
    } catch (e) {
      failed = true;
      console.log(`FAIL ${name}: ${e.message}`);
      await shoot(page, dir, `${name}-failed`).catch(() => {});
    }
  }
  if (errors.length) { failed = true; console.log(`FAIL page errors: ${errors.join('; ')}`); }
} finally {
  if (browser) await browser.close();
  const end = await ternd.stop();
  if (end !== 0) { failed = true; console.log(`FAIL ternd did not exit cleanly: ${end}`); }
}
process.exit(failed ? 1 : 0);
