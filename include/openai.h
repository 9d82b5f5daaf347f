/*
 * openai: the JSON of the OpenAI-compatible chat-completions and
 * embeddings APIs (requests built, replies parsed), and the dialect that
 * the backend speaks them with. Leaf module: jansson only, no curl; the
 * HTTP side lives in backend.c.
 */
#ifndef VSAMPD_OPENAI_H
#define VSAMPD_OPENAI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"

/* The dialect of profile type "openai" (dialect.h): POST {url}/chat/
 * completions and {url}/embeddings, the key as a bearer token. */
struct dialect;
extern const struct dialect openai_dialect;

/* Build a chat-completions request body. Returns a malloc'ed string. */
char *openai_chat_request(
    const struct chat *c, const struct chat_params *p, size_t *lenp);

/*
 * Parse a chat-completions response body into out (content is
 * choices[0].message.content). Returns 0, or -1 with errstr (garbled
 * JSON, no choices, content not a string, an "error" object).
 */
int openai_chat_parse(const char *body, size_t len, struct chat_reply *out,
    char *errstr, size_t errlen);
/*
 * The same for a request that asked for want choices (n): up to the
 * first want of them, the first in out->content and the others in
 * out->more; choices without usable content are left out, and it fails
 * only when none has any.
 */
int openai_chat_parse_choices(const char *body, size_t len, size_t want,
    struct chat_reply *out, char *errstr, size_t errlen);

/* Build an embeddings request for texts[0..n). */
char *openai_embed_request(const char *model, const char *const *texts,
    const size_t *lens, size_t n, size_t *lenp);
/* Parse an embeddings response: *vecs gets n vectors of *dim floats each
 * (row-major, malloc'ed, ordered by "index"). */
int openai_embed_parse(const char *body, size_t len, size_t n, float **vecs,
    size_t *dim, char *errstr, size_t errlen);

#endif
