#!/usr/bin/env bash
# The README's first command: install what is missing (Debian packages,
# the local model, the embeddings server), build, then run vsampd end to
# end on sample jobs against a real local model (tests/scripts/demo.py).
# As root on Debian 12. Results and the report go to ./demo-out.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
bash tests/scripts/deps.sh
build=${VSAMPD_DEMO_BUILD:-$top/_build}
if [ ! -x "$build/src/vsampd" ] || [ ! -x "$build/src/vsampctl" ] ||
	[ -n "$(find src include -newer "$build/src/vsampd" -print -quit)" ]; then
	echo "building vsampd in $build ..."
	[ -x configure ] || ./autogen.sh >/dev/null
	mkdir -p "$build"
	(cd "$build" && { [ -f Makefile ] || "$top/configure" -q; } &&
		make -s -j"$(nproc)" src/vsampd src/vsampctl)
fi
VSAMPD_BUILDDIR=$build VSAMPD_SRCDIR=$top exec /usr/bin/python3 tests/scripts/demo.py
