#!/usr/bin/env python3
"""peer_async: the worker a user would write instead of vsampd, a peer in
the benchmarks (tests/bench/bench.py peers).

Python asyncio on Debian's packages only (python3-confluent-kafka,
python3-httpx, python3-msgpack, for /usr/bin/python3): consume jobs,
send each a verbalized-sampling prompt of the same shape as vsampd's
vs_standard (the instruction in the system message, the task in the
user message, k responses with probabilities as JSON) over one shared
httpx.AsyncClient with keep-alive, parse the JSON reply (code fences and
chatter around it tolerated, "confidence" for "probability",
percentages), clamp, share what is missing, normalise, drop exact
duplicates, draw one by the probabilities with a seed from the job id,
and produce a msgpack result keyed by the job id.

At most --concurrency jobs are in flight. confluent-kafka is not
asyncio-aware, so the loop polls it without blocking (consume with
timeout 0, then a short asyncio sleep when idle), as such workers do.
Retries: 429 and 5xx up to 3 times with backoff (Retry-After honoured).
Offsets are auto-committed. Prints "ASSIGNED" when it has partitions
and runs until SIGTERM.
"""

import argparse
import asyncio
import json
import math
import random
import re
import signal
import sys
import zlib

import httpx
import msgpack
from confluent_kafka import Consumer, Producer

SYSTEM = (
    "Generate {k} responses to the input prompt. For each response, give "
    "its probability relative to the full distribution of all the "
    "responses you could give to this prompt.\n"
    "Return the responses in JSON format with the key \"responses\" (a "
    "list of objects). Each object must include:\n"
    "- \"text\": the response string only;\n"
    "- \"probability\": the estimated probability from 0.0 to 1.0 of "
    "this response.\n"
    "Return ONLY the JSON object: {{\"responses\": [{{\"text\": "
    "\"<response>\", \"probability\": <number>}}, ...]}}.")

FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


def extract(content):
    """The responses list of a reply, or raise ValueError."""
    s = content.strip()
    m = FENCE.search(s)
    if m:
        s = m.group(1).strip()
    try:
        obj = json.loads(s)
    except ValueError:
        i, j = s.find("{"), s.rfind("}")
        if i < 0 or j <= i:
            raise ValueError("no JSON object in the reply")
        obj = json.loads(s[i:j + 1])
    rs = obj.get("responses") if isinstance(obj, dict) else None
    if not isinstance(rs, list):
        raise ValueError("no responses list")
    return rs


def number(v):
    if isinstance(v, str):
        v = v.strip()
        pct = v.endswith("%")
        try:
            v = float(v.rstrip("%")) / (100.0 if pct else 1.0)
        except ValueError:
            return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return None
    return min(1.0, max(0.0, v))


def candidates(rs, k):
    texts, probs = [], []
    for r in rs[:k]:
        if isinstance(r, str):
            t, p = r, None
        elif isinstance(r, dict):
            t = r.get("text")
            p = number(r.get("probability", r.get("confidence")))
        else:
            continue
        if not isinstance(t, str) or not t.strip():
            continue
        texts.append(t)
        probs.append(p)
    given = [p for p in probs if p is not None]
    missing = len(probs) - len(given)
    if missing:
        share = (1.0 - sum(given)) / missing
        if share <= 0:
            share = 1.0 / len(probs)
        probs = [share if p is None else p for p in probs]
    seen, out = set(), []
    for t, p in zip(texts, probs):
        key = " ".join(t.lower().split())
        if key in seen:
            continue
        seen.add(key)
        out.append([t, p])
    total = sum(p for _, p in out)
    for c in out:
        c[1] = c[1] / total if total > 0 else 1.0 / len(out)
    return out


class Worker:
    def __init__(self, a):
        self.a = a
        self.stop = asyncio.Event()
        self.c = Consumer({"bootstrap.servers": a.bootstrap,
                           "group.id": a.group,
                           "auto.offset.reset": "earliest",
                           "enable.auto.commit": True})
        self.p = Producer({"bootstrap.servers": a.bootstrap,
                           "linger.ms": 5, "enable.idempotence": True})
        self.sem = asyncio.Semaphore(a.concurrency)
        self.http = httpx.AsyncClient(
            base_url=a.base_url.rstrip("/"), timeout=a.timeout,
            limits=httpx.Limits(max_connections=a.concurrency,
                                max_keepalive_connections=a.concurrency))
        self.tasks = set()

    def produce(self, key, res):
        while True:
            try:
                self.p.produce(self.a.results_topic, key=key,
                               value=msgpack.packb(res, use_bin_type=True))
                return
            except BufferError:
                self.p.poll(0.01)

    async def call(self, body):
        delay = 0.25
        for attempt in range(4):
            r = await self.http.post("/chat/completions", json=body)
            if r.status_code == 200:
                return r.json(), attempt + 1
            if r.status_code != 429 and r.status_code < 500 or attempt == 3:
                raise RuntimeError("backend: HTTP %d" % r.status_code)
            ra = r.headers.get("retry-after")
            wait = delay * (0.5 + random.random() / 2)
            if ra and ra.isdigit():
                wait = max(wait, float(ra))
            await asyncio.sleep(wait)
            delay *= 2

    async def job(self, key, raw):
        try:
            try:
                job = (json.loads(raw) if raw[:1] == b"{" else
                       msgpack.unpackb(raw, raw=False))
                jid = job["id"]
                prompt = job["prompt"]
            except Exception as e:
                self.produce(key, {"v": 1, "id": None, "status": "error",
                                   "error": {"code": "bad_job",
                                             "message": str(e)}})
                return
            k = int(job.get("k", self.a.k))
            body = {"model": self.a.model,
                    "messages": [{"role": "system",
                                  "content": SYSTEM.format(k=k)},
                                 {"role": "user", "content": prompt}],
                    "temperature": float(job.get("temperature", 0.7))}
            try:
                reply, attempts = await self.call(body)
                content = reply["choices"][0]["message"]["content"]
                cands = candidates(extract(content), k)
                rng = random.Random(zlib.crc32(str(jid).encode("utf-8")))
                sel = (rng.choices(range(len(cands)),
                                   weights=[p for _, p in cands])[0]
                       if cands else None)
                u = reply.get("usage") or {}
                res = {"v": 1, "id": jid, "status": "ok",
                       "candidates": [{"text": t, "probability": p}
                                      for t, p in cands],
                       "selected": sel, "attempts": attempts,
                       "usage": {"requests": attempts,
                                 "prompt_tokens": u.get("prompt_tokens"),
                                 "completion_tokens":
                                     u.get("completion_tokens")}}
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError,
                    TypeError, IndexError) as e:
                res = {"v": 1, "id": jid, "status": "error",
                       "error": {"code": "backend", "message": str(e)},
                       "candidates": [], "selected": None}
            self.produce(key, res)
        finally:
            self.sem.release()

    async def run(self):
        def on_assign(consumer, parts):
            sys.stderr.write("ASSIGNED %d\n" % len(parts))
            sys.stderr.flush()
        self.c.subscribe([self.a.jobs_topic], on_assign=on_assign)
        while not self.stop.is_set():
            self.p.poll(0)
            free = self.sem._value      # slots free now
            msgs = self.c.consume(num_messages=max(1, min(free, 500)),
                                  timeout=0) if free > 0 else []
            if not msgs:
                await asyncio.sleep(0.002)
                continue
            for m in msgs:
                if m.error():
                    sys.stderr.write("consumer: %s\n" % m.error())
                    continue
                await self.sem.acquire()
                t = asyncio.ensure_future(self.job(m.key(), m.value()))
                self.tasks.add(t)
                t.add_done_callback(self.tasks.discard)
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()
        self.p.flush(10)
        self.c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--jobs-topic", required=True)
    ap.add_argument("--results-topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--model", default="fake")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--k", type=int, default=5)
    a = ap.parse_args()

    async def go():
        w = Worker(a)
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(s, w.stop.set)
        await w.run()
    asyncio.run(go())


if __name__ == "__main__":
    main()
