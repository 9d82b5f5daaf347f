#!/bin/bash
# run.sh SECONDS [BUILDDIR]: run every libFuzzer target of a build made
# with --enable-fuzzing (CC=clang) for SECONDS each, then replay the
# regression inputs of tests/fuzz/regress/<name>/ through it.
#
# Each target fuzzes a scratch copy of its seed corpus
# (tests/fuzz/corpus/<name>/), so runs never write into the source tree.
# Per target one line "fuzz_job: 123456 execs in 60 s, 0 crashes" from
# libFuzzer's final stats, and at the end "fuzz: N passed, M failed" (N
# targets that ran clean). Exits non-zero when a target crashed, leaked,
# timed out, is missing, or a regression input fails. A failed target's
# log and crash inputs are kept (the path is printed).
#
# SECONDS 0 only replays the seeds and the regression inputs, once each.
# BUILDDIR defaults to the current directory. FUZZ_TARGETS="job conf"
# limits the run to those targets.
set -u

usage() {
	echo "usage: $0 SECONDS [BUILDDIR]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
secs=$1
case $secs in
'' | *[!0-9]*) usage ;;
esac
build=$(cd "${2:-.}" && pwd) || exit 2
src=$(cd "$(dirname "$0")" && pwd)
targets=${FUZZ_TARGETS:-job reply conf openai result}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/vsampd-fuzz.XXXXXX") || exit 2
keep=0
cleanup() {
	if [ "$keep" = 0 ]; then
		rm -rf "$scratch"
	fi
}
trap cleanup EXIT

# Abort on the first error so that libFuzzer saves the input; leak
# detection stays on. UBSan is built with -fno-sanitize-recover.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$src/lsan.supp:\
print_suppressions=0}"

passed=0
failed=0
for t in $targets; do
	name=fuzz_$t
	bin=$build/tests/fuzz/$name
	work=$scratch/$t
	ok=1
	if [ ! -x "$bin" ]; then
		echo "$name: not built ($bin missing)"
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$work/corpus" "$work/artifacts"
	if [ -d "$src/corpus/$t" ]; then
		cp -R "$src/corpus/$t/." "$work/corpus/"
	fi
	maxlen=65536
	[ "$t" = conf ] && maxlen=16384

	if [ "$secs" -gt 0 ]; then
		start=$(date +%s)
		# stdin from /dev/null: no input may make a target wait
		# (a config can name /dev/stdin as a key file).
		"$bin" -max_total_time="$secs" -rss_limit_mb=2048 \
		    -max_len="$maxlen" -timeout=30 -print_final_stats=1 \
		    -artifact_prefix="$work/artifacts/" "$work/corpus" \
		    </dev/null >"$work/log" 2>&1
		rc=$?
		elapsed=$(($(date +%s) - start))
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' \
		    "$work/log" | tail -n 1)
		if [ -z "$execs" ]; then
			# No final stats (killed?): the last status line.
			execs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' \
			    "$work/log" | tail -n 1)
		fi
		crashes=$(find "$work/artifacts" -type f | wc -l)
		if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
			crashes=1
		fi
		echo "$name: ${execs:-0} execs in $elapsed s, $crashes crashes"
		if [ "$crashes" -ne 0 ]; then
			ok=0
			echo "$name: exit status $rc; end of the log:"
			grep -E 'ERROR|SUMMARY|fuzz_[a-z]*:|Test unit written' \
			    "$work/log" | head -n 20 | sed 's/^/    /'
			tail -n 40 "$work/log" | sed 's/^/    /'
			for a in "$work"/artifacts/*; do
				[ -f "$a" ] || continue
				echo "$name: input $(basename "$a") (base64):"
				head -c 4096 "$a" | base64 | sed 's/^/    /'
			done
		fi
	else
		# Replay the seeds once.
		n=0
		for f in "$work"/corpus/*; do
			[ -f "$f" ] || continue
			n=$((n + 1))
			if ! "$bin" -rss_limit_mb=2048 -timeout=30 "$f" \
			    </dev/null >"$work/seed.log" 2>&1; then
				ok=0
				echo "$name: seed $(basename "$f") fails:"
				tail -n 30 "$work/seed.log" | sed 's/^/    /'
			fi
		done
		echo "$name: $n seeds replayed"
	fi

	# Every input a fuzzer ever found stays a regression test.
	nreg=0
	nbad=0
	if [ -d "$src/regress/$t" ]; then
		for f in "$src/regress/$t"/*; do
			[ -f "$f" ] || continue
			nreg=$((nreg + 1))
			if ! "$bin" -rss_limit_mb=2048 -timeout=30 "$f" \
			    </dev/null >"$work/regress.log" 2>&1; then
				ok=0
				nbad=$((nbad + 1))
				echo "$name: regression input $(basename "$f") fails:"
				tail -n 30 "$work/regress.log" | sed 's/^/    /'
			fi
		done
	fi
	if [ "$nreg" -gt 0 ]; then
		echo "$name: $nreg regression inputs, $nbad failed"
	fi

	if [ "$ok" = 1 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		keep=1
		echo "$name: FAILED (log and inputs kept in $work)"
	fi
done

echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
