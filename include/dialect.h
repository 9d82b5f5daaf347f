/*
 * dialect: one wire API of chat completions (the OpenAI-compatible one,
 * Anthropic's Messages API) as the backend needs it: where its requests
 * go, the headers it wants, and the pure functions that build its
 * request bodies and parse its replies into the neutral terms of
 * chat.h. Each dialect's module exports one (openai.h, anthropic.h);
 * dialect_find() looks it up by a profile's type. A new dialect is a
 * module that exports its struct dialect and a line in dialect.c's
 * table; nothing outside the backend changes. Leaf module.
 */
#ifndef VSAMPD_DIALECT_H
#define VSAMPD_DIALECT_H

#include <stddef.h>

#include "chat.h"

struct dialect {
	const char *name; /* the profile type that selects it */
	const char *chat_path; /* appended to the profile's url */
	const char *const *headers; /* sent besides Content-Type and the
				     * key, NULL-terminated */
	const char *key_header; /* the API key's header up to the key */
	int structured_output; /* it can send the reply's JSON schema */
	/* A request body for conversation c: malloc'ed, NUL-terminated,
	 * *lenp its length. */
	char *(*chat_request)(
	    const struct chat *c, const struct chat_params *p, size_t *lenp);
	/* What chat_request sends of p's decoding parameters. */
	void (*chat_sent)(const struct chat_params *p, struct chat_sent *out);
	/* Parse a reply body into out; 0, or -1 with errstr and nothing in
	 * out to free. Pure and thread-safe: large replies are parsed on
	 * the worker thread. */
	int (*chat_parse)(const char *body, size_t len, struct chat_reply *out,
	    char *errstr, size_t errlen);
	/* NULL: the dialect asks for one choice per request. Else it sends
	 * chat_params.n_choices, and this parses a reply of up to want
	 * choices (the first want when there are more) like chat_parse. */
	int (*chat_parse_choices)(const char *body, size_t len, size_t want,
	    struct chat_reply *out, char *errstr, size_t errlen);
	const char *embed_path; /* NULL: the dialect has no embeddings */
	/* An embeddings request for texts[0..n) (lens[i] bytes each). */
	char *(*embed_request)(const char *model, const char *const *texts,
	    const size_t *lens, size_t n, size_t *lenp);
	/* Parse an embeddings reply for n inputs: *vecs gets n rows of
	 * *dim floats (malloc'ed); pure and thread-safe like chat_parse. */
	int (*embed_parse)(const char *body, size_t len, size_t n, float **vecs,
	    size_t *dim, char *errstr, size_t errlen);
};

/* The dialect of profile type name, or NULL when there is none. */
const struct dialect *dialect_find(const char *name);
/* The names of every dialect, ", "-separated, into buf (for error
 * messages). */
void dialect_names(char *buf, size_t len);

#endif
