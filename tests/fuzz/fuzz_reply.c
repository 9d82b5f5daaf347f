/*
 * fuzz_reply: libFuzzer target for reply_parse(), with every reply kind
 * and several caps (no cap, 1, and caps taken from the input).
 *
 * Checks the contract of reply.h: on success at least one candidate, at
 * most the cap, each non-empty, not blank, valid UTF-8 without NULs, its
 * value NAN or finite (always NAN outside REPLY_LIST_PROB), exactly one
 * for the single kinds; on failure nothing to free and a message that
 * does not quote the reply.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prompt.h"
#include "reply.h"
#include "utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check(int cond, const char *what, int kind, size_t max)
{
	if (cond)
		return;
	fprintf(stderr, "fuzz_reply: broken contract (kind %d, max %zu): %s\n",
	    kind, max, what);
	abort();
}

static int
blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (strchr(" \t\n\r\f\v", s[i]) == NULL)
			return 0;
	return 1;
}

static void
parse_one(const char *text, size_t len, enum reply_kind kind, size_t max)
{
	struct reply r;
	char err[256];
	int rc, k = (int)kind;

	err[0] = '\0';
	rc = reply_parse(text, len, kind, max, &r, err, sizeof(err));
	if (rc != 0) {
		check(rc == -1, "return value", k, max);
		check(r.n == 0 && r.items == NULL && r.reasoning == NULL,
		    "failure left candidates", k, max);
		check(err[0] != '\0', "failure without a message", k, max);
		for (const char *p = err; *p != '\0'; p++)
			check(*p >= 0x20 && *p < 0x7f,
			    "message not printable ASCII", k, max);
		reply_free(&r);
		return;
	}
	check(r.n > 0 && r.items != NULL, "success without candidates", k, max);
	if (max > 0)
		check(r.n <= max, "more candidates than the cap", k, max);
	if (kind == REPLY_SINGLE || kind == REPLY_COT_SINGLE ||
	    kind == REPLY_SEED_SINGLE)
		check(r.n == 1, "single kind with several candidates", k, max);
	if (kind == REPLY_SEED_SINGLE)
		check(r.reasoning == NULL, "ssot seed kept", k, max);
	for (size_t i = 0; i < r.n; i++) {
		const struct reply_item *it = &r.items[i];

		check(
		    it->text != NULL && it->len > 0, "empty candidate", k, max);
		check(strlen(it->text) == it->len, "len or NUL byte", k, max);
		check(!blank(it->text, it->len), "blank candidate", k, max);
		check(utf8_valid(it->text, it->len), "text UTF-8", k, max);
		check(isnan(it->verbalized) || isfinite(it->verbalized),
		    "infinite verbalized", k, max);
		if (kind != REPLY_LIST_PROB)
			check(isnan(it->verbalized), "verbalized not NAN", k,
			    max);
	}
	if (r.reasoning != NULL)
		check(utf8_valid(r.reasoning, strlen(r.reasoning)),
		    "reasoning UTF-8", k, max);
	reply_free(&r);
	check(r.n == 0 && r.items == NULL, "reply_free", k, max);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum reply_kind kinds[] = {REPLY_SINGLE,
	    REPLY_COT_SINGLE, REPLY_LIST, REPLY_LIST_PROB, REPLY_SEED_SINGLE};
	const char *text = (const char *)data;
	size_t caps[4];

	caps[0] = 0; /* no cap */
	caps[1] = 1;
	caps[2] = size > 0 ? 1 + data[0] % JOB_K_MAX : 5;
	caps[3] = 2 + size % 7;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		for (size_t j = 0; j < sizeof(caps) / sizeof(caps[0]); j++)
			parse_one(text, size, kinds[i], caps[j]);
	return 0;
}
