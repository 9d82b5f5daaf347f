#!/usr/bin/env bash
# The whole test suite, in stages with stated time budgets. This is the
# README's test command and what .ci/run calls. On a fresh Debian 12
# machine, as root: bash tests/ci.sh
#
# Stages (budgets are hard limits, enforced with timeout(1)):
#   1. deps       install Debian packages                        10 min
#   2. build      autogen, configure --enable-debug, make         5 min
#   3. check      make check: unit + real-Kafka integration      15 min
#   4. asan       ASan+UBSan build: unit tests + integration      15 min
#                 subsets (VSAMPD_IT_PROFILE=asan)
#   5. valgrind   every unit suite under valgrind, no leaks       10 min
#   6. fuzz       every libFuzzer target 60 s, then its           15 min
#                 regression inputs (clang, --enable-fuzzing)
#   7. distcheck  make distcheck (unit tests only)               10 min
# The run ends with one summary line "total: N passed, M failed" over
# every stage's test results, and exits non-zero on any failure.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
out=${VSAMPD_CI_DIR:-$top/_ci}
mkdir -p "$out"
passed=0
failed=0
stage_failed=0

log() { printf '\n=== %s ===\n' "$*"; }

# Add automake's counts from a test-suite.log-style summary.
count() {
	local f=$1 p e
	[ -f "$f" ] || return 0
	p=$(sed -n 's/^# PASS: *\([0-9]*\)/\1/p' "$f" | tail -n 1)
	e=$(sed -n 's/^# \(FAIL\|ERROR\|XPASS\): *\([0-9]*\)/\2/p' "$f" |
		awk '{s+=$1} END {print s+0}')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${e:-0}))
}

stage() {
	local name=$1 budget=$2
	shift 2
	log "$name (budget ${budget}s)"
	local t0=$SECONDS
	if timeout --kill-after=30 "$budget" "$@"; then
		echo "stage $name: ok in $((SECONDS - t0))s"
		return 0
	fi
	echo "stage $name: FAILED after $((SECONDS - t0))s"
	stage_failed=$((stage_failed + 1))
	return 1
}

stage deps 600 bash tests/scripts/deps.sh || { echo "total: 0 passed, 1 failed"; exit 1; }

build() {
	./autogen.sh >/dev/null &&
	mkdir -p "$out/debug" && cd "$out/debug" &&
	"$top/configure" --enable-debug -q &&
	make -s -j"$jobs"
}
if ! stage build 300 bash -c "$(declare -f build); top='$top' out='$out' jobs=$jobs build"; then
	echo "total: $passed passed, $((failed + 1)) failed"
	exit 1
fi

check() {
	cd "$out/debug" && make -s -j"$jobs" check
	local rc=$?
	[ $rc -ne 0 ] && cat tests/*.log tests/*/*.log 2>/dev/null | tail -n 200
	return $rc
}
stage check 900 bash -c "$(declare -f check); out='$out' jobs=$jobs check"
count "$out/debug/test-suite.log"

asan() {
	mkdir -p "$out/asan" && cd "$out/asan" &&
	"$top/configure" --enable-asan --enable-debug CC=clang -q &&
	make -s -j"$jobs" &&
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	VSAMPD_IT_PROFILE=asan make -s -j"$jobs" check
	local rc=$?
	[ $rc -ne 0 ] && cat tests/*.log tests/*/*.log 2>/dev/null | tail -n 200
	return $rc
}
stage asan 900 bash -c "$(declare -f asan); top='$top' out='$out' jobs=$jobs asan"
count "$out/asan/test-suite.log"

# Every Check suite of the debug build under valgrind (no fork, so the
# leaks of a test are its own); one pass or fail per suite.
valgrind_stage() {
	local t rc n=0 bad=0
	cd "$out/debug" || return 1
	for t in tests/unit/check_*; do
		case $t in *.o | *.log | *.trs) continue ;; esac
		[ -x "$t" ] || continue
		n=$((n + 1))
		if CK_FORK=no CK_DEFAULT_TIMEOUT=600 valgrind -q \
			--leak-check=full --errors-for-leak-kinds=definite,indirect \
			--error-exitcode=3 "$t" >"$t.valgrind.log" 2>&1; then
			echo "PASS: valgrind $t"
		else
			rc=$?
			echo "FAIL: valgrind $t (exit $rc)"
			tail -n 40 "$t.valgrind.log"
			bad=$((bad + 1))
		fi
	done
	echo "valgrind: $((n - bad)) passed, $bad failed"
	[ $bad -eq 0 ]
}
if stage valgrind 600 bash -c "$(declare -f valgrind_stage); out='$out' valgrind_stage" \
	>"$out/valgrind.out" 2>&1; then
	:
fi
cat "$out/valgrind.out"
p=$(sed -n 's/^valgrind: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out/valgrind.out")
f=$(sed -n 's/^valgrind: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out/valgrind.out")
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-1}))

# libFuzzer: a clang build with --enable-fuzzing, each target for 60 s
# on a copy of its seed corpus, then its regression inputs.
fuzz() {
	mkdir -p "$out/fuzz" && cd "$out/fuzz" &&
	"$top/configure" --enable-fuzzing CC=clang -q &&
	make -s -j"$jobs" tests/fuzz/fuzz_job tests/fuzz/fuzz_reply \
	    tests/fuzz/fuzz_conf tests/fuzz/fuzz_openai tests/fuzz/fuzz_result &&
	bash "$top/tests/fuzz/run.sh" 60 "$out/fuzz" | tee "$out/fuzz/fuzz.log"
	return "${PIPESTATUS[0]}"
}
stage fuzz 900 bash -c "$(declare -f fuzz); top='$top' out='$out' jobs=$jobs fuzz"
p=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$out/fuzz/fuzz.log" 2>/dev/null)
f=$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$out/fuzz/fuzz.log" 2>/dev/null)
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-1}))

distcheck() {
	cd "$out/debug" &&
	VSAMPD_IT_PROFILE=skip make -s distcheck \
		DISTCHECK_CONFIGURE_FLAGS=--enable-debug >/dev/null
}
if stage distcheck 600 bash -c "$(declare -f distcheck); out='$out' distcheck"; then
	passed=$((passed + 1))
else
	failed=$((failed + 1))
fi

echo
echo "stages failed: $stage_failed"
if [ $stage_failed -gt 0 ] && [ $failed -eq 0 ]; then
	failed=$stage_failed
fi
echo "total: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $stage_failed -eq 0 ]
