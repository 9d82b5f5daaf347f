#!/usr/bin/env python3
"""Integration test: what a result says of how it was made, and input a
user would send.

The real vsampd against a real Kafka broker and the fake model, with an
OpenAI-compatible backend and an Anthropic one:
  - provenance: created, vsampd, template, seed and the decoding
    parameters are those the backend was actually sent (read back from
    the fake's request log); each candidate carries its call's
    finish_reason;
  - a job whose optional fields are all null runs like one without them;
  - a reply with bare percentages (70, 20, 10) reads as percentages.

TAP output. VSAMPD_IT_PROFILE=skip skips (distcheck: no broker).
"""

import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402  (may re-exec under /usr/bin/python3)
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()

PCT_REPLY = json.dumps({"responses": [
    {"text": "a lighthouse keeper's cat", "probability": 70},
    {"text": "a tide that forgets", "probability": 20},
    {"text": "salt on a window", "probability": 10}]})
ROUNDED_REPLY = json.dumps({"responses": [
    {"text": "one gull", "probability": 50},
    {"text": "two gulls", "probability": 30},
    {"text": "no gulls", "probability": 18}]})
NOT_PCT_REPLY = json.dumps({"responses": [
    {"text": "fog", "probability": 70},
    {"text": "rain", "probability": 50},
    {"text": "sun", "probability": 30}]})
SCRIPT = {
    "cut": {"finish_reason": "length"},
    "pct": {"content": PCT_REPLY},
    "pct99": {"content": ROUNDED_REPLY},
    "notpct": {"content": NOT_PCT_REPLY},
    "plain": {}, "so": {}, "claude": {}, "nulls": {},
}


def main():
    if PROFILE == "skip":
        tap.skip("provenance", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    script = vstest.scratch("prov-script-", ".json")
    with open(script, "w", encoding="utf-8") as f:
        json.dump(SCRIPT, f)
    kafka = vstest.Kafka().start()
    kafka.create_topics({"pv.jobs": 2, "pv.results": 2})
    fake = vstest.FakeModel(script=script).start()
    conf = vstest.conf(
        vstest.scratch("vsampd-pv-", ".conf"), kafka.bootstrap,
        kafka={"group_id": "vsampd-pv", "jobs_topic": "pv.jobs",
               "results_topic": "pv.results",
               "consumer": vstest.FAST_CONSUMER},
        backends=[vstest.backend("local", fake.url, max_retries=0),
                  vstest.backend("so", fake.url, model="fake-so",
                                 structured_output=True, max_tokens=200),
                  vstest.backend("claude", fake.base, type="anthropic",
                                 model="claude-test")],
        defaults={"backend": "local", "method": "vs_standard", "k": 3,
                  "temperature": 0.7})
    d = vstest.vsampd(conf, name="vsampd-pv")
    jobs = [
        {"id": "pv-set", "k": 3, "seed": 12345, "temperature": 1.25,
         "top_p": 0.9, "max_tokens": 64,
         "prompt": "A sea poem %s" % vstest.marker("cut")},
        {"id": "pv-default", "method": "direct", "n": 2,
         "prompt": "A sky poem %s" % vstest.marker("plain")},
        {"id": "pv-so", "backend": "so",
         "prompt": "A river poem %s" % vstest.marker("so")},
        {"id": "pv-claude", "backend": "claude", "method": "sequence",
         "prompt": "A hill poem %s" % vstest.marker("claude")},
        {"id": "pv-nulls", "prompt": "A cloud poem %s" %
         vstest.marker("nulls"), "messages": None, "method": None,
         "k": None, "n": None, "tail": None, "min_probability": None,
         "select": None, "seed": None, "backend": None, "model": None,
         "temperature": None, "top_p": None, "max_tokens": None,
         "instructions": None, "dedup_scope": None, "embed": None,
         "metadata": None},
        {"id": "pv-nullid", "prompt": "x"},
        {"id": "pv-nullprompt", "prompt": None},
        {"id": "pv-pct", "prompt": "Gulls %s" % vstest.marker("pct")},
        {"id": "pv-pct99", "prompt": "Gulls %s" % vstest.marker("pct99")},
        {"id": "pv-notpct", "prompt": "Weather %s" %
         vstest.marker("notpct")},
        {"id": "pv-minp", "prompt": "Gulls %s" % vstest.marker("pct"),
         "min_probability": 0.5},
        {"id": "pv-minkeep", "prompt": "Gulls %s" % vstest.marker("pct"),
         "min_probability": 0.5, "min_keep": 2},
        {"id": "pv-minkeep-met", "prompt": "Gulls %s" %
         vstest.marker("pct"), "min_probability": 0.15, "min_keep": 2},
    ]
    before = datetime.datetime.now(datetime.timezone.utc)
    for fmt in ("msgpack", "json"):
        batch = [dict(j, id=j["id"] + "-" + fmt) for j in jobs]
        # A null id is not an unset one: the job has no id (its result
        # is keyed by the message's key).
        batch[5] = ("pv-nullid-" + fmt, dict(batch[5], id=None))
        vstest.produce(kafka.bootstrap, "pv.jobs", batch, fmt=fmt)
    want = {j["id"] + "-" + f for j in jobs for f in ("msgpack", "json")
            if j["id"] != "pv-nullid"}
    got = vstest.consume(kafka.bootstrap, "pv.results", count=2 * len(jobs),
                         timeout=120)
    after = datetime.datetime.now(datetime.timezone.utc)
    res = {}
    nullid = []
    for r in got:
        if r.value["id"] is None:
            nullid.append(r.value)
        else:
            res.setdefault(r.value["id"], r.value)
    tap.ok(want <= set(res), "a result for every job",
           diag="missing %s" % sorted(want - set(res)))
    if not want <= set(res):
        return tap.done()

    for fmt in ("msgpack", "json"):
        def r(name):
            return res[name + "-" + fmt]

        # provenance: when, by whom, with which template
        pv = r("pv-set")["provenance"]
        created = datetime.datetime.strptime(
            pv["created"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc)
        tap.ok(before - datetime.timedelta(seconds=1) <= created <=
               after + datetime.timedelta(seconds=1) and
               re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                        pv["created"]),
               "%s: created is the UTC time the result was made, in ms"
               % fmt, diag=repr(pv["created"]))
        tap.ok(pv["vsampd"] == vstest.version(),
               "%s: vsampd is the version that made it" % fmt,
               diag=repr(pv["vsampd"]))
        tpl = {n: r(n)["provenance"]["template"]
               for n in ("pv-set", "pv-default", "pv-claude", "pv-pct")}
        tap.ok(re.match(r"^vs_standard:[0-9a-f]{12}$", tpl["pv-set"]) and
               re.match(r"^direct:[0-9a-f]{12}$", tpl["pv-default"]) and
               re.match(r"^sequence:[0-9a-f]{12}$", tpl["pv-claude"]) and
               tpl["pv-set"] == tpl["pv-pct"],
               "%s: template names the method's wording, the same for "
               "the same method" % fmt, diag=repr(tpl))

        # the seed: the job's, else the one its id hashes to (the same
        # in both encodings, the id differing only by its suffix)
        tap.ok(pv["seed"] == 12345 and
               isinstance(r("pv-default")["provenance"]["seed"], int) and
               r("pv-default")["provenance"]["seed"] !=
               r("pv-so")["provenance"]["seed"],
               "%s: seed is the job's, else its id's hash" % fmt,
               diag="%r %r" % (pv["seed"],
                               r("pv-default")["provenance"]["seed"]))

        # decoding: exactly what the request bodies carried (both
        # encodings send the same settings)
        checks = {}
        for name, mark in (("pv-set", "cut"), ("pv-so", "so"),
                           ("pv-claude", "claude")):
            bodies = [q.get("body") or {}
                      for q in fake.requests(marker=mark)]
            sent = [{"temperature": b.get("temperature"),
                     "top_p": b.get("top_p"),
                     "max_tokens": b.get("max_tokens"),
                     "structured_output": "response_format" in b}
                    for b in bodies]
            dec = r(name)["provenance"]["decoding"]
            checks[name] = (dec, sent[0] if sent and
                            all(x == sent[0] for x in sent) else sent)
        ok = all(dec == sent for dec, sent in checks.values())
        tap.ok(ok, "%s: decoding is what each backend was sent" % fmt,
               diag=repr(checks))
        tap.ok(checks["pv-set"][0] == {"temperature": 1.25, "top_p": 0.9,
                                       "max_tokens": 64,
                                       "structured_output": False} and
               checks["pv-so"][0] == {"temperature": 0.7, "top_p": None,
                                      "max_tokens": 200,
                                      "structured_output": True} and
               checks["pv-claude"][0]["max_tokens"] == 2048,
               "%s: the job's settings, the profile's, and the "
               "dialect's own default (Anthropic's max_tokens)" % fmt,
               diag=repr(checks))

        # finish_reason, per candidate
        fr = [c["finish_reason"] for c in r("pv-set")["candidates"]]
        fr2 = [c["finish_reason"] for c in r("pv-claude")["candidates"]]
        tap.ok(fr == ["length"] * 3 and fr2 == ["end_turn"] * 3,
               "%s: each candidate carries its call's finish_reason" % fmt,
               diag="%r %r" % (fr, fr2))

        # nil fields are unset
        n = r("pv-nulls")
        tap.ok(n["status"] == "ok" and n["method"] == "vs_standard" and
               n["backend"] == "local" and len(n["candidates"]) == 3 and
               n["metadata"] is None,
               "%s: a job with every optional field null runs on the "
               "defaults" % fmt, diag=repr(n.get("error")))
        e = r("pv-nullprompt")
        tap.ok(e["status"] == "error" and
               e["error"]["code"] == "bad_job" and
               e["error"]["message"] == "prompt or messages is required",
               "%s: a null prompt is a missing one" % fmt,
               diag=repr(e["error"]))

        # bare percentages
        p = [c["probability"] for c in r("pv-pct")["candidates"]]
        v = [c["verbalized"] for c in r("pv-pct")["candidates"]]
        tap.ok(all(abs(a - b) < 1e-9 for a, b in zip(p, [0.7, 0.2, 0.1]))
               and v == [70.0, 20.0, 10.0],
               "%s: 70, 20, 10 read as percentages (verbalized keeps the "
               "numbers)" % fmt, diag="%r %r" % (p, v))
        p = [c["probability"] for c in r("pv-pct99")["candidates"]]
        tap.ok(all(abs(a - b) < 1e-9 for a, b in
                   zip(p, [50 / 98, 30 / 98, 18 / 98])),
               "%s: 50, 30, 18 (98) read as percentages too" % fmt,
               diag=repr(p))
        p = [c["probability"] for c in r("pv-notpct")["candidates"]]
        tap.ok(all(abs(a - 1 / 3) < 1e-9 for a in p),
               "%s: 70, 50, 30 (150) are not percentages: clamped" % fmt,
               diag=repr(p))

        # min_keep: min_probability's fallback
        def texts(name):
            return [c["text"] for c in r(name)["candidates"]]
        cands = json.loads(PCT_REPLY)["responses"]
        tap.ok(texts("pv-minp") == [cands[0]["text"]] and
               texts("pv-minkeep") == [cands[0]["text"],
                                       cands[1]["text"]] and
               texts("pv-minkeep-met") == [cands[0]["text"],
                                           cands[1]["text"]],
               "%s: min_probability 0.5 keeps one of 0.7/0.2/0.1; with "
               "min_keep 2 the two most probable, in reply order; a "
               "min_keep already met changes nothing" % fmt,
               diag="%r %r %r" % (texts("pv-minp"), texts("pv-minkeep"),
                                  texts("pv-minkeep-met")))
        p = [c["probability"] for c in r("pv-minkeep")["candidates"]]
        tap.ok(len(p) == 2 and abs(p[0] - 0.7 / 0.9) < 1e-9 and
               abs(p[1] - 0.2 / 0.9) < 1e-9,
               "%s: and renormalised over the two" % fmt, diag=repr(p))
    tap.ok(len(nullid) == 2 and
           all(x["error"]["code"] == "bad_job" and
               x["error"]["message"].startswith("id:") for x in nullid),
           "a null id is a bad job, not an unset one",
           diag=repr([x.get("error") for x in nullid]))
    tap.ok(all(x["provenance"]["template"] is None and
               x["provenance"]["decoding"] is None and
               x["provenance"]["created"] is not None
               for x in nullid + [res["pv-nullprompt-json"]]),
           "a job never planned has a created time but no template or "
           "decoding")
    tap.is_(d.stop(), 0, "vsampd exits 0")
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
