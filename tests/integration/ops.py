#!/usr/bin/env python3
"""Operations tests: the real vsampd on a real Kafka broker and the fake
model, watched the way an operator would watch it.

- the metrics endpoint: /healthz, /readyz before and after assignment,
  /metrics during and after a run, checked value by value and with
  promtool;
- the sd_notify protocol on a socket this test owns (READY=1 only once
  the topics exist and the group assigned, WATCHDOG=1, STOPPING=1);
- SIGHUP: a changed backend URL moves new jobs to the new backend while
  jobs in flight finish, nothing is lost; a broken config and a
  restart-only change leave the daemon running on what it had;
- logs: journald prefixes, job id, topic, partition and offset on every
  per-job line; the API key in no log line, metric or result.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()
SECRET = "sk-vsampd-ops-%08x" % random.getrandbits(32)
os.environ["VSAMPD_OPS_KEY"] = SECRET

# Every counter of docs/metrics.md, with a label set that must
# exist (at 0) from the start.
FROM_START = [
    ("vsampd_jobs_total", {"status": "ok"}),
    ("vsampd_jobs_total", {"status": "error"}),
    ("vsampd_jobs_total", {"status": "ok", "method": "vs_standard",
                           "model": "fake"}),
    ("vsampd_jobs_total", {"status": "error", "method": "direct",
                           "model": "fake"}),
    ("vsampd_jobs_total", {"status": "error", "method": "none",
                           "model": "none"}),
    ("vsampd_backend_tokens_total", {"backend": "local", "kind": "completion",
                                     "method": "multi_turn",
                                     "model": "fake"}),
    ("vsampd_candidates_total", {"method": "vs_multi", "model": "fake"}),
    ("vsampd_duplicates_total", {"where": "in_scope", "method": "sequence",
                                 "model": "fake"}),
    ("vsampd_parse_failures_total", {"backend": "local", "method": "vs_cot",
                                     "model": "fake"}),
    ("vsampd_job_duration_seconds_count", {"method": "none",
                                           "model": "none"}),
    ("vsampd_diversity_rouge_l_count", {"method": "direct_cot",
                                        "model": "fake"}),
    ("vsampd_job_errors_total", {"code": "bad_job"}),
    ("vsampd_job_errors_total", {"code": "internal"}),
    ("vsampd_backend_requests_total", {"backend": "local", "code": "200"}),
    ("vsampd_backend_tokens_total", {"backend": "local", "kind": "prompt"}),
    ("vsampd_candidates_total", {}),
    ("vsampd_duplicates_total", {"where": "in_job"}),
    ("vsampd_duplicates_total", {"where": "in_scope"}),
    ("vsampd_parse_failures_total", {"backend": "local"}),
    ("vsampd_embedding_failures_total", {}),
    ("vsampd_dlq_messages_total", {"code": "bad_job"}),
    ("vsampd_kafka_delivery_failures_total", {"topic": "vs.results"}),
    ("vsampd_jobs_inflight", {}),
    ("vsampd_kafka_partitions_paused", {}),
    ("vsampd_backend_circuit_open", {"backend": "local"}),
    ("vsampd_job_duration_seconds_count", {}),
    ("vsampd_backend_request_duration_seconds_count", {"backend": "local"}),
    ("vsampd_diversity_semantic_count", {}),
    ("vsampd_diversity_rouge_l_count", {}),
]


# The methods vsampd knows (docs/methods.md): a job series each.
NMETHODS = len(["direct", "direct_cot", "sequence", "multi_turn",
                "vs_standard", "vs_cot", "vs_multi", "ssot"])

def write_conf(path, brokers, url, port, extra=False):
    """The config; extra adds a second profile, "extra", whose model
    ("fake-2") no profile had before, and which has a price."""
    backends = [vstest.backend("local", url, api_key_env="VSAMPD_OPS_KEY",
                               max_inflight=64, timeout_ms=20000,
                               max_retries=2)]
    if extra:
        backends.append(vstest.backend("extra", url, model="fake-2",
                                       api_key_env="VSAMPD_OPS_KEY",
                                       price={"prompt": 1.0,
                                              "completion": 2.0}))
    return vstest.conf(
        path, brokers,
        kafka={"group_id": "vsampd-ops", "dlq_topic": "vs.jobs.dlq",
               "consumer": dict(vstest.FAST_CONSUMER,
                            auto_commit_interval_ms=500),
               "producer": {"linger_ms": 5}},
        backends=backends,
        defaults={"backend": "local", "method": "vs_standard", "k": 3},
        worker={"max_inflight": 256, "shutdown_timeout_ms": 20000},
        metrics={"listen": "127.0.0.1:%d" % port})


class NotifySocket:
    """A datagram socket standing in for systemd's: collects messages."""

    def __init__(self):
        self.path = vstest.scratch("notify-", ".sock")
        os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.lock = threading.Lock()
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                for line in data.decode("utf-8", "replace").split("\n"):
                    if line:
                        self.msgs.append((time.monotonic(), line))

    def lines(self):
        with self.lock:
            return [m for _, m in self.msgs]

    def wait(self, line, timeout=60):
        vstest.wait_for(lambda: line in self.lines(), timeout,
                        what="notify %s" % line)

    def close(self):
        self.stop = True
        self.sock.close()


def scrape(port):
    st, body = vstest.http_get("http://127.0.0.1:%d/metrics" % port)
    assert st == 200, (st, body)
    return body


def promtool(text):
    """(ok, output) of promtool check metrics; ok None without it."""
    exe = shutil.which("promtool")
    if exe is None:
        return None, "promtool not installed"
    r = subprocess.run([exe, "check", "metrics"], input=text, text=True,
                       capture_output=True, timeout=30)
    return r.returncode == 0 and not r.stdout.strip() and \
        not r.stderr.strip(), r.stdout + r.stderr


def check_promtool(text, what):
    ok, out = promtool(text)
    if ok is None:
        tap.skip(what, out)
    else:
        tap.ok(ok, what, diag=out)


def check_series(text, cases):
    """One test per (name, labels, value, what): the sum of the series
    of name with those labels is value (None: there is none)."""
    for name, labels, want, what in cases:
        tap.is_(vstest.metric(text, name, **labels), want, what)


def main():
    if PROFILE == "skip":
        tap.skip("ops", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    kafka = vstest.Kafka().start()
    tap.diag("kafka %s up in %.1fs" % (kafka.bootstrap, kafka.startup_s))
    fake = vstest.FakeModel(require_key=SECRET).start()
    fake2 = vstest.FakeModel(require_key=SECRET).start()
    port = vstest.free_port()
    conf = vstest.scratch("ops-", ".conf")
    write_conf(conf, kafka.bootstrap, fake.url, port)
    ns = NotifySocket()
    vstest.at_cleanup(ns.close)
    base = "http://127.0.0.1:%d" % port
    proc = vstest.vsampd(conf, "-d", name="vsampd-ops", ready=0,
                         env={"NOTIFY_SOCKET": ns.path,
                              "WATCHDOG_USEC": "2000000"})

    # --- before the topics exist: alive, not ready ---------------------
    with tap.step("/healthz answers 200 while vsampd waits for its topics"):
        body = vstest.wait_http(base + "/healthz", 200, timeout=30)
        assert "heartbeat" in body, body
    st, body = vstest.http_get(base + "/readyz")
    tap.ok(st == 503, "/readyz is 503 before the topics exist", diag=body)
    time.sleep(1)
    tap.ok("READY=1" not in ns.lines(), "no READY=1 before the topics exist",
           diag=repr(ns.lines()))
    st, _ = vstest.http_get(base + "/nope")
    tap.is_(st, 404, "unknown paths are 404")
    st, _ = vstest.http_post(base + "/metrics", b"x")
    tap.is_(st, 405, "POST is 405")

    kafka.create_topics({"vs.jobs": 4, "vs.results": 4, "vs.jobs.dlq": 4})
    with tap.step("READY=1 on the notify socket once assigned"):
        ns.wait("READY=1", timeout=60)
    with tap.step("/readyz is 200 once assigned"):
        vstest.wait_http(base + "/readyz", 200, timeout=30)
    with tap.step("WATCHDOG=1 from the loop when WATCHDOG_USEC is set"):
        ns.wait("WATCHDOG=1", timeout=10)

    m0 = scrape(port)
    missing = [(n, l) for n, l in FROM_START
               if vstest.metric(m0, n, **l) != 0]
    tap.ok(not missing, "every counter is exported from start at 0",
           diag=repr(missing))
    series = [ls for (n, ls) in vstest.parse_metrics(m0)
              if n == "vsampd_jobs_total"]
    tap.is_(len(series), 2 * NMETHODS + 1,
            "vsampd_jobs_total: ok and error of "
            "each method with the one model, and error of none/none")
    tap.ok(not re.search(r'model="(other|fake-2)"', m0),
           "no series of another model at start")
    tap.ok(vstest.metric(m0, "vsampd_cost_total") is None,
           "no vsampd_cost_total series without a priced profile")
    tap.ok(vstest.metric(m0, "vsampd_build_info") == 1,
           "vsampd_build_info is 1")
    tap.is_(vstest.metric(m0, "vsampd_backend_concurrency_limit",
                          backend="local"), 8,
            "the adaptive concurrency limit starts at min(8, max_inflight)")
    check_promtool(m0, "promtool check metrics passes at start")

    # --- 100 ok jobs and 3 bad ones, scraped during and after ------------
    results = vstest.Collector(kafka.bootstrap, "vs.results")
    dlq = vstest.Collector(kafka.bootstrap, "vs.jobs.dlq", decode="raw")
    jobs = [("ok-%03d" % i, vstest.encode(
        {"id": "ok-%03d" % i, "prompt": "A joke about coffee #%d. %s" %
         (i, vstest.marker("slow") if i < 20 else ""), "k": 3},
        "json" if i % 2 else "msgpack")) for i in range(100)]
    bad = [("bad-1", b"\x00\x01 not a job"),
           ("bad-2", vstest.encode({"id": "bad-2", "prompt": "x", "k": 0})),
           ("bad-3", vstest.encode({"id": "bad-3", "prompt": "x",
                                    "method": "nope"}))]
    vstest.produce(kafka.bootstrap, "vs.jobs", jobs + bad)
    # While the 20 slow jobs (1.5 s each) are in flight.
    mid = scrape(port)
    check_promtool(mid, "promtool check metrics passes mid-run")
    got = results.wait(keys={k for k, _ in jobs + bad}, timeout=120)
    vals = [v[-1].value for v in got.values()]
    dlq.wait(keys={"bad-1", "bad-2", "bad-3"}, timeout=30)
    time.sleep(1)  # the last acknowledgements reach the gauges
    m1 = scrape(port)
    tap.is_(vstest.metric(m1, "vsampd_jobs_total", status="ok"), 100,
            "vsampd_jobs_total{status=ok} is 100")
    tap.is_(vstest.metric(m1, "vsampd_jobs_total", status="error"), 3,
            "vsampd_jobs_total{status=error} is 3")
    check_series(m1, [
        ("vsampd_jobs_total", dict(status="ok", method="vs_standard",
                                   model="fake"), 100,
         "the 100 ok jobs count as method=vs_standard model=fake"),
        ("vsampd_jobs_total", dict(status="error", method="none",
                                   model="none"), 3,
         "the 3 jobs that did not decode count as none/none"),
        ("vsampd_job_duration_seconds_count", dict(method="none",
                                                   model="none"), 3,
         "and their durations too")])
    tap.is_(vstest.metric(m1, "vsampd_job_errors_total", code="bad_job"), 3,
            "vsampd_job_errors_total{code=bad_job} is 3")
    tap.is_(vstest.metric(m1, "vsampd_dlq_messages_total", code="bad_job"),
            3, "vsampd_dlq_messages_total{code=bad_job} is 3")
    tap.is_(vstest.metric(m1, "vsampd_job_duration_seconds_count"), 103,
            "the job duration histogram counts 103 jobs")
    slow = vstest.metric(m1, "vsampd_job_duration_seconds_bucket", le="1")
    tap.cmp(slow, "<=", 83, "the 20 slow jobs are above the 1 s bucket")
    reqs = sum(v["usage"]["requests"] for v in vals if v["usage"])
    tap.is_(vstest.metric(m1, "vsampd_backend_requests_total",
                          backend="local"), reqs,
            "backend requests counted match the results' usage (%d)" % reqs)
    tap.is_(vstest.metric(m1, "vsampd_backend_requests_total",
                          backend="local", code="200"), reqs,
            "all of them with code 200")
    ptok = sum(v["usage"]["prompt_tokens"] for v in vals if v["usage"])
    tap.is_(vstest.metric(m1, "vsampd_backend_tokens_total",
                          backend="local", kind="prompt"), ptok,
            "prompt tokens counted match the results' usage")
    cands = sum(len(v["candidates"]) for v in vals if v["status"] == "ok")
    tap.is_(vstest.metric(m1, "vsampd_candidates_total"), cands,
            "vsampd_candidates_total matches the results (%d)" % cands)
    tap.is_(vstest.metric(m1, "vsampd_candidates_total",
                          method="vs_standard", model="fake"), cands,
            "all of them under method=vs_standard model=fake")
    dups = sum(v["dedup"]["in_job"] for v in vals if v["dedup"])
    tap.is_(vstest.metric(m1, "vsampd_duplicates_total", where="in_job"),
            dups, "vsampd_duplicates_total{where=in_job} matches")
    tap.is_(vstest.metric(m1, "vsampd_diversity_rouge_l_count"), 100,
            "ROUGE-L observed for every ok result")
    tap.is_(vstest.metric(m1, "vsampd_jobs_inflight"), 0,
            "nothing in flight after the run")
    tap.is_(vstest.metric(m1, "vsampd_kafka_partitions_assigned"), 4,
            "4 partitions assigned")
    check_promtool(m1, "promtool check metrics passes after the run")

    # --- another method, and a model no profile has ----------------------
    more = [{"id": "direct-%d" % i, "prompt": "Direct %d" % i,
             "method": "direct", "k": 2} for i in range(3)]
    more += [{"id": "own-model-%d" % i, "prompt": "Own %d" % i, "k": 3,
              "model": "not-configured"} for i in range(2)]
    vstest.produce(kafka.bootstrap, "vs.jobs", more)
    got = results.wait(keys={j["id"] for j in more}, timeout=60)
    vals = [got[j["id"]][-1].value for j in more]
    time.sleep(1)
    m1b = scrape(port)
    check_series(m1b, [
        ("vsampd_jobs_total", dict(status="ok", method="direct",
                                   model="fake"), 3,
         "method=direct jobs count under their method"),
        ("vsampd_jobs_total", dict(status="ok", method="vs_standard",
                                   model="other"), 2,
         "a job's own model that no profile has counts as other")])
    tap.ok('model="not-configured"' not in m1b,
           "a job's model never becomes a label value")
    otok = sum(v["usage"]["completion_tokens"] for v in vals[3:])
    tap.is_(vstest.metric(m1b, "vsampd_backend_tokens_total",
                          backend="local", kind="completion", model="other"),
            otok, "their tokens count under model=other (%d)" % otok)
    check_promtool(m1b, "promtool check metrics passes with model=other")

    log = proc.log_text()
    bad_lines = [ln for ln in log.splitlines()
                 if not re.match(r"^<[0-7]>", ln)]
    tap.ok(not bad_lines, "every log line has a journald level prefix",
           diag=repr(bad_lines[:5]))
    job_lines = [ln for ln in log.splitlines() if re.search(r"\bjob \S+", ln)
                 and "bad-" in ln]
    unplaced = [ln for ln in job_lines if not re.search(
        r"job \S+ topic vs\.jobs partition \d+ offset \d+", ln)]
    tap.ok(job_lines and not unplaced, "per-job lines carry job id, topic, "
           "partition and offset", diag=repr(unplaced[:5]))

    # --- SIGHUP: a new backend URL, with jobs in flight ------------------
    before1 = len(fake.requests())
    slow_jobs = [{"id": "hup-slow-%02d" % i, "k": 3,
                  "prompt": "Slow %d %s" % (i, vstest.marker("slow"))}
                 for i in range(10)]
    vstest.produce(kafka.bootstrap, "vs.jobs", slow_jobs)
    vstest.wait_for(lambda: len(fake.requests()) >= before1 + 10, 30,
                    what="slow jobs in flight")
    off = len(proc.log_text())
    write_conf(conf, kafka.bootstrap, fake2.url, port, extra=True)
    proc.send_signal(signal.SIGHUP)
    with tap.step("SIGHUP: the reload is applied and logged"):
        proc.wait_log(r"reload applied", timeout=20, start=off)
        proc.wait_log(r"reload: backends\[local\]\.url: \"%s\" -> \"%s\"" % (
            re.escape(fake.url), re.escape(fake2.url)), timeout=5,
            start=off)
    new_jobs = [{"id": "hup-new-%02d" % i, "prompt": "After %d" % i, "k": 3}
                for i in range(20)]
    vstest.produce(kafka.bootstrap, "vs.jobs", new_jobs)
    ids = {j["id"] for j in slow_jobs + new_jobs}
    got = results.wait(keys=ids, timeout=120)
    tap.ok(all(got[i][-1]["status"] == "ok" for i in ids),
           "every job across the reload has an ok result (none lost)",
           diag=repr([(i, got[i][-1]["status"]) for i in ids
                      if got[i][-1]["status"] != "ok"][:5]))
    new_at_2 = [r for r in fake2.requests()
                if "After" in repr(r.get("body"))]
    tap.cmp(len(new_at_2), ">=", 20, "jobs after the reload go to the new "
            "URL (%d requests there)" % len(new_at_2))
    after_at_1 = [r for r in fake.requests()[before1:]
                  if "After" in repr(r.get("body"))]
    tap.is_(len(after_at_1), 0, "and none to the old one")
    m_hup = scrape(port)
    tap.is_(vstest.metric(m_hup, "vsampd_config_reloads_total",
                          result="ok"), 1, "reloads_total{result=ok} is 1")
    added = [ls for (n, ls) in vstest.parse_metrics(m_hup)
             if n == "vsampd_jobs_total" and ("model", "fake-2") in ls]
    tap.is_(len(added), 2 * NMETHODS,
            "the reload's new model has its job series")
    check_series(m_hup, [
        ("vsampd_backend_tokens_total", dict(backend="extra",
                                             model="fake-2"), 0,
         "and the new profile its token series, at 0"),
        ("vsampd_backend_tokens_total", dict(backend="local",
                                             model="fake-2"), None,
         "but not the old profile with the new model"),
        ("vsampd_cost_total", dict(backend="extra"), 0,
         "the new priced profile has its cost series, at 0"),
        ("vsampd_cost_total", dict(backend="local"), None,
         "and the unpriced one none")])
    vstest.produce(kafka.bootstrap, "vs.jobs", [
        {"id": "hup-extra", "prompt": "On extra", "k": 3,
         "backend": "extra", "method": "vs_cot"}])
    hx = results.wait(keys={"hup-extra"}, timeout=60)["hup-extra"][-1]
    time.sleep(1)
    m_x = scrape(port)
    tap.is_(vstest.metric(m_x, "vsampd_jobs_total", status="ok",
                          method="vs_cot", model="fake-2"), 1,
            "a job on the new profile counts under its model")
    u = hx["usage"]
    tap.ok(u["cost"] is not None and u["cost"] > 0 and
           vstest.metric(m_x, "vsampd_cost_total", backend="extra") ==
           u["cost"],
           "and its cost in usage.cost and in vsampd_cost_total",
           diag="%r %r" % (u, vstest.metric(m_x, "vsampd_cost_total",
                                              backend="extra")))

    # --- SIGHUP with a broken config and a restart-only change -----------
    with open(conf, "w") as f:
        f.write("kafka: { brokers = ; \n")
    off = len(proc.log_text())
    proc.send_signal(signal.SIGHUP)
    with tap.step("a broken config is rejected, naming the file and line"):
        m = proc.wait_log(r"reload rejected.*", timeout=20, start=off)
        assert re.search(re.escape(conf) + r":\d+: ", m.group(0)), \
            m.group(0)
    write_conf(conf, kafka.bootstrap.replace("127.0.0.1", "localhost"),
               fake2.url, port, extra=True)
    off = len(proc.log_text())
    proc.send_signal(signal.SIGHUP)
    with tap.step("a restart-only change is reported, the rest applied"):
        proc.wait_log(r"kafka\.brokers changed .*needs a restart", timeout=20,
                      start=off)
        proc.wait_log(r"reload applied", timeout=20, start=off)
    more = [{"id": "hup-after-%d" % i, "prompt": "Again %d" % i, "k": 3}
            for i in range(10)]
    vstest.produce(kafka.bootstrap, "vs.jobs", more)
    got = results.wait(keys={j["id"] for j in more}, timeout=60)
    tap.ok(proc.alive() and all(got[j["id"]][-1]["status"] == "ok"
                                for j in more),
           "the daemon keeps running on the old settings")
    m2 = scrape(port)
    tap.is_(vstest.metric(m2, "vsampd_config_reloads_total",
                          result="error"), 1,
            "reloads_total{result=error} is 1")

    # --- secrets -----------------------------------------------------------
    everything = [v[-1].raw for v in results.by_key.values()]
    tap.ok(SECRET not in proc.log_text(), "the API key is in no log line")
    tap.ok(SECRET not in m2, "the API key is in no metric")
    tap.ok(not any(SECRET.encode() in r for r in everything),
           "the API key is in no result")
    tap.ok(all(r.get("auth_ok") for r in fake2.requests()[:20]),
           "yet it reaches the backend")

    # --- SIGTERM: STOPPING=1, exit 0 ---------------------------------------
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(60)
    tap.is_(rc, 0, "SIGTERM: exit 0")
    lines = ns.lines()
    seq = [x for x in lines if x in ("READY=1", "STOPPING=1")]
    tap.is_(seq, ["READY=1", "STOPPING=1"],
            "notify sequence: READY=1 once, then STOPPING=1")
    return tap.done()


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        vstest.cleanup()
