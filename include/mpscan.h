/*
 * mpscan: the one msgpack pre-scanner, run on every buffer from outside
 * (jobs, results, their metadata) before msgpack-c unpacks it.
 *
 * msgpack-c allocates a container's element array from its header before
 * it reads any element, so a five-byte header claiming four billion
 * elements would cost it ~100 GB. An object that scans complete has a
 * byte at least for each element announced, so msgpack-c's work on it is
 * bounded by its length; and nesting is limited as msgpack-c limits it,
 * so every recursion over the unpacked object is bounded too.
 *
 * Leaf module: no I/O, no allocation. It reports a reason, not a message:
 * the job decoder and the result decoder word their own errors (the job's
 * are documented in docs/schema.md).
 */
#ifndef VSAMPD_MPSCAN_H
#define VSAMPD_MPSCAN_H

#include <stddef.h>

/* msgpack-c refuses to open a container when this many are open already
 * (it says "out of memory"); the top-level container is level 1. */
#define MPSCAN_DEPTH_MAX 32

enum mpscan_status {
	MPSCAN_OK = 0,
	MPSCAN_TRUNCATED, /* the buffer ends inside the object */
	MPSCAN_INVALID, /* the type byte 0xc1, which msgpack never uses */
	MPSCAN_TOO_DEEP /* a container at level MPSCAN_DEPTH_MAX + 1 */
};

/*
 * Walk the one msgpack object at buf[0..len) without building it. On
 * MPSCAN_OK, *objlen is its length (bytes may follow it); on
 * MPSCAN_INVALID, *erroff is the offset of the bad type byte. The
 * reasons are found in reading order, except that a container announcing
 * more elements than bytes are left is truncated at once.
 */
enum mpscan_status mpscan_object(
    const void *buf, size_t len, size_t *objlen, size_t *erroff);

#endif
