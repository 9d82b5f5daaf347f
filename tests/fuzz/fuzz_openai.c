/*
 * fuzz_openai: libFuzzer target for the backend's HTTP reply bodies:
 * openai_chat_parse(), openai_chat_parse_choices() (for several choice
 * counts) and openai_embed_parse() (for several input counts, one of
 * them taken from the body).
 *
 * Checks openai.h: a parsed chat reply has content without NUL bytes and
 * its length, in each of its choices, and no more choices than asked; a
 * failure leaves nothing to free; embeddings come as n rows
 * of dim > 0 finite floats, or NULL and 0 on failure.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond, const char *what)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_openai: broken contract: %s\n", what);
	abort();
}

/* want 0: openai_chat_parse(), else the choices form. */
static void
chat(const char *body, size_t len, size_t want)
{
	struct chat_reply r;
	char err[256];
	int rc;

	err[0] = '\0';
	rc = want == 0 ? openai_chat_parse(body, len, &r, err, sizeof(err))
		       : openai_chat_parse_choices(
			     body, len, want, &r, err, sizeof(err));
	if (rc != 0) {
		check(r.content == NULL && r.finish_reason == NULL &&
			r.more == NULL && r.nmore == 0,
		    "chat failure left strings");
		check(err[0] != '\0', "chat failure without a message");
		return;
	}
	check(chat_reply_nchoices(&r) <= (want > 1 ? want : 1),
	    "more choices than asked");
	for (size_t i = 0; i < chat_reply_nchoices(&r); i++) {
		const char *t, *f;
		size_t n;

		chat_reply_choice(&r, i, &t, &n, &f);
		check(t != NULL, "chat without content");
		check(strlen(t) == n, "content length or NUL byte");
	}
	chat_reply_free(&r);
	check(r.content == NULL && r.more == NULL, "chat_reply_free");
}

static void
embed(const char *body, size_t len, size_t n)
{
	float *vecs = (float *)1;
	size_t dim = 1;
	char err[256];

	err[0] = '\0';
	if (openai_embed_parse(body, len, n, &vecs, &dim, err, sizeof(err)) !=
	    0) {
		check(vecs == NULL && dim == 0, "embed failure left vectors");
		check(err[0] != '\0', "embed failure without a message");
		return;
	}
	if (n == 0) {
		check(vecs == NULL, "vectors for no input");
		return;
	}
	check(vecs != NULL && dim > 0, "embed without vectors");
	for (size_t i = 0; i < n * dim; i++)
		check(isfinite(vecs[i]), "value not finite");
	free(vecs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;

	chat(body, size, 0);
	chat(body, size, 3);
	if (size > 0 && data[0] % 8 > 3)
		chat(body, size, data[0] % 8 * 16);
	embed(body, size, 0);
	embed(body, size, 1);
	embed(body, size, 2);
	if (size > 0 && data[size - 1] % 16 > 2)
		embed(body, size, data[size - 1] % 16);
	return 0;
}
