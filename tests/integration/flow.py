#!/usr/bin/env python3
"""Flow control against real Kafka and the fake model:

- Retry-After delays the retry of its own request, not the backend.
- rpm: a backend with rpm = 60 is never sent more than 60 requests in
  any 60 seconds, retries included, and every job still gets its result;
- the circuit breaker: a backend that dies trips it (the metric says
  so), its jobs fail over to the fallback backend, and when it comes
  back the half-open probe closes it and traffic returns.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()
RPM = 60


def write_conf(path, brokers, url_a, url_b, port):
    return vstest.conf(
        path, brokers,
        kafka={"group_id": "vsampd-flow", "jobs_topic": "fl.jobs",
               "results_topic": "fl.results",
               "consumer": vstest.FAST_CONSUMER,
               "producer": {"linger_ms": 5}},
        backends=[vstest.backend("limited", url_a, rpm=RPM, max_inflight=8,
                                 timeout_ms=10000, max_retries=3),
                  vstest.backend("a", url_a, model="fake-a", fallback=["b"],
                                 max_inflight=8, timeout_ms=3000,
                                 max_retries=1),
                  vstest.backend("b", url_b, model="fake-b", max_inflight=8,
                                 timeout_ms=10000, max_retries=1)],
        defaults={"backend": "limited", "method": "vs_standard", "k": 2},
        metrics={"listen": "127.0.0.1:%d" % port})


def max_in_window(times, window=60.0):
    times = sorted(times)
    best, lo = 0, 0
    for hi in range(len(times)):
        while times[hi] - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def main():
    if PROFILE == "skip":
        tap.skip("flow control", "VSAMPD_IT_PROFILE=%s" % PROFILE)
        return tap.done()
    kafka = vstest.Kafka().start()
    kafka.create_topics({"fl.jobs": 2, "fl.results": 2})
    fa = vstest.FakeModel().start()
    fb = vstest.FakeModel().start()
    port = vstest.free_port()
    conf = vstest.scratch("flow-", ".conf")
    write_conf(conf, kafka.bootstrap, fa.url, fb.url, port)
    d = vstest.vsampd(conf, "-d", name="vsampd-flow")
    results = vstest.Collector(kafka.bootstrap, "fl.results")
    metrics = "http://127.0.0.1:%d/metrics" % port

    # --- circuit breaker and fallback -------------------------------------
    warm = [{"id": "up-%d" % i, "prompt": "Up %d" % i, "backend": "a"}
            for i in range(5)]
    vstest.produce(kafka.bootstrap, "fl.jobs", warm)
    got = results.wait(keys={j["id"] for j in warm}, timeout=60)
    tap.ok(all(got[j["id"]][-1]["backend"] == "a" for j in warm),
           "backend a answers while it is up")
    a_port = fa.port
    fa.stop()  # a dies: connections are refused
    down = [{"id": "down-%d" % i, "prompt": "Down %d" % i, "backend": "a"}
            for i in range(20)]
    vstest.produce(kafka.bootstrap, "fl.jobs", down)
    got = results.wait(keys={j["id"] for j in down}, timeout=120)
    vals = [got[j["id"]][-1] for j in down]
    tap.ok(all(v["status"] == "ok" for v in vals),
           "every job sent to the dead backend still gets an ok result",
           diag=repr([v["error"] for v in vals if v["status"] != "ok"][:3]))
    moved = [v for v in vals if v["backend"] == "b"]
    tap.cmp(len(moved), ">=", 15, "they fail over to the fallback b "
            "(%d of 20), which names itself in the result" % len(moved))
    tap.ok(all(v["model"] == "fake-b" for v in moved),
           "with the fallback's model")
    with tap.step("the breaker opened: logged and vsampd_backend_circuit_"
                  "open{backend=a} is 1"):
        d.wait_log(r"backend a: circuit open", timeout=10)
        st, body = vstest.http_get(metrics)
        assert vstest.metric(body, "vsampd_backend_circuit_open",
                             backend="a") == 1, body[:200]
    # a comes back on its port: the probe closes the breaker.
    fa2 = vstest.FakeModel(port=a_port).start()
    time.sleep(0.5)
    deadline = time.monotonic() + 90
    back = False
    i = 0
    while time.monotonic() < deadline and not back:
        jid = "back-%d" % i
        i += 1
        vstest.produce(kafka.bootstrap, "fl.jobs",
                       [{"id": jid, "prompt": "Back %d" % i, "backend": "a"}])
        r = results.wait(keys={jid}, timeout=60)[jid][-1]
        back = r["backend"] == "a"
        if not back:
            time.sleep(1)
    tap.ok(back, "when a returns, the half-open probe closes the breaker "
           "and jobs go to a again (%d tries)" % i)
    with tap.step("circuit closed: logged, and the metric is 0"):
        d.wait_log(r"backend a: circuit closed", timeout=10)
        st, body = vstest.http_get(metrics)
        assert vstest.metric(body, "vsampd_backend_circuit_open",
                             backend="a") == 0

    # --- Retry-After: the request's retry, not the whole backend -----------
    vstest.produce(kafka.bootstrap, "fl.jobs", [{
        "id": "ra-held", "backend": "b",
        "prompt": "Held %s" % vstest.marker("http429_long")}])
    vstest.wait_for(lambda: fb.requests(marker="http429_long"), timeout=60,
                    what="the 429 with Retry-After: 6")
    others = [{"id": "ra-other-%d" % i, "backend": "b",
               "prompt": "Others %d" % i} for i in range(5)]
    vstest.produce(kafka.bootstrap, "fl.jobs", others)
    got = results.wait(keys={j["id"] for j in others} | {"ra-held"},
                       timeout=120)
    held = [r["t"] for r in fb.requests(marker="http429_long")]
    sent = [r["t"] for r in fb.requests()
            if "Others" in repr(r.get("body"))]
    tap.ok(got["ra-held"][-1]["status"] == "ok" and len(held) == 2 and
           held[1] - held[0] >= 5.9,
           "a 429 with Retry-After: 6 is retried no sooner than 6 s later",
           diag=repr(held))
    tap.ok(len(sent) == 5 and len(held) == 2 and max(sent) < held[1],
           "meanwhile the same backend takes other jobs: Retry-After holds "
           "that request only", diag=repr((held, sent)))

    # --- rpm ------------------------------------------------------------------
    # A third answer 429 once (Retry-After 1): retries count in the window.
    n = 80
    jobs = [{"id": "rpm-%02d" % i, "prompt": "Limited %d %s" % (
        i, vstest.marker("http429") if i % 3 == 0 else "")}
        for i in range(n)]
    fa2.reset()
    t0 = time.monotonic()
    vstest.produce(kafka.bootstrap, "fl.jobs", jobs)
    got = results.wait(keys={j["id"] for j in jobs}, timeout=240)
    dt = time.monotonic() - t0
    reqs = [r for r in fa2.requests() if "Limited" in repr(r.get("body"))]
    times = [r["t"] for r in reqs]
    most = max_in_window(times)
    tap.diag("%d jobs, %d requests to the limited backend in %.1fs; at "
             "most %d in any 60 s" % (n, len(reqs), dt, most))
    tap.cmp(most, "<=", RPM, "rpm = %d: never more than %d requests in any "
            "60 seconds" % (RPM, RPM))
    tap.cmp(len(reqs), ">", RPM, "and more than %d were sent in all "
            "(the window slides)" % RPM)
    tap.ok(all(v[-1]["status"] == "ok" for v in got.values()),
           "every rate-limited job gets an ok result",
           diag=repr([v[-1]["error"] for v in got.values()
                      if v[-1]["status"] != "ok"][:3]))
    d.stop()
    fa2.stop()
    fb.stop()
    results.close()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
