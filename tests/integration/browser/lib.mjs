// What the browser tests share: a real ternd on free ports, Debian's
// chromium driven by playwright-core (never a downloaded browser), and
// screenshots under the build directory.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function skip(why) {
  console.log(`skip: ${why}`);
  process.exit(77);
}

// playwright-core from this folder's node_modules (scripts/setup --test
// runs npm ci here), or a skip with the reason.
export function loadPlaywright() {
  if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install chromium; scripts/setup --test)`);
  try {
    return createRequire(import.meta.url)('playwright-core');
  } catch {
    return skip('playwright-core is not installed (scripts/setup --test runs npm ci in tests/integration/browser)');
  }
}

// A fresh profile each run (--user-data-dir through playwright's
// persistent context, which is how playwright takes that flag).
export async function launchBrowser(pw) {
  const profile = mkdtempSync(join(tmpdir(), 'tern-chromium-'));
  const ctx = await pw.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS,
    viewport: { width: 1440, height: 900 }, timezoneId: 'UTC', locale: 'en-GB',
  });
  return {
    ctx,
    close: async () => { await ctx.close(); rmSync(profile, { recursive: true, force: true }); },
  };
}

// Starts ternd (extra: more arguments); resolves once it printed its
// `listening NAME HOST:PORT` lines. stop() sends SIGTERM and resolves with
// 0 for a clean exit, or how it ended (a sanitizer's report exits 1).
export function startTernd(extra = []) {
  const TERND = process.env.TERND;
  if (!TERND) skip('TERND is not set (run through meson test)');
  const dataDir = mkdtempSync(join(tmpdir(), 'tern-web-'));
  return new Promise((resolve, reject) => {
    const proc = spawn(TERND, [
      '--otlp-grpc', '127.0.0.1:0', '--otlp-http', '127.0.0.1:0', '--query', '127.0.0.1:0',
      '--data', dataDir, ...extra,
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    const addrs = {};
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error('ternd did not start within 20 s')); }, 20000);
    proc.on('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`ternd exited early: ${code} ${sig}`)); });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /^listening (\S+) (\S+)$/.exec(line);
      if (!m) return;
      addrs[m[1]] = m[2];
      if (addrs['otlp-grpc'] && addrs['otlp-http'] && addrs.query) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        resolve({
          proc, addrs,
          stop: () => new Promise((res) => {
            proc.on('exit', (code, sig) => { rmSync(dataDir, { recursive: true, force: true }); res(code === 0 ? 0 : `code ${code} signal ${sig}`); });
            proc.kill('SIGTERM');
          }),
        });
      }
    });
  });
}

export function screenshotDir() {
  const dir = process.argv[2] || join(process.cwd(), 'browser-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

// Loads hash on the page and waits until the view says it is drawn.
export async function openView(page, base, hash, view) {
  await page.evaluate(() => { document.body.dataset.ready = 'loading'; }).catch(() => {});
  await page.goto(`${base}/${hash}`);
  await page.waitForFunction((v) => document.body.dataset.ready === v, view, { timeout: 15000 });
}

export async function shoot(page, dir, name) {
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${name}: ${path}`);
  return path;
}
