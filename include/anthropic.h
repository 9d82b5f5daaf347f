/*
 * anthropic: request bodies for, and replies from, the Anthropic
 * Messages API (POST {url}/v1/messages). Its rules differ from the
 * OpenAI-compatible API (openai.h):
 *   - system messages go in the top-level "system" string, joined by a
 *     blank line; "messages" holds user and assistant turns only;
 *   - "max_tokens" is required: ANTHROPIC_MAX_TOKENS when unset;
 *   - "top_p" only when the job or profile sets it (the config's
 *     default is left to the server); there is no response_format;
 *   - the reply's "content" is a list of blocks, whose "text" blocks are
 *     the answer; usage is input_tokens and output_tokens.
 * Replies come from outside and are checked like openai.c's. Leaf
 * module: jansson only; the backend speaks it through anthropic_dialect.
 */
#ifndef VSAMPD_ANTHROPIC_H
#define VSAMPD_ANTHROPIC_H

#include <stddef.h>

#include "chat.h"

#define ANTHROPIC_MAX_TOKENS 2048
#define ANTHROPIC_VERSION "2023-06-01"

/* The dialect of profile type "anthropic" (dialect.h): the key in
 * x-api-key, the API version in anthropic-version, no embeddings. */
struct dialect;
extern const struct dialect anthropic_dialect;

/* The request body for conversation c (p->schema and p->default_top_p
 * are ignored). Returns a malloc'ed NUL-terminated string; *lenp gets its
 * length. */
char *anthropic_request(
    const struct chat *c, const struct chat_params *p, size_t *lenp);

/* Parse a reply into out (content; usage as prompt/completion tokens;
 * stop_reason as finish_reason). Returns 0, or -1 with errstr naming
 * what is wrong (never the body). */
int anthropic_parse(const char *body, size_t len, struct chat_reply *out,
    char *errstr, size_t errlen);

#endif
