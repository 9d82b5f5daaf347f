#!/usr/bin/env python3
"""vsampctl export against a real Kafka broker (and the fake model for
`vsampctl run`'s real results):

- results crafted to the schema of docs/schema.md, with duplicated ids
  (an error then an ok for one id, and a later error that must not
  replace the ok; two ok results where the later wins), a result with no
  id, and a garbled message, are exported from the topic and from files
  (tail's wrapped lines and bare results), as JSON lines and CSV (read
  back with Python's csv module), per job and per candidate, joined with
  the jobs from a file and from the jobs topic; every row is checked;
- a transactional results topic, whose last offset is a commit marker
  that is never delivered, is read to its end (ctl_topic_read once
  waited for that offset forever, so export and tail hung);
- the candidates of `vsampctl run`'s results come out one row each;
- bad input: unknown --format or --rows (exit 2, named), garbled lines
  and messages (skipped, counted, exit 0), a missing file or topic
  (exit 1); the progress bar is drawn only on a terminal.

TAP output, run by automake's tap-driver.sh from `make check`.
VSAMPD_IT_PROFILE=skip (distcheck) skips it.
"""

import csv
import io
import json
import os
import pty
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

PROFILE = os.environ.get("VSAMPD_IT_PROFILE", "full")
tap = Tap()

PROV_COLS = ["created", "vsampd", "template", "seed", "decoding"]
JOB_COLS = ["id", "status", "error_code", "error_message", "method",
            "backend", "model", "n_candidates", "selected", "text",
            "probability", "finish_reason", "semantic", "rouge_l",
            "distinct_1", "distinct_2", "distinct_3", "cost",
            "metadata"] + PROV_COLS
CAND_COLS = ["id", "index", "status", "method", "backend", "model",
             "selected", "text", "probability", "verbalized", "turn",
             "finish_reason", "semantic", "rouge_l", "distinct_1",
             "distinct_2", "distinct_3", "metadata"] + PROV_COLS
# The provenance of the results below (the JSON form: seed a string).
DECODING = {"temperature": 0.7, "top_p": None, "max_tokens": 256,
            "structured_output": False}
PROV = {"created": "2026-12-08T01:02:03.456Z", "vsampd": "0.1.0",
        "template": "vs_standard:0123456789ab",
        "seed": 18446744073709551615, "decoding": DECODING}
PROV_JSON = dict(PROV, seed="18446744073709551615")
JOIN_COLS = ["prompt", "job_metadata"]


def ctl(*args, stdin=None, timeout=90):
    """Run vsampctl; stdout and stderr as text, line ends kept as they
    are (CSV records end in CRLF)."""
    r = subprocess.run([vstest.vsampctl_bin()] + [str(a) for a in args],
                       input=stdin.encode() if stdin is not None else None,
                       capture_output=True, timeout=timeout)
    r.stdout = r.stdout.decode("utf-8")
    r.stderr = r.stderr.decode("utf-8", "replace")
    return r


def result(rid, cands=(), selected=None, error=None, meta=None, offset=0,
           model="m-1", div=(None, 0.25, 0.75, 1.0, 1.0), prov=True,
           cost=()):
    """A result message as docs/schema.md describes it: cands are
    (text, probability, verbalized, turn[, finish_reason]); error a
    (code, message); prov False: as an older vsampd wrote it, with no
    provenance and no finish_reason; cost: usage.cost (a number or None;
    left out: as an older vsampd wrote it)."""
    ok = error is None
    r = {
        "v": 1, "id": rid, "status": "ok" if ok else "error",
        "error": None if ok else {"code": error[0], "message": error[1]},
        "method": "vs_standard", "backend": "local", "model": model,
        "candidates": [dict({"text": c[0], "probability": c[1],
                             "verbalized": c[2], "turn": c[3]},
                            **({"finish_reason": (c[4:] or ("stop",))[0]}
                               if prov else {}))
                       for c in cands] if ok else [],
        "selected": selected if ok else None,
        "dedup": {"in_job": 0, "in_scope": 0} if ok else None,
        "diversity": dict(zip(["semantic", "rouge_l", "distinct_1",
                               "distinct_2", "distinct_3"], div))
        if ok and cands else None,
        "usage": dict({"requests": 1, "prompt_tokens": 10,
                       "completion_tokens": 20},
                      **({"cost": cost} if cost != () else {})),
        "attempts": 1, "failed_calls": 0 if ok else 1, "latency_ms": 7,
        "source": {"topic": "ex.jobs", "partition": 0, "offset": offset},
        "metadata": meta,
    }
    if prov:
        r["provenance"] = PROV
    return r


def json_form(res):
    """A result as vsampctl prints it: the seed a decimal string."""
    if "provenance" in res:
        res = dict(res, provenance=PROV_JSON)
    return res


TRICKY = 'a "quoted", two-line\nanswer'
RESULTS = [
    result("j-1", error=("timeout", "the job passed 1000 ms"), offset=1),
    result("j-2", [("old answer", 1.0, 1.0, 0)], 0, offset=2),
    result("j-1", [("first, with a comma", 0.4, 0.4, 0),
                   (TRICKY, 0.6, None, 1, "length")], 1,
           meta={"task": "poem", "tags": ["a", "b"]}, offset=1),
    result("j-3", error=("backend", "HTTP 500"), offset=3, prov=False),
    result("j-2", [("new answer", 0.7, 0.7, 0), ("other", 0.3, 0.3, 0)], 0,
           offset=2, model="m-2", cost=0.0125),
    # A later error must not replace the ok result of j-1.
    result("j-1", error=("timeout", "again"), offset=1),
    result("j-4", [("only one", 1.0, 1.0, 0)], None, offset=4,
           div=(None, None, 1.0, 1.0, None), cost=None),
    result(None, error=("bad_job", "job: not a msgpack map or JSON object"),
           offset=9),
]

JOBS = [
    {"id": "j-1", "prompt": "Write a poem.", "metadata": {"batch": 7}},
    {"id": "j-2", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"}], "prompt": "And a name?"},
    {"id": "j-4", "prompt": "One thing, please."},
]
# An earlier version of j-4's job, sent first: the later one is joined.
OLD_J4 = {"id": "j-4", "prompt": "stale", "metadata": {"old": True}}

J2_MESSAGES = [{"role": "system", "content": "Be brief."},
               {"role": "user", "content": "Hello"},
               {"role": "user", "content": "And a name?"}]

# What export must write per job, in the order of the columns.
WANT_JOBS = {
    "j-1": ["j-1", "ok", None, None, "vs_standard", "local", "m-1", 2, 1,
            TRICKY, 0.6, None, 0.25, 0.75, 1.0, 1.0, None,
            {"task": "poem", "tags": ["a", "b"]}],
    "j-2": ["j-2", "ok", None, None, "vs_standard", "local", "m-2", 2, 0,
            "new answer", 0.7, None, 0.25, 0.75, 1.0, 1.0, 0.0125, None],
    "j-3": ["j-3", "error", "backend", "HTTP 500", "vs_standard", "local",
            "m-1", 0, None, None, None, None, None, None, None, None, None,
            None],
    "j-4": ["j-4", "ok", None, None, "vs_standard", "local", "m-1", 1, None,
            None, None, None, None, 1.0, 1.0, None, None, None],
    None: [None, "error", "bad_job", "job: not a msgpack map or JSON object",
           "vs_standard", "local", "m-1", 0, None, None, None, None, None,
           None, None, None, None, None],
}
DIV = [None, 0.25, 0.75, 1.0, 1.0]
WANT_CANDS = [
    ["j-1", 0, "ok", "vs_standard", "local", "m-1", False,
     "first, with a comma", 0.4, 0.4, 0] + DIV +
    [{"task": "poem", "tags": ["a", "b"]}],
    ["j-1", 1, "ok", "vs_standard", "local", "m-1", True, TRICKY, 0.6, None,
     1] + DIV + [{"task": "poem", "tags": ["a", "b"]}],
    ["j-2", 0, "ok", "vs_standard", "local", "m-2", True, "new answer", 0.7,
     0.7, 0] + DIV + [None],
    ["j-2", 1, "ok", "vs_standard", "local", "m-2", False, "other", 0.3,
     0.3, 0] + DIV + [None],
    ["j-4", 0, "ok", "vs_standard", "local", "m-1", False, "only one", 1.0,
     1.0, 0, None, None, 1.0, 1.0, None, None],
]
WANT_JOIN = {"j-1": ["Write a poem.", {"batch": 7}],
             "j-2": [J2_MESSAGES, None],
             "j-3": [None, None],
             "j-4": ["One thing, please.", None],
             None: [None, None]}


def jsonl_rows(text):
    return [json.loads(x) for x in text.splitlines()]


def by_id(rows):
    return sorted(rows, key=lambda r: (r["id"] or "", r.get("index", 0)))


def want_rows(cols, table):
    return [dict(zip(cols, r)) for r in table]


# The finish_reason of each job row's selected candidate; j-3's result
# was written before provenance, so its provenance columns are null.
WANT_FINISH = {"j-1": "length", "j-2": "stop", "j-3": None, "j-4": None,
               None: None}


def with_prov(row, rid):
    row.update((c, None if rid == "j-3" else PROV_JSON[c])
               for c in PROV_COLS)
    return row


def want_job_rows(join=False):
    out = []
    base = [c for c in JOB_COLS if c != "finish_reason" and
            c not in PROV_COLS]
    for rid, r in WANT_JOBS.items():
        row = with_prov(dict(zip(base, r)), rid)
        row["finish_reason"] = WANT_FINISH[rid]
        if join:
            row.update(zip(JOIN_COLS, WANT_JOIN[rid]))
        out.append(row)
    return by_id(out)


def want_cand_rows(join=False):
    out = []
    base = [c for c in CAND_COLS if c != "finish_reason" and
            c not in PROV_COLS]
    for r in WANT_CANDS:
        row = dict(zip(base, r))
        with_prov(row, row["id"])
        row["finish_reason"] = "length" if row["text"] == TRICKY else "stop"
        if join:
            row.update(zip(JOIN_COLS, WANT_JOIN[row["id"]]))
        out.append(row)
    return by_id(out)


def csv_cell(v):
    """What a JSON value must read back as from export's CSV."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    return v


def csv_matches(text, want, cols):
    """Parse export's CSV; returns (ok, why): the header is cols, and
    each row (sorted like want) holds want's values: numbers compared
    as numbers, the rest as text."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows or rows[0] != cols:
        return False, "header %r" % (rows[:1],)
    got = sorted(rows[1:], key=lambda r: (r[0], r[1] if cols[1] == "index"
                                          else ""))
    if len(got) != len(want):
        return False, "%d rows, want %d" % (len(got), len(want))
    for g, w in zip(got, want):
        for c, cell in zip(cols, g):
            exp = csv_cell(w[c])
            if isinstance(exp, (int, float)):
                try:
                    same = float(cell) == float(exp)
                except ValueError:
                    same = False
            else:
                same = cell == exp
            if not same:
                return False, "%s: column %s is %r, want %r" % (
                    g[0], c, cell, exp)
    if not text.endswith("\r\n"):
        return False, "records do not end in CRLF"
    return True, ""


def export_topic_tests(conf, jobs_file):
    r = ctl("export", "-T", "-f", conf)
    rows = jsonl_rows(r.stdout)
    tap.ok(r.returncode == 0, "export -T: exit 0 despite a garbled message",
           diag=r.stderr)
    tap.is_(by_id(rows), want_job_rows(),
            "export -T: one row per job id, the ok result kept over "
            "earlier and later errors, the later of two ok results, every "
            "column as the result has it")
    tap.ok("partition " in r.stderr and "not a result" in r.stderr and
           "1 input(s) were not results" in r.stderr,
           "export -T: the garbled message is named and counted",
           diag=r.stderr)
    tap.ok("5 row(s) of 5 job(s)" in r.stderr and "8 result(s) read" in
           r.stderr and "3 duplicate(s) dropped" in r.stderr,
           "export -T: the summary counts results, jobs and duplicates "
           "dropped", diag=r.stderr)
    tap.ok(all(list(x) == JOB_COLS for x in rows),
           "export: job rows have the documented columns in order")
    tap.ok("\r" not in r.stderr, "no progress bar when stderr is not a "
           "terminal")

    r = ctl("export", "-T", "-f", conf, "--rows", "candidate")
    tap.is_(by_id(jsonl_rows(r.stdout)), want_cand_rows(),
            "export -T --rows candidate: a row per candidate of the kept "
            "results, selected flag, job-level columns")

    r = ctl("export", "-T", "-f", conf, "--format", "csv")
    ok, why = csv_matches(r.stdout, want_job_rows(), JOB_COLS)
    tap.ok(r.returncode == 0 and ok, "export -T --format csv: a header, "
           "RFC 4180 quoting (commas, quotes, newlines), metadata as "
           "compact JSON", diag=why)

    r = ctl("export", "-T", "-f", conf, "--rows", "candidate", "--format",
            "csv", "--jobs-topic")
    ok, why = csv_matches(r.stdout, want_cand_rows(join=True),
                          CAND_COLS + JOIN_COLS)
    tap.ok(r.returncode == 0 and ok, "export --jobs-topic --rows "
           "candidate --format csv: prompts (messages as JSON) and job "
           "metadata joined", diag=why + r.stderr)
    tap.ok("3 of 5 job(s) found among the jobs" in r.stderr and "not a valid job" in
           r.stderr, "export --jobs-topic: joined jobs counted, the bad "
           "job named", diag=r.stderr)

    r = ctl("export", "-T", "-f", conf, "--jobs", jobs_file)
    tap.is_(by_id(jsonl_rows(r.stdout)), want_job_rows(join=True),
            "export --jobs FILE: the later of two jobs with one id is "
            "joined; a job not found leaves the columns empty")


def export_file_tests(conf, jobs_file):
    wrapped = vstest.scratch("tail-", ".jsonl")
    r = ctl("tail", "-f", conf)
    with open(wrapped, "w") as f:
        f.write(r.stdout)
    bare = vstest.scratch("bare-", ".jsonl")
    r = ctl("tail", "-f", conf, "-r")
    with open(bare, "w") as f:
        f.write(r.stdout)
        f.write("{not json\n\n[1, 2]\n")

    r = ctl("export", wrapped)
    tap.is_(by_id(jsonl_rows(r.stdout)), want_job_rows(),
            "export FILE: tail's wrapped lines give the same rows as the "
            "topic")
    r = ctl("export", "--rows", "candidate", "--format", "csv", "--jobs",
            jobs_file, bare)
    ok, why = csv_matches(r.stdout, want_cand_rows(join=True),
                          CAND_COLS + JOIN_COLS)
    tap.ok(r.returncode == 0 and ok, "export FILE --rows candidate "
           "--format csv --jobs: the same rows from bare results",
           diag=why + r.stderr)
    n = len(RESULTS)
    tap.ok(":%d: not a result" % (n + 1) in r.stderr and
           ":%d: not a result" % (n + 3) in r.stderr and
           "2 input(s) were not results" in r.stderr,
           "export FILE: garbled lines named by line and counted, blank "
           "lines skipped", diag=r.stderr)
    with open(bare) as f:
        r = ctl("export", "-q", "--format", "csv", stdin=f.read())
    ok, why = csv_matches(r.stdout, want_job_rows(), JOB_COLS)
    tap.ok(r.returncode == 0 and ok and "row(s)" not in r.stderr,
           "export -q from standard input: rows, no summary", diag=why)

    # File order: the rows follow where each id was first seen.
    ordered = vstest.scratch("order-", ".jsonl")
    with open(ordered, "w") as f:
        for res in [RESULTS[4], RESULTS[3], RESULTS[2], RESULTS[1]]:
            f.write(json.dumps(json_form(res)) + "\n")
    out = vstest.scratch("out-", ".jsonl")
    r = ctl("export", "-o", out, ordered)
    with open(out) as f:
        rows = jsonl_rows(f.read())
    tap.is_([(x["id"], x["text"]) for x in rows],
            [("j-2", "old answer"), ("j-3", None), ("j-1", TRICKY)],
            "export -o FILE: rows in the order ids first appear, the "
            "later ok result of j-2 kept")
    tap.ok(r.stdout == "" and "written to %s" % out in r.stderr,
           "export -o: nothing on standard output", diag=r.stderr)


def transactional_tests(kafka, conf):
    """Results produced in transactions: each partition ends on a commit
    marker, an offset no consumer is given."""
    kafka.create_topics({"ex.txn": 2})
    p = vstest.Producer({"bootstrap.servers": kafka.bootstrap,
                         "transactional.id": "ex-txn-test",
                         "partitioner": "murmur2_random"})
    p.init_transactions(30)
    for batch in (RESULTS[:4], RESULTS[4:]):
        p.begin_transaction()
        for res in batch:
            p.produce("ex.txn", key=(res["id"] or "none").encode(),
                      value=vstest.encode(res))
        p.commit_transaction(30)
    try:
        r = ctl("export", "-T", "-f", conf, "-t", "ex.txn", timeout=60)
        tap.is_(by_id(jsonl_rows(r.stdout)), want_job_rows(),
                "export -T of a transactional topic stops at its end "
                "(past the commit markers) with every row")
    except subprocess.TimeoutExpired:
        tap.ok(False, "export -T of a transactional topic stops at its "
               "end", diag="still reading after 60 s")
    try:
        r = ctl("tail", "-f", conf, "-t", "ex.txn", "-r", timeout=60)
        tap.is_(len(r.stdout.splitlines()), len(RESULTS),
                "tail of a transactional topic stops at its end too")
    except subprocess.TimeoutExpired:
        tap.ok(False, "tail of a transactional topic stops at its end",
               diag="still reading after 60 s")


def run_tests(conf):
    """Real results: vsampctl run through the fake model, exported per
    candidate."""
    jobs = "".join(json.dumps({"id": "run-%d" % i, "prompt": "Name a "
                               "colour, #%d." % i, "k": 3,
                               "metadata": {"i": i}}) + "\n"
                   for i in range(4))
    r = ctl("run", "-q", "-f", conf, stdin=jobs)
    results = jsonl_rows(r.stdout)
    r2 = ctl("export", "-q", "--rows", "candidate", stdin=r.stdout)
    rows = jsonl_rows(r2.stdout)
    want = [(res["id"], i, c["text"], c["probability"],
             res["selected"] == i, res["metadata"])
            for res in results for i, c in enumerate(res["candidates"])]
    got = [(x["id"], x["index"], x["text"], x["probability"],
            x["selected"], x["metadata"]) for x in rows]
    tap.ok(len(want) >= 4 and got == want,
           "export --rows candidate of `vsampctl run`'s results: every "
           "candidate, its probability and selected flag, in input order",
           diag="got %r\nwant %r" % (got[:3], want[:3]))


def usage_tests(conf):
    r = ctl("export", "--help")
    tap.ok(r.returncode == 0 and r.stdout.startswith(
        "usage: vsampctl export"), "export --help")
    r = ctl("export", "--format", "xml", stdin="")
    tap.ok(r.returncode == 2 and "--format takes jsonl or csv, not \"xml\""
           in r.stderr, "export --format xml: exit 2, named", diag=r.stderr)
    r = ctl("export", "--rows", "turn", stdin="")
    tap.ok(r.returncode == 2 and "--rows takes job or candidate" in
           r.stderr, "export --rows turn: exit 2, named", diag=r.stderr)
    r = ctl("export", "--jobs", "x", "--jobs-topic", stdin="")
    tap.ok(r.returncode == 2 and "exclude each other" in r.stderr,
           "export --jobs with --jobs-topic: exit 2")
    r = ctl("export", "/nonexistent/results.jsonl")
    tap.ok(r.returncode == 1 and "/nonexistent/results.jsonl" in r.stderr
           and r.stdout == "", "export of a missing file: exit 1, named, "
           "nothing written", diag=r.stderr)
    r = ctl("export", "-T", "-f", conf, "-t", "no.such.topic")
    tap.ok(r.returncode == 1 and "no.such.topic does not exist" in
           r.stderr, "export -T of a missing topic: exit 1, named",
           diag=r.stderr)
    r = ctl("export", "-o", "/nonexistent/dir/out.csv", stdin="")
    tap.ok(r.returncode == 1 and "/nonexistent/dir/out.csv: cannot write"
           in r.stderr, "export -o to an unwritable path: exit 1")


def progress_test(conf):
    """With stderr on a terminal, a progress line is drawn there."""
    master, slave = pty.openpty()
    p = subprocess.run([vstest.vsampctl_bin(), "export", "-T", "-f", conf],
                       stdout=subprocess.PIPE, stderr=slave, timeout=60)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    os.close(master)
    tap.ok(p.returncode == 0 and b"\r" in err and b"results" in err and
           len(p.stdout.splitlines()) == len(WANT_JOBS),
           "a progress line on a terminal's stderr, rows unchanged",
           diag=repr(err[:200]))


def main():
    if PROFILE == "skip":
        tap.skip("vsampctl export", "VSAMPD_IT_PROFILE=skip")
        return tap.done()
    kafka = vstest.Kafka().start()
    tap.diag("kafka %s up in %.1fs" % (kafka.bootstrap, kafka.startup_s))
    kafka.create_topics({"ex.jobs": 2, "ex.results": 3})
    fake = vstest.FakeModel().start()
    conf = vstest.conf(
        vstest.scratch("export-", ".conf"), kafka.bootstrap,
        kafka={"jobs_topic": "ex.jobs", "results_topic": "ex.results"},
        backends=[vstest.backend("local", fake.url, timeout_ms=20000)],
        defaults={"backend": "local", "method": "vs_standard", "k": 3})

    # Results keyed by id, so an id's results share a partition, in order;
    # the garbled message between them.
    msgs = [((x["id"] or "none"), x) for x in RESULTS[:5]]
    msgs.append(("junk", b"\xc1 not msgpack"))
    msgs += [((x["id"] or "none"), x) for x in RESULTS[5:]]
    vstest.produce(kafka.bootstrap, "ex.results", msgs)
    vstest.produce(kafka.bootstrap, "ex.jobs",
                   [OLD_J4] + JOBS + [("bad", {"id": "j-9", "k": 0})])
    jobs_file = vstest.scratch("jobs-", ".jsonl")
    with open(jobs_file, "w") as f:
        for j in [OLD_J4] + JOBS:
            f.write(json.dumps(j) + "\n")
        f.write("{broken\n")

    usage_tests(conf)
    export_topic_tests(conf, jobs_file)
    export_file_tests(conf, jobs_file)
    transactional_tests(kafka, conf)
    run_tests(conf)
    progress_test(conf)

    fake.stop()
    kafka.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
