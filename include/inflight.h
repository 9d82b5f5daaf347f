/*
 * inflight: which job offsets were in flight when the process last
 * ended, so that a job that makes vsampd exit uncleanly (a crash, the
 * OOM killer, a watchdog kill) cannot crash-loop the consumer group.
 *
 * The record is a small file mapped shared into memory: a slot per job
 * in flight, written with plain stores as jobs start and end (no system
 * call per job), which the kernel keeps when the process dies however
 * it dies. A clean exit marks the file clean. At start, the offsets of
 * an unclean record each count one more unclean exit in a row; an offset
 * not in flight at an unclean exit, or any clean exit, ends its streak.
 * docs/delivery.md describes the rule. A power loss may lose the last
 * writes of the mapping; that only delays the rule by one exit.
 */
#ifndef VSAMPD_INFLIGHT_H
#define VSAMPD_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

struct inflight;

/*
 * Open (or create) the record at path for jobs topic `topic`, with room
 * for `slots` jobs in flight, and read what the last exit left: a record
 * of another topic, or one that does not read back, counts nothing.
 * Returns NULL with errstr when the file cannot be created or mapped.
 */
struct inflight *inflight_open(const char *path, const char *topic,
    size_t slots, char *errstr, size_t errlen);

/* Unclean exits in a row that found partition/offset in flight (0: it
 * is no suspect). */
unsigned inflight_exits(
    const struct inflight *f, int32_t partition, int64_t offset);

/* Suspects left from the last exits. */
size_t inflight_nsuspects(const struct inflight *f);

/* Record a job in flight; returns its slot, or -1 when every slot is
 * taken (the job then goes unrecorded). */
int inflight_add(struct inflight *f, int32_t partition, int64_t offset);

/* The job of slot (from inflight_add; -1 is a no-op) has ended. */
void inflight_del(struct inflight *f, int slot);

/* A clean exit: mark the record clean, then unmap and close. NULL is a
 * no-op. */
void inflight_close(struct inflight *f);

#endif
