#!/usr/bin/env python3
"""Every size cap, enforced where outside bytes come in, on a real Kafka
broker with the fake model:

- a job over worker.max_message_bytes: a too_large result naming the cap,
  and an empty DLQ copy with vsampd-original-size;
- a backend reply over the profile's max_reply_bytes: too_large, naming
  the cap, without reading the rest;
- a result over worker.max_result_bytes: a too_large result naming the
  cap (and still delivered);
- a metrics request with headers over the endpoint's memory cap: refused,
  and the endpoint keeps serving.

TAP output, run by automake's tap-driver.sh from `make check`.
"""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()


def main():
    if PROFILE == "skip":
        tap.skip("limits", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    kafka = vstest.Kafka().start()
    kafka.create_topics({"l.jobs": 1, "l.results": 1, "l.dlq": 1})
    fake = vstest.FakeModel().start()
    port = vstest.free_port()
    conf = vstest.conf(
        vstest.scratch("limits-", ".conf"), kafka.bootstrap,
        kafka={"group_id": "vsampd-lim", "jobs_topic": "l.jobs",
               "results_topic": "l.results", "dlq_topic": "l.dlq"},
        backends=[vstest.backend("local", fake.url, max_reply_bytes=4096,
                                 max_retries=1)],
        defaults={"backend": "local", "k": 3},
        worker={"max_message_bytes": 32768, "max_result_bytes": 16384},
        metrics={"listen": "127.0.0.1:%d" % port})
    d = vstest.vsampd(conf, name="vsampd-lim")
    jobs = [
        ("big-job", {"id": "big-job", "prompt": "x" * 40000}),
        ("big-reply", {"id": "big-reply",
                       "prompt": "Many %s" % vstest.marker("huge")}),
        ("big-result", {"id": "big-result", "prompt": "Meta",
                        "metadata": {"blob": "y" * 7000,
                                     "more": "z" * 7000,
                                     "again": "w" * 3000}}),
        ("fits", {"id": "fits", "prompt": "A normal job"}),
    ]
    vstest.produce(kafka.bootstrap, "l.jobs", jobs)
    got = vstest.consume(kafka.bootstrap, "l.results",
                         keys={k for k, _ in jobs}, timeout=60)
    v = {}
    for r in got:
        v.setdefault(r.key, r.value)
    e = v["big-job"]["error"] or {}
    tap.ok(e.get("code") == "too_large" and
           "worker.max_message_bytes (32768)" in e.get("message", ""),
           "a job over max_message_bytes: too_large, naming the cap",
           diag=repr(e))
    dlq = vstest.consume(kafka.bootstrap, "l.dlq", keys={"big-job"},
                         timeout=30, decode="raw")
    tap.ok(dlq and dlq[0].raw in (b"", None) and
           dlq[0].headers.get("vsampd-original-size", "").isdigit() and
           int(dlq[0].headers["vsampd-original-size"]) > 32768,
           "its DLQ copy is empty, with vsampd-original-size")
    e = v["big-reply"]["error"] or {}
    tap.ok(e.get("code") == "too_large" and
           "max_reply_bytes (4096)" in e.get("message", ""),
           "a reply over max_reply_bytes: too_large, naming the cap",
           diag=repr(e))
    e = v["big-result"]["error"] or {}
    tap.ok(e.get("code") == "too_large" and
           "worker.max_result_bytes (16384)" in e.get("message", ""),
           "a result over max_result_bytes: too_large, naming the cap",
           diag=repr(e))
    tap.is_(v["fits"]["status"], "ok", "a job within every cap is ok")

    # The endpoint: a request whose headers pass its memory cap.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " +
              b"a" * 100000 + b"\r\n\r\n")
    try:
        answer = s.recv(200)
    except OSError:
        answer = b""
    s.close()
    tap.ok(not answer.startswith(b"HTTP/1.1 200"),
           "a metrics request with 100 KB of headers is refused",
           diag=repr(answer[:80]))
    st, body = vstest.http_get("http://127.0.0.1:%d/metrics" % port)
    tap.ok(st == 200 and "vsampd_jobs_total" in body,
           "and the endpoint keeps serving")
    tap.ok(d.alive(), "the daemon runs after every cap was hit")
    d.stop()
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
