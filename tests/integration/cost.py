#!/usr/bin/env python3
"""Integration test: token and cost accounting.

The real vsampd against a real Kafka broker and the fake model, whose
usage is scripted, with a priced backend, a free one (price 0) and an
unpriced one:
  - usage.cost is exactly the float64 sum over the job's replies of
    prompt_tokens * price.prompt / 1e6 + completion_tokens *
    price.completion / 1e6, for one call, several calls and the turns
    of a conversation;
  - it is nil for a job on an unpriced backend, for a reply that
    reported no usage, and for a bad job; a free backend's is a real 0;
  - vsampd_cost_total{backend} exists from start at 0 for the priced
    profiles only, and equals the sum of their results' costs;
  - a reload (SIGHUP) applies a changed price and a new one to the jobs
    after it, and creates the newly priced profile's series;
  - vsampctl report and vsampctl export show the costs of the results.

TAP output. VSAMPD_IT_PROFILE=skip skips (distcheck: no broker).
"""

import csv
import io
import json
import math
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402  (may re-exec under /usr/bin/python3)
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()

USAGE_A = {"prompt_tokens": 1234, "completion_tokens": 567}
USAGE_B = {"prompt_tokens": 1000001, "completion_tokens": 333}
SCRIPT = {
    "a": {"usage": USAGE_A},
    "b": {"usage": USAGE_B},
    "none": {"usage": None},
}
PRICED = {"prompt": 2.5, "completion": 10.0}
PRICED_2 = {"prompt": 3.0, "completion": 12.5}
PLAIN_2 = {"prompt": 0.15, "completion": 0.6}
FREE = {"prompt": 0, "completion": 0}


def reply_cost(usage, price):
    """One reply's cost, as vsampd computes it (the same float64
    operations in the same order)."""
    return (usage["prompt_tokens"] * price["prompt"] / 1e6 +
            usage["completion_tokens"] * price["completion"] / 1e6)


def job_cost(replies):
    """A job's cost: the sum over (usage, price) replies, in order."""
    total = 0.0
    for usage, price in replies:
        total += reply_cost(usage, price)
    return total


def write_conf(path, brokers, url, port, reloaded=False):
    priced = vstest.backend("priced", url, max_retries=0,
                            price=PRICED_2 if reloaded else PRICED)
    plain = vstest.backend("plain", url, max_retries=0)
    if reloaded:
        plain["price"] = PLAIN_2
    free = vstest.backend("free", url, max_retries=0, price=FREE)
    return vstest.conf(
        path, brokers,
        kafka={"group_id": "vsampd-cost", "jobs_topic": "co.jobs",
               "results_topic": "co.results",
               "consumer": vstest.FAST_CONSUMER},
        backends=[priced, plain, free],
        defaults={"backend": "priced", "method": "direct"},
        metrics={"listen": "127.0.0.1:%d" % port})


def scrape(port):
    st, body = vstest.http_get("http://127.0.0.1:%d/metrics" % port)
    assert st == 200, (st, body)
    return body


def vsampctl(*args, stdin=None):
    p = subprocess.run([vstest.vsampctl_bin()] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def json_form(r):
    """A result (decoded from msgpack) as vsampctl prints it: the seed, a
    64-bit integer, as a decimal string."""
    pv = dict(r["provenance"])
    if pv.get("seed") is not None:
        pv["seed"] = str(pv["seed"])
    return dict(r, provenance=pv)


def main():
    if PROFILE == "skip":
        tap.skip("cost", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    script = vstest.scratch("cost-script-", ".json")
    with open(script, "w", encoding="utf-8") as f:
        json.dump(SCRIPT, f)
    kafka = vstest.Kafka().start()
    kafka.create_topics({"co.jobs": 2, "co.results": 2})
    fake = vstest.FakeModel(script=script).start()
    port = vstest.free_port()
    conf = write_conf(vstest.scratch("vsampd-cost-", ".conf"),
                      kafka.bootstrap, fake.url, port)
    d = vstest.vsampd(conf, name="vsampd-cost")

    m0 = vstest.parse_metrics(scrape(port))
    tap.ok(vstest.metric(m0, "vsampd_cost_total", backend="priced") == 0
           and vstest.metric(m0, "vsampd_cost_total", backend="free") == 0,
           "vsampd_cost_total: the priced profiles' series from start, at 0")
    tap.ok(vstest.metric(m0, "vsampd_cost_total", backend="plain") is None,
           "and none for the unpriced profile")

    A, B = USAGE_A, USAGE_B
    jobs = [
        # id, job, the replies it is paid for: (usage, price)
        ("co-one", {"prompt": "One %s" % vstest.marker("a"), "n": 1},
         [(A, PRICED)]),
        ("co-three", {"prompt": "Three %s" % vstest.marker("b"), "n": 3},
         [(B, PRICED)] * 3),
        ("co-vs", {"prompt": "Vs %s" % vstest.marker("a"),
                   "method": "vs_standard", "k": 4}, [(A, PRICED)]),
        ("co-turns", {"prompt": "Turns %s" % vstest.marker("b"),
                      "method": "multi_turn", "n": 2}, [(B, PRICED)] * 2),
        ("co-plain", {"prompt": "Plain %s" % vstest.marker("a"),
                      "backend": "plain", "n": 2}, None),
        ("co-free", {"prompt": "Free %s" % vstest.marker("a"),
                     "backend": "free", "n": 2}, [(A, FREE)] * 2),
        ("co-nousage", {"prompt": "None %s" % vstest.marker("none"),
                        "n": 1}, None),
        ("co-bad", {"prompt": "Bad", "k": "five"}, None),
    ]
    vstest.produce(kafka.bootstrap, "co.jobs",
                   [dict(j, id=i) for i, j, _ in jobs])
    results = vstest.Collector(kafka.bootstrap, "co.results")
    got = results.wait(keys={i for i, _, _ in jobs}, timeout=120)
    res = {i: got[i][-1].value for i in got}

    for i, job, paid in jobs:
        r = res[i]
        cost = r["usage"].get("cost", "absent")
        if paid is None:
            tap.ok(cost is None, "%s: usage.cost is nil" % i,
                   diag="cost %r, usage %r, error %r" %
                   (cost, r["usage"], r.get("error")))
            continue
        want = job_cost(paid)
        tap.ok(isinstance(cost, float) and cost == want,
               "%s: usage.cost is exactly %r" % (i, want),
               diag="cost %r, usage %r, error %r" %
               (cost, r["usage"], r.get("error")))
        tap.ok(r["usage"]["prompt_tokens"] ==
               sum(u["prompt_tokens"] for u, _ in paid) and
               r["usage"]["completion_tokens"] ==
               sum(u["completion_tokens"] for u, _ in paid) and
               r["usage"]["requests"] == len(paid),
               "%s: usage counts the tokens of its %d replies" %
               (i, len(paid)), diag=repr(r["usage"]))
    tap.ok(res["co-plain"]["status"] == "ok" and
           res["co-plain"]["usage"]["prompt_tokens"] ==
           2 * A["prompt_tokens"],
           "co-plain: ok, its tokens counted, only its cost unknown",
           diag=repr(res["co-plain"]["usage"]))
    tap.ok(res["co-free"]["usage"]["cost"] == 0.0,
           "co-free: a free backend's 0 is a real 0 (not nil)")
    tap.ok(res["co-bad"]["status"] == "error" and
           res["co-bad"]["usage"]["requests"] == 0,
           "co-bad: a bad job has no reply and nil cost")

    spent = sum(res[i]["usage"]["cost"] for i, j, paid in jobs
                if paid is not None and j.get("backend") is None)

    def metric_is(want, backend):
        """Whether the series is want, up to the order of the float64
        additions (replies of several jobs interleave), and its value."""
        m = vstest.parse_metrics(scrape(port))
        v = vstest.metric(m, "vsampd_cost_total", backend=backend)
        return v is not None and math.isclose(v, want, rel_tol=1e-12,
                                              abs_tol=0.0), v
    ok, v = metric_is(spent, "priced")
    tap.ok(ok, "vsampd_cost_total{backend=priced} is the sum of its "
           "results' usage.cost (%r)" % spent, diag="metric %r" % v)
    m1 = vstest.parse_metrics(scrape(port))
    tap.ok(vstest.metric(m1, "vsampd_cost_total", backend="free") == 0 and
           vstest.metric(m1, "vsampd_cost_total", backend="plain") is None,
           "the free backend counts 0, the unpriced one nothing",
           diag=repr([(k, x) for k, x in m1.items()
                      if k[0] == "vsampd_cost_total"]))

    # --- a reload: a new price for priced, a first one for plain ---------
    write_conf(conf, kafka.bootstrap, fake.url, port, reloaded=True)
    off = len(d.log_text())
    d.send_signal(signal.SIGHUP)
    with tap.step("SIGHUP: the new prices are applied"):
        d.wait_log(r"reload applied", timeout=20, start=off)
        d.wait_log(r"backends\[priced\]\.price\.prompt", timeout=5,
                   start=off)
    m2 = vstest.parse_metrics(scrape(port))
    tap.ok(vstest.metric(m2, "vsampd_cost_total", backend="plain") == 0,
           "the newly priced profile's series is created at 0")
    after = [
        ("co-after", {"prompt": "After %s" % vstest.marker("a"), "n": 2},
         [(A, PRICED_2)] * 2),
        ("co-plain-after", {"prompt": "Plain after %s" %
                            vstest.marker("b"), "backend": "plain", "n": 1},
         [(B, PLAIN_2)]),
    ]
    vstest.produce(kafka.bootstrap, "co.jobs",
                   [dict(j, id=i) for i, j, _ in after])
    got = results.wait(keys={i for i, _, _ in after}, timeout=120)
    for i, _, paid in after:
        r = got[i][-1].value
        want = job_cost(paid)
        tap.ok(r["usage"].get("cost") == want,
               "%s: usage.cost at the reloaded price, exactly %r" %
               (i, want), diag=repr(r["usage"]))
        res[i] = r
    spent2 = spent + res["co-after"]["usage"]["cost"]
    ok, v = metric_is(spent2, "priced")
    tap.ok(ok, "vsampd_cost_total{backend=priced} adds the jobs at the "
           "new price", diag="metric %r, want %r" % (v, spent2))
    ok, v = metric_is(res["co-plain-after"]["usage"]["cost"], "plain")
    tap.ok(ok, "and plain counts its first priced job",
           diag="metric %r" % v)
    tap.is_(d.stop(), 0, "vsampd exits 0")

    # --- vsampctl report and export on these results ---------------------
    lines = "".join(json.dumps(json_form(r)) + "\n" for r in res.values())
    rc, out, err = vsampctl("report", "-j", "-g", "backend", stdin=lines)
    tap.is_(rc, 0, "vsampctl report -j -g backend exits 0")
    try:
        groups = {g["group"]: g for g in json.loads(out)}
    except ValueError:
        groups = {}
    priced_costs = [r["usage"]["cost"] for r in res.values()
                    if r["backend"] == "priced" and
                    r["usage"]["cost"] is not None]
    pg = groups.get("priced", {})
    tap.ok(pg.get("cost") is not None and
           math.isclose(pg["cost"], sum(priced_costs), rel_tol=1e-5) and
           pg.get("cost_n") == len(priced_costs) and
           math.isclose(pg.get("cost_per_ok") or -1,
                        sum(priced_costs) / len(priced_costs),
                        rel_tol=1e-5),
           "report -j: the priced group's total cost, its n and the mean "
           "per ok result", diag=repr(pg))
    plain = groups.get("plain", {})
    tap.ok("cost" in plain and plain.get("cost_n") == 1 and
           math.isclose(plain.get("cost") or -1,
                        res["co-plain-after"]["usage"]["cost"],
                        rel_tol=1e-5),
           "report -j: a group with one priced result of two counts it",
           diag=repr(plain))
    nob = groups.get("-", {})
    tap.ok(nob.get("cost") is None and nob.get("cost_n") == 0 and
           nob.get("cost_per_ok") is None,
           "report -j: a group without a priced result has cost null",
           diag=repr(nob))
    rc, out, err = vsampctl("report", "-g", "backend", stdin=lines)
    head = out.splitlines()[0].split() if out else []
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[1:]
            if ln.strip() and not ln.startswith(" ")}
    ci = head.index("cost") if "cost" in head else None
    tap.ok(rc == 0 and ci is not None and rows.get("-", [])[ci:ci + 1] ==
           ["-"] and
           math.isclose(float(rows.get("priced", ["0"] * 20)[ci]),
                        sum(priced_costs), rel_tol=1e-4),
           "report: a cost column, \"-\" for a group without a price",
           diag=out)
    unpriced = "".join(json.dumps(json_form(r)) + "\n" for r in res.values()
                       if r["usage"].get("cost") is None)
    rc, out, err = vsampctl("report", stdin=unpriced)
    tap.ok(rc == 0 and "cost" not in out.splitlines()[0],
           "report: no cost column when no result is priced", diag=out)

    src = vstest.scratch("cost-results-", ".jsonl")
    with open(src, "w", encoding="utf-8") as f:
        f.write(lines)
    rc, out, err = vsampctl("export", "-q", "--format", "csv", src)
    rows = list(csv.DictReader(io.StringIO(out)))
    by_id = {row["id"]: row for row in rows}
    one = by_id.get("co-one", {}).get("cost") or "nan"
    tap.ok(rc == 0 and "cost" in (rows[0] if rows else {}) and
           math.isclose(float(one), res["co-one"]["usage"]["cost"],
                        rel_tol=1e-14) and
           by_id.get("co-plain", {}).get("cost") == "",
           "export csv: a cost column, empty when nil", diag=out[:400])
    rc, out, err = vsampctl("export", "-q", "--rows", "candidate", src)
    cand = [json.loads(ln) for ln in out.splitlines() if ln]
    tap.ok(rc == 0 and cand and all("cost" not in c for c in cand),
           "export --rows candidate: no cost column (a job's cost is not "
           "a candidate's)", diag=out[:300])
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
