/*
 * chat: the messages of one conversation with a model, the names of
 * their roles, and a chat completion's parameters and parsed reply in
 * terms of no wire dialect. A leaf module: no I/O.
 */
#ifndef VSAMPD_CHAT_H
#define VSAMPD_CHAT_H

#include <stddef.h>
#include <stdint.h>

enum role { ROLE_SYSTEM = 0, ROLE_USER, ROLE_ASSISTANT };

struct chat_msg {
	enum role role;
	char *content; /* owned, NUL-terminated UTF-8 */
};

/* A conversation; owns its messages. */
struct chat {
	struct chat_msg *msgs;
	size_t n;
	size_t cap;
};

const char *role_name(enum role r);
int role_parse(const char *s, enum role *r);

void chat_init(struct chat *c);
void chat_free(struct chat *c);
/* Append a copy of content (len bytes). */
void chat_add(struct chat *c, enum role role, const char *content, size_t len);
/* Make dst a deep copy of src (dst must be initialised; it is reset). */
void chat_copy(struct chat *dst, const struct chat *src);

struct json_t;

/* What a chat completion asks for besides its messages, whatever the
 * dialect that carries it (dialect.h). */
struct chat_params {
	const char *model;
	double temperature; /* NAN: not sent */
	double top_p; /* the job's or the profile's; NAN: neither sets it */
	double default_top_p; /* the config's, for a dialect that sends a
			       * top_p the job and profile leave unset;
			       * NAN: none */
	long max_tokens; /* 0: not sent */
	const struct json_t *schema; /* NULL: no structured output */
	int n_choices; /* choices asked in one request (OpenAI's n) of a
			* dialect that can; 0 or 1: one, and not sent */
};

/* The decoding parameters a request of a dialect actually carries, for
 * a result's provenance: what the server was asked for, after the
 * dialect's own defaults. */
struct chat_sent {
	double temperature; /* NAN: not sent */
	double top_p; /* NAN: not sent */
	long max_tokens; /* 0: not sent */
	int structured; /* the reply's JSON schema was sent */
	int n; /* choices asked in one request: 1 (n not sent) or more */
};

/* One more choice of a reply that asked for several (n). */
struct chat_choice {
	char *content; /* owned, NUL-terminated */
	size_t len;
	char *finish_reason; /* owned, or NULL */
};

/*
 * A chat completion's reply, parsed out of its dialect: its first (most
 * often only) choice inline, so that the one-choice reply allocates
 * nothing more, and the others of a reply that asked for several in
 * more[0..nmore).
 */
struct chat_reply {
	char *content; /* the answer's text, owned, NUL-terminated */
	size_t len;
	uint64_t prompt_tokens; /* 0 when the reply has no usage; for all
				 * of its choices */
	uint64_t completion_tokens;
	int has_usage; /* the reply reported usage (its cost is known) */
	char *finish_reason; /* owned, or NULL */
	struct chat_choice *more; /* owned, NULL when nmore is 0 */
	size_t nmore;
};

/* Free what a reply owns and clear it; r may be NULL. */
void chat_reply_free(struct chat_reply *r);
/* The number of choices in r: 1 + r->nmore. */
size_t chat_reply_nchoices(const struct chat_reply *r);
/* Choice i (< chat_reply_nchoices(r)) of r, borrowed: its text into
 * *content and *len, its finish reason (or NULL) into *finish. */
void chat_reply_choice(const struct chat_reply *r, size_t i,
    const char **content, size_t *len, const char **finish);

#endif
