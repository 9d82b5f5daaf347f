/*
 * tracker: the commit point of one partition (docs/delivery.md).
 *
 * The offsets of a partition are not contiguous (transaction markers and
 * compaction leave gaps), so the watermark cannot be computed from offset
 * arithmetic: it runs over the offsets actually received, in order. They
 * are kept in a ring, oldest first, each with a done flag. Offsets arrive
 * in increasing order, so the ring is sorted and tracker_done() finds its
 * entry by binary search; the done prefix is then popped from the front,
 * and the watermark becomes the last popped offset + 1.
 *
 * Costs: O(1) amortised per add, O(log n) per done plus the amortised pop.
 * The ring holds only the window from the oldest pending offset to the
 * newest one received, and shrinks again when that window does.
 *
 * A leaf module: it knows offsets, not Kafka; the daemon stores what it
 * computes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "tracker.h"
#include "xmalloc.h"

#define TRACKER_MINCAP 16

struct tracker_ent {
	int64_t offset;
	int done;
};

struct tracker {
	struct tracker_ent *ring; /* cap entries, a power of two */
	size_t cap;
	size_t head; /* index of the oldest entry */
	size_t count; /* entries in the ring */
	size_t ndone; /* of them, done (all behind a pending one) */
	int64_t last; /* the last offset added; -1 before the first */
	int64_t watermark; /* -1 until the done prefix is non-empty */
};

static struct tracker_ent *
tracker_at(const struct tracker *t, size_t i)
{
	return &t->ring[(t->head + i) & (t->cap - 1)];
}

/* Move the entries to a ring of newcap slots, oldest at index 0. */
static void
tracker_resize(struct tracker *t, size_t newcap)
{
	struct tracker_ent *n;

	n = xcalloc(newcap, sizeof(*n));
	for (size_t i = 0; i < t->count; i++)
		n[i] = *tracker_at(t, i);
	free(t->ring);
	t->ring = n;
	t->cap = newcap;
	t->head = 0;
}

/*
 * Create an empty tracker. The caller owns it and frees it with
 * tracker_free().
 */
struct tracker *
tracker_new(void)
{
	struct tracker *t;

	t = xcalloc(1, sizeof(*t));
	t->cap = TRACKER_MINCAP;
	t->ring = xcalloc(t->cap, sizeof(*t->ring));
	t->last = -1;
	t->watermark = -1;
	return t;
}

/* Free a tracker; NULL is accepted. */
void
tracker_free(struct tracker *t)
{
	if (t == NULL)
		return;
	free(t->ring);
	free(t);
}

/*
 * Record a received offset at the back of the ring. Kafka offsets are
 * never negative, and INT64_MAX is refused too since its watermark would
 * overflow. Returns 0, or -1 (and ignores it) when the offset is not
 * above every offset added before, which happens after a seek back.
 */
int
tracker_add(struct tracker *t, int64_t offset)
{
	if (offset < 0 || offset == INT64_MAX || offset <= t->last)
		return -1;
	if (t->count == t->cap) {
		if (t->cap > SIZE_MAX / 2 / sizeof(*t->ring))
			return -1; /* cannot happen before memory runs out */
		tracker_resize(t, t->cap * 2);
	}
	*tracker_at(t, t->count) = (struct tracker_ent){offset, 0};
	t->count++;
	t->last = offset;
	return 0;
}

/*
 * Mark a pending offset done and release the done prefix, advancing the
 * watermark past it. Returns 0, or -1 when the offset is not pending: a
 * repeat, one never added, or one already released behind the watermark.
 * After a rebalance these are normal, so nothing here is fatal.
 */
int
tracker_done(struct tracker *t, int64_t offset)
{
	struct tracker_ent *e;
	size_t lo = 0, hi = t->count;

	/* The ring is sorted by offset: find the first entry >= offset. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tracker_at(t, mid)->offset < offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->count)
		return -1;
	e = tracker_at(t, lo);
	if (e->offset != offset || e->done)
		return -1;
	e->done = 1;
	t->ndone++;

	while (t->count > 0 && (e = tracker_at(t, 0))->done) {
		t->watermark = e->offset + 1;
		t->head = (t->head + 1) & (t->cap - 1);
		t->count--;
		t->ndone--;
	}
	/* Give memory back after a burst; a quarter keeps resizes rare. */
	if (t->cap > TRACKER_MINCAP && t->count < t->cap / 4) {
		size_t cap = t->cap / 2;

		while (cap > TRACKER_MINCAP && t->count < cap / 4)
			cap /= 2;
		tracker_resize(t, cap);
	}
	return 0;
}

/*
 * The offset to hand to rd_kafka_offsets_store(): the offset after the
 * last one of the longest done prefix, or -1 while that prefix is empty.
 */
int64_t
tracker_watermark(const struct tracker *t)
{
	return t->watermark;
}

/* The number of offsets added and not yet done. */
size_t
tracker_pending(const struct tracker *t)
{
	return t->count - t->ndone;
}
