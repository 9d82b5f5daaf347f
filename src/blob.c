/*
 * blob: shared immutable byte strings (include/blob.h). Owns nothing but
 * the bytes it was given; does no I/O.
 */
#include <stdlib.h>

#include "blob.h"
#include "xmalloc.h"

struct blob *
blob_own(char *data, size_t len)
{
	struct blob *b = xcalloc(1, sizeof(*b));

	b->data = data;
	b->len = len;
	b->refs = 1;
	return b;
}

struct blob *
blob_ref(struct blob *b)
{
	if (b != NULL)
		b->refs++;
	return b;
}

void
blob_unref(struct blob *b)
{
	if (b == NULL || --b->refs > 0)
		return;
	free(b->data);
	free(b);
}
