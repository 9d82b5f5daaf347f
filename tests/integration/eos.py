#!/usr/bin/env python3
"""Exactly-once mode (kafka.exactly_once = true) on a real Kafka broker:
results, DLQ copies and consumed offsets commit in one transaction, so a
read_committed consumer sees every job id exactly once, across 10
SIGKILL cycles of the daemon under load, a SIGSTOP past the session
timeout (a lost assignment) and a SIGTERM drain. Also
measures the throughput cost against at-least-once on the same jobs
(printed as a diagnostic; docs/delivery.md quotes it).

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it; asan runs 3 cycles.
"""

import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()
rnd = random.Random(7)


def write_conf(path, brokers, url, group, topic_in, topic_out, eos):
    return vstest.conf(
        path, brokers,
        kafka={"group_id": group, "jobs_topic": topic_in,
               "results_topic": topic_out, "dlq_topic": "x.dlq",
               "exactly_once": eos, "transactional_id": group + "-txn",
               "transaction_ms": 100,
               "consumer": vstest.FAST_CONSUMER,
               "producer": {"linger_ms": 5}},
        backends=[vstest.backend("local", url, max_inflight=32)],
        defaults={"backend": "local", "k": 3},
        worker={"max_inflight": 128, "shutdown_timeout_ms": 10000})


def timed_run(kafka, fake, eos, n):
    tin, tout = ("t.eos.in", "t.eos.out") if eos else ("t.alo.in",
                                                     "t.alo.out")
    kafka.create_topics({tin: 2, tout: 2})
    ids = ["t-%05d" % i for i in range(n)]
    vstest.produce(kafka.bootstrap, tin, [{"id": j, "prompt": "T %s" % j,
                                           "k": 3} for j in ids])
    conf = write_conf(vstest.scratch("eos-t-", ".conf"), kafka.bootstrap,
                      fake.url, "g-" + tin, tin, tout, eos)
    res = vstest.Collector(kafka.bootstrap, tout)
    t0 = time.monotonic()
    d = vstest.vsampd(conf, name="vsampd-t", ready=0)
    res.wait(keys=set(ids), timeout=300)
    dt = time.monotonic() - t0
    d.stop()
    res.close()
    return n / dt


def main():
    if PROFILE == "skip":
        tap.skip("exactly-once", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    kafka = vstest.Kafka().start()
    kafka.create_topics({"x.jobs": 4, "x.results": 4, "x.dlq": 1})
    fake = vstest.FakeModel().start()
    conf = write_conf(vstest.scratch("eos-", ".conf"), kafka.bootstrap,
                      fake.url, "vsampd-eos", "x.jobs", "x.results", True)
    cycles = 10 if PROFILE == "full" else 3
    n = 3000 if PROFILE == "full" else 600
    ids = ["x-%05d" % i for i in range(n)]
    jobs = [{"id": j, "prompt": "Eos %d %s" % (i, vstest.marker("slowish")
                                               if i % 8 == 0 else ""),
             "k": 3} for i, j in enumerate(ids)]
    jobs.append({"id": "x-bad", "prompt": "x", "k": 0})  # a DLQ copy too
    vstest.produce(kafka.bootstrap, "x.jobs", jobs)
    committed = vstest.Collector(kafka.bootstrap, "x.results")
    uncommitted = vstest.Collector(kafka.bootstrap, "x.results",
                                   isolation_level="read_uncommitted")
    for k in range(cycles):
        d = vstest.vsampd(conf, name="vsampd-eos%d" % k, ready=90)
        time.sleep(rnd.uniform(1.0, 3.0))
        d.send_signal(signal.SIGKILL)
        d.wait(30)
    d = vstest.vsampd(conf, "-v", name="vsampd-eos-final", ready=90)
    # Frozen past its session timeout (6 s), it is evicted from the
    # group: on waking, its assignment is lost, and what it finished is
    # not committed but redone.
    time.sleep(1.0)
    d.send_signal(signal.SIGSTOP)
    time.sleep(9)
    d.send_signal(signal.SIGCONT)
    with tap.step("SIGSTOP past the session timeout: on SIGCONT the lost "
                  "assignment is not committed (logged), and it rejoins"):
        m = d.wait_log(r"exactly-once: the assignment was lost",
                       timeout=60)
        d.wait_log(r"assigned [1-9]\d* partition", timeout=60,
                   start=m.end())
    want = set(ids) | {"x-bad"}
    committed.wait(keys=want, timeout=300)
    time.sleep(3)  # anything duplicated would show up by now
    committed.poll(1)
    rc = d.stop()
    tap.is_(rc, 0, "the last daemon drains and exits 0")
    counts = {}
    for r in committed.records:
        counts[r.key] = counts.get(r.key, 0) + 1
    dups = {k: c for k, c in counts.items() if c != 1}
    missing = sorted(want - set(counts))
    tap.ok(not missing, "after %d SIGKILL cycles every job id has a "
           "committed result" % cycles, diag=repr(missing[:10]))
    tap.ok(not dups, "and exactly one each (%d results, read_committed)" %
           len(committed.records), diag=repr(list(dups.items())[:10]))
    uncommitted.poll(2)
    extra = len(uncommitted.records) - len(committed.records)
    tap.diag("read_uncommitted sees %d result message(s) (%d from aborted "
             "or cut-off transactions)" % (len(uncommitted.records), extra))
    tap.ok(extra >= 0, "aborted results are invisible to read_committed")
    dlq = vstest.Collector(kafka.bootstrap, "x.dlq", decode="raw")
    got = dlq.wait(keys={"x-bad"}, timeout=30)
    tap.is_(len(got["x-bad"]), 1, "the bad job's DLQ copy, exactly once")
    dlq.close()
    committed.close()
    uncommitted.close()

    # --- the cost, side by side on the same fake backend ---------------
    m = 4000 if PROFILE == "full" else 500
    alo = timed_run(kafka, fake, False, m)
    eos = timed_run(kafka, fake, True, m)
    tap.diag("throughput on %d jobs: at-least-once %.0f jobs/s, exactly-"
             "once %.0f jobs/s (%.2fx)" % (m, alo, eos, eos / alo))
    tap.ok(eos > 0, "exactly-once throughput measured")
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
