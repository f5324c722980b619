// ternd serves the web page's files byte for byte as collector/web/ has
// them, with their content types, at / and /web/NAME; other paths stay
// the API's 404, and the API still answers beside the page. Needs only
// node (no browser).
//
// Usage: TERND=/path/to/ternd node serve.mjs
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startTernd } from './lib.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'collector', 'web');
const ternd = await startTernd();
let failed = false;
try {
  const base = `http://${ternd.addrs.query}`;
  const cases = [
    ['/', 'index.html', 'text/html; charset=utf-8'],
    ['/web/index.html', 'index.html', 'text/html; charset=utf-8'],
    ['/web/app.js', 'app.js', 'text/javascript; charset=utf-8'],
    ['/web/app.css', 'app.css', 'text/css; charset=utf-8'],
  ];
  for (const [path, file, type] of cases) {
    const r = await fetch(base + path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers.get('content-type'), type, path);
    assert.equal(r.headers.get('cache-control'), 'no-cache', path);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(readFileSync(join(web, file))), `${path} is ${file} byte for byte`);
  }
  for (const path of ['/web/', '/web/nope.js', '/web/embed.c', '/index.html', '/webapp.js']) {
    const r = await fetch(base + path);
    assert.equal(r.status, 404, path);
  }
  const post = await fetch(base + '/', { method: 'POST', body: 'x' });
  assert.equal(post.status, 404, 'POST / is no page');
  assert.equal((await fetch(base + '/api/services')).status, 200, 'the API beside the page');
  console.log('ok serve');
} catch (e) {
  failed = true;
  console.log(`FAIL serve: ${e.stack || e.message}`);
} finally {
  const end = await ternd.stop();
  if (end !== 0) { failed = true; console.log(`FAIL ternd did not exit cleanly: ${end}`); }
}
process.exit(failed ? 1 : 0);
