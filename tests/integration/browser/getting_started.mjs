// docs/getting-started.md, followed step by step: start ternd, run the
// demo services (examples/shop) with the commands the page gives, send its
// requests, open the web page and find the demo's traces by clicking the
// names the page tells a reader to click. Ports: ternd and the shop run on
// free ports, mapped from the page's fixed ones.
//
// Usage: TERND=... node getting_started.mjs SCREENSHOT_DIR build/examples/shop
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { launchBrowser, loadPlaywright, openView, screenshotDir, shoot, skip, startTernd } from './lib.mjs';

const pw = loadPlaywright();
const here = dirname(fileURLToPath(import.meta.url));
const doc = readFileSync(join(here, '..', '..', '..', 'docs', 'getting-started.md'), 'utf8');
const SHOP = process.argv[3];
if (!SHOP || !existsSync(SHOP)) skip(`no shop binary at '${SHOP}' (built with -Dexamples=true)`);

// Step 2's commands: role, port, and the port of the next service.
const shops = [...doc.matchAll(/^build\/examples\/shop (\w+)\s+--port (\d+)(?: --next 127\.0\.0\.1:(\d+))? &$/gm)]
  .map((m) => ({ role: m[1], port: m[2], next: m[3] }));
assert.deepEqual(shops.map((s) => s.role), ['pricing', 'inventory', 'gateway'], 'step 2 starts the three services');
// Step 3's loop: how many requests to which port and path.
const loop = /seq 1 (\d+)\); do curl -s http:\/\/127\.0\.0\.1:(\d+)(\/item\/)\$i/.exec(doc);
assert.ok(loop, 'step 3 has the request loop');
const [nreq, reqPort, reqPath] = [Number(loop[1]), loop[2], loop[3]];
// Steps 4 and 5 name what to click.
for (const name of ['**Overview**', '**shop-gateway**', '**Traces**', '**Search**', '**Dependencies**'])
  assert.ok(doc.includes(name), `the page names ${name}`);

function startShop(s, portMap, grpc) {
  const args = [s.role, '--port', '0'];
  if (s.next) args.push('--next', `127.0.0.1:${portMap[s.next]}`);
  const proc = spawn(SHOP, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: `http://${grpc}` },
  });
  return new Promise((resolve, reject) => {
    proc.on('exit', (code) => reject(new Error(`shop ${s.role} exited: ${code}`)));
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /^listening (\d+)$/.exec(line);
      if (m) { proc.removeAllListeners('exit'); portMap[s.port] = m[1]; resolve(proc); }
    });
  });
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const dir = screenshotDir();
// Step 1: ternd.
const ternd = await startTernd();
const procs = [];
let browser;
let failed = false;
try {
  // Step 2: the three services, in the page's order.
  const portMap = {};
  for (const s of shops) procs.push(await startShop(s, portMap, ternd.addrs['otlp-grpc']));
  // Step 3: the requests, then kill: each flushes its spans.
  for (let i = 1; i <= nreq; i++) {
    const r = await get(portMap[reqPort], reqPath + i);
    assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.body}`);
  }
  // Callers first (kill %3; kill %2; kill %1), each flushed before the next.
  assert.match(doc, /kill %3; sleep 1; kill %2; sleep 1; kill %1/);
  while (procs.length) {
    const p = procs.pop();
    await new Promise((res) => { p.on('exit', res); p.kill('SIGTERM'); });
  }

  // Step 4: open the page; the overview lists the three services.
  browser = await launchBrowser(pw);
  const page = await browser.ctx.newPage();
  const base = `http://${ternd.addrs.query}`;
  await openView(page, base, '', 'overview');
  const services = await page.$$eval('#services-table tbody tr', (trs) => trs.map((tr) => [tr.cells[0].textContent, tr.cells[1].textContent]));
  assert.deepEqual(services.map((s) => s[0]).sort(), ['shop-gateway', 'shop-inventory', 'shop-pricing']);
  assert.equal(services.find((s) => s[0] === 'shop-gateway')[1], String(nreq), 'gateway calls = the requests sent');
  await shoot(page, dir, 'getting-started-overview');
  await page.click('#services-table a:text-is("shop-gateway")');
  await page.waitForFunction(() => document.body.dataset.ready === 'service');

  // Step 5: Traces, service shop-gateway, Search, then one trace.
  await page.click('nav a:text-is("Traces")');
  await page.waitForFunction(() => document.body.dataset.ready === 'traces');
  await page.selectOption('#tr-service', 'shop-gateway');
  await page.waitForFunction(() => document.body.dataset.ready === 'traces' && document.querySelector('#tr-service').value === 'shop-gateway');
  await page.click('#trace-search button:text-is("Search")');
  await page.waitForFunction(() => document.body.dataset.ready === 'traces');
  const rows = await page.$$eval('#trace-results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(rows.length, Math.min(nreq, 20), 'a page of the demo traces (limit 20)');
  for (const r of rows) {
    assert.match(r[0], /^shop-gateway: GET gateway/);
    assert.equal(r[2], '5', 'five spans a request');
    assert.equal(r[3], '3', 'three services a request');
  }
  await shoot(page, dir, 'getting-started-traces');
  await page.click('#trace-results tbody tr:first-child a');
  await page.waitForFunction(() => document.body.dataset.ready === 'trace');
  assert.equal(await page.getAttribute('#span-count', 'data-v'), '5');
  const crit = await page.$$eval('#waterfall .wf-row.critical', (rs) => rs.length);
  assert.equal(crit, 5, 'a chain of calls: every span is on the critical path');
  await shoot(page, dir, 'getting-started-trace');
  await openView(page, base, '#/deps', 'deps');
  const edges = await page.$$eval('#dep-table tbody tr', (trs) => trs.map((tr) => `${tr.cells[0].textContent}>${tr.cells[1].textContent}:${tr.cells[2].textContent}`));
  assert.deepEqual(edges.sort(), [`shop-gateway>shop-inventory:${nreq}`, `shop-inventory>shop-pricing:${nreq}`]);
  await shoot(page, dir, 'getting-started-dependencies');
  console.log('ok getting-started');
} catch (e) {
  failed = true;
  console.log(`FAIL getting-started: ${e.stack || e.message}`);
} finally {
  for (const p of procs) p.kill('SIGKILL');
  if (browser) await browser.close();
  const end = await ternd.stop();
  if (end !== 0) { failed = true; console.log(`FAIL ternd did not exit cleanly: ${end}`); }
}
process.exit(failed ? 1 : 0);
