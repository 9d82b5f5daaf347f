/*
 * ctl_topic: assign every partition of a topic (no subscribe, so no
 * group membership and no rebalance), read to the high watermarks taken
 * at the start, or follow. A partition is done when a message at its
 * last offset arrives, or when the consumer's position reaches the end
 * (past a transaction marker that is never delivered).
 *
 * vsampctl only: it reads; it never commits offsets or joins a group.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "ctl_topic.h"
#include "kafka.h"
#include "xmalloc.h"

#define META_MS 10000

/*
 * Mark done the partitions whose position has reached their end: on a
 * transactional topic the last offset before the high watermark is a
 * commit (or abort) marker, which is never delivered, so the offset of
 * the last message seen stays short of it; the consumer's position
 * moves past the marker all the same. Returns how many partitions it
 * marked done.
 */
static int
topic_reached(rd_kafka_t *rk, const char *topic,
    const struct rd_kafka_metadata_topic *mt, int64_t *high)
{
	rd_kafka_topic_partition_list_t *pos;
	int done = 0;

	pos = rd_kafka_topic_partition_list_new(mt->partition_cnt);
	for (int i = 0; i < mt->partition_cnt; i++)
		if (high[i] >= 0)
			rd_kafka_topic_partition_list_add(
			    pos, topic, mt->partitions[i].id);
	if (rd_kafka_position(rk, pos) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (int i = 0; i < mt->partition_cnt; i++) {
			rd_kafka_topic_partition_t *tp;

			if (high[i] < 0)
				continue;
			tp = rd_kafka_topic_partition_list_find(
			    pos, topic, mt->partitions[i].id);
			if (tp != NULL && tp->offset >= high[i]) {
				high[i] = -1;
				done++;
			}
		}
	}
	rd_kafka_topic_partition_list_destroy(pos);
	return done;
}

/* Read topic (see ctl_topic.h). */
int
ctl_topic_read(const struct conf *conf, const char *topic, int from_end,
    int follow, volatile sig_atomic_t *stop, ctl_topic_cb cb, void *arg,
    char *errstr, size_t errlen)
{
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *parts = NULL;
	rd_kafka_t *rk;
	int64_t *high = NULL;
	int np = 0, left, rc = -1;
	rd_kafka_resp_err_t e;

	rk = kafka_consumer_new(conf, "vsampctl", NULL, NULL, errstr, errlen);
	if (rk == NULL)
		return -1;
	{
		rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);

		e = rd_kafka_metadata(rk, 0, t, &md, META_MS);
		rd_kafka_topic_destroy(t);
	}
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errlen, "%s: cannot read metadata: %s",
		    conf->brokers, rd_kafka_err2str(e));
		goto out;
	}
	if (md->topic_cnt != 1 || md->topics[0].err != 0 ||
	    md->topics[0].partition_cnt == 0) {
		snprintf(errstr, errlen, "topic %s does not exist on %s", topic,
		    conf->brokers);
		goto out;
	}
	np = md->topics[0].partition_cnt;
	high = xcalloc((size_t)np, sizeof(*high));
	parts = rd_kafka_topic_partition_list_new(np);
	left = 0;
	for (int i = 0; i < np; i++) {
		int32_t p = md->topics[0].partitions[i].id;
		int64_t lo = 0, hi = 0;

		e = rd_kafka_query_watermark_offsets(
		    rk, topic, p, &lo, &hi, META_MS);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
			snprintf(errstr, errlen,
			    "topic %s partition %d: cannot read offsets: %s",
			    topic, (int)p, rd_kafka_err2str(e));
			goto out;
		}
		/* The partition is done once it reaches hi; from the end,
		 * or when empty, it is done already. */
		high[i] = (from_end || hi <= lo) ? -1 : hi;
		if (high[i] >= 0)
			left++;
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
		    from_end ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
	}
	if ((e = rd_kafka_assign(rk, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(errstr, errlen, "cannot assign %s: %s", topic,
		    rd_kafka_err2str(e));
		goto out;
	}
	rc = 0;
	while (!*stop && (follow || left > 0)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
		int idx = -1;

		if (m == NULL) {
			/* Nothing delivered for a while: a partition may
			 * have ended on a marker. */
			if (left > 0)
				left -= topic_reached(
				    rk, topic, &md->topics[0], high);
			continue;
		}
		if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				fprintf(stderr, "vsampctl: %s: %s\n", topic,
				    rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			continue;
		}
		for (int i = 0; i < np; i++)
			if (md->topics[0].partitions[i].id == m->partition)
				idx = i;
		if (cb(arg, m) != 0) {
			snprintf(errstr, errlen, "cannot write the output");
			rc = -1;
			rd_kafka_message_destroy(m);
			break;
		}
		if (idx >= 0 && high[idx] >= 0 && m->offset + 1 >= high[idx]) {
			high[idx] = -1;
			left--;
		}
		rd_kafka_message_destroy(m);
	}
	(void)rd_kafka_assign(rk, NULL);
out:
	if (parts != NULL)
		rd_kafka_topic_partition_list_destroy(parts);
	if (md != NULL)
		rd_kafka_metadata_destroy(md);
	free(high);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}
