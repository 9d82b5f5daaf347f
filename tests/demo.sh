#!/usr/bin/env bash
# The README's first command: install what is missing, build, then run
# vsampd end to end on sample jobs (tests/demo.py). As root on Debian 12.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tests/deps.sh
build=${VSAMPD_DEMO_BUILD:-$top/_build}
if [ ! -x "$build/src/vsampd" ] || [ -n "$(find src include -newer "$build/src/vsampd" -print -quit)" ]; then
	echo "building vsampd in $build ..."
	[ -x configure ] || ./autogen.sh >/dev/null
	mkdir -p "$build"
	(cd "$build" && { [ -f Makefile ] || "$top/configure" -q; } && make -s -j"$(nproc)" src/vsampd)
fi
VSAMPD_BUILDDIR=$build VSAMPD_SRCDIR=$top exec /usr/bin/python3 tests/demo.py
