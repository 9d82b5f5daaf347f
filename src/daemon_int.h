/*
 * daemon_int.h: what the files of the daemon share, and no one else.
 *
 * The daemon is one subsystem in five files around this header:
 *
 *   daemon.c          the spine: start, the loop, health, drain, reload,
 *                     stop
 *   daemon_consume.c  partitions, job slots, consuming, backpressure,
 *                     rebalances
 *   daemon_produce.c  results and DLQ copies to the producer, delivery
 *                     reports, holds and fallbacks
 *   daemon_txn.c      exactly-once: transactions, aborts, rewinds
 *   daemon_state.c    what the daemon keeps on disk: the dedup state
 *                     file's saves, the in-flight record
 *   daemon_scope.c    the dedup changelog (kafka.scope_topic): one index
 *                     per partition, restored on assignment, logged to
 *                     the changelog with each job's result
 *
 * Ownership: a struct djob exists from the moment a job message is
 * consumed until its result (and DLQ copy) is acknowledged by the broker,
 * or until it is forgotten (revoked partition, drain deadline). It is
 * referenced by the pipeline (as the token) and by the producer (as the
 * message opaque); `in_pipeline` and `acks` count those references, and
 * the djob is freed when both are zero (djob_release).
 *
 * At-least-once: a partition's offset is stored only up to the contiguous
 * prefix of jobs whose every produced message was acknowledged
 * (tracker.c). librdkafka's auto-commit commits what is stored.
 *
 * Only the daemon's files include this header; everything in it runs on
 * the loop's thread.
 */
#ifndef VSAMPD_DAEMON_INT_H
#define VSAMPD_DAEMON_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <librdkafka/rdkafka.h>

#include "scope.h"

struct conf;
struct endpoint;
struct inflight;
struct loop;
struct loop_io;
struct loop_timer;
struct offload_task;
struct pipeline;
struct pjob;
struct result;
struct scope_file_part;
struct scope_file_saver;
struct stats;
struct tracker;

enum dstate { D_RUNNING = 0, D_DRAINING, D_DONE };

/* Offsets whose results the broker refused for good (exactly-once). */
#define POISON_MAX 1024

/* The messages a job may produce (daemon_produce.c): its result, its DLQ
 * copy, and its records of the dedup changelog. */
enum { OUT_RESULT = 0, OUT_DLQ = 1, OUT_SCOPE = 2, OUT_N = 3 };

struct pmsg;

struct dpart;

struct djob {
	struct daemon *d;
	struct dpart *part; /* NULL once forgotten */
	int32_t partition;
	int64_t offset;
	char *key;
	size_t keylen;
	char *value; /* the job bytes, for the DLQ copy; NULL if too big */
	size_t vlen;
	rd_kafka_headers_t *hdrs; /* the job's headers, or NULL */
	char *id; /* the job id once known, for logs */
	int in_pipeline;
	int acks; /* produced messages not yet acknowledged */
	int replaced; /* the result was replaced by an internal error */
	int dlq_sent; /* the DLQ copy was produced */
	struct result *res; /* exactly-once: waiting for its transaction */
	int in_txn; /* exactly-once: produced in a transaction */
	int stage[OUT_N]; /* by OUT_*: 1 while the small fallback is out */
	struct pmsg *orig[OUT_N]; /* the refused original, meanwhile */
	int tries[OUT_N]; /* failed deliveries in a row, for the backoff */
	unsigned epoch; /* the partition's epoch when consumed */
	struct pjob *pj; /* the pipeline's job while in_pipeline */
	int slot; /* in the in-flight record, or -1 */
	int waiting; /* a suspect waiting to run alone (not submitted) */
	int forgotten; /* in daemon->forgotten (pentry) */
	/* kafka.scope_topic (daemon_scope.c) */
	struct scope_journal jr; /* what its dedup did to part->scope */
	int restore_wait; /* consumed while its partition restores */
	int scope_sent; /* its changelog records were produced */
	int has_scope_lo;
	int64_t scope_lo; /* its lowest changelog offset acknowledged */
	TAILQ_ENTRY(djob) pentry; /* in part->jobs while assigned */
	TAILQ_ENTRY(djob) dentry; /* in daemon->jobs always */
};

TAILQ_HEAD(djobs, djob);

struct dpart {
	int32_t partition;
	struct tracker *tr;
	int paused;
	int64_t stored;
	int64_t last; /* the last offset received, or -1 */
	unsigned epoch; /* bumped when offsets go backwards */
	struct djobs jobs;
	/* kafka.scope_topic (daemon_scope.c) */
	struct scope *scope; /* this partition's dedup index */
	int restoring; /* being restored from the changelog: jobs wait */
	int64_t restore_pos; /* the next changelog offset to read */
	int64_t restore_from; /* where this restore began */
	uint64_t restore_t0; /* loop_clock_ms() when it began */
	uint64_t restore_records, restore_bad;
	int64_t scope_next; /* the changelog offset after what the index
			     * holds (the checkpoint's offset) */
};

/* A message waiting for room in the producer queue. */
struct pmsg {
	char *topic;
	int32_t partition; /* RD_KAFKA_PARTITION_UA: the partitioner's */
	char *key;
	size_t keylen;
	char *value;
	size_t vlen;
	rd_kafka_headers_t *hdrs;
	struct djob *job;
	uint64_t retry_at; /* held: when to produce it again */
	TAILQ_ENTRY(pmsg) entry;
};

TAILQ_HEAD(pmsgs, pmsg);

struct daemon {
	struct conf *conf;
	struct loop *loop;
	struct pipeline *pl;
	rd_kafka_t *cons;
	rd_kafka_t *prod;
	rd_kafka_queue_t *cq;
	rd_kafka_queue_t *pq;
	int cfd, cwfd, pfd, pwfd, sfd;
	struct loop_io *cio, *pio, *sio;
	struct loop_timer *tick;
	struct dpart **parts; /* by partition number */
	unsigned char *paused_gone; /* by number: revoked while we had it
				     * paused (librdkafka keeps the flag) */
	size_t nparts;
	struct djobs jobs; /* every live djob */
	struct djobs forgotten; /* revoked, their work not yet stopped */
	size_t inflight; /* live djobs */
	struct pmsgs pending; /* waiting for room in the producer queue */
	struct pmsgs held; /* refused by their topic, retried later */
	size_t nheld[OUT_N]; /* by OUT_* */
	uint64_t blocked_since[OUT_N]; /* by OUT_*: the topic refuses, or 0 */
	struct inflight *inf; /* the in-flight record, or NULL (off) */
	struct djob *suspect; /* a suspect job, run alone, or NULL */
	struct loop_timer *retry; /* produces the held messages again */
	uint64_t retry_at; /* when it fires, or 0 */
	uint64_t delivery_failures;
	struct scope_file_saver *saver; /* a state-file save in progress */
	struct offload_task *save_task; /* its end, on the worker thread */
	uint64_t last_save;
	int bp_paused; /* partitions are paused for backpressure */
	int gated; /* at max_inflight: messages stay in the consumer queue */
	uint64_t gated_since;
	struct loop_timer *feed; /* drains the consumer queue once the gate
				  * opens (never from inside a callback) */
	int ready;
	enum dstate state;
	uint64_t deadline;
	uint64_t watchdog_ms;
	uint64_t last_watchdog;
	struct stats *st;
	struct endpoint *endpoint; /* NULL: metrics.listen is off */
	uint64_t heartbeat; /* loop_clock_ms() of the last tick */
	int eos; /* kafka.exactly_once */
	int txn_doomed; /* exactly-once: a produce failed at once */
	struct loop_timer *txn_timer; /* commits every transaction_ms */
	struct {
		int32_t partition;
		int64_t offset;
	} poison[POISON_MAX]; /* results refused for good */
	size_t npoison;
	/* kafka.scope_topic (daemon_scope.c); rcons NULL: off */
	rd_kafka_t *rcons; /* the restore consumer */
	rd_kafka_queue_t *rq;
	int rfd, rwfd;
	struct loop_io *rio;
	struct loop_timer *rfeed; /* the next slice of a restore */
	size_t scope_cap; /* entries per partition's index */
	int scope_nparts; /* partitions of the jobs topic and changelog */
	size_t nrestoring;
	struct scope_file_part *ckpt; /* checkpoints loaded, not yet used */
	size_t nckpt;
};

/* daemon.c */
void daemon_set_ready(struct daemon *d);
void daemon_check_drained(struct daemon *d);

/* daemon_consume.c */
void dpart_store(struct daemon *d, struct dpart *p);
void djob_release(struct djob *j);
void djob_unsuspect(struct daemon *d, struct djob *j);
void djob_free(struct djob *j);
void daemon_backpressure(struct daemon *d);
void daemon_poll_consumer(struct daemon *d);
void daemon_on_feed(void *arg);
void daemon_on_consumer_fd(int fd, uint32_t events, void *arg);
void daemon_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque);

/* daemon_produce.c */
void daemon_on_result(void *arg, void *token, struct result *r);
void daemon_produce_to(struct daemon *d, const char *topic, int32_t partition,
    const char *key, size_t keylen, const char *value, size_t vlen,
    rd_kafka_headers_t *hdrs, struct djob *j);
void daemon_emit(struct daemon *d, struct djob *j, struct result *r);
void daemon_on_delivery(
    rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
void daemon_poll_producer(struct daemon *d);
void daemon_on_producer_fd(int fd, uint32_t events, void *arg);
void daemon_flush_pending(struct daemon *d);
void daemon_on_retry(void *arg);
size_t daemon_nheld(const struct daemon *d);
const char *out_topic(const struct daemon *d, int which);
void pmsg_free(struct pmsg *m);

/* daemon_txn.c */
void daemon_txn_init(struct daemon *d);
void daemon_txn_commit(struct daemon *d);
void daemon_on_txn_timer(void *arg);
void daemon_txn_delivered(struct daemon *d, const struct djob *j,
    const char *topic, rd_kafka_resp_err_t err);
void daemon_txn_produce_failed(struct daemon *d, struct djob *j,
    const char *topic, rd_kafka_resp_err_t err, int for_good);

/* daemon_scope.c */
void daemon_scope_start(struct daemon *d);
void daemon_scope_check(struct daemon *d, int jobs_parts, int scope_parts);
void daemon_scope_wire(struct daemon *d);
void daemon_scope_unwire(struct daemon *d);
void daemon_scope_free(struct daemon *d);
void daemon_scope_assigned(struct daemon *d, struct dpart *p);
void daemon_scope_revoked(struct daemon *d, struct dpart *p);
void daemon_scope_rewind(struct daemon *d);
void daemon_scope_drain(struct daemon *d);
void daemon_scope_emit(struct daemon *d, struct djob *j);
void daemon_scope_delivered(
    struct daemon *d, struct djob *j, int32_t partition, int64_t offset);
size_t daemon_scope_entries(const struct daemon *d);
void djob_submit(struct daemon *d, struct djob *j, const void *buf, size_t len);
void daemon_run_suspect(struct daemon *d);

/* daemon_state.c */
void daemon_load_state(struct daemon *d);
void daemon_save_state(struct daemon *d, int finish);
void daemon_save_abandon(struct daemon *d);
void daemon_open_inflight(struct daemon *d);

#endif
