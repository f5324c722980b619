// An independent OpenTelemetry client against a real ternd: the OpenTelemetry
// JS SDK's own OTLP exporters (gRPC, HTTP/protobuf, HTTP/JSON, each with and
// without gzip) send spans, and each export must come back SUCCESS. ternd's
// /metrics must then count exactly the spans sent, with none rejected.
//
// Usage: TERND=/path/to/ternd node otel_sdk.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';

import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';

const TERND = process.env.TERND;
if (!TERND) {
  console.error('otel_sdk: set TERND to the ternd binary');
  process.exit(2);
}

// Starts ternd on free ports; resolves with the process and its addresses
// once it has printed a `listening NAME HOST:PORT` line for all three.
function startTernd(dataDir) {
  return new Promise((resolve, reject) => {
    const proc = spawn(TERND, [
      '--otlp-grpc', '127.0.0.1:0', '--otlp-http', '127.0.0.1:0',
      '--query', '127.0.0.1:0', '--data', dataDir,
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    const addrs = {};
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('ternd did not print its listening lines within 20 s'));
    }, 20000);
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`ternd exited early: code ${code} signal ${sig}`));
    });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const m = /^listening (\S+) (\S+)$/.exec(line);
      if (!m) return;
      addrs[m[1]] = m[2];
      if (addrs['otlp-grpc'] && addrs['otlp-http'] && addrs.query) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        resolve({ proc, addrs });
      }
    });
  });
}

function stopTernd(proc) {
  return new Promise((resolve) => {
    proc.on('exit', (code, sig) => resolve({ code, sig }));
    proc.kill('SIGTERM');
  });
}

// Makes `n` finished spans the SDK's way: a SERVER root with CLIENT and
// INTERNAL children, attributes of every type, an event, a link, an error.
function makeSpans(label, n) {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      'service.name': `js-${label}`, 'service.version': '1.2.3',
    }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
  });
  const tracer = provider.getTracer('tern-js-test', '0.1.0');
  let made = 0;
  while (made < n) {
    const root = tracer.startSpan(`GET /${label}`, {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET', 'http.response.status_code': 200,
        'sampled.ratio': 0.5, 'cache.hit': true, 'tags': ['a', 'b'],
      },
    });
    made++;
    const ctx = trace.setSpan(context.active(), root);
    for (let i = 0; i < 3 && made < n; i++, made++) {
      const child = tracer.startSpan(`child-${i}`, {
        kind: i === 0 ? SpanKind.CLIENT : SpanKind.INTERNAL,
        links: [{ context: root.spanContext(), attributes: { why: 'test' } }],
      }, ctx);
      child.addEvent('work', { step: i });
      if (i === 2) child.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
      child.end();
    }
    root.end();
  }
  return memory.getFinishedSpans();
}

function exportOnce(exporter, spans) {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

async function metric(queryAddr, name) {
  const res = await fetch(`http://${queryAddr}/metrics`);
  assert.equal(res.status, 200, '/metrics status');
  const text = await res.text();
  // Sum every series of the metric (labels differ by protocol and so on).
  let sum = 0;
  let seen = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^(\S+?)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) {
      sum += Number(m[3]);
      seen = true;
    }
  }
  assert.ok(seen, `metric ${name} not found in /metrics`);
  return sum;
}

const cases = [
  ['grpc', (a) => new GrpcExporter({ url: `http://${a['otlp-grpc']}` })],
  ['grpc-gzip', (a) => new GrpcExporter({ url: `http://${a['otlp-grpc']}`, compression: 'gzip' })],
  ['http-proto', (a) => new ProtoExporter({ url: `http://${a['otlp-http']}/v1/traces` })],
  ['http-proto-gzip', (a) => new ProtoExporter({ url: `http://${a['otlp-http']}/v1/traces`, compression: 'gzip' })],
  ['http-json', (a) => new JsonExporter({ url: `http://${a['otlp-http']}/v1/traces` })],
  ['http-json-gzip', (a) => new JsonExporter({ url: `http://${a['otlp-http']}/v1/traces`, compression: 'gzip' })],
];

const dataDir = mkdtempSync(join(tmpdir(), 'tern-js-'));
let failed = 0;
let passed = 0;
const { proc, addrs } = await startTernd(dataDir);
try {
  let sent = 0;
  for (const [label, make] of cases) {
    const exporter = make(addrs);
    const spans = makeSpans(label, 200);
    const result = await exportOnce(exporter, spans);
    await exporter.shutdown();
    if (result.code === ExportResultCode.SUCCESS) {
      console.log(`ok - ${label}: ${spans.length} spans exported`);
      passed++;
      sent += spans.length;
    } else {
      console.log(`not ok - ${label}: ${result.error}`);
      failed++;
    }
  }
  const accepted = await metric(addrs.query, 'ternd_spans_accepted_total');
  const rejected = await metric(addrs.query, 'ternd_spans_rejected_total');
  if (accepted === sent && rejected === 0) {
    console.log(`ok - /metrics counts ${accepted} accepted, 0 rejected`);
    passed++;
  } else {
    console.log(`not ok - /metrics: accepted ${accepted} (sent ${sent}), rejected ${rejected}`);
    failed++;
  }
} finally {
  const { code, sig } = await stopTernd(proc);
  if (code === 0) {
    console.log('ok - ternd exited 0 on SIGTERM');
    passed++;
  } else {
    console.log(`not ok - ternd exit: code ${code} signal ${sig}`);
    failed++;
  }
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
