/*
 * ctl_kafka: `vsampctl submit` and `vsampctl tail`, the subcommands that
 * talk to Kafka. The shared flags, config and line reader are ctl.c's;
 * this file never reaches back into vsampctl.c.
 *
 * submit checks each JSON line with the daemon's own job decoder, so a
 * bad line is named (line number and field) before it reaches the
 * topic, and produces the good ones keyed by their dedup_scope (else
 * their id), with the partitioner vsampd uses (murmur2_random), so that
 * jobs of one scope share a partition (docs/dedup.md).
 *
 * tail reads the results topic without joining a consumer group (it
 * commits nothing and disturbs no one), from the beginning or the end,
 * up to the end or following, and prints each result as a JSON line:
 * read with the typed decoder (result_decode) and printed by
 * result_to_json, as every vsampctl command reads and prints results.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "conf.h"
#include "ctl.h"
#include "ctl_topic.h"
#include "job.h"
#include "kafka.h"
#include "loop.h"
#include "progress.h"
#include "result.h"
#include "xmalloc.h"

/* Print librdkafka's queued logs at warning level and above. */
static void
drain_logs(rd_kafka_t *rk, rd_kafka_queue_t *q)
{
	rd_kafka_event_t *ev;

	(void)rk;
	while ((ev = rd_kafka_queue_poll(q, 0)) != NULL) {
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_LOG) {
			const char *fac, *str;
			int level;

			if (rd_kafka_event_log(ev, &fac, &str, &level) == 0 &&
			    level <= 4)
				fprintf(stderr, "vsampctl: kafka: %s: %s\n",
				    fac, str);
		}
		rd_kafka_event_destroy(ev);
	}
}

/* ---- submit ---- */

struct submit {
	size_t delivered, failed; /* delivery reports */
	char first_err[256];
	const struct conf *conf;
	const char *topic;
	rd_kafka_t *rk;
	rd_kafka_queue_t *mq;
	struct progress prog;
	size_t lineno, bad, sent;
	int novalidate;
};

static void
submit_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct submit *s = opaque;

	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		s->delivered++;
		return;
	}
	if (s->failed++ == 0)
		snprintf(s->first_err, sizeof(s->first_err), "%s",
		    rd_kafka_err2str(m->err));
}

static void
submit_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl submit [-nq] [-f conf] [-b brokers] [-t topic]\n"
	    "                       [FILE|-]\n"
	    "\n"
	    "Produce the JSON-lines jobs of FILE (default: standard input)\n"
	    "to the jobs topic (kafka.jobs_topic, or -t). Each line is\n"
	    "checked with vsampd's decoder first: a bad line is named with\n"
	    "its number and field, and not sent (-n sends it anyway, for\n"
	    "testing the daemon's bad_job path). A job is keyed by its\n"
	    "dedup_scope, else its id.\n"
	    "\n"
	    "  -f FILE     the vsampd config (default %s)\n"
	    "  -b BROKERS  overrides kafka.brokers\n"
	    "  -t TOPIC    overrides kafka.jobs_topic\n"
	    "  -n          do not check the jobs\n"
	    "  -q          no progress bar, no summary\n"
	    "\n"
	    "Exit status: 0 when every line was delivered, 1 when a line was\n"
	    "bad or a delivery failed, 2 on a usage or config error.\n",
	    CONF_DEFAULT_PATH);
}

/* The message key of a job line: its dedup_scope, else its id. */
static char *
job_key(const char *line, size_t len)
{
	json_t *v = json_loadb(line, len, JSON_DECODE_ANY, NULL);
	const char *k = NULL;
	char *out = NULL;

	if (json_is_object(v)) {
		k = json_string_value(json_object_get(v, "dedup_scope"));
		if (k == NULL)
			k = json_string_value(json_object_get(v, "id"));
	}
	if (k != NULL)
		out = xstrdup(k);
	json_decref(v);
	return out;
}

/* A line the daemon would refuse is named and not sent: -1. */
static int
submit_check(struct submit *s, const char *line, size_t len)
{
	struct job *j;
	char err[512], *id = NULL;

	if (s->novalidate)
		return 0;
	j = job_decode(line, len, &id, err, sizeof(err));
	if (j == NULL) {
		fprintf(stderr, "vsampctl submit: line %zu: %s%s%s; not sent\n",
		    s->lineno, id ? "job " : "", id ? id : "", err);
		free(id);
		s->bad++;
		return -1;
	}
	job_free(j);
	free(id);
	return 0;
}

/* Check and produce one input line (n bytes; cut: it was longer). */
static void
submit_line(struct submit *s, char *line, long n, int cut)
{
	rd_kafka_resp_err_t e;
	char *key;

	s->lineno++;
	if (n == 0)
		return;
	if (cut) {
		fprintf(stderr,
		    "vsampctl submit: line %zu: longer than "
		    "worker.max_message_bytes (%ld); not sent\n",
		    s->lineno, s->conf->max_message_bytes);
		s->bad++;
		return;
	}
	if (submit_check(s, line, (size_t)n) == -1)
		return;
	key = job_key(line, (size_t)n);
	for (;;) {
		e = rd_kafka_producev(s->rk, RD_KAFKA_V_TOPIC(s->topic),
		    RD_KAFKA_V_VALUE(line, (size_t)n),
		    RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(s->rk, 100);
	}
	free(key);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "vsampctl submit: line %zu: %s\n", s->lineno,
		    rd_kafka_err2str(e));
		s->bad++;
		return;
	}
	s->sent++;
	rd_kafka_poll(s->rk, 0);
	drain_logs(s->rk, s->mq);
	progress_update(&s->prog, s->delivered, s->failed, 0);
}

/* Wait for every delivery report (up to 60 s), then say what came of
 * it; returns the exit status. */
static int
submit_finish(struct submit *s, int quiet)
{
	for (int i = 0; i < 600 && s->delivered + s->failed < s->sent; i++) {
		rd_kafka_poll(s->rk, 100);
		drain_logs(s->rk, s->mq);
		progress_update(&s->prog, s->delivered, s->failed, 0);
		if (ctl_interrupted && i > 50)
			break;
	}
	progress_update(&s->prog, s->delivered, s->failed, 1);
	progress_end(&s->prog);
	if (s->failed > 0)
		fprintf(stderr,
		    "vsampctl submit: %zu delivery failure(s), first: %s\n",
		    s->failed, s->first_err);
	if (s->delivered + s->failed < s->sent)
		fprintf(stderr,
		    "vsampctl submit: %zu job(s) not confirmed by the broker "
		    "(is %s reachable?)\n",
		    s->sent - s->delivered - s->failed, s->conf->brokers);
	if (!quiet)
		fprintf(stderr,
		    "vsampctl submit: %zu job(s) delivered to %s, %zu bad "
		    "line(s)\n",
		    s->delivered, s->topic, s->bad);
	return s->bad > 0 || s->delivered < s->sent ? 1 : 0;
}

/* submit's options; returns -1 to go on, else the exit status. */
static int
submit_args(int argc, char **argv, struct ctl_common *co, int *novalidate)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int ch;

	optind = 1;
	while ((ch = ctl_getopt(co, argc, argv, "f:b:t:nqh", longopts)) != -1) {
		switch (ch) {
		case 'n':
			*novalidate = 1;
			break;
		case 'h':
			submit_usage(stdout);
			return 0;
		default:
			submit_usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		submit_usage(stderr);
		return 2;
	}
	return -1;
}

int
ctl_submit(int argc, char **argv)
{
	struct ctl_common co = {0};
	struct submit sub;
	struct conf *conf;
	struct ctl_reader *in;
	char err[512], *line;
	int cut, status;
	long n;

	memset(&sub, 0, sizeof(sub));
	if ((status = submit_args(argc, argv, &co, &sub.novalidate)) != -1)
		return status;
	if ((conf = ctl_load_conf(&co, 1)) == NULL)
		return 2;
	sub.conf = conf;
	sub.topic = co.topic ? co.topic : conf->jobs_topic;
	in = ctl_reader_open(
	    optind < argc ? argv[optind] : NULL, err, sizeof(err));
	if (in == NULL) {
		fprintf(stderr, "vsampctl submit: %s\n", err);
		conf_free(conf);
		return 1;
	}
	sub.rk = kafka_ctl_producer_new(
	    conf, submit_on_delivery, &sub, err, sizeof(err));
	if (sub.rk == NULL) {
		fprintf(stderr, "vsampctl submit: %s\n", err);
		ctl_reader_close(in);
		conf_free(conf);
		return 2;
	}
	sub.mq = rd_kafka_queue_get_main(sub.rk);
	ctl_catch_signals();
	progress_init(&sub.prog, "jobs", 0, !co.quiet);
	while (!ctl_interrupted &&
	    (n = ctl_reader_next(
		 in, &line, (size_t)conf->max_message_bytes + 1, &cut)) >= 0)
		submit_line(&sub, line, n, cut);
	status = submit_finish(&sub, co.quiet);
	rd_kafka_queue_destroy(sub.mq);
	rd_kafka_destroy(sub.rk);
	ctl_reader_close(in);
	conf_free(conf);
	return status;
}

/* ---- tail ---- */

struct tail_filter {
	char **ids;
	size_t nids;
	const char *status;
	int raw;
	size_t printed;
};

/* Whether tail's -i and -s let result r through. */
static int
tail_keep(const struct tail_filter *f, const struct result *r)
{
	if (f->status != NULL &&
	    strcmp(r->code == ERR_NONE ? "ok" : "error", f->status) != 0)
		return 0;
	if (f->nids == 0)
		return 1;
	for (size_t i = 0; i < f->nids && r->id != NULL; i++)
		if (strcmp(f->ids[i], r->id) == 0)
			return 1;
	return 0;
}

/*
 * Print one result message (tail's callback for ctl_topic_read): decoded
 * by result_decode(), printed by result_to_json(). A message that is not
 * a result is named on standard error and skipped.
 */
static int
tail_print(void *arg, const rd_kafka_message_t *m)
{
	struct tail_filter *f = arg;
	struct result *r;
	char err[128], *json;

	if ((r = result_decode(m->payload, m->len, err, sizeof(err))) == NULL) {
		fprintf(stderr,
		    "vsampctl tail: partition %d offset %lld: not a result "
		    "(%s)\n",
		    (int)m->partition, (long long)m->offset, err);
		return 0;
	}
	if (!tail_keep(f, r)) {
		result_free(r);
		return 0;
	}
	json = result_to_json(r);
	result_free(r);
	if (f->raw)
		printf("%s\n", json);
	else
		printf("{\"partition\":%d,\"offset\":%lld,\"result\":%s}\n",
		    (int)m->partition, (long long)m->offset, json);
	free(json);
	f->printed++;
	return fflush(stdout) == 0 ? 0 : -1;
}

static void
tail_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl tail [-Fer] [-f conf] [-b brokers] [-t topic]\n"
	    "                     [-i id]... [-s ok|error]\n"
	    "\n"
	    "Print the results of the results topic (kafka.results_topic,\n"
	    "or -t) as JSON lines, without joining a consumer group:\n"
	    "{\"partition\":P,\"offset\":O,\"result\":{...}} per message, or\n"
	    "the result alone with -r.\n"
	    "\n"
	    "  -F          follow: keep printing new results until "
	    "interrupted\n"
	    "              (default: stop at the end of every partition)\n"
	    "  -e          start at the end (with -F: only new results)\n"
	    "  -i ID       only results of job ID (repeatable)\n"
	    "  -s STATUS   only results with status ok or error\n"
	    "  -r          print the result objects alone\n"
	    "  -f FILE     the vsampd config (default %s)\n"
	    "  -b BROKERS  overrides kafka.brokers\n"
	    "  -t TOPIC    overrides kafka.results_topic\n",
	    CONF_DEFAULT_PATH);
}

int
ctl_tail(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"follow", no_argument, NULL, 'F'}, {NULL, 0, NULL, 0}};
	struct ctl_common co = {0};
	struct tail_filter f;
	struct conf *conf;
	int ch, follow = 0, from_end = 0, rc;
	char err[512];

	memset(&f, 0, sizeof(f));
	optind = 1;
	while ((ch = ctl_getopt(&co, argc, argv, "f:b:t:Fei:s:rh", longopts)) !=
	    -1) {
		switch (ch) {
		case 'F':
			follow = 1;
			break;
		case 'e':
			from_end = 1;
			break;
		case 'i':
			f.ids =
			    xreallocarray(f.ids, f.nids + 1, sizeof(*f.ids));
			f.ids[f.nids++] = optarg;
			break;
		case 's':
			if (strcmp(optarg, "ok") != 0 &&
			    strcmp(optarg, "error") != 0) {
				fprintf(stderr,
				    "vsampctl tail: -s takes ok or "
				    "error\n");
				free(f.ids);
				return 2;
			}
			f.status = optarg;
			break;
		case 'r':
			f.raw = 1;
			break;
		case 'h':
			tail_usage(stdout);
			free(f.ids);
			return 0;
		default:
			tail_usage(stderr);
			free(f.ids);
			return 2;
		}
	}
	if (optind != argc) {
		tail_usage(stderr);
		free(f.ids);
		return 2;
	}
	if ((conf = ctl_load_conf(&co, 1)) == NULL) {
		free(f.ids);
		return 2;
	}
	ctl_catch_signals();
	rc = ctl_topic_read(conf, co.topic ? co.topic : conf->results_topic,
	    from_end, follow, &ctl_interrupted, tail_print, &f, err,
	    sizeof(err));
	if (rc == -1)
		fprintf(stderr, "vsampctl tail: %s\n", err);
	free(f.ids);
	conf_free(conf);
	return rc == -1 ? 1 : 0;
}
