#!/bin/bash
# layering.sh: the rules of the source tree's layout that a compiler does
# not check (docs/architecture.md), as a TAP test:
#   - no cycle among the project's headers;
#   - the leaf modules (LEAF_SOURCES in Makefile.am) include, directly or
#     through our headers, no librdkafka, libcurl or libmicrohttpd header;
#   - the pipeline's files include no backend dialect (openai.h,
#     anthropic.h, dialect.h) and no HTTP client (http.h);
#   - nothing in the repository points at a design document outside it.
set -u
top=${VSAMPD_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - $1"
	printf '%s\n' "$2" | sed 's/^/# /'
}

# The project headers a file includes ("name.h" that exists in include/
# or beside the file).
includes() {
	local dir
	dir=$(dirname "$1")
	sed -n 's/^#include "\([^"]*\)".*/\1/p' "$1" | while read -r h; do
		if [ -f "$dir/$h" ]; then
			echo "$dir/$h"
		elif [ -f "include/$h" ]; then
			echo "include/$h"
		fi
	done
}

# Every header reachable from $1, depth first; a cycle is reported on
# stdout as "cycle: a -> b -> a".
declare -A state
walk() {
	local f=$1 path=$2 h
	state[$f]=grey
	for h in $(includes "$f"); do
		case ${state[$h]:-white} in
		grey) echo "cycle: $path -> $h" ;;
		white) walk "$h" "$path -> $h" ;;
		esac
	done
	state[$f]=black
}
cycles=$(for h in include/*.h src/*.h; do
	[ -f "$h" ] || continue
	[ "${state[$h]:-white}" = white ] && walk "$h" "$h"
done)
if [ -z "$cycles" ]; then
	ok "no include cycle among the project's headers"
else
	not_ok "no include cycle among the project's headers" "$cycles"
fi

# Everything a file includes, through our headers.
closure() {
	local seen="" todo="$1" f h
	while [ -n "$todo" ]; do
		set -- $todo
		f=$1
		shift
		todo="$*"
		case " $seen " in *" $f "*) continue ;; esac
		seen="$seen $f"
		for h in $(includes "$f"); do todo="$todo $h"; done
	done
	echo "$seen"
}
leaves=$(sed -n '/^LEAF_SOURCES = /,/^[^\t]/p' Makefile.am |
	grep -o 'src/[a-z0-9_]*\.c')
bad=""
for c in $leaves; do
	for f in $(closure "$c"); do
		if grep -En '^#include <(librdkafka/|curl/|microhttpd\.h)' \
		    "$f" >/dev/null; then
			bad="$bad$c (through $f)"$'\n'
		fi
	done
done
if [ -n "$leaves" ] && [ -z "$bad" ]; then
	ok "$(echo "$leaves" | wc -w) leaf modules include no librdkafka, libcurl or libmicrohttpd header"
else
	not_ok "the leaf modules include no librdkafka, libcurl or libmicrohttpd header" \
	    "${bad:-no LEAF_SOURCES found in Makefile.am}"
fi

dialect=$(grep -En '^#include "(openai|anthropic|dialect|http)\.h"' \
    src/pipeline*.c src/pipeline_int.h include/pipeline.h 2>/dev/null)
if [ -n "$dialect" ]; then
	not_ok "the pipeline includes no dialect and no HTTP client" "$dialect"
else
	ok "the pipeline includes no dialect and no HTTP client"
fi

pat='DESIGN\.md|STYLE\.md|\.\./'shared
hits=$(grep -rEn "$pat" README.md docs conf src include tests systemd \
    configure.ac Makefile.am 2>/dev/null)
if [ -z "$hits" ]; then
	ok "nothing in the repository points at a document outside it"
else
	not_ok "nothing in the repository points at a document outside it" "$hits"
fi

echo "1..$n"
[ "$failed" -eq 0 ]
