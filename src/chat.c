/*
 * chat: conversations, and the names of their roles. A leaf module: no
 * I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "xmalloc.h"

static const char *role_names[] = {"system", "user", "assistant"};

const char *
role_name(enum role r)
{
	if ((int)r < 0 || r > ROLE_ASSISTANT)
		return NULL;
	return role_names[r];
}

int
role_parse(const char *s, enum role *r)
{
	for (int i = 0; i <= ROLE_ASSISTANT; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*r = (enum role)i;
			return 0;
		}
	}
	return -1;
}

void
chat_init(struct chat *c)
{
	c->msgs = NULL;
	c->n = 0;
	c->cap = 0;
}

void
chat_free(struct chat *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		free(c->msgs[i].content);
	free(c->msgs);
	chat_init(c);
}

void
chat_add(struct chat *c, enum role role, const char *content, size_t len)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 4;
		c->msgs = xreallocarray(c->msgs, c->cap, sizeof(*c->msgs));
	}
	c->msgs[c->n].role = role;
	c->msgs[c->n].content = xstrndup(content, len);
	c->n++;
}

void
chat_copy(struct chat *dst, const struct chat *src)
{
	chat_free(dst);
	for (size_t i = 0; i < src->n; i++)
		chat_add(dst, src->msgs[i].role, src->msgs[i].content,
		    strlen(src->msgs[i].content));
}

void
chat_reply_free(struct chat_reply *r)
{
	if (r == NULL)
		return;
	free(r->content);
	free(r->finish_reason);
	for (size_t i = 0; i < r->nmore; i++) {
		free(r->more[i].content);
		free(r->more[i].finish_reason);
	}
	free(r->more);
	memset(r, 0, sizeof(*r));
}

size_t
chat_reply_nchoices(const struct chat_reply *r)
{
	return 1 + r->nmore;
}

void
chat_reply_choice(const struct chat_reply *r, size_t i, const char **content,
    size_t *len, const char **finish)
{
	if (i == 0) {
		*content = r->content;
		*len = r->len;
		*finish = r->finish_reason;
		return;
	}
	*content = r->more[i - 1].content;
	*len = r->more[i - 1].len;
	*finish = r->more[i - 1].finish_reason;
}
