#!/usr/bin/env python3
"""Integration test: several choices in one request (OpenAI's n).

The real vsampd against a real Kafka broker and the fake model, which
honours n (docs/backends.md, "Several choices in one request"):
  - a direct job on a profile with supports_n and n_chunk = 4 asks for
    its 10 candidates in ceil(10 / 4) = 3 requests (n = 4, 4, 2 in the
    bodies the fake logged) and gets 10 distinct candidates, each with
    its own choice's finish_reason, the probabilities uniform; usage
    counts 3 requests and their prompt tokens once each;
  - the same job on a profile without supports_n makes 10 requests, none
    of which carries n;
  - direct_cot and ssot ask the same way (each choice one reply of its
    own: its own reasoning, its own seed); vs_standard never sends n;
  - a reply with fewer choices than asked gives what came, one with more
    gives the first asked;
  - a choice whose text is unusable is left out, the others kept, with
    no request again; a reply with none usable is asked again whole;
  - a request that fails is retried whole (attempts and requests count
    it), and the job still gets its n candidates;
  - large choices (a reply over 256 KiB) are parsed on the worker
    thread, each one a candidate.

TAP output. VSAMPD_IT_PROFILE=skip skips (distcheck: no broker).
"""

import json
import os
import random
import string
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402  (may re-exec under /usr/bin/python3)
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()

# Three choices of about 120 KB each: the reply and its texts are over
# the 256 KiB that are parsed on the worker thread.
# Words of random letters, so that no two are near-duplicates.
def big_text(seed):
    rng = random.Random(seed)
    return " ".join("".join(rng.choice(string.ascii_lowercase)
                            for _ in range(7)) for _ in range(15000))


BIG = [big_text(c) for c in range(3)]

SCRIPT = {
    # Two finish reasons, so that each candidate's can be told apart.
    "nd": {"finish_reasons": ["stop", "length"]},
    "pd": {"finish_reasons": ["stop", "length"]},
    "cot": {}, "vs": {},
    "ssot": {"form": "ssot_fenced"},  # each choice in a ``` fence
    "few": {"choices": 2},
    "many": {"choices": 6},
    "holes": {"contents": ["a first good answer", "",
                           "a second good answer"]},
    "empty": {"sequence": [{"contents": [""]},
                           {"contents": ["late but good", "also good"]}]},
    "flaky": {"sequence": [{"status": 500}, {}]},
    "big": {"contents": BIG},
}


def bodies(fake, marker):
    """The request bodies the fake logged for marker."""
    return [q.get("body") or {} for q in fake.requests(marker=marker)]


def main():
    if PROFILE == "skip":
        tap.skip("choices", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    script = vstest.scratch("choices-script-", ".json")
    with open(script, "w", encoding="utf-8") as f:
        json.dump(SCRIPT, f)
    kafka = vstest.Kafka().start()
    kafka.create_topics({"ch.jobs": 2, "ch.results": 2})
    fake = vstest.FakeModel(script=script).start()
    conf = vstest.conf(
        vstest.scratch("vsampd-ch-", ".conf"), kafka.bootstrap,
        kafka={"group_id": "vsampd-ch", "jobs_topic": "ch.jobs",
               "results_topic": "ch.results",
               "consumer": vstest.FAST_CONSUMER},
        backends=[vstest.backend("multi", fake.url, supports_n=True,
                                 n_chunk=4, max_retries=2),
                  vstest.backend("plain", fake.url, max_retries=0)],
        defaults={"backend": "multi", "method": "direct", "k": 3})
    d = vstest.vsampd(conf, name="vsampd-ch")
    jobs = [
        {"id": "ch-n", "n": 10,
         "prompt": "A name for a boat %s" % vstest.marker("nd")},
        {"id": "ch-plain", "n": 10, "backend": "plain",
         "prompt": "A name for a boat %s" % vstest.marker("pd")},
        {"id": "ch-cot", "method": "direct_cot", "n": 5,
         "prompt": "A name for a cat %s" % vstest.marker("cot")},
        {"id": "ch-ssot", "method": "ssot", "n": 6,
         "prompt": "A name for a horse %s" % vstest.marker("ssot")},
        {"id": "ch-vs", "method": "vs_standard", "k": 3, "n": 6,
         "prompt": "A name for a dog %s" % vstest.marker("vs")},
        {"id": "ch-few", "n": 4,
         "prompt": "A colour %s" % vstest.marker("few")},
        {"id": "ch-many", "n": 3,
         "prompt": "A fruit %s" % vstest.marker("many")},
        {"id": "ch-holes", "n": 3,
         "prompt": "A tree %s" % vstest.marker("holes")},
        {"id": "ch-empty", "n": 2,
         "prompt": "A stone %s" % vstest.marker("empty")},
        {"id": "ch-flaky", "n": 4,
         "prompt": "A river %s" % vstest.marker("flaky")},
        {"id": "ch-big", "n": 3,
         "prompt": "A long story %s" % vstest.marker("big")},
    ]
    vstest.produce(kafka.bootstrap, "ch.jobs", jobs, fmt="json")
    got = vstest.consume(kafka.bootstrap, "ch.results", count=len(jobs),
                         timeout=120)
    res = {r.value["id"]: r.value for r in got}
    want = {j["id"] for j in jobs}
    tap.ok(want <= set(res), "a result for every job",
           diag="missing %s" % sorted(want - set(res)))
    if not want <= set(res):
        return tap.done()
    bad = {k: v["error"] for k, v in res.items() if v["status"] != "ok"}
    tap.ok(not bad, "every job succeeds", diag=repr(bad))
    if bad:
        return tap.done()

    # direct with supports_n: 3 requests of n = 4, 4, 2
    r = res["ch-n"]
    ns = sorted((b.get("n") for b in bodies(fake, "nd")),
                key=lambda x: -(x or 0))
    tap.ok(ns == [4, 4, 2],
           "direct, n = 10, n_chunk = 4: three requests asking n = 4, 4, 2",
           diag=repr(ns))
    texts = [c["text"] for c in r["candidates"]]
    tap.ok(len(texts) == 10 and len(set(texts)) == 10,
           "ten distinct candidates", diag=repr(texts))
    tap.ok(r["usage"]["requests"] == 3 and r["attempts"] == 3,
           "usage.requests and attempts count the 3 requests",
           diag="%r %r" % (r["usage"], r["attempts"]))
    frs = [(c["turn"], c["finish_reason"]) for c in r["candidates"]]
    per = {}
    for t, f in frs:
        per.setdefault(t, []).append(f)
    tap.ok(sorted(per) == [0, 1, 2] and
           sorted(len(v) for v in per.values()) == [2, 4, 4] and
           all(v[0] == "stop" and all(x == "length" for x in v[1:])
               for v in per.values()),
           "each candidate has its own choice's finish_reason; turn is "
           "its request", diag=repr(frs))
    p = [c["probability"] for c in r["candidates"]]
    tap.ok(all(abs(x - 0.1) < 1e-9 for x in p),
           "the probabilities are uniform, as for ten calls", diag=repr(p))

    # the same without supports_n: ten requests of one, no n
    rp = res["ch-plain"]
    pb = bodies(fake, "pd")
    tap.ok(len(pb) == 10 and all("n" not in b for b in pb) and
           rp["usage"]["requests"] == 10 and len(rp["candidates"]) == 10,
           "without supports_n: ten requests, none sending n",
           diag="%d %r" % (len(pb), rp["usage"]))
    tap.ok(all(c["finish_reason"] == "stop" for c in rp["candidates"]),
           "... each candidate its request's only choice's finish_reason")
    # The prompts are alike: tokens per request are the same, so the
    # chunked job paid its prompt 3 times and the other 10.
    a = r["usage"]["prompt_tokens"]
    b = rp["usage"]["prompt_tokens"]
    tap.ok(a > 0 and a * 10 == b * 3,
           "prompt tokens: counted per request (3 against 10)",
           diag="%r %r" % (a, b))
    tap.ok(r["usage"]["completion_tokens"] ==
           rp["usage"]["completion_tokens"],
           "completion tokens: summed over the choices, as over calls",
           diag="%r %r" % (r["usage"], rp["usage"]))

    # direct_cot asks the same way; vs_standard never sends n
    cb = bodies(fake, "cot")
    rc = res["ch-cot"]
    tap.ok(sorted(b.get("n", 1) for b in cb) == [1, 4] and
           len(rc["candidates"]) == 5 and rc["usage"]["requests"] == 2,
           "direct_cot, n = 5: two requests (n = 4, then one choice)",
           diag="%r %r" % ([b.get("n") for b in cb], rc["usage"]))
    tap.ok(all(not c["text"].lstrip().startswith("{")
               for c in rc["candidates"]),
           "... each choice read as {reasoning, response}",
           diag=repr([c["text"] for c in rc["candidates"]]))
    sb = bodies(fake, "ssot")
    rs = res["ch-ssot"]
    st = [c["text"] for c in rs["candidates"]]
    tap.ok(sorted(b.get("n", 1) for b in sb) == [2, 4] and
           len(st) == 6 and len(set(st)) == 6 and
           rs["usage"]["requests"] == 2,
           "ssot, n = 6: two requests (n = 4, then 2), six distinct "
           "candidates", diag="%r %r" % ([b.get("n") for b in sb], st))
    tap.ok(all(not t.lstrip().startswith("{") and "seed" not in t
               for t in st),
           "... each choice read as {seed, response}, the seed left out",
           diag=repr(st))
    vb = bodies(fake, "vs")
    tap.ok(len(vb) == 2 and all("n" not in b for b in vb) and
           len(res["ch-vs"]["candidates"]) == 6,
           "vs_standard on the same profile: ceil(n / k) calls, no n",
           diag="%d %r" % (len(vb), [b.get("n") for b in vb]))

    # fewer and more choices than asked
    tap.ok(len(res["ch-few"]["candidates"]) == 2 and
           res["ch-few"]["usage"]["requests"] == 1,
           "a reply with fewer choices than asked: what came, not asked "
           "again", diag=repr(res["ch-few"]["usage"]))
    tap.ok(len(res["ch-many"]["candidates"]) == 3,
           "a reply with more choices than asked: the first asked",
           diag=repr(len(res["ch-many"]["candidates"])))

    # unusable choices
    rh = res["ch-holes"]
    tap.ok([c["text"] for c in rh["candidates"]] ==
           ["a first good answer", "a second good answer"] and
           rh["usage"]["requests"] == 1 and rh["failed_calls"] == 0,
           "an empty choice is left out, the others kept, no request again",
           diag=repr(rh))
    re_ = res["ch-empty"]
    tap.ok([c["text"] for c in re_["candidates"]] ==
           ["late but good", "also good"] and
           re_["usage"]["requests"] == 2,
           "a reply with no usable choice is asked again whole",
           diag=repr(re_))

    # a failed request is retried whole
    rf = res["ch-flaky"]
    fb = bodies(fake, "flaky")
    tap.ok(len(rf["candidates"]) == 4 and rf["attempts"] == 2 and
           rf["usage"]["requests"] == 2 and
           [b.get("n") for b in fb] == [4, 4],
           "a request that fails (500) is sent again whole: 2 attempts, "
           "4 candidates", diag="%r %r" % (rf["attempts"],
                                          [b.get("n") for b in fb]))

    # large choices, parsed off the loop
    tap.ok([c["text"] for c in res["ch-big"]["candidates"]] == BIG,
           "three choices of 120 KB, parsed on the worker thread, each "
           "a candidate", diag="lengths %r, dedup %r" % (
               [len(c["text"]) for c in res["ch-big"]["candidates"]],
               res["ch-big"]["dedup"]))

    tap.is_(d.stop(), 0, "vsampd exits 0")
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
