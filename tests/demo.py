#!/usr/bin/env python3
"""The demo: vsampd end to end on a local Kafka broker and a local model.

Starts Kafka 4.1.1 (tests/kafka/kafka.sh), the model server, and vsampd;
submits tests/data/demo/jobs.jsonl; prints every result; stops it all.
The model is the fake OpenAI-compatible server for now (scripted,
deterministic replies), until the real local model arrives.
"""

import json
import os
import sys
import textwrap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402

JOBS = os.path.join(vstest.SRCDIR, "tests", "data", "demo", "jobs.jsonl")


def main():
    with open(JOBS) as f:
        jobs = [json.loads(line) for line in f if line.strip()]
    print("starting Kafka 4.1.1 on 127.0.0.1 ...", flush=True)
    kafka = vstest.Kafka().start()
    kafka.create_topics({"vs.jobs": 4, "vs.results": 4, "vs.jobs.dlq": 1})
    print("starting the model server (fake OpenAI-compatible) ...",
          flush=True)
    model = vstest.FakeModel().start()
    conf = vstest.scratch("demo-", ".conf")
    with open(conf, "w") as f:
        f.write("""
kafka: { brokers = "%s"; group_id = "vsampd-demo";
         jobs_topic = "vs.jobs"; results_topic = "vs.results";
         dlq_topic = "vs.jobs.dlq"; };
backends = ( { name = "local"; type = "openai"; url = "%s";
               model = "fake"; } );
defaults = { backend = "local"; method = "vs_standard"; k = 5; };
metrics = { listen = ""; };
""" % (kafka.bootstrap, model.url))
    print("starting vsampd ...", flush=True)
    d = vstest.spawn([vstest.vsampd_bin(), "-f", conf], name="vsampd")
    d.wait_log(r"ready: consuming", timeout=60)
    vstest.produce(kafka.bootstrap, "vs.jobs", jobs, fmt="json")
    print("submitted %d jobs; results:\n" % len(jobs), flush=True)
    got = vstest.consume(kafka.bootstrap, "vs.results",
                         keys={j["id"] for j in jobs}, timeout=120)
    first = {}
    for r in got:
        first.setdefault(r.key, r.value)
    for j in jobs:
        v = first[j["id"]]
        print("%-14s %-12s %-6s %d candidate(s), %d request(s), %d ms" % (
            v["id"], v["method"], v["status"], len(v["candidates"]),
            v["usage"]["requests"], v["latency_ms"]))
        for i, c in enumerate(v["candidates"]):
            mark = "*" if i == v["selected"] else " "
            verb = "-" if c["verbalized"] is None else "%.2f" % c["verbalized"]
            text = textwrap.shorten(c["text"].replace("\n", " / "), 60)
            print("   %s p=%.3f (said %s) %s" % (mark, c["probability"],
                                                 verb, text))
        if v["error"]:
            print("   error %s: %s" % (v["error"]["code"],
                                       v["error"]["message"]))
    print("\n(* = the candidate vsampd selected by the verbalized "
          "probabilities)")
    rc = d.stop()
    model.stop()
    kafka.stop()
    print("vsampd drained and exited with status %d" % rc)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
