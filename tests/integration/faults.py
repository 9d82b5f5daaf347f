#!/usr/bin/env python3
"""Fault injection: under each fault, every job id ends with a result
(or a DLQ copy), nothing is lost, and the daemon keeps running (or, when
it is the one killed, comes back and finishes the work).

With a real Kafka broker:
  - the broker restarts mid-run;
  - the daemon is SIGKILLed 10 times under load;
  - the backend vanishes and comes back;
  - poison messages: random bytes, a 10 MB message, msgpack nested
    10,000 deep, invalid UTF-8 in text fields, NaN in numbers.
With librdkafka's mock cluster (faults a real broker cannot show on cue):
  - Produce NOT_ENOUGH_REPLICAS bursts;
  - OffsetCommit REBALANCE_IN_PROGRESS;
  - a 30-second group coordinator outage.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it; asan runs a shorter kill
loop.
"""

import math
import os
import random
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()
rnd = random.Random(20261201)


def write_conf(path, brokers, url, group):
    return vstest.conf(
        path, brokers,
        kafka={"group_id": group, "jobs_topic": "f.jobs",
               "results_topic": "f.results", "dlq_topic": "f.dlq",
               "consumer": dict(vstest.FAST_CONSUMER,
                            auto_commit_interval_ms=200),
               "producer": {"linger_ms": 5}},
        backends=[vstest.backend("local", url, max_inflight=32,
                                 timeout_ms=5000, max_retries=3)],
        defaults={"backend": "local", "method": "vs_standard", "k": 3},
        worker={"max_inflight": 64, "shutdown_timeout_ms": 10000,
                "max_message_bytes": 1048576})


def lost(expected, results, dlq=None):
    """Job ids with neither a result nor a DLQ copy."""
    have = set(results.by_key)
    if dlq is not None:
        have |= set(dlq.by_key)
    return sorted(set(expected) - have)


def wait_all(coll, ids, timeout, dlq=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        coll.poll(0.5)
        if dlq is not None:
            dlq.poll(0.1)
        if not lost(ids, coll, dlq):
            return []
    return lost(ids, coll, dlq)


def deep_msgpack(depth):
    """A job whose metadata nests depth arrays deep."""
    head = b"\x83" + b"\xa2id" + b"\xa9deep-job0" + b"\xa6prompt" + \
        b"\xa2hi" + b"\xa8metadata"
    return head + b"\x91" * depth + b"\xc0"


def poison_jobs():
    """(key, value, what) for each poison message."""
    out = []
    for i in range(5):
        out.append(("rand-%d" % i, bytes(rnd.getrandbits(8)
                                         for _ in range(rnd.randint(1, 300))),
                    "random bytes"))
    big = b'{"id": "big-1", "prompt": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    out.append(("big-1", big, "a 10 MB message"))
    out.append(("deep-1", deep_msgpack(10000), "msgpack nested 10,000 deep"))
    bad_utf8 = b'\x82\xa2id\xa8utf8-bad\xa6prompt\xa4\xff\xfe\xc3('
    out.append(("utf8-bad", bad_utf8, "invalid UTF-8 in the prompt"))
    # msgpack float64 NaN as temperature.
    nan = b"\x83\xa2id\xa7nan-job\xa6prompt\xa2hi\xabtemperature" + \
        b"\xcb" + struct.pack(">d", math.nan)
    out.append(("nan-job", nan, "NaN in a number"))
    out.append(("json-nan", b'{"id": "json-nan", "prompt": "hi", '
                b'"top_p": NaN}', "NaN in JSON"))
    return out


def real_kafka_faults():
    kafka = vstest.Kafka(props={"message.max.bytes": 16 * 1024 * 1024}
                         ).start()
    tap.diag("kafka %s up in %.1fs" % (kafka.bootstrap, kafka.startup_s))
    kafka.create_topics({"f.jobs": 4, "f.results": 4, "f.dlq": 2},
                        config={"max.message.bytes": str(16 << 20)})
    fake = vstest.FakeModel().start()
    conf = vstest.scratch("faults-", ".conf")
    write_conf(conf, kafka.bootstrap, fake.url, "vsampd-faults")
    results = vstest.Collector(kafka.bootstrap, "f.results")
    dlq = vstest.Collector(kafka.bootstrap, "f.dlq", decode="raw")

    # --- SIGKILL 10 times under load ----------------------------------
    kills = 10 if PROFILE == "full" else 4
    n = 3000 if PROFILE == "full" else 600
    ids = ["kill-%05d" % i for i in range(n)]
    vstest.produce(kafka.bootstrap, "f.jobs", [
        {"id": j, "prompt": "Sea %d %s" % (i, vstest.marker("slowish")
                                            if i % 10 == 0 else ""), "k": 3}
        for i, j in enumerate(ids)])
    done_before = []
    for k in range(kills):
        d = vstest.vsampd(conf, name="vsampd-kill%d" % k, ready=90)
        time.sleep(rnd.uniform(1.0, 3.0))
        d.send_signal(signal.SIGKILL)
        d.wait(30)
        results.poll(0.5)
        done_before.append(len(results.by_key))
    tap.diag("results after each kill: %r" % done_before)
    d = vstest.vsampd(conf, name="vsampd-final", ready=90)
    missing = wait_all(results, ids, 300)
    tap.ok(not missing, "SIGKILLed %d times under load: every one of %d "
           "jobs has a result (%d lost)" % (kills, n, len(missing)),
           diag=repr(missing[:10]))
    tap.ok(d.alive(), "the daemon runs after the kills")

    # --- the broker restarts mid-run ----------------------------------
    ids = ["rst-%04d" % i for i in range(1500)]
    vstest.produce(kafka.bootstrap, "f.jobs", [
        {"id": j, "prompt": "Restart %s %s" % (j, vstest.marker("slowish")
                                               if i % 4 == 0 else ""),
         "k": 3} for i, j in enumerate(ids)])
    time.sleep(2)
    results.poll(0.5)
    done = len([j for j in ids if j in results.by_key])
    secs = kafka.restart()
    tap.diag("broker restarted in %.1f s (%d of %d jobs done before)" % (
        secs, done, len(ids)))
    missing = wait_all(results, ids, 300)
    tap.ok(not missing, "the broker restarts mid-run: all %d jobs have a "
           "result (%d lost)" % (len(ids), len(missing)),
           diag=repr(missing[:10]))
    tap.ok(d.alive(), "the daemon runs through the broker restart")

    # --- the backend vanishes and comes back -------------------------
    port = fake.port
    fake.stop()
    ids = ["gone-%03d" % i for i in range(200)]
    vstest.produce(kafka.bootstrap, "f.jobs",
                   [{"id": j, "prompt": "Gone %s" % j, "k": 3} for j in ids])
    time.sleep(8)
    fake = vstest.FakeModel(port=port).start()
    missing = wait_all(results, ids, 180, dlq)
    tap.is_(len(missing), 0, "backend gone for 8 s and back: all 200 jobs "
            "end with a result or DLQ copy")
    st = {}
    for j in ids:
        s = results.by_key[j][-1]["status"]
        st[s] = st.get(s, 0) + 1
    tap.diag("while the backend was gone: %r" % st)
    tap.ok(d.alive(), "the daemon runs through the backend outage")

    # --- poison messages ------------------------------------------------
    poison = poison_jobs()
    p = vstest.producer(kafka.bootstrap, message_max_bytes=16 << 20)
    for k, v, _ in poison:
        p.produce("f.jobs", key=k.encode(), value=v)
    tap.is_(p.flush(60), 0, "the poison messages are on the jobs topic")
    ids = [k for k, _, _ in poison]
    missing = wait_all(results, ids, 120, dlq)
    tap.is_(missing, [], "every poison message gets a result")
    missing_dlq = wait_all(dlq, ids, 60)
    tap.is_(missing_dlq, [], "and a DLQ copy")
    for k, _, what in poison:
        r = results.by_key.get(k, [None])[-1]
        code = r["error"]["code"] if r is not None and r["error"] else None
        want = "too_large" if k.startswith("big") else "bad_job"
        tap.is_(code, want, "%s: %s" % (what, want))
    big = dlq.by_key["big-1"][-1]
    tap.ok(big.raw in (b"", None) and
           big.headers.get("vsampd-original-size", "").isdigit(),
           "the 10 MB job's DLQ copy is empty with vsampd-original-size")
    deep = results.by_key["deep-1"][-1]
    tap.ok("32" in deep["error"]["message"] or "deep" in
           deep["error"]["message"], "the deep one names the nesting limit",
           diag=deep["error"]["message"])
    tap.ok(d.alive(), "the daemon runs after the poison")
    rc = d.stop()
    tap.is_(rc, 0, "and drains cleanly")
    results.close()
    dlq.close()
    fake.stop()
    kafka.stop()


def mock_faults():
    mc = vstest.MockCluster(brokers=3, topics={"f.jobs": 4, "f.results": 4,
                                               "f.dlq": 1}).start()
    fake = vstest.FakeModel().start()
    conf = vstest.scratch("faults-mc-", ".conf")
    write_conf(conf, mc.bootstrap, fake.url, "vsampd-mc")
    d = vstest.vsampd(conf, name="vsampd-mc")
    results = vstest.Collector(mc.bootstrap, "f.results")

    def run(tag, n, fault, first=False, marker=""):
        """first: the jobs go on the topic before the fault (a broker
        that is down would refuse the test's own producer too)."""
        ids = ["%s-%04d" % (tag, i) for i in range(n)]
        if not first:
            mc.cmd(fault)
        vstest.produce(mc.bootstrap, "f.jobs",
                       [{"id": j, "prompt": "Mock %s %s" % (j, marker),
                         "k": 2} for j in ids], timeout=60)
        if first:
            mc.cmd(fault)
        return wait_all(results, ids, 240)

    m = run("nerr", 300, "push_errors Produce 20 NOT_ENOUGH_REPLICAS")
    tap.is_(len(m), 0, "mock: Produce NOT_ENOUGH_REPLICAS bursts: 0 lost",
            )
    m = run("rip", 300, "push_errors OffsetCommit 10 REBALANCE_IN_PROGRESS")
    tap.is_(len(m), 0, "mock: OffsetCommit REBALANCE_IN_PROGRESS: 0 lost")
    t0 = time.monotonic()
    # Slow replies keep the jobs in flight through the outage.
    m = run("coord", 300, "coordinator_down group vsampd-mc 30000",
            first=True, marker=vstest.marker("slow"))
    tap.is_(len(m), 0, "mock: a 30-second coordinator outage: 0 lost "
            "(%.0f s)" % (time.monotonic() - t0))
    tap.ok(d.alive(), "mock: the daemon runs through every fault")
    rc = d.stop()
    tap.is_(rc, 0, "mock: and drains cleanly")
    results.close()
    fake.stop()
    mc.stop()


def main():
    if PROFILE == "skip":
        tap.skip("faults", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    real_kafka_faults()
    mock_faults()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
