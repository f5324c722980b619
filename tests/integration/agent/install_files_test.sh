#!/bin/sh
# Installs the build into a temporary DESTDIR and checks what an operator
# gets besides libtern (agent-install checks that): ternd and tern in
# bindir and nothing else there, ternd(8) and tern(1) rendered without
# warnings, ternd.service hardened and pointing at the installed ternd and
# config (and, when systemd-analyze is here, clean by `verify` and with an
# exposure level of at most 2.0 by `security --offline`), and the sample
# ternd.yaml in datadir/tern/ and sysconfdir, where a second install keeps
# an edited copy.
#   install_files_test.sh BUILD BINDIR MANDIR SYSCONFDIR UNITDIR DATADIR
# (absolute paths under the prefix, as meson will install them)
set -eu
# Nothing of ours runs under valgrind here (sh, meson, groff, systemd).
if [ "${TERN_UNDER_VALGRIND:-}" = 1 ]; then exit 77; fi
build=$1 bindir=$2 mandir=$3 sysconfdir=$4 unitdir=$5 datadir=$6
tmp=$(mktemp -d /tmp/tern-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
d=$tmp/root
meson install -C "$build" --destdir "$d" --no-rebuild --quiet >/dev/null
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# The two programs, and no test or example program beside them.
got=$(cd "$d$bindir" && ls | tr '\n' ' ')
[ "$got" = "tern ternd " ] || bad "$bindir holds '$got', want 'tern ternd '"
for exe in ternd tern; do
	out=$("$d$bindir/$exe" --help) || bad "installed $exe --help failed"
	case "$out" in "usage: $exe "*) ;; *) bad "installed $exe --help: $out" ;; esac
done

# Man pages, with every @VARIABLE@ filled in.
for page in man8/ternd.8 man1/tern.1; do
	f=$d$mandir/$page
	[ -f "$f" ] || { bad "$mandir/$page not installed"; continue; }
	! grep -n '@[A-Z]*@' "$f" || bad "$page: unfilled @VARIABLE@"
	if command -v groff >/dev/null; then
		w=$(groff -man -ww -z "$f" 2>&1) || bad "$page: groff failed"
		[ -z "$w" ] || bad "$page: groff warns: $w"
	fi
done
grep -q "$sysconfdir/ternd.yaml" "$d$mandir/man8/ternd.8" || bad "ternd.8 does not name $sysconfdir/ternd.yaml"

# The sample config, and an operator's edited one kept by a reinstall.
sample=$d$datadir/tern/ternd.yaml conf=$d$sysconfdir/ternd.yaml
[ -f "$sample" ] || bad "$datadir/tern/ternd.yaml not installed"
if [ ! -f "$conf" ]; then
	bad "$sysconfdir/ternd.yaml not installed"
else
	cmp -s "$sample" "$conf" || bad "$sysconfdir/ternd.yaml differs from the sample"
	echo "log-level: warn # edited" >>"$conf"
	meson install -C "$build" --destdir "$d" --no-rebuild --quiet >/dev/null
	grep -q "# edited" "$conf" || bad "a second meson install overwrote the edited $sysconfdir/ternd.yaml"
fi

# The unit.
u=$d$unitdir/ternd.service
if [ ! -f "$u" ]; then
	bad "$unitdir/ternd.service not installed"
else
	want_exec="ExecStart=$bindir/ternd --config $sysconfdir/ternd.yaml --data /var/lib/ternd"
	grep -qx "$want_exec" "$u" || bad "ternd.service: no line '$want_exec'"
	for line in DynamicUser=yes StateDirectory=ternd Restart=on-failure \
		NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
		CapabilityBoundingSet= WantedBy=multi-user.target; do
		grep -qx "$line" "$u" || bad "ternd.service: no line '$line'"
	done
	if command -v systemd-analyze >/dev/null; then
		# verify checks ExecStart's program exists: point it into DESTDIR.
		sed "s|^ExecStart=$bindir/|ExecStart=$d$bindir/|" "$u" >"$tmp/ternd.service"
		w=$(systemd-analyze verify --man=no "$tmp/ternd.service" 2>&1) ||
			bad "systemd-analyze verify failed: $w"
		[ -z "$w" ] || bad "systemd-analyze verify: $w"
		e=$(systemd-analyze security --offline=yes "$tmp/ternd.service" 2>&1 | grep 'Overall exposure') || true
		echo "systemd-analyze security: $e"
		systemd-analyze security --offline=yes --threshold=20 "$tmp/ternd.service" >/dev/null 2>&1 ||
			bad "ternd.service exposure above 2.0: $e"
	else
		echo "no systemd-analyze: unit checked by grep only"
	fi
fi

[ $fail = 0 ] && echo "installed: ternd, tern, ternd.8, tern.1, ternd.service, ternd.yaml"
exit $fail
