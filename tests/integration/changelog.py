#!/usr/bin/env python3
"""The dedup changelog (kafka.scope_topic) on a real Kafka broker: scope
entries follow their partition from one instance to another.

  - a changelog whose partition count differs from the jobs topic's: a
    clear error at start, exit status 1, nothing consumed;
  - two instances share one scope's jobs; the owner of its partition is
    SIGKILLed; the other restores the partition's index from the
    changelog, and later jobs repeating answers the dead one accepted
    have them counted in_scope and removed;
  - restarts: a fresh state file restores from its recorded offset (no
    record read again), a missing one from the start of the changelog,
    and a stale one (its offset out of the changelog's range) from the
    start too;
  - scale-out from one instance to three in the middle of a run: no
    answer accepted by two jobs of one scope, counted from the results;
  - exactly-once mode after SIGKILLs: the committed changelog and the
    committed results agree, job by job (no entry for a job without its
    result, no accepted candidate without its entry).

The fake model answers from a script of fixed replies, made of answers
of six random words each, so that no two answers are near duplicates.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it.
"""

import json
import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()
rnd = random.Random(13)
WORDS = ["w%03d%s" % (i, "abcdefghij"[i % 10]) for i in range(600)]
POOL = [" ".join(rnd.sample(WORDS, 6)) for _ in range(200)]
COMPACT = {"cleanup.policy": "compact"}


def script(path, replies):
    """Write the fake's script: entry NAME answers the texts given."""
    entries = {}
    for name, texts in replies.items():
        entries[name] = {"content": json.dumps({"responses": [
            {"text": t, "probability": round(1.0 / len(texts), 3)}
            for t in texts]})}
        if name.startswith(("sc_", "eo_")):
            entries[name]["latency_ms"] = 150
    with open(path, "w") as f:
        json.dump(entries, f)
    return path


def job(jid, scope, entry):
    return (scope, {"id": jid, "prompt": "Q %s" % vstest.marker(entry),
                    "k": 3, "dedup_scope": scope})


def write_conf(kafka, fake, group, prefix, state_file="", **kafka_over):
    k = {"group_id": group, "jobs_topic": prefix + ".jobs",
         "results_topic": prefix + ".results",
         "scope_topic": prefix + ".scope",
         "consumer": vstest.FAST_CONSUMER}
    k.update(kafka_over)
    return vstest.conf(vstest.scratch("cl-", ".conf"), kafka.bootstrap,
                       kafka=k,
                       backends=[vstest.backend("local", fake.url)],
                       defaults={"backend": "local", "k": 3},
                       dedup={"state_file": state_file},
                       worker={"shutdown_timeout_ms": 10000})


def restored(proc, partition, start=0, timeout=60):
    """Wait for proc's restore of partition; (entries, records, from)."""
    m = proc.wait_log(r"partition %d: dedup index restored, (\d+) entries "
                      r"\((\d+) changelog records read from ([^)]*?) of"
                      % partition, timeout=timeout, start=start)
    return int(m.group(1)), int(m.group(2)), m.group(3), m.end()


def restored_all(proc, nparts, start=0, timeout=60):
    """Wait until proc restored each of nparts partitions; {p: (entries,
    records, from)}."""
    return {p: restored(proc, p, start=start, timeout=timeout)[:3]
            for p in range(nparts)}


def committed_all(kafka, group, topic):
    ends = vstest.end_offsets(kafka.bootstrap, topic)
    got = vstest.committed_offsets(kafka.bootstrap, group, topic)
    return all(got.get(p) == e for p, e in ends.items() if e > 0)


def wrong_count(kafka, fake):
    kafka.create_topics({"w.jobs": 4, "w.results": 4})
    kafka.create_topics({"w.scope": 3}, config=COMPACT)
    vstest.produce(kafka.bootstrap, "w.jobs", [job("w-1", "s", "r0")])
    conf = write_conf(kafka, fake, "g-wrong", "w")
    d = vstest.vsampd(conf, name="vsampd-wrong", ready=0)
    rc = d.wait(60)
    tap.is_(rc, 1, "a changelog with 3 partitions for a jobs topic of 4: "
            "exit status 1")
    tap.ok(re.search(r"changelog w\.scope has 3 partition\(s\) and jobs "
                     r"topic w\.jobs has 4", d.log_text()),
           "the error names both topics and their partition counts",
           diag=d.log_text()[-600:])
    offs = vstest.committed_offsets(kafka.bootstrap, "g-wrong", "w.jobs")
    got = vstest.consume(kafka.bootstrap, "w.results", timeout=2)
    tap.ok(all(o < 0 for o in offs.values()) and not got,
           "nothing consumed: no offset committed, no result",
           diag=repr((offs, got[:2])))


def takeover(kafka, fake):
    kafka.create_topics({"k.jobs": 2, "k.results": 2})
    kafka.create_topics({"k.scope": 2}, config=COMPACT)
    conf = write_conf(kafka, fake, "g-kill", "k")
    a = vstest.vsampd(conf, name="vsampd-a")
    b = vstest.vsampd(conf, name="vsampd-b")
    res = vstest.Collector(kafka.bootstrap, "k.results")
    first = ["k1-%02d" % i for i in range(10)]
    vstest.produce(kafka.bootstrap, "k.jobs",
                   [job(j, "kill", "k1_%d" % i)
                    for i, j in enumerate(first)])
    got = res.wait(keys=set(first), timeout=90)
    part = got[first[0]][-1]["source"]["partition"]
    accepted = [c["text"] for j in first for c in got[j][-1]["candidates"]]
    tap.is_(len(accepted), 30, "first instance: 30 new answers accepted in "
            "scope kill (partition %d)" % part)
    vstest.wait_for(lambda: committed_all(kafka, "g-kill", "k.jobs"),
                    timeout=60, what="offsets committed")
    owner, other = (a, b) if re.search(
        r"partition %d: dedup index restored" % part, a.log_text()) \
        else (b, a)
    mark = len(other.log_text())
    owner.send_signal(signal.SIGKILL)
    owner.wait(30)
    ent, recs, frm, _ = restored(other, part, start=mark, timeout=90)
    tap.ok(ent == 30 and recs >= 30,
           "the survivor restores partition %d from the changelog: %d "
           "entries from %d records (from %s)" % (part, ent, recs, frm))
    second = ["k2-%02d" % i for i in range(10)]
    vstest.produce(kafka.bootstrap, "k.jobs",
                   [job(j, "kill", "k2_%d" % i)
                    for i, j in enumerate(second)])
    got = res.wait(keys=set(second), timeout=90)
    dropped = sum(got[j][-1]["dedup"]["in_scope"] for j in second)
    left = [c["text"] for j in second for c in got[j][-1]["candidates"]]
    tap.ok(dropped == 30 and not left, "after the takeover every answer "
           "the dead instance accepted is an in_scope duplicate (%d "
           "dropped, %d left)" % (dropped, len(left)))
    tap.is_(other.stop(), 0, "the survivor drains and exits 0")
    res.close()


def restarts(kafka, fake):
    kafka.create_topics({"r.jobs": 2, "r.results": 2})
    kafka.create_topics({"r.scope": 2}, config=COMPACT)
    state = vstest.scratch("cl-state-", ".state")
    os.unlink(state)  # no state file at first
    conf = write_conf(kafka, fake, "g-restart", "r", state_file=state)
    res = vstest.Collector(kafka.bootstrap, "r.results")

    def run(tag, entry_prefix, n=10):
        ids = ["%s-%02d" % (tag, i) for i in range(n)]
        vstest.produce(kafka.bootstrap, "r.jobs",
                       [job(j, "rs", "%s_%d" % (entry_prefix, i))
                        for i, j in enumerate(ids)])
        return res.wait(keys=set(ids), timeout=90)

    d = vstest.vsampd(conf, name="vsampd-r0")
    restored_all(d, 2)
    got = run("r1", "r1")
    part = got["r1-00"][-1]["source"]["partition"]
    tap.is_(d.stop(), 0, "a first run drains and saves its checkpoints")
    d = vstest.vsampd(conf, name="vsampd-r1")
    ent, recs, frm = restored_all(d, 2)[part]
    tap.ok(ent == 30 and recs == 0 and frm.startswith("offset"),
           "fresh state file: %d entries from the checkpoint, %d records "
           "read from its %s" % (ent, recs, frm))
    got = run("r2", "k1")  # the same answers as the takeover's first
    tap.is_(sum(got["r2-%02d" % i][-1]["dedup"]["in_scope"]
                for i in range(10)), 0,
            "another scope's answers are new here")
    tap.is_(d.stop(), 0, "drained")
    os.unlink(state)
    d = vstest.vsampd(conf, name="vsampd-r2")
    ent, recs, frm = restored_all(d, 2)[part]
    tap.ok(ent == 60 and recs >= 60 and frm == "the start",
           "missing state file: restored from the start of the changelog "
           "(%d entries, %d records)" % (ent, recs))
    restored_all(d, 2)
    got = run("r3", "r1")
    tap.is_(sum(got["r3-%02d" % i][-1]["dedup"]["in_scope"]
                for i in range(10)), 30,
            "and the first run's answers are duplicates again")
    tap.is_(d.stop(), 0, "drained")
    # A changelog created anew: the checkpoint's offset is past its end.
    kafka.delete_topics(["r.scope"])
    vstest.wait_for(lambda: "r.scope" not in
                    kafka.admin().list_topics(timeout=10).topics,
                    timeout=60, what="r.scope deleted")
    kafka.create_topics({"r.scope": 2}, config=COMPACT)
    d = vstest.vsampd(conf, name="vsampd-r3")
    m = d.wait_log(r"partition %d: the dedup state's offset \d+ is out of "
                   r"range" % part, timeout=90)
    ent, recs, frm, _ = restored(d, part, start=m.end())
    tap.ok(ent == 0 and frm == "the start", "stale state file (offset out "
           "of range): its checkpoint is dropped, restored from the start "
           "(%d entries)" % ent)
    tap.is_(d.stop(), 0, "drained")
    res.close()


MASK = (1 << 64) - 1


def hash_bytes(b):
    """vsampd's hash of a job id (include/hash.h: FNV-1a 64, splitmix64
    finaliser), as the changelog's values carry it."""
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & MASK
    h = ((h ^ (h >> 30)) * 0xbf58476d1ce4e5b9) & MASK
    h = ((h ^ (h >> 27)) * 0x94d049bb133111eb) & MASK
    return h ^ (h >> 31)


def random_jobs(prefix, n, scopes, replies, rnd):
    """n jobs over scopes, each answering 3 of its scope's 30 answers at
    random (so that scopes repeat answers across jobs)."""
    jobs = []
    for i in range(n):
        sc = scopes[i % len(scopes)]
        base = 30 * (scopes.index(sc) % 6)
        name = "%s_%d" % (prefix, i)
        replies[name] = rnd.sample(POOL[base:base + 30], 3)
        jobs.append(job("%s-%04d" % (prefix, i), sc, name))
    return jobs


def last_results(records):
    out = {}
    for r in records:
        out[r.key] = r.value
    return out


def scale_out(kafka, fake, jobs):
    kafka.create_topics({"s.jobs": 6, "s.results": 6})
    kafka.create_topics({"s.scope": 6}, config=COMPACT)
    conf = write_conf(kafka, fake, "g-scale", "s")
    res = vstest.Collector(kafka.bootstrap, "s.results")
    ds = [vstest.vsampd(conf, name="vsampd-s0")]
    third = len(jobs) // 3
    vstest.produce(kafka.bootstrap, "s.jobs", jobs[:third])
    for k in (1, 2):
        res.wait(count=k * third // 2, timeout=120)
        ds.append(vstest.vsampd(conf, name="vsampd-s%d" % k))
        vstest.produce(kafka.bootstrap, "s.jobs",
                       jobs[k * third:(k + 1) * third if k < 2 else None])
    ids = {v["id"] for _, v in jobs}
    res.wait(keys=ids, timeout=240)
    last = last_results(res.records)
    owners = {}
    dropped = 0
    for jid in ids:
        v = last[jid]
        dropped += v["dedup"]["in_scope"]
        sc = [j for k, j in jobs if j["id"] == jid][0]["dedup_scope"]
        for c in v["candidates"]:
            owners.setdefault((sc, c["text"]), set()).add(jid)
    twice = {k: sorted(v) for k, v in owners.items() if len(v) > 1}
    moved = sum(len(re.findall(r"dedup index restored", d.log_text()))
                for d in ds)
    tap.ok(moved > 6, "scale-out 1 -> 3: partitions moved and were "
           "restored (%d restores)" % moved)
    tap.ok(dropped > 0 and not twice, "no answer accepted by two jobs of "
           "a scope over the run (%d accepted, %d in_scope duplicates "
           "dropped)" % (len(owners), dropped),
           diag=repr(list(twice.items())[:5]))
    for d in ds:
        d.stop()
    res.close()


def eos(kafka, fake, jobs):
    kafka.create_topics({"e.jobs": 2, "e.results": 2})
    kafka.create_topics({"e.scope": 2}, config=COMPACT)
    conf = write_conf(kafka, fake, "g-eos", "e", exactly_once=True,
                      transactional_id="g-eos-txn", transaction_ms=100)
    vstest.produce(kafka.bootstrap, "e.jobs", jobs)
    cycles = 4 if PROFILE == "full" else 2
    for k in range(cycles):
        d = vstest.vsampd(conf, name="vsampd-e%d" % k, ready=90)
        time.sleep(rnd.uniform(1.0, 2.5))
        d.send_signal(signal.SIGKILL)
        d.wait(30)
    d = vstest.vsampd(conf, name="vsampd-e-final", ready=90)
    ids = {v["id"] for _, v in jobs}
    res = vstest.Collector(kafka.bootstrap, "e.results")
    res.wait(keys=ids, timeout=240)
    tap.is_(d.stop(), 0, "exactly-once: the last daemon drains")
    last = last_results(res.records)
    res.close()
    want = {}
    for jid in ids:
        n = len(last[jid]["candidates"])
        if n:
            want[hash_bytes(jid.encode())] = n
    live = {}
    for r in vstest.consume(kafka.bootstrap, "e.scope", decode="raw",
                            timeout=5):
        live[(r.partition, r.key)] = r.raw
    have = {}
    for raw in live.values():
        if raw is not None:
            jh = int.from_bytes(raw[16:24], "little")
            have[jh] = have.get(jh, 0) + 1
    tap.ok(want == have, "after %d SIGKILLs the committed changelog holds "
           "exactly the accepted candidates of the committed results, job "
           "by job (%d jobs, %d entries)" % (cycles, len(want),
                                              sum(have.values())),
           diag=repr((len(want), len(have),
                      sorted(set(want) ^ set(have))[:5])))


def main():
    if PROFILE == "skip":
        tap.skip("changelog", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    replies = {}
    for i in range(10):
        replies["k1_%d" % i] = POOL[3 * i:3 * i + 3]
        # The same thirty answers, grouped differently.
        replies["k2_%d" % i] = [POOL[(3 * i + 4 * k) % 30] for k in (0, 1,
                                                                     2)]
        replies["r1_%d" % i] = POOL[100 + 3 * i:100 + 3 * i + 3]
    replies["r0"] = POOL[190:193]
    n = 300 if PROFILE == "full" else 120
    scale_jobs = random_jobs("sc", n, ["a%d" % i for i in range(12)],
                             replies, rnd)
    eos_jobs = random_jobs("eo", n, ["b%d" % i for i in range(4)],
                           replies, rnd)
    path = script(vstest.scratch("cl-script-", ".json"), replies)
    kafka = vstest.Kafka().start()
    fake = vstest.FakeModel(script=path).start()
    wrong_count(kafka, fake)
    takeover(kafka, fake)
    restarts(kafka, fake)
    scale_out(kafka, fake, scale_jobs)
    eos(kafka, fake, eos_jobs)
    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
