#!/usr/bin/env python3
"""Integration test: the programs of docs/examples/ and the config of
docs/quickstart.md do what their docs say.

The real vsampd against a real Kafka broker and the fake model:
  - produce_jobs.py keys each job by dedup_scope (else id) with the
    murmur2_random partitioner, so a scope's jobs share a partition, the
    partition vsampctl submit picks; a bad line sends nothing;
  - read_results.py prints one line per result and commits its offsets,
    so a second run in the same group prints nothing again;
  - simulate_dialogue.py runs a dialogue turn by turn, the persona as the
    system message, the agent's turns as `user` and the simulated user's
    replies as `assistant`, each selected reply fed back;
  - the config block of docs/quickstart.md passes vsampd -n.

TAP output. VSAMPD_IT_PROFILE=skip skips (distcheck: no broker).
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402  (may re-exec under /usr/bin/python3)
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
EXAMPLES = os.path.join(vstest.SRCDIR, "docs", "examples")
tap = Tap()

JOBS = [
    {"id": "ex-1", "prompt": "A haiku about rain.", "dedup_scope": "rain"},
    {"id": "ex-2", "prompt": "Another haiku about rain.",
     "dedup_scope": "rain"},
    {"id": "ex-3", "prompt": "A haiku about snow.", "dedup_scope": "snow"},
    {"id": "ex-4", "prompt": "A joke about coffee.", "method": "direct"},
    {"id": "ex-5", "prompt": "A joke about tea.", "k": 3},
]
AGENT = ["Good morning, Sunrise Bakery, how can I help?",
         "Certainly. For how many people, and for which day?",
         "We can do that. Would you like a message on the cake?"]
PERSONA = ("You are playing a customer calling a bakery to order a "
           "birthday cake. Reply as the customer, in one sentence.")


def example(name, *args, stdin=None, timeout=180):
    """Run docs/examples/NAME with Debian's python3, as the README says."""
    return subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, name)] +
        [str(a) for a in args], input=stdin, capture_output=True,
        text=True, timeout=timeout)


def lines(text):
    out = []
    for x in text.splitlines():
        try:
            out.append(json.loads(x))
        except ValueError:
            out.append({"unparsed": x})
    return out


def job_id(m):
    """The id of a job message, msgpack (produce_jobs.py) or JSON (what
    vsampctl submit sends)."""
    if isinstance(m.value, dict):
        return m.value.get("id")
    try:
        return json.loads(m.raw).get("id")
    except (ValueError, AttributeError, TypeError):
        return None


def quickstart_conf():
    """The config block of docs/quickstart.md (after its marker)."""
    with open(os.path.join(vstest.SRCDIR, "docs", "quickstart.md"),
              encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- quickstart:conf -->\n```\n(.*?)\n```", text, re.S)
    return m.group(1) if m else None


def main():
    if PROFILE == "skip":
        tap.skip("examples", "VSAMPD_IT_PROFILE=skip")
        return tap.done()

    # The quickstart's config, as an operator would copy it. vsampd -n
    # connects to nothing; it needs the state file's directory only.
    qs = quickstart_conf()
    path = vstest.scratch("quickstart-", ".conf")
    if qs is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(qs.replace("/var/lib/vsampd/dedup.state",
                               path + ".state"))
    r = subprocess.run([vstest.vsampd_bin(), "-n", "-f", path],
                       capture_output=True, text=True, timeout=30)
    tap.ok(qs is not None and r.returncode == 0 and
           "configuration OK" in r.stdout + r.stderr,
           "the config of docs/quickstart.md passes vsampd -n",
           diag=(r.stdout + r.stderr)[-2000:])

    kafka = vstest.Kafka().start()
    kafka.create_topics({"vs.jobs": 4, "vs.results": 4, "vs.jobs.dlq": 1})
    fake = vstest.FakeModel().start()
    conf = vstest.conf(
        vstest.scratch("vsampd-ex-", ".conf"), kafka.bootstrap,
        kafka={"group_id": "vsampd-ex", "jobs_topic": "vs.jobs",
               "results_topic": "vs.results", "dlq_topic": "vs.jobs.dlq",
               "consumer": vstest.FAST_CONSUMER},
        backends=[vstest.backend("local", fake.url)],
        defaults={"backend": "local", "method": "vs_standard", "k": 5})
    d = vstest.vsampd(conf, name="vsampd-ex")
    b = kafka.bootstrap

    # produce_jobs.py: a bad line first sends nothing at all.
    bad = "".join(json.dumps(j) + "\n" for j in JOBS[:2]) + "{\"prompt\": 1}\n"
    r = example("produce_jobs.py", "-b", b, stdin=bad)
    before = vstest.end_offsets(b, "vs.jobs")
    tap.ok(r.returncode != 0 and ":3" in r.stderr + r.stdout and
           sum(before.values()) == 0,
           "produce_jobs.py: a bad line is named by its number and "
           "nothing is sent", diag=r.stderr + repr(before))

    jobs_file = vstest.scratch("jobs-", ".jsonl")
    with open(jobs_file, "w", encoding="utf-8") as f:
        for j in JOBS:
            f.write(json.dumps(j) + "\n")
    r = example("produce_jobs.py", "-b", b, "--report", jobs_file)
    rep = {x.get("id"): x for x in lines(r.stdout)}
    tap.ok(r.returncode == 0 and set(rep) == {j["id"] for j in JOBS},
           "produce_jobs.py --report: every job acknowledged",
           diag=r.stderr + r.stdout)
    keys_ok = all(rep.get(j["id"], {}).get("key") ==
                  j.get("dedup_scope", j["id"]) for j in JOBS)
    tap.ok(keys_ok, "produce_jobs.py: the key is dedup_scope, else id",
           diag=repr(rep))
    tap.ok(rep.get("ex-1", {}).get("partition") ==
           rep.get("ex-2", {}).get("partition"),
           "produce_jobs.py: the jobs of one scope share a partition")
    # vsampctl submit, which partitions as vsampd does, sends a scope's
    # jobs to the partition produce_jobs.py chose for it.
    sub = [dict(j, id=j["id"] + "-submit") for j in JOBS]
    r = subprocess.run(
        [vstest.vsampctl_bin(), "submit", "-q", "-f", conf],
        input="".join(json.dumps(j) + "\n" for j in sub),
        capture_output=True, text=True, timeout=60)
    got = vstest.consume(b, "vs.jobs", keys={j["id"] for j in JOBS + sub},
                         key_fn=job_id, timeout=60,
                         partial=True)
    parts = {}
    for m in got:
        parts.setdefault(m.key, set()).add(m.partition)
    tap.ok(r.returncode == 0 and len(got) == 2 * len(JOBS) and
           all(len(parts.get(k, ())) == 1 for k in ("rain", "snow")),
           "produce_jobs.py picks the partition vsampctl submit picks "
           "for a scope (murmur2_random)",
           diag="%s %r" % (r.stderr, parts))

    # read_results.py: one line per result, offsets committed.
    n = 2 * len(JOBS)
    r = example("read_results.py", "-b", b, "-g", "ex-reader", "--count",
                n, "--idle", 60, timeout=240)
    out = lines(r.stdout)
    ids = sorted(x.get("id") or "" for x in out)
    want = sorted([j["id"] for j in JOBS] + [j["id"] for j in sub])
    tap.ok(r.returncode == 0 and ids == want,
           "read_results.py --count: one line per result",
           diag=r.stderr[-1500:] + repr(ids))
    want_k = {j["id"] + sfx: j.get("k", 5) for j in JOBS
              for sfx in ("", "-submit")}
    tap.ok(out and all(x.get("status") == "ok" and
                       isinstance(x.get("selected"), str) and x["selected"]
                       and isinstance(x.get("probability"), float) and
                       x.get("candidates") == want_k.get(x.get("id"))
                       for x in out),
           "read_results.py: each line has the selected candidate's text "
           "and probability, and the number of candidates",
           diag=repr(out[:2]))
    r = example("read_results.py", "-b", b, "-g", "ex-reader", "--idle", 8,
                timeout=120)
    tap.ok(r.returncode == 0 and r.stdout.strip() == "",
           "read_results.py again in the same group: nothing printed "
           "twice (offsets committed)", diag=r.stdout[:500] + r.stderr)

    # simulate_dialogue.py: the user side of a dialogue.
    agent = vstest.scratch("agent-", ".txt")
    with open(agent, "w", encoding="utf-8") as f:
        f.write("\n".join(AGENT) + "\n")
    fake_log_before = len(fake.requests())
    r = example("simulate_dialogue.py", "-b", b, "--agent", agent,
                "--persona", PERSONA, "--id", "bakery-1", "-k", 3,
                "--timeout", 120, timeout=400)
    turns = lines(r.stdout)
    jobs_seen = [t.get("job") for t in turns]
    tap.ok(r.returncode == 0 and len(turns) == len(AGENT) and
           jobs_seen in (["bakery-1-turn-%d" % i
                          for i in range(len(AGENT))],
                         ["bakery-1-turn-%d" % (i + 1)
                          for i in range(len(AGENT))]),
           "simulate_dialogue.py: one job and one line per agent turn",
           diag=r.stderr[-1500:] + r.stdout[-1500:])
    tap.ok(turns and all(t.get("agent") == a and
                         isinstance(t.get("user"), str) and t["user"] and
                         t.get("candidates") == 3
                         for t, a in zip(turns, AGENT)),
           "simulate_dialogue.py: each turn prints the agent's line, the "
           "selected reply and how many candidates it was drawn from",
           diag=repr(turns[:1]))
    # The last turn's request, as the model saw it.
    reqs = [q.get("body") or {} for q in fake.requests()[fake_log_before:]
            if q.get("path", "").endswith("/chat/completions")]
    last = None
    for body in reqs:
        msgs = body.get("messages") or []
        if msgs and msgs[-1].get("content") == AGENT[-1]:
            last = msgs
    roles = [m.get("role") for m in last or []]
    want_roles = ["system"] + ["user", "assistant"] * (len(AGENT) - 1) + \
        ["user"]
    tap.ok(last is not None and roles == want_roles and
           PERSONA in last[0].get("content", "") and
           [m["content"] for m in last[1::2]] == AGENT and
           [m["content"] for m in last[2:-1:2]] ==
           [t["user"] for t in turns[:-1]],
           "simulate_dialogue.py: the persona is the system message, the "
           "agent is user, the simulated user's selected replies come "
           "back as assistant", diag=repr(roles))

    tap.is_(d.stop(), 0, "vsampd exits 0")
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
