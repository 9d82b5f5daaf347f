#!/bin/bash
# alerts.sh: the alerting rules of docs/vsampd-alerts.yml, as a TAP test:
#   - promtool check rules accepts the file;
#   - promtool test rules runs tests/data/alerts/vsampd-alerts.test.yml,
#     in which every alert fires on its case, with its severity and
#     annotations, and stays quiet below its threshold or its `for`;
#   - every query of docs/grafana-dashboard.json (panels and variables)
#     is PromQL that parses, once Grafana's variables are filled in.
# promtool comes with Debian's prometheus package (tests/scripts/deps.sh);
# without it the test is skipped. check_docs checks that the rules name
# only metrics vsampd exports, and that each has a severity and a summary.
set -u
srcdir=${VSAMPD_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
rules=$srcdir/docs/vsampd-alerts.yml
cases=$srcdir/tests/data/alerts/vsampd-alerts.test.yml
promtool=${PROMTOOL:-$(command -v promtool)}
if [ -z "$promtool" ] || [ ! -x "$promtool" ]; then
	# A TAP skip: tap-driver.sh would count an exit status of 77 as an
	# error.
	echo "1..0 # SKIP promtool not installed (Debian package prometheus)"
	exit 0
fi
n=0 failed=0
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.rules"' EXIT
# run NAME CMD...: ok when CMD exits 0; its output as diagnostics if not.
run() {
	local name=$1
	shift
	n=$((n + 1))
	if "$@" >"$tmp" 2>&1; then
		echo "ok $n - $name"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name"
		sed 's/^/# /' "$tmp"
	fi
}
run "promtool check rules docs/vsampd-alerts.yml" \
	"$promtool" check rules "$rules"
run "promtool test rules: every alert fires on its case and only then" \
	"$promtool" test rules "$cases"
# The dashboard's queries as recording rules, for promtool to parse.
/usr/bin/python3 - "$srcdir/docs/grafana-dashboard.json" >"$tmp.rules" <<'PY'
import json, re, sys

d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
for v in d["templating"]["list"]:
    q = v.get("query")
    m = re.match(r"label_values\((.*), *\w+\)$",
                 q.get("query", "") if isinstance(q, dict) else "")
    if m:
        exprs.append(m.group(1))
print("groups:\n  - name: dashboard\n    rules:")
for i, e in enumerate(exprs):
    e = e.replace("$__rate_interval", "5m")
    e = re.sub(r"\$\w+", ".*", e)
    print("      - record: dashboard:q%d" % i)
    print("        expr: %s" % json.dumps(e))
PY
run "every query of docs/grafana-dashboard.json parses as PromQL" \
	"$promtool" check rules "$tmp.rules"
rm -f "$tmp.rules"
echo "1..$n"
[ "$failed" -eq 0 ]
