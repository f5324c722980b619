#!/bin/sh
# with_python.sh [-m MODULE]... [-p PROGRAM]... SCRIPT [ARGS...]
#
# Runs SCRIPT with Debian's /usr/bin/python3 (the python3 first on PATH
# may lack grpcio and protobuf), or exits 77, meson's skip, saying why,
# when that interpreter, one of the Python MODULEs or one of the PROGRAMs
# on PATH is missing. So the Python tests are always registered and a
# machine without the tools shows them as skipped, not absent.
#
# Under `meson test --setup valgrind` memcheck wraps this sh, not Python.
py=/usr/bin/python3
if [ ! -x "$py" ]; then
	echo "skip: $py is not installed"
	exit 77
fi
while [ $# -gt 0 ]; do
	case "$1" in
	-m)
		"$py" -c "import $2" 2>/dev/null || {
			echo "skip: $py cannot import $2"
			exit 77
		}
		shift 2 ;;
	-p)
		command -v "$2" >/dev/null 2>&1 || {
			echo "skip: $2 is not on PATH"
			exit 77
		}
		shift 2 ;;
	*) break ;;
	esac
done
exec "$py" "$@"
