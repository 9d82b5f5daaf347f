#!/usr/bin/env python3
"""produce_jobs: send vsampd jobs from JSON lines to the jobs topic.

Reads one JSON object per line (a job, as docs/schema.md describes it)
from the files given or standard input, encodes each as msgpack and
produces it to the jobs topic. The message key of a job is its
dedup_scope when it has one, else its id, and the partitioner is
murmur2_random (the Java client's), as vsampd and vsampctl use: every job
of a scope lands on one partition, the one any other client would pick
for that key, so one vsampd instance sees all of them and its dedup
index catches repeats across them (docs/dedup.md).

Every line is checked before anything is sent: a line that is not a JSON
object, or lacks a string id, is named on stderr with its line number,
and nothing is produced (exit status 1). vsampd validates the rest of
the job itself (a bad field gets a bad_job result).

With --report, one JSON line per delivered job goes to stdout:
{"id": ..., "key": ..., "partition": P, "offset": O}.

Needs confluent-kafka and msgpack (Debian: python3-confluent-kafka,
python3-msgpack).

    produce_jobs.py -b kafka1:9092 -t vs.jobs jobs.jsonl
"""

import argparse
import json
import sys

import msgpack
from confluent_kafka import KafkaException, Producer


def read_jobs(paths):
    """[(where, job)] from the files (or stdin); exits on a bad line."""
    jobs, bad = [], 0
    for path in paths or ["-"]:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8")
        name = "<stdin>" if path == "-" else path
        with f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                where = "%s:%d" % (name, n)
                try:
                    job = json.loads(line)
                except ValueError as e:
                    print("produce_jobs: %s: not JSON: %s" % (where, e),
                          file=sys.stderr)
                    bad += 1
                    continue
                if not isinstance(job, dict):
                    print("produce_jobs: %s: a job must be a JSON object"
                          % where, file=sys.stderr)
                    bad += 1
                    continue
                if not isinstance(job.get("id"), str) or not job["id"]:
                    print("produce_jobs: %s: id: a non-empty string is "
                          "required" % where, file=sys.stderr)
                    bad += 1
                    continue
                scope = job.get("dedup_scope")
                if scope is not None and (not isinstance(scope, str) or
                                          not scope):
                    print("produce_jobs: %s: job %s: dedup_scope: must be "
                          "a non-empty string" % (where, job["id"]),
                          file=sys.stderr)
                    bad += 1
                    continue
                jobs.append((where, job))
    if bad:
        print("produce_jobs: %d bad line(s), nothing sent" % bad,
              file=sys.stderr)
        sys.exit(1)
    return jobs


def job_key(job):
    """The message key: the job's dedup_scope, else its id."""
    return (job.get("dedup_scope") or job["id"]).encode("utf-8")


def main():
    ap = argparse.ArgumentParser(
        description="Produce JSON-lines jobs to vsampd's jobs topic as "
        "msgpack, keyed by dedup_scope.")
    ap.add_argument("-b", "--brokers", default="127.0.0.1:9092",
                    help="bootstrap brokers (default %(default)s)")
    ap.add_argument("-t", "--topic", default="vs.jobs",
                    help="jobs topic (default %(default)s)")
    ap.add_argument("-X", dest="props", action="append", default=[],
                    metavar="NAME=VALUE",
                    help="a librdkafka producer property (SASL, TLS, ...)")
    ap.add_argument("--report", action="store_true",
                    help="print id, key, partition and offset of each job")
    ap.add_argument("files", nargs="*", help="JSON-lines files (default: "
                    "standard input)")
    args = ap.parse_args()

    conf = {"bootstrap.servers": args.brokers,
            # The Java client's partitioner, as vsampd's: a key maps to
            # the same partition whichever client produced it.
            "partitioner": "murmur2_random",
            # No duplicates or reordering when librdkafka retries.
            "enable.idempotence": True,
            "linger.ms": 5}
    for p in args.props:
        name, sep, value = p.partition("=")
        if not sep or not name:
            ap.error("-X %s: want NAME=VALUE" % p)
        conf[name] = value

    jobs = read_jobs(args.files)
    producer = Producer(conf)
    failed = []

    def delivered(where, job, key):
        def cb(err, msg):
            if err is not None:
                failed.append("%s: job %s: %s" % (where, job["id"], err))
            elif args.report:
                print(json.dumps({"id": job["id"], "key": key.decode(),
                                  "partition": msg.partition(),
                                  "offset": msg.offset()}), flush=True)
        return cb

    for where, job in jobs:
        key = job_key(job)
        value = msgpack.packb(job, use_bin_type=True)
        while True:
            try:
                producer.produce(args.topic, key=key, value=value,
                                 on_delivery=delivered(where, job, key))
                break
            except BufferError:
                # The local queue is full: serve delivery reports first.
                producer.poll(0.1)
            except KafkaException as e:
                failed.append("%s: job %s: %s" % (where, job["id"], e))
                break
        producer.poll(0)
    left = producer.flush(60)
    for f in failed:
        print("produce_jobs: %s" % f, file=sys.stderr)
    if left:
        print("produce_jobs: %d job(s) not acknowledged within 60 s" % left,
              file=sys.stderr)
    if failed or left:
        return 1
    print("produce_jobs: %d job(s) sent to %s" % (len(jobs), args.topic),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
