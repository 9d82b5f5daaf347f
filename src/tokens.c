/*
 * tokens: rouge-score's default tokenisation, hashed.
 *
 * A leaf module: no I/O.
 */
#include <stdlib.h>

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

static uint64_t
tokens_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
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
				h = 0xcbf29ce484222325ULL;
				in = 1;
			}
			h = (h ^ c) * 0x100000001b3ULL;
			continue;
		}
		if (in) {
			if (t->n == t->cap) {
				t->cap = t->cap ? t->cap * 2 : 32;
				t->h = xreallocarray(t->h, t->cap, sizeof(*t->h));
			}
			t->h[t->n++] = tokens_mix(h);
			in = 0;
		}
	}
}
