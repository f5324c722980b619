#!/bin/sh
# Installs the build into a temporary DESTDIR and builds a tiny program
# against the installed libtern the way a user would:
#   cc prog.c $(pkg-config --cflags --libs tern)
set -eu
# Nothing of ours runs in this process (it is sh, meson and cc): under
# valgrind it would only check sh, so skip there.
if [ "${TERN_UNDER_VALGRIND:-}" = 1 ]; then exit 77; fi
build=$1
sanitize=${2:-none}
cc=${CC:-cc}
# a sanitized libtern needs the program linked with the same runtime
san_flags=
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then san_flags="-fsanitize=$sanitize"; fi
tmp=$(mktemp -d /tmp/tern-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
meson install -C "$build" --destdir "$tmp" --no-rebuild --quiet >/dev/null
pc=$(find "$tmp" -name tern.pc | head -n 1)
test -n "$pc" || { echo "tern.pc not installed"; exit 1; }
prefix=$(sed -n 's/^prefix=//p' "$pc")
test -f "$tmp$prefix/include/tern.h" || { echo "tern.h not installed"; exit 1; }
pkgc() { PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$tmp$prefix" "$@"; }
# tern.h includes only libc headers: a program needs nothing but the
# include directory (no grpc, absl or json-c flags)
cflags=$(pkgc --cflags tern)
test "$(echo $cflags)" = "-I$tmp$prefix/include" ||
	{ echo "pkg-config --cflags tern: '$cflags', want only -I$tmp$prefix/include"; exit 1; }
cflags=$(pkgc --cflags tern-profile)
test "$(echo $cflags)" = "-I$tmp$prefix/include" ||
	{ echo "pkg-config --cflags tern-profile: '$cflags', want only -I$tmp$prefix/include"; exit 1; }
flags=$(pkgc --cflags --libs tern)
echo "pkg-config --cflags --libs tern: $flags"
cat > "$tmp/prog.c" <<'PROG'
#include <tern.h>
#include <stdio.h>
int main(void)
{
	struct tern_options o;
	tern_options_default(&o);
	o.export_enabled = false;
	o.sampler = TERN_SAMPLER_ALWAYS_ON;
	if (tern_init(&o) != 0)
		return 1;
	{
		TERN_SPAN_SCOPE(s, "installed", TERN_KIND_INTERNAL);
		tern_span_set_int(&s, "answer", 42);
	}
	struct tern_stats st;
	int ok = tern_flush(5000) == 0 && tern_stats_get("installed", &st) == 0 && st.count == 1;
	tern_shutdown(5000);
	puts(ok ? "installed libtern works" : "installed libtern failed");
	return ok ? 0 : 1;
}
PROG
# shellcheck disable=SC2086
"$cc" -Wall -Wextra -Werror $san_flags "$tmp/prog.c" -o "$tmp/prog" $flags
libdir=$(dirname "$(find "$tmp" -name 'libtern.so' | head -n 1)")
LD_LIBRARY_PATH=$libdir "$tmp/prog"
