#!/usr/bin/env python3
"""vsampctl eval against the fake model, with no Kafka: the jobs it
plans, the report's numbers against values computed here from its own
results file (per-prompt means, group means, ratios to direct, wins),
an enumerative prompt whose scripted reply makes direct's coverage and
KL known in advance, the SVG parsed as XML, the --max-requests refusal
and the errors of a bad prompt file.

The enumerative prompt's scripted reply holds both a "response" (what
direct reads: "Red", every time, so every draw of direct is Red) and
"responses" (what vs_standard reads: "Green" and "blue." at 0.5 each, so
every draw of vs_standard is Green or Blue).
"""
import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vstest  # noqa: E402
from vstest import Tap  # noqa: E402

tap = Tap()
DRAWS = 6
K = 3
METHODS = ["direct", "vs_standard"]
DIVERSITY = ["semantic", "vendi", "classes", "rouge_l", "distinct_1",
             "distinct_2", "distinct_3"]
LOWER = {"rouge_l", "duplicates", "parse_failures", "tokens_per_candidate",
         "cost", "kl_uniform"}
ANSWERS = ["Red", "Green", "Blue"]
PROMPTS = [
    {"id": "poem-tea", "task": "poem",
     "prompt": "Write a haiku about a cup of tea."},
    {"id": "joke-cat", "task": "joke", "prompt": "Tell a joke about a cat."},
    {"id": "story-dup", "task": "story",
     "prompt": "Begin a story about a lighthouse. [[fake:dups]]"},
    {"id": "dialogue-shop", "task": "dialogue",
     "messages": [{"role": "system", "content": "You are a customer."},
                  {"role": "user", "content": "Hello, how can I help? "
                   "[[fake:plain]]"}]},
    {"id": "enum-rgb", "task": "enumerative",
     "prompt": "Name a primary colour of light. [[fake:enum3]]",
     "answers": ANSWERS, "aliases": {"Blue": ["azure"]}},
]
SCRIPT = {
    "enum3": {"content": json.dumps({
        "response": "Red",
        "responses": [{"text": "Green", "probability": 0.5},
                      {"text": "blue.", "probability": 0.5}]})},
    "dups": {"form": "duplicates"},
    # Plain text: direct's one candidate, a parse error for vs_standard.
    "plain": {"content": "I would like a refund, please."},
}


def ctl(*args, timeout=300):
    return subprocess.run([vstest.vsampctl_bin()] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout)


def jsonl(path):
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def write_lines(lines):
    path = vstest.scratch("eval-prompts-", ".jsonl")
    with open(path, "w") as f:
        f.write("".join(x + "\n" for x in lines))
    return path


def rep_rows(out):
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)["prompts"]


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def normalise(s):
    """The matcher of evalstat, as far as this test's texts need it."""
    s = s.strip()
    while s and s[-1] in ".!?,;:":
        s = s[:-1].rstrip()
    return " ".join(s.split()).lower()


def match(text, p):
    forms = [normalise(a) for a in p["answers"]]
    t = normalise(text)
    if t in forms:
        return forms.index(t)
    for ans, al in p.get("aliases", {}).items():
        if t in [normalise(a) for a in al]:
            return p["answers"].index(ans)
    return -1


def enum_measures(draws, m):
    valid = [d for d in draws if d >= 0]
    if not valid:
        return 0.0, None
    kl = 0.0
    for a in range(m):
        pa = valid.count(a) / len(valid)
        if pa > 0:
            kl += pa * math.log(pa * m)
    return len(set(valid)) / m, kl


def expected_values(results):
    """Per (prompt, method): every measure, computed from results."""
    by = {}
    for r in results:
        ev = r["metadata"]["eval"]
        by.setdefault((ev["prompt"], ev["method"]), []).append(r)
    out = {}
    for p in PROMPTS:
        for m in METHODS:
            rs = by.get((p["id"], m), [])
            v = {}
            for name in DIVERSITY:
                v[name] = mean([r["diversity"][name] for r in rs
                                if r["diversity"] and
                                r["diversity"][name] is not None])
            v["duplicates"] = mean([r["dedup"]["in_job"] for r in rs
                                    if r["dedup"] is not None])
            v["parse_failures"] = mean([
                max(r["failed_calls"], 1 if r["error"] and
                    r["error"]["code"] == "parse" else 0) for r in rs])
            v["tokens_per_candidate"] = mean([
                (r["usage"]["prompt_tokens"] +
                 r["usage"]["completion_tokens"]) / len(r["candidates"])
                for r in rs if r["candidates"]])
            v["cost"] = mean([r["usage"]["cost"] for r in rs
                              if r["usage"]["cost"] is not None])
            if p["task"] == "enumerative":
                draws = [match(r["candidates"][r["selected"]]["text"], p)
                         if r["selected"] is not None else -1 for r in rs]
                v["coverage"], v["kl_uniform"] = enum_measures(
                    draws, len(p["answers"]))
                v["draws"] = draws
            out[(p["id"], m)] = v
    return out


def check_group(rep, exp):
    """The "all" group of report.json against exp: means, ratio points
    and wins per measure and method."""
    grp = [g for g in rep["groups"] if g["task"] == "all"][0]
    bad = []
    for measure in [m["name"] for m in rep["measures"]]:
        if measure not in grp["methods"]["direct"]:
            continue
        for m in METHODS:
            got = grp["methods"][m][measure]
            xs = [exp[(p["id"], m)].get(measure) for p in PROMPTS]
            ys = [exp[(p["id"], "direct")].get(measure) for p in PROMPTS]
            have = [x for x in xs if x is not None]
            if not close(got["mean"], mean(have)) or got["n"] != len(have):
                bad.append((measure, m, "mean", got["mean"], mean(have)))
            if not (got["mean"] is None or
                    got["ci_lo"] <= got["mean"] + 1e-12 and
                    got["mean"] <= got["ci_hi"] + 1e-12):
                bad.append((measure, m, "ci", got["ci_lo"], got["ci_hi"]))
            if m == "direct":
                if got["ratio"] is not None or got["wins"] is not None:
                    bad.append((measure, m, "direct has a ratio"))
                continue
            pairs = [(x, y) for x, y in zip(xs, ys)
                     if x is not None and y is not None]
            my = mean([y for _, y in pairs])
            want = (mean([x for x, _ in pairs]) / my
                    if pairs and my != 0 else None)
            if not close(got["ratio"], want):
                bad.append((measure, m, "ratio", got["ratio"], want))
            sign = -1 if measure in LOWER else 1
            wins = {"wins": sum(1 for x, y in pairs if sign * (x - y) > 0),
                    "ties": sum(1 for x, y in pairs if x == y),
                    "losses": sum(1 for x, y in pairs
                                  if sign * (x - y) < 0)}
            if got["wins"] != wins:
                bad.append((measure, m, "wins", got["wins"], wins))
    tap.ok(not bad, "report.json's \"all\" group: the means, ratios to "
           "direct and wins of every measure are those computed from "
           "results.jsonl", diag=repr(bad[:5]))
    return grp


def check_svg(path, rep, grp):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        tap.ok(False, "report.svg is XML", diag=str(e))
        return
    ns = "{http://www.w3.org/2000/svg}"
    tap.ok(root.tag == ns + "svg", "report.svg is an SVG document")
    title = [t for t in root.iter(ns + "text") if t.get("class") == "title"]
    tap.ok(title and "fake" in title[0].text,
           "the SVG's title names the model")
    caption = [t for t in root.iter(ns + "text")
               if t.get("class") == "caption"]
    tap.ok(caption and "95%" in caption[0].text and "%d prompts" %
           len(PROMPTS) in caption[0].text, "a caption line")
    panels = [g for g in root.iter(ns + "g") if g.get("class") == "panel"]
    want = [m["name"] for m in rep["measures"]
            if m["name"] in grp["methods"]["direct"]]
    tap.is_([g.get("data-measure") for g in panels], want,
            "one panel per measure that has values")
    bad = []
    for g in panels:
        meas = g.get("data-measure")
        bars = [b for b in g.iter(ns + "g") if b.get("class") == "bar"]
        if [b.get("data-method") for b in bars] != METHODS:
            bad.append((meas, "methods"))
        for b in bars:
            st = grp["methods"][b.get("data-method")][meas]
            if st["mean"] is not None and not math.isclose(
                    float(b.get("data-mean")), st["mean"], rel_tol=1e-5):
                bad.append((meas, b.get("data-method"), "mean"))
            ratio = [t for t in b.iter(ns + "text")
                     if t.get("class") == "ratio"]
            if st["ratio"] is not None and (
                    not ratio or ratio[0].text != "×%.2f" % st["ratio"]):
                bad.append((meas, b.get("data-method"), "ratio"))
            if st["ci_lo"] is not None and not [
                    p for p in b.iter(ns + "path")
                    if p.get("class") == "ci"]:
                bad.append((meas, b.get("data-method"), "whisker"))
    tap.ok(not bad, "each panel: a bar per method whose mean, ratio to "
           "direct and CI whisker are the report's", diag=repr(bad[:5]))


def main():
    fake_script = vstest.scratch("eval-script-", ".json")
    with open(fake_script, "w") as f:
        json.dump(SCRIPT, f)
    fake = vstest.FakeModel(script=fake_script).start()
    conf = vstest.conf(
        vstest.scratch("eval-", ".conf"), "127.0.0.1:9",
        backends=[vstest.backend("local", fake.url, max_inflight=8,
                                 max_retries=1)],
        embeddings={"url": fake.url, "model": "e"},
        defaults={"backend": "local", "k": K})
    prompts = write_lines([json.dumps(p) for p in PROMPTS])

    r = ctl("eval", "--help")
    tap.ok(r.returncode == 0 and r.stdout.startswith("usage: vsampctl "
                                                     "eval"),
           "vsampctl eval --help")

    # --- the plan: refused over --max-requests ---------------------------
    # direct: k calls per job, vs_standard: 1; 3 creative prompts and
    # DRAWS jobs of the enumerative one per method.
    creative = sum(1 for p in PROMPTS if p["task"] != "enumerative")
    planned = (creative + DRAWS) * K + (creative + DRAWS) * 1
    out = os.path.join(vstest.run_dir(), "eval-refused")
    fake.reset()
    r = ctl("eval", "-q", "-f", conf, "-m", ",".join(METHODS), "--draws",
            DRAWS, "--max-requests", planned - 1, "-o", out, prompts)
    tap.ok(r.returncode == 2 and "%d backend calls" % planned in r.stderr
           and "--max-requests %d" % (planned - 1) in r.stderr,
           "over --max-requests: exit 2 with the planned count",
           diag=r.stderr)
    tap.ok(not os.path.exists(out) and
           fake.stats()["by_path"].get("/v1/chat/completions", 0) == 0,
           "nothing written and no backend call when refused",
           diag=repr(fake.stats()))

    # --- a run -----------------------------------------------------------
    out = os.path.join(vstest.run_dir(), "eval-out")
    r = ctl("eval", "-f", conf, "-m", ",".join(METHODS), "--draws", DRAWS,
            "--max-requests", planned, "--seed", 7, "-o", out, prompts)
    tap.is_(r.returncode, 0, "eval within --max-requests: exit 0")
    if r.returncode != 0:
        tap.diag(r.stderr)
        return tap.done()
    tap.ok("== all: %d prompts ==" % len(PROMPTS) in r.stdout and
           "kl_uniform" in r.stdout, "the text report on stdout")
    with open(os.path.join(out, "report.txt")) as f:
        tap.is_(f.read(), r.stdout, "report.txt is what stdout showed")
    jobs = jsonl(os.path.join(out, "jobs.jsonl"))
    ids = [j["id"] for j in jobs]
    want_ids = []
    for p in PROMPTS:
        for m in METHODS:
            if p["task"] == "enumerative":
                want_ids += ["%s/%s/%d" % (p["id"], m, d)
                             for d in range(DRAWS)]
            else:
                want_ids.append("%s/%s" % (p["id"], m))
    tap.is_(ids, want_ids, "jobs.jsonl: one job per prompt and method, "
            "--draws per enumerative prompt, ids prompt/method[/draw]")
    tap.ok(all(j["embed"] is True and j["k"] == K and
               j["metadata"]["eval"]["method"] == j["method"] and
               j["metadata"]["eval"]["prompt"] == j["id"].split("/")[0]
               for j in jobs), "each job: embed, k and metadata.eval")
    results = jsonl(os.path.join(out, "results.jsonl"))
    tap.is_(sorted(x["id"] for x in results), sorted(want_ids),
            "results.jsonl: a result per job")
    tap.is_(sorted((x["id"], x["status"], (x["error"] or {}).get("code"))
                   for x in results if x["status"] != "ok"),
            [("dialogue-shop/vs_standard", "error", "parse")],
            "all ok but the plain-text reply to vs_standard: a parse "
            "error")
    tap.is_([(x["method"], x["parse_failures"], x["errors"])
             for x in rep_rows(out) if x["prompt"] == "dialogue-shop"],
            [("direct", 0.0, 0), ("vs_standard", 1.0, 1)],
            "the parse error counts once in parse_failures")
    # The parse error's call was retried once (max_retries 1).
    tap.is_(fake.stats()["by_path"].get("/v1/chat/completions", 0),
            planned + 1, "the backend calls made are the plan's")
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    tap.is_((rep["model"], rep["methods"], rep["k"], rep["draws"],
             rep["seed"], rep["results"]),
            ("fake", METHODS, K, DRAWS, 7, len(want_ids)),
            "report.json: model, methods, k, draws, seed, results")

    exp = expected_values(results)
    bad = []
    for row in rep["prompts"]:
        e = exp[(row["prompt"], row["method"])]
        for name, v in e.items():
            if name != "draws" and not close(row[name], v):
                bad.append((row["prompt"], row["method"], name, row[name],
                            v))
    tap.ok(not bad, "report.json per prompt and method: every measure is "
           "the mean over its jobs' results", diag=repr(bad[:5]))
    tap.ok(any(v["duplicates"] for v in exp.values()),
           "the duplicates prompt makes duplicates to count")

    # Known in advance: direct reads "Red" only, vs_standard Green/Blue.
    d = exp[("enum-rgb", "direct")]
    v = exp[("enum-rgb", "vs_standard")]
    tap.ok(d["draws"] == [0] * DRAWS and
           all(x in (1, 2) for x in v["draws"]),
           "the scripted draws: direct always Red, vs_standard Green or "
           "Blue (\"blue.\" matched)", diag=repr((d["draws"], v["draws"])))
    rows = {(x["prompt"], x["method"]): x for x in rep["prompts"]}
    rd = rows[("enum-rgb", "direct")]
    tap.ok(close(rd["coverage"], 1 / 3) and
           close(rd["kl_uniform"], math.log(3)) and
           rd["valid_draws"] == DRAWS and rd["invalid_draws"] == 0,
           "direct: coverage 1/3 and KL ln 3, as scripted", diag=repr(rd))
    rv = rows[("enum-rgb", "vs_standard")]
    tap.ok(rv["coverage"] in (1 / 3, 2 / 3) and
           rv["kl_uniform"] <= math.log(3) + 1e-12 and
           rv["kl_uniform"] >= math.log(3 / 2) - 1e-12,
           "vs_standard: coverage and KL within what Green and Blue allow",
           diag=repr(rv))

    grp = check_group(rep, exp)
    enum_grp = [g for g in rep["groups"] if g["task"] == "enumerative"][0]
    cov = enum_grp["methods"]["vs_standard"]["coverage"]
    tap.ok(close(cov["ratio"], rv["coverage"] / (1 / 3)) and
           cov["wins"] == {"wins": 1 if rv["coverage"] > 1 / 3 else 0,
                           "ties": 0 if rv["coverage"] > 1 / 3 else 1,
                           "losses": 0},
           "the enumerative group: coverage ratio and wins", diag=repr(cov))
    check_svg(os.path.join(out, "report.svg"), rep, grp)

    r2 = ctl("eval", "-q", "-f", conf, "-m", ",".join(METHODS), "--draws",
             DRAWS, "--seed", 7, "-o", out + "2", prompts)
    with open(os.path.join(out + "2", "report.json")) as f:
        rep2 = json.load(f)
    tap.ok(r2.returncode == 0 and r2.stdout == "",
           "-q: exit 0, nothing on stdout")
    # The enumerative replies are fixed, so the same seed draws the same.
    enum2 = [g for g in rep2["groups"] if g["task"] == "enumerative"][0]
    tap.is_(enum2["methods"]["vs_standard"]["kl_uniform"],
            enum_grp["methods"]["vs_standard"]["kl_uniform"],
            "the same --seed draws the same")

    # --- bad input -------------------------------------------------------
    bad_file = write_lines([json.dumps(PROMPTS[0]),
                            json.dumps({"id": "x", "task": "essay",
                                        "prompt": "Hi"})])
    r = ctl("eval", "-q", "-f", conf, "-o", out + "-bad", bad_file)
    tap.ok(r.returncode == 2 and "%s:2:" % bad_file in r.stderr and
           "\"task\"" in r.stderr, "a bad task: exit 2, file, line and "
           "field named", diag=r.stderr)
    bad_file = write_lines([json.dumps(PROMPTS[0]), "",
                            json.dumps({"id": "e", "task": "enumerative",
                                        "prompt": "Name one"}),
                            json.dumps(PROMPTS[1])])
    r = ctl("eval", "-q", "-f", conf, "-o", out + "-bad", bad_file)
    tap.ok(r.returncode == 2 and "%s:3:" % bad_file in r.stderr and
           "\"answers\"" in r.stderr, "an enumerative prompt without "
           "answers: exit 2, line 3 named", diag=r.stderr)
    bad_file = write_lines([json.dumps(PROMPTS[0]), "{\"id\": \"y\","])
    r = ctl("eval", "-q", "-f", conf, "-o", out + "-bad", bad_file)
    tap.ok(r.returncode == 2 and "%s:2: not JSON" % bad_file in r.stderr,
           "a line that is not JSON: exit 2, named", diag=r.stderr)
    bad_file = write_lines([json.dumps(PROMPTS[0]), json.dumps(PROMPTS[0])])
    r = ctl("eval", "-q", "-f", conf, "-o", out + "-bad", bad_file)
    tap.ok(r.returncode == 2 and "already the id of line 1" in r.stderr,
           "a repeated id: exit 2, named", diag=r.stderr)
    r = ctl("eval", "-q", "-f", conf, "-m", "direct,nope", prompts)
    tap.ok(r.returncode == 2 and "unknown method \"nope\"" in r.stderr,
           "an unknown method: exit 2, named", diag=r.stderr)
    r = ctl("eval", "-q", "-f", conf, "--draws", "0", prompts)
    tap.ok(r.returncode == 2 and "--draws" in r.stderr,
           "--draws 0: exit 2, named", diag=r.stderr)
    tap.ok(not os.path.exists(out + "-bad"), "no output on bad input")
    fake.stop()
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
