#!/bin/sh
# Runs the OpenTelemetry JS SDK test. Under `meson test --setup valgrind`
# this script is what memcheck wraps: node would run under it too, which
# checks node, not ternd, and takes a minute; skip (77) instead.
[ -n "${TERN_UNDER_VALGRIND:-}" ] && exit 77
here=$(dirname "$0")
if ! command -v node >/dev/null 2>&1; then
	echo "skip: node is not on PATH"
	exit 77
fi
if [ ! -d "$here/node_modules/@opentelemetry" ]; then
	echo "skip: no $here/node_modules (scripts/setup installs it)"
	exit 77
fi
exec node "$here/otel_sdk.mjs"
