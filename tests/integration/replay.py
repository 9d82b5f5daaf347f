#!/usr/bin/env python3
"""vsampctl replay against a real Kafka broker and the real daemon:

- jobs sent to a dead backend fail with code backend and a bad job with
  bad_job, and all get DLQ copies;
- usage errors name what is wrong (an unknown code with the valid ones,
  a time that is not one, --max 0);
- --dry-run lists the copies a replay would take and produces and
  commits nothing; --code, --since and --until (RFC 3339 with an offset,
  and durations) choose which;
- a replay produces the chosen copies to the jobs topic, keys, values
  and the job's own headers unchanged, vsampd's dropped and
  vsampd-replayed added; --max stops after N and commits only that far;
  a second replay sends nothing; bad_job is never sent; with vsampd
  restarted against a working model every replayed job gets an ok
  result;
- a DLQ topic written in transactions (exactly-once) ends in a commit
  marker that is never delivered: the replay still ends, and commits
  past it.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it.
"""

import datetime
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()
SUMMARY = re.compile(
    r"vsampctl replay: (\d+) considered on \S+, (\d+) (?:would be )?"
    r"replayed to \S+, (\d+) skipped \(code (\d+), time (\d+), empty "
    r"(\d+), foreign (\d+)\)")
LINE = re.compile(r"^partition (\d+) offset (\d+) id (\S+) code (\S+) "
                  r"time (\S+)$")


def ctl(*args, timeout=120):
    return subprocess.run([vstest.vsampctl_bin()] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)


def write_conf(path, brokers, url, topics=("rp.jobs", "rp.results",
                                           "rp.dlq"), eos=False):
    return vstest.conf(
        path, brokers,
        kafka={"group_id": "vsampd-" + topics[0], "jobs_topic": topics[0],
               "results_topic": topics[1], "dlq_topic": topics[2],
               "exactly_once": eos,
               "transactional_id": "txn-" + topics[0] if eos else None,
               "transaction_ms": 100 if eos else None,
               "consumer": dict(vstest.FAST_CONSUMER,
                                auto_commit_interval_ms=200),
               "producer": {"linger_ms": 5}},
        backends=[vstest.backend("local", url, max_inflight=16,
                                 timeout_ms=5000, max_retries=0)],
        defaults={"backend": "local", "method": "vs_standard", "k": 2},
        worker={"shutdown_timeout_ms": 4000})


def summary(r):
    """(considered, replayed, skipped, code, time, empty, foreign) of a
    replay's summary line, or None."""
    m = SUMMARY.search(r.stderr)
    return tuple(int(x) for x in m.groups()) if m else None


def listed(r):
    """{id: (code, time)} of a dry run's lines."""
    out = {}
    for line in r.stdout.splitlines():
        m = LINE.match(line)
        if m:
            out[m.group(3)] = (m.group(4), m.group(5))
    return out


def total(offsets):
    return sum(offsets.values())


def none_committed(bootstrap, group, topic):
    return all(o < 0 for o in vstest.committed_offsets(
        bootstrap, group, topic).values())


def jobs(tag, n):
    """n jobs as (key, job, headers): each has a header of its own."""
    out = []
    for i in range(n):
        jid = "%s-%d" % (tag, i)
        out.append((jid, {"id": jid, "prompt": "Replay %s" % jid},
                    {"trace": "t-" + jid}))
    return out


def fail_jobs(kafka, conf, batch, dlq):
    """Run vsampd on conf (a dead backend) until every job of batch has
    its DLQ copy; a fresh daemon, so that its breaker is closed."""
    d = vstest.vsampd(conf, name="vsampd-dead")
    vstest.produce(kafka.bootstrap, "rp.jobs", batch)
    got = dlq.wait(keys=[b[0] for b in batch], timeout=90)
    tap.is_(d.stop(), 0, "dead backend: the daemon drains and exits 0")
    return got


USAGE_ERRORS = [
    (["--code", "backend,nope"], 2,
     ['"nope"', "bad_job, backend, timeout, rate_limited, parse, "
      "too_large, internal, poison"],
     "--code nope: exit 2, the code named and the valid ones listed"),
    (["--since", "yesterday"], 2, ["--since", '"yesterday"', "RFC 3339"],
     "--since yesterday: exit 2, named, the forms given"),
    (["--until", "2026-04-31T00:00:00Z"], 2, ["no such date"],
     "--until on April 31: exit 2, no such date"),
    (["--max", "0"], 2, ["--max"], "--max 0: exit 2"),
    (["--since", "1h", "--until", "2h"], 2,
     ["--since is not before --until"], "--since after --until: exit 2"),
    (["--dlq-topic", "rp.jobs"], 2, ["both rp.jobs"],
     "the DLQ topic as the jobs topic: exit 2"),
    (["--dlq-topic", "rp.nope"], 1, ["topic rp.nope does not exist"],
     "a missing DLQ topic: exit 1, named"),
    (["-t", "rp.nope"], 1, ["topic rp.nope does not exist"],
     "a missing jobs topic: exit 1, named"),
]


def usage_errors(conf):
    for args, status, texts, desc in USAGE_ERRORS:
        r = ctl("replay", "-f", conf, *args)
        tap.ok(r.returncode == status and all(t in r.stderr for t in texts),
               desc, diag="status %d: %s" % (r.returncode, r.stderr))
    r = ctl("replay", "--help")
    tap.ok(r.returncode == 0 and r.stdout.startswith(
        "usage: vsampctl replay"), "replay --help")


def rfc3339(ms, hours):
    tz = datetime.timezone(datetime.timedelta(hours=hours))
    return datetime.datetime.fromtimestamp(ms / 1000.0, tz).isoformat(
        timespec="milliseconds")


def filters(kafka, conf, a_ids, b_ids, mid):
    """The dry run and the time and code filters; nothing is produced
    or committed by any of them."""
    ends = vstest.end_offsets(kafka.bootstrap, "rp.jobs")
    r = ctl("replay", "-f", conf, "--dry-run")
    got = listed(r)
    tap.ok(r.returncode == 0 and set(got) == set(a_ids + b_ids),
           "dry run: every backend copy listed, bad_job not (%s)" %
           sorted(got), diag=r.stderr)
    tap.ok(all(c == "backend" and t.endswith("Z") for c, t in
               got.values()), "dry run: each with its code and time")
    tap.is_(summary(r), (len(a_ids + b_ids) + 1, len(a_ids + b_ids), 1, 1,
                         0, 0, 0),
            "dry run: the summary counts the bad_job copy as skipped")
    r = ctl("replay", "-f", conf, "--dry-run", "--code", "bad_job")
    tap.is_(sorted(listed(r)), ["bad-0"], "--code bad_job: only it")
    r = ctl("replay", "-f", conf, "--dry-run", "--code", "timeout,parse")
    tap.ok(r.returncode == 0 and listed(r) == {} and
           summary(r)[3] == len(a_ids + b_ids) + 1,
           "--code timeout,parse: nothing, all skipped by code")
    # mid is between the two batches' copies, written with a +02:00
    # offset: the same instant as in UTC.
    r = ctl("replay", "-f", conf, "--dry-run", "--until", rfc3339(mid, 2))
    tap.is_(sorted(listed(r)), sorted(a_ids),
            "--until between the batches (+02:00): the first batch only")
    tap.is_(summary(r)[4], len(b_ids), "--until: the rest skipped by time")
    r = ctl("replay", "-f", conf, "--dry-run", "--since", rfc3339(mid, -5))
    tap.is_(sorted(listed(r)), sorted(b_ids),
            "--since between the batches (-05:00): the second batch only")
    r = ctl("replay", "-f", conf, "--dry-run", "--since", "1h")
    tap.is_(sorted(listed(r)), sorted(a_ids + b_ids),
            "--since 1h: all of them")
    r = ctl("replay", "-f", conf, "--dry-run", "--until", "1h")
    tap.ok(listed(r) == {} and summary(r)[4] == len(a_ids + b_ids),
           "--until 1h: none, skipped by time")
    tap.is_(vstest.end_offsets(kafka.bootstrap, "rp.jobs"), ends,
            "dry runs: nothing produced to the jobs topic")
    tap.ok(none_committed(kafka.bootstrap, "vsampctl-replay", "rp.dlq"),
           "dry runs: nothing committed for vsampctl-replay")


def replayed_records(bootstrap, topic):
    return [r for r in vstest.consume(bootstrap, topic, timeout=3,
                                      decode="raw")
            if "vsampd-replayed" in r.headers]


def window_replay(kafka, conf, a_ids, mid, dlq_by_key):
    """A real replay with --until, in a group of its own, to a topic of
    its own: exactly the first batch arrives there, as it was."""
    r = ctl("replay", "-f", conf, "--group", "rp-window", "-t", "rp.side",
            "--until", rfc3339(mid, 0))
    tap.ok(r.returncode == 0 and summary(r)[1] == len(a_ids),
           "--until, -t, --group: %d replayed" % len(a_ids), diag=r.stderr)
    side = vstest.consume(kafka.bootstrap, "rp.side", timeout=3,
                          decode="raw")
    tap.is_(sorted(x.key for x in side), sorted(a_ids),
            "the side topic has the first batch, once each")
    same = [x for x in side if x.raw == dlq_by_key[x.key].raw]
    tap.is_(len(same), len(a_ids), "each value is the job's, unchanged")
    good = [x for x in side
            if x.headers.get("trace") == "t-" + x.key and
            x.headers.get("vsampd-replayed") == "1" and
            re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$",
                     x.headers.get("vsampd-replayed-at", "")) and
            not any(h.startswith("vsampd-") and h not in (
                "vsampd-replayed", "vsampd-replayed-at")
                for h in x.headers)]
    tap.is_(len(good), len(a_ids),
            "headers: the job's kept, vsampd's dropped, vsampd-replayed "
            "added (%s)" % (side[0].headers if side else None))
    tap.ok(vstest.committed_offsets(kafka.bootstrap, "rp-window",
                                    "rp.dlq") and
           total(vstest.committed_offsets(kafka.bootstrap, "rp-window",
                                          "rp.dlq")) ==
           total(vstest.end_offsets(kafka.bootstrap, "rp.dlq")),
           "--until: its group committed to the end, the copies it "
           "skipped too")


def main_replays(kafka, conf, ids, dlq_ends):
    """--max, the full replay, a second one."""
    n = len(ids)
    r = ctl("replay", "-f", conf, "--code", "backend", "--max", "2")
    tap.ok(r.returncode == 0 and summary(r)[1] == 2,
           "--max 2: 2 replayed", diag=r.stderr)
    first = replayed_records(kafka.bootstrap, "rp.jobs")
    tap.is_(len(first), 2, "--max 2: 2 on the jobs topic")
    committed = vstest.committed_offsets(kafka.bootstrap, "vsampctl-replay",
                                         "rp.dlq")
    tap.ok(0 < sum(max(o, 0) for o in committed.values()) <
           total(dlq_ends), "--max 2: committed part of the way (%s of %s)"
           % (committed, dlq_ends))
    r = ctl("replay", "-f", conf, "--code", "backend", "--dry-run")
    left = listed(r)
    tap.ok(len(left) == n - 2 and not set(left) & {x.key for x in first},
           "--max 2: the dry run after it lists the %d others" % (n - 2),
           diag=sorted(left))
    r = ctl("replay", "-f", conf, "--code", "backend")
    tap.ok(r.returncode == 0 and summary(r)[1] == n - 2 and
           "offsets committed for group vsampctl-replay" in r.stderr,
           "replay: the other %d replayed" % (n - 2), diag=r.stderr)
    all_ = replayed_records(kafka.bootstrap, "rp.jobs")
    tap.is_(sorted(x.key for x in all_), sorted(ids),
            "every backend job is on the jobs topic again, once")
    tap.is_(vstest.committed_offsets(kafka.bootstrap, "vsampctl-replay",
                                     "rp.dlq"), dlq_ends,
            "replay: committed to the end of the DLQ topic")
    ends = vstest.end_offsets(kafka.bootstrap, "rp.jobs")
    r = ctl("replay", "-f", conf)
    tap.ok(r.returncode == 0 and summary(r)[:2] == (0, 0),
           "a second replay considers nothing and sends nothing",
           diag=r.stderr)
    tap.is_(vstest.end_offsets(kafka.bootstrap, "rp.jobs"), ends,
            "a second replay: the jobs topic unchanged")
    r = ctl("replay", "-f", conf, "--dry-run", "--from-beginning",
            "--code", "backend")
    tap.is_(sorted(listed(r)), sorted(ids),
            "--from-beginning: the dry run sees them all again")


def eos_dlq(kafka, fake):
    """A DLQ topic written in transactions: each copy is followed by a
    commit marker, which no consumer is given. The daemon runs on, and
    neither replay nor submit uses (or fences) its transactional id."""
    kafka.create_topics({"rx.jobs": 1, "rx.results": 1, "rx.dlq": 1})
    conf = write_conf(vstest.scratch("replay-eos-", ".conf"),
                      kafka.bootstrap, fake.url,
                      topics=("rx.jobs", "rx.results", "rx.dlq"), eos=True)
    d = vstest.vsampd(conf, name="vsampd-eos")
    vstest.produce(kafka.bootstrap, "rx.jobs",
                   [{"id": "rx-bad", "prompt": "x", "k": 0}])
    dlq = vstest.Collector(kafka.bootstrap, "rx.dlq", decode="raw")
    dlq.wait(keys=["rx-bad"], timeout=60)
    ends = vstest.end_offsets(kafka.bootstrap, "rx.dlq")
    tap.is_(ends, {0: 2}, "exactly-once: one copy and its commit marker")
    t0 = time.monotonic()
    r = ctl("replay", "-f", conf, "--code", "bad_job", "--dry-run",
            timeout=60)
    tap.ok(r.returncode == 0 and list(listed(r)) == ["rx-bad"] and
           time.monotonic() - t0 < 25,
           "exactly-once: the dry run ends (%.1f s) and lists the copy" %
           (time.monotonic() - t0), diag=r.stderr)
    r = subprocess.run([vstest.vsampctl_bin(), "submit", "-q", "-f", conf],
                       input='{"id": "rx-ok", "prompt": "Hi"}\n',
                       capture_output=True, text=True, timeout=60)
    tap.ok(r.returncode == 0, "exactly-once config: submit delivers",
           diag=r.stderr)
    r = ctl("replay", "-f", conf, "--code", "bad_job", timeout=60)
    tap.ok(r.returncode == 0 and summary(r)[1] == 1,
           "exactly-once: the replay ends and sends it", diag=r.stderr)
    tap.is_(vstest.committed_offsets(kafka.bootstrap, "vsampctl-replay",
                                     "rx.dlq"), ends,
            "exactly-once: committed past the marker")
    # The daemon fails the replayed job again: its new copy says it was
    # replayed once, and the next replay counts it twice.
    def second_copy():
        dlq.poll(0.2)
        return any(x.headers.get("vsampd-replayed") == "1" and
                   x.headers.get("vsampd-error") == "bad_job"
                   for x in dlq.records)
    tap.ok(vstest.wait_for(second_copy, timeout=60, what="the second copy"),
           "exactly-once: the replayed job's new copy has vsampd-replayed 1")
    dlq.close()
    ends = vstest.end_offsets(kafka.bootstrap, "rx.dlq")
    tap.is_(ends, {0: 4}, "exactly-once: two copies, two markers")
    r = ctl("replay", "-f", conf, "--code", "bad_job", timeout=60)
    again = [x for x in replayed_records(kafka.bootstrap, "rx.jobs")
             if x.headers.get("vsampd-replayed") == "2"]
    tap.ok(r.returncode == 0 and summary(r)[:2] == (1, 1) and
           len(again) == 1, "exactly-once: the next replay takes only "
           "the new copy, and counts 2", diag=r.stderr)
    # (The daemon fails the job a third time meanwhile: the end the
    # replay began with is what it commits.)
    tap.is_(vstest.committed_offsets(kafka.bootstrap, "vsampctl-replay",
                                     "rx.dlq"), ends,
            "exactly-once: committed past the second marker too")
    res = vstest.consume(kafka.bootstrap, "rx.results", keys=["rx-ok"],
                         timeout=60)
    tap.ok(any(x.key == "rx-ok" and x.value["status"] == "ok"
               for x in res), "exactly-once: the submitted job's result")
    tap.is_(d.stop(), 0, "exactly-once: the daemon was never fenced, "
            "drains and exits 0")


def main():
    if PROFILE == "skip":
        tap.skip("replay", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    kafka = vstest.Kafka().start()
    tap.diag("kafka %s up in %.1fs" % (kafka.bootstrap, kafka.startup_s))
    kafka.create_topics({"rp.jobs": 2, "rp.results": 2, "rp.dlq": 2,
                         "rp.side": 2})
    dead = "http://127.0.0.1:%d/v1" % vstest.free_port()
    conf = write_conf(vstest.scratch("replay-dead-", ".conf"),
                      kafka.bootstrap, dead)
    usage_errors(conf)

    # Two batches of failures, a second apart; the bad job in the first.
    dlq = vstest.Collector(kafka.bootstrap, "rp.dlq", decode="raw")
    a = jobs("a", 4) + [("bad-0", {"id": "bad-0", "prompt": "x", "k": 0},
                         {"trace": "t-bad-0"})]
    got = fail_jobs(kafka, conf, a, dlq)
    time.sleep(1.5)
    got.update(fail_jobs(kafka, conf, jobs("b", 3), dlq))
    codes = {k: v[-1].headers.get("vsampd-error") for k, v in got.items()}
    tap.ok(codes.pop("bad-0") == "bad_job" and
           set(codes.values()) == {"backend"},
           "the dead backend's jobs are DLQ copies with code backend, "
           "the bad job with bad_job (%s)" % codes)
    a_ids = ["a-%d" % i for i in range(4)]
    b_ids = ["b-%d" % i for i in range(3)]
    last_a = max(got[k][-1].timestamp for k in a_ids + ["bad-0"])
    first_b = min(got[k][-1].timestamp for k in b_ids)
    tap.cmp(first_b - last_a, ">", 500, "the batches' copies are apart")
    mid = (last_a + first_b) // 2
    dlq_by_key = {k: v[-1] for k, v in got.items()}
    dlq.close()
    dlq_ends = vstest.end_offsets(kafka.bootstrap, "rp.dlq")

    filters(kafka, conf, a_ids, b_ids, mid)
    window_replay(kafka, conf, a_ids, mid, dlq_by_key)
    main_replays(kafka, conf, a_ids + b_ids, dlq_ends)

    # vsampd again, on a working model: the replayed jobs come out ok.
    fake = vstest.FakeModel().start()
    write_conf(conf, kafka.bootstrap, fake.url)
    res = vstest.Collector(kafka.bootstrap, "rp.results")
    d = vstest.vsampd(conf, name="vsampd-ok")

    def all_ok():
        res.poll(0.5)
        return all(any(x.value.get("status") == "ok"
                       for x in res.by_key.get(i, []))
                   for i in a_ids + b_ids)
    tap.ok(vstest.wait_for(all_ok, timeout=90, what="ok results"),
           "every replayed job gets an ok result")
    res.poll(2)
    tap.is_([x.value["status"] for x in res.by_key.get("bad-0", [])],
            ["error"], "bad_job: its one error result, not replayed")
    jobs_bad = [x for x in vstest.consume(kafka.bootstrap, "rp.jobs",
                                          timeout=3, decode="raw")
                if x.key == "bad-0"]
    tap.is_(len(jobs_bad), 1, "bad_job: on the jobs topic once")
    res.close()
    tap.is_(d.stop(), 0, "the daemon drains and exits 0")

    eos_dlq(kafka, fake)
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
