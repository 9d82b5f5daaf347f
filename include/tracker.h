/*
 * tracker: the at-least-once commit point of one partition.
 *
 * Offsets are added in the order they were received (not assumed to be
 * contiguous: transaction markers and compaction leave gaps). Jobs finish
 * out of order; the watermark is the offset after the last one of the
 * longest done prefix, which is what rd_kafka_offsets_store() wants.
 * Leaf module.
 */
#ifndef VSAMPD_TRACKER_H
#define VSAMPD_TRACKER_H

#include <stddef.h>
#include <stdint.h>

struct tracker;

struct tracker *tracker_new(void);
void tracker_free(struct tracker *t);

/* Record a received offset. Offsets lower than or equal to the last added
 * one are ignored and return -1 (a repeat after a seek); 0 otherwise. */
int tracker_add(struct tracker *t, int64_t offset);

/* Mark an offset done. Returns 0, or -1 when the offset is not pending
 * (already done, never added, or forgotten): normal after a rebalance. */
int tracker_done(struct tracker *t, int64_t offset);

/*
 * The next offset to commit (last offset of the done prefix + 1), or -1
 * when nothing has completed since creation. It advances only as the done
 * prefix grows; done offsets behind it are released from memory.
 */
int64_t tracker_watermark(const struct tracker *t);

/* Offsets added and not yet done. */
size_t tracker_pending(const struct tracker *t);

#endif
