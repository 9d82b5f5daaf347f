#!/bin/bash
# usage.sh: the command lines of vsampd and vsampctl that need no broker,
# as vsampd(8) and vsampctl(1) describe them, as a TAP test:
#   - -h prints the usage to stdout and exits 0 (vsampctl: --help too);
#   - an unknown option or a stray argument prints it to stderr, exit 1
#     (vsampctl: 2);
#   - -V prints the version;
#   - -n on the sample config prints every key and "configuration OK",
#     and -n refuses a cooperative assignor, naming the property.
set -u
builddir=${VSAMPD_BUILDDIR:-$(pwd)}
srcdir=${VSAMPD_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
vsampd=$builddir/src/vsampd
vsampctl=$builddir/src/vsampctl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - $1"
	printf '%s\n' "$2" | sed 's/^/# /'
}
# check NAME WANT_STATUS WANT_STDOUT_RE WANT_STDERR_RE CMD...: the status
# and a line of each stream (an empty pattern: the stream is empty).
check() {
	local name=$1 want=$2 out_re=$3 err_re=$4 rc good=1
	shift 4
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ "$rc" -eq "$want" ] || good=0
	if [ -n "$out_re" ]; then
		grep -Eq -- "$out_re" "$tmp/out" || good=0
	else
		[ ! -s "$tmp/out" ] || good=0
	fi
	if [ -n "$err_re" ]; then
		grep -Eq -- "$err_re" "$tmp/err" || good=0
	else
		[ ! -s "$tmp/err" ] || good=0
	fi
	if [ $good -eq 1 ]; then
		ok "$name"
	else
		not_ok "$name" "status $rc (want $want)
stdout: $(head -c 400 "$tmp/out")
stderr: $(head -c 400 "$tmp/err")"
	fi
}

check "vsampd -h: the usage on stdout, status 0" 0 \
	'^usage: vsampd \[-dhnvV\] \[-f file\]' '' "$vsampd" -h
check "vsampd -h lists every option" 0 '^  -n ' '' "$vsampd" -h
check "vsampd -x: the usage on stderr, status 1" 1 \
	'' '^usage: vsampd ' "$vsampd" -x
check "vsampd with a stray argument: the usage on stderr, status 1" 1 \
	'' '^usage: vsampd ' "$vsampd" stray
check "vsampd -V prints the version" 0 '^vsampd [0-9]' '' "$vsampd" -V
check "vsampd -n on the sample config: configuration OK" 0 \
	'^configuration OK$' '' "$vsampd" -n -f "$srcdir/conf/vsampd.conf"
check "vsampd -n prints the keys not set as comments" 0 \
	'^	# dlq_topic: not set$' '' "$vsampd" -n -f "$srcdir/conf/vsampd.conf"

cat >"$tmp/coop.conf" <<'EOF'
kafka = { brokers = "127.0.0.1:9092";
	consumer = { partition_assignment_strategy = "cooperative-sticky"; }; };
backends = ( { name = "a"; url = "http://127.0.0.1:8080/v1"; } );
EOF
check "vsampd -n refuses a cooperative assignor, naming it" 1 '' \
	'partition_assignment_strategy: vsampd needs an eager assignor' \
	"$vsampd" -n -f "$tmp/coop.conf"

check "vsampctl -h: the usage on stdout, status 0" 0 '^usage: vsampctl ' '' \
	"$vsampctl" -h
check "vsampctl --help: the usage on stdout, status 0" 0 '^usage: vsampctl ' \
	'' "$vsampctl" --help
check "vsampctl run -h: its usage on stdout, status 0" 0 \
	'^usage: vsampctl run ' '' "$vsampctl" run -h
check "vsampctl with an unknown command: the usage on stderr, status 2" 2 \
	'' 'usage: vsampctl ' "$vsampctl" frobnicate

echo "1..$n"
[ "$failed" -eq 0 ]
