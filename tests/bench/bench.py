#!/usr/bin/env python3
"""bench: vsampd end to end, against a real Kafka 4.1.1 broker.

    python3 tests/bench/bench.py [options] WHAT...

WHAT is one or more of the benchmarks below (run in this order, on one
broker), or all:

  saturation  fake backend with 0 ms latency: jobs/s and vsampd CPU per
              vs_standard job (k = 5); target <= 100 us of CPU per job.
              Median of --runs runs (default 3).
  littles     fake backend with 250 ms latency, max_inflight 1024:
              throughput >= 0.95 x in-flight / latency, RSS <= 128 MB.
  peers       the same jobs and fake through vsampd, through the paper's
              package verbalized-sampling 0.1.3 (peer_vs.py) and through
              an asyncio + httpx worker (peer_async.py); CPU per job and
              throughput as ratios, at 0 ms and 50 ms latency.
  soak        100,000 jobs against a chaotic fake (30% 500, 10% 429 with
              Retry-After, 5% no answer, 5% malformed): exactly one
              result per job, RSS within 10% after warm-up.
  profile     one saturation run under `perf record` (callgrind on a
              short run when perf cannot record): the top functions.
  memory      three `direct` jobs with n = 1000 and 600 KB prompts:
              peak RSS (VmHWM) <= 256 MB.
  stall       two jobs of 1,000 candidates of 1,000 words being scored:
              /healthz, asked every 20 ms, always answers within 250 ms.
  restore     10^6 dedup changelog records (kafka.scope_topic) restored
              on assignment: seconds from the log line and from the
              wall clock; target <= 10 s. Median of --runs runs (3).
  overhead    saturation with 8 dedup_scopes, without and with
              kafka.scope_topic, alternating: vsampd CPU per job; target
              <= 1.10 x. Medians of --runs runs each (3).
  knee        a batching fake (B = 32 and 256, --knee-batch B): its
              peak from fixed concurrencies 1..2B, then aimd and gradient
              against it: >= 0.95 x peak, mean queue <= B/4, p99 <= 1.5 x
              the knee's latency.
  realbatch   the real local model (tests/model/server.mjs, SmolLM2-135M
              on the CPU) serving --parallel 8 sequences in one batch:
              completion tokens/s at fixed concurrencies 1, 2, 4, 8
              (its peak), then vsampd with its defaults (the backend's
              max_inflight 8) on direct jobs, and its share of that
              peak. Needs `tests/model/model.sh install`; not in all.
  tokens      prompt tokens and requests per candidate of direct jobs
              (n = 32) on a profile without supports_n and on one with
              it (n_chunk = 16), and of vs_standard (k = 5), against the
              fake model (tests/fakes/fake_model.py, which counts the
              words of a request's messages as its prompt tokens, once
              per request); target: supports_n divides direct's by
              n / ceil(n / n_chunk) = 16.
  all         all of the above but realbatch, in that order, on one
              broker.

Every job is produced before the consumer starts, so produce speed is
not measured; the clock starts when the worker logs its partition
assignment and stops when the last result is in the results topic (its
high watermarks, polled every 50 ms). CPU is user+sys from
/proc/PID/stat over that window, for the worker (every thread), the
broker (its java process) and the fake backend; RSS is VmRSS from
/proc/PID/status, sampled every 0.2 s. Figures are printed and
appended, with the date, git commit and machine, to the results file
(default tests/bench/results.txt).

Options: --quick (smaller N), --jobs N, --runs N, --results FILE,
--builddir DIR (default $VSAMPD_BUILDDIR, else ./_build when it holds
src/vsampd, else the source tree). A debug or sanitizer build there
(-O0, as tests/ci.sh configures) is not measured: an optimised one is
configured and built in ./_build-bench instead, and every report names
the flags its vsampd was built with. The fake backend (fakebackend.c) is
built with gcc -O2 into the scratch directory. The peers' venv is
${VSAMPD_CACHE:-$HOME/.cache/vsampd}/venv-bench, made on first use.
"""

import argparse
import collections
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))


def _builddir_from_argv():
    for i, a in enumerate(sys.argv):
        if a == "--builddir" and i + 1 < len(sys.argv):
            return sys.argv[i + 1]
        if a.startswith("--builddir="):
            return a.split("=", 1)[1]
    return None


_bd = _builddir_from_argv()
if _bd:
    os.environ["VSAMPD_BUILDDIR"] = os.path.abspath(_bd)
elif not os.environ.get("VSAMPD_BUILDDIR"):
    for _c in (os.path.join(SRCDIR, "_build"), SRCDIR):
        if os.path.exists(os.path.join(_c, "src", "vsampd")):
            os.environ["VSAMPD_BUILDDIR"] = _c
            break
os.environ.setdefault("VSAMPD_SRCDIR", SRCDIR)

import vstest  # noqa: E402  (may re-exec under /usr/bin/python3)
import msgpack  # noqa: E402
from confluent_kafka import Consumer, TopicPartition  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")
VENV = os.path.join(vstest.CACHE, "venv-bench")
VENV_REQS = ["verbalized-sampling==0.1.3", "httpx", "confluent-kafka",
             "msgpack",
             # verbalized-sampling pins numpy<2, and the newest datasets
             # pulls a pyarrow that needs numpy 2 at import time.
             "datasets<4", "pyarrow<20"]
PARTITIONS = 4
# The dedup changelog as docs/dedup.md creates it.
SCOPE_TOPIC_CONFIG = {"cleanup.policy": "compact",
                      "min.compaction.lag.ms": "0",
                      "delete.retention.ms": "86400000"}

# ---- /proc -------------------------------------------------------------


def cpu_s(pid):
    """user+sys CPU seconds of process pid (all its threads), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / CLK


def threads_cpu(pid):
    """{thread name: CPU seconds} over the live threads of pid."""
    out = collections.Counter()
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for t in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.index("(") + 1:s.rindex(")")]
        f = s[s.rindex(")") + 2:].split()
        # rdk:broker3 and rdk:broker-1 are one kind of thread
        name = re.sub(r"-?\d+$", "", name)
        out[name] += (int(f[11]) + int(f[12])) / CLK
    return out


def machine_busy_s():
    """CPU seconds the whole machine has been busy (all CPUs), from
    /proc/stat: everything but idle and iowait."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (sum(v[:8]) - v[3] - v[4]) / CLK


def rss_kb(pid, field="VmRSS"):
    """A /proc status field in kB: VmRSS now, or VmHWM (the peak)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---- reporting -----------------------------------------------------------


def git_commit():
    try:
        c = subprocess.run(["git", "-C", SRCDIR, "rev-parse", "--short",
                            "HEAD"], capture_output=True, text=True,
                           timeout=10).stdout.strip()
        d = subprocess.run(["git", "-C", SRCDIR, "status", "--porcelain",
                            "--untracked-files=no"], capture_output=True,
                           text=True, timeout=10).stdout.strip()
        return (c or "unknown") + ("+dirty" if d else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine():
    cpu = platform.processor() or "cpu"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) / 1048576
    except OSError:
        pass
    return "%s, %d CPUs, %.1f GiB, Linux %s" % (
        cpu, os.cpu_count() or 0, mem, platform.release())


def build_flags(builddir):
    """The C flags a configured build dir compiles with ("" unknown)."""
    flags = {}
    try:
        with open(os.path.join(builddir, "Makefile")) as f:
            for line in f:
                for k in ("CFLAGS", "VS_CFLAGS"):
                    if line.startswith(k + " = "):
                        flags[k] = line.split("=", 1)[1].strip()
    except OSError:
        return ""
    return " ".join(v for v in (flags.get("CFLAGS"), flags.get("VS_CFLAGS"))
                    if v)


def optimised(flags):
    """Whether flags make the build the figures are for: optimised, no
    sanitizer (the last -O wins, as in the compiler)."""
    opt = [f for f in flags.split() if f.startswith("-O")]
    return bool(opt) and opt[-1] not in ("-O0", "-Og") and \
        "-fsanitize" not in flags


def release_build():
    """A vsampd built as the figures need it. The build dir found
    ($VSAMPD_BUILDDIR, ./_build) is often a debug one (-O0: tests/ci.sh
    configures --enable-debug); then an optimised one is configured and
    built in ./_build-bench (or reused). Returns (binary, flags)."""
    bd = os.environ.get("VSAMPD_BUILDDIR", SRCDIR)
    flags = build_flags(bd)
    if optimised(flags):
        return os.path.join(bd, "src", "vsampd"), flags
    rel = os.path.join(SRCDIR, "_build-bench")
    print("# %s is not an optimised build (%s): building one in %s" % (
        bd, flags or "flags unknown", rel), flush=True)
    os.makedirs(rel, exist_ok=True)
    steps = []
    if not os.path.exists(os.path.join(rel, "Makefile")):
        steps.append([os.path.join(SRCDIR, "configure"), "-q"])
    steps.append(["make", "-j%d" % (os.cpu_count() or 2), "-s",
                  "src/vsampd"])
    for argv in steps:
        r = subprocess.run(argv, cwd=rel, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("bench: %s failed in %s:\n%s" % (
                " ".join(argv), rel, (r.stdout + r.stderr)[-2000:]))
    flags = build_flags(rel)
    if not optimised(flags):
        sys.exit("bench: %s still builds with %s" % (rel, flags))
    return os.path.join(rel, "src", "vsampd"), flags


BUILD = {"flags": ""}


class Report:
    """Lines printed now and appended to the results file by save()."""

    def __init__(self, path):
        self.path = path
        self.commit = git_commit()
        self.machine = machine()

    def start(self, name):
        self.name = name
        self.lines = []
        self.data = {}
        self.date = datetime.datetime.now().astimezone().isoformat(
            timespec="seconds")
        self.say("== %s | %s | commit %s | %s | vsampd built with %s" % (
            name, self.date, self.commit, self.machine, BUILD["flags"]))

    def say(self, s=""):
        print(s, flush=True)
        self.lines.append(s)

    def save(self):
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        with open(self.path, "a") as f:
            f.write("\n".join(self.lines) + "\n")
            f.write("json %s\n\n" % json.dumps(
                {"bench": self.name, "date": self.date,
                 "commit": self.commit, "machine": self.machine,
                 "cflags": BUILD["flags"],
                 **self.data}, sort_keys=True))


def verdict(ok):
    return "ok" if ok else "MISSED"


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs, fmt="%.1f"):
    xs = [x for x in xs if x is not None]
    if len(xs) < 2:
        return ""
    return " [%s..%s]" % (fmt % min(xs), fmt % max(xs))


# ---- components ------------------------------------------------------------


class Fake:
    """tests/bench/fakebackend on a free port."""

    def __init__(self, binary, latency_ms=0, chaos=False, seed=1,
                 extra=()):
        argv = [binary, "--port", "0", "--latency-ms", str(latency_ms),
                "--seed", str(seed), "--parent-pid", str(os.getpid())]
        if chaos:
            argv.append("--chaos")
        argv += list(extra)
        self.latency_ms = latency_ms
        self.proc = vstest.spawn(argv, pipe=True, name="fakebackend")
        self.pid = self.proc.pid
        self.port = int(self.proc.expect(r"^PORT (\d+)", 10).group(1))
        self.base = "http://127.0.0.1:%d" % self.port
        self.url = self.base + "/v1"

    def stats(self):
        st, body = vstest.http_get(self.base + "/stats", timeout=5)
        return json.loads(body) if st == 200 else {}

    def reset(self):
        vstest.http_post(self.base + "/reset", {})

    def stop(self):
        self.proc.stop(5)


class Watermarks:
    """The number of messages in a topic: the sum of its high
    watermarks (no transactions, so one offset per message)."""

    def __init__(self, bootstrap, topic):
        self.c = Consumer({"bootstrap.servers": bootstrap,
                           "group.id": "bench-watermarks",
                           "enable.auto.commit": False})
        md = self.c.list_topics(topic, timeout=10)
        self.tps = [TopicPartition(topic, p)
                    for p in sorted(md.topics[topic].partitions)]

    def count(self):
        return sum(self.c.get_watermark_offsets(tp, timeout=5,
                                                cached=False)[1]
                   for tp in self.tps)

    def close(self):
        self.c.close()


def read_all(bootstrap, topic, timeout=120):
    """Every message of topic: [(key, value bytes)]."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-read",
                  "enable.auto.commit": False,
                  "enable.partition.eof": False})
    try:
        md = c.list_topics(topic, timeout=10)
        parts = sorted(md.topics[topic].partitions)
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p),
                                           timeout=10)[1] for p in parts}
        want = sum(ends.values())
        c.assign([TopicPartition(topic, p, -2) for p in parts])
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < want and time.monotonic() < deadline:
            for m in c.consume(num_messages=5000, timeout=0.5):
                if m.error():
                    continue
                k = m.key()
                out.append((k.decode("utf-8", "replace") if k else None,
                            m.value()))
        return out
    finally:
        c.close()


def make_jobs(prefix, n, k=5, nbackends=1, scopes=0):
    """n vs_standard jobs; with scopes, job i carries dedup_scope
    "<prefix>-s<i % scopes>" and is keyed by it (a (key, job) tuple), as
    docs/dedup.md asks."""
    jobs = [{"id": "%s-%06d" % (prefix, i),
             "prompt": "Write a short poem about the sea, #%d." % i,
             "method": "vs_standard", "k": k} for i in range(n)]
    if nbackends > 1:
        names = backend_names(nbackends)
        for i, j in enumerate(jobs):
            j["backend"] = names[i % nbackends]
    if scopes:
        for i, j in enumerate(jobs):
            j["dedup_scope"] = "%s-s%d" % (prefix, i % scopes)
        jobs = [(j["dedup_scope"], j) for j in jobs]
    return jobs


def backend_names(nbackends):
    """The backend profiles' names: "fake", or fake00.. when spread."""
    if nbackends <= 1:
        return ["fake"]
    return ["fake%02d" % i for i in range(nbackends)]


def vsampd_conf(path, bootstrap, group, jobs, results, url,
                worker_inflight, backend_inflight, timeout_ms=30000,
                retries=3, dlq=None, consumer_extra="", nbackends=1,
                scope_topic=None, scope_capacity=None, concurrency=None,
                profile_extra=None):
    """profile_extra: {name: libconfig settings}: one more profile of
    that name (the same url and limits) for each, with those settings."""
    names = backend_names(nbackends) + list(profile_extra or {})
    profiles = ",\n".join(
        """  { name = "%s"; type = "openai"; url = "%s"; model = "fake";
    max_inflight = %d; timeout_ms = %d; max_retries = %d; %s%s }""" % (
            name, url, backend_inflight, timeout_ms, retries,
            'concurrency = "%s"; ' % concurrency if concurrency else "",
            (profile_extra or {}).get(name, ""))
        for name in names)
    with open(path, "w") as f:
        f.write("""# written by tests/bench/bench.py
kafka = {
  brokers = "%s";
  group_id = "%s";
  jobs_topic = "%s";
  results_topic = "%s";
  %s
  %s
  consumer = { auto_offset_reset = "earliest"; session_timeout_ms = 10000;
               %s };
};
backends = (
%s
);
defaults = { backend = "%s"; method = "vs_standard"; k = 5; };
worker = { max_inflight = %d; shutdown_timeout_ms = 10000; };
dedup = { state_file = ""; %s};
metrics = { listen = ""; };
""" % (bootstrap, group, jobs, results,
            'dlq_topic = "%s";' % dlq if dlq else "",
            'scope_topic = "%s";' % scope_topic if scope_topic else "",
            consumer_extra, profiles, backend_names(nbackends)[0],
            worker_inflight,
            "scope_capacity = %d; " % scope_capacity
            if scope_capacity else ""))


class Env:
    """What every benchmark shares: the broker, the fake's binary, a
    private copy of vsampd (src/ may be rebuilt while we run)."""

    def __init__(self, args):
        self.args = args
        self.rd = vstest.run_dir()
        self.kafka = None
        self.ntopics = 0
        src, BUILD["flags"] = release_build()
        if not os.path.exists(src):
            sys.exit("bench: %s not found (build first, or --builddir)" %
                     src)
        self.vsampd = os.path.join(self.rd, "vsampd")
        shutil.copy2(src, self.vsampd)
        self.fake_bin = os.path.join(self.rd, "fakebackend")
        r = subprocess.run(["gcc", "-O2", "-std=gnu11", "-Wall", "-o",
                            self.fake_bin,
                            os.path.join(HERE, "fakebackend.c")],
                           capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("bench: building fakebackend failed:\n" + r.stderr)

    def broker(self):
        if self.kafka is None:
            t = time.monotonic()
            self.kafka = vstest.Kafka().start()
            print("# kafka on %s (pid %s) in %.1fs" % (
                self.kafka.bootstrap, self.kafka.pid,
                time.monotonic() - t), flush=True)
            try:
                with open("/proc/%d/comm" % self.kafka.pid) as f:
                    comm = f.read().strip()
            except (OSError, TypeError):
                comm = "?"
            if comm != "java":
                print("# warning: broker pid %s is %r, not java" % (
                    self.kafka.pid, comm), flush=True)
        return self.kafka

    def topics(self, prefix, dlq=False, scope=False, partitions=PARTITIONS):
        """Fresh jobs/results (and DLQ, and a compacted dedup changelog
        with as many partitions) topics: their names."""
        self.ntopics += 1
        base = "%s%d" % (prefix, self.ntopics)
        names = {"jobs": base + ".jobs", "results": base + ".results"}
        if dlq:
            names["dlq"] = base + ".dlq"
        self.broker().create_topics({t: partitions
                                     for t in names.values()})
        if scope:
            names["scope"] = base + ".scope"
            self.kafka.create_topics({names["scope"]: partitions},
                                     config=SCOPE_TOPIC_CONFIG)
        return names

    def produce(self, topic, jobs):
        t = time.monotonic()
        for i in range(0, len(jobs), 20000):
            vstest.produce(self.kafka.bootstrap, topic, jobs[i:i + 20000],
                           timeout=120)
        print("# produced %d jobs to %s in %.1fs" % (
            len(jobs), topic, time.monotonic() - t), flush=True)

    def close(self):
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None


# ---- one measured run ------------------------------------------------------


def measure(env, proc, ready_rx, n, results_topic, pids, fake=None,
            timeout=300, rss_pids=("worker",), on_start=None,
            on_progress=None):
    """Wait until proc logs ready_rx (its partition assignment), then
    until results_topic holds n messages. pids: {name: pid} whose CPU is
    taken over the window ("worker" is the one measured per job)."""
    wm = Watermarks(env.kafka.bootstrap, results_topic)
    rx = re.compile(ready_rx, re.M)
    deadline = time.monotonic() + 180
    while not rx.search(proc.log_text()):
        if not proc.alive():
            raise RuntimeError("%s exited (%s): %s" % (
                proc.name, proc.p.returncode, proc.log_tail(20)))
        if time.monotonic() > deadline:
            raise TimeoutError("%s: no assignment in 180 s" % proc.name)
        time.sleep(0.005)
    t0 = time.monotonic()
    cpu0 = {k: cpu_s(p) for k, p in pids.items()}
    busy0 = machine_busy_s()
    thr0 = threads_cpu(pids["worker"])
    f0 = fake.stats() if fake else None
    if on_start:
        on_start(pids)
    timeline = [(0.0, 0)]
    fakeline = []
    rss = {k: [] for k in rss_pids}
    last_rss = last_fake = -1.0
    finished = True
    while True:
        cnt = wm.count()
        t = time.monotonic() - t0
        timeline.append((t, cnt))
        if on_progress:
            on_progress(cnt, t)
        if t - last_rss >= 0.2:
            for k in rss_pids:
                v = rss_kb(pids[k])
                if v is not None:
                    rss[k].append((t, v))
            last_rss = t
        if fake and t - last_fake >= 0.25:
            s = fake.stats()
            fakeline.append((t, s.get("inflight_s", 0.0),
                             s.get("requests", 0)))
            last_fake = t
        if cnt >= n:
            break
        if not proc.alive():
            raise RuntimeError("%s exited (%s) after %d of %d results: %s"
                               % (proc.name, proc.p.returncode, cnt, n,
                                  proc.log_tail(20)))
        if t > timeout:
            finished = False
            break
        time.sleep(0.05)
    t1 = time.monotonic()
    cpu1 = {k: cpu_s(p) for k, p in pids.items()}
    busy1 = machine_busy_s()
    thr1 = threads_cpu(pids["worker"])
    f1 = fake.stats() if fake else None
    wm.close()
    el = t1 - t0
    done = timeline[-1][1]
    cpu = {k: (cpu1[k] - cpu0[k]) if None not in (cpu0[k], cpu1[k])
           else None for k in pids}
    # Everything else that ran meanwhile (this driver included): a
    # benchmark on a busy machine says so.
    others = None
    if None not in (busy0, busy1) and el > 0:
        others = max(0.0, (busy1 - busy0) - sum(
            v for v in cpu.values() if v is not None)) / el
    r = {"n": n, "done": done, "finished": finished, "elapsed_s": el,
         "others_cores": others,
         "jobs_per_s": done / el if el > 0 else None,
         "cpu_s": cpu,
         "cpu_us_per_job": {k: (v / done * 1e6 if v is not None and done
                                else None) for k, v in cpu.items()},
         "threads_us_per_job": {k: (thr1[k] - thr0.get(k, 0)) / done * 1e6
                                for k in thr1 if done} if done else {},
         "rss_max_kb": {k: max((v for _, v in s), default=None)
                        for k, s in rss.items()},
         "rss": rss, "timeline": timeline, "fakeline": fakeline,
         "fake0": f0, "fake1": f1}
    return r


def steady(r, lo=0.1, hi=0.9):
    """Throughput between lo and hi of the jobs, and the fake's mean
    in-flight over the same window."""
    n = r["n"]
    tl = r["timeline"]

    def when(frac):
        for t, c in tl:
            if c >= frac * n:
                return t, c
        return tl[-1]
    (ta, ca), (tb, cb) = when(lo), when(hi)
    rate = (cb - ca) / (tb - ta) if tb > ta else None
    infl = None
    fl = [x for x in r["fakeline"] if ta <= x[0] <= tb]
    if len(fl) >= 2 and fl[-1][0] > fl[0][0]:
        infl = (fl[-1][1] - fl[0][1]) / (fl[-1][0] - fl[0][0])
    return rate, infl, (ta, tb)


def run_vsampd(env, name, n, topics, fake, worker_inflight,
               backend_inflight, timeout_ms=30000, retries=3, timeout=300,
               dlq=None, on_start=None, wrap=None, nbackends=1,
               consumer_extra=None, scope_topic=None, concurrency=None,
               on_progress=None, args=(), profile_extra=None):
    conf = vstest.scratch("vsampd-%s-" % name, ".conf")
    vsampd_conf(conf, env.kafka.bootstrap, "bench-" + name, topics["jobs"],
                topics["results"], fake.url, worker_inflight,
                backend_inflight, timeout_ms, retries, dlq,
                consumer_extra if consumer_extra is not None else
                getattr(env.args, "consumer_props", None) or "", nbackends,
                scope_topic=scope_topic, concurrency=concurrency,
                profile_extra=profile_extra)
    argv = [env.vsampd, "-f", conf] + list(args)
    if wrap:
        argv = wrap + argv
    proc = vstest.spawn(argv, name="vsampd-" + name)
    try:
        pids = {"worker": proc.pid, "broker": env.kafka.pid,
                "fake": fake.pid}
        r = measure(env, proc, r"assigned [1-9]\d* partition", n,
                    topics["results"], pids, fake=fake, timeout=timeout,
                    on_start=on_start, on_progress=on_progress)
        r["log"] = proc.log
        r["pid"] = proc.pid
        r["hwm_kb"] = rss_kb(proc.pid, "VmHWM")
        return r
    finally:
        proc.stop(30)


def count_statuses(bootstrap, topic, n_expected=None):
    recs = read_all(bootstrap, topic)
    st = collections.Counter()
    codes = collections.Counter()
    keys = collections.Counter()
    lat = []
    attempts = collections.Counter()
    bad = 0
    for k, raw in recs:
        keys[k] += 1
        try:
            v = msgpack.unpackb(raw, raw=False, strict_map_key=False)
        except Exception:
            bad += 1
            continue
        if v.get("id") != k:
            bad += 1
        st[v.get("status")] += 1
        if v.get("status") == "error":
            codes[(v.get("error") or {}).get("code")] += 1
        if isinstance(v.get("latency_ms"), int):
            lat.append(v["latency_ms"])
        if isinstance(v.get("attempts"), int):
            attempts[v["attempts"]] += 1
    lat.sort()
    return {"records": len(recs), "distinct": len(keys),
            "dups": sum(c - 1 for c in keys.values() if c > 1),
            "status": dict(st), "codes": dict(codes), "undecodable": bad,
            "attempts": dict(sorted(attempts.items())),
            "latency_ms_p50": lat[len(lat) // 2] if lat else None,
            "latency_ms_p99": lat[int(len(lat) * 0.99)] if lat else None,
            "keys": keys}


def mb(kb):
    return kb / 1024.0 if kb is not None else None


def others(r):
    o = r.get("others_cores")
    return "n/a" if o is None else "%.2f cores" % o


def fmt_cpu_line(r, who="vsampd"):
    c = r["cpu_us_per_job"]
    return ("  CPU per job: %s %.1f us, broker %.1f us, fake %.1f us; "
            "everything else on the machine meanwhile %s" % (
                who, c["worker"] or 0, c["broker"] or 0, c["fake"] or 0,
                others(r)))


# ---- the benchmarks ----------------------------------------------------------


def bench_saturation(env, rep, profile=None):
    a = env.args
    n = a.jobs or (5000 if a.quick else 20000)
    runs = a.runs or 3
    rep.start("saturation")
    rep.say("saturation: %d vs_standard jobs (k = 5) per run, %d run(s), "
            "fake backend latency 0 ms, worker.max_inflight 512, backend "
            "max_inflight 256" % (n, runs))
    env.broker()
    fake = Fake(env.fake_bin, 0)
    out = []
    try:
        for i in range(runs):
            topics = env.topics("sat")
            env.produce(topics["jobs"], make_jobs("sat%d" % i, n))
            r = run_vsampd(env, "sat%d" % env.ntopics, n, topics, fake,
                           512, 256, timeout=170)
            chk = count_statuses(env.kafka.bootstrap, topics["results"])
            r["check"] = chk
            out.append(r)
            thr = ", ".join("%s %.1f" % (k, v) for k, v in sorted(
                r["threads_us_per_job"].items(), key=lambda x: -x[1])
                if v >= 0.5)
            rep.say("  run %d: %.0f jobs/s, vsampd %.1f us/job (threads: "
                    "%s), broker %.1f us/job, fake %.1f us/job, vsampd RSS "
                    "max %.1f MB, results %d (%s), others %s" % (
                        i + 1, r["jobs_per_s"],
                        r["cpu_us_per_job"]["worker"], thr,
                        r["cpu_us_per_job"]["broker"],
                        r["cpu_us_per_job"]["fake"],
                        mb(r["rss_max_kb"]["worker"]), chk["records"],
                        ", ".join("%s %d" % kv
                                  for kv in chk["status"].items()),
                        others(r)))
    finally:
        fake.stop()
    tput = [r["jobs_per_s"] for r in out]
    cw = [r["cpu_us_per_job"]["worker"] for r in out]
    cb = [r["cpu_us_per_job"]["broker"] for r in out]
    cf = [r["cpu_us_per_job"]["fake"] for r in out]
    rss = [mb(r["rss_max_kb"]["worker"]) for r in out]
    mw = med(cw)
    rep.say("  median throughput: %.0f jobs/s%s" % (med(tput),
                                                    spread(tput, "%.0f")))
    rep.say("  median vsampd CPU: %.1f us/job%s (target <= 100 us: %s)" % (
        mw, spread(cw), verdict(mw <= 100)))
    rep.say("  median broker CPU: %.1f us/job%s; fake CPU: %.1f us/job%s; "
            "vsampd RSS max %.1f MB" % (med(cb), spread(cb), med(cf),
                                        spread(cf), max(rss)))
    diag = None
    if not a.consumer_props:
        # Where the time goes: see the README. Not part of the medians.
        fake = Fake(env.fake_bin, 0)
        try:
            topics = env.topics("sat")
            env.produce(topics["jobs"], make_jobs("satd", n))
            diag = run_vsampd(env, "satd%d" % env.ntopics, n, topics, fake,
                              512, 256, timeout=170,
                              consumer_extra="fetch_wait_max_ms = 100;")
        finally:
            fake.stop()
        rep.say("  diagnostic, one run with kafka.consumer fetch_wait_max_ms "
                "= 100 (librdkafka's default 500): %.0f jobs/s, vsampd %.1f "
                "us/job, broker %.1f us/job" % (
                    diag["jobs_per_s"], diag["cpu_us_per_job"]["worker"],
                    diag["cpu_us_per_job"]["broker"]))
    rep.data = {"n": n, "runs": runs, "jobs_per_s": tput,
                "diag_fetch_wait_100": diag and {
                    "jobs_per_s": diag["jobs_per_s"],
                    "cpu_us_per_job": diag["cpu_us_per_job"]},
                "vsampd_us_per_job": cw, "broker_us_per_job": cb,
                "fake_us_per_job": cf, "vsampd_rss_max_mb": rss,
                "threads_us_per_job": [r["threads_us_per_job"]
                                       for r in out],
                "target_ok": mw <= 100}
    rep.save()
    return out


RESTORED_RX = (r"partition (\d+): dedup index restored, (\d+) entries "
               r"\((\d+) changelog records read from ([^)]*?) of \S+?"
               r"(?:, some skipped as not ours)?\) in ([\d.]+) s")


def produce_changelog(bootstrap, topic, n, seed=1):
    """n distinct valid changelog entries (include/scopelog.h) into
    partition 0 of topic, batched; the seconds it took."""
    from confluent_kafka import Producer
    import random
    import struct
    rnd = random.Random(seed)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50,
                  "batch.size": 1048576, "compression.type": "lz4",
                  "queue.buffering.max.messages": 1000000,
                  "queue.buffering.max.kbytes": 1048576, "acks": "all"})
    errors = []

    def on(err, msg):
        if err is not None:
            errors.append(str(err))

    t = time.monotonic()
    nscopes = 64
    scopes = [rnd.getrandbits(64) for _ in range(nscopes)]
    pack_k = struct.Struct("<QQ").pack
    pack_v = struct.Struct("<B7xQQ").pack
    for i in range(n):
        # The exact hash: i mixed (distinct for distinct i, as a
        # bijection of u64), so no two keys are equal.
        x = (i + 1) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 31
        key = pack_k(scopes[i % nscopes], x)
        val = pack_v(1, rnd.getrandbits(64), rnd.getrandbits(64))
        while True:
            try:
                p.produce(topic, val, key, partition=0, on_delivery=on)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    left = p.flush(300)
    if left or errors:
        raise RuntimeError("changelog produce: %d undelivered, errors %s" %
                           (left, errors[:3]))
    return time.monotonic() - t


def bench_restore(env, rep):
    a = env.args
    # The target is stated for 10^6 entries, and a smaller N does not
    # scale it down (librdkafka's fetcher pauses for about a second at a
    # time, tests/bench/README.md): --quick restores them once.
    n = a.jobs or 1000000
    runs = a.runs or (1 if a.quick else 3)
    rep.start("restore")
    rep.say("restore: %d changelog records (distinct entries, 16-byte keys, "
            "24-byte values) in partition 0 of a 1-partition compacted "
            "topic; vsampd with dedup.scope_capacity %d, no state file, a "
            "1-partition jobs topic; %d run(s)" % (n, 2 * n, runs))
    env.broker()
    topics = env.topics("rst", scope=True, partitions=1)
    ps = produce_changelog(env.kafka.bootstrap, topics["scope"], n)
    rep.say("  produced %d records in %.1f s" % (n, ps))
    fake = Fake(env.fake_bin, 0)
    out = []
    try:
        for i in range(runs):
            name = "rst%d-%d" % (env.ntopics, i)
            conf = vstest.scratch("vsampd-%s-" % name, ".conf")
            vsampd_conf(conf, env.kafka.bootstrap, "bench-" + name,
                        topics["jobs"], topics["results"], fake.url, 512,
                        256, scope_topic=topics["scope"],
                        scope_capacity=2 * n)
            t0 = time.monotonic()
            proc = vstest.spawn([env.vsampd, "-f", conf],
                                name="vsampd-" + name)
            try:
                rx = re.compile(RESTORED_RX)
                deadline = t0 + 300
                m = None
                while m is None:
                    m = rx.search(proc.log_text())
                    if m:
                        break
                    if not proc.alive():
                        raise RuntimeError("vsampd exited (%s): %s" % (
                            proc.p.returncode, proc.log_tail(20)))
                    if time.monotonic() > deadline:
                        raise TimeoutError("no restore in 300 s")
                    time.sleep(0.005)
                wall = time.monotonic() - t0
                am = re.search(r"assigned [1-9]", proc.log_text())
                cpu = cpu_s(proc.pid)
                hwm = rss_kb(proc.pid, "VmHWM")
            finally:
                proc.stop(30)
            r = {"entries": int(m.group(2)), "records": int(m.group(3)),
                 "from": m.group(4), "log_s": float(m.group(5)),
                 "wall_s": wall, "cpu_s": cpu, "hwm_mb": mb(hwm),
                 "assigned_logged": bool(am)}
            out.append(r)
            rep.say("  run %d: %d entries from %d records (from %s): log "
                    "%.2f s, wall clock from start %.2f s, vsampd CPU at "
                    "the log line %.2f s, VmHWM %.1f MB" % (
                        i + 1, r["entries"], r["records"], r["from"],
                        r["log_s"], wall, cpu or 0, r["hwm_mb"] or 0))
    finally:
        fake.stop()
    ls = [r["log_s"] for r in out]
    ws = [r["wall_s"] for r in out]
    ml = med(ls)
    ok = ml <= 10 * n / 1e6 and all(r["entries"] == n for r in out)
    rep.say("changelog restore: %d entries in %.2f s (target <= %g s: %s)"
            % (n, ml, 10 * n / 1e6, verdict(ok)))
    rep.say("  median of %d: log line %.2f s%s, wall clock (start to the "
            "log line, start-up and group join included) %.2f s%s" % (
                len(out), ml, spread(ls, "%.2f"), med(ws),
                spread(ws, "%.2f")))
    rep.data = {"n": n, "runs": runs, "produce_s": ps, "log_s": ls,
                "wall_s": ws, "entries": [r["entries"] for r in out],
                "records": [r["records"] for r in out],
                "cpu_s": [r["cpu_s"] for r in out],
                "hwm_mb": [r["hwm_mb"] for r in out], "target_ok": ok}
    rep.save()
    return out


def bench_overhead(env, rep):
    a = env.args
    n = a.jobs or (5000 if a.quick else 20000)
    runs = a.runs or 3
    scopes = 8
    rep.start("overhead")
    rep.say("overhead: the saturation run (%d vs_standard jobs, k = 5, fake "
            "0 ms, worker.max_inflight 512, backend 256) with every job in "
            "one of %d dedup_scopes (keyed by it), without and with "
            "kafka.scope_topic, alternating, %d run(s) each" % (
                n, scopes, runs))
    env.broker()
    fake = Fake(env.fake_bin, 0)
    res = {"off": [], "on": []}
    try:
        for i in range(runs):
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                topics = env.topics("ovh", scope=(mode == "on"))
                prefix = "ovh%d" % env.ntopics
                env.produce(topics["jobs"], make_jobs(prefix, n,
                                                      scopes=scopes))
                r = run_vsampd(env, prefix, n, topics, fake, 512, 256,
                               timeout=170, scope_topic=topics.get("scope"))
                chk = count_statuses(env.kafka.bootstrap, topics["results"])
                recs = None
                if mode == "on":
                    w = Watermarks(env.kafka.bootstrap, topics["scope"])
                    recs = w.count()
                    w.close()
                r["changelog_records"] = recs
                r["check"] = chk
                res[mode].append(r)
                rep.say("  run %d %-3s: %.0f jobs/s, vsampd %.1f us/job, "
                        "broker %.1f us/job, results %d (%s)%s, others %s"
                        % (i + 1, mode, r["jobs_per_s"],
                           r["cpu_us_per_job"]["worker"],
                           r["cpu_us_per_job"]["broker"], chk["records"],
                           ", ".join("%s %d" % kv
                                     for kv in chk["status"].items()),
                           ", changelog records %d" % recs
                           if recs is not None else "", others(r)))
    finally:
        fake.stop()
    c_off = [r["cpu_us_per_job"]["worker"] for r in res["off"]]
    c_on = [r["cpu_us_per_job"]["worker"] for r in res["on"]]
    b_off = [r["cpu_us_per_job"]["broker"] for r in res["off"]]
    b_on = [r["cpu_us_per_job"]["broker"] for r in res["on"]]
    t_off = [r["jobs_per_s"] for r in res["off"]]
    t_on = [r["jobs_per_s"] for r in res["on"]]
    ratio = med(c_on) / med(c_off)
    ok = ratio <= 1.10
    rep.say("changelog overhead: vsampd CPU %.1f us/job without%s, %.1f "
            "us/job with%s: x%.3f (target <= x1.10: %s)" % (
                med(c_off), spread(c_off), med(c_on), spread(c_on), ratio,
                verdict(ok)))
    rep.say("  median throughput %.0f jobs/s without, %.0f with; broker CPU "
            "%.1f us/job without, %.1f with" % (
                med(t_off), med(t_on), med(b_off), med(b_on)))
    rep.data = {"n": n, "runs": runs, "scopes": scopes,
                "vsampd_us_per_job": {"off": c_off, "on": c_on},
                "broker_us_per_job": {"off": b_off, "on": b_on},
                "jobs_per_s": {"off": t_off, "on": t_on},
                "changelog_records": [r["changelog_records"]
                                      for r in res["on"]],
                "ratio": ratio, "target_ok": ok}
    rep.save()
    return res


def bench_littles(env, rep):
    a = env.args
    n = a.jobs or (15000 if a.quick else 40000)
    lat = 250
    inflight = 1024
    rep.start("littles")
    rep.say("littles: %d vs_standard jobs, fake backend latency %d ms, "
            "worker.max_inflight %d (resume at the default 3/4), backend "
            "max_inflight %d" % (n, lat, inflight, inflight))
    env.broker()
    fake = Fake(env.fake_bin, lat)
    try:
        topics = env.topics("lit")
        env.produce(topics["jobs"], make_jobs("lit", n))
        r = run_vsampd(env, "lit%d" % env.ntopics, n, topics, fake,
                       inflight, inflight, timeout=170)
        chk = count_statuses(env.kafka.bootstrap, topics["results"])
    finally:
        fake.stop()
    rate, infl, (ta, tb) = steady(r)
    bound = inflight / (lat / 1000.0)
    ratio = rate / bound if rate else 0
    lratio = rate / (infl / (lat / 1000.0)) if rate and infl else None
    rssmb = mb(r["rss_max_kb"]["worker"])
    f1 = r["fake1"] or {}
    rep.say("  whole run: %.0f jobs/s over %.1f s (ramp-up and drain "
            "included); results %d (%s)" % (
                r["jobs_per_s"], r["elapsed_s"], chk["records"],
                ", ".join("%s %d" % kv for kv in chk["status"].items())))
    rep.say("  steady state (10%%..90%% of jobs, %.1f..%.1f s): %.0f jobs/s"
            % (ta, tb, rate or 0))
    rep.say("  in-flight / latency = %d / %.3f s = %.0f jobs/s; achieved "
            "%.3f x (target >= 0.95: %s)" % (inflight, lat / 1000.0, bound,
                                             ratio, verdict(ratio >= 0.95)))
    if infl:
        rep.say("  mean in-flight at the fake %.0f (max %s): Little's law "
                "%.0f / %.3f s = %.0f jobs/s; achieved %.3f x of that" % (
                    infl, f1.get("max_inflight"), infl, lat / 1000.0,
                    infl / (lat / 1000.0), lratio))
    rep.say("  vsampd RSS max %.1f MB (target <= 128 MB: %s)" % (
        rssmb, verdict(rssmb <= 128)))
    rep.say(fmt_cpu_line(r) + "; fake max open connections %s" %
            f1.get("max_open"))
    rep.data = {"n": n, "latency_ms": lat, "max_inflight": inflight,
                "jobs_per_s_whole": r["jobs_per_s"],
                "jobs_per_s_steady": rate, "bound": bound, "ratio": ratio,
                "fake_mean_inflight": infl, "littles_ratio": lratio,
                "rss_max_mb": rssmb, "cpu_us_per_job": r["cpu_us_per_job"],
                "target_ok": ratio >= 0.95 and rssmb <= 128}
    rep.save()
    return r


# The batching fake's step model (fakebackend --batch, batchmodel.h).
KNEE_T0_MS = 15.0
KNEE_C_MS = 0.25
KNEE_TOKENS = 20


def knee_model_rps(batch, n):
    """The model's throughput with n in flight (1/(T+1) of them queued
    between steps; tests/unit/check_batchmodel.c): to size the runs."""
    b = min(n, batch)
    return b / (KNEE_TOKENS * (KNEE_T0_MS + KNEE_C_MS * b) / 1000.0)


def knee_run(env, batch, label, n, conc, inflight, lo, hi):
    """One vsampd run against a fresh batching fake of batch B: the
    fake's figures (/stats "batch") between lo and hi of the n jobs."""
    fake = Fake(env.fake_bin, 0, extra=[
        "--batch", str(batch), "--step-ms", str(KNEE_T0_MS),
        "--step-per-seq-ms", str(KNEE_C_MS),
        "--reply-tokens", str(KNEE_TOKENS)])
    snap = {}

    def progress(cnt, t):
        if "t_lo" not in snap and cnt >= lo * n:
            fake.reset()
            snap["t_lo"] = t
        elif "t_lo" in snap and "hi" not in snap and cnt >= hi * n:
            snap["hi"] = fake.stats().get("batch", {})
            snap["t_hi"] = t
    try:
        topics = env.topics("knee")
        env.produce(topics["jobs"], make_jobs("knee", n))
        # The worker's own window is never the bottleneck: the backend
        # profile's max_inflight is, and within it the limiter.
        r = run_vsampd(env, "knee%d" % env.ntopics, n, topics, fake,
                       max(4 * inflight, 64), inflight, timeout=240,
                       concurrency=conc, on_progress=progress,
                       # the limit's changes are logged at debug level
                       args=["-d"] if conc != "fixed" else [])
    finally:
        fake.stop()
    b = snap.get("hi", {})
    try:
        with open(r["log"], errors="replace") as f:
            limits = re.findall(r"concurrency limit \d+ -> (\d+)", f.read())
    except OSError:
        limits = []
    return {"label": label, "n": n, "concurrency": conc,
            "max_inflight": inflight, "elapsed_s": r["elapsed_s"],
            "window_s": (snap["t_hi"] - snap["t_lo"]) if b else None,
            "rps": b.get("throughput_rps"), "mean_batch": b.get("mean_batch"),
            "mean_queue": b.get("mean_queue"),
            "peak_queue": b.get("peak_queue"),
            "p50_ms": b.get("latency_ms_p50"),
            "p99_ms": b.get("latency_ms_p99"),
            "mean_ms": b.get("latency_ms_mean"),
            "cpu_us_per_job": r["cpu_us_per_job"].get("worker"),
            "limits": [int(x) for x in limits][-12:]}


def bench_knee(env, rep):
    """A batching backend: the peak throughput from fixed
    concurrencies, then the adaptive limiters against it."""
    a = env.args
    secs = 4 if a.quick else 10
    batches = a.knee_batch or [32, 256]
    for batch in batches:
        rep.start("knee")
        rep.say("knee: batching fake B = %d, steps of %g + %g b ms, "
                "replies of %d tokens (model peak %.1f req/s at %.0f ms); "
                "%s runs" % (batch, KNEE_T0_MS, KNEE_C_MS, KNEE_TOKENS,
                             knee_model_rps(batch, batch),
                             KNEE_TOKENS * (KNEE_T0_MS + KNEE_C_MS * batch),
                             "quick" if a.quick else "full"))
        env.broker()
        sweep = []
        c = 1
        while c <= 2 * batch:
            n = int(max(24, 3 * c, knee_model_rps(batch, c) * secs))
            r = knee_run(env, batch, "fixed %d" % c, n, "fixed", c,
                         0.2, 0.95)
            sweep.append(r)
            rep.say("  fixed %4d: %7.1f req/s, mean batch %6.1f, mean "
                    "queue %6.1f, latency p50 %5s ms p99 %5s ms (%d jobs, "
                    "%.1f s)" % (c, r["rps"] or 0, r["mean_batch"] or 0,
                                 r["mean_queue"] or 0, r["p50_ms"],
                                 r["p99_ms"], n, r["elapsed_s"]))
            c *= 2
        peak = max(r["rps"] or 0 for r in sweep)
        # The knee: the most throughput per latency (Kleinrock's power).
        knee = max(sweep, key=lambda r: (r["rps"] or 0) /
                   max(r["p50_ms"] or 1, 1))
        rep.say("  peak %.1f req/s; the knee (the fixed concurrency of the "
                "most throughput per latency): %d in flight, latency p50 "
                "%s ms" % (peak, knee["max_inflight"], knee["p50_ms"]))
        adaptive = []
        cap = 4 * batch
        n = int(knee_model_rps(batch, batch) * (25 if a.quick else 50))
        for conc in ("aimd", "gradient"):
            r = knee_run(env, batch, conc, n, conc, cap, 0.5, 0.95)
            ratio = (r["rps"] or 0) / peak if peak else 0
            qok = (r["mean_queue"] or 0) <= batch / 4.0
            lok = (r["p99_ms"] or 1e9) <= 1.5 * (knee["p50_ms"] or 0)
            r.update({"ratio": ratio, "target_ok": ratio >= 0.95 and qok
                      and lok})
            adaptive.append(r)
            rep.say("  %-8s (max_inflight %d): %.1f req/s = %.3f x peak "
                    "(>= 0.95: %s); mean batch %.1f; mean queue %.1f "
                    "(<= B/4 = %g: %s, peak %s); latency p50 %s ms, p99 %s "
                    "ms (<= 1.5 x the knee's %s ms: %s); %d jobs in %.1f s,"
                    " measured over the last half; last limits %s" % (
                        conc, cap, r["rps"] or 0, ratio,
                        verdict(ratio >= 0.95), r["mean_batch"] or 0,
                        r["mean_queue"] or 0, batch / 4.0, verdict(qok),
                        r["peak_queue"], r["p50_ms"], r["p99_ms"],
                        knee["p50_ms"], verdict(lok), n, r["elapsed_s"],
                        r["limits"]))
        rep.data = {"batch": batch, "t0_ms": KNEE_T0_MS, "c_ms": KNEE_C_MS,
                    "reply_tokens": KNEE_TOKENS, "sweep": sweep,
                    "peak_rps": peak, "knee_inflight": knee["max_inflight"],
                    "knee_p50_ms": knee["p50_ms"], "adaptive": adaptive}
        rep.save()


def bench_memory(env, rep):
    """Bounded memory per job: three `direct` jobs with n = 1000 and a
    600 KB prompt each (both within the documented limits) run to
    completion with a peak RSS of at most 256 MB. The peak is the
    kernel's high-water mark (VmHWM) of the vsampd process."""
    rep.start("memory")
    njobs, n, size = 3, 1000, 600 * 1024
    rep.say("memory: %d direct jobs, n = %d, %d KB prompts; fake backend "
            "20 ms, backend max_inflight 64" % (njobs, n, size // 1024))
    env.broker()
    fake = Fake(env.fake_bin, 20)
    try:
        topics = env.topics("mem")
        words = ("the sea keeps its own counsel and the tide its hours "
                 * (size // 50 + 1))[:size]
        jobs = [{"id": "mem-%d" % i, "method": "direct", "n": n,
                 "prompt": "%d %s" % (i, words)} for i in range(njobs)]
        env.produce(topics["jobs"], jobs)
        r = run_vsampd(env, "mem%d" % env.ntopics, njobs, topics, fake,
                       256, 64, timeout=600)
        chk = count_statuses(env.kafka.bootstrap, topics["results"])
        f1 = r["fake1"] or {}
    finally:
        fake.stop()
    peak = mb(r["hwm_kb"]) if r.get("hwm_kb") else None
    rep.say("  %d results (%s) in %.1f s; backend requests %s" % (
        chk["records"], ", ".join("%s %d" % kv
                                  for kv in chk["status"].items()),
        r["elapsed_s"], f1.get("requests")))
    rep.say("  vsampd peak RSS (VmHWM) %.1f MB (target <= 256 MB: %s); "
            "sampled RSS max %.1f MB" % (peak or 0,
                                         verdict(peak is not None and
                                                 peak <= 256),
                                         mb(r["rss_max_kb"]["worker"])))
    rep.data = {"jobs": njobs, "n": n, "prompt_bytes": size,
                "peak_rss_mb": peak, "elapsed_s": r["elapsed_s"],
                "status": chk["status"],
                "target_ok": peak is not None and peak <= 256}
    rep.save()
    return r


def bench_tokens(env, rep):
    """What several choices in one request (supports_n) save: prompt
    tokens and requests per candidate of direct jobs without and with
    it, and of vs_standard, all asking for n candidates. The fake model
    counts a request's prompt tokens as the words of its messages, once
    per request whatever its n; the figures are the results' own usage,
    summed per kind of job."""
    a = env.args
    njobs = a.jobs or (10 if a.quick else 50)
    n, k, chunk = 32, 5, 16
    kinds = (("direct", "fake", {"method": "direct"}),
             ("direct supports_n", "fake_n", {"method": "direct"}),
             ("vs_standard", "fake", {"method": "vs_standard", "k": k}))
    rep.start("tokens")
    rep.say("tokens: %d jobs of each kind, n = %d; direct on a profile "
            "without supports_n and on one with it (n_chunk = %d), "
            "vs_standard (k = %d); the fake model (Python)" % (
                njobs, n, chunk, k))
    env.broker()
    fake = vstest.FakeModel(log_bodies=False).start()
    fake.pid = fake.proc.pid
    try:
        topics = env.topics("tok")
        jobs = [dict(extra, id="tok-%d-%04d" % (x, i), n=n, backend=be,
                     prompt="Write a short poem about the sea, #%d." % i)
                for x, (_, be, extra) in enumerate(kinds)
                for i in range(njobs)]
        env.produce(topics["jobs"], jobs)
        run_vsampd(env, "tok%d" % env.ntopics, len(jobs), topics, fake,
                   256, 64, timeout=600,
                   profile_extra={"fake_n": "supports_n = true; "
                                  "n_chunk = %d;" % chunk})
        recs = read_all(env.kafka.bootstrap, topics["results"])
    finally:
        fake.stop()
    sums = [collections.Counter() for _ in kinds]
    for _, raw in recs:
        v = msgpack.unpackb(raw, raw=False, strict_map_key=False)
        x = int(v["id"].split("-")[1])
        u = v.get("usage") or {}
        sums[x]["jobs"] += 1
        sums[x]["ok"] += v.get("status") == "ok"
        sums[x]["cands"] += len(v.get("candidates") or [])
        for key in ("requests", "prompt_tokens", "completion_tokens"):
            sums[x][key] += u.get(key) or 0
    per = []
    for (name, _, _), c in zip(kinds, sums):
        cands = c["cands"] or 1
        per.append(c["prompt_tokens"] / cands)
        rep.say("  %-18s %3d jobs (%d ok), %5d candidates: %6.2f requests "
                "and %7.1f prompt tokens per candidate (completion %.1f)"
                % (name, c["jobs"], c["ok"], c["cands"],
                   c["requests"] / cands, c["prompt_tokens"] / cands,
                   c["completion_tokens"] / cands))
    want = n / -(-n // chunk)
    got = per[0] / per[1] if per[1] else None
    ok = got is not None and abs(got - want) < 0.01 * want
    rep.say("  direct: supports_n divides prompt tokens per candidate by "
            "%s (target %.0f: %s); vs_standard's are %.2f x direct's "
            "with supports_n" % ("n/a" if got is None else "%.2f" % got,
                                 want, verdict(ok),
                                 per[2] / per[1] if per[1] else 0))
    rep.data = {"jobs": njobs, "n": n, "k": k, "n_chunk": chunk,
                "per_kind": {name: dict(c) for (name, _, _), c
                             in zip(kinds, sums)},
                "prompt_tokens_per_candidate": dict(
                    zip((x[0] for x in kinds), per)),
                "target_ok": ok}
    rep.save()


def bench_stall(env, rep, binary=None, label="this build"):
    """The loop never stalls: while two jobs of 1,000 candidates of 1,000
    words each (vs_standard, k = 100, n = 1000; distinct words, so that
    dedup keeps them all and every pair is scored) are deduplicated and
    scored, /healthz always answers within 250 ms. A thread asks
    /healthz every 20 ms from the first job consumed to the last result,
    and each answer's time is kept."""
    import threading
    rep.start("stall")
    words, k, n = 1000, 100, 1000
    rep.say("stall (%s): 2 vs_standard jobs, k = %d, n = %d, %d distinct-"
            "ish words per candidate (vocabulary 50,000); /healthz every "
            "20 ms" % (label, k, n, words))
    kafka = env.broker()
    fake = Fake(env.fake_bin, 0, extra=["--words", str(words),
                                        "--vocab", "50000"])
    env.ntopics += 1
    base = "stall%d" % env.ntopics
    topics = {"jobs": base + ".jobs", "results": base + ".results"}
    # A result of 1,000 such candidates is about 6 MB.
    kafka.create_topics({topics["jobs"]: 1})
    kafka.create_topics({topics["results"]: 1},
                        config={"max.message.bytes": str(64 << 20)})
    port = vstest.free_port()
    conf = vstest.scratch("vsampd-stall-", ".conf")
    with open(conf, "w") as f:
        f.write("""kafka = { brokers = "%s"; group_id = "bench-%s";
  jobs_topic = "%s"; results_topic = "%s";
  consumer = { auto_offset_reset = "earliest"; }; };
backends = ( { name = "local"; url = "%s"; model = "fake";
  max_inflight = 64; timeout_ms = 60000; max_reply_bytes = 67108864; } );
defaults = { backend = "local"; method = "vs_standard"; k = %d; };
worker = { max_result_bytes = 67108864; job_timeout_ms = 3600000; };
dedup = { state_file = ""; };
metrics = { listen = "127.0.0.1:%d"; };
""" % (kafka.bootstrap, base, topics["jobs"], topics["results"], fake.url,
            k, port))
    jobs = [{"id": "stall-%d" % i, "prompt": "Stall %d" % i, "k": k,
             "n": n} for i in range(2)]
    env.produce(topics["jobs"], jobs)
    proc = vstest.spawn([binary or env.vsampd, "-f", conf],
                        name="vsampd-stall")
    times = []
    stop = threading.Event()

    failed = []

    def probe():
        # Every probe counts, answered or not: one that times out (30 s)
        # is the worst stall of all.
        url = "http://127.0.0.1:%d/healthz" % port
        while not stop.is_set():
            t = time.monotonic()
            st, _ = vstest.http_get(url, timeout=30)
            times.append((time.monotonic() - t) * 1000.0)
            if st != 200:
                failed.append(st)
            time.sleep(0.02)
    th = threading.Thread(target=probe, daemon=True)
    try:
        proc.wait_log(r"assigned [1-9]", timeout=120)
        t0 = time.monotonic()
        th.start()
        wm = Watermarks(kafka.bootstrap, topics["results"])
        while wm.count() < len(jobs):
            if not proc.alive():
                raise RuntimeError("vsampd exited: " + proc.log_tail(20))
            if time.monotonic() - t0 > 1800:
                raise TimeoutError("stall: no results in 1800 s")
            time.sleep(0.1)
        el = time.monotonic() - t0
        wm.close()
        stop.set()
        th.join(60)
        chk = count_statuses(kafka.bootstrap, topics["results"])
        cpu = cpu_s(proc.pid)
    finally:
        stop.set()
        proc.stop(60)
        fake.stop()
    worst = max(times) if times else None
    times.sort()
    p99 = times[int(len(times) * 0.99)] if times else None
    rep.say("  %d results (%s) in %.1f s; vsampd CPU %.1f s" % (
        chk["records"], ", ".join("%s %d" % kv
                                  for kv in chk["status"].items()),
        el, cpu or 0))
    rep.say("  /healthz: %d probes (%d not answered 200), median %.1f ms, "
            "p99 %.1f ms, worst %.1f ms (target: every one within 250 ms: "
            "%s)" % (len(times), len(failed), med(times) or 0, p99 or 0,
                     worst or 0, verdict(worst is not None and
                                         worst <= 250 and not failed)))
    rep.data = {"label": label, "words": words, "k": k, "n": n,
                "elapsed_s": el, "answers": len(times),
                "healthz_median_ms": med(times), "healthz_p99_ms": p99,
                "healthz_worst_ms": worst, "healthz_failed": len(failed),
                "status": chk["status"],
                "target_ok": worst is not None and worst <= 250 and
                not failed}
    rep.save()
    return worst


class RealServer:
    """The real local model, batching --parallel sequences, looking like
    a Fake to run_vsampd (its /health is its stats)."""

    def __init__(self, parallel):
        self.m = vstest.RealModel(seed=7, extra=["--parallel",
                                                 str(parallel)]).start()
        self.pid = self.m.proc.pid
        self.url = self.m.url

    def stats(self):
        st, body = vstest.http_get(self.m.base + "/health", timeout=5)
        return json.loads(body) if st == 200 else {}

    def stop(self):
        self.m.stop()


REAL_PROMPTS = ["a short poem about the sea", "a joke about coffee",
                "the opening line of a story set in a lighthouse",
                "a haiku about snow", "a riddle about time",
                "a one-sentence fable about a fox"]


def real_request(url, i, max_tokens):
    import urllib.request
    body = {"messages": [{"role": "user", "content": "Write %s." %
                          REAL_PROMPTS[i % len(REAL_PROMPTS)]}],
            "max_tokens": max_tokens, "temperature": 0.8, "seed": 100 + i}
    req = urllib.request.Request(
        url + "/chat/completions", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())["usage"]["completion_tokens"]


def real_sweep(url, conc, per, max_tokens):
    """Completion tokens/s with conc clients of per requests each."""
    import threading
    toks, lock = [], threading.Lock()

    def client(c):
        for j in range(per):
            n = real_request(url, c * per + j, max_tokens)
            with lock:
                toks.append(n)
    t = time.monotonic()
    th = [threading.Thread(target=client, args=(c,)) for c in range(conc)]
    for x in th:
        x.start()
    for x in th:
        x.join()
    return sum(toks) / (time.monotonic() - t)


def bench_realbatch(env, rep):
    a = env.args
    par, max_tokens = 8, 48
    per = 2 if a.quick else 4
    n = a.jobs or (16 if a.quick else 48)
    if not vstest.RealModel.installed():
        print("# realbatch: the real model is not installed "
              "(bash tests/model/model.sh install)", flush=True)
        return
    rep.start("realbatch")
    rep.say("realbatch: SmolLM2-135M-Instruct on server.mjs --parallel %d "
            "(1 llama.cpp thread), direct replies of at most %d tokens"
            % (par, max_tokens))
    env.broker()
    real = RealServer(par)
    try:
        real_request(real.url, 0, 8)
        sweep = {}
        for conc in (1, 2, 4, 8):
            sweep[conc] = real_sweep(real.url, conc, per, max_tokens)
            rep.say("  concurrency %d: %.1f completion tokens/s" % (
                conc, sweep[conc]))
        peak_c = max(sweep, key=sweep.get)
        peak = sweep[peak_c]
        topics = env.topics("real")
        jobs = [{"id": "real-%d" % i, "method": "direct", "n": 1,
                 "max_tokens": max_tokens,
                 "prompt": "Write %s." % REAL_PROMPTS[i % len(REAL_PROMPTS)]}
                for i in range(n)]
        env.produce(topics["jobs"], jobs)
        r = run_vsampd(env, "real%d" % env.ntopics, n, topics, real, 256,
                       par, timeout_ms=600000, timeout=1200)
        st = real.stats()
        toks = 0
        for _, v in read_all(env.kafka.bootstrap, topics["results"]):
            toks += vstest.decode_value(v)["usage"]["completion_tokens"]
    finally:
        real.stop()
    got = toks / r["elapsed_s"] if r.get("elapsed_s") else 0
    rep.say("  peak %.1f tokens/s at concurrency %d; vsampd (defaults, "
            "backend max_inflight %d) %.1f tokens/s over %d jobs in %.1f s "
            "= %.2f x the peak; the server ran at most %s at once" % (
                peak, peak_c, par, got, n, r.get("elapsed_s", 0),
                got / peak if peak else 0, st.get("peak_active")))
    rep.say("  (2 shared cores: the ratio is the figure, measured side "
            "by side in one run, not the tokens/s)")
    rep.data = {"parallel": par, "max_tokens": max_tokens, "sweep":
                {str(k): v for k, v in sweep.items()}, "peak": peak,
                "peak_concurrency": peak_c, "vsampd_tokens_per_s": got,
                "ratio": got / peak if peak else 0, "jobs": n,
                "peak_active": st.get("peak_active")}
    rep.save()


def ensure_venv():
    """The peers' venv (cached); its python, or None with the reason."""
    py = os.path.join(VENV, "bin", "python")
    stamp = os.path.join(VENV, ".bench-reqs")
    want = "\n".join(VENV_REQS)
    try:
        with open(stamp) as f:
            if f.read() == want and os.path.exists(py):
                return py, None
    except OSError:
        pass
    print("# making %s (verbalized-sampling pulls torch: minutes, GBs)" %
          VENV, flush=True)
    r = subprocess.run(["/usr/bin/python3", "-m", "venv", VENV],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, "venv: " + r.stderr.strip()[-300:]
    r = subprocess.run([py, "-m", "pip", "install", "-q"] + VENV_REQS,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        return None, "pip: " + r.stderr.strip()[-300:]
    with open(stamp, "w") as f:
        f.write(want)
    return py, None


def debian_httpx():
    r = subprocess.run(["/usr/bin/python3", "-c", "import httpx"],
                       capture_output=True)
    if r.returncode == 0:
        return True
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "python3-httpx"],
                       capture_output=True, timeout=600)
        r = subprocess.run(["/usr/bin/python3", "-c", "import httpx"],
                           capture_output=True)
    return r.returncode == 0


def run_peer(env, name, argv, n, topics, fake, timeout, env_extra=None):
    group = "bench-" + name
    argv = argv + ["--bootstrap", env.kafka.bootstrap, "--jobs-topic",
                   topics["jobs"], "--results-topic", topics["results"],
                   "--group", group, "--base-url", fake.url]
    proc = vstest.spawn(argv, name=name, env=env_extra)
    try:
        pids = {"worker": proc.pid, "broker": env.kafka.pid,
                "fake": fake.pid}
        return measure(env, proc, r"^ASSIGNED [1-9]", n, topics["results"],
                       pids, fake=fake, timeout=timeout)
    finally:
        proc.stop(20)


def bench_peers(env, rep):
    a = env.args
    n = a.jobs or (300 if a.quick else 2000)
    lats = [0, 50]
    rep.start("peers")
    rep.say("peers: the same %d vs_standard jobs (k = 5) and the same C "
            "fake backend, at %s ms latency; each worker alone on the "
            "machine in turn" % (n, " and ".join(map(str, lats))))
    rep.say("  vsampd: worker.max_inflight 256, backend max_inflight 256")
    rep.say("  async: peer_async.py, /usr/bin/python3 asyncio + Debian "
            "python3-httpx + python3-confluent-kafka, 256 in flight")
    rep.say("  vs-package: peer_vs.py, verbalized-sampling 0.1.3 "
            "verbalize() on 16 threads, PyPI confluent-kafka, in %s" % VENV)
    env.broker()
    py, why = ensure_venv()
    have_async = debian_httpx()
    jobs_topics = env.topics("peers")
    env.produce(jobs_topics["jobs"], make_jobs("peer", n))
    table = {}
    for lat in lats:
        fake = Fake(env.fake_bin, lat)
        try:
            def topics_for(w):
                t = env.topics("peers%d%s" % (lat, w))
                return {"jobs": jobs_topics["jobs"],
                        "results": t["results"]}
            res = {}
            t = topics_for("d")
            res["vsampd"] = run_vsampd(env, "peer%dd%d" % (lat, env.ntopics),
                                       n, t, fake, 256, 256, timeout=120)
            if have_async:
                t = topics_for("a")
                res["async"] = run_peer(
                    env, "peer_async-%d" % lat,
                    ["/usr/bin/python3", os.path.join(HERE, "peer_async.py"),
                     "--concurrency", "256"], n, t, fake, timeout=150)
            if py:
                t = topics_for("v")
                res["vs-package"] = run_peer(
                    env, "peer_vs-%d" % lat,
                    [py, os.path.join(HERE, "peer_vs.py"), "--threads",
                     "16"], n, t, fake, timeout=150)
        finally:
            fake.stop()
        table[lat] = res
        d = res["vsampd"]
        rep.say("  latency %d ms:" % lat)
        rep.say("    %-10s %9s %12s %10s %10s %9s %8s %8s %7s" % (
            "worker", "jobs/s", "CPU us/job", "CPU x", "jobs/s x",
            "RSS MB", "broker", "fake", "others"))
        for w, r in res.items():
            c = r["cpu_us_per_job"]
            rep.say("    %-10s %9.0f %12.1f %10.1f %10.3f %9.1f %8.1f "
                    "%8.1f %7s%s" % (
                        w, r["jobs_per_s"], c["worker"],
                        c["worker"] / d["cpu_us_per_job"]["worker"],
                        r["jobs_per_s"] / d["jobs_per_s"],
                        mb(r["rss_max_kb"]["worker"]) or 0, c["broker"],
                        c["fake"],
                        "%.2f" % r["others_cores"]
                        if r["others_cores"] is not None else "n/a",
                        "" if r["finished"] else
                        "  (timed out: %d of %d)" % (r["done"], n)))
    if not py:
        rep.say("  vs-package skipped: %s" % why)
    if not have_async:
        rep.say("  async skipped: no python3-httpx for /usr/bin/python3")
    rep.say("  (CPU x: the worker's CPU per job over vsampd's; jobs/s x: "
            "its throughput over vsampd's; broker and fake in us/job; "
            "others: cores busy with anything else meanwhile)")
    rep.data = {"n": n, "table": {
        str(lat): {w: {"jobs_per_s": r["jobs_per_s"],
                       "cpu_us_per_job": r["cpu_us_per_job"],
                       "rss_max_mb": mb(r["rss_max_kb"]["worker"]),
                       "finished": r["finished"]}
                   for w, r in res.items()} for lat, res in table.items()}}
    rep.save()
    return table


def soak_run(env, rep, n, nbackends, limit, boxed=False):
    """One chaotic run of n jobs over nbackends identical profiles (the
    total in flight stays 1024); its report lines and figures."""
    per = max(8, 1024 // nbackends)
    rep.say("  -- %d job(s), %d backend profile(s) on the one fake, "
            "max_inflight %d each%s" % (
                n, nbackends, per,
                ", time-boxed to %d s" % limit if boxed else
                ", at most %d s" % limit))
    fake = Fake(env.fake_bin, 0, chaos=True, seed=7)
    try:
        topics = env.topics("soak", dlq=True)
        prefix = "soak%d" % env.ntopics
        env.produce(topics["jobs"], make_jobs(prefix, n,
                                              nbackends=nbackends))
        r = run_vsampd(env, "soak%d" % env.ntopics, n, topics, fake, 1024,
                       per, timeout_ms=2000, retries=3, timeout=limit,
                       dlq=topics["dlq"], nbackends=nbackends)
        chk = count_statuses(env.kafka.bootstrap, topics["results"])
        ndlq = Watermarks(env.kafka.bootstrap, topics["dlq"])
        dlq_count = ndlq.count()
        ndlq.close()
    finally:
        fake.stop()
    want = {"%s-%06d" % (prefix, i) for i in range(n)}
    keys = chk["keys"]
    missing = len(want - set(keys))
    extra = len(set(keys) - want)
    once = r["finished"] and missing == 0 and extra == 0 and \
        chk["dups"] == 0 and chk["records"] == n
    rss = r["rss"]["worker"]
    # Warm-up: until a tenth of the jobs are done (at least 30 s). The
    # steady state ends when nine tenths are: then the jobs topic runs
    # dry, what librdkafka fetched ahead drains, and RSS falls with it
    # (a soak fed without end never gets there).
    tl = r["timeline"]
    t_warm = next((t for t, c in tl if c >= n / 10), tl[-1][0])
    t_warm = max(t_warm, min(30.0, tl[-1][0] / 2))
    t_dry = next((t for t, c in tl if c >= n * 9 / 10), tl[-1][0])
    t_dry = max(t_dry, t_warm)
    base = [v for t, v in rss if t_warm <= t <= t_dry]
    tail = [v for t, v in rss if t > t_dry]
    rss_ok = None
    dev = None
    if base:
        b0 = base[0]
        dev = max(abs(v - b0) for v in base) / b0
        rss_ok = dev <= 0.10
    f1 = r["fake1"] or {}
    errors = chk["status"].get("error", 0)
    rate = r["jobs_per_s"] or 0
    if r["finished"]:
        rep.say("  finished: %d results for %d jobs in %.1f s, %.0f jobs/s"
                % (chk["records"], n, r["elapsed_s"], rate))
        rep.say("  exactly one result per job: %s (missing %d, duplicated "
                "%d, unknown %d, undecodable %d)" % (
                    verdict(once), missing, chk["dups"], extra,
                    chk["undecodable"]))
    else:
        rep.say("  %s: %d results for %d jobs in %.1f s, %.1f jobs/s; at "
                "that rate %d jobs take %.1f h" % (
                    "stopped at the time box" if boxed else "TIMED OUT",
                    chk["records"], n, r["elapsed_s"], rate, n,
                    n / rate / 3600 if rate else float("inf")))
        rep.say("  so far: duplicated %d, unknown %d, undecodable %d%s" % (
            chk["dups"], extra, chk["undecodable"],
            "" if boxed else " (exactly one result per job: MISSED)"))
    rep.say("  status: %s; error codes: %s; DLQ copies %d (errors %d)" % (
        chk["status"], chk["codes"], dlq_count, errors))
    rep.say("  attempts per job: %s; job latency p50 %s ms, p99 %s ms" % (
        chk["attempts"], chk["latency_ms_p50"], chk["latency_ms_p99"]))
    rep.say("  fake saw %s requests: ok %s, 500 %s, 429 %s, no answer "
            "%s, malformed %s" % (f1.get("requests"), f1.get("ok"),
                                  f1.get("s500"), f1.get("s429"),
                                  f1.get("hang"), f1.get("malformed")))
    if base:
        rep.say("  vsampd RSS from warm-up (%.0f s, a tenth of the jobs) to "
                "%.0f s (nine tenths): %.1f MB at first, %.1f..%.1f MB, max "
                "deviation %.1f%% (target <= 10%%: %s)"
                % (t_warm, t_dry, mb(base[0]), mb(min(base)), mb(max(base)),
                   dev * 100, verdict(rss_ok)))
    if tail:
        rep.say("  after that, as the jobs topic ran dry: %.1f..%.1f MB" % (
            mb(min(tail)), mb(max(tail))))
    half = [v for t, v in rss if t >= tl[-1][0] / 2]
    peak = max(rss, key=lambda x: x[1]) if rss else None
    if half and peak:
        # A leak keeps growing; a plateau is flat over the second half.
        rep.say("  RSS over the second half of the run: %.1f..%.1f MB "
                "(%.1f%% apart); peak %.1f MB at %.0f s" % (
                    mb(min(half)), mb(max(half)),
                    (max(half) - min(half)) / min(half) * 100,
                    mb(peak[1]), peak[0]))
    rep.say(fmt_cpu_line(r))
    if rss:
        step = max(1, len(rss) // 10)
        rep.say("  RSS timeline (s: MB): " + ", ".join(
            "%.0f: %.1f" % (t, mb(v)) for t, v in rss[::step]))
    return {"n": n, "backends": nbackends, "finished": r["finished"],
            "elapsed_s": r["elapsed_s"], "jobs_per_s": r["jobs_per_s"],
            "results": chk["records"], "missing": missing,
            "dups": chk["dups"], "status": chk["status"],
            "codes": chk["codes"], "dlq": dlq_count,
            "attempts": chk["attempts"], "rss_dev": dev, "rss_ok": rss_ok,
            "rss_second_half_mb": [mb(min(half)), mb(max(half))]
            if half else None,
            "rss_peak_mb": mb(peak[1]) if peak else None,
            "exactly_once": once, "cpu_us_per_job": r["cpu_us_per_job"],
            "fake": f1}


def bench_soak(env, rep):
    a = env.args
    n = a.jobs or (10000 if a.quick else 100000)
    box = a.soak_box or 0
    nb = a.soak_backends or 1
    limit = a.soak_timeout or (600 if a.quick else 1140)
    rep.start("soak")
    rep.say("soak: vs_standard jobs against a chaotic fake (30% 500, 10% "
            "429 + Retry-After: 1, 5% never answered, 5% malformed JSON); "
            "worker.max_inflight 1024, timeout_ms 2000, max_retries 3, a "
            "DLQ")
    env.broker()
    rep.data = {}
    if box > 0:
        rep.say("  first a time-boxed run on one backend profile:")
        rep.data["boxed"] = soak_run(env, rep, n, 1, box, boxed=True)
    if nb == 1:
        rep.say("  one backend profile, as configured by default (its "
                "concurrency limit adapts: AIMD, up to max_inflight):")
    else:
        rep.say("  the jobs spread over %d profiles of the same fake, each "
                "with its own concurrency limit:" % nb)
    rep.data["one_backend" if nb == 1 else "spread"] = soak_run(
        env, rep, n, nb, limit)
    rep.save()


def bench_profile(env, rep):
    a = env.args
    n = a.jobs or (8000 if a.quick else 20000)
    rep.start("profile")
    env.broker()
    fake = Fake(env.fake_bin, 0)
    pdata = os.path.join(env.rd, "perf.data")
    state = {}

    def start_perf(pids):
        state["perf"] = subprocess.Popen(
            ["perf", "record", "-F", "1999", "-g", "-o", pdata, "-p",
             str(pids["worker"])], stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, start_new_session=True)

    perf_ok = shutil.which("perf") is not None
    try:
        if perf_ok:
            topics = env.topics("prof")
            env.produce(topics["jobs"], make_jobs("prof", n))
            try:
                r = run_vsampd(env, "prof%d" % env.ntopics, n, topics, fake,
                               512, 256, timeout=170, on_start=start_perf)
            finally:
                pp = state.get("perf")
                if pp is not None:
                    if pp.poll() is None:
                        pp.send_signal(signal.SIGINT)
                    try:
                        pp.wait(60)
                    except subprocess.TimeoutExpired:
                        pp.kill()
                    state["perf_err"] = pp.stderr.read().decode(
                        "utf-8", "replace")
            perf_ok = os.path.exists(pdata) and os.path.getsize(pdata) > 0
        if perf_ok:
            rep.say("profile: perf record -F 1999 -g on vsampd (every "
                    "thread) during a saturation run of %d jobs: %.0f "
                    "jobs/s, %.1f us/job (perf's own overhead included)" % (
                        n, r["jobs_per_s"], r["cpu_us_per_job"]["worker"]))
            by = lambda keys, limit: subprocess.run(  # noqa: E731
                ["perf", "report", "-i", pdata, "--stdio", "--no-children",
                 "--sort", keys, "--percent-limit", str(limit)],
                capture_output=True, text=True, timeout=300).stdout
            for title, keys, limit, top in (
                    ("by thread", "comm", 0.5, 12),
                    ("by library", "dso", 0.5, 15),
                    ("top functions (self time)", "dso,symbol", 0.4, 45)):
                rep.say("  %s:" % title)
                rows = [ln for ln in by(keys, limit).splitlines()
                        if ln.strip() and not ln.startswith("#") and
                        re.match(r"^\s+\d", ln)]
                for ln in rows[:top]:
                    rep.say("    " + re.sub(r"\s+", " ", ln.strip()))
            # Main thread only, by function: what the event loop spends.
            out = subprocess.run(
                ["perf", "report", "-i", pdata, "--stdio", "--no-children",
                 "--comm", "vsampd", "--sort", "dso,symbol",
                 "--percent-limit", "0.8"], capture_output=True, text=True,
                timeout=300).stdout
            rep.say("  main thread (comm vsampd) only:")
            rows = [ln for ln in out.splitlines() if re.match(r"^\s+\d", ln)]
            for ln in rows[:30]:
                rep.say("    " + re.sub(r"\s+", " ", ln.strip()))
        else:
            rep.say("profile: perf unavailable (%s); callgrind instead" % (
                state.get("perf_err", "no perf").strip()[-200:]))
            m = 2000
            topics = env.topics("prof")
            env.produce(topics["jobs"], make_jobs("profcg", m))
            cg = os.path.join(env.rd, "callgrind.out")
            r = run_vsampd(env, "profcg%d" % env.ntopics, m, topics, fake,
                           512, 256, timeout=600,
                           wrap=["valgrind", "--tool=callgrind",
                                 "--callgrind-out-file=" + cg])
            time.sleep(2)
            out = subprocess.run(["callgrind_annotate", cg],
                                 capture_output=True, text=True).stdout
            rep.say("  callgrind, %d jobs, top functions (Ir):" % m)
            for ln in out.splitlines()[:60]:
                if re.match(r"^\s*[\d,]+ ", ln):
                    rep.say("    " + ln.strip())
    finally:
        fake.stop()
    rep.save()


def main():
    ap = argparse.ArgumentParser(
        description="vsampd end-to-end benchmarks (see the file's header)")
    ap.add_argument("what", nargs="+",
                    choices=["saturation", "littles", "peers", "soak",
                             "profile", "memory", "stall", "restore",
                             "overhead", "knee", "realbatch", "tokens",
                             "all"],
                    help="one or more benchmarks, run in the order below "
                    "on one broker, or all of them")
    ap.add_argument("--quick", action="store_true",
                    help="smaller N everywhere")
    ap.add_argument("--jobs", type=int, help="N jobs (per run)")
    ap.add_argument("--runs", type=int,
                    help="saturation, restore, overhead runs (3)")
    ap.add_argument("--soak-timeout", type=int,
                    help="seconds the full soak may take (1140)")
    ap.add_argument("--soak-box", type=int,
                    help="seconds of an extra time-boxed one-backend soak "
                    "run first (default none)")
    ap.add_argument("--soak-backends", type=int,
                    help="backend profiles the soak spreads its jobs over "
                    "(1)")
    ap.add_argument("--results", default=os.path.join(HERE, "results.txt"),
                    help="results file (appended)")
    ap.add_argument("--builddir", help="where src/vsampd is")
    ap.add_argument("--consumer-props", metavar="LIBCONFIG",
                    help="extra kafka.consumer settings for vsampd, e.g. "
                    "'fetch_wait_max_ms = 20;' (experiments; the default "
                    "is librdkafka's defaults)")
    ap.add_argument("--knee-batch", type=int, action="append",
                    metavar="B", help="the knee's batch sizes (32 and 256; "
                    "repeat for several)")
    a = ap.parse_args()
    if a.jobs and ("all" in a.what or len(a.what) > 1):
        ap.error("--jobs applies to one benchmark, not to several")
    env = Env(a)
    rep = Report(a.results)
    t = time.monotonic()
    try:
        for what, fn in (("saturation", bench_saturation),
                         ("littles", bench_littles), ("peers", bench_peers),
                         ("soak", bench_soak), ("profile", bench_profile),
                         ("memory", bench_memory),
                         ("stall", bench_stall),
                         ("restore", bench_restore),
                         ("overhead", bench_overhead),
                         ("knee", bench_knee),
                         ("realbatch", bench_realbatch),
                         ("tokens", bench_tokens)):
            if what in a.what or ("all" in a.what and
                                  what != "realbatch"):
                t1 = time.monotonic()
                fn(env, rep)
                print("# %s took %.0f s" % (what, time.monotonic() - t1),
                      flush=True)
    finally:
        env.close()
        vstest.cleanup()
    print("# figures appended to %s (%.0f s in all)" % (
        a.results, time.monotonic() - t), flush=True)


if __name__ == "__main__":
    main()
