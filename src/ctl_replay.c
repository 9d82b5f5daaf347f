/*
 * ctl_replay: `vsampctl replay`, DLQ copies back to the jobs topic
 * (docs/operations.md, Dead letters and replay). What a copy is and
 * which copies are taken is dlq.c's; this file moves the messages.
 *
 * The DLQ topic is read as a queue with a cursor: the committed offsets
 * of a consumer group (vsampctl-replay, or --group) say how far earlier
 * replays got. The partitions are assigned directly (no subscription,
 * so no rebalance and no other member), each from its committed offset,
 * and read up to the high watermark it had when the replay began, so a
 * replay ends even while vsampd keeps failing jobs. The end of a
 * partition is also its end-of-partition event: on a topic written in
 * transactions the last offsets are commit markers, which are never
 * delivered, so waiting for the message before the high watermark would
 * wait for ever.
 *
 * Each copy taken is produced to the jobs topic with its key and value
 * unchanged (the partitioner is vsampd's, so a dedup_scope key lands
 * where it did), its vsampd-* headers dropped and vsampd-replayed added.
 * Offsets are committed, synchronously, only once every one of those is
 * acknowledged; a copy skipped (another code, outside the time window,
 * empty) is passed over for good by that group too. Delivery is at
 * least once: a failed run commits nothing, and the next one sends the
 * delivered jobs again.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "ctl.h"
#include "dlq.h"
#include "job.h"
#include "kafka.h"
#include "xmalloc.h"

#define REPLAY_GROUP "vsampctl-replay"
#define META_MS 10000
/* How long a partition may stay silent before the replay gives up. */
#define STALL_MS 30000
#define FLUSH_MS 60000
#define COMMIT_MS 30000

/* One partition of the DLQ topic. */
struct rpart {
	int32_t id;
	int64_t start; /* the committed offset, or RD_KAFKA_OFFSET_BEGINNING */
	int64_t end; /* the high watermark when the replay began */
	int64_t next; /* the offset to commit (past the last considered); -1 */
	int done;
};

struct replay {
	const struct conf *conf;
	const char *dlq, *jobs, *group;
	struct dlq_filter filter;
	long max; /* replay at most this many; 0: all */
	int dry_run, from_beginning, quiet;
	rd_kafka_t *consumer, *producer;
	struct rpart *parts;
	int nparts, left;
	size_t considered, replayed, skipped[DLQ_NVERDICTS];
	size_t delivered, failed;
	char first_err[256];
	char now[32]; /* the run's time, RFC 3339 (vsampd-replayed-at) */
	int64_t now_ms;
};

enum {
	OPT_CODE = 256,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_MAX,
	OPT_DRY_RUN,
	OPT_FROM_BEGINNING,
	OPT_GROUP,
	OPT_DLQ_TOPIC,
};

static void
replay_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl replay [-q] [-f conf] [-b brokers] [-t topic]\n"
	    "                       [--code CODE[,CODE...]] [--since TIME]\n"
	    "                       [--until TIME] [--max N] [--dry-run]\n"
	    "                       [--from-beginning] [--group GROUP]\n"
	    "                       [--dlq-topic TOPIC]\n"
	    "\n"
	    "Produce the copies of failed jobs on the DLQ topic\n"
	    "(kafka.dlq_topic) back to the jobs topic (kafka.jobs_topic, or\n"
	    "-t), key and value unchanged, from where the last replay of the\n"
	    "group stopped up to the end the topic has now. The offsets are\n"
	    "committed once every job is delivered; skipped copies are passed\n"
	    "over too.\n"
	    "\n"
	    "  --code LIST       only copies with these error codes (default:\n"
	    "                    all but bad_job and poison)\n"
	    "  --since TIME      only copies made at TIME or later\n"
	    "  --until TIME      only copies made before TIME\n"
	    "                    TIME: RFC 3339 (2026-05-01T10:00:00Z) or a\n"
	    "                    duration ago (30s, 30m, 2h, 7d)\n"
	    "  --max N           stop after N replayed\n"
	    "  --dry-run         print what would be replayed; produce and\n"
	    "                    commit nothing\n"
	    "  --from-beginning  start at the beginning, not at the group's\n"
	    "                    committed offsets\n"
	    "  --group GROUP     the consumer group (default " REPLAY_GROUP
	    ")\n"
	    "  --dlq-topic TOPIC overrides kafka.dlq_topic\n"
	    "  -f FILE           the vsampd config (default %s)\n"
	    "  -b BROKERS        overrides kafka.brokers\n"
	    "  -t TOPIC          overrides kafka.jobs_topic\n"
	    "  -q                no summary\n"
	    "\n"
	    "Exit status: 0 when every chosen copy was delivered and the\n"
	    "offsets committed, 1 when the broker, a delivery or the commit\n"
	    "failed, 2 on a usage or config error.\n",
	    CONF_DEFAULT_PATH);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A time option into *ms; -1 after saying what is wrong. */
static int
replay_time_arg(const char *opt, const char *s, int64_t now, int64_t *ms)
{
	char err[256];

	if (dlq_time_parse(s, now, ms, err, sizeof(err)) == -1) {
		fprintf(stderr, "vsampctl replay: %s: %s\n", opt, err);
		return -1;
	}
	return 0;
}

/* One option of replay's own; 0, or -1 after saying what is wrong. */
static int
replay_opt(struct replay *r, int ch, const char *arg)
{
	char err[256], *end;

	switch (ch) {
	case OPT_CODE:
		if (dlq_codes_parse(arg, &r->filter.codes, err, sizeof(err)) ==
		    -1) {
			fprintf(stderr, "vsampctl replay: --code: %s\n", err);
			return -1;
		}
		return 0;
	case OPT_SINCE:
		return replay_time_arg(
		    "--since", arg, r->now_ms, &r->filter.since_ms);
	case OPT_UNTIL:
		return replay_time_arg(
		    "--until", arg, r->now_ms, &r->filter.until_ms);
	case OPT_MAX:
		r->max = strtol(arg, &end, 10);
		if (*arg < '0' || *arg > '9' || *end != '\0' || r->max < 1) {
			fprintf(stderr,
			    "vsampctl replay: --max: \"%.40s\" is not a count "
			    "of 1 or more\n",
			    arg);
			return -1;
		}
		return 0;
	case OPT_DRY_RUN:
		r->dry_run = 1;
		return 0;
	case OPT_FROM_BEGINNING:
		r->from_beginning = 1;
		return 0;
	case OPT_GROUP:
		if (*arg == '\0') {
			fprintf(stderr, "vsampctl replay: --group: empty\n");
			return -1;
		}
		r->group = arg;
		return 0;
	case OPT_DLQ_TOPIC:
		if (*arg == '\0') {
			fprintf(stderr,
			    "vsampctl replay: --dlq-topic: empty\n");
			return -1;
		}
		r->dlq = arg;
		return 0;
	}
	return -1;
}

/* replay's options; returns -1 to go on, else the exit status. */
static int
replay_args(int argc, char **argv, struct ctl_common *co, struct replay *r)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"code", required_argument, NULL, OPT_CODE},
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"until", required_argument, NULL, OPT_UNTIL},
	    {"max", required_argument, NULL, OPT_MAX},
	    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
	    {"from-beginning", no_argument, NULL, OPT_FROM_BEGINNING},
	    {"group", required_argument, NULL, OPT_GROUP},
	    {"dlq-topic", required_argument, NULL, OPT_DLQ_TOPIC},
	    {NULL, 0, NULL, 0}};
	int ch;

	optind = 1;
	while ((ch = ctl_getopt(co, argc, argv, "f:b:t:qh", longopts)) != -1) {
		if (ch == 'h') {
			replay_usage(stdout);
			return 0;
		}
		if (ch < 256) {
			replay_usage(stderr);
			return 2;
		}
		if (replay_opt(r, ch, optarg) == -1)
			return 2;
	}
	if (optind != argc) {
		fprintf(stderr, "vsampctl replay: unexpected argument \"%s\"\n",
		    argv[optind]);
		return 2;
	}
	if (r->filter.since_ms != DLQ_NO_SINCE &&
	    r->filter.until_ms != DLQ_NO_UNTIL &&
	    r->filter.since_ms >= r->filter.until_ms) {
		fprintf(stderr,
		    "vsampctl replay: --since is not before --until: no copy "
		    "can be in between\n");
		return 2;
	}
	return -1;
}

static void
replay_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct replay *r = opaque;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		r->delivered++;
		return;
	}
	if (r->failed++ == 0)
		snprintf(r->first_err, sizeof(r->first_err), "%s",
		    rd_kafka_err2str(m->err));
}

/* ---- the partitions ---- */

/*
 * Make the consumer, find the DLQ topic's partitions, their high
 * watermarks and the group's committed offsets, and assign those with
 * something left to read. 0, or -1 with errstr.
 */
static int
replay_open(struct replay *r, char *errstr, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_topic_t *t;
	rd_kafka_resp_err_t e;
	int rc = -1;

	r->consumer = kafka_replay_consumer_new(
	    r->conf, r->group, errstr, errlen);
	if (r->consumer == NULL)
		return -1;
	t = rd_kafka_topic_new(r->consumer, r->dlq, NULL);
	e = rd_kafka_metadata(r->consumer, 0, t, &md, META_MS);
	rd_kafka_topic_destroy(t);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errlen, "%s: cannot read metadata: %s",
		    r->conf->brokers, rd_kafka_err2str(e));
		return -1;
	}
	if (md->topic_cnt != 1 || md->topics[0].err != 0 ||
	    md->topics[0].partition_cnt == 0) {
		snprintf(errstr, errlen, "topic %s does not exist on %s",
		    r->dlq, r->conf->brokers);
		goto out;
	}
	/* A missing jobs topic would show only as deliveries that time
	 * out, minutes later. */
	if (!r->dry_run && kafka_topics_exist(r->consumer, &r->jobs, 1, NULL,
			       META_MS, errstr, errlen) == -1)
		goto out;
	r->nparts = md->topics[0].partition_cnt;
	r->parts = xcalloc((size_t)r->nparts, sizeof(*r->parts));
	parts = rd_kafka_topic_partition_list_new(r->nparts);
	for (int i = 0; i < r->nparts; i++) {
		r->parts[i].id = md->topics[0].partitions[i].id;
		r->parts[i].next = -1;
		rd_kafka_topic_partition_list_add(
		    parts, r->dlq, r->parts[i].id);
	}
	if (!r->from_beginning) {
		e = rd_kafka_committed(r->consumer, parts, META_MS);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(errstr, errlen,
			    "cannot read the committed offsets of group %s: "
			    "%s",
			    r->group, rd_kafka_err2str(e));
			goto out;
		}
	}
	for (int i = 0; i < r->nparts; i++) {
		struct rpart *p = &r->parts[i];
		int64_t lo = 0, hi = 0;

		e = rd_kafka_query_watermark_offsets(
		    r->consumer, r->dlq, p->id, &lo, &hi, META_MS);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(errstr, errlen,
			    "topic %s partition %" PRId32
			    ": cannot read offsets: %s",
			    r->dlq, p->id, rd_kafka_err2str(e));
			goto out;
		}
		p->end = hi;
		p->start = r->from_beginning || parts->elems[i].offset < 0
		    ? RD_KAFKA_OFFSET_BEGINNING
		    : parts->elems[i].offset;
		/* Empty, or read to the end by an earlier replay. */
		p->done = hi <= lo || (p->start >= 0 && p->start >= hi);
		parts->elems[i].offset = p->start;
		if (!p->done)
			r->left++;
	}
	/* Only what is left to read is assigned. */
	for (int i = r->nparts - 1; i >= 0; i--)
		if (r->parts[i].done)
			rd_kafka_topic_partition_list_del_by_idx(parts, i);
	e = rd_kafka_assign(r->consumer, parts);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errlen, "cannot assign %s: %s", r->dlq,
		    rd_kafka_err2str(e));
		goto out;
	}
	rc = 0;
out:
	if (parts != NULL)
		rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_metadata_destroy(md);
	return rc;
}

static struct rpart *
replay_part(struct replay *r, int32_t id)
{
	for (int i = 0; i < r->nparts; i++)
		if (r->parts[i].id == id)
			return &r->parts[i];
	return NULL;
}

static void
part_done(struct replay *r, struct rpart *p)
{
	if (!p->done) {
		p->done = 1;
		r->left--;
	}
}

/* ---- one copy ---- */

/* s with control bytes as '?', for a line of the dry run. */
static void
print_text(const char *s)
{
	for (; *s != '\0'; s++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
}

/* The dry run's line for a copy it would replay. */
static void
replay_print(const rd_kafka_message_t *m, const struct dlq_copy *cp)
{
	struct job *j;
	char err[256], when[32], *id = NULL;

	j = job_decode(m->payload, m->len, &id, err, sizeof(err));
	if (j != NULL)
		id = xstrdup(j->id);
	job_free(j);
	if (cp->ts_ms >= 0)
		dlq_time_format(cp->ts_ms, when, sizeof(when));
	else
		snprintf(when, sizeof(when), "-");
	printf("partition %" PRId32 " offset %" PRId64 " id ", m->partition,
	    m->offset);
	print_text(id != NULL ? id : "-");
	printf(" code %s time %s\n", err_code_name(cp->code), when);
	free(id);
}

/*
 * Produce one copy to the jobs topic: key and value as they are, the
 * headers but vsampd's, and vsampd-replayed. 0, or -1 (counted as a
 * failed delivery).
 */
static int
replay_produce(
    struct replay *r, const rd_kafka_message_t *m, const struct dlq_copy *cp)
{
	rd_kafka_headers_t *in = NULL, *out;
	rd_kafka_resp_err_t e;
	const char *name;
	const void *val;
	size_t size;
	char num[16];

	out = rd_kafka_headers_new(8);
	if (rd_kafka_message_headers(m, &in) != RD_KAFKA_RESP_ERR_NO_ERROR)
		in = NULL;
	for (size_t i = 0; in != NULL &&
	    rd_kafka_header_get_all(in, i, &name, &val, &size) ==
		RD_KAFKA_RESP_ERR_NO_ERROR;
	     i++)
		if (!dlq_header_ours(name))
			rd_kafka_header_add(out, name, -1, val, (ssize_t)size);
	snprintf(num, sizeof(num), "%u", cp->replays + 1);
	rd_kafka_header_add(out, DLQ_HDR_REPLAYED, -1, num, -1);
	rd_kafka_header_add(out, DLQ_HDR_REPLAYED_AT, -1, r->now, -1);
	for (;;) {
		e = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->jobs),
		    RD_KAFKA_V_KEY(m->key, m->key_len),
		    RD_KAFKA_V_VALUE(m->payload, m->len),
		    RD_KAFKA_V_HEADERS(out),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(r->producer, 100);
	}
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		/* Not taken: the headers are still ours. */
		rd_kafka_headers_destroy(out);
		if (r->failed++ == 0)
			snprintf(r->first_err, sizeof(r->first_err), "%s",
			    rd_kafka_err2str(e));
		return -1;
	}
	return 0;
}

/* Judge one copy of partition p, and replay (or print) it. */
static void
replay_message(struct replay *r, struct rpart *p, const rd_kafka_message_t *m)
{
	rd_kafka_timestamp_type_t tstype;
	rd_kafka_headers_t *hdrs;
	struct dlq_copy cp;
	enum dlq_verdict v;
	const char *name;
	const void *val;
	size_t size;

	dlq_copy_init(&cp, rd_kafka_message_timestamp(m, &tstype));
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
		for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name,
				       &val, &size) ==
		     RD_KAFKA_RESP_ERR_NO_ERROR;
		     i++)
			dlq_copy_header(&cp, name, val, size);
	r->considered++;
	p->next = m->offset + 1;
	v = dlq_verdict(&r->filter, &cp);
	if (v != DLQ_REPLAY) {
		r->skipped[v]++;
		return;
	}
	r->replayed++;
	if (r->dry_run)
		replay_print(m, &cp);
	else
		(void)replay_produce(r, m, &cp);
}

/* Whether a consumer error ends the replay (the others heal). */
static int
error_is_final(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
	case RD_KAFKA_RESP_ERR__FATAL:
		return 1;
	default:
		return 0;
	}
}

/*
 * Read the assigned partitions to their ends (or to --max, or SIGINT).
 * A partition is done at the first message at or past its end, after
 * the message before its end, or at its end-of-partition event,
 * whichever comes first. 0, or -1 with errstr.
 */
static int
replay_read(struct replay *r, char *errstr, size_t errlen)
{
	int64_t last = mono_ms();

	while (r->left > 0 && !ctl_interrupted &&
	    (r->max == 0 || (long)r->replayed < r->max)) {
		rd_kafka_message_t *m;
		struct rpart *p;

		m = rd_kafka_consumer_poll(r->consumer, 200);
		if (r->producer != NULL)
			rd_kafka_poll(r->producer, 0);
		if (m == NULL) {
			if (mono_ms() - last < STALL_MS)
				continue;
			snprintf(errstr, errlen,
			    "topic %s: nothing read for %d s with %d "
			    "partition(s) to go (is %s reachable?)",
			    r->dlq, STALL_MS / 1000, r->left,
			    r->conf->brokers);
			return -1;
		}
		p = replay_part(r, m->partition);
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			last = mono_ms();
			/* Past what this run read there are only offsets
			 * that are never delivered: markers, aborts. */
			if (p != NULL && !p->done) {
				int64_t end =
				    m->offset < p->end ? m->offset : p->end;

				if (end > p->next)
					p->next = end;
				part_done(r, p);
			}
		} else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (error_is_final(m->err)) {
				snprintf(errstr, errlen, "topic %s: %s", r->dlq,
				    rd_kafka_message_errstr(m));
				rd_kafka_message_destroy(m);
				return -1;
			}
			fprintf(stderr, "vsampctl replay: %s: %s\n", r->dlq,
			    rd_kafka_message_errstr(m));
		} else if (p != NULL && !p->done) {
			last = mono_ms();
			if (m->offset >= p->end) {
				part_done(r, p); /* came after the start */
			} else {
				replay_message(r, p, m);
				if (m->offset + 1 >= p->end)
					part_done(r, p);
			}
		}
		rd_kafka_message_destroy(m);
	}
	return 0;
}

/* ---- the end ---- */

/*
 * Wait for every delivery report, then commit how far each partition
 * was considered. 0, or -1 with errstr (nothing committed then, but on
 * a failed commit).
 */
static int
replay_commit(struct replay *r, char *errstr, size_t errlen)
{
	rd_kafka_topic_partition_list_t *offs;
	rd_kafka_resp_err_t e;
	int rc = 0;

	if (r->producer != NULL) {
		rd_kafka_flush(r->producer, FLUSH_MS);
		if (r->failed > 0) {
			snprintf(errstr, errlen,
			    "%zu of %zu job(s) not delivered to %s (first: "
			    "%s); nothing committed, so the next replay "
			    "sends them all again",
			    r->failed, r->replayed, r->jobs, r->first_err);
			return -1;
		}
		if (r->delivered < r->replayed) {
			snprintf(errstr, errlen,
			    "%zu job(s) not confirmed by the broker in %d s; "
			    "nothing committed",
			    r->replayed - r->delivered, FLUSH_MS / 1000);
			return -1;
		}
	}
	if (r->dry_run)
		return 0;
	offs = rd_kafka_topic_partition_list_new(r->nparts);
	for (int i = 0; i < r->nparts; i++)
		if (r->parts[i].next >= 0)
			rd_kafka_topic_partition_list_add(
			    offs, r->dlq, r->parts[i].id)
			    ->offset = r->parts[i].next;
	if (offs->cnt > 0) {
		e = rd_kafka_commit(r->consumer, offs, 0);
		for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR &&
		     i < offs->cnt;
		     i++)
			e = offs->elems[i].err;
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(errstr, errlen,
			    "cannot commit the offsets of group %s: %s; the "
			    "next replay sends these jobs again",
			    r->group, rd_kafka_err2str(e));
			rc = -1;
		}
	}
	rd_kafka_topic_partition_list_destroy(offs);
	return rc;
}

static void
replay_summary(const struct replay *r, int ok)
{
	char tail[256];

	if (r->dry_run)
		snprintf(tail, sizeof(tail),
		    "dry run: nothing produced or committed");
	else
		snprintf(tail, sizeof(tail), "%s for group %s",
		    ok ? "offsets committed" : "nothing committed", r->group);
	fprintf(stderr,
	    "vsampctl replay: %zu considered on %s, %zu %s %s, %zu skipped "
	    "(code %zu, time %zu, empty %zu, foreign %zu); %s\n",
	    r->considered, r->dlq, r->replayed,
	    r->dry_run ? "would be replayed to" : "replayed to", r->jobs,
	    r->considered - r->replayed, r->skipped[DLQ_SKIP_CODE],
	    r->skipped[DLQ_SKIP_TIME], r->skipped[DLQ_SKIP_EMPTY],
	    r->skipped[DLQ_SKIP_FOREIGN], tail);
}

int
ctl_replay(int argc, char **argv)
{
	struct ctl_common co = {0};
	struct replay r;
	struct conf *conf;
	char err[512];
	int status;

	memset(&r, 0, sizeof(r));
	dlq_filter_init(&r.filter);
	r.group = REPLAY_GROUP;
	r.now_ms = now_ms();
	dlq_time_format(r.now_ms, r.now, sizeof(r.now));
	if ((status = replay_args(argc, argv, &co, &r)) != -1)
		return status;
	if ((conf = ctl_load_conf(&co, 1)) == NULL)
		return 2;
	r.conf = conf;
	r.quiet = co.quiet;
	r.jobs = co.topic ? co.topic : conf->jobs_topic;
	if (r.dlq == NULL)
		r.dlq = conf->dlq_topic;
	if (r.dlq == NULL || *r.dlq == '\0') {
		fprintf(stderr,
		    "vsampctl replay: kafka.dlq_topic is not set (or give "
		    "--dlq-topic)\n");
		conf_free(conf);
		return 2;
	}
	if (strcmp(r.dlq, r.jobs) == 0) {
		fprintf(stderr,
		    "vsampctl replay: the DLQ topic and the jobs topic are "
		    "both %s\n",
		    r.dlq);
		conf_free(conf);
		return 2;
	}
	status = 1;
	if (!r.dry_run) {
		r.producer = kafka_ctl_producer_new(
		    conf, replay_on_delivery, &r, err, sizeof(err));
		if (r.producer == NULL) {
			fprintf(stderr, "vsampctl replay: %s\n", err);
			conf_free(conf);
			return 2;
		}
	}
	ctl_catch_signals();
	if (replay_open(&r, err, sizeof(err)) == 0 &&
	    replay_read(&r, err, sizeof(err)) == 0) {
		if (ctl_interrupted)
			snprintf(err, sizeof(err), "interrupted");
		else
			status = 0;
	}
	if (status != 0)
		fprintf(stderr, "vsampctl replay: %s\n", err);
	/* What was produced is flushed and committed even after a failure:
	 * it was considered, and it is on the jobs topic. */
	if (r.consumer != NULL && replay_commit(&r, err, sizeof(err)) == -1) {
		fprintf(stderr, "vsampctl replay: %s\n", err);
		status = 1;
	}
	if (!r.quiet)
		replay_summary(&r, status == 0);
	if (r.consumer != NULL) {
		(void)rd_kafka_assign(r.consumer, NULL);
		rd_kafka_consumer_close(r.consumer);
		rd_kafka_destroy(r.consumer);
	}
	if (r.producer != NULL)
		rd_kafka_destroy(r.producer);
	free(r.parts);
	conf_free(conf);
	return status;
}
