// One OpenTelemetry JS SDK service, driven line by line on stdin by the
// ground-truth test (truth.mjs): the same commands as truth-agent (agent.c),
// so the driver treats libtern and the SDK alike. Spans are made by the
// SDK's tracer (ids from the SDK, start and end times given as HrTime so
// their durations are exact) and exported by the SDK's own OTLP exporter
// when the driver says so.
//
// usage: node sdk_agent.mjs SERVICE grpc|http-proto|http-json URL
//
//   B KEY KIND NAME PARENT   begin span KEY, OTLP kind KIND (1..5), parent
//                            PARENT (traceparent, or -)  -> C KEY TRACEPARENT
//   E KEY DUR_NS ERR         end KEY DUR_NS after its start -> e KEY
//   F TIMES                  export every span ended since the last F, TIMES
//                            times in a row (2: a duplicate export); a
//                            failed export is retried until it succeeds
//                            (ternd may be restarting)   -> F OK SPANS ATTEMPTS
//   R                        export the last F's spans once more (a resend
//                            after a crash)             -> F OK SPANS ATTEMPTS
//   Q                        shut the exporter down      -> Q 0 0 0
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

// The SDK is installed once for the JS tests, in tests/integration/js/
// (scripts/setup --test); resolve the packages from there.
const require = createRequire(new URL('../js/package.json', import.meta.url));
const { ROOT_CONTEXT, trace, SpanStatusCode } = require('@opentelemetry/api');
const { ExportResultCode } = require('@opentelemetry/core');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const {
  BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor,
} = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter: GrpcExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { OTLPTraceExporter: ProtoExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { OTLPTraceExporter: JsonExporter } = require('@opentelemetry/exporter-trace-otlp-http');

const [service, protocol, url] = process.argv.slice(2);
const makers = {
  grpc: () => new GrpcExporter({ url }),
  'http-proto': () => new ProtoExporter({ url }),
  'http-json': () => new JsonExporter({ url }),
};
if (!service || !makers[protocol] || !url) {
  console.error('usage: node sdk_agent.mjs SERVICE grpc|http-proto|http-json URL');
  process.exit(2);
}

const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
  resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.0.0' }),
  spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer('tern-truth', '0.1.0');
const exporter = makers[protocol]();
const live = new Map(); // key -> { span, startNs }
let last = [];

const NS = 1000000000n;
const hr = (ns) => [Number(ns / NS), Number(ns % NS)];
const nowNs = () => BigInt(Date.now()) * 1000000n + BigInt(Math.floor(Math.random() * 1e6));

function parentContext(tp) {
  if (tp === '-') return ROOT_CONTEXT;
  const [, traceId, spanId] = tp.split('-');
  return trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: 1, isRemote: true });
}

function exportOnce(spans) {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

// Exports spans until ternd takes them: the retry an exporter does when
// its collector is down (the SDK's own retries give up after a few).
async function exportRetrying(spans) {
  let attempts = 0;
  const deadline = Date.now() + 60000;
  for (;;) {
    attempts++;
    const r = await exportOnce(spans);
    if (r.code === ExportResultCode.SUCCESS) return attempts;
    if (Date.now() > deadline) {
      console.error(`sdk_agent ${service}: export failed for 60 s: ${r.error}`);
      return -attempts;
    }
    await new Promise((res) => setTimeout(res, 300));
  }
}

async function flush(times) {
  const spans = memory.getFinishedSpans().slice();
  memory.reset();
  last = spans;
  let attempts = 0;
  for (let i = 0; i < times; i++) {
    const a = await exportRetrying(spans);
    if (a < 0) return `F 0 ${spans.length} ${-a}`;
    attempts += a;
  }
  return `F 1 ${spans.length} ${attempts}`;
}

async function handle(line) {
  const f = line.trim().split(/\s+/);
  switch (f[0]) {
    case 'B': {
      const [, key, kind, name, parent] = f;
      const startNs = nowNs();
      // OTLP kinds 1..5 are the API's SpanKind 0..4 (the SDK cannot send 0).
      const span = tracer.startSpan(name, { kind: Number(kind) - 1, startTime: hr(startNs) },
        parentContext(parent));
      live.set(key, { span, startNs });
      const c = span.spanContext();
      return `C ${key} 00-${c.traceId}-${c.spanId}-01`;
    }
    case 'E': {
      const [, key, dur, err] = f;
      const { span, startNs } = live.get(key);
      live.delete(key);
      if (err === '1') span.setStatus({ code: SpanStatusCode.ERROR, message: 'truth: planned error' });
      span.end(hr(startNs + BigInt(dur)));
      return `e ${key}`;
    }
    case 'F':
      return flush(Number(f[1] || 1));
    case 'R': {
      const a = await exportRetrying(last);
      return `F ${a > 0 ? 1 : 0} ${last.length} ${Math.abs(a)}`;
    }
    case 'Q':
      await exporter.shutdown();
      await provider.shutdown();
      return 'Q 0 0 0';
    default:
      return '? bad command';
  }
}

// Commands run one after another, in order.
let chain = Promise.resolve();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  chain = chain.then(async () => {
    const out = await handle(line);
    process.stdout.write(out + '\n');
    if (out.startsWith('Q')) process.exit(0);
  });
});
rl.on('close', () => chain.then(() => process.exit(0)));
