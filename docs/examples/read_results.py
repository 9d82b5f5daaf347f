#!/usr/bin/env python3
"""read_results: print vsampd's results as JSON lines.

Reads the results topic in a consumer group (from the earliest offset
when the group has none), decodes each msgpack result (docs/schema.md)
and prints one JSON line per result:

    {"id": "j1", "status": "ok", "selected": "the drawn text",
     "probability": 0.31, "candidates": 5, "method": "vs_standard",
     "model": "...", "diversity": {...}, "dedup": {...},
     "source": {...}, "metadata": ...}

("selected" and "probability" are null when nothing was drawn; an error
result has "error": {"code", "message"} instead of them.) With --full,
the whole result is printed. A message that is not a result of schema
version 1 is named on stderr (partition and offset) and skipped.

Offsets are committed after the line is written, so a reader that is
stopped and started again goes on where it stopped, and prints a result
twice at worst, never drops one. Delivery to the results topic is at
least once too: deduplicate on id if each job must count once.

--count N stops after N results, --idle S after S seconds without a new
one; otherwise it runs until SIGINT.

Needs confluent-kafka and msgpack (Debian: python3-confluent-kafka,
python3-msgpack).

    read_results.py -b kafka1:9092 -t vs.results -g my-reader
"""

import argparse
import json
import signal
import sys
import time

import msgpack
from confluent_kafka import Consumer, KafkaError, KafkaException


def summary(r):
    """The printed line of result r (a dict)."""
    out = {"id": r.get("id"), "status": r.get("status")}
    if r.get("status") == "error":
        out["error"] = r.get("error")
    else:
        cands = r.get("candidates") or []
        sel = r.get("selected")
        if isinstance(sel, int) and 0 <= sel < len(cands):
            out["selected"] = cands[sel].get("text")
            out["probability"] = cands[sel].get("probability")
        else:
            out["selected"] = None
            out["probability"] = None
        out["candidates"] = len(cands)
    for k in ("method", "model", "diversity", "dedup", "source",
              "metadata"):
        out[k] = r.get(k)
    return out


def decode(value):
    """The result in a message value, or raise ValueError."""
    try:
        r = msgpack.unpackb(value, raw=False, strict_map_key=False)
    except Exception as e:
        raise ValueError("not msgpack (%s)" % e)
    if not isinstance(r, dict) or r.get("v") != 1:
        raise ValueError("not a result of schema version 1")
    return r


def main():
    ap = argparse.ArgumentParser(
        description="Print vsampd results as JSON lines, committing "
        "offsets as it goes.")
    ap.add_argument("-b", "--brokers", default="127.0.0.1:9092",
                    help="bootstrap brokers (default %(default)s)")
    ap.add_argument("-t", "--topic", default="vs.results",
                    help="results topic (default %(default)s)")
    ap.add_argument("-g", "--group", default="vsampd-results-reader",
                    help="consumer group (default %(default)s)")
    ap.add_argument("-X", dest="props", action="append", default=[],
                    metavar="NAME=VALUE",
                    help="a librdkafka consumer property (SASL, TLS, ...)")
    ap.add_argument("--full", action="store_true",
                    help="print each whole result")
    ap.add_argument("--count", type=int, default=0,
                    help="stop after this many results")
    ap.add_argument("--idle", type=float, default=0,
                    help="stop after this many seconds without a result")
    args = ap.parse_args()
    if args.count < 0:
        ap.error("--count: must be 0 or more")
    if args.idle < 0:
        ap.error("--idle: must be 0 or more")

    conf = {"bootstrap.servers": args.brokers, "group.id": args.group,
            "auto.offset.reset": "earliest",
            # Commit by hand, after printing: at least once.
            "enable.auto.commit": False,
            # Results written in exactly-once mode count only once
            # their transaction commits.
            "isolation.level": "read_committed"}
    for p in args.props:
        name, sep, value = p.partition("=")
        if not sep or not name:
            ap.error("-X %s: want NAME=VALUE" % p)
        conf[name] = value

    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))

    c = Consumer(conf)
    c.subscribe([args.topic])
    seen, last = 0, time.monotonic()
    try:
        while not stop:
            if args.count and seen >= args.count:
                break
            if args.idle and time.monotonic() - last > args.idle:
                break
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(m.error())
            last = time.monotonic()
            try:
                r = decode(m.value())
            except ValueError as e:
                print("read_results: %s partition %d offset %d: %s" % (
                    m.topic(), m.partition(), m.offset(), e),
                    file=sys.stderr)
            else:
                print(json.dumps(r if args.full else summary(r),
                                 ensure_ascii=False), flush=True)
                seen += 1
            # Synchronous: once this returns, a restart will not print
            # this message again.
            c.commit(message=m, asynchronous=False)
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
