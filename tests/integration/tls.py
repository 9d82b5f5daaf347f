#!/usr/bin/env python3
"""TLS and stalls: the real vsampd on a real Kafka 4.1.1 broker reached
over SSL only, against fake OpenAI-compatible backends over HTTPS.

  - Kafka over SSL with verification (security_protocol, ssl_ca_location
    in kafka.consumer and kafka.producer): vsampd gets ready, and jobs
    produced over SSL get results; with the wrong CA it never gets ready
    and says why (librdkafka's "SSL handshake failed ... certificate
    verify failed").
  - An https backend whose certificate comes from the CA in ca_file
    answers; one signed by another CA, or with the wrong name, gives
    error results (code backend) that say the certificate verification
    failed, after one attempt: TLS errors are not retried. Each
    backend's ca_file is its own: the same server is refused by
    backends that trust another CA or the system store, and no
    kept-alive connection is lent across them.
  - A reply that stops mid-body (tests/fakes/stallproxy.py keeps the
    connection open and forwards nothing more) is aborted after the stall
    window, a quarter of timeout_ms, long before timeout_ms itself; the
    job is retried, then gets an error result that names the stall.

Certificates are made at run time by tests/tls/mkcerts.sh (openssl CLI)
in the scratch directory. TAP output, run by automake's tap-driver.sh.
VSAMPD_IT_PROFILE=skip (distcheck: no broker) skips it.
"""

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402  (may re-exec under /usr/bin/python3)
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
MKCERTS = os.path.join(vstest.SRCDIR, "tests", "tls", "mkcerts.sh")
STALLPROXY = os.path.join(vstest.SRCDIR, "tests", "fakes", "stallproxy.py")
JOBS, RESULTS = "tl.jobs", "tl.results"
TIMEOUT_MS = 20000              # the stall backend's timeout_ms
STALL_S = TIMEOUT_MS / 4 / 1000.0   # http.c: a quarter of timeout_ms
STALL_BODY = 20                 # body bytes the proxy lets through

tap = Tap()


class StallProxy:
    """tests/fakes/stallproxy.py in front of a plain-HTTP backend."""

    def __init__(self, upstream_port):
        self.proc = vstest.Proc(
            [sys.executable, STALLPROXY, "--upstream",
             "127.0.0.1:%d" % upstream_port, "--parent-pid",
             str(os.getpid())],
            pipe=True, stdin=subprocess.PIPE, name="stallproxy")
        self.port = int(self.proc.expect(r"^PORT (\d+)", 20).group(1))
        self.events = []

    def cmd(self, line, timeout=10):
        self.proc.p.stdin.write((line + "\n").encode())
        self.proc.p.stdin.flush()
        while True:
            m = self.proc.expect(r"^(OK|ERR|EVENT) ?(.*)", timeout)
            if m.group(1) == "EVENT":
                self.events.append(m.group(2))
            elif m.group(1) == "OK":
                return m.group(2)
            else:
                raise RuntimeError("stallproxy: %s" % m.group(2))

    def drain(self):
        """Collect the events printed so far."""
        self.cmd("stats")
        return self.events

    def closed(self):
        """[(id, by, stalled_for or None)] of the closed connections."""
        out = []
        for e in self.drain():
            m = re.match(r"closed (\d+) by=(\w+) held=\d+ stalled_for=(\S+)",
                         e)
            if m:
                out.append((int(m.group(1)), m.group(2),
                            None if m.group(3) == "-"
                            else float(m.group(3))))
        return out

    def stop(self):
        try:
            self.proc.p.stdin.close()
        except OSError:
            pass
        self.proc.stop(5)


def write_conf(path, kafka, kafka_ca, backends, metrics_port, group):
    ssl = {"security_protocol": "ssl", "ssl_ca_location": kafka_ca}
    return vstest.conf(
        path, kafka.ssl_bootstrap,
        kafka={"group_id": group, "jobs_topic": JOBS, "results_topic": RESULTS,
               "consumer": dict(ssl, auto_commit_interval_ms=500,
                                **vstest.FAST_CONSUMER),
               "producer": dict(ssl, linger_ms=5)},
        backends=backends,
        defaults={"backend": "good", "method": "vs_standard", "k": 3},
        worker={"shutdown_timeout_ms": 10000},
        metrics={"listen": "127.0.0.1:%d" % metrics_port})


def backend(name, url, ca_file=None, timeout_ms=10000, max_retries=2):
    return vstest.backend(name, url, ca_file=ca_file, timeout_ms=timeout_ms,
                          max_retries=max_retries)


def err(rec):
    e = rec.value.get("error") or {}
    return e.get("code"), e.get("message") or ""


def main():
    if PROFILE == "skip":
        tap.skip("tls", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    if shutil.which("openssl") is None:
        tap.skip("tls", "no openssl CLI")
        return tap.done()

    certdir = os.path.join(vstest.run_dir(), "certs")
    r = subprocess.run(["bash", MKCERTS, certdir], capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0:
        tap.bail_out("mkcerts.sh failed: %s" % r.stderr.strip()[-300:])

    def cert(name):
        return os.path.join(certdir, name)
    ca, other_ca = cert("ca.pem"), cert("other-ca.pem")

    kafka = vstest.Kafka(ssl=dict(keystore=cert("broker.pem"))).start()
    kafka.create_topics({JOBS: 2, RESULTS: 2})
    good = vstest.FakeModel(tls=(cert("server.pem"), cert("server.key")),
                            ca_file=ca).start()
    rogue = vstest.FakeModel(tls=(cert("rogue.pem"), cert("rogue.key")),
                             ca_file=other_ca).start()
    # Our own look at its /stats checks the chain, not the name.
    nameless = ssl.create_default_context(cafile=ca)
    nameless.check_hostname = False
    wrongsan = vstest.FakeModel(
        tls=(cert("wrongsan.pem"), cert("wrongsan.key")),
        context=nameless).start()
    plain = vstest.FakeModel().start()
    proxy = StallProxy(plain.port)
    proxy.cmd("stall %d" % STALL_BODY)

    mport = vstest.free_port()
    conf = vstest.scratch("vsampd-tls-", ".conf")
    write_conf(conf, kafka, ca, [
        backend("good", good.url, ca_file=ca),
        # The same server, trusted through another CA or the system's:
        # each backend's ca_file is its own, on one curl multi handle.
        backend("good_other", good.url, ca_file=other_ca, max_retries=3),
        backend("good_system", good.url, max_retries=3),
        backend("rogue", rogue.url, ca_file=ca, max_retries=3),
        backend("wrongsan", wrongsan.url, ca_file=ca, max_retries=3),
        backend("stall", "http://127.0.0.1:%d/v1" % proxy.port,
                timeout_ms=TIMEOUT_MS, max_retries=1),
    ], mport, "vsampd-tls")
    d = vstest.vsampd(conf, "-d", name="vsampd-tls", ready=0)

    # 1. Kafka over SSL, verified against the test CA.
    with tap.step("kafka over SSL (ssl_ca_location = test CA): vsampd "
                  "gets ready"):
        d.wait_log(r"ready: consuming", timeout=60)
        assert vstest.http_get("http://127.0.0.1:%d/readyz" % mport)[0] \
            == 200

    # The test's own clients use the SSL listener too.
    sslconf = dict(security_protocol="ssl", ssl_ca_location=ca)
    res = vstest.Collector(kafka.ssl_bootstrap, RESULTS, **sslconf)
    p = vstest.producer(kafka.ssl_bootstrap, **sslconf)

    def submit(jobs):
        for j in jobs:
            p.produce(JOBS, key=j["id"].encode(), value=vstest.encode(j))
        left = p.flush(30)
        if left:
            raise RuntimeError("%d jobs undelivered over SSL" % left)

    goods = [{"id": "good-%d" % i, "backend": "good", "k": 3, "n": 3,
              "prompt": "Name a colour, #%d." % i} for i in range(5)]
    # One call per job ("direct", n = 1): attempts are that call's.
    rogues = [{"id": "rogue-%d" % i, "backend": "rogue", "method": "direct",
               "n": 1, "prompt": "Name a tree, #%d." % i} for i in range(3)]
    sans = [{"id": "san-%d" % i, "backend": "wrongsan", "method": "direct",
             "n": 1, "prompt": "Name a river, #%d." % i} for i in range(3)]
    stall = [{"id": "stall-0", "backend": "stall", "method": "direct",
              "n": 1, "prompt": "Name a stone."}]
    # Interleaved with goods, so that their connections are open.
    others = []
    for i in range(3):
        for b in ("good_other", "good_system"):
            others.append({"id": "%s-%d" % (b, i), "backend": b,
                           "method": "direct", "n": 1,
                           "prompt": "Name a colour, #%d." % i})
    t0 = time.monotonic()
    batch = [j for pair in zip(goods, others) for j in pair] + \
        others[len(goods):] + goods[len(others):] + rogues + sans + stall
    submit(batch)
    keys = {j["id"] for j in batch}
    got = res.wait(keys=keys, timeout=90, partial=True)
    stall_s = time.monotonic() - t0

    # 2. Jobs over SSL, https backend verified against ca_file.
    with tap.step("https backend with ca_file = test CA: ok results, "
                  "over Kafka SSL"):
        for j in goods:
            rec = got[j["id"]][-1]
            assert rec.value["status"] == "ok", (j["id"], rec.value["error"])
            assert rec.value["candidates"], rec.value
        # Only the backends that do not trust its CA failed a handshake.
        assert good.stats()["tls_failures"] == len(others), good.stats()

    # 3. Signed by another CA: refused, clearly, and not retried.
    with tap.step("certificate from another CA: error results (backend), "
                  "'certificate verification failed', one attempt"):
        for j in rogues:
            rec = got[j["id"]][-1]
            code, msg = err(rec)
            assert rec.value["status"] == "error", rec.value
            assert code == "backend", (code, msg)
            assert "TLS certificate verification failed" in msg, msg
            assert "unable to get local issuer certificate" in msg, msg
            assert rec.value["attempts"] == 1, rec.value["attempts"]
        tap.diag("error: %s" % err(got[rogues[0]["id"]][-1])[1])
        st = rogue.stats()
        assert st["requests"] == 0, st
        # One refused handshake per job: no retries.
        assert st["tls_failures"] == len(rogues), st

    # 4. Right CA, wrong name.
    with tap.step("certificate for another name: error results (backend), "
                  "verification failed on the host name, one attempt"):
        for j in sans:
            rec = got[j["id"]][-1]
            code, msg = err(rec)
            assert code == "backend", (code, msg)
            assert "TLS certificate verification failed" in msg, msg
            assert "127.0.0.1" in msg, msg
            assert rec.value["attempts"] == 1, rec.value["attempts"]
        tap.diag("error: %s" % err(got[sans[0]["id"]][-1])[1])
        # curl checks the name once the handshake is done, so the server
        # sees no failed handshake; but no request was sent either.
        assert wrongsan.stats()["requests"] == 0

    with tap.step("ca_file is per backend: the same server is refused "
                  "through another CA file and through the system store"):
        for j in others:
            rec = got[j["id"]][-1]
            code, msg = err(rec)
            assert code == "backend", (j["id"], code, msg)
            assert "TLS certificate verification failed" in msg, msg
            assert rec.value["attempts"] == 1, rec.value["attempts"]

    with tap.step("TLS failures counted as code tls, one per attempt"):
        _, text = vstest.http_get("http://127.0.0.1:%d/metrics" % mport)
        for name, n in (("rogue", len(rogues)), ("wrongsan", len(sans))):
            v = vstest.metric(text, "vsampd_backend_requests_total",
                              backend=name, code="tls")
            assert v == n, (name, v)

    # 5. The stall: headers and STALL_BODY bytes, then nothing.
    with tap.step("reply stalled mid-body: aborted after the stall window "
                  "(%.0f s), not the timeout (%d s), and retried" %
                  (STALL_S, TIMEOUT_MS // 1000)):
        rec = got["stall-0"][-1]
        code, msg = err(rec)
        assert rec.value["status"] == "error", rec.value
        assert code in ("backend", "timeout"), (code, msg)
        assert "stalled" in msg, msg
        assert rec.value["attempts"] == 2, rec.value["attempts"]
        tap.diag("error: %s" % msg)
        closed = [c for c in proxy.closed() if c[2] is not None]
        assert len(closed) == 2, proxy.events
        for cid, by, waited in closed:
            # vsampd hung up, after the window and long before timeout_ms.
            assert by == "client", proxy.events
            assert STALL_S - 0.5 <= waited <= STALL_S + 3, proxy.events
            assert waited < TIMEOUT_MS / 1000.0 / 2, proxy.events
        _, text = vstest.http_get("http://127.0.0.1:%d/metrics" % mport)
        tap.diag("stall attempts counted as %s" % {
            k[1]: v for k, v in vstest.parse_metrics(text).items()
            if k[0] == "vsampd_backend_requests_total" and
            ("backend", "stall") in k[1] and v})
        tap.diag("stalled connections closed by vsampd after %s s; job "
                 "done in %.1f s" % (", ".join("%.1f" % c[2] for c in closed),
                                     stall_s))

    # 6. Still running, and it heals: the same backends answer again.
    with tap.step("vsampd keeps running: later jobs through the proxy and "
                  "the good backend are ok"):
        assert d.alive()
        proxy.cmd("pass")
        submit([{"id": "after-stall", "backend": "stall",
                 "method": "direct", "n": 1,
                 "prompt": "Name a stone again."},
                {"id": "after-good", "backend": "good", "method": "direct",
                 "n": 1, "prompt": "Name a colour again."}])
        later = res.wait(keys={"after-stall", "after-good"}, timeout=60)
        for k, recs in later.items():
            assert recs[-1].value["status"] == "ok", (k, recs[-1].value)
        # A kept-alive connection verified for "good" is not lent to a
        # backend that would not have trusted it.
        submit([{"id": "after-other", "backend": "good_other",
                 "method": "direct", "n": 1, "prompt": "Once more."}])
        rec = res.wait(keys={"after-other"}, timeout=60)["after-other"][-1]
        assert err(rec)[0] == "backend", rec.value
        assert "verification failed" in err(rec)[1], rec.value
        assert d.alive()

    with tap.step("vsampd stops cleanly (exit 0)"):
        d.send_signal(signal.SIGTERM)
        assert d.wait(60) == 0
    res.close()

    # 7. The wrong CA for Kafka: never ready, and the log says why.
    mport2 = vstest.free_port()
    conf2 = vstest.scratch("vsampd-tls-badca-", ".conf")
    write_conf(conf2, kafka, other_ca,
               [backend("good", good.url, ca_file=ca)], mport2,
               "vsampd-tls-badca")
    d2 = vstest.vsampd(conf2, "-v", name="vsampd-tls-badca", ready=0)
    with tap.step("kafka with the wrong CA: not ready, logs the SSL "
                  "verification failure"):
        m = d2.wait_log(r"[^\n]*SSL handshake failed[^\n]*", timeout=30)
        tap.diag("log: %s" % m.group(0).strip()[:300])
        assert "certificate verify failed" in m.group(0), m.group(0)
        time.sleep(3)
        assert d2.alive()
        assert "ready: consuming" not in d2.log_text()
        st, _ = vstest.http_get("http://127.0.0.1:%d/readyz" % mport2)
        assert st == 503, st
    with tap.step("a vsampd that never got ready stops on SIGTERM"):
        d2.send_signal(signal.SIGTERM)
        rc = d2.wait(60)
        tap.diag("exit status %d" % rc)
        assert rc in (0, 1), rc

    proxy.stop()
    return tap.done()


if __name__ == "__main__":
    try:
        rc = main()
    except Exception:  # a crash is a failed test, with its traceback
        tap.ok(False, "tls test crashed", traceback.format_exc())
        rc = tap.done()
    sys.exit(rc)
