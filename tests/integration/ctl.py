#!/usr/bin/env python3
"""vsampctl against a real Kafka broker, the real daemon and the fake
model:

- `run` gives the same candidates as the daemon for the same jobs (one
  pipeline, two front doors);
- `submit` and `tail` round-trip through the topics, keyed and filtered;
- `report` turns results into a table and a well-formed SVG;
- bad input gets clear errors and the documented exit statuses.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it.
"""

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()
METHODS = ["direct", "direct_cot", "sequence", "multi_turn", "vs_standard",
           "vs_cot", "vs_multi", "ssot"]


def ctl(*args, stdin=None, timeout=120):
    return subprocess.run([vstest.vsampctl_bin()] + [str(a) for a in args],
                          input=stdin, capture_output=True, text=True,
                          timeout=timeout)


def write_conf(path, brokers, url):
    return vstest.conf(
        path, brokers,
        kafka={"group_id": "vsampd-ctl", "jobs_topic": "ctl.jobs",
               "results_topic": "ctl.results",
               "consumer": vstest.FAST_CONSUMER,
               "producer": {"linger_ms": 5}},
        backends=[vstest.backend("local", url, max_inflight=16,
                                 timeout_ms=20000, max_retries=1)],
        defaults={"backend": "local", "method": "vs_standard", "k": 4})


def jobs_for_compare():
    out = []
    for i, m in enumerate(METHODS * 2):
        j = {"id": "cmp-%02d" % i, "method": m, "k": 3, "n": 3,
             "prompt": "Name an animal that lives in a %s, #%d." % (
                 ["forest", "river", "desert"][i % 3], i),
             "metadata": {"task": "animal", "i": i}}
        if i % 5 == 0:
            j["tail"] = 0.3
        out.append(j)
    return out


def key(r):
    """What must agree between the daemon and vsampctl run. The n calls
    of direct, direct_cot and ssot are identical requests in flight at
    once: which reply the fake gives which call depends on arrival order,
    so their turns are left out."""
    racy = r["method"] in ("direct", "direct_cot", "ssot")
    cands = sorted((c["text"], round(c["probability"], 9),
                    None if racy else c["turn"])
                   for c in r["candidates"])
    return (r["id"], r["status"], r["method"], cands, r["dedup"],
            r["metadata"])


def main():
    if PROFILE == "skip":
        tap.skip("vsampctl", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    kafka = vstest.Kafka().start()
    tap.diag("kafka %s up in %.1fs" % (kafka.bootstrap, kafka.startup_s))
    kafka.create_topics({"ctl.jobs": 3, "ctl.results": 3})
    fake = vstest.FakeModel().start()
    conf = vstest.scratch("ctl-", ".conf")
    write_conf(conf, kafka.bootstrap, fake.url)

    # --- help and usage errors ------------------------------------------
    r = ctl("--help")
    tap.ok(r.returncode == 0 and "run" in r.stdout and "submit" in
           r.stdout, "vsampctl --help lists the commands")
    for sub in ("run", "submit", "tail", "report"):
        r = ctl(sub, "--help")
        tap.ok(r.returncode == 0 and r.stdout.startswith(
            "usage: vsampctl %s" % sub), "vsampctl %s --help" % sub)
    r = ctl("frobnicate")
    tap.ok(r.returncode == 2 and "unknown command \"frobnicate\"" in
           r.stderr, "an unknown command: exit 2, named")
    r = ctl("run", "-f", "/nonexistent/vsampd.conf", stdin="")
    tap.ok(r.returncode == 2 and "/nonexistent/vsampd.conf" in r.stderr,
           "a missing config: exit 2, the path named", diag=r.stderr)
    bad = vstest.scratch("bad-", ".conf")
    with open(bad, "w") as f:
        f.write("backends = ( { name = \"x\"; url = 7; } );\n")
    r = ctl("run", "-f", bad, stdin="")
    tap.ok(r.returncode == 2 and bad + ":1" in r.stderr and "url" in
           r.stderr, "a broken config: exit 2, file, line and key named",
           diag=r.stderr)
    r = ctl("run", "-f", conf, "/nonexistent/jobs.jsonl")
    tap.ok(r.returncode == 1 and "/nonexistent/jobs.jsonl" in r.stderr,
           "a missing input file: exit 1, named", diag=r.stderr)

    # --- run: bad lines are answered and named ---------------------------
    lines = "\n".join([
        json.dumps({"id": "r-ok", "prompt": "Hi", "k": 2}),
        "",
        "{not json",
        json.dumps({"id": "r-bad", "prompt": "Hi", "method": "nope"}),
        json.dumps({"id": "r-ok2", "prompt": "Hi again", "k": 2}),
    ]) + "\n"
    r = ctl("run", "-f", conf, stdin=lines)
    out = [json.loads(x) for x in r.stdout.splitlines()]
    tap.is_([(o["id"], o["status"]) for o in out],
            [("r-ok", "ok"), (None, "error"), ("r-bad", "error"),
             ("r-ok2", "ok")],
            "run: one result per job line, in input order, blank lines "
            "skipped")
    tap.ok(r.returncode == 0 and "line 3:" in r.stderr and
           "line 4: job r-bad: bad_job: method" in r.stderr,
           "run: error results are named with their line", diag=r.stderr)

    # --- run and the daemon agree ------------------------------------------
    jobs = jobs_for_compare()
    fake.reset()
    d = vstest.vsampd(conf, "-v", name="vsampd-ctl")
    jf = vstest.scratch("jobs-", ".jsonl")
    with open(jf, "w") as f:
        for j in jobs:
            f.write(json.dumps(j) + "\n")
    r = ctl("submit", "-f", conf, jf)
    tap.ok(r.returncode == 0 and "%d job(s) delivered to ctl.jobs" %
           len(jobs) in r.stderr, "submit: every job delivered",
           diag=r.stderr)
    results = vstest.Collector(kafka.bootstrap, "ctl.results")
    got = results.wait(keys={j["id"] for j in jobs}, timeout=120)
    from_daemon = {k: v[-1].value for k, v in got.items()}
    keyed = all(v[-1].key == k for k, v in got.items())
    tap.ok(keyed, "results are keyed by job id")

    fake.reset()
    r = ctl("run", "-q", "-f", conf, jf)
    from_run = {}
    for x in r.stdout.splitlines():
        o = json.loads(x)
        from_run[o["id"]] = o
    tap.is_(sorted(from_run), sorted(from_daemon),
            "run answers the same jobs")
    diff = [k for k in from_daemon
            if key(from_daemon[k]) != key(from_run.get(k, from_daemon[k]))
            or k not in from_run]
    tap.ok(not diff, "run gives the same candidates, probabilities, turns "
           "and dedup as the daemon (%d jobs, every method)" % len(jobs),
           diag=repr([(key(from_daemon[k]), key(from_run[k]))
                      for k in diff[:2] if k in from_run]))
    same_sel = [k for k in from_daemon
                if from_daemon[k]["method"] in ("vs_standard", "vs_cot",
                                                "sequence")
                and from_daemon[k]["selected"] != from_run[k]["selected"]]
    tap.ok(not same_sel, "and the same selection for one-call methods")

    # --- tail ------------------------------------------------------------
    r = ctl("tail", "-f", conf, "-r")
    tailed = [json.loads(x) for x in r.stdout.splitlines()]
    tap.ok(r.returncode == 0 and
           {t["id"] for t in tailed} == {j["id"] for j in jobs},
           "tail -r prints every result up to the end, then exits",
           diag=r.stderr)
    r = ctl("tail", "-f", conf, "-i", "cmp-03", "-i", "cmp-04")
    wrapped = [json.loads(x) for x in r.stdout.splitlines()]
    tap.ok(sorted(w["result"]["id"] for w in wrapped) ==
           ["cmp-03", "cmp-04"] and all("offset" in w and "partition" in w
                                        for w in wrapped),
           "tail -i filters by job id, with partition and offset")
    r = ctl("tail", "-f", conf, "-s", "error")
    tap.ok(r.returncode == 0 and r.stdout == "",
           "tail -s error: none among ok results")
    r = ctl("tail", "-f", conf, "-t", "no.such.topic")
    tap.ok(r.returncode == 1 and "no.such.topic does not exist" in r.stderr,
           "tail of a missing topic: exit 1, named", diag=r.stderr)
    # Follow: a new result shows up, then SIGINT ends it cleanly.
    p = subprocess.Popen([vstest.vsampctl_bin(), "tail", "-f", conf, "-F",
                          "-e", "-r"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    import time
    time.sleep(3)
    ctl("submit", "-q", "-f", conf, stdin=json.dumps(
        {"id": "follow-1", "prompt": "One more", "k": 2}) + "\n")
    line = p.stdout.readline()
    p.send_signal(signal.SIGINT)
    rc = p.wait(30)
    tap.ok(json.loads(line)["id"] == "follow-1" and rc == 0,
           "tail -F -e prints new results and stops on SIGINT",
           diag=repr(line))

    # --- submit: bad lines --------------------------------------------------
    r = ctl("submit", "-f", conf, stdin="\n".join([
        json.dumps({"id": "s-1", "prompt": "ok"}),
        json.dumps({"id": "s-2", "prompt": "x", "k": "five"}),
        "[1, 2]"]) + "\n")
    tap.ok(r.returncode == 1 and "line 2: job s-2" in r.stderr and
           "k" in r.stderr and "line 3:" in r.stderr and
           "1 job(s) delivered" in r.stderr,
           "submit: bad lines named (line, job, field) and not sent; "
           "exit 1", diag=r.stderr)
    r = ctl("submit", "-f", conf, "-b", "127.0.0.1:1", "-q",
            stdin=json.dumps({"id": "nowhere", "prompt": "x"}) + "\n",
            timeout=120)
    tap.ok(r.returncode == 1 and "not confirmed" in r.stderr,
           "submit to an unreachable broker: exit 1, said", diag=r.stderr)

    # --- report --------------------------------------------------------------
    resf = vstest.scratch("results-", ".jsonl")
    with open(resf, "w") as f:
        for k in sorted(from_run):
            f.write(json.dumps(from_run[k]) + "\n")
    svg = vstest.scratch("report-", ".svg")
    caption = "A caption & what it cannot show <here>"
    r = ctl("report", "-o", svg, "--caption", caption, resf)
    table = r.stdout.split("\n\n")[0]
    rows = {ln.split()[0]: ln.split() for ln in table.splitlines()[1:]}
    tap.ok(r.returncode == 0 and set(rows) == set(METHODS),
           "report: a row per method", diag=r.stdout + r.stderr)
    tap.ok(all(rows[m][1] == "2" and rows[m][2] == "2" for m in METHODS),
           "report: 2 jobs, 2 ok each")
    try:
        root = ET.parse(svg).getroot()
        bars = [e for e in root.iter() if e.tag.endswith("rect")]
        tap.ok(root.tag.endswith("svg") and len(bars) > len(METHODS),
               "report -o writes a well-formed SVG with bars")
        texts = ["".join(e.itertext()) for e in root.iter()
                 if e.tag.endswith("text")]
        groups = [e for e in root.iter() if e.tag.endswith("}g") and
                  e.get("class") == "group"]
        models = {v["model"] for v in from_run.values()}
        ns = [t for g in groups for e in g.iter()
              if e.tag.endswith("text") and e.get("class") == "n"
              for t in ["".join(e.itertext())]]
        whiskers = [e for e in root.iter() if e.get("class") == "whisker"]
        footer = " ".join(texts)
        tap.ok(len(groups) == len(METHODS) and ns and
               all(n in ("1", "2") for n in ns) and whiskers,
               "report -o: each bar says its n, with a min-max whisker "
               "where n > 1", diag="%r %d" % (ns[:10], len(whiskers)))
        tap.ok(caption in footer and
               all(m in footer for m in models) and
               any("duplicate" in t and "in all" in t for t in texts),
               "report -o: the caption, the models and the duplicates "
               "labelled as totals", diag=repr(texts[-6:]))
    except ET.ParseError as e:
        tap.ok(False, "report -o writes a well-formed SVG", diag=str(e))
    tap.ok("totals" in r.stdout.split("\n\n", 1)[-1],
           "report: the table's note says which columns are totals",
           diag=r.stdout)
    r = ctl("report", "-j", "-g", "method", "-g", "metadata.task", resf)
    js = json.loads(r.stdout)
    tap.ok(len(js) == len(METHODS) and all(
        g["group"].endswith(" / animal") for g in js),
        "report -j -g groups by several fields")
    spread = []
    for g in js:
        m = g["group"].split(" / ")[0]
        vals = [v["diversity"]["distinct_1"] for v in from_run.values()
                if v["method"] == m and v["status"] == "ok" and
                v["diversity"] and v["diversity"]["distinct_1"] is not None]
        spread.append(g["distinct_1_n"] == len(vals) and
                      (not vals or
                       (abs(g["distinct_1_min"] - min(vals)) < 1e-6 and
                        abs(g["distinct_1_max"] - max(vals)) < 1e-6)))
    tap.ok(spread and all(spread),
           "report -j: each measure's n, min and max per group",
           diag=repr(js[:1]))
    r = ctl("report", "-T", "-f", conf)
    tap.ok(r.returncode == 0 and "vs_multi" in r.stdout,
           "report -T reads the results topic", diag=r.stderr)

    d.stop()
    results.close()
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
