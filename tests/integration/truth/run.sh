#!/bin/sh
# Runs the ground-truth test (truth.mjs) with the truth-agent binary ($1).
# It needs node and the OpenTelemetry JS SDK that scripts/setup --test
# installs into tests/integration/js/node_modules; without them: skip (77).
# Under `meson test --setup valgrind` memcheck would wrap this sh and the
# run needs ternd at full speed for its timing (children exported seconds
# before their parents, a 5 s settle time): skip.
if [ -n "${TERN_UNDER_VALGRIND:-}" ]; then
	echo "skip: the ground-truth test times exports in seconds; too slow under valgrind"
	exit 77
fi
here=$(dirname "$0")
if ! command -v node >/dev/null 2>&1; then
	echo "skip: node is not on PATH"
	exit 77
fi
modules="$here/../js/node_modules"
if [ ! -d "$modules/@opentelemetry/sdk-trace-base" ] ||
	[ ! -d "$modules/@opentelemetry/exporter-trace-otlp-grpc" ]; then
	echo "skip: no OpenTelemetry JS SDK in $modules (scripts/setup --test installs it)"
	exit 77
fi
exec node "$here/truth.mjs" "$@"
