/*
 * kafka: making librdkafka handles the way vsampd needs them (docs/delivery.md,
 * vsampd.conf(5)): properties vsampd owns are forced, the user's are passed
 * through, logs go to a queue served on the loop's thread, and each
 * queue can wake the loop through a pipe.
 */
#ifndef VSAMPD_KAFKA_H
#define VSAMPD_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

struct conf;

typedef void (*kafka_rebalance_cb)(rd_kafka_t *rk, rd_kafka_resp_err_t err,
    rd_kafka_topic_partition_list_t *parts, void *opaque);
typedef void (*kafka_dr_cb)(
    rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* A consumer in conf's group. Returns NULL with errstr. */
rd_kafka_t *kafka_consumer_new(const struct conf *c, const char *group,
    kafka_rebalance_cb rebalance, void *opaque, char *errstr, size_t errlen);
/* An idempotent producer (murmur2_random partitioner), transactional
 * with kafka.exactly_once. */
rd_kafka_t *kafka_producer_new(const struct conf *c, kafka_dr_cb dr,
    void *opaque, char *errstr, size_t errlen);
/* The same for vsampctl, never transactional (see kafka.c). */
rd_kafka_t *kafka_ctl_producer_new(const struct conf *c, kafka_dr_cb dr,
    void *opaque, char *errstr, size_t errlen);
/* Whether librdkafka takes the consumer's and the producer's properties
 * (names and values; what only a connection can tell is not checked).
 * -1 with errstr naming the property. */
int kafka_check(const struct conf *c, char *errstr, size_t errlen);

/*
 * Make q write to a new pipe when it gets an item while empty; returns the
 * read end (non-blocking), or -1. *wfd gets the write end to close later.
 */
int kafka_queue_pipe(rd_kafka_queue_t *q, int *wfd);
/* Empty a queue-event pipe. */
void kafka_pipe_drain(int fd);

/*
 * Ask the cluster whether every topic in names[0..n) exists (a blocking
 * metadata request of at most timeout_ms). Returns 0 when all exist, -1
 * with errstr naming the first missing one or the error. partitions, when
 * not NULL, gets each topic's partition count.
 */
int kafka_topics_exist(rd_kafka_t *rk, const char *const *names, size_t n,
    int *partitions, int timeout_ms, char *errstr, size_t errlen);

/* The restore consumer of the dedup changelog (see kafka.c). */
rd_kafka_t *kafka_restore_consumer_new(
    const struct conf *c, char *errstr, size_t errlen);
/* The consumer of vsampctl replay, in group (see kafka.c). */
rd_kafka_t *kafka_replay_consumer_new(
    const struct conf *c, const char *group, char *errstr, size_t errlen);

/* The offset auto.offset.reset names for a partition with no committed
 * offset: RD_KAFKA_OFFSET_END for latest (largest, end), else
 * RD_KAFKA_OFFSET_BEGINNING (vsampd's default, earliest). */
int64_t kafka_offset_reset(const struct conf *c);

#endif
