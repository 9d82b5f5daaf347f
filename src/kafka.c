/*
 * kafka: librdkafka handle construction.
 *
 * It makes and configures clients (forced properties, passthrough,
 * the queue pipes) and asks for metadata (kafka_topics_exist(),
 * kafka_check()); it consumes and produces nothing: that is the daemon's
 * and vsampctl's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "conf.h"
#include "kafka.h"
#include "log.h"
#include "xmalloc.h"

static void
kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	/* syslog levels map straight onto journald's. Anything librdkafka
	 * considers informational stays at debug, so that a healthy
	 * daemon logs only its own events. */
	if (level > LOG_LVL_NOTICE)
		level = LOG_LVL_DEBUG;
	log_at(level, "kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

static void
kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char fatal_reason[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal_reason, sizeof(fatal_reason));
		fatalx("kafka %s: fatal error: %s", rd_kafka_name(rk),
		    fatal_reason);
	}
	/* Transport errors heal by themselves (librdkafka reconnects). */
	log_warnx("kafka %s: %s: %s", rd_kafka_name(rk),
	    rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static int
kafka_set(rd_kafka_conf_t *kc, const char *name, const char *value,
    char *errstr, size_t errlen)
{
	char err[512];

	if (rd_kafka_conf_set(kc, name, value, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK) {
		snprintf(errstr, errlen, "kafka property %s: %s", name, err);
		return -1;
	}
	return 0;
}

static int
kafka_has_prop(const struct conf_prop *props, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(props[i].name, name) == 0)
			return 1;
	return 0;
}

static rd_kafka_conf_t *
kafka_conf_new(const struct conf *c, const struct conf_prop *props,
    size_t nprops, char *errstr, size_t errlen)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();

	for (size_t i = 0; i < nprops; i++)
		if (kafka_set(kc, props[i].name, props[i].value, errstr,
			errlen) == -1)
			goto fail;
	if (kafka_set(kc, "bootstrap.servers", c->brokers, errstr, errlen) ==
		-1 ||
	    kafka_set(kc, "log.queue", "true", errstr, errlen) == -1)
		goto fail;
	rd_kafka_conf_set_log_cb(kc, kafka_log_cb);
	rd_kafka_conf_set_error_cb(kc, kafka_error_cb);
	return kc;
fail:
	rd_kafka_conf_destroy(kc);
	return NULL;
}

/* Finish a new handle: its logs go to the main queue (served by us). */
static rd_kafka_t *
kafka_new(
    rd_kafka_type_t type, rd_kafka_conf_t *kc, char *errstr, size_t errlen)
{
	char err[512];
	rd_kafka_t *rk;

	if ((rk = rd_kafka_new(type, kc, err, sizeof(err))) == NULL) {
		rd_kafka_conf_destroy(kc);
		snprintf(errstr, errlen, "cannot create kafka %s: %s",
		    type == RD_KAFKA_CONSUMER ? "consumer" : "producer", err);
		return NULL;
	}
	rd_kafka_set_log_queue(rk, NULL);
	return rk;
}

/* The consumer's librdkafka configuration; NULL with errstr. */
static rd_kafka_conf_t *
consumer_conf(
    const struct conf *c, const char *group, char *errstr, size_t errlen)
{
	rd_kafka_conf_t *kc;

	kc = kafka_conf_new(
	    c, c->consumer_props, c->nconsumer_props, errstr, errlen);
	if (kc == NULL)
		return NULL;
	/* The revoke handling (forget every in-flight job of a revoked
	 * partition, rd_kafka_assign) is written for the eager protocol. */
	for (size_t i = 0; i < c->nconsumer_props; i++) {
		if (strcmp(c->consumer_props[i].name,
			"partition.assignment.strategy") == 0 &&
		    strstr(c->consumer_props[i].value, "cooperative") != NULL) {
			snprintf(errstr, errlen,
			    "kafka.consumer: "
			    "partition_assignment_strategy: vsampd needs an "
			    "eager assignor (range or roundrobin)");
			rd_kafka_conf_destroy(kc);
			return NULL;
		}
	}
	/* A job queue must not skip jobs produced before the group first
	 * committed: start from the earliest offset unless told otherwise. */
	if (!kafka_has_prop(
		c->consumer_props, c->nconsumer_props, "auto.offset.reset") &&
	    kafka_set(kc, "auto.offset.reset", "earliest", errstr, errlen) ==
		-1) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	/* Fetch ahead four windows of jobs, at least 10,000 messages, not
	 * librdkafka's 100,000 per partition: a job is held for seconds,
	 * and what waits in the queue is memory (docs/delivery.md). */
	if (!kafka_has_prop(
		c->consumer_props, c->nconsumer_props, "queued.min.messages")) {
		char num[32];
		long q = 4L * c->max_inflight;

		if (q < 10000)
			q = 10000;
		if (q > 100000)
			q = 100000;
		snprintf(num, sizeof(num), "%ld", q);
		if (kafka_set(kc, "queued.min.messages", num, errstr, errlen) ==
		    -1) {
			rd_kafka_conf_destroy(kc);
			return NULL;
		}
	}
	/* Exactly-once commits offsets in its transactions only. */
	if (c->exactly_once &&
	    kafka_set(kc, "enable.auto.commit", "false", errstr, errlen) ==
		-1) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	/* Exactly-once reads only committed jobs, like its results'
	 * readers should. */
	if (c->exactly_once &&
	    !kafka_has_prop(
		c->consumer_props, c->nconsumer_props, "isolation.level") &&
	    kafka_set(kc, "isolation.level", "read_committed", errstr,
		errlen) == -1) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	/* vsampd never creates topics (conf.c refuses true). */
	if (kafka_set(kc, "group.id", group, errstr, errlen) == -1 ||
	    kafka_set(kc, "allow.auto.create.topics", "false", errstr,
		errlen) == -1 ||
	    kafka_set(kc, "enable.auto.offset.store", "false", errstr,
		errlen) == -1 ||
	    kafka_set(kc, "enable.partition.eof", "false", errstr, errlen) ==
		-1 ||
	    (!kafka_has_prop(
		 c->consumer_props, c->nconsumer_props, "client.id") &&
		kafka_set(kc, "client.id", "vsampd", errstr, errlen) == -1)) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	return kc;
}

/* Where auto.offset.reset sends a partition with no committed offset
 * (vsampd's default: earliest). */
int64_t
kafka_offset_reset(const struct conf *c)
{
	for (size_t i = 0; i < c->nconsumer_props; i++) {
		const char *v = c->consumer_props[i].value;

		if (strcmp(c->consumer_props[i].name, "auto.offset.reset") != 0)
			continue;
		if (strcmp(v, "latest") == 0 || strcmp(v, "largest") == 0 ||
		    strcmp(v, "end") == 0)
			return RD_KAFKA_OFFSET_END;
	}
	return RD_KAFKA_OFFSET_BEGINNING;
}

rd_kafka_t *
kafka_consumer_new(const struct conf *c, const char *group,
    kafka_rebalance_cb rebalance, void *opaque, char *errstr, size_t errlen)
{
	rd_kafka_conf_t *kc;
	rd_kafka_t *rk;

	if ((kc = consumer_conf(c, group, errstr, errlen)) == NULL)
		return NULL;
	if (rebalance != NULL)
		rd_kafka_conf_set_rebalance_cb(kc, rebalance);
	rd_kafka_conf_set_opaque(kc, opaque);
	if ((rk = kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errlen)) == NULL)
		return NULL;
	/* Serve the main queue (logs, errors, rebalances) through the
	 * consumer queue, so one fd wakes us for all of them. */
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/*
 * A consumer that is only ever assigned partitions at explicit offsets,
 * never subscribed, so that it never joins its group: the user's
 * consumer properties (security, timeouts) with forced[0..nforced) on
 * top, group.id group, and client.id client_id unless the user set one.
 */
static rd_kafka_t *
assign_consumer_new(const struct conf *c, const char *group,
    const char *const (*forced)[2], size_t nforced, const char *client_id,
    char *errstr, size_t errlen)
{
	rd_kafka_conf_t *kc;
	rd_kafka_t *rk;
	int rc;

	kc = kafka_conf_new(
	    c, c->consumer_props, c->nconsumer_props, errstr, errlen);
	if (kc == NULL)
		return NULL;
	rc = kafka_set(kc, "group.id", group, errstr, errlen);
	for (size_t i = 0; rc == 0 && i < nforced; i++)
		rc = kafka_set(kc, forced[i][0], forced[i][1], errstr, errlen);
	if (rc == 0 &&
	    !kafka_has_prop(c->consumer_props, c->nconsumer_props, "client.id"))
		rc = kafka_set(kc, "client.id", client_id, errstr, errlen);
	if (rc == -1) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	if ((rk = kafka_new(RD_KAFKA_CONSUMER, kc, errstr, errlen)) == NULL)
		return NULL;
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/*
 * The restore consumer of the dedup changelog (kafka.scope_topic): it
 * never commits, under the group id of the group plus ".scope-restore".
 * An offset out of range is reported, not reset, so that a stale
 * checkpoint is seen; the end of a partition is reported too (that ends
 * its restore); and only committed records are read, so that an aborted
 * transaction's entries never come back.
 */
rd_kafka_t *
kafka_restore_consumer_new(const struct conf *c, char *errstr, size_t errlen)
{
	static const char *const forced[][2] = {
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	    {"enable.partition.eof", "true"},
	    {"auto.offset.reset", "error"},
	    {"isolation.level", "read_committed"},
	    {"allow.auto.create.topics", "false"},
	    /* The end of a partition is seen when an empty fetch returns:
	     * do not let the broker hold it (it fetches only while
	     * restoring). */
	    {"fetch.wait.max.ms", "10"},
	};
	rd_kafka_t *rk;
	char *group;

	group = xasprintf("%s.scope-restore", c->group_id);
	rk = assign_consumer_new(c, group, forced,
	    sizeof(forced) / sizeof(forced[0]), "vsampd-restore", errstr,
	    errlen);
	free(group);
	return rk;
}

/*
 * The consumer of `vsampctl replay` (docs/operations.md): assigned the
 * DLQ topic's partitions at group's committed offsets, it commits only
 * when told, after the replayed jobs are delivered. A partition with no
 * committed offset, or one past the topic's retention, starts at the
 * beginning; its end is reported, so that a partition whose last
 * offsets are transaction markers (never delivered) is seen to end;
 * and only committed copies are read (an aborted transaction's are not
 * failed jobs).
 */
rd_kafka_t *
kafka_replay_consumer_new(
    const struct conf *c, const char *group, char *errstr, size_t errlen)
{
	static const char *const forced[][2] = {
	    {"enable.auto.commit", "false"},
	    {"enable.auto.offset.store", "false"},
	    {"enable.partition.eof", "true"},
	    {"auto.offset.reset", "earliest"},
	    {"isolation.level", "read_committed"},
	    {"allow.auto.create.topics", "false"},
	};

	return assign_consumer_new(c, group, forced,
	    sizeof(forced) / sizeof(forced[0]), "vsampctl", errstr, errlen);
}

/* The producer's librdkafka configuration, transactional when txn and
 * kafka.exactly_once say so; NULL with errstr. */
static rd_kafka_conf_t *
producer_conf(const struct conf *c, int txn, char *errstr, size_t errlen)
{
	rd_kafka_conf_t *kc;
	char num[32];
	long maxbytes = c->max_message_bytes + 65536;

	if (c->max_result_bytes + 65536 > maxbytes)
		maxbytes = c->max_result_bytes + 65536;
	kc = kafka_conf_new(
	    c, c->producer_props, c->nproducer_props, errstr, errlen);
	if (kc == NULL)
		return NULL;
	snprintf(num, sizeof(num), "%ld", maxbytes);
	/* librdkafka's producer would have the broker create a missing
	 * (e.g. deleted) results topic with its defaults: never. */
	if (kafka_set(kc, "enable.idempotence", "true", errstr, errlen) == -1 ||
	    kafka_set(kc, "allow.auto.create.topics", "false", errstr,
		errlen) == -1 ||
	    kafka_set(kc, "partitioner", "murmur2_random", errstr, errlen) ==
		-1 ||
	    (!kafka_has_prop(
		 c->producer_props, c->nproducer_props, "client.id") &&
		kafka_set(kc, "client.id", "vsampd", errstr, errlen) == -1)) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	/* A job keeps its in-flight slot until its result is acknowledged,
	 * so the producer's batching delay is part of every job's time:
	 * 1 ms rather than librdkafka's 5, unless set (docs/delivery.md). */
	if (!kafka_has_prop(
		c->producer_props, c->nproducer_props, "linger.ms") &&
	    !kafka_has_prop(c->producer_props, c->nproducer_props,
		"queue.buffering.max.ms") &&
	    kafka_set(kc, "linger.ms", "1", errstr, errlen) == -1) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	if (txn && c->exactly_once) {
		/* Below the unit's WatchdogSec (30 s): a transaction call
		 * blocks the loop at most this long. */
		if (kafka_set(kc, "transactional.id", c->transactional_id,
			errstr, errlen) == -1 ||
		    (!kafka_has_prop(c->producer_props, c->nproducer_props,
			 "transaction.timeout.ms") &&
			kafka_set(kc, "transaction.timeout.ms", "20000", errstr,
			    errlen) == -1)) {
			rd_kafka_conf_destroy(kc);
			return NULL;
		}
	}
	/* Raise message.max.bytes only when the user left it lower. */
	{
		char cur[32];
		size_t cl = sizeof(cur);

		if (rd_kafka_conf_get(kc, "message.max.bytes", cur, &cl) !=
			RD_KAFKA_CONF_OK ||
		    strtol(cur, NULL, 10) < maxbytes) {
			if (kafka_set(kc, "message.max.bytes", num, errstr,
				errlen) == -1) {
				rd_kafka_conf_destroy(kc);
				return NULL;
			}
		}
	}
	return kc;
}

static rd_kafka_t *
producer_new(const struct conf *c, int txn, kafka_dr_cb dr, void *opaque,
    char *errstr, size_t errlen)
{
	rd_kafka_conf_t *kc;

	if ((kc = producer_conf(c, txn, errstr, errlen)) == NULL)
		return NULL;
	if (dr != NULL)
		rd_kafka_conf_set_dr_msg_cb(kc, dr);
	rd_kafka_conf_set_opaque(kc, opaque);
	return kafka_new(RD_KAFKA_PRODUCER, kc, errstr, errlen);
}

rd_kafka_t *
kafka_producer_new(const struct conf *c, kafka_dr_cb dr, void *opaque,
    char *errstr, size_t errlen)
{
	return producer_new(c, 1, dr, opaque, errstr, errlen);
}

/*
 * vsampctl's producer: the daemon's, but never transactional. Its
 * messages are not part of a consume-transform-produce transaction, and
 * the daemon's transactional.id would fence the daemon that owns it.
 */
rd_kafka_t *
kafka_ctl_producer_new(const struct conf *c, kafka_dr_cb dr, void *opaque,
    char *errstr, size_t errlen)
{
	return producer_new(c, 0, dr, opaque, errstr, errlen);
}

int
kafka_check(const struct conf *c, char *errstr, size_t errlen)
{
	rd_kafka_conf_t *kc;

	if ((kc = consumer_conf(c, c->group_id, errstr, errlen)) == NULL)
		return -1;
	rd_kafka_conf_destroy(kc);
	if ((kc = producer_conf(c, 1, errstr, errlen)) == NULL)
		return -1;
	rd_kafka_conf_destroy(kc);
	return 0;
}

int
kafka_queue_pipe(rd_kafka_queue_t *q, int *wfd)
{
	int fds[2];

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	rd_kafka_queue_io_event_enable(q, fds[1], "1", 1);
	*wfd = fds[1];
	return fds[0];
}

void
kafka_pipe_drain(int fd)
{
	char buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int
kafka_topics_exist(rd_kafka_t *rk, const char *const *names, size_t n,
    int *partitions, int timeout_ms, char *errstr, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err;
	int ret = 0;

	err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errlen, "cannot read cluster metadata: %s",
		    rd_kafka_err2str(err));
		return -1;
	}
	for (size_t i = 0; i < n && ret == 0; i++) {
		int found = 0;

		for (int t = 0; t < md->topic_cnt; t++)
			if (strcmp(md->topics[t].topic, names[i]) == 0 &&
			    md->topics[t].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
			    md->topics[t].partition_cnt > 0) {
				found = 1;
				if (partitions != NULL)
					partitions[i] =
					    md->topics[t].partition_cnt;
			}
		if (!found) {
			snprintf(errstr, errlen, "topic %s does not exist",
			    names[i]);
			ret = -1;
		}
	}
	rd_kafka_metadata_destroy(md);
	return ret;
}
