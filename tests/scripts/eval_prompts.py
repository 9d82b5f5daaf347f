#!/usr/bin/env python3
"""eval_prompts: the checks of the prompt set that `vsampctl eval` runs,
tests/data/eval/prompts.jsonl (its fields: tests/data/eval/README.md).

    eval_prompts.py            a TAP test: the shipped set passes every
                               check, and each broken copy of it in
                               BROKEN fails with exactly its error
    eval_prompts.py FILE...    check FILEs; errors on stderr, exit 1

What is checked: every line is a JSON object (no duplicate keys, no
unknown field); ids are unique, lowercase and short enough to build job
ids from; the task is one of TASKS; prompts and contents are non-empty
text without stray whitespace or control characters; a dialogue turn is
told from the side the model plays (docs/schema.md, "Dialogue
simulation: whose turn is user"): a system persona first, then agent
(user) and simulated-user (assistant) turns in turn, the agent's last;
the answers of an enumerative prompt are canonical and distinct, every
alias names one of them and matches nothing else; the sets of KNOWN
have their sizes, and where Python knows a set (month and day names,
the Greek letters of Unicode) the very same members; and the set holds
enough of each kind of prompt.

Matching normalises as normalise() does; distinct means distinct after
it, so the set stays unambiguous for a matcher that normalises less.
Standard library only.
"""

import calendar
import json
import locale
import os
import re
import sys
import unicodedata

TASKS = ("poem", "story", "joke", "dialogue", "enumerative")
CREATIVE = ("poem", "story", "joke")
FIELDS = ("id", "task", "prompt", "messages", "answers", "aliases")
ROLES = ("system", "user", "assistant")
MIN_CREATIVE = 30
MIN_DIALOGUE = 4
MIN_ENUMERATIVE = 6

# The answer sets whose size is known, by id: (size, what they are).
KNOWN = {
    "enum-us-state": (50, "the US states"),
    "enum-planet": (8, "the planets of the solar system"),
    "enum-weekday": (7, "the days of the week"),
    "enum-month": (12, "the months of the year"),
    "enum-chess-piece": (6, "the kinds of chess piece"),
    "enum-continent": (7, "the continents (seven-continent model)"),
    "enum-noble-gas": (7, "the elements of group 18"),
    "enum-greek-letter": (24, "the letters of the Greek alphabet"),
    "enum-zodiac-sign": (12, "the signs of the zodiac"),
    "enum-canadian-province": (10, "the provinces of Canada"),
}

ID_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*\Z")
ID_MAX = 64
_ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")
_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                       "abcdefghijklmnopqrstuvwxyz")
_QUOTES = "\"'\u2018\u2019\u201c\u201d"
_TRAILING = ".!?,;:"


def normalise(text):
    """The form in which a model's answer and the answers are compared:
    ASCII letters lowercased (other characters as they are), runs of
    ASCII whitespace made one space, trimmed, then surrounding quotes
    and trailing punctuation (. ! ? , ; :) stripped, until none is
    left."""
    s = _ASCII_SPACE.sub(" ", text.translate(_LOWER)).strip(" ")
    while True:
        t = s.rstrip(_TRAILING).strip(" ")
        if len(t) >= 2 and t[0] in _QUOTES and t[-1] in _QUOTES:
            t = t[1:-1].strip(" ")
        if t == s:
            return s
        s = t


def _text_error(value, multiline=False):
    """Why value is not acceptable text, or None."""
    if not isinstance(value, str):
        return "must be a string"
    if not value.strip():
        return "must not be empty"
    if value != value.strip():
        return "has leading or trailing whitespace"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 (a lone surrogate)"
    for c in value:
        if c == "\n" and multiline:
            continue
        if unicodedata.category(c) == "Cc":
            return "contains a control character (U+%04X)" % ord(c)
    return None


def _no_dup_keys(pairs):
    seen = set()
    for k, _ in pairs:
        if k in seen:
            raise ValueError('key "%s" given more than once' % k)
        seen.add(k)
    return dict(pairs)


def _greek_name(c):
    """The letter a single Greek character is ("Lambda"), or None."""
    m = re.match(r"GREEK (?:SMALL|CAPITAL) (?:FINAL )?LETTER ([A-Z]+)\Z",
                 unicodedata.name(c, ""))
    if not m:
        return None
    name = m.group(1).title()
    return "Lambda" if name == "Lamda" else name


def _members(what, answers, want):
    """An error when answers are not the members want, else None."""
    missing = [w for w in want if w not in answers]
    extra = [a for a in answers if a not in want]
    if not missing and not extra:
        return None
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("not one of them: " + ", ".join(extra))
    return "answers: not %s (%s)" % (what, "; ".join(parts))


def _python_sets():
    """The known sets that Python itself can list, by id."""
    try:
        locale.setlocale(locale.LC_TIME, "C")
    except locale.Error:
        pass
    greek = []
    for cp in range(0x391, 0x3AA):
        name = _greek_name(chr(cp))
        if name:
            greek.append(name)
    return {
        "enum-month": list(calendar.month_name)[1:],
        "enum-weekday": list(calendar.day_name),
        "enum-greek-letter": greek,
    }


def _check_messages(msgs, err):
    if not isinstance(msgs, list) or not msgs:
        err("messages: must be a non-empty list")
        return
    for i, m in enumerate(msgs):
        where = "messages[%d]" % i
        if not isinstance(m, dict) or sorted(m) != ["content", "role"]:
            err("%s: must be an object with role and content only" % where)
            return
        if m["role"] not in ROLES:
            err("%s.role: must be system, user or assistant" % where)
            return
        why = _text_error(m["content"], multiline=True)
        if why:
            err("%s.content: %s" % (where, why))
            return
    if msgs[0]["role"] != "system":
        err("messages[0].role: must be system: the persona of the "
            "simulated user comes first")
        return
    for i, m in enumerate(msgs[1:], 1):
        want = "user" if i % 2 == 1 else "assistant"
        if m["role"] != want:
            err("messages[%d].role: must be %s: after the persona, agent "
                "(user) and simulated-user (assistant) turns alternate, "
                "the agent's first" % (i, want))
            return
    if msgs[-1]["role"] != "user":
        err("messages: the last message must have role user (the agent's "
            "turn the model answers)")


def _check_answers(entry, err):
    """Checks answers and aliases; returns the answers when usable."""
    answers = entry.get("answers")
    if not isinstance(answers, list) or not answers:
        err("answers: must be a non-empty list of strings")
        return None
    seen = {}
    ok = True
    for i, a in enumerate(answers):
        why = _text_error(a)
        if why is None and normalise(a) != a.translate(_LOWER):
            why = "is not a canonical spelling (whitespace, quotes or " \
                  "trailing punctuation)"
        if why:
            err("answers[%d]: %s" % (i, why))
            ok = False
            continue
        key = normalise(a)
        if key in seen:
            j = seen[key]
            err('answers[%d]: "%s" is the same answer as answers[%d] "%s"'
                % (i, a, j, answers[j]))
            ok = False
            continue
        seen[key] = i
    aliases = entry.get("aliases", {})
    if not isinstance(aliases, dict):
        err("aliases: must be an object of lists of strings")
        return None
    owner = {k: '"%s"' % answers[i] for k, i in seen.items()}
    for canon, variants in aliases.items():
        where = 'aliases["%s"]' % canon
        if canon not in answers:
            err('aliases: "%s" is not one of the answers' % canon)
            ok = False
            continue
        if not isinstance(variants, list) or not variants:
            err("%s: must be a non-empty list of strings" % where)
            ok = False
            continue
        for i, v in enumerate(variants):
            why = _text_error(v)
            if why:
                err("%s[%d]: %s" % (where, i, why))
                ok = False
                continue
            key = normalise(v)
            if not key:
                err("%s[%d]: is empty once normalised" % (where, i))
                ok = False
            elif key == normalise(canon):
                err('%s[%d]: "%s" is the answer itself' % (where, i, v))
                ok = False
            elif key in owner:
                err('%s[%d]: "%s" is already %s' % (where, i, v,
                                                    owner[key]))
                ok = False
            else:
                owner[key] = 'an alias of "%s"' % canon
                g = _greek_name(v) if len(v) == 1 else None
                if g is not None and g != canon:
                    err('%s[%d]: "%s" is the Greek letter %s'
                        % (where, i, v, g))
                    ok = False
    return answers if ok else None


def _check_entry(entry, err, python_sets):
    """The checks of one parsed line that need no other line."""
    for k in entry:
        if k not in FIELDS:
            err('unknown field "%s"' % k)
    task = entry.get("task")
    if task not in TASKS:
        err("task: must be poem, story, joke, dialogue or enumerative")
        return
    if task == "dialogue":
        if "prompt" in entry:
            err("prompt: not for a dialogue turn (the agent's latest turn "
                "is the last message)")
        _check_messages(entry.get("messages"), err)
    else:
        if "messages" in entry:
            err("messages: only for dialogue turns")
        why = _text_error(entry.get("prompt"), multiline=True) \
            if "prompt" in entry else "is required"
        if why:
            err("prompt: %s" % why)
    if task != "enumerative":
        for k in ("answers", "aliases"):
            if k in entry:
                err("%s: only for enumerative prompts" % k)
        return
    answers = _check_answers(entry, err)
    known = KNOWN.get(entry.get("id"))
    if answers is None or known is None:
        return
    size, what = known
    if len(answers) != size:
        err("answers: %d given, %s are %d" % (len(answers), what, size))
    want = python_sets.get(entry["id"])
    if want is not None:
        why = _members(what, answers, want)
        if why:
            err(why)


def validate(text):
    """The errors of a prompt set given as the text of its file, in
    order of line, then those of the set as a whole; [] when it passes."""
    errors = []
    python_sets = _python_sets()
    first = {}          # id -> line
    prompts = {}        # prompt text -> line
    counts = dict.fromkeys(TASKS, 0)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        return ["prompts: the file is empty"]
    for n, line in enumerate(lines, 1):
        if not line.strip():
            errors.append("line %d: empty line" % n)
            continue
        try:
            entry = json.loads(line, object_pairs_hook=_no_dup_keys)
        except json.JSONDecodeError as e:
            errors.append("line %d: invalid JSON at column %d: %s"
                          % (n, e.colno, e.msg))
            continue
        except ValueError as e:
            errors.append("line %d: %s" % (n, e))
            continue
        if not isinstance(entry, dict):
            errors.append("line %d: not a JSON object" % n)
            continue
        eid = entry.get("id")
        if not isinstance(eid, str) or not ID_RE.match(eid) or \
                len(eid) > ID_MAX:
            errors.append("line %d: id: must be %d at most lowercase "
                          "letters, digits and single hyphens" % (n, ID_MAX))
            continue
        prefix = "line %d (%s): " % (n, eid)
        if eid in first:
            errors.append(prefix + "id already used on line %d" % first[eid])
            continue
        first[eid] = n

        def err(msg, prefix=prefix):
            errors.append(prefix + msg)
        _check_entry(entry, err, python_sets)
        if entry.get("task") in TASKS:
            counts[entry["task"]] += 1
        p = entry.get("prompt")
        if isinstance(p, str):
            if p in prompts:
                err("prompt: the same as on line %d" % prompts[p])
            else:
                prompts[p] = n
    creative = sum(counts[t] for t in CREATIVE)
    if creative < MIN_CREATIVE:
        errors.append("prompts: %d creative prompts (poem, story, joke), "
                      "want at least %d" % (creative, MIN_CREATIVE))
    for t in CREATIVE:
        if counts[t] == 0:
            errors.append("prompts: no %s prompt" % t)
    if counts["dialogue"] < MIN_DIALOGUE:
        errors.append("prompts: %d dialogue turns, want at least %d"
                      % (counts["dialogue"], MIN_DIALOGUE))
    if counts["enumerative"] < MIN_ENUMERATIVE:
        errors.append("prompts: %d enumerative prompts, want at least %d"
                      % (counts["enumerative"], MIN_ENUMERATIVE))
    for kid, (_, what) in KNOWN.items():
        if kid not in first:
            errors.append('prompts: no entry "%s" (%s)' % (kid, what))
    return errors


# ---- the TAP test -----------------------------------------------------

SRCDIR = os.environ.get("VSAMPD_SRCDIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
PROMPTS = os.path.join(SRCDIR, "tests", "data", "eval", "prompts.jsonl")


def _edit(eid, fn):
    """A broken copy: entry eid changed in place by fn(entry, entries)."""
    def make(entries):
        for e in entries:
            if e["id"] == eid:
                fn(e, entries)
                return entries
        raise KeyError(eid)
    return make


def _append(line):
    return lambda entries: entries + [line]


def _drop(pred):
    return lambda entries: [e for e in entries
                            if isinstance(e, str) or not pred(e)]


def _set(key, value):
    def fn(e, _):
        e[key] = value
    return fn


def _rename(old, new):
    """An answer replaced, its aliases (if any) dropped."""
    def fn(e, _):
        e["answers"][e["answers"].index(old)] = new
        e["aliases"].pop(old, None)
    return fn


def _move_alias(variant, src, dst):
    def fn(e, _):
        e["aliases"][src].remove(variant)
        e["aliases"][dst].append(variant)
    return fn


def _prompt_of(eid):
    def fn(e, entries):
        e["prompt"] = [x for x in entries if x["id"] == eid][0]["prompt"]
    return fn


def _creative(e):
    return e["task"] in CREATIVE


# Each broken copy of the shipped set: what is wrong, how to make it
# from the parsed entries (a str is a raw line), and the errors it must
# get, exactly (one ending in "..." is a prefix). {id} stands for the
# line of that id in the shipped set, {N} for the line after its last.
BROKEN = [
    ("a line that is not JSON",
     _append('{"id": "poem-x", "task": "poem",'),
     ["line {N}: invalid JSON at column 33: ..."]),
    ("a key given twice",
     _append('{"id": "poem-x", "task": "poem", "task": "joke", '
             '"prompt": "Write a poem."}'),
     ['line {N}: key "task" given more than once']),
    ("a line that is not an object",
     _append('["poem"]'), ["line {N}: not a JSON object"]),
    ("an empty line",
     lambda entries: entries[:2] + [""] + entries[2:],
     ["line 3: empty line"]),
    ("an empty file", lambda entries: [], ["prompts: the file is empty"]),
    ("an id with capitals and a space",
     _edit("poem-bees", _set("id", "Poem Bees")),
     ["line {poem-bees}: id: must be 64 at most lowercase letters, digits "
      "and single hyphens"]),
    ("an id used twice",
     _edit("poem-kettle", _set("id", "poem-bees")),
     ["line {poem-bees} (poem-bees): id already used on line "
      "{poem-kettle}"]),
    ("an unknown task",
     _edit("joke-pirates", _set("task", "limerick")),
     ["line {joke-pirates} (joke-pirates): task: must be poem, story, "
      "joke, dialogue or enumerative"]),
    ("an unknown field",
     _edit("enum-planet", _set("answer", ["Mars"])),
     ['line {enum-planet} (enum-planet): unknown field "answer"']),
    ("no prompt",
     _edit("story-dry-town", lambda e, _: e.pop("prompt")),
     ["line {story-dry-town} (story-dry-town): prompt: is required"]),
    ("a prompt with a trailing space",
     _edit("poem-orchard", lambda e, _: e.update(prompt=e["prompt"] + " ")),
     ["line {poem-orchard} (poem-orchard): prompt: has leading or "
      "trailing whitespace"]),
    ("a prompt with a tab",
     _edit("poem-orchard", _set("prompt", "Write a poem\tabout apples.")),
     ["line {poem-orchard} (poem-orchard): prompt: contains a control "
      "character (U+0009)"]),
    ("a prompt with a lone surrogate",
     _edit("poem-orchard", _set("prompt", "Write a poem \ud800.")),
     ["line {poem-orchard} (poem-orchard): prompt: is not valid UTF-8 "
      "(a lone surrogate)"]),
    ("a prompt given twice",
     _edit("joke-dentist", _prompt_of("joke-penguins")),
     ["line {joke-dentist} (joke-dentist): prompt: the same as on line "
      "{joke-penguins}"]),
    ("a prompt on a dialogue turn",
     _edit("dlg-wrong-size-shoes", _set("prompt", "Hello.")),
     ["line {dlg-wrong-size-shoes} (dlg-wrong-size-shoes): prompt: not "
      "for a dialogue turn (the agent's latest turn is the last message)"]),
    ("messages on a poem",
     _edit("poem-bees", _set("messages", [{"role": "user",
                                           "content": "Hi."}])),
     ["line {poem-bees} (poem-bees): messages: only for dialogue turns"]),
    ("answers on a joke",
     _edit("joke-wifi", _set("answers", ["A"])),
     ["line {joke-wifi} (joke-wifi): answers: only for enumerative "
      "prompts"]),
    ("a dialogue ending with the simulated user's turn",
     _edit("dlg-clinic-reschedule", lambda e, _: e["messages"].append(
         {"role": "assistant", "content": "It's Sam Reyes."})),
     ["line {dlg-clinic-reschedule} (dlg-clinic-reschedule): messages: "
      "the last message must have role user (the agent's turn the model "
      "answers)"]),
    ("a dialogue without its persona",
     _edit("dlg-fractions-student", lambda e, _: e["messages"].pop(0)),
     ["line {dlg-fractions-student} (dlg-fractions-student): "
      "messages[0].role: must be system: the persona of the simulated "
      "user comes first"]),
    ("a dialogue with two agent turns in a row",
     _edit("dlg-internet-drops", lambda e, _: e["messages"].pop(4)),
     ["line {dlg-internet-drops} (dlg-internet-drops): messages[4].role: "
      "must be assistant: after the persona, agent (user) and "
      "simulated-user (assistant) turns alternate, the agent's first"]),
    ("a dialogue with an unknown role",
     _edit("dlg-internet-drops", lambda e, _: e["messages"][1].update(
         role="agent")),
     ["line {dlg-internet-drops} (dlg-internet-drops): messages[1].role: "
      "must be system, user or assistant"]),
    ("no answers",
     _edit("enum-chess-piece", _set("answers", [])),
     ["line {enum-chess-piece} (enum-chess-piece): answers: must be a "
      "non-empty list of strings"]),
    ("an answer given twice in other case",
     _edit("enum-chess-piece", _rename("Pawn", "KING")),
     ['line {enum-chess-piece} (enum-chess-piece): answers[5]: "KING" is '
      'the same answer as answers[0] "King"']),
    ("an answer with a full stop",
     _edit("enum-planet", _rename("Mars", "Mars.")),
     ["line {enum-planet} (enum-planet): answers[3]: is not a canonical "
      "spelling (whitespace, quotes or trailing punctuation)"]),
    ("an alias of no answer",
     _edit("enum-us-state", lambda e, _: e["aliases"].update(
         {"Nueva York": ["NYC"]})),
     ['line {enum-us-state} (enum-us-state): aliases: "Nueva York" is not '
      'one of the answers']),
    ("an alias that is another answer",
     _edit("enum-continent", lambda e, _: e["aliases"].update(
         {"Europe": ["asia"]})),
     ['line {enum-continent} (enum-continent): aliases["Europe"][0]: '
      '"asia" is already "Asia"']),
    ("an alias that is another answer's alias",
     _edit("enum-us-state", lambda e, _: e["aliases"]["Iowa"].append(
         "in")),
     ['line {enum-us-state} (enum-us-state): aliases["Iowa"][1]: "in" is '
      'already an alias of "Indiana"']),
    ("an alias that is its own answer",
     _edit("enum-planet", lambda e, _: e["aliases"].update(
         {"Mars": ["MARS!"]})),
     ['line {enum-planet} (enum-planet): aliases["Mars"][0]: "MARS!" is '
      'the answer itself']),
    ("a Greek letter's glyph under another letter",
     _edit("enum-greek-letter", _move_alias("\u03c8", "Psi", "Beta")),
     ['line {enum-greek-letter} (enum-greek-letter): aliases["Beta"][2]: '
      '"\u03c8" is the Greek letter Psi']),
    ("a state given twice",
     _edit("enum-us-state", _rename("Wyoming", "Alabama")),
     ['line {enum-us-state} (enum-us-state): answers[49]: "Alabama" is '
      'the same answer as answers[0] "Alabama"']),
    ("a state left out",
     _edit("enum-us-state", lambda e, _: (e["answers"].remove("Wyoming"),
                                          e["aliases"].pop("Wyoming"))),
     ["line {enum-us-state} (enum-us-state): answers: 49 given, the US "
      "states are 50"]),
    ("Pluto among the planets",
     _edit("enum-planet", lambda e, _: e["answers"].append("Pluto")),
     ["line {enum-planet} (enum-planet): answers: 9 given, the planets of "
      "the solar system are 8"]),
    ("a month misspelt",
     _edit("enum-month", _rename("May", "Mai")),
     ["line {enum-month} (enum-month): answers: not the months of the "
      "year (missing May; not one of them: Mai)"]),
    ("a weekday misspelt",
     _edit("enum-weekday", _rename("Wednesday", "Wensday")),
     ["line {enum-weekday} (enum-weekday): answers: not the days of the "
      "week (missing Wednesday; not one of them: Wensday)"]),
    ("a Greek letter that is not one",
     _edit("enum-greek-letter", _rename("Omicron", "Digamma")),
     ["line {enum-greek-letter} (enum-greek-letter): answers: not the "
      "letters of the Greek alphabet (missing Omicron; not one of them: "
      "Digamma)"]),
    ("29 creative prompts",
     lambda entries: [e for e in entries if not _creative(e)] +
     [e for e in entries if _creative(e)][-29:],
     ["prompts: 29 creative prompts (poem, story, joke), want at least "
      "30"]),
    ("no joke",
     _drop(lambda e: e["task"] == "joke"),
     ["prompts: 24 creative prompts (poem, story, joke), want at least 30",
      "prompts: no joke prompt"]),
    ("3 dialogue turns",
     _drop(lambda e: e["id"] in ("dlg-wrong-size-shoes",
                                 "dlg-clinic-reschedule")),
     ["prompts: 3 dialogue turns, want at least 4"]),
    ("no planets",
     _drop(lambda e: e["id"] == "enum-planet"),
     ['prompts: no entry "enum-planet" (the planets of the solar system)']),
    ("5 enumerative prompts",
     _drop(lambda e: e["id"] in ("enum-us-state", "enum-planet",
                                 "enum-weekday", "enum-month",
                                 "enum-chess-piece")),
     ["prompts: 5 enumerative prompts, want at least 6",
      'prompts: no entry "enum-us-state" (the US states)',
      'prompts: no entry "enum-planet" (the planets of the solar system)',
      'prompts: no entry "enum-weekday" (the days of the week)',
      'prompts: no entry "enum-month" (the months of the year)',
      'prompts: no entry "enum-chess-piece" (the kinds of chess piece)']),
]


def _text(entries):
    return "".join((e if isinstance(e, str) else
                    json.dumps(e, ensure_ascii=False)) + "\n"
                   for e in entries)


def _matches(got, want):
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if w.endswith("...") and g.startswith(w[:-3]):
            continue
        if g != w:
            return False
    return True


def tap_main():
    import copy
    import subprocess
    import tempfile
    sys.path.insert(0, os.path.join(SRCDIR, "tests", "integration"))
    from vstest import Tap

    tap = Tap()
    with open(PROMPTS, encoding="utf-8") as f:
        shipped = f.read()
    errors = validate(shipped)
    tap.is_(errors, [], "tests/data/eval/prompts.jsonl passes every check")
    entries = [json.loads(line) for line in shipped.splitlines()]
    where = {e["id"]: n for n, e in enumerate(entries, 1)}
    where["N"] = len(entries) + 1
    counts = {t: sum(e["task"] == t for e in entries) for t in TASKS}
    tap.diag("%d prompts: %s" % (len(entries), ", ".join(
        "%d %s" % (counts[t], t) for t in TASKS)))
    # The copies above are written against these counts and lines.
    tap.is_((sum(counts[t] for t in CREATIVE), counts["joke"],
             counts["dialogue"]), (35, 11, 5),
            "the broken copies' counts are the shipped set's")
    for desc, make, want in BROKEN:
        got = validate(_text(make(copy.deepcopy(entries))))
        want = [w.format_map(where) for w in want]
        tap.ok(_matches(got, want), "rejected: " + desc,
               diag="got:  %r\nwant: %r" % (got, want))

    # The command line: errors on stderr with the file's name, exit 1.
    me = os.path.abspath(__file__)
    r = subprocess.run([sys.executable, me, PROMPTS], capture_output=True,
                       text=True)
    tap.ok(r.returncode == 0 and r.stderr == "",
           "eval_prompts.py FILE: the shipped set, exit 0",
           diag="status %d, stderr %r" % (r.returncode, r.stderr))
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl",
                                     encoding="utf-8") as f:
        f.write(_text(entries[:6] + ['{"id": "x"}']))
        f.flush()
        r = subprocess.run([sys.executable, me, f.name],
                           capture_output=True, text=True)
        want = ("eval_prompts: %s: line 7 (x): task: must be poem, story, "
                "joke, dialogue or enumerative\n" % f.name)
        tap.ok(r.returncode == 1 and r.stderr.startswith(want) and
               "creative prompts" in r.stderr,
               "eval_prompts.py FILE: a broken set, its errors, exit 1",
               diag="status %d, stderr %r" % (r.returncode, r.stderr))
    return tap.done()


def main(argv):
    if len(argv) < 2:
        return tap_main()
    status = 0
    for path in argv[1:]:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            sys.stderr.write("eval_prompts: %s: %s\n" % (path, e))
            status = 1
            continue
        for e in validate(text):
            sys.stderr.write("eval_prompts: %s: %s\n" % (path, e))
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
