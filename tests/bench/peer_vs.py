#!/usr/bin/env python3
"""peer_vs: the paper's own implementation as a Kafka worker, a peer of
vsampd in the benchmarks (tests/bench/bench.py peers).

The PyPI package verbalized-sampling (0.1.3, by the paper's authors)
does the work: verbalized_sampling.verbalize() renders its
vs_standard prompt, calls the model through the openai client with its
JSON schema as response_format, parses the reply, repairs and
normalises the probabilities (tau = 0: nothing filtered, as vsampd
keeps every candidate), and DiscreteDist.sample() draws one. The openai
client reads OPENAI_BASE_URL and OPENAI_API_KEY, so the package talks
to the fake backend with no change; model "gpt-4.1" makes the package
pick its OpenAI class.

Around it, the loop a user would write with confluent-kafka: consume a
job (msgpack or JSON), run verbalize() on a thread pool of --threads
workers (the package's own concurrency model: BaseLLM runs its batches
on a ThreadPoolExecutor), produce a msgpack result keyed by the job id.
Offsets are auto-committed (at most once on a crash, which the
benchmark does not exercise).

Runs in the venv bench.py makes (verbalized-sampling needs torch,
transformers, litellm, ...); prints "ASSIGNED" when it has partitions
and runs until SIGTERM.
"""

import argparse
import json
import os
import signal
import sys
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OPENAI_API_KEY", "sk-bench")

import msgpack  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--jobs-topic", required=True)
    ap.add_argument("--results-topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--k", type=int, default=5)
    a = ap.parse_args()

    os.environ["OPENAI_BASE_URL"] = a.base_url
    # Imported here: it takes seconds (torch), before any measurement.
    # verbalize() prints every reply on stdout; that is the package's
    # cost, kept, and the stream goes to a log file.
    from verbalized_sampling import verbalize

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def on_assign(consumer, parts):
        sys.stderr.write("ASSIGNED %d\n" % len(parts))
        sys.stderr.flush()

    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": a.group,
                  "auto.offset.reset": "earliest",
                  "enable.auto.commit": True})
    p = Producer({"bootstrap.servers": a.bootstrap, "linger.ms": 5,
                  "enable.idempotence": True})
    c.subscribe([a.jobs_topic], on_assign=on_assign)
    slots = threading.Semaphore(a.threads)
    pool = ThreadPoolExecutor(max_workers=a.threads)

    def work(key, raw):
        try:
            try:
                job = (json.loads(raw) if raw[:1] == b"{" else
                       msgpack.unpackb(raw, raw=False))
            except Exception as e:
                res = {"v": 1, "id": None, "status": "error",
                       "error": {"code": "bad_job", "message": str(e)}}
                p.produce(a.results_topic, key=key,
                          value=msgpack.packb(res, use_bin_type=True))
                return
            jid = job.get("id")
            seed = zlib.crc32(str(jid).encode("utf-8"))
            try:
                dist = verbalize(job["prompt"], k=int(job.get("k", a.k)),
                                 tau=0.0, min_k_survivors=1,
                                 temperature=float(job.get("temperature",
                                                           0.7)),
                                 provider="openai", model="gpt-4.1",
                                 seed=seed, use_strict_json=True,
                                 retries=2)
                items = list(dist.items)
                sel = dist.sample(seed=seed) if items else None
                res = {"v": 1, "id": jid, "status": "ok",
                       "candidates": [{"text": it.text,
                                       "probability": it.p}
                                      for it in items],
                       "selected": (items.index(sel) if sel is not None
                                    else None)}
            except Exception as e:
                res = {"v": 1, "id": jid, "status": "error",
                       "error": {"code": "backend", "message": str(e)},
                       "candidates": [], "selected": None}
            p.produce(a.results_topic, key=key,
                      value=msgpack.packb(res, use_bin_type=True))
        finally:
            slots.release()

    while not stop.is_set():
        p.poll(0)
        if not slots.acquire(timeout=0.5):
            continue
        m = c.poll(0.1)
        if m is None:
            slots.release()
            continue
        if m.error():
            slots.release()
            sys.stderr.write("consumer: %s\n" % m.error())
            continue
        pool.submit(work, m.key(), m.value())
    pool.shutdown(wait=True)
    p.flush(10)
    c.close()


if __name__ == "__main__":
    main()
