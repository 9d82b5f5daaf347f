#!/usr/bin/env python3
"""The Anthropic Messages API backend (type = "anthropic") against the
fake server speaking that API (tests/fakes/fake_model.py, /v1/messages),
on a real Kafka broker: the request follows the API's rules (x-api-key and
anthropic-version headers and no Authorization, system at the top level,
max_tokens always, top_p only when set, no response_format), replies
parse for every method, usage is counted, 529 is retried, and the key
is in no log line.

TAP output, run by automake's tap-driver.sh from `make check`.
"""

import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
METHODS = ["direct", "direct_cot", "sequence", "multi_turn", "vs_standard",
           "vs_cot", "vs_multi", "ssot"]
tap = Tap()
SECRET = "sk-ant-test-%08x" % random.getrandbits(32)
os.environ["VSAMPD_ANT_KEY"] = SECRET


def main():
    if PROFILE == "skip":
        tap.skip("anthropic", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    kafka = vstest.Kafka().start()
    kafka.create_topics({"an.jobs": 2, "an.results": 2})
    fake = vstest.FakeModel(require_key=SECRET).start()
    claude = {"type": "anthropic", "model": "claude-test",
              "api_key_env": "VSAMPD_ANT_KEY"}
    conf = vstest.conf(
        vstest.scratch("vsampd-an-", ".conf"), kafka.bootstrap,
        kafka={"group_id": "vsampd-an", "jobs_topic": "an.jobs",
               "results_topic": "an.results"},
        backends=[vstest.backend("claude", fake.base, max_retries=2,
                                 timeout_ms=20000, **claude),
                  vstest.backend("claude_p", fake.base, top_p=0.9,
                                 max_tokens=321, **claude)],
        defaults={"backend": "claude", "k": 3, "top_p": 0.5})
    d = vstest.vsampd(conf, "-d", name="vsampd-an")
    jobs = [{"id": "an-%s" % m, "method": m, "k": 3, "n": 3,
             "prompt": "Name a bird. (%s)" % m} for m in METHODS]
    jobs.append({"id": "an-529", "k": 3,
                 "prompt": "Busy %s" % vstest.marker("http529_then_ok")})
    jobs.append({"id": "an-topp", "k": 3, "backend": "claude_p",
                 "prompt": "With top_p"})
    jobs.append({"id": "an-jobtopp", "k": 3, "top_p": 0.8,
                 "prompt": "Job top_p"})
    vstest.produce(kafka.bootstrap, "an.jobs", jobs)
    got = vstest.consume(kafka.bootstrap, "an.results",
                         keys={j["id"] for j in jobs}, timeout=120)
    v = {}
    for r in got:
        v.setdefault(r.key, r.value)
    bad = {k: x["error"] for k, x in v.items() if x["status"] != "ok"}
    tap.ok(not bad, "every method works against the Messages API",
           diag=repr(bad))
    tap.ok(all(len(v["an-%s" % m]["candidates"]) == 3 for m in METHODS),
           "each gives its 3 candidates")
    tap.ok(all(x["usage"]["prompt_tokens"] > 0 and
               x["usage"]["completion_tokens"] > 0 for x in v.values()),
           "usage (input_tokens, output_tokens) is counted")
    reqs = fake.requests(path="/v1/messages")
    tap.ok(reqs and all(r.get("auth_ok") for r in reqs),
           "requests go to url + /v1/messages with x-api-key")
    tap.ok(all(not r.get("authorization_header") for r in reqs),
           "and no Authorization header")
    tap.ok(all(r.get("anthropic_version") == "2023-06-01" for r in reqs),
           "anthropic-version: 2023-06-01")
    bodies = [r.get("body") or {} for r in reqs]
    tap.ok(all(isinstance(b.get("system"), str) and b["system"] and
               all(m.get("role") in ("user", "assistant")
                   for m in b.get("messages", []))
               for b in bodies),
           "the system prompt goes top-level, messages hold user and "
           "assistant turns only")
    tap.ok(all(isinstance(b.get("max_tokens"), int) for b in bodies) and
           "response_format" not in repr(bodies),
           "max_tokens always sent, response_format never")
    by_prompt = {}
    for b in bodies:
        last = (b.get("messages") or [{}])[-1].get("content", "")
        by_prompt.setdefault(last, b)
    plain = [b for b in bodies if "Name a bird" in repr(b)]
    tap.ok(plain and all("top_p" not in b for b in plain),
           "top_p not sent from defaults alone")
    withp = [b for b in bodies if "With top_p" in repr(b)]
    tap.ok(withp and all(b.get("top_p") == 0.9 and
                         b.get("max_tokens") == 321 for b in withp),
           "the profile's top_p and max_tokens are sent")
    jobp = [b for b in bodies if "Job top_p" in repr(b)]
    tap.ok(jobp and all(b.get("top_p") == 0.8 for b in jobp),
           "and the job's top_p")
    tap.is_(v["an-529"]["attempts"], 2, "529 (overloaded) is retried")
    tap.ok(SECRET not in d.log_text(), "the API key is in no log line")
    d.stop()
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
