/*
 * chat: the messages of one conversation with a model, and the names of
 * their roles. A leaf module: no I/O.
 */
#ifndef VSAMPD_CHAT_H
#define VSAMPD_CHAT_H

#include <stddef.h>

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

#endif
