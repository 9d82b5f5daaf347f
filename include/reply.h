/*
 * reply: parsing a model's reply text into candidates (docs/methods.md).
 *
 * Accepted forms: JSON {"responses":[{"text":..,"probability":..}]}, the
 * same inside ``` code fences, "confidence" for "probability", percentages
 * ("70%"), numbers as strings, missing or out-of-range probabilities,
 * trailing commas, the first balanced {...} holding a responses array
 * inside chatter, and the XML-like
 * <response><text>..</text><probability>..</probability></response>.
 * ssot replies are {"seed": .., "response": ..} (fenced or in chatter
 * too): the response is the one candidate, and a reply without a
 * non-blank seed string is a parse failure. Text keeps its inner newlines
 * and whitespace. Never invents an empty candidate. Leaf module: no I/O.
 */
#ifndef VSAMPD_REPLY_H
#define VSAMPD_REPLY_H

#include <stddef.h>

#include "prompt.h"

struct reply_item {
	char *text; /* owned, NUL-terminated, non-empty */
	size_t len;
	/* The model's number as a fraction ("70%" -> 0.70, 70 -> 70), before
	 * clamping; NAN when missing, unparseable, NaN or infinite. */
	double verbalized;
};

struct reply {
	struct reply_item *items;
	size_t n;
	char *reasoning; /* vs_cot / direct_cot reasoning when given, or NULL
			  * (never an ssot seed) */
};

/*
 * Parse text[0..len) as a reply of the given kind, keeping at most
 * max_items candidates (the k of the call). Returns 0 with out filled
 * (free with reply_free), or -1 with errstr saying why it could not be
 * parsed (a parse failure: never an empty candidate list returned as 0).
 * The input may contain NUL bytes and invalid UTF-8: invalid UTF-8 is a
 * parse failure.
 */
int reply_parse(const char *text, size_t len, enum reply_kind kind,
    size_t max_items, struct reply *out, char *errstr, size_t errlen);
void reply_free(struct reply *r);

#endif
