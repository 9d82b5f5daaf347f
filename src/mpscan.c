/*
 * mpscan: the one msgpack pre-scanner (see mpscan.h). It owns the
 * msgpack type-byte table and the limits on what msgpack-c may be handed;
 * it builds nothing, allocates nothing and writes no messages.
 *
 * Iterative, with one counter of elements still expected per open
 * container, so its own stack is bounded by MPSCAN_DEPTH_MAX whatever the
 * input.
 */
#include <stdint.h>

#include "mpscan.h"

/* What one type byte and its length field announce. */
struct mpscan_head {
	size_t lenbytes; /* big-endian length or count after the type byte */
	size_t extra; /* the ext type byte after the length */
	uint64_t body; /* bytes of payload (from the length when lenbytes) */
	uint64_t items; /* elements of a container (two per map entry) */
	int container;
	int map;
};

/* Classify a type byte; returns -1 for 0xc1, which is never used. */
static int
mpscan_type(unsigned char c, struct mpscan_head *h)
{
	*h = (struct mpscan_head){0};
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		return 0; /* fixint, nil, false, true */
	if (c <= 0x9f) { /* fixmap, fixarray */
		h->container = 1;
		h->map = c <= 0x8f;
		h->items = c & 0x0f;
	} else if (c <= 0xbf) /* fixstr */
		h->body = c & 0x1f;
	else if (c >= 0xc4 && c <= 0xc6) /* bin 8, 16, 32 */
		h->lenbytes = (size_t)1 << (c - 0xc4);
	else if (c >= 0xd9 && c <= 0xdb) /* str 8, 16, 32 */
		h->lenbytes = (size_t)1 << (c - 0xd9);
	else if (c >= 0xc7 && c <= 0xc9) { /* ext 8, 16, 32 */
		h->lenbytes = (size_t)1 << (c - 0xc7);
		h->extra = 1;
	} else if (c == 0xca || c == 0xcb) /* float 32, 64 */
		h->body = c == 0xca ? 4 : 8;
	else if (c >= 0xcc && c <= 0xcf) /* uint 8..64 */
		h->body = (uint64_t)1 << (c - 0xcc);
	else if (c >= 0xd0 && c <= 0xd3) /* int 8..64 */
		h->body = (uint64_t)1 << (c - 0xd0);
	else if (c >= 0xd4 && c <= 0xd8) /* fixext 1..16: type, data */
		h->body = ((uint64_t)1 << (c - 0xd4)) + 1;
	else if (c >= 0xdc && c <= 0xdf) { /* array 16, 32, map 16, 32 */
		h->container = 1;
		h->map = c >= 0xde;
		h->lenbytes = (c == 0xdc || c == 0xde) ? 2 : 4;
	} else
		return -1;
	return 0;
}

/*
 * Read the object head at p[*off..len) and move *off past it and its
 * payload; *h says whether a container opens there.
 */
static enum mpscan_status
mpscan_head(
    const unsigned char *p, size_t len, size_t *off, struct mpscan_head *h)
{
	uint64_t n = 0;
	size_t at = *off;

	if (mpscan_type(p[at], h) != 0)
		return MPSCAN_INVALID;
	if (len - at < 1 + h->lenbytes + h->extra)
		return MPSCAN_TRUNCATED;
	for (size_t i = 0; i < h->lenbytes; i++)
		n = (n << 8) | p[at + 1 + i];
	at += 1 + h->lenbytes + h->extra;
	if (h->lenbytes > 0) {
		if (h->container)
			h->items = n;
		else
			h->body = n;
	}
	if (h->map)
		h->items *= 2;
	if (h->body > len - at)
		return MPSCAN_TRUNCATED;
	*off = at + (size_t)h->body;
	return MPSCAN_OK;
}

/* Walk the object at buf[0..len) (see mpscan.h). */
enum mpscan_status
mpscan_object(const void *buf, size_t len, size_t *objlen, size_t *erroff)
{
	const unsigned char *p = buf;
	uint64_t left[MPSCAN_DEPTH_MAX + 1];
	struct mpscan_head h;
	enum mpscan_status st;
	size_t off = 0;
	int depth = 0;

	left[0] = 1;
	for (;;) {
		if (off >= len)
			return MPSCAN_TRUNCATED;
		*erroff = off;
		if ((st = mpscan_head(p, len, &off, &h)) != MPSCAN_OK)
			return st;
		left[depth]--;
		if (h.container) {
			/* This container is at level depth + 1. */
			if (depth >= MPSCAN_DEPTH_MAX)
				return MPSCAN_TOO_DEEP;
			/* Every element takes at least one byte: fail early. */
			if (h.items > len - off)
				return MPSCAN_TRUNCATED;
			if (h.items > 0)
				left[++depth] = h.items;
		}
		while (left[depth] == 0) {
			if (depth == 0) {
				*objlen = off;
				return MPSCAN_OK;
			}
			depth--;
		}
	}
}
