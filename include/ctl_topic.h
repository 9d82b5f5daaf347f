/*
 * ctl_topic: read a topic from outside any consumer group, for vsampctl
 * tail and report. Nothing is committed.
 */
#ifndef VSAMPD_CTL_TOPIC_H
#define VSAMPD_CTL_TOPIC_H

#include <signal.h>
#include <stddef.h>

#include <librdkafka/rdkafka.h>

struct conf;

/* Called per message; a non-zero return stops the read (returned as -1). */
typedef int (*ctl_topic_cb)(void *arg, const rd_kafka_message_t *m);

/*
 * Read every partition of topic from its beginning (from_end: its end)
 * up to the end it had when the read began, or, with follow, until
 * *stop is set. Also stops when *stop is set. Uses conf's brokers and
 * kafka.consumer properties. Returns 0, or -1 with errstr (no such
 * topic, broker unreachable, cb failed).
 */
int ctl_topic_read(const struct conf *conf, const char *topic, int from_end,
    int follow, volatile sig_atomic_t *stop, ctl_topic_cb cb, void *arg,
    char *errstr, size_t errlen);

#endif
