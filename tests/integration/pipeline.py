#!/usr/bin/env python3
"""Integration tests: the real vsampd against a real Kafka 4.1.1 broker
and the fake model (tests/fakes/fake_model.py).

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE: "full" (default, 2,000 mixed jobs), "asan" (the
200-job subset the sanitizer stage runs), "skip" (no broker: distcheck).
"""

import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402  (may re-exec under /usr/bin/python3)
from vstest import Tap  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
NJOBS = {"full": 2000, "asan": 200}.get(PROFILE, 0)
METHODS = ["direct", "direct_cot", "sequence", "multi_turn", "vs_standard",
           "vs_cot", "vs_multi", "ssot"]
SEED_RE = re.compile(r'"seed"|^\s*\{')
RESULT_KEYS = {"v", "id", "status", "error", "method", "backend", "model",
               "candidates", "selected", "dedup", "diversity", "usage",
               "attempts", "failed_calls", "latency_ms", "source",
               "provenance", "metadata"}
PROV_KEYS = {"created", "vsampd", "template", "seed", "decoding"}
DECODING_KEYS = {"temperature", "top_p", "max_tokens", "structured_output"}
CREATED_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

tap = Tap()
# A known secret: it must reach the backend and nothing else.
SECRET = "sk-vsampd-it-%08x" % random.getrandbits(32)
os.environ["VSAMPD_IT_KEY"] = SECRET


def write_conf(path, brokers, model_url, group="vsampd-it",
               jobs="vs.jobs", res="vs.results", dlq="vs.jobs.dlq",
               max_inflight=256, embed_url=None, consumer=None):
    """The suite's config: a plain and a structured-output backend on the
    fake, the dedup state file next to the config; consumer adds
    kafka.consumer settings."""
    key = {"api_key_env": "VSAMPD_IT_KEY", "timeout_ms": 20000,
           "max_retries": 2}
    return vstest.conf(
        path, brokers,
        kafka={"group_id": group, "jobs_topic": jobs, "results_topic": res,
               "dlq_topic": dlq,
               "consumer": dict(vstest.FAST_CONSUMER,
                                auto_commit_interval_ms=500,
                                **(consumer or {})),
               "producer": {"linger_ms": 5}},
        backends=[vstest.backend("local", model_url, max_inflight=64, **key),
                  vstest.backend("structured", model_url, model="fake-so",
                                 structured_output=True, max_inflight=8,
                                 **key)],
        # embed off unless a job asks: the 2,000 mixed jobs stay lexical
        # (with embeddings configured it would default to on).
        defaults={"backend": "local", "method": "vs_standard", "k": 5,
                  "embed": False},
        worker={"max_inflight": max_inflight, "shutdown_timeout_ms": 20000},
        dedup={"state_file": path + ".state"},
        embeddings={"url": embed_url or model_url, "model": "e5",
                    "api_key_env": "VSAMPD_IT_KEY", "max_retries": 1,
                    "timeout_ms": 30000})


def job(jid, i, fmt=None):
    m = METHODS[i % len(METHODS)]
    j = {"id": jid, "prompt": "Write a short poem about the sea, #%d." % i,
         "method": m, "k": 3 + i % 3, "n": [1, 3, 5, 6][i % 4],
         "metadata": {"i": i, "tags": ["x", i % 2 == 0]}}
    if m in ("direct", "direct_cot", "multi_turn"):
        j["n"] = 1 + i % 3
    if i % 5 == 0:
        j["tail"] = 0.2
    if i % 11 == 0:
        j["messages"] = [{"role": "user", "content": "Hi"},
                         {"role": "assistant", "content": "Hello!"},
                         {"role": "user", "content": "Tell me a joke."}]
        del j["prompt"]
    return j


def schema_errors(v):
    """What is wrong with a decoded result, as a list of strings."""
    errs = []
    if not isinstance(v, dict):
        return ["not a map"]
    if set(v) != RESULT_KEYS:
        errs.append("keys %s" % sorted(set(v) ^ RESULT_KEYS))
        return errs
    if v["v"] != 1:
        errs.append("v")
    if v["status"] not in ("ok", "error"):
        errs.append("status")
    if not isinstance(v["candidates"], list):
        errs.append("candidates")
    for c in v["candidates"] or []:
        if set(c) != {"text", "probability", "verbalized", "turn",
                      "finish_reason"}:
            errs.append("candidate keys")
        elif c["finish_reason"] != "stop":
            errs.append("candidate finish_reason %r" % c["finish_reason"])
        elif not isinstance(c["text"], str) or not c["text"]:
            errs.append("candidate text")
        elif not isinstance(c["probability"], float):
            errs.append("candidate probability")
    if v["status"] == "ok":
        if v["error"] is not None:
            errs.append("error on ok")
        ps = sum(c["probability"] for c in v["candidates"])
        if v["candidates"] and abs(ps - 1.0) > 1e-9:
            errs.append("probabilities sum %r" % ps)
        sel = v["selected"]
        if v["candidates"] and not (isinstance(sel, int) and
                                    0 <= sel < len(v["candidates"])):
            errs.append("selected")
        dd = v["dedup"]
        if not isinstance(dd, dict) or set(dd) != {"in_job", "in_scope"} \
                or not all(isinstance(x, int) and x >= 0
                           for x in dd.values()):
            errs.append("dedup")
        dv = v["diversity"]
        dkeys = {"semantic", "rouge_l", "distinct_1", "distinct_2",
                 "distinct_3", "vendi", "classes"}
        if not v["candidates"]:
            if dv is not None or sel is not None:
                errs.append("diversity/selected not nil without candidates")
        elif not isinstance(dv, dict) or set(dv) != dkeys:
            errs.append("diversity keys")
        else:
            for k2, x in dv.items():
                if k2 == "classes":
                    if not (isinstance(x, int) and
                            1 <= x <= len(v["candidates"])):
                        errs.append("diversity classes %r" % x)
                elif k2 == "vendi":
                    if x is not None and not (
                            isinstance(x, float) and
                            1.0 - 1e-9 <= x <= len(v["candidates"]) + 1e-9
                            and dv["semantic"] is not None):
                        errs.append("diversity vendi %r" % x)
                elif x is not None and not (isinstance(x, float) and
                                            0.0 <= x <= 1.0):
                    errs.append("diversity %s" % k2)
            if len(v["candidates"]) < 2 and (dv["rouge_l"] is not None or
                                              dv["semantic"] is not None):
                errs.append("pairwise diversity with one candidate")
    else:
        e = v["error"]
        if not isinstance(e, dict) or set(e) != {"code", "message"}:
            errs.append("error shape")
        if v["candidates"] != [] or v["selected"] is not None or \
                v["dedup"] is not None or v["diversity"] is not None:
            errs.append("error result fields not nil")
    u = v["usage"]
    if not isinstance(u, dict) or set(u) != {"requests", "prompt_tokens",
                                             "completion_tokens", "cost"}:
        errs.append("usage")
    elif u["cost"] is not None and not (isinstance(u["cost"], float) and
                                        u["cost"] >= 0):
        errs.append("usage.cost")
    for k in ("attempts", "failed_calls", "latency_ms"):
        if not isinstance(v[k], int) or v[k] < 0:
            errs.append(k)
    s = v["source"]
    if not isinstance(s, dict) or s.get("topic") != "vs.jobs":
        errs.append("source")
    errs.extend(provenance_errors(v))
    return errs


def provenance_errors(v):
    """What is wrong with a result's provenance: made now by this vsampd,
    with the template of its method, the job's seed (a 64-bit hash of the
    id when the job gives none) and the decoding its backend was sent."""
    pv = v["provenance"]
    if not isinstance(pv, dict) or set(pv) != PROV_KEYS:
        return ["provenance keys"]
    errs = []
    if not (isinstance(pv["created"], str) and
            CREATED_RE.match(pv["created"])):
        errs.append("provenance.created %r" % pv["created"])
    if pv["vsampd"] != vstest.version():
        errs.append("provenance.vsampd %r" % pv["vsampd"])
    if v["method"] is None:
        if pv["template"] is not None or pv["decoding"] is not None:
            errs.append("provenance of a job never planned")
        return errs
    t = pv["template"]
    if not (isinstance(t, str) and re.match(r"^%s:[0-9a-f]{12}$" %
                                            v["method"], t)):
        errs.append("provenance.template %r" % t)
    if not isinstance(pv["seed"], int) or not 0 <= pv["seed"] < 2 ** 64:
        errs.append("provenance.seed %r" % pv["seed"])
    d = pv["decoding"]
    if not isinstance(d, dict) or set(d) != DECODING_KEYS:
        errs.append("provenance.decoding %r" % d)
    elif d["temperature"] != 0.7 or d["top_p"] is not None or \
            d["max_tokens"] is not None or \
            d["structured_output"] != (v["backend"] == "structured"):
        errs.append("provenance.decoding %r" % d)
    return errs


def main():
    if NJOBS == 0:
        tap.skip("integration", "VSAMPD_IT_PROFILE=%s" % PROFILE)
        return tap.done()
    kafka = vstest.Kafka().start()
    tap.diag("kafka %s up in %.1fs" % (kafka.bootstrap, kafka.startup_s))
    kafka.create_topics({"vs.jobs": 4, "vs.results": 4, "vs.jobs.dlq": 4})
    fake = vstest.FakeModel(require_key=SECRET).start()
    conf = vstest.scratch("vsampd-", ".conf")
    write_conf(conf, kafka.bootstrap, fake.url)
    results = vstest.Collector(kafka.bootstrap, "vs.results")
    dlq = vstest.Collector(kafka.bootstrap, "vs.jobs.dlq", decode="raw")

    with tap.step("vsampd -n accepts the test config"):
        r = vstest.subprocess.run([vstest.vsampd_bin(), "-n", "-f", conf],
                                  capture_output=True, text=True,
                                  timeout=30)
        assert r.returncode == 0 and "configuration OK" in r.stdout, \
            r.stderr
    for prop, value, why in (("fetch_wat_max_ms", 10, "No such "
                              "configuration property"),
                             ("fetch_wait_max_ms", "soon", "Invalid value")):
        bad = vstest.scratch("vsampd-badprop-", ".conf")
        write_conf(bad, kafka.bootstrap, fake.url, consumer={prop: value})
        r = vstest.subprocess.run([vstest.vsampd_bin(), "-n", "-f", bad],
                                  capture_output=True, text=True,
                                  timeout=30)
        tap.ok(r.returncode == 1 and why in r.stderr and
               prop.replace("_", ".") in r.stderr and
               "configuration failed" in r.stderr,
               "vsampd -n refuses a kafka.consumer property librdkafka "
               "refuses (%s), naming it" % why, diag=r.stderr[-300:])
    d = vstest.vsampd(conf, "-d")
    tap.ok(True, "vsampd starts and gets ready")
    logs = [d]

    # --- mixed jobs, both encodings -----------------------------------
    jobs = [job("mix-%05d" % i, i) for i in range(NJOBS)]
    msgs = []
    for i, j in enumerate(jobs):
        fmt = "json" if i % 2 else "msgpack"
        msgs.append((j["id"], vstest.encode(j, fmt)))
    t0 = time.monotonic()
    vstest.produce(kafka.bootstrap, "vs.jobs", msgs)
    ids = {j["id"] for j in jobs}
    got = results.wait(keys=ids, timeout=600)
    dt = time.monotonic() - t0
    tap.diag("%d mixed jobs in %.1fs" % (NJOBS, dt))
    tap.is_(sum(len(v) for v in got.values()), NJOBS,
            "%d mixed jobs give exactly one result each" % NJOBS)
    bad = {}
    for k, recs in got.items():
        e = schema_errors(recs[0].value)
        if recs[0].headers.get("vsampd-schema") != "1":
            e.append("header vsampd-schema")
        if e:
            bad[k] = e
    tap.ok(not bad, "every result decodes with python msgpack and matches "
           "the schema", diag=repr(list(bad.items())[:5]))
    st = {}
    for recs in got.values():
        st[recs[0]["status"]] = st.get(recs[0]["status"], 0) + 1
    tap.is_(st, {"ok": NJOBS}, "all mixed jobs are ok")
    byid = {k: v[0].value for k, v in got.items()}
    wrong = [k for k, v in byid.items() if
             v["metadata"] != {"i": int(k[4:]), "tags": ["x",
                                                         int(k[4:]) % 2 == 0]}
             or v["method"] != METHODS[int(k[4:]) % len(METHODS)]]
    tap.ok(not wrong, "metadata passes through, method echoed",
           diag=repr(wrong[:5]))
    ncand = [k for k, v in byid.items()
             if len(v["candidates"]) != jobs[int(k[4:])]["n"]]
    tap.ok(not ncand, "each job gets n candidates", diag=repr(
        [(k, len(byid[k]["candidates"]), jobs[int(k[4:])]["n"])
         for k in ncand[:5]]))
    turns = [k for k, v in byid.items() if v["method"] == "multi_turn" and
             [c["turn"] for c in v["candidates"]] !=
             list(range(len(v["candidates"])))]
    tap.ok(not turns, "multi_turn candidates carry their turn index")
    # ssot: the fake's replies are {"seed", "response"}; only the
    # response is a candidate, and each of the n calls gave its own.
    ssot = [v for v in byid.values() if v["method"] == "ssot"]
    seeded = [v["id"] for v in ssot
              if any(SEED_RE.search(c["text"]) or
                     not c["text"].startswith("Candidate ")
                     for c in v["candidates"])
              or len({c["text"] for c in v["candidates"]}) !=
              len(v["candidates"])]
    tap.ok(ssot and not seeded, "ssot: %d jobs, each of n distinct "
           "candidates a response, never the seed" % len(ssot),
           diag=repr(seeded[:5]))

    # --- idle: no busy loop ------------------------------------------------
    def cpu_ticks(pid):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    hz = os.sysconf("SC_CLK_TCK")
    t0 = cpu_ticks(d.p.pid)
    time.sleep(5)
    used = (cpu_ticks(d.p.pid) - t0) / hz
    tap.diag("idle CPU: %.2f s in 5 s (librdkafka threads included)" % used)
    tap.cmp(used, "<", 0.1, "idle daemon uses under 2% CPU (no busy loop)")

    # --- structured output -------------------------------------------------
    so_jobs = [{"id": "so-%s" % m, "prompt": "Name a fruit.", "method": m,
                "k": 3, "n": 3, "backend": "structured"}
               for m in METHODS]
    vstest.produce(kafka.bootstrap, "vs.jobs", so_jobs)
    got = results.wait(keys={j["id"] for j in so_jobs}, timeout=60)
    tap.ok(all(got[j["id"]][0]["status"] == "ok" and
               got[j["id"]][0]["model"] == "fake-so" and
               len(got[j["id"]][0]["candidates"]) == 3 for j in so_jobs),
           "structured-output backend: every method ok",
           diag=repr([got[j["id"]][0].value for j in so_jobs][:2]))
    sent = [r for r in fake.requests()
            if (r.get("body") or {}).get("model") == "fake-so"]
    schemas = [(r.get("body") or {}).get("response_format") or {}
               for r in sent]
    tap.ok(sent and all(x.get("type") == "json_schema" and
                        x.get("json_schema", {}).get("schema")
                        for x in schemas),
           "structured-output requests carry response_format with a JSON "
           "schema (%d requests)" % len(sent))
    tap.ok(all(r.get("auth_ok") for r in fake.requests()[:50]),
           "requests carry the API key from api_key_env")

    # --- dedup and diversity ------------------------------------------------
    def one(jobs_, timeout=60):
        vstest.produce(kafka.bootstrap, "vs.jobs", jobs_)
        g = results.wait(keys={x["id"] for x in jobs_}, timeout=timeout)
        return {k: g[k][-1].value for k in g}

    v = one([{"id": "dd-1", "prompt": "Sea [[fake:dedup_mix]]", "k": 6}])["dd-1"]
    tap.is_((v["dedup"]["in_job"], [c["text"] for c in v["candidates"]]),
            (2, ["The sea is calm tonight, and the moon is bright.",
                 "A lighthouse blinks over the cold harbour water.",
                 "Bread rises slowly in a warm kitchen at dawn.",
                 "A lighthouse blinks over the cold harbor water."]),
            "in-job dedup: an exact and a near duplicate dropped, the first "
            "kept, Jaccard 7/9 kept")
    tap.ok([round(c["probability"], 9) for c in v["candidates"]] ==
           [0.5, 0.166666667, 0.166666667, 0.166666667] and
           not schema_errors(v), "probabilities renormalised over what is "
           "kept", diag=repr(v))
    dv = v["diversity"]
    tap.ok(dv["semantic"] is None and all(isinstance(dv[k], float) for k in
                                          ("rouge_l", "distinct_1",
                                           "distinct_2", "distinct_3")),
           "lexical diversity computed, semantic nil without embed",
           diag=repr(dv))
    v = one([{"id": "sc-1", "prompt": "Coffee [[fake:scope_a]]", "k": 3,
              "dedup_scope": "coffee"}])["sc-1"]
    tap.is_((v["dedup"], len(v["candidates"])),
            ({"in_job": 0, "in_scope": 0}, 3), "first job of a scope: "
            "nothing dropped")
    got2 = one([{"id": "sc-2", "prompt": "Coffee [[fake:scope_b]]", "k": 3,
                 "dedup_scope": "coffee"},
                {"id": "sc-tea", "prompt": "Tea [[fake:scope_b]]", "k": 3,
                 "dedup_scope": "tea"}])
    tap.is_((got2["sc-2"]["dedup"]["in_scope"],
             [c["text"] for c in got2["sc-2"]["candidates"]]),
            (2, ["Decaf is just coffee that gave up."]),
            "second job of the scope: an exact and a reordered duplicate "
            "of the first job dropped")
    tap.is_(got2["sc-tea"]["dedup"]["in_scope"], 0,
            "another scope does not see them")
    # A redelivery (same job id) never matches its own earlier candidates.
    vstest.produce(kafka.bootstrap, "vs.jobs", [
        {"id": "sc-2", "prompt": "Coffee [[fake:scope_b]]", "k": 3,
         "dedup_scope": "coffee"}])
    vstest.wait_for(lambda: results.poll(0.2) is not None and
                    len(results.by_key.get("sc-2", [])) >= 2, timeout=60,
                    what="redelivered sc-2")
    tap.is_(results.by_key["sc-2"][-1]["dedup"]["in_scope"], 2,
            "a redelivered job does not count its own candidates")
    rc = d.stop(60)
    d = vstest.vsampd(conf, "-d")
    logs.append(d)
    tap.ok(rc == 0 and "dedup state loaded" in d.log_text(),
           "the scope index is saved at drain and loaded at start")
    v = one([{"id": "sc-3", "prompt": "Coffee [[fake:scope_b]]", "k": 3,
              "dedup_scope": "coffee"}])["sc-3"]
    tap.ok(v["status"] == "ok" and v["dedup"]["in_scope"] == 3 and
           v["candidates"] == [] and v["selected"] is None and
           v["diversity"] is None,
           "after a restart every candidate is a scope duplicate: ok, empty, "
           "selected and diversity nil", diag=repr(v))
    got3 = one([{"id": "em-1", "prompt": "Cats [[fake:para]]", "k": 5,
                 "embed": True},
                {"id": "em-1x", "prompt": "One", "method": "direct", "n": 1,
                 "embed": True}])
    sem = got3["em-1"]["diversity"]["semantic"]
    tap.ok(isinstance(sem, float) and 0.0 <= sem <= 1.0,
           "embed: semantic diversity from the embeddings backend",
           diag=repr(got3["em-1"]["diversity"]))
    dv = got3["em-1x"]["diversity"]
    tap.ok(dv["semantic"] is None and dv["rouge_l"] is None and
           isinstance(dv["distinct_1"], float),
           "one candidate: semantic and rouge_l nil, distinct-n defined",
           diag=repr(dv))
    emb = [r for r in fake.requests(path="/v1/embeddings")]
    tap.is_(len(emb), 1, "one batched embeddings request per job")

    # --- bad jobs -------------------------------------------------------
    bads = [
        ("bad-k", vstest.encode({"id": "bad-k", "prompt": "x", "k": 0}),
         "k"),
        ("bad-method", vstest.encode({"id": "bad-method", "prompt": "x",
                                      "method": "nope"}, "json"), "method"),
        ("bad-noprompt", vstest.encode({"id": "bad-noprompt"}), "prompt"),
        ("bad-utf8", b'{"id":"bad-utf8","prompt":"\xff\xfe"}', None),
        ("bad-role", vstest.encode({"id": "bad-role", "messages": [
            {"role": "assistant", "content": "x"}]}), "messages"),
        ("bad-tail", vstest.encode({"id": "bad-tail", "prompt": "x",
                                    "tail": 1.5}), "tail"),
        ("bad-garbage", b"\xc1\x00garbage", None),
        ("bad-noid", vstest.encode({"prompt": "x"}), "id"),
    ]
    vstest.produce(kafka.bootstrap, "vs.jobs",
                   [(k, v, [("trace", b"t-" + k.encode())])
                    for k, v, _ in bads])
    keys = {k for k, _, _ in bads}
    got = results.wait(keys=keys, timeout=60)
    dl = dlq.wait(keys=keys, timeout=60)
    for k, raw, field in bads:
        v = got[k][0].value
        ok = v["status"] == "error" and v["error"]["code"] == "bad_job" \
            and not schema_errors(v)
        if field:
            ok = ok and v["error"]["message"].startswith(field)
        tap.ok(ok, "bad job %s: bad_job error result naming %s" %
               (k, field or "the problem"), diag=repr(v))
    idless = [got[k][0].value["id"] for k in ("bad-garbage", "bad-noid")]
    tap.is_(idless, [None, None], "undecodable or id-less jobs: id nil, "
            "keyed by the input key")
    dlok = []
    for k, raw, _ in bads:
        r = dl[k][0]
        h = r.headers
        dlok.append(r.raw == raw and h.get("vsampd-error") == "bad_job" and
                    h.get("trace") == "t-" + k and
                    h.get("vsampd-source-topic") == "vs.jobs" and
                    h.get("vsampd-source-offset") ==
                    str(got[k][0]["source"]["offset"]) and
                    "vsampd-attempts" in h)
    tap.ok(all(dlok), "every bad job has a DLQ copy: same bytes, key and "
           "headers, plus vsampd-* headers")

    # --- backend failures ----------------------------------------------
    fails = {
        "be-500": ("http500", "error", "backend", 3),
        "be-429": ("http429", "ok", None, 2),
        "be-always429": ("always429", "error", "rate_limited", 3),
        "be-garbage": ("garbage", "error", "parse", 3),
        "be-malformed": ("malformed_json", "error", "backend", 3),
        "be-close": ("close", "error", "backend", 3),
    }
    vstest.produce(kafka.bootstrap, "vs.jobs", [
        {"id": k, "prompt": "Tell a joke. [[fake:%s]]" % m, "k": 3}
        for k, (m, _, _, _) in fails.items()])
    got = results.wait(keys=set(fails), timeout=120)
    for k, (m, status, code, attempts) in fails.items():
        v = got[k][0].value
        ok = v["status"] == status and v["attempts"] == attempts
        if code:
            ok = ok and v["error"]["code"] == code
        tap.ok(ok, "backend %s: %s after %d attempts" %
               (m, code or status, attempts),
               diag=repr({x: v[x] for x in ("status", "error", "attempts")}))
    tap.ok(d.alive(), "the daemon keeps running after backend failures")

    # --- drain on SIGTERM, then SIGKILL ---------------------------------
    for sig in (signal.SIGTERM, signal.SIGKILL):
        name = "term" if sig == signal.SIGTERM else "kill"
        slow = [{"id": "%s-%03d" % (name, i), "k": 2,
                 "prompt": "Slowly now %d [[fake:slow]]" % i}
                for i in range(200)]
        vstest.produce(kafka.bootstrap, "vs.jobs", slow)
        time.sleep(2.0)
        rc = d.stop(60, sig)
        if sig == signal.SIGTERM:
            tap.is_(rc, 0, "SIGTERM with 200 jobs in flight: exit 0")
        d = vstest.vsampd(conf, "-v")
        ids = {j["id"] for j in slow}
        try:
            got = results.wait(keys=ids, timeout=240)
            missing = []
        except TimeoutError as e:
            missing = [str(e)]
        tap.ok(not missing, "%s mid-run, restart: every job id has a "
               "result" % ("SIGTERM" if name == "term" else "SIGKILL"),
               diag="; ".join(missing))

    # --- committed offsets reach the end after a clean stop -------------
    rc = d.stop(60)
    ends = vstest.end_offsets(kafka.bootstrap, "vs.jobs")
    comm = vstest.committed_offsets(kafka.bootstrap, "vsampd-it", "vs.jobs")
    tap.is_(comm, ends, "after a drain the group's committed offsets equal "
            "the end offsets")

    # --- scale-out: two instances share a 4-partition topic -------------
    a = vstest.vsampd(conf, "-v", name="vsampd-a")
    b = vstest.vsampd(conf, "-v", name="vsampd-b")
    vstest.wait_for(lambda: "assigned 2 partition" in a.log_text() and
                    "assigned 2 partition" in b.log_text(),
                    timeout=60, what="both instances assigned")
    so = [{"id": "so-%04d" % i, "prompt": "Scale %d [[fake:slow]]" % i,
           "k": 2} for i in range(300)]
    vstest.produce(kafka.bootstrap, "vs.jobs", so)
    vstest.wait_for(lambda: sum(1 for r in results.poll(0.1)) >= 0 and
                    sum(1 for k in results.by_key if k.startswith("so-"))
                    >= 50, timeout=120, what="first results")
    rc_b = b.stop(60)
    logs += [a, b]
    try:
        results.wait(keys={j["id"] for j in so}, timeout=240)
        lost = []
    except TimeoutError as e:
        lost = [str(e)]
    tap.is_(rc_b, 0, "stopping one instance mid-run exits 0")
    tap.ok(not lost, "two instances, one stopped mid-run: nothing lost",
           diag="; ".join(lost))
    parts = {}
    for k, recs in results.by_key.items():
        if k.startswith("so-"):
            parts.setdefault(recs[0]["source"]["partition"], 0)
            parts[recs[0]["source"]["partition"]] += 1
    tap.is_(sorted(parts), [0, 1, 2, 3], "jobs came from all 4 partitions")
    a.stop(60)

    # --- backpressure: at max_inflight the gate holds, nothing more -------
    kafka.create_topics({"gt.jobs": 2, "gt.results": 2})
    conf3 = vstest.scratch("vsampd-gate-", ".conf")
    write_conf(conf3, kafka.bootstrap, fake.url, group="vsampd-gate",
               jobs="gt.jobs", res="gt.results", max_inflight=4,
               consumer={"client_id": "vsampd-gate-7"})
    fake.reset()
    gres = vstest.Collector(kafka.bootstrap, "gt.results")
    gate = [{"id": "gt-%03d" % i, "k": 2,
             "prompt": "Gate %d [[fake:slowish]]" % i} for i in range(40)]
    vstest.produce(kafka.bootstrap, "gt.jobs", gate)
    g = vstest.vsampd(conf3, "-v", name="vsampd-gate")
    try:
        gres.wait(keys={j["id"] for j in gate}, timeout=120)
        lost = []
    except TimeoutError as e:
        lost = [str(e)]
    peak = fake.stats()["max_inflight"]
    tap.ok(not lost and 1 <= peak <= 4,
           "max_inflight 4: 40 jobs done, at most 4 requests at once at the "
           "backend (saw %d)" % peak, diag="; ".join(lost))
    groups = AdminClient({"bootstrap.servers": kafka.bootstrap}).list_groups(
        "vsampd-gate", timeout=10)
    ids = [m.client_id for gm in groups for m in gm.members]
    tap.is_(ids, ["vsampd-gate-7"], "kafka.consumer client_id is the "
            "member's client id (not overridden)")
    g.stop(60)
    gres.close()
    logs.append(g)

    # --- backpressure across a rebalance; an undeliverable DLQ copy -------
    kafka.create_topics({"bp.jobs": 4, "bp.results": 4})
    kafka.create_topics({"bp.dlq": 1}, config={"max.message.bytes": "1024"})
    conf2 = vstest.scratch("vsampd-bp-", ".conf")
    write_conf(conf2, kafka.bootstrap, fake.url, group="vsampd-bp",
               jobs="bp.jobs", res="bp.results", dlq="bp.dlq",
               max_inflight=4,
               embed_url="http://127.0.0.1:%d/v1" % vstest.free_port())
    bpres = vstest.Collector(kafka.bootstrap, "bp.results")
    p1 = vstest.vsampd(conf2, "-v", name="vsampd-bp1")
    bp = [{"id": "bp-%03d" % i, "prompt": "Pause %d [[fake:slow]]" % i,
           "k": 2} for i in range(60)]
    vstest.produce(kafka.bootstrap, "bp.jobs", bp)
    vstest.wait_for(lambda: "paused 4 partition" in p1.log_text(),
                    timeout=30, what="backpressure pause")
    p2 = vstest.vsampd(conf2, "-v", name="vsampd-bp2")
    try:
        bpres.wait(keys={j["id"] for j in bp}, timeout=240)
        lost = []
    except TimeoutError as e:
        lost = [str(e)]
    tap.ok(not lost, "max_inflight 4: partitions paused for backpressure "
           "still deliver after a rebalance", diag="; ".join(lost))
    big = {"id": "bp-big", "prompt": "x" * 4000, "k": 0}
    vstest.produce(kafka.bootstrap, "bp.jobs", [big])
    got = bpres.wait(keys={"bp-big"}, timeout=60)
    tap.is_(got["bp-big"][0]["error"]["code"], "bad_job",
            "a bad job whose DLQ copy is too big still gets its result")
    tail = [{"id": "bp-after-%d" % i, "prompt": "after", "k": 1}
            for i in range(8)]
    tail.append({"id": "bp-embed", "prompt": "Cats [[fake:para]]", "k": 5,
                 "embed": True})
    vstest.produce(kafka.bootstrap, "bp.jobs", tail)
    got = bpres.wait(keys={j["id"] for j in tail}, timeout=60)
    v = got["bp-embed"][0].value
    tap.ok(v["status"] == "ok" and len(v["candidates"]) == 5 and
           v["diversity"]["semantic"] is None and
           isinstance(v["diversity"]["rouge_l"], float),
           "embeddings backend down: the result still comes, semantic nil",
           diag=repr(v["diversity"]))
    p1.stop(60)
    p2.stop(60)
    ends = vstest.end_offsets(kafka.bootstrap, "bp.jobs")
    comm = vstest.committed_offsets(kafka.bootstrap, "vsampd-bp", "bp.jobs")
    tap.is_(comm, ends, "an undeliverable DLQ copy does not stall the "
            "partition: committed offsets reach the end")
    logs += [p1, p2]
    bpres.close()

    leaked = [x.name for x in logs if SECRET in x.log_text()]
    tap.ok(not leaked, "the API key appears in no log line", diag=leaked)
    tap.ok(all(SECRET.encode() not in r.raw for r in results.records),
           "the API key appears in no result")
    results.close()
    dlq.close()
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
