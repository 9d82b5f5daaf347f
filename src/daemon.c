/*
 * daemon: vsampd's spine. It creates the loop, the pipeline, the Kafka
 * clients and the metrics endpoint, wires them together, runs the loop
 * until a stop signal, drains, and closes everything in order. Health
 * (/healthz, /readyz, the gauges) and SIGHUP reloads live here too.
 * Consuming, producing, exactly-once and the files on disk are in the
 * other daemon_*.c files, around daemon_int.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "conf.h"
#include "confdiff.h"
#include "daemon.h"
#include "daemon_int.h"
#include "endpoint.h"
#include "inflight.h"
#include "kafka.h"
#include "log.h"
#include "loop.h"
#include "notify.h"
#include "offload.h"
#include "pipeline.h"
#include "result.h"
#include "scope.h"
#include "scope_file.h"
#include "stats.h"
#include "tracker.h"
#include "xmalloc.h"

#define TICK_MS 500
#define FLUSH_MS 5000
#define CLOSE_MS 10000
#define HEALTH_STALE_MS 10000 /* /healthz fails past this tick age */

void
daemon_set_ready(struct daemon *d)
{
	if (d->ready)
		return;
	d->ready = 1;
	notify_send("READY=1\nSTATUS=consuming");
	log_info("ready: consuming %s in group %s", d->conf->jobs_topic,
	    d->conf->group_id);
}

/* ---- metrics and health ---- */

/* Bring the gauges up to date for a scrape. */
static void
daemon_update_gauges(struct daemon *d)
{
	size_t assigned = 0, paused = 0;

	for (size_t i = 0; i < d->nparts; i++) {
		if (d->parts[i] == NULL)
			continue;
		assigned++;
		paused += d->parts[i]->paused != 0;
	}
	stats_set_partitions(d->st, assigned, paused);
	stats_set_inflight(d->st, d->inflight);
	stats_set_scope_entries(d->st, daemon_scope_entries(d));
	stats_set_restoring(d->st, d->nrestoring);
	stats_set_heartbeat_age(
	    d->st, (double)(loop_clock_ms() - d->heartbeat) / 1000.0);
}

/* The first topic that refuses writes (OUT_*), or -1. */
static int
daemon_blocked(const struct daemon *d)
{
	for (int w = 0; w < OUT_N; w++)
		if (d->blocked_since[w] != 0)
			return w;
	return -1;
}

/*
 * GET /metrics, /healthz and /readyz (docs/metrics.md). The answer
 * comes from the loop itself; /healthz also fails when the periodic
 * tick is overdue, i.e. the loop turns but something starves it.
 */
static void
daemon_on_http(void *arg, const char *path, struct endpoint_answer *a)
{
	struct daemon *d = arg;
	uint64_t age = loop_clock_ms() - d->heartbeat;

	if (strcmp(path, "/metrics") == 0) {
		daemon_update_gauges(d);
		a->content_type = "text/plain; version=0.0.4; charset=utf-8";
		stats_render(d->st, &a->body);
	} else if (strcmp(path, "/healthz") == 0) {
		if (age > HEALTH_STALE_MS)
			a->status = 503;
		buf_printf(&a->body, "%s: loop heartbeat %" PRIu64 " ms ago\n",
		    a->status == 200 ? "ok" : "stalled", age);
	} else if (strcmp(path, "/readyz") == 0) {
		if (!d->ready)
			buf_puts(&a->body, "not ready: waiting for kafka\n");
		else if (d->state != D_RUNNING)
			buf_puts(&a->body, "not ready: draining\n");
		else if (daemon_blocked(d) >= 0)
			buf_printf(&a->body,
			    "not ready: topic %s refuses writes, %zu "
			    "message(s) held\n",
			    out_topic(d, daemon_blocked(d)), daemon_nheld(d));
		else if (d->nrestoring > 0)
			/* Ready: the other partitions' jobs flow meanwhile
			 * (docs/dedup.md). */
			buf_printf(&a->body,
			    "ready (restoring the dedup index of %zu "
			    "partition(s))\n",
			    d->nrestoring);
		else
			buf_puts(&a->body, "ready\n");
		if (!d->ready || d->state != D_RUNNING ||
		    daemon_blocked(d) >= 0)
			a->status = 503;
	} else if (strcmp(path, "/") == 0) {
		buf_puts(&a->body, "vsampd: /metrics /healthz /readyz\n");
	} else {
		a->status = 404;
		buf_puts(&a->body, "not found\n");
	}
}

/* ---- drain ---- */

static void
daemon_begin_drain(struct daemon *d)
{
	rd_kafka_topic_partition_list_t *l;

	if (d->state != D_RUNNING) {
		/* A second signal: stop waiting for in-flight jobs. */
		log_notice("second stop signal: not waiting any longer");
		d->deadline = loop_clock_ms();
		return;
	}
	notify_send("STOPPING=1\nSTATUS=draining");
	log_info("draining: %zu job(s) in flight, waiting up to %ld ms",
	    d->inflight, d->conf->shutdown_timeout_ms);
	d->state = D_DRAINING;
	d->gated = 0; /* polling goes on, with every partition paused */
	d->deadline = loop_clock_ms() + (uint64_t)d->conf->shutdown_timeout_ms;
	daemon_scope_drain(d);
	if (rd_kafka_assignment(d->cons, &l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (l->cnt > 0)
			rd_kafka_pause_partitions(d->cons, l);
		rd_kafka_topic_partition_list_destroy(l);
	}
	daemon_check_drained(d);
}

void
daemon_check_drained(struct daemon *d)
{
	if (d->state != D_DRAINING)
		return;
	if (d->inflight == 0 || loop_clock_ms() >= d->deadline)
		d->state = D_DONE;
}

/* ---- reload ---- */

static void
reload_warn(void *arg, const char *msg)
{
	(void)arg;
	log_warnx("reload: %s", msg);
}

/* The changes of a reload, logged once it is applied. */
struct reload_log {
	int applied;
	int restart;
	struct buf lines; /* "R" or "A", then the line, NUL-separated */
};

static void
reload_change(
    void *arg, const char *path, const char *was, const char *now, int restart)
{
	struct reload_log *rl = arg;

	if (restart) {
		rl->restart++;
		buf_printf(&rl->lines,
		    "R%s changed (%s -> %s): needs a restart, keeping %s", path,
		    was, now, was);
	} else {
		rl->applied++;
		buf_printf(&rl->lines, "A%s: %s -> %s", path, was, now);
	}
	buf_append(&rl->lines, "", 1);
}

static void
reload_print(const struct reload_log *rl)
{
	for (size_t off = 0; off < rl->lines.len;) {
		const char *l = rl->lines.data + off;

		if (l[0] == 'R')
			log_warnx("reload: %s", l + 1);
		else
			log_notice("reload: %s", l + 1);
		off += strlen(l) + 1;
	}
}

/*
 * SIGHUP: re-read the config file and apply what can change without
 * reconnecting Kafka (backends, defaults, worker limits, dedup
 * threshold). A config that does not load, or whose backends cannot be
 * made, is rejected whole and the running one stays. Restart-only keys
 * keep their running values. Jobs in flight finish on the config they
 * started with.
 */
static void
daemon_reload(struct daemon *d)
{
	struct conf *next, *old = d->conf;
	struct reload_log rl;
	char err[1024];

	memset(&rl, 0, sizeof(rl));
	buf_init(&rl.lines);
	log_info("SIGHUP: reloading %s", old->path);
	next = conf_load(
	    old->path, CONF_NEED_KAFKA, reload_warn, NULL, err, sizeof(err));
	if (next == NULL) {
		log_warnx("reload rejected, the running configuration stays: "
			  "%s",
		    err);
		stats_reload(d->st, 0);
		return;
	}
	(void)confdiff_each(old, next, reload_change, &rl);
	confdiff_keep_restart(next, old);
	if (pipeline_set_conf(d->pl, next, old, err, sizeof(err)) == -1) {
		confdiff_keep_restart(next, old); /* give them back */
		conf_free(next);
		buf_free(&rl.lines);
		log_warnx("reload rejected, the running configuration stays: "
			  "%s",
		    err);
		stats_reload(d->st, 0);
		return;
	}
	/* old now belongs to the pipeline, freed after its last job. */
	d->conf = next;
	reload_print(&rl);
	buf_free(&rl.lines);
	log_info("reload applied: %d change(s)%s", rl.applied,
	    rl.restart ? ", some need a restart (see above)" : "");
	stats_reload(d->st, 1);
	daemon_backpressure(d);
}

static void
daemon_on_signal(int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("received %s",
			    si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
			daemon_begin_drain(d);
			break;
		case SIGHUP:
			daemon_reload(d);
			break;
		default:
			break;
		}
	}
}

static void
daemon_on_tick(void *arg)
{
	struct daemon *d = arg;
	uint64_t now = loop_clock_ms();

	d->heartbeat = now;
	/* librdkafka leaves the group if the consumer is not polled within
	 * max.poll.interval.ms, even while idle or paused: a gate closed
	 * for GATE_MS turns into a pause here, and polling goes on. */
	daemon_backpressure(d);
	daemon_poll_consumer(d);
	daemon_poll_producer(d);
	if (d->watchdog_ms > 0 &&
	    now - d->last_watchdog >= d->watchdog_ms / 2) {
		notify_send("WATCHDOG=1");
		d->last_watchdog = now;
	}
	daemon_save_state(d, 0);
	daemon_check_drained(d);
	loop_timer_set(d->tick, TICK_MS);
}

/* ---- start and stop ---- */

static int
daemon_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Wait until the topics exist; a stop signal meanwhile ends the wait. */
static int
daemon_wait_topics(struct daemon *d)
{
	const char *names[4];
	int parts[4];
	size_t n = 0;
	char err[256];
	int warned = 0;

	names[n++] = d->conf->jobs_topic;
	names[n++] = d->conf->results_topic;
	if (d->conf->dlq_topic != NULL)
		names[n++] = d->conf->dlq_topic;
	if (d->conf->scope_topic != NULL)
		names[n++] = d->conf->scope_topic;
	for (;;) {
		struct signalfd_siginfo si;

		if (kafka_topics_exist(d->prod, names, n, parts, 1000, err,
			sizeof(err)) == 0) {
			/* Before anything is consumed: a changelog that
			 * does not match the jobs topic ends the start. */
			if (d->conf->scope_topic != NULL)
				daemon_scope_check(d, parts[0], parts[n - 1]);
			return 0;
		}
		if (!warned++)
			log_warnx("waiting for kafka: %s", err);
		else
			log_debug("still waiting for kafka: %s", err);
		notify_send("STATUS=waiting for topics");
		for (int i = 0; i < 10; i++) {
			if (read(d->sfd, &si, sizeof(si)) ==
			    (ssize_t)sizeof(si)) {
				if (si.ssi_signo == SIGTERM ||
				    si.ssi_signo == SIGINT)
					return -1;
				if (si.ssi_signo == SIGHUP)
					daemon_reload(d);
			}
			rd_kafka_poll(d->prod, 0);
			/* The endpoint answers meanwhile (/readyz 503). */
			d->heartbeat = loop_clock_ms();
			if (loop_run_once(d->loop, 100) == -1)
				fatal("epoll_wait");
		}
	}
}

static void
daemon_close(struct daemon *d)
{
	struct pmsg *m;
	uint64_t until;

	struct djob *j;

	/* Save the dedup index while it exists; nothing adds to it now.
	 * A save in progress restarts so that it includes every entry
	 * (one whose end the worker is writing is let finish first). */
	if (d->save_task != NULL)
		offload_wait(pipeline_offload(d->pl));
	scope_file_save_free(d->saver);
	d->saver = NULL;
	daemon_save_state(d, 1);
	/* The last finished jobs' transaction. */
	if (d->eos)
		daemon_txn_commit(d);
	/* Jobs cut off by the deadline produce nothing. */
	pipeline_free(d->pl);
	d->pl = NULL;
	TAILQ_FOREACH(j, &d->jobs, dentry)
	j->in_pipeline = 0;
	daemon_flush_pending(d);
	if (rd_kafka_flush(d->prod, FLUSH_MS) != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warnx("%d message(s) not delivered at shutdown",
		    rd_kafka_outq_len(d->prod));
	for (size_t i = 0; i < d->nparts; i++)
		if (d->parts[i] != NULL)
			dpart_store(d, d->parts[i]);
	if (d->cons != NULL) {
		rd_kafka_error_t *cerr;

		/* Commit what is stored now; closing waits for commits in
		 * flight, and bounds the wait, unlike a synchronous commit. */
		if (!d->eos)
			rd_kafka_commit(d->cons, NULL, 1);
		cerr = rd_kafka_consumer_close_queue(d->cons, d->cq);
		until = loop_clock_ms() + CLOSE_MS;
		if (cerr != NULL) {
			log_warnx("closing the consumer: %s",
			    rd_kafka_error_string(cerr));
			rd_kafka_error_destroy(cerr);
			until = 0;
		}
		while (!rd_kafka_consumer_closed(d->cons) &&
		    loop_clock_ms() < until) {
			rd_kafka_message_t *msg;

			msg = rd_kafka_consumer_poll(d->cons, 100);
			if (msg != NULL)
				rd_kafka_message_destroy(msg);
		}
	}
	while ((m = TAILQ_FIRST(&d->pending)) != NULL) {
		TAILQ_REMOVE(&d->pending, m, entry);
		pmsg_free(m);
	}
	/* Held messages were never delivered: their jobs store nothing. */
	while ((m = TAILQ_FIRST(&d->held)) != NULL) {
		TAILQ_REMOVE(&d->held, m, entry);
		pmsg_free(m);
	}
	memset(d->nheld, 0, sizeof(d->nheld));
	/* Forget every remaining job before the handles go. */
	while ((j = TAILQ_FIRST(&d->jobs)) != NULL)
		djob_free(j);
	for (size_t i = 0; i < d->nparts; i++) {
		struct dpart *p = d->parts[i];

		if (p == NULL)
			continue;
		tracker_free(p->tr);
		scope_free(p->scope);
		free(p);
	}
	free(d->parts);
	d->parts = NULL;
	free(d->paused_gone);
	d->paused_gone = NULL;
	/* A clean exit: what was in flight was drained or cut off on
	 * purpose, and is no suspect. */
	inflight_close(d->inf);
	d->inf = NULL;
	d->nparts = 0;
}

/*
 * Make what the daemon runs on: the loop, the pipeline, the metrics,
 * the endpoint and both Kafka clients. Any failure here is fatal: it is
 * start-up.
 */
static void
daemon_start(struct daemon *d, struct conf *conf)
{
	char err[512];

	memset(d, 0, sizeof(*d));
	d->conf = conf;
	d->cfd = d->cwfd = d->pfd = d->pwfd = d->rfd = d->rwfd = -1;
	TAILQ_INIT(&d->pending);
	TAILQ_INIT(&d->held);
	TAILQ_INIT(&d->jobs);
	TAILQ_INIT(&d->forgotten);
	if ((d->sfd = daemon_signalfd()) == -1)
		fatal("signalfd");
	if ((d->loop = loop_new()) == NULL)
		fatal("epoll");
	d->pl =
	    pipeline_new(d->loop, conf, daemon_on_result, d, err, sizeof(err));
	if (d->pl == NULL)
		fatalx("%s", err);
	d->st = stats_new(PACKAGE_VERSION);
	pipeline_set_stats(d->pl, d->st);
	stats_delivery_failure_topic(d->st, conf->results_topic);
	if (conf->dlq_topic != NULL)
		stats_delivery_failure_topic(d->st, conf->dlq_topic);
	d->heartbeat = loop_clock_ms();
	if (conf->metrics_listen != NULL && *conf->metrics_listen != '\0') {
		d->endpoint = endpoint_new(d->loop, conf->metrics_listen,
		    daemon_on_http, d, err, sizeof(err));
		if (d->endpoint == NULL)
			fatalx("%s", err);
		log_info("metrics endpoint on http://%s/metrics",
		    conf->metrics_listen);
	}
	d->prod =
	    kafka_producer_new(conf, daemon_on_delivery, d, err, sizeof(err));
	if (d->prod == NULL)
		fatalx("%s", err);
	d->eos = conf->exactly_once;
	if (d->eos)
		daemon_txn_init(d);
	d->cons = kafka_consumer_new(
	    conf, conf->group_id, daemon_rebalance, d, err, sizeof(err));
	if (d->cons == NULL)
		fatalx("%s", err);
	daemon_scope_start(d);
}

/* Put the Kafka queues, the signalfd and the timers on the loop. */
static void
daemon_wire(struct daemon *d)
{
	d->cq = rd_kafka_queue_get_consumer(d->cons);
	d->pq = rd_kafka_queue_get_main(d->prod);
	if ((d->cfd = kafka_queue_pipe(d->cq, &d->cwfd)) == -1 ||
	    (d->pfd = kafka_queue_pipe(d->pq, &d->pwfd)) == -1)
		fatal("pipe");
	d->cio =
	    loop_io_add(d->loop, d->cfd, EPOLLIN, daemon_on_consumer_fd, d);
	d->pio =
	    loop_io_add(d->loop, d->pfd, EPOLLIN, daemon_on_producer_fd, d);
	d->sio = loop_io_add(d->loop, d->sfd, EPOLLIN, daemon_on_signal, d);
	if (d->cio == NULL || d->pio == NULL || d->sio == NULL)
		fatal("epoll_ctl");
	d->tick = loop_timer_new(d->loop, daemon_on_tick, d);
	d->feed = loop_timer_new(d->loop, daemon_on_feed, d);
	d->retry = loop_timer_new(d->loop, daemon_on_retry, d);
	loop_timer_set(d->tick, TICK_MS);
	if (d->eos) {
		d->txn_timer = loop_timer_new(d->loop, daemon_on_txn_timer, d);
		loop_timer_set(d->txn_timer, (uint64_t)d->conf->transaction_ms);
	}
	d->watchdog_ms = notify_watchdog_ms();
	daemon_scope_wire(d);
}

/* Take everything off the loop again (daemon_wire's reverse). */
static void
daemon_unwire(struct daemon *d)
{
	loop_io_del(d->cio);
	loop_io_del(d->pio);
	loop_io_del(d->sio);
	loop_timer_free(d->tick);
	loop_timer_free(d->feed);
	loop_timer_free(d->retry);
	loop_timer_free(d->txn_timer);
	rd_kafka_queue_io_event_enable(d->cq, -1, NULL, 0);
	rd_kafka_queue_io_event_enable(d->pq, -1, NULL, 0);
	rd_kafka_queue_destroy(d->cq);
	rd_kafka_queue_destroy(d->pq);
	daemon_scope_unwire(d);
}

static void
daemon_subscribe(struct daemon *d)
{
	const struct conf *conf = d->conf;
	rd_kafka_topic_partition_list_t *topics;

	topics = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(
	    topics, conf->jobs_topic, RD_KAFKA_PARTITION_UA);
	if (rd_kafka_subscribe(d->cons, topics) != RD_KAFKA_RESP_ERR_NO_ERROR)
		fatalx("cannot subscribe to %s", conf->jobs_topic);
	rd_kafka_topic_partition_list_destroy(topics);
	log_info("started: brokers %s, group %s, jobs %s, results %s",
	    conf->brokers, conf->group_id, conf->jobs_topic,
	    conf->results_topic);
}

/* Free what daemon_start made, the config last: the pipeline borrows
 * it. */
static void
daemon_free(struct daemon *d)
{
	int fds[] = {d->cfd, d->cwfd, d->pfd, d->pwfd, d->sfd};

	endpoint_free(d->endpoint);
	pipeline_free(d->pl);
	daemon_scope_free(d);
	if (d->cons != NULL)
		rd_kafka_destroy(d->cons);
	if (d->prod != NULL)
		rd_kafka_destroy(d->prod);
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] != -1)
			close(fds[i]);
	loop_free(d->loop);
	stats_free(d->st);
	conf_free(d->conf);
}

int
daemon_run(struct conf *conf)
{
	struct daemon dd, *d = &dd;

	daemon_start(d, conf);
	daemon_load_state(d);
	daemon_open_inflight(d);
	if (daemon_wait_topics(d) == -1) {
		log_info("stopped while waiting for kafka");
		daemon_free(d);
		log_info("stopped");
		return 0;
	}
	daemon_wire(d);
	daemon_subscribe(d);
	/* Serve whatever was queued before the pipes were set up. */
	daemon_poll_consumer(d);
	daemon_poll_producer(d);
	while (d->state != D_DONE) {
		if (loop_run_once(d->loop, -1) == -1)
			fatal("epoll_wait");
	}
	log_info("drained: %zu job(s) left unfinished", d->inflight);
	daemon_close(d);
	daemon_unwire(d);
	daemon_free(d);
	log_info("stopped");
	return 0;
}
