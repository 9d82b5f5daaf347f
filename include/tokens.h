/*
 * tokens: the one tokeniser of every lexical measure and of near-duplicate
 * detection (docs/diversity.md): the text lower-cased, every run of
 * characters outside [a-z0-9] a separator, no stemming -- the default
 * tokeniser of the Python rouge-score package. Bytes >= 0x80 are always
 * separators, so UTF-8 text needs no decoding (Python's lower() maps a
 * few non-ASCII letters, e.g. KELVIN SIGN, to ASCII; we do not).
 *
 * Tokens are kept as 64-bit hashes (FNV-1a of the lower-cased bytes, then
 * a splitmix64 finaliser): equal tokens have equal hashes, and two
 * different tokens collide with probability about 2^-64, which we accept
 * as exact. Leaf module.
 */
#ifndef VSAMPD_TOKENS_H
#define VSAMPD_TOKENS_H

#include <stddef.h>
#include <stdint.h>

struct tokens {
	uint64_t *h; /* token hashes in text order */
	size_t n;
	size_t cap;
};

void tokens_init(struct tokens *t);
void tokens_free(struct tokens *t);
/* Replace t's contents with the tokens of text[0..len). */
void tokens_split(struct tokens *t, const char *text, size_t len);

#endif
