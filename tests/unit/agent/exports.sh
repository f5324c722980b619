#!/bin/sh
# libtern.so exports exactly the functions its public headers declare:
# nothing of its internals (tern__*), of util/ or of the OTLP encoder and
# nanopb linked into it, and every declared function is there. It also
# carries only the sending half of proto/: no JSON codec, no decoder.
#   exports.sh NM LIBTERN.so HEADER...
set -eu
nm=$1 lib=$2
shift 2
tmp=$(mktemp -d /tmp/tern-exports-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

"$nm" -D --defined-only "$lib" | awk '{ print $NF }' | sort -u > "$tmp/exported"
# a declaration starts its line with the return type, and the name sits
# right before the line's first '('
sed -n 's/^[a-z][^(]*[ *]\(tern_[a-z][a-z0-9_]*\)(.*/\1/p' "$@" | sort -u > "$tmp/declared"

test -s "$tmp/declared" || { echo "no declarations found in $*"; exit 1; }
fail=0
extra=$(comm -23 "$tmp/exported" "$tmp/declared")
if [ -n "$extra" ]; then
	echo "exported but not declared in the public headers:"
	echo "$extra" | sed 's/^/  /'
	fail=1
fi
missing=$(comm -13 "$tmp/exported" "$tmp/declared")
if [ -n "$missing" ]; then
	echo "declared in the public headers but not exported:"
	echo "$missing" | sed 's/^/  /'
	fail=1
fi
# every symbol, local ones included: what was linked in at all
if "$nm" "$lib" | awk '{ print $NF }' | grep -E '^(json_|otlp_decode_proto$|otlp_decode_json$|otlp_encode_json$|otlp__encode_proto_nanopb$)'; then
	echo "libtern links more of proto/ than it sends with (above)"
	fail=1
fi
echo "$(wc -l < "$tmp/exported") symbols exported, $(wc -l < "$tmp/declared") declared"
exit $fail
