/*
 * openai: the JSON of the OpenAI-compatible chat-completions and
 * embeddings APIs (requests built, replies parsed). Leaf module: jansson
 * only, no curl; the HTTP side lives in backend.c.
 */
#ifndef VSAMPD_OPENAI_H
#define VSAMPD_OPENAI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"

struct openai_params {
	const char *model;
	double temperature; /* NAN: not sent */
	double top_p; /* NAN: not sent */
	long max_tokens; /* 0: not sent */
	const json_t *schema; /* NULL: no response_format */
};

/* Build a chat-completions request body. Returns a malloc'ed string. */
char *openai_chat_request(
    const struct chat *c, const struct openai_params *p, size_t *lenp);

struct openai_reply {
	char *content; /* choices[0].message.content, owned */
	size_t len;
	uint64_t prompt_tokens; /* 0 when usage is absent */
	uint64_t completion_tokens;
	char *finish_reason; /* owned, or NULL */
};

/*
 * Parse a chat-completions response body. Returns 0, or -1 with errstr
 * (garbled JSON, no choices, content not a string, an "error" object).
 */
int openai_chat_parse(const char *body, size_t len, struct openai_reply *out,
    char *errstr, size_t errlen);
void openai_reply_free(struct openai_reply *r);

/* Build an embeddings request for texts[0..n). */
char *openai_embed_request(const char *model, const char *const *texts,
    const size_t *lens, size_t n, size_t *lenp);
/* Parse an embeddings response: *vecs gets n vectors of *dim floats each
 * (row-major, malloc'ed, ordered by "index"). */
int openai_embed_parse(const char *body, size_t len, size_t n, float **vecs,
    size_t *dim, char *errstr, size_t errlen);

#endif
