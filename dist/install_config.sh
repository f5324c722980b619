#!/bin/sh
# meson install script: put the sample config in place as the operator's
# config only when there is none yet, as a package manager treats a file
# under /etc. A reinstall must not overwrite an edited ternd.yaml; the
# pristine sample is always installed in datadir/tern/.
#   install_config.sh SAMPLE DEST      (both absolute; DESTDIR honoured)
set -eu
src=${DESTDIR:-}$1
dest=${DESTDIR:-}$2
say() { [ -n "${MESON_INSTALL_QUIET:-}" ] || echo "$@"; }
if [ -e "$dest" ]; then
	say "Keeping $dest (the sample is $src)"
else
	mkdir -p "$(dirname "$dest")"
	cp "$src" "$dest"
	chmod 0644 "$dest"
	say "Installing $src to $dest"
fi
