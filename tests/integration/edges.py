#!/usr/bin/env python3
"""The edges where a daemon loses jobs silently: a job is done only when
its result is on the results topic, whatever the topic does meanwhile.

With a real Kafka broker:
  - the results topic deleted mid-run and created again: every job id
    gets its result, vsampd does not create the topic (the broker would
    auto-create it if asked), /readyz is 503 in between, and no offset
    is committed past a job without its result;
  - the results topic refusing every write (max.message.bytes below any
    result, even the small error result) and then restored: every job id
    gets its real result, and nothing is committed past it meanwhile;
  - the poison rule: a job in flight at worker.poison_exits unclean exits
    in a row goes to the DLQ with code poison, and the partition moves on
    (the exits are SIGKILLs as the job is dispatched).
Without Kafka (vsampctl run, the same pipeline):
  - a job heavy enough to be deduplicated, scored and parsed on the
    worker thread gets exactly the scores the definitions give.
With librdkafka's mock cluster:
  - permanent and retriable Produce errors during the drain's flush: no
    offset is stored for a job whose result was not acknowledged.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it.
"""

import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()


def write_conf(path, brokers, url, group, port,
               topics=("e.jobs", "e.results", "e.dlq"), worker=None):
    """The suite's config; topics: (jobs, results, DLQ); worker adds
    worker settings."""
    return vstest.conf(
        path, brokers,
        kafka={"group_id": group, "jobs_topic": topics[0],
               "results_topic": topics[1], "dlq_topic": topics[2],
               "consumer": dict(vstest.FAST_CONSUMER,
                            auto_commit_interval_ms=200),
               "producer": {"message_timeout_ms": 5000}},
        backends=[vstest.backend("local", url, max_inflight=64,
                                 timeout_ms=10000, max_retries=2)],
        defaults={"backend": "local", "method": "vs_standard", "k": 2},
        worker=dict({"max_inflight": 256, "shutdown_timeout_ms": 4000},
                    **(worker or {})),
        metrics={"listen": "127.0.0.1:%d" % port})


def jobs(tag, n, marker=""):
    return [{"id": "%s-%03d" % (tag, i),
             "prompt": "Edge %s %d %s" % (tag, i, marker)}
            for i in range(n)]


def committed(bootstrap, group, topic):
    return vstest.committed_offsets(bootstrap, group, topic)


def job_offsets(bootstrap, topic):
    """{key: (partition, offset)} of every job on the jobs topic."""
    out = {}
    for r in vstest.consume(bootstrap, topic, timeout=3, decode="raw"):
        out[r.key] = (r.partition, r.offset)
    return out


def committed_past_unanswered(offsets, commits, answered):
    """Job keys below a committed offset that have no result."""
    bad = []
    for key, (p, o) in offsets.items():
        c = commits.get(p, -1)
        if c is not None and c > o and key not in answered:
            bad.append(key)
    return sorted(bad)


def readyz(port):
    try:
        return vstest.http_get("http://127.0.0.1:%d/readyz" % port)[0]
    except Exception:
        return None


def topic_exists(kafka, name):
    md = kafka.admin().list_topics(timeout=10)
    t = md.topics.get(name)
    return t is not None and t.error is None


def deleted_results_topic(kafka, fake):
    """The results topic deleted while results are due, then created
    again by the operator."""
    port = vstest.free_port()
    conf = vstest.scratch("edges-del-", ".conf")
    write_conf(conf, kafka.bootstrap, fake.url, "edges-del", port)
    d = vstest.vsampd(conf, "-d", name="vsampd-del")
    first = jobs("del1", 40)
    vstest.produce(kafka.bootstrap, "e.jobs", first)
    res = vstest.Collector(kafka.bootstrap, "e.results")
    res.wait(keys=[j["id"] for j in first], timeout=60)
    tap.is_(readyz(port), 200, "deleted topic: ready before")
    res.close()
    # Slow replies: the second batch is in flight when the topic goes.
    second = jobs("del2", 60, vstest.marker("slow"))
    vstest.produce(kafka.bootstrap, "e.jobs", second)
    kafka.delete_topics(["e.results"])
    blocked = vstest.wait_for(lambda: readyz(port) == 503, timeout=60,
                              what="/readyz 503")
    tap.ok(blocked, "deleted topic: /readyz turns 503 while results are "
           "held")
    m = vstest.parse_metrics(vstest.http_get(
        "http://127.0.0.1:%d/metrics" % port)[1])
    tap.ok(vstest.metric(m, "vsampd_results_blocked") > 0,
           "deleted topic: vsampd_results_blocked counts the held results "
           "(%s)" % vstest.metric(m, "vsampd_results_blocked"))
    # The broker auto-creates topics for clients that ask; vsampd never
    # does, however long it holds.
    time.sleep(8)
    tap.ok(not topic_exists(kafka, "e.results"),
           "deleted topic: vsampd did not create it again")
    offs = job_offsets(kafka.bootstrap, "e.jobs")
    commits = committed(kafka.bootstrap, "edges-del", "e.jobs")
    answered = set(j["id"] for j in first)
    bad = committed_past_unanswered(offs, commits, answered)
    tap.is_(len(bad), 0, "deleted topic: nothing committed past a job "
            "without its result (%s)" % bad[:5])
    tap.is_(len(d.log_text().split("refuses writes")) - 1, 1,
            "deleted topic: one log line for the change of state")
    kafka.create_topics({"e.results": 2})
    res = vstest.Collector(kafka.bootstrap, "e.results")
    got = res.wait(keys=[j["id"] for j in second], timeout=120,
                   partial=True)
    missing = sorted(set(j["id"] for j in second) - set(got))
    tap.is_(len(missing), 0, "deleted topic: every job has its result "
            "once the topic is back (%s)" % missing[:5])
    ok = sum(1 for k in got if got[k][-1].value["status"] == "ok")
    tap.is_(ok, len(second), "deleted topic: the real results, ok")
    tap.ok(vstest.wait_for(lambda: readyz(port) == 200, timeout=30,
                           what="/readyz 200"),
           "deleted topic: /readyz is 200 again")
    tap.ok(d.wait_log(r"accepts writes again", timeout=5) is not None,
           "deleted topic: the recovery is logged")
    res.close()
    rc = d.stop()
    tap.is_(rc, 0, "deleted topic: the daemon drains and exits 0")
    commits = committed(kafka.bootstrap, "edges-del", "e.jobs")
    ends = vstest.end_offsets(kafka.bootstrap, "e.jobs")
    tap.is_(commits, ends, "deleted topic: everything committed at the "
            "end")


def refusing_results_topic(kafka, fake):
    """max.message.bytes on the results topic below any result (the
    small error result included), then back to the default."""
    port = vstest.free_port()
    conf = vstest.scratch("edges-ref-", ".conf")
    kafka.create_topics({"e.jobs2": 2, "e.results2": 2, "e.dlq2": 1})
    write_conf(conf, kafka.bootstrap, fake.url, "edges-ref", port,
               topics=("e.jobs2", "e.results2", "e.dlq2"))
    d = vstest.vsampd(conf, "-d", name="vsampd-ref")
    vstest.alter_topic_config(kafka.bootstrap, "e.results2",
                              {"max.message.bytes": "16"})
    time.sleep(1)
    batch = jobs("ref", 80)
    vstest.produce(kafka.bootstrap, "e.jobs2", batch)
    tap.ok(vstest.wait_for(lambda: readyz(port) == 503, timeout=60,
                           what="/readyz 503"),
           "refusing topic: /readyz turns 503")
    time.sleep(5)
    offs = job_offsets(kafka.bootstrap, "e.jobs2")
    commits = committed(kafka.bootstrap, "edges-ref", "e.jobs2")
    res = vstest.Collector(kafka.bootstrap, "e.results2")
    res.poll(2)
    bad = committed_past_unanswered(offs, commits, set(res.by_key))
    tap.is_(len(bad), 0, "refusing topic: nothing committed past a job "
            "without its result (%s)" % bad[:5])
    tap.is_(len(res.by_key), 0, "refusing topic: nothing got through "
            "meanwhile")
    vstest.alter_topic_config(kafka.bootstrap, "e.results2",
                              {"max.message.bytes": None})
    got = res.wait(keys=[j["id"] for j in batch], timeout=120, partial=True)
    missing = sorted(set(j["id"] for j in batch) - set(got))
    tap.is_(len(missing), 0, "refusing topic: every job has its result "
            "once restored (%s)" % missing[:5])
    ok = sum(1 for k in got if any(r.value["status"] == "ok"
                                   for r in got[k]))
    tap.is_(ok, len(batch), "refusing topic: each the real, ok result")
    tap.ok(vstest.wait_for(lambda: readyz(port) == 200, timeout=30,
                           what="/readyz 200"),
           "refusing topic: /readyz is 200 again")
    res.close()
    tap.is_(d.stop(), 0, "refusing topic: the daemon drains and exits 0")


def poison_rule(kafka, fake):
    """A job in flight at worker.poison_exits (3) unclean exits in a row
    (here: SIGKILL as it is dispatched) goes to the DLQ as poison; the
    jobs around it run, and the partition moves on."""
    kafka.create_topics({"e.pjobs": 1, "e.presults": 1, "e.pdlq": 1})
    port = vstest.free_port()
    conf = vstest.scratch("edges-psn-", ".conf")
    record = vstest.scratch("edges-psn-", ".inflight")
    write_conf(conf, kafka.bootstrap, fake.url, "edges-psn", port,
               topics=("e.pjobs", "e.presults", "e.pdlq"),
               worker={"poison_exits": 3, "inflight_file": record})
    before, after = jobs("pre", 3), jobs("post", 3)
    bad = {"id": "psn-1", "prompt": "Poison %s" % vstest.marker("slow")}
    vstest.produce(kafka.bootstrap, "e.pjobs", before + [bad] + after)
    for k in range(3):
        d = vstest.vsampd(conf, "-d", name="vsampd-psn%d" % k, ready=0)
        d.wait_log(r"job psn-1 topic e\.pjobs", timeout=60)
        d.send_signal(signal.SIGKILL)
        d.wait(30)
        if k == 1:
            log = d.log_text()
            tap.ok("in flight at 1 unclean exit(s) in a row" in log and
                   "runs alone" not in log,
                   "poison: after one unclean exit the suspect is named, "
                   "and runs with the others")
        if k == 2:
            tap.ok("runs alone" in d.log_text(),
                   "poison: after two the suspect runs alone")
    d = vstest.vsampd(conf, "-d", name="vsampd-psn")
    dlq = vstest.Collector(kafka.bootstrap, "e.pdlq", decode="raw")
    got = dlq.wait(keys=["psn-1"], timeout=60)
    copy = got["psn-1"][-1]
    tap.is_(copy.headers.get("vsampd-error"), "poison",
            "poison: the job's DLQ copy says poison")
    tap.ok(copy.raw == vstest.encode(bad),
           "poison: the copy holds the job's bytes unchanged")
    res = vstest.Collector(kafka.bootstrap, "e.presults")
    ids = [j["id"] for j in before + after]
    got = res.wait(keys=ids + ["psn-1"], timeout=60)
    err = got["psn-1"][-1].value
    tap.ok(err["status"] == "error" and err["error"]["code"] == "poison",
           "poison: an error result with code poison (%s)" % err["error"])
    tap.is_(sum(1 for i in ids if got[i][-1].value["status"] == "ok"),
            len(ids), "poison: the jobs around it have their ok results")
    tap.ok("quarantined" in d.log_text(), "poison: the log says so")
    dlq.close()
    res.close()
    tap.is_(d.stop(), 0, "poison: the daemon drains and exits 0")
    tap.is_(committed(kafka.bootstrap, "edges-psn", "e.pjobs"),
            vstest.end_offsets(kafka.bootstrap, "e.pjobs"),
            "poison: the partition moved on past it")


def drain_faults():
    """Produce errors injected as the drain's flush begins, on the mock
    cluster: permanent ones (TOPIC_AUTHORIZATION_FAILED) and retriable
    ones (NOT_ENOUGH_REPLICAS, beyond message.timeout.ms)."""
    for err in ("TOPIC_AUTHORIZATION_FAILED", "NOT_ENOUGH_REPLICAS"):
        mc = vstest.MockCluster(brokers=1, topics={
            "e.jobs": 2, "e.results": 2, "e.dlq": 1}).start()
        fake = vstest.FakeModel().start()
        port = vstest.free_port()
        conf = vstest.scratch("edges-mc-", ".conf")
        write_conf(conf, mc.bootstrap, fake.url, "edges-mc", port,
                   worker={"poison_exits": 0})
        d = vstest.vsampd(conf, "-d", name="vsampd-mc")
        warm = jobs("warm", 20)
        vstest.produce(mc.bootstrap, "e.jobs", warm, timeout=60)
        res = vstest.Collector(mc.bootstrap, "e.results")
        res.wait(keys=[j["id"] for j in warm], timeout=60)
        # Slow jobs, then the errors, then SIGTERM: their results meet
        # the errors during the drain.
        late = jobs("late-" + err[:4].lower(), 40, vstest.marker("slow"))
        vstest.produce(mc.bootstrap, "e.jobs", late, timeout=60)
        time.sleep(1.0)
        for _ in range(6):
            mc.cmd("push_errors Produce 64 %s" % err)
        d.send_signal(signal.SIGTERM)
        rc = d.wait(60)
        tap.is_(rc, 0, "drain with %s: exits 0" % err)
        res.poll(2)
        answered = set(res.by_key)
        offs = job_offsets(mc.bootstrap, "e.jobs")
        commits = committed(mc.bootstrap, "edges-mc", "e.jobs")
        bad = committed_past_unanswered(offs, commits, answered)
        tap.is_(len(bad), 0, "drain with %s: no offset stored for an "
                "unacknowledged result (%d answered, committed %s; %s)" %
                (err, len(answered), commits, bad[:5]))
        tap.ok(len(answered) < len(warm) + len(late),
               "drain with %s: the fault did cut results off (else the "
               "test shows nothing)" % err)
        res.close()
        d.stop()
        fake.stop()
        mc.stop()


def heavy_scoring():
    """A job heavy enough to be deduplicated and scored on the worker
    thread, with replies large enough to be parsed there too, gets
    exactly the scores the definitions give. Each candidate is a prefix
    shared by all (m words) and words of its own (u): every pair's LCS is
    the prefix, so ROUGE-L F1 is m / (m + u) for every pair, and the
    distinct-n ratios follow by counting. Six calls return the same 100
    candidates: 500 exact duplicates dropped in the job."""
    m, u, k, calls = 250, 250, 100, 6
    prefix = " ".join("p%d" % i for i in range(m))
    items = [{"text": prefix + " " + " ".join("u%dx%d" % (c, i)
                                            for i in range(u)),
              "probability": 0.01} for c in range(k)]
    content = json.dumps({"responses": items})
    script = vstest.scratch("edges-heavy-", ".json")
    with open(script, "w") as f:
        json.dump({"default": {"content": content}}, f)
    fake = vstest.FakeModel(script=script, log_bodies=False).start()
    conf = vstest.scratch("edges-heavy-", ".conf")
    # vsampctl run: no Kafka, no metrics, no dedup state, the default type
    vstest.conf(conf, None, kafka=None, metrics=None, dedup=None,
                backends=[vstest.backend("local", fake.url, type=None,
                                         max_inflight=8, timeout_ms=60000)],
                defaults={"backend": "local", "method": "vs_standard",
                          "k": k},
                worker={"max_result_bytes": 67108864})
    job = {"id": "heavy-1", "prompt": "Heavy", "k": k, "n": k * calls}
    r = subprocess.run([vstest.vsampctl_bin(), "run", "-f", conf],
                       input=json.dumps(job) + "\n", capture_output=True,
                       text=True, timeout=300)
    fake.stop()
    tap.ok(r.returncode == 0, "heavy job: vsampctl run exits 0",
           diag=r.stderr[-500:])
    res = json.loads(r.stdout.splitlines()[-1]) if r.stdout else {}
    n = k
    tap.ok(len(content) > 256 * 1024, "heavy job: each reply is over "
           "256 KiB (%d bytes), so it is parsed off the loop" %
           len(content))
    tap.is_(res.get("status"), "ok", "heavy job: ok")
    tap.is_(len(res.get("candidates", [])), n, "heavy job: 100 kept")
    tap.is_((res.get("dedup") or {}).get("in_job"), k * (calls - 1),
            "heavy job: 500 exact duplicates dropped in the job")
    div = res.get("diversity") or {}
    want = {"rouge_l": m / (m + u),
            "distinct_1": (m + n * u) / (n * (m + u)),
            "distinct_2": (m - 1 + n * u) / (n * (m + u - 1)),
            "distinct_3": (m - 2 + n * u) / (n * (m + u - 2))}
    for key, v in want.items():
        got = div.get(key)
        tap.ok(got is not None and abs(got - v) < 1e-9,
               "heavy job: %s = %.6f (want %.6f)" % (key, got or -1, v))


def main():
    if PROFILE == "skip":
        tap.skip("edges", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    heavy_scoring()
    kafka = vstest.Kafka(props={"auto.create.topics.enable": "true"}).start()
    tap.diag("kafka %s up in %.1fs" % (kafka.bootstrap, kafka.startup_s))
    kafka.create_topics({"e.jobs": 2, "e.results": 2, "e.dlq": 1})
    fake = vstest.FakeModel().start()
    deleted_results_topic(kafka, fake)
    refusing_results_topic(kafka, fake)
    poison_rule(kafka, fake)
    fake.stop()
    kafka.stop()
    drain_faults()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
