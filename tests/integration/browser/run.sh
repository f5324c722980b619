#!/bin/sh
# Runs a browser test (SCRIPT.mjs, then its arguments). Exits 77 (skip)
# without node or this folder's node_modules; the script itself skips
# without /usr/bin/chromium. Under valgrind it skips: memcheck would wrap
# node and chromium, not ternd.
[ -n "${TERN_UNDER_VALGRIND:-}" ] && exit 77
here=$(dirname "$0")
if ! command -v node >/dev/null 2>&1; then
	echo "skip: node is not on PATH"
	exit 77
fi
# serve.mjs needs node alone.
if [ "$1" != serve.mjs ] && [ ! -d "$here/node_modules/playwright-core" ]; then
	echo "skip: no $here/node_modules/playwright-core (scripts/setup --test installs it)"
	exit 77
fi
script=$1
shift
exec node "$here/$script" "$@"
