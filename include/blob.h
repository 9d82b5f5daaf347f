/*
 * blob: an immutable, reference-counted byte string. A request body that
 * several calls of one job send alike (every call of a `direct` job asks
 * the same thing) is rendered once and shared by the pipeline, the
 * backend's queue and curl, instead of one copy per call.
 * Leaf module: no I/O; single-threaded (the loop's).
 */
#ifndef VSAMPD_BLOB_H
#define VSAMPD_BLOB_H

#include <stddef.h>

struct blob {
	char *data; /* NUL-terminated, never changed */
	size_t len;
	size_t refs;
};

/* A blob that takes ownership of data (malloc'd, data[len] == '\0'),
 * with one reference. */
struct blob *blob_own(char *data, size_t len);
/* Another reference to b (returned); NULL is passed through. */
struct blob *blob_ref(struct blob *b);
/* Drop a reference; the last frees. NULL is a no-op. */
void blob_unref(struct blob *b);

#endif
