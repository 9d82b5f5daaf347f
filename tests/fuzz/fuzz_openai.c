/*
 * fuzz_openai: libFuzzer target for the backend's HTTP reply bodies:
 * openai_chat_parse() and openai_embed_parse() (for several input counts,
 * one of them taken from the body).
 *
 * Checks openai.h: a parsed chat reply has content without NUL bytes and
 * its length; a failure leaves nothing to free; embeddings come as n rows
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

static void
chat(const char *body, size_t len)
{
	struct chat_reply r;
	char err[256];

	err[0] = '\0';
	if (openai_chat_parse(body, len, &r, err, sizeof(err)) != 0) {
		check(r.content == NULL && r.finish_reason == NULL,
		    "chat failure left strings");
		check(err[0] != '\0', "chat failure without a message");
		return;
	}
	check(r.content != NULL, "chat without content");
	check(strlen(r.content) == r.len, "content length or NUL byte");
	chat_reply_free(&r);
	check(r.content == NULL, "chat_reply_free");
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

	chat(body, size);
	embed(body, size, 0);
	embed(body, size, 1);
	embed(body, size, 2);
	if (size > 0 && data[size - 1] % 16 > 2)
		embed(body, size, data[size - 1] % 16);
	return 0;
}
