#!/usr/bin/env python3
"""simulate_dialogue: a simulated user answers an agent, turn by turn,
through vsampd.

vsampd plays the *user* here (a customer, a student, a patient) and the
agent's side is a script: a file of the agent's turns, one per line (or
a JSON array of strings). For every agent turn, one job goes to the jobs
topic; its result's selected candidate is the simulated user's reply,
which the next job carries as history. Verbalized sampling makes those
replies as varied as real users' instead of the one most typical answer.

Whose turn is user: the model always speaks as the assistant. When it
simulates the user, the conversation is given from *its* point of view:

  system     the persona: who the user is and what they want (the model
             is told it plays that user, and that the other side is the
             agent)
  user       each turn of the agent
  assistant  each earlier reply of the simulated user

so the job for agent turn i holds the persona, then agent turn 1,
simulated reply 1, ..., agent turn i, the last message (role user) being
the task. See docs/schema.md, "Dialogue simulation: whose turn is user".

Each finished turn is printed as a JSON line:
{"turn": i, "job": id, "agent": ..., "user": ..., "candidates": n}; the
transcript ends when the agent's script does, or at --turns.

Needs confluent-kafka and msgpack (Debian: python3-confluent-kafka,
python3-msgpack).

    simulate_dialogue.py -b kafka1:9092 --persona-file customer.txt \\
        --agent agent_turns.txt --id dlg-42
"""

import argparse
import json
import sys
import time

import msgpack
from confluent_kafka import (OFFSET_END, Consumer, KafkaError,
                             KafkaException, Producer, TopicPartition)

DEFAULT_PERSONA = (
    "You are playing a customer, not an assistant. The messages you "
    "receive are written by a customer-service agent; every reply you "
    "write is the customer's next message to that agent, in the "
    "customer's own words, one or two sentences.")


def read_agent_turns(path):
    """The agent's turns: a JSON array of strings, or one per line."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if text.lstrip().startswith("["):
        try:
            turns = json.loads(text)
        except ValueError as e:
            raise SystemExit("simulate_dialogue: %s: not a JSON array: %s"
                             % (path, e))
        if not all(isinstance(t, str) and t.strip() for t in turns):
            raise SystemExit("simulate_dialogue: %s: every turn must be a "
                             "non-empty string" % path)
    else:
        turns = [line.rstrip("\n") for line in text.splitlines()
                 if line.strip()]
    if not turns:
        raise SystemExit("simulate_dialogue: %s: no agent turns" % path)
    return turns


def build_job(conv_id, turn, persona, history, args):
    """The job for the agent's latest turn (already last in history)."""
    job = {"id": "%s-turn-%d" % (conv_id, turn),
           "messages": [{"role": "system", "content": persona}] + history,
           "method": args.method, "k": args.k,
           "metadata": {"conversation": conv_id, "turn": turn}}
    if args.backend:
        job["backend"] = args.backend
    if args.select:
        job["select"] = args.select
    return job


class Results:
    """Waits for results by job id on the results topic. It starts at the
    topic's end as it was before the first job was sent, so it sees every
    result of this run and nothing older (no consumer group, so it
    commits nothing)."""

    def __init__(self, conf, topic):
        c = dict(conf)
        c.update({"group.id": "simulate-dialogue-unused",
                  "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
        self.c = Consumer(c)
        md = self.c.list_topics(topic, timeout=10)
        tm = md.topics.get(topic)
        if tm is None or tm.error is not None:
            raise SystemExit("simulate_dialogue: results topic %s: %s" % (
                topic, tm.error if tm else "missing"))
        tps = []
        for p in sorted(tm.partitions):
            high = self.c.get_watermark_offsets(TopicPartition(topic, p),
                                                timeout=10)[1]
            tps.append(TopicPartition(topic, p,
                                      high if high >= 0 else OFFSET_END))
        self.c.assign(tps)

    def wait(self, job_id, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise KafkaException(m.error())
            if m.key() != job_id.encode("utf-8"):
                continue
            try:
                r = msgpack.unpackb(m.value(), raw=False,
                                    strict_map_key=False)
            except Exception:
                continue
            if isinstance(r, dict) and r.get("id") == job_id:
                return r
        raise SystemExit("simulate_dialogue: no result for job %s within "
                         "%g s" % (job_id, timeout))

    def close(self):
        self.c.close()


def main():
    ap = argparse.ArgumentParser(
        description="Simulate the user side of a dialogue with vsampd: "
        "one job per agent turn, the selected reply fed back.")
    ap.add_argument("-b", "--brokers", default="127.0.0.1:9092",
                    help="bootstrap brokers (default %(default)s)")
    ap.add_argument("--jobs-topic", default="vs.jobs")
    ap.add_argument("--results-topic", default="vs.results")
    ap.add_argument("-X", dest="props", action="append", default=[],
                    metavar="NAME=VALUE",
                    help="a librdkafka property (SASL, TLS, ...)")
    ap.add_argument("--agent", required=True, metavar="FILE",
                    help="the agent's turns, one per line or a JSON array")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--persona", help="the system message describing the "
                   "user to play (default: a customer)")
    g.add_argument("--persona-file", metavar="FILE")
    ap.add_argument("--id", default="dialogue-%d" % int(time.time()),
                    help="conversation id; job ids are ID-turn-N")
    ap.add_argument("--turns", type=int, default=0,
                    help="stop after this many turns (default: all)")
    ap.add_argument("--method", default="vs_standard")
    ap.add_argument("-k", type=int, default=5,
                    help="candidate replies per turn (default 5)")
    ap.add_argument("--select", choices=["weighted", "uniform", "top"],
                    help="how vsampd draws the reply (default: weighted)")
    ap.add_argument("--backend", help="backend profile (default: the "
                    "config's)")
    ap.add_argument("--timeout", type=float, default=300,
                    help="seconds to wait for each result (default 300)")
    args = ap.parse_args()
    if args.turns < 0:
        ap.error("--turns: must be 0 or more")
    if not 1 <= args.k <= 100:
        ap.error("-k: must be from 1 to 100")

    if args.persona_file:
        with open(args.persona_file, encoding="utf-8") as f:
            persona = f.read().strip()
    else:
        persona = args.persona or DEFAULT_PERSONA
    if not persona:
        ap.error("the persona is empty")
    agent = read_agent_turns(args.agent)
    if args.turns:
        agent = agent[:args.turns]

    conf = {"bootstrap.servers": args.brokers}
    for p in args.props:
        name, sep, value = p.partition("=")
        if not sep or not name:
            ap.error("-X %s: want NAME=VALUE" % p)
        conf[name] = value
    results = Results(conf, args.results_topic)
    producer = Producer(dict(conf, **{"partitioner": "murmur2_random",
                                      "enable.idempotence": True}))

    history = []
    try:
        for turn, agent_text in enumerate(agent, 1):
            # The agent speaks: from the model's side that is the user.
            history.append({"role": "user", "content": agent_text})
            job = build_job(args.id, turn, persona, history, args)
            errs = []
            producer.produce(args.jobs_topic, key=job["id"].encode(),
                             value=msgpack.packb(job, use_bin_type=True),
                             on_delivery=lambda e, m: e and errs.append(e))
            if producer.flush(30) or errs:
                raise SystemExit("simulate_dialogue: job %s not delivered: "
                                 "%s" % (job["id"], errs or "timeout"))
            r = results.wait(job["id"], args.timeout)
            if r.get("status") != "ok":
                err = r.get("error") or {}
                raise SystemExit("simulate_dialogue: job %s: %s: %s" % (
                    job["id"], err.get("code"), err.get("message")))
            sel = r.get("selected")
            cands = r.get("candidates") or []
            if not isinstance(sel, int) or not 0 <= sel < len(cands):
                raise SystemExit("simulate_dialogue: job %s: no candidate "
                                 "selected (%d candidates)" % (
                                     job["id"], len(cands)))
            reply = cands[sel]["text"]
            # The simulated user's reply is the model's own earlier turn.
            history.append({"role": "assistant", "content": reply})
            print(json.dumps({"turn": turn, "job": job["id"],
                              "agent": agent_text, "user": reply,
                              "candidates": len(cands)},
                             ensure_ascii=False), flush=True)
    finally:
        results.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
