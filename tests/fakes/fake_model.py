#!/usr/bin/env python3
"""fake_model: a deterministic, scriptable model server that speaks the
OpenAI chat completions API and the Anthropic Messages API.

vsampd's integration tests point a backend at this server instead of a
real model (tests/model/). Python 3 standard library only.

Endpoints (HTTP/1.1, keep-alive, Content-Length or chunked):
  POST /v1/chat/completions   a reply, scripted or generated
  POST /v1/messages           the same, in the Anthropic Messages API
  POST /v1/embeddings         hashed bag-of-words vectors (--embed-dim)
  GET  /health                {"status": "ok"}
  GET  /v1/models             one model
  GET  /stats                 request counters, for assertions
  POST /reset                 clear counters and sequence positions

Default chat behaviour: the reply follows what the request asks for.
With response_format (a JSON schema) the reply matches the schema:
{"responses": [...]} with maxItems items, with or without "probability",
or {"response": ...} / {"reasoning": ..., "response": ...} / {"seed": ...,
"response": ...}. Without it,
the system prompt (and, in later turns of a conversation, the last user
message) is read: the number of responses asked for ("5 responses", "five
candidates"), whether it mentions probabilities, whether it asks for
reasoning or for a "seed" key (ssot: a random string, then the
response), and any tail cap ("below 0.10"). A single response is plain
text. The texts are distinct, deterministic in the request, and differ
between repeated identical requests (the n independent calls of one job
send identical requests), so they never look like near-duplicates.
A chat request with "n" (an integer from 1 to 128) gets n choices, each
generated as if it were a request of its own (distinct texts), with the
prompt's tokens counted once in usage and the completion tokens summed;
a bad "n" is a 400 that names it.

Scripting: the user message holding "[[fake:NAME]]" (the last one that
has a marker) selects entry NAME of the --script file, a JSON object
{"NAME": entry, ...}. An entry named "default" replaces the default for
unmarked requests. Entry keys (all optional):
  content       reply text, verbatim
  contents      list: choice i of the reply gets item i, verbatim (the
                last one repeats)
  form          generated reply: auto, vs, vs_fenced, vs_xml, vs_percent,
                vs_confidence, vs_chatter, vs_trailing_comma, vs_noprob,
                vs_cot, list, single, cot_single, ssot, ssot_fenced,
                duplicates
  k             number of generated responses (default: from the request)
  vary          false: generated texts do not change between identical
                requests (for cross-job dedup tests); default true
  status        HTTP status (default 200); non-2xx get an OpenAI error body
  retry_after   Retry-After header value (string or number)
  headers       extra response headers {name: value}
  latency_ms    delay before answering
  body          raw HTTP body, verbatim (overrides everything else)
  malformed     "non_json" | "truncated" (valid framing, JSON cut in half)
                | "empty" (Content-Length: 0) | "short_body" (Content-Length
                larger than what is sent, then close)
  close         true: drop the connection without any reply
  chunked       true: send the body with chunked transfer encoding
  usage         {"prompt_tokens": a, "completion_tokens": b}, or null to
                leave usage out
  finish_reason default "stop"
  finish_reasons list: choice i of a reply of several gets item i (the
                last one repeats); finish_reason for what it leaves out
  choices       reply with this many choices whatever n asks (fewer or
                more than asked)
  sequence      list of entries, used one per request in turn; the last
                one repeats. Positions are kept per request body (so the
                retries of one call walk the sequence while other jobs
                with the same marker start their own), or per marker with
                "sequence_scope": "marker".
  embed_dim     (embeddings) vector size override

Options: --port N (0: pick a free port, print "PORT n" on stdout),
--port-file F, --script F, --log F (JSON lines: method, path, marker,
whether an Authorization header was present, never its value),
--log-bodies (add the parsed request body to each log line),
--require-key KEY (401 unless "Authorization: Bearer KEY"),
--parent-pid PID (exit when PID dies), --embed-dim N (default 64),
--tls-cert F --tls-key F (serve HTTPS with that PEM certificate chain and
key; the handshake runs in the connection's thread, and a client that
refuses the certificate is counted in /stats as "tls_failures").
SIGTERM and SIGINT stop it cleanly.
"""

import argparse
import hashlib
import http.server
import json
import math
import os
import re
import signal
import socket
import string
import ssl
import sys
import threading
import time

MARKER_RE = re.compile(r"\[\[fake:([A-Za-z0-9_.\-]+)\]\]")
TOKEN_RE = re.compile(r"[a-z0-9]+")

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11,
    "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
}
# "5 responses", "5 different responses", "five distinct, creative answers"
COUNT_RE = re.compile(
    r"\b(\d{1,3}|" + "|".join(NUMBER_WORDS) + r")\s+"
    r"(?:[a-z\-]+,?\s+){0,3}?"
    r"(?:responses|candidates|answers|alternatives|completions|outputs|"
    r"samples|options|replies|variations|items|ideas|continuations)\b",
    re.IGNORECASE)
NO_PROB_RE = re.compile(
    r"\b(?:do not|don't|never|no|without)\s+(?:[a-z]+\s+){0,3}?"
    r"(?:probabilit|confidence)")
TAIL_RE = re.compile(
    r"(?:below|less than|under|lower than|smaller than|at most)\s+"
    r"(\d*\.\d+|\d+(?:\.\d+)?\s*%)", re.IGNORECASE)

# Words for generated candidate texts: hashed choices from 256 words give
# candidates whose token sets barely overlap (no accidental near-dups).
WORDS = (
    "amber anchor apple arrow aspen atlas autumn badge bamboo banner barley "
    "basil beacon birch biscuit blossom boulder bramble breeze bridge "
    "bronze brook bubble cabin cactus candle canyon canvas carbon cargo "
    "castle cedar cellar chalk cherry chess cider cinder citrus clover "
    "cobalt comet copper coral cotton crane crater crystal cypress dahlia "
    "daisy dawn delta desert dew diamond dune eagle echo ember emerald "
    "falcon feather fern fiddle fig flame flint forest fossil fountain fox "
    "frost galaxy garnet garden glacier glade granite grape gravel harbor "
    "hazel heather heron hickory honey horizon iris island ivory ivy jade "
    "jasmine juniper kelp kettle kite lagoon lantern larch lava lemon "
    "lichen lilac linen lotus lunar maple marble marsh meadow mercury mesa "
    "mint mirror mist moss nectar nebula nutmeg oak oasis ocean olive onyx "
    "orchid otter owl paddle palm panda paper pebble pepper pine planet "
    "plum pollen poppy prairie quartz quill rain raven reed ribbon ridge "
    "river robin rose ruby saffron sage salmon sand sapphire scarlet shell "
    "sierra silver slate snow sparrow spruce star stone storm summit sun "
    "swan thistle thunder tide timber topaz tulip tundra valley velvet "
    "violet walnut willow wind winter wren yarrow zephyr zinc acorn alder "
    "apricot aurora bay bison bluff bramblewood brine buckle burrow butter "
    "calico caramel cavern chime cinnamon cliff cloud cocoa cove crimson "
    "crow current dusk elm fjord flax glow gull hollow hop indigo inlet "
    "jasper lark loom magnet mango mulberry nickel nook opal orbit parsley "
    "peach pewter pilot quince rowan rust sable sorrel spire thyme tin "
    "umber vapor wheat whisper yew").split()


def tokens(text):
    return TOKEN_RE.findall(text.lower())


def sha(data):
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()


def gen_text(seed, i):
    """Candidate i: a short phrase picked by hashing (seed, i)."""
    h = hashlib.sha256(("%s/%d" % (seed, i)).encode()).digest()
    words = [WORDS[b % len(WORDS)] for b in h[:6]]
    return "Candidate %d: %s" % (i + 1, " ".join(words))


def gen_probs(k, tail):
    """Decreasing probabilities summing to 1 (or each below tail)."""
    w = [float(k - i) for i in range(k)]
    s = sum(w)
    if tail is not None and tail > 0:
        # Each below the cap, as a tail-sampling prompt asks.
        return [round(tail * 0.9 * x / w[0], 4) for x in w]
    return [round(x / s, 4) for x in w]


class Analysis:
    """What a chat request asks for."""

    def __init__(self):
        self.k = 1
        self.listed = False      # a list of responses
        self.prob = False        # with probabilities
        self.cot = False         # reasoning first
        self.json_single = False  # single response as {"response": ...}
        self.seed = False        # ssot: {"seed": ..., "response": ...}
        self.tail = None


def find_count(texts):
    """The first "N responses" phrase in texts, or None."""
    for t in texts:
        m = COUNT_RE.search(t)
        if m:
            w = m.group(1).lower()
            n = NUMBER_WORDS.get(w) or int(w)
            if n >= 1:
                return n
    return None


def analyse(req):
    a = Analysis()
    msgs = [m for m in (req.get("messages") or []) if isinstance(m, dict)]
    system = "\n".join(str(m.get("content", "")) for m in msgs
                       if m.get("role") == "system")
    users = [str(m.get("content", "")) for m in msgs
             if m.get("role") == "user"]
    later_turn = any(m.get("role") == "assistant" for m in msgs)
    # A later turn's user message may ask for "k further alternatives";
    # otherwise the system prompt says how many.
    n = find_count(([users[-1]] if later_turn and users else []) + [system])
    rf = req.get("response_format")
    schema = None
    if isinstance(rf, dict):
        js = rf.get("json_schema")
        if isinstance(js, dict):
            schema = js.get("schema", js)
        elif isinstance(rf.get("schema"), dict):
            schema = rf["schema"]
    if isinstance(schema, dict):
        props = schema.get("properties") or {}
        a.cot = "reasoning" in props
        a.seed = "seed" in props
        if "responses" in props:
            arr = props["responses"] or {}
            items = (arr.get("items") or {}).get("properties") or {}
            a.listed = True
            a.prob = "probability" in items or "confidence" in items
            a.k = int(arr.get("maxItems") or 0) or n or 5
        else:
            a.json_single = True
    else:
        low = system.lower()
        a.cot = "reasoning" in low
        a.listed = (n is not None and n > 1) or '"responses"' in system
        if '"responses"' in system:
            # A format example says exactly which keys are wanted.
            a.prob = '"probability"' in system or '"confidence"' in system
        else:
            a.prob = (("probabilit" in low or "confidence" in low) and
                      not NO_PROB_RE.search(low))
        a.json_single = a.cot and not a.listed
        # ssot's format example names the key; a list never has one.
        a.seed = '"seed"' in system and not a.listed
        if a.listed:
            a.k = n or 5
    for t in [system] + users[-1:]:
        m = TAIL_RE.search(t)
        if m:
            v = m.group(1).replace(" ", "")
            a.tail = float(v[:-1]) / 100 if v.endswith("%") else float(v)
            break
    return a


def render(form, a, seed, k):
    """Generated reply content of the given form."""
    texts = [gen_text(seed, i) for i in range(k)]
    probs = gen_probs(k, a.tail)
    if form == "auto":
        if a.listed:
            form = "vs" if a.prob else "list"
            if a.cot:
                form = "vs_cot" if a.prob else "list_cot"
        elif a.seed:
            form = "ssot"
        else:
            form = "cot_single" if a.cot else (
                "json_single" if a.json_single else "single")
    if form == "single":
        return texts[0]
    if form == "json_single":
        return json.dumps({"response": texts[0]})
    if form in ("ssot", "ssot_fenced"):
        # The seed: 16 to 31 letters and digits from the request's seed,
        # so that it varies with the texts.
        h = hashlib.sha256(("seed/" + seed).encode()).digest()
        abc = string.ascii_letters + string.digits
        rand = "".join(abc[b % len(abc)] for b in h[:16 + h[31] % 16])
        body = json.dumps({"seed": rand, "response": texts[0]})
        if form == "ssot":
            return body
        return "Seed first, as asked:\n```json\n" + body + "\n```\n"
    if form == "cot_single":
        return json.dumps({"reasoning": "Thinking about %s." % seed[:8],
                           "response": texts[0]})
    if form in ("list", "list_cot"):
        obj = {"responses": [{"text": t} for t in texts]}
        if form == "list_cot":
            obj = {"reasoning": "Listing %d options." % k, **obj}
        return json.dumps(obj)
    items = [{"text": t, "probability": p} for t, p in zip(texts, probs)]
    if form == "vs":
        return json.dumps({"responses": items})
    if form == "vs_cot":
        return json.dumps({"reasoning": "Considering %d options." % k,
                           "responses": items})
    if form == "vs_fenced":
        return ("Here you go:\n```json\n" +
                json.dumps({"responses": items}, indent=2) + "\n```\n")
    if form == "vs_xml":
        return "\n".join(
            "<response><text>%s</text><probability>%s</probability>"
            "</response>" % (t, p) for t, p in zip(texts, probs))
    if form == "vs_percent":
        return json.dumps({"responses": [
            {"text": t, "probability": "%g%%" % round(p * 100, 2)}
            for t, p in zip(texts, probs)]})
    if form == "vs_confidence":
        return json.dumps({"responses": [
            {"text": t, "confidence": p} for t, p in zip(texts, probs)]})
    if form == "vs_chatter":
        return ("Sure! I thought about it carefully.\n" +
                json.dumps({"responses": items}) +
                "\nLet me know if you want more.")
    if form == "vs_trailing_comma":
        body = ",\n".join('  {"text": %s, "probability": %s,}' %
                          (json.dumps(t), p) for t, p in zip(texts, probs))
        return '{"responses": [\n' + body + ',\n]}'
    if form == "vs_noprob":
        return json.dumps({"responses": [{"text": t} for t in texts]})
    if form == "duplicates":
        # Every text twice, once with different case and spacing.
        out = []
        for t, p in zip(texts, probs):
            out.append({"text": t, "probability": p / 2})
            out.append({"text": "  " + t.upper() + " ", "probability": p / 2})
        return json.dumps({"responses": out})
    raise ValueError("unknown form %r" % form)


class State:
    """Counters and sequence positions shared by all handler threads."""

    def __init__(self, script, log, log_bodies, require_key, embed_dim):
        self.lock = threading.Lock()
        self.script = script
        self.logf = log
        self.log_bodies = log_bodies
        self.require_key = require_key
        self.embed_dim = embed_dim
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = 0
            self.by_path = {}
            self.by_marker = {}
            self.by_status = {}
            self.seq_pos = {}
            self.occurrence = {}
            self.tls_failures = 0
            self.inflight = 0
            self.max_inflight = 0

    def enter(self):
        with self.lock:
            self.inflight += 1
            self.max_inflight = max(self.max_inflight, self.inflight)

    def leave(self):
        with self.lock:
            self.inflight -= 1

    def next_seq(self, key):
        with self.lock:
            i = self.seq_pos.get(key, 0)
            self.seq_pos[key] = i + 1
            return i

    def next_occurrence(self, key):
        with self.lock:
            i = self.occurrence.get(key, 0)
            self.occurrence[key] = i + 1
            return i

    def count(self, path, marker, status):
        with self.lock:
            self.requests += 1
            self.by_path[path] = self.by_path.get(path, 0) + 1
            m = marker or ""
            self.by_marker[m] = self.by_marker.get(m, 0) + 1
            s = str(status)
            self.by_status[s] = self.by_status.get(s, 0) + 1

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "by_path": dict(self.by_path),
                    "by_marker": dict(self.by_marker),
                    "by_status": dict(self.by_status),
                    "tls_failures": self.tls_failures,
                    "inflight": self.inflight,
                    "max_inflight": self.max_inflight}

    def log(self, rec):
        if self.logf is None:
            return
        line = json.dumps(rec, sort_keys=True) + "\n"
        with self.lock:
            self.logf.write(line)
            self.logf.flush()


class DropConnection(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai/1"
    # Slow clients must not pin threads forever.
    timeout = 300

    def log_message(self, fmt, *args):
        pass

    # ---- plumbing -----------------------------------------------------

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, status, body, ctype="application/json", headers=None,
             chunked=False, declared_len=None):
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogatepass")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(
                len(body) if declared_len is None else declared_len))
        self.end_headers()
        if chunked:
            step = max(1, len(body) // 3 or 1)
            for i in range(0, len(body), step):
                part = body[i:i + step]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)
        self.wfile.flush()

    def send_json(self, status, obj, **kw):
        self.send(status, json.dumps(obj), **kw)

    def error_body(self, status, message, etype=None):
        return {"error": {"message": message,
                          "type": etype or ("rate_limit_error"
                                            if status == 429 else
                                            "server_error" if status >= 500
                                            else "invalid_request_error"),
                          "code": status}}

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise DropConnection()

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except DropConnection:
            self.close_connection = True
        except (ConnectionError, BrokenPipeError, socket.timeout):
            self.close_connection = True

    # ---- routes -------------------------------------------------------

    def do_GET(self):
        st = self.server.state
        path = self.path.split("?")[0]
        if path in ("/health", "/healthz", "/v1/health"):
            self.send_json(200, {"status": "ok"})
        elif path == "/stats":
            self.send_json(200, st.stats())
        elif path in ("/v1/models", "/models"):
            self.send_json(200, {"object": "list", "data": [
                {"id": "fake", "object": "model", "owned_by": "vsampd"}]})
        else:
            self.send_json(404, self.error_body(404, "no route " + path))

    def do_POST(self):
        self.server.state.enter()
        try:
            self.post()
        finally:
            self.server.state.leave()

    def post(self):
        st = self.server.state
        path = self.path.split("?")[0]
        body = self.read_body()
        anthropic = path in ("/v1/messages", "/messages")
        if anthropic:
            # The Messages API: the key in x-api-key, a version header.
            auth = self.headers.get("x-api-key")
            want = st.require_key
        else:
            auth = self.headers.get("Authorization")
            want = "Bearer %s" % st.require_key
        rec = {"t": round(time.time(), 3), "method": "POST", "path": path,
               "auth": auth is not None}
        if anthropic:
            rec["anthropic_version"] = self.headers.get("anthropic-version")
            rec["authorization_header"] = \
                self.headers.get("Authorization") is not None
        if st.require_key is not None:
            rec["auth_ok"] = auth == want
        if path == "/reset":
            st.reset()
            self.send_json(200, {"status": "ok"})
            return
        try:
            req = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            req = None
        if not isinstance(req, dict):
            rec["status"] = 400
            st.count(path, None, 400)
            st.log(rec)
            self.send_json(400, self.error_body(400, "body is not a JSON "
                                                     "object"))
            return
        if st.log_bodies:
            rec["body"] = req
        if st.require_key is not None and not rec["auth_ok"]:
            rec["status"] = 401
            st.count(path, None, 401)
            st.log(rec)
            self.send_json(401, self.error_body(401, "invalid api key",
                                                "authentication_error"))
            return
        if path in ("/v1/chat/completions", "/chat/completions"):
            self.chat(req, rec)
        elif anthropic:
            self.messages(req, rec)
        elif path in ("/v1/embeddings", "/embeddings"):
            self.embeddings(req, rec)
        else:
            rec["status"] = 404
            st.count(path, None, 404)
            st.log(rec)
            self.send_json(404, self.error_body(404, "no route " + path))

    # ---- scripted behaviour ---------------------------------------------

    def pick_entry(self, marker, req_key, rec):
        """The script entry for this request, with the sequence applied."""
        st = self.server.state
        name = marker if marker is not None else "default"
        entry = st.script.get(name) if not name.startswith("_") else None
        if entry is None:
            if marker is not None:
                return None
            entry = {}
        seq = entry.get("sequence")
        if isinstance(seq, list) and seq:
            scope = entry.get("sequence_scope", "request")
            key = name if scope == "marker" else name + "/" + req_key
            i = st.next_seq(key)
            rec["seq"] = i
            step = dict(entry)
            step.pop("sequence", None)
            step.update(seq[min(i, len(seq) - 1)])
            entry = step
        return entry

    def apply_transport(self, entry, rec, path, marker):
        """Latency, dropped connections and raw bodies. True if replied."""
        st = self.server.state
        lat = entry.get("latency_ms")
        if lat:
            time.sleep(float(lat) / 1000.0)
        status = int(entry.get("status", 200))
        headers = dict(entry.get("headers") or {})
        if entry.get("retry_after") is not None:
            headers["Retry-After"] = entry["retry_after"]
        if entry.get("close"):
            rec["status"] = "close"
            st.count(path, marker, "close")
            st.log(rec)
            self.drop()
        mal = entry.get("malformed")
        raw = entry.get("body")
        if raw is not None or mal:
            rec["status"] = status
            rec["malformed"] = mal or "body"
            st.count(path, marker, status)
            st.log(rec)
            if raw is not None:
                self.send(status, raw, headers=headers,
                          chunked=bool(entry.get("chunked")))
            elif mal == "non_json":
                self.send(status, "<html><body>502 Bad Gateway</body>"
                          "</html>\n", ctype="text/html", headers=headers)
            elif mal == "truncated":
                full = json.dumps({"id": "chatcmpl-fake", "choices": [
                    {"index": 0, "message": {"role": "assistant",
                     "content": "cut short"}}]})
                self.send(status, full[:len(full) // 2], headers=headers)
            elif mal == "empty":
                self.send(status, b"", headers=headers)
            elif mal == "short_body":
                full = b'{"id": "chatcmpl-fake", "choices": ['
                self.send(status, full, headers=headers,
                          declared_len=len(full) + 500)
                self.drop()
            else:
                raise ValueError("unknown malformed %r" % mal)
            return True
        if not 200 <= status < 300:
            rec["status"] = status
            st.count(path, marker, status)
            st.log(rec)
            self.send_json(status, self.error_body(
                status, entry.get("message", "fake error %d" % status)),
                headers=headers, chunked=bool(entry.get("chunked")))
            return True
        return False

    def chat(self, req, rec):
        st = self.server.state
        path = rec["path"]
        msgs = req.get("messages")
        if not isinstance(msgs, list) or not msgs:
            rec["status"] = 400
            st.count(path, None, 400)
            st.log(rec)
            self.send_json(400, self.error_body(400, "messages missing"))
            return
        marker = None
        for m in reversed(msgs):
            if isinstance(m, dict) and m.get("role") == "user":
                found = MARKER_RE.search(str(m.get("content", "")))
                if found:
                    marker = found.group(1)
                    break
        rec["marker"] = marker
        rec["model"] = req.get("model")
        rec["response_format"] = "response_format" in req
        req_key = sha(json.dumps(msgs, sort_keys=True))
        entry = self.pick_entry(marker, req_key, rec)
        if entry is None:
            rec["status"] = 400
            st.count(path, marker, 400)
            st.log(rec)
            self.send_json(400, self.error_body(
                400, "fake: no script entry %r" % marker))
            return
        if self.apply_transport(entry, rec, path, marker):
            return
        n = req.get("n", 1)
        if isinstance(n, bool) or not isinstance(n, int) or \
                not 1 <= n <= 128:
            rec["status"] = 400
            st.count(path, marker, 400)
            st.log(rec)
            self.send_json(400, self.error_body(
                400, "n must be an integer from 1 to 128"))
            return
        rec["n"] = n
        a = analyse(req)
        rec["k"] = a.k
        nchoices = int(entry.get("choices") or n)
        contents = []
        for i in range(nchoices):
            if entry.get("contents"):
                c = entry["contents"]
                contents.append(str(c[min(i, len(c) - 1)]))
                rec["form"] = "contents"
                continue
            if "content" in entry:
                contents.append(str(entry["content"]))
                rec["form"] = "content"
                continue
            form = entry.get("form", "auto")
            k = int(entry.get("k") or a.k)
            occ = 0
            if entry.get("vary", True):
                occ = st.next_occurrence(req_key)
            seed = "%s/%d" % (req_key[:16], occ)
            contents.append(render(form, a, seed, k))
            rec["form"] = form
        ptok = sum(len(tokens(str(m.get("content", ""))))
                   for m in msgs if isinstance(m, dict))
        reasons = entry.get("finish_reasons") or []
        choices = []
        for i, content in enumerate(contents):
            fr = (reasons[min(i, len(reasons) - 1)] if reasons
                  else entry.get("finish_reason", "stop"))
            choices.append({"index": i, "message": {
                "role": "assistant", "content": content},
                "finish_reason": fr})
        reply = {
            "id": "chatcmpl-fake-%d" % st.requests,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.get("model") or "fake",
            "choices": choices,
        }
        usage = entry.get("usage", {})
        if usage is not None:
            u = {"prompt_tokens": ptok,
                 "completion_tokens": sum(len(tokens(c))
                                          for c in contents)}
            u.update(usage)
            u["total_tokens"] = u["prompt_tokens"] + u["completion_tokens"]
            reply["usage"] = u
        rec["status"] = 200
        st.count(path, marker, 200)
        st.log(rec)
        headers = dict(entry.get("headers") or {})
        self.send_json(200, reply, headers=headers,
                       chunked=bool(entry.get("chunked")))

    def messages(self, req, rec):
        """The Anthropic Messages API: system at the top level, content
        as a string or text blocks, max_tokens required, no
        response_format; the reply's content is a list of blocks."""
        st = self.server.state
        path = rec["path"]
        problem = None
        if not rec.get("anthropic_version"):
            problem = "anthropic-version header missing"
        elif not isinstance(req.get("max_tokens"), int):
            problem = "max_tokens: Field required"
        elif "response_format" in req:
            problem = "response_format: Extra inputs are not permitted"
        elif not isinstance(req.get("messages"), list) or not req["messages"]:
            problem = "messages: Field required"
        elif any(isinstance(m, dict) and m.get("role") == "system"
                 for m in req["messages"]):
            problem = "messages: role system is not allowed (use system)"
        if problem is not None:
            rec["status"] = 400
            st.count(path, None, 400)
            st.log(rec)
            self.send_json(400, {"type": "error", "error": {
                "type": "invalid_request_error", "message": problem}})
            return

        def text_of(c):
            if isinstance(c, list):
                return "".join(str(b.get("text", "")) for b in c
                               if isinstance(b, dict))
            return str(c)
        system = req.get("system")
        msgs = ([{"role": "system", "content": text_of(system)}]
                if system else []) + [
            {"role": m.get("role"), "content": text_of(m.get("content"))}
            for m in req["messages"] if isinstance(m, dict)]
        marker = None
        for m in reversed(msgs):
            if m.get("role") == "user":
                found = MARKER_RE.search(m["content"])
                if found:
                    marker = found.group(1)
                    break
        rec["marker"] = marker
        rec["model"] = req.get("model")
        rec["top_p"] = req.get("top_p")
        rec["max_tokens"] = req.get("max_tokens")
        req_key = sha(json.dumps(msgs, sort_keys=True))
        entry = self.pick_entry(marker, req_key, rec)
        if entry is None:
            rec["status"] = 400
            st.count(path, marker, 400)
            st.log(rec)
            self.send_json(400, self.error_body(
                400, "fake: no script entry %r" % marker))
            return
        if self.apply_transport(entry, rec, path, marker):
            return
        a = analyse({"messages": msgs})
        if "content" in entry:
            content = str(entry["content"])
        else:
            occ = 0
            if entry.get("vary", True):
                occ = st.next_occurrence(req_key)
            content = render(entry.get("form", "auto"), a,
                             "%s/%d" % (req_key[:16], occ),
                             int(entry.get("k") or a.k))
        reply = {"id": "msg_fake_%d" % st.requests, "type": "message",
                 "role": "assistant", "model": req.get("model") or "fake",
                 "content": [{"type": "text", "text": content}],
                 "stop_reason": entry.get("finish_reason", "end_turn"),
                 "usage": {"input_tokens": sum(len(tokens(m["content"]))
                                               for m in msgs),
                           "output_tokens": len(tokens(content))}}
        rec["status"] = 200
        st.count(path, marker, 200)
        st.log(rec)
        self.send_json(200, reply, headers=dict(entry.get("headers") or {}))

    def embeddings(self, req, rec):
        st = self.server.state
        path = rec["path"]
        inp = req.get("input")
        if isinstance(inp, str):
            inp = [inp]
        if not isinstance(inp, list) or not all(isinstance(x, str)
                                                for x in inp):
            rec["status"] = 400
            st.count(path, None, 400)
            st.log(rec)
            self.send_json(400, self.error_body(400, "input must be a "
                                                     "string or strings"))
            return
        marker = None
        for x in inp:
            found = MARKER_RE.search(x)
            if found:
                marker = found.group(1)
                break
        rec["marker"] = marker
        rec["n"] = len(inp)
        entry = self.pick_entry(marker, sha(json.dumps(inp)), rec)
        if entry is None:
            entry = {}
        if self.apply_transport(entry, rec, path, marker):
            return
        dim = int(entry.get("embed_dim") or st.embed_dim)
        data = [{"object": "embedding", "index": i,
                 "embedding": embed(x, dim)} for i, x in enumerate(inp)]
        ntok = sum(len(tokens(x)) for x in inp)
        rec["status"] = 200
        st.count(path, marker, 200)
        st.log(rec)
        self.send_json(200, {"object": "list", "data": data,
                             "model": req.get("model") or "fake-embed",
                             "usage": {"prompt_tokens": ntok,
                                       "total_tokens": ntok}})


def embed(text, dim):
    """Hashed bag of words, L2-normalised; texts without tokens get e0."""
    v = [0.0] * dim
    for t in tokens(text):
        h = hashlib.sha256(t.encode()).digest()
        idx = int.from_bytes(h[:4], "little") % dim
        v[idx] += 1.0 if h[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in v))
    if norm == 0:
        v[0] = 1.0
        return v
    return [round(x / norm, 6) for x in v]


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024
    tls = None          # an ssl.SSLContext: serve HTTPS

    def finish_request(self, request, client_address):
        if self.tls is None:
            return super().finish_request(request, client_address)
        # Handshake here, in the connection's thread, not in accept():
        # a client that never finishes it must not block the others.
        request.settimeout(10)
        try:
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with self.state.lock:
                self.state.tls_failures += 1
            return
        try:
            conn.settimeout(None)
            super().finish_request(conn, client_address)
        finally:
            conn.close()


def load_script(path):
    if not path:
        return {}
    with open(path, encoding="utf-8") as f:
        script = json.load(f)
    if not isinstance(script, dict):
        raise SystemExit("fake_model: %s: top level must be an object" %
                         path)
    for name, entry in script.items():
        if name.startswith("_"):
            continue
        steps = [entry]
        if isinstance(entry, dict) and isinstance(entry.get("sequence"),
                                                  list):
            steps += entry["sequence"]
        for e in steps:
            why = check_entry(e)
            if why:
                raise SystemExit("fake_model: %s: entry %r: %s" %
                                 (path, name, why))
    return script


ENTRY_KEYS = {"content", "form", "k", "vary", "status", "retry_after",
              "headers", "latency_ms", "body", "malformed", "close",
              "chunked", "usage", "finish_reason", "sequence",
              "sequence_scope", "embed_dim", "message", "comment",
              "contents", "finish_reasons", "choices"}
FORMS = {"auto", "vs", "vs_fenced", "vs_xml", "vs_percent", "vs_confidence",
         "vs_chatter", "vs_trailing_comma", "vs_noprob", "vs_cot", "list",
         "list_cot", "single", "json_single", "cot_single", "ssot",
         "ssot_fenced", "duplicates"}
MALFORMED = {"non_json", "truncated", "empty", "short_body"}


def check_entry(e):
    """Why a script entry is invalid, or None."""
    if not isinstance(e, dict):
        return "not an object"
    bad = set(e) - ENTRY_KEYS
    if bad:
        return "unknown keys %s" % sorted(bad)
    if "form" in e and e["form"] not in FORMS:
        return "unknown form %r" % e["form"]
    if e.get("malformed") and e["malformed"] not in MALFORMED:
        return "unknown malformed %r" % e["malformed"]
    if "sequence" in e and (not isinstance(e["sequence"], list) or
                            not e["sequence"]):
        return "sequence must be a non-empty list"
    if e.get("sequence_scope", "request") not in ("request", "marker"):
        return "sequence_scope must be request or marker"
    for key in ("contents", "finish_reasons"):
        if key in e and (not isinstance(e[key], list) or not e[key]):
            return "%s must be a non-empty list" % key
    if "choices" in e and (isinstance(e["choices"], bool) or
                           not isinstance(e["choices"], int) or
                           e["choices"] < 1):
        return "choices must be a positive integer"
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--script")
    ap.add_argument("--log")
    ap.add_argument("--log-bodies", action="store_true")
    ap.add_argument("--require-key")
    ap.add_argument("--parent-pid", type=int)
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("fake_model: --tls-cert and --tls-key go together")
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("fake_model: refusing to bind to %s (loopback "
                         "only)" % args.host)

    logf = open(args.log, "a", encoding="utf-8") if args.log else None
    state = State(load_script(args.script), logf, args.log_bodies,
                  args.require_key, args.embed_dim)
    srv = Server((args.host, args.port), Handler)
    srv.state = state
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.tls = ctx
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    t = threading.Thread(target=srv.serve_forever, kwargs={
        "poll_interval": 0.2}, daemon=True)
    t.start()
    while not stop.wait(0.5):
        if args.parent_pid:
            try:
                os.kill(args.parent_pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
    srv.shutdown()
    srv.server_close()
    if logf:
        logf.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
