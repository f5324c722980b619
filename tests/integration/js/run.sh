#!/bin/sh
# Runs the OpenTelemetry JS SDK test. Under `meson test --setup valgrind`
# this script is what memcheck wraps: node would run under it too, which
# checks node, not ternd, and takes a minute; skip (77) instead.
[ -n "${TERN_UNDER_VALGRIND:-}" ] && exit 77
exec node "$(dirname "$0")/otel_sdk.mjs"
