#!/usr/bin/env bash
# systemd.sh: checks of the systemd unit (systemd/vsampd.service.in).
#
# TAP output, run by automake's tap-driver.sh from `make check`. The unit is
# generated from the template as make does, with ExecStart pointing at the
# built daemon (systemd-analyze verify wants an existing executable), then:
# verify must say nothing about it, "systemd-analyze security" must rate it
# at 2.0 or lower, and the settings the design fixes (docs/operations.md
# and docs/delivery.md) must be there. The checks that need
# systemd-analyze (Debian package systemd) are skipped without it.
#
# VSAMPD_BUILDDIR and VSAMPD_SRCDIR come from the test harness; by hand:
#	VSAMPD_BUILDDIR=_build VSAMPD_SRCDIR=. bash tests/scripts/systemd.sh
set -u

srcdir=${VSAMPD_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${VSAMPD_BUILDDIR:-$(pwd)}
template=$srcdir/systemd/vsampd.service.in
conf=$srcdir/conf/vsampd.conf
max_exposure=2.0

n=0
failed=0
echo "1..13"

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# Print lines (stdin) as TAP diagnostics.
diag() {
	sed 's/^/# /'
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vsampd-systemd.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
unit=$tmp/vsampd.service

# The last assignment of a key wins, as in systemd (an empty one resets it,
# which the checks below then see as empty).
prop() {
	sed -n "s/^[[:space:]]*$1=//p" "$unit" | tail -n 1 | sed 's/[[:space:]]*$//'
}

# A systemd time span ("45s", "1min 30s", "45", "90000ms") in whole
# seconds on stdout; nothing when it cannot be read.
seconds() {
	echo "$1" | awk '
	{
		s = $0; gsub(/[[:space:]]+/, "", s)
		if (s == "" || s == "infinity") exit
		total = 0
		while (s != "") {
			if (!match(s, /^[0-9]+(\.[0-9]+)?/)) exit
			v = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
			match(s, /^[a-z]*/)
			u = substr(s, 1, RLENGTH); s = substr(s, RLENGTH + 1)
			if (u == "" || u ~ /^(s|sec|second|seconds)$/) f = 1
			else if (u ~ /^(ms|msec)$/) f = 0.001
			else if (u ~ /^(us|usec)$/) f = 0.000001
			else if (u ~ /^(m|min|minute|minutes)$/) f = 60
			else if (u ~ /^(h|hr|hour|hours)$/) f = 3600
			else exit
			total += v * f
		}
		printf "%d\n", total
	}'
}

# 1. Generate the unit the way make does (the same two sed expressions).
if [ -f "$template" ] &&
	sed -e "s|@sbindir[@]|$builddir/src|g" \
	    -e "s|@sysconfdir[@]|$tmp/etc|g" "$template" >"$unit" &&
	! grep -q '@[a-z_]*@' "$unit"; then
	mkdir -p "$tmp/etc/vsampd" && cp "$conf" "$tmp/etc/vsampd/vsampd.conf"
	ok "unit generated from $template"
else
	not_ok "unit generated from $template"
	grep -n '@[a-z_]*@' "$unit" 2>/dev/null | diag
fi

have_analyze=0
command -v systemd-analyze >/dev/null 2>&1 && have_analyze=1
export SYSTEMD_COLORS=0 SYSTEMD_PAGER=cat

# Lines of "systemd-analyze verify" output that are about the unit under
# test. verify also loads the units this one names (network-online.target,
# multi-user.target) and the host's default dependencies, and may log about
# the machine itself (in a container without systemd as PID 1: nothing on
# Debian 12's systemd 252, but other hosts log about missing /run/systemd
# or cgroups). Those lines are printed as diagnostics but do not fail the
# test; every line naming vsampd.service, or the generated file, does.
verify() {
	# --man=no: the man pages in Documentation= are not installed at
	# build time, and verify would fail on "man vsampd(8)".
	systemd-analyze verify --man=no "$1" >"$tmp/verify.out" 2>&1
	echo $? >"$tmp/verify.rc"
	grep -F -e vsampd.service -e "$1" "$tmp/verify.out" \
		>"$tmp/verify.ours"
	grep -v -F -e vsampd.service -e "$1" "$tmp/verify.out" \
		>"$tmp/verify.noise"
}

# 2. verify: no complaint about the unit, and a zero exit status (it is
# non-zero only for errors in the units given, such as a missing
# ExecStart binary).
if [ $have_analyze -eq 0 ]; then
	skip "systemd-analyze verify is clean" "no systemd-analyze"
else
	verify "$unit"
	if [ ! -s "$tmp/verify.ours" ] && [ "$(cat "$tmp/verify.rc")" = 0 ]
	then
		ok "systemd-analyze verify is clean"
	else
		not_ok "systemd-analyze verify is clean (exit $(cat "$tmp/verify.rc"))"
		diag <"$tmp/verify.ours"
	fi
	[ -s "$tmp/verify.noise" ] && diag <"$tmp/verify.noise"
fi

# 3. The filter above still sees real problems: a copy with an unknown key
# must be reported.
if [ $have_analyze -eq 0 ]; then
	skip "systemd-analyze verify reports a broken copy" "no systemd-analyze"
else
	mkdir -p "$tmp/broken"
	sed 's/^Type=notify$/Type=notify\nTypo=notify/' "$unit" \
		>"$tmp/broken/vsampd.service"
	verify "$tmp/broken/vsampd.service"
	if grep -q Typo "$tmp/verify.ours"; then
		ok "systemd-analyze verify reports a broken copy"
	else
		not_ok "systemd-analyze verify reports a broken copy"
		diag <"$tmp/verify.out"
	fi
fi

# 4. Exposure level of systemd-analyze security, 0.0 (best) to 10.0.
if [ $have_analyze -eq 0 ]; then
	skip "exposure level at most $max_exposure" "no systemd-analyze"
else
	systemd-analyze security --offline=true --no-pager "$unit" \
		>"$tmp/security.out" 2>&1
	level=$(sed -n 's/.*Overall exposure level for [^:]*: *\([0-9][0-9.]*\).*/\1/p' \
		"$tmp/security.out" | tail -n 1)
	if [ -z "$level" ]; then
		not_ok "exposure level at most $max_exposure (no level found)"
		diag <"$tmp/security.out"
	else
		echo "# exposure $level"
		if awk -v l="$level" -v m="$max_exposure" \
		    'BEGIN { exit !(l + 0 <= m + 0) }'; then
			ok "exposure level at most $max_exposure"
		else
			not_ok "exposure level at most $max_exposure"
			# The settings that cost something.
			grep '✗' "$tmp/security.out" | diag
		fi
	fi
fi

# 5. TimeoutStopSec covers the whole stop, budget by budget (the table
#    in docs/operations.md): the drain (shutdown_timeout_ms), the
#    producer flush (5 s), the consumer close (10 s), and 10 s for the
#    final dedup save and the last exactly-once transaction.
shutdown_ms=$(sed -n 's/^[[:space:]]*shutdown_timeout_ms[[:space:]]*=[[:space:]]*\([0-9]*\)L\{0,1\}[[:space:]]*;.*/\1/p' \
	"$conf" | tail -n 1)
shutdown_ms=${shutdown_ms:-30000}
need=$(((shutdown_ms + 999) / 1000 + 5 + 10 + 10))
stop=$(prop TimeoutStopSec)
stop_s=$(seconds "$stop")
if [ -n "$stop_s" ] && [ "$stop_s" -ge "$need" ]; then
	ok "TimeoutStopSec=$stop is at least ${need}s (drain $shutdown_ms ms + flush 5 s + close 10 s + save and commit 10 s)"
else
	not_ok "TimeoutStopSec=${stop:-(unset)} is at least ${need}s (drain $shutdown_ms ms + flush 5 s + close 10 s + save and commit 10 s)"
fi

# 6-9. Settings the design fixes.
expect() {
	local key=$1 want=$2 got
	got=$(prop "$key")
	if [[ "$got" =~ ^($want)$ ]]; then
		ok "$key=$got"
	else
		not_ok "$key=${got:-(unset)}, want $want"
	fi
}
expect LimitNOFILE '65536|65536:65536'
expect Type notify
expect Restart on-failure
expect StateDirectory vsampd

# 10. The template's paths were substituted where make will substitute
# them (compared as strings: the paths may hold regex characters).
start=$(prop ExecStart)
if [ "$start" = "$builddir/src/vsampd -f $tmp/etc/vsampd/vsampd.conf" ]; then
	ok "ExecStart runs the built daemon on the generated config path"
else
	not_ok "ExecStart=${start:-(unset)}"
fi

# 11-13. The template unit (vsampd@.service), made from the unit as make
# makes it: verify is clean for an instance, the exposure is the same,
# and each instance has its own config and state directory.
sed -f "$srcdir/systemd/vsampd@.sed" "$unit" >"$tmp/vsampd@.service" &&
	cp "$tmp/vsampd@.service" "$tmp/vsampd@a.service" &&
	cp "$conf" "$tmp/etc/vsampd/a.conf"
tunit=$tmp/vsampd@a.service
if [ $have_analyze -eq 0 ]; then
	skip "template: systemd-analyze verify is clean" "no systemd-analyze"
	skip "template: exposure level at most $max_exposure" "no systemd-analyze"
else
	verify "$tunit"
	if [ "$(cat "$tmp/verify.rc")" = 0 ] &&
		! grep -q -F vsampd@ "$tmp/verify.out"; then
		ok "template: systemd-analyze verify is clean for vsampd@a"
	else
		not_ok "template: systemd-analyze verify is clean for vsampd@a"
		diag <"$tmp/verify.out"
	fi
	level=$(systemd-analyze security --offline=true --no-pager "$tunit" 2>&1 |
		sed -n 's/.*Overall exposure level for [^:]*: *\([0-9][0-9.]*\).*/\1/p' |
		tail -n 1)
	if [ -n "$level" ] && awk -v l="$level" -v m="$max_exposure" \
	    'BEGIN { exit !(l + 0 <= m + 0) }'; then
		ok "template: exposure level $level at most $max_exposure"
	else
		not_ok "template: exposure level ${level:-(none)} at most $max_exposure"
	fi
fi
if grep -qx "ExecStart=$builddir/src/vsampd -f $tmp/etc/vsampd/%i.conf" "$tunit" &&
	grep -qx 'StateDirectory=vsampd/%i' "$tunit" &&
	grep -qx 'Type=notify' "$tunit"; then
	ok "template: ExecStart on %i.conf, StateDirectory=vsampd/%i, the rest as the unit"
else
	not_ok "template: ExecStart on %i.conf, StateDirectory=vsampd/%i"
	grep -e ExecStart -e StateDirectory "$tunit" | diag
fi

if [ $failed -gt 0 ]; then
	echo "# $failed of $n failed"
	exit 1
fi
exit 0
