/*
 * tokens: rouge-score's default tokenisation, hashed.
 *
 * A leaf module: no I/O.
 */
#include <stdlib.h>

#include "hash.h"
#include "tokens.h"
#include "xmalloc.h"

void
tokens_init(struct tokens *t)
{
	t->h = NULL;
	t->n = 0;
	t->cap = 0;
}

void
tokens_free(struct tokens *t)
{
	if (t == NULL)
		return;
	free(t->h);
	tokens_init(t);
}

void
tokens_split(struct tokens *t, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	uint64_t h = 0;
	int in = 0;

	t->n = 0;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? p[i] : 0;

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			if (!in) {
				h = HASH_FNV_OFFSET;
				in = 1;
			}
			h = hash_fnv1a_byte(h, c);
			continue;
		}
		if (in) {
			if (t->n == t->cap) {
				t->cap = t->cap ? t->cap * 2 : 32;
				t->h = xreallocarray(t->h, t->cap, sizeof(*t->h));
			}
			t->h[t->n++] = hash_mix64(h);
			in = 0;
		}
	}
}
