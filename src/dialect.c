/*
 * dialect: the table of the dialects vsampd speaks (include/dialect.h).
 * It only finds them; what each one sends and parses is its module's.
 * Leaf module: no I/O.
 */
#include <stdio.h>
#include <string.h>

#include "anthropic.h"
#include "dialect.h"
#include "openai.h"

static const struct dialect *const dialects[] = {
    &openai_dialect,
    &anthropic_dialect,
};

const struct dialect *
dialect_find(const char *name)
{
	for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++)
		if (strcmp(dialects[i]->name, name) == 0)
			return dialects[i];
	return NULL;
}

void
dialect_names(char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "",
		    dialects[i]->name);

		if (n < 0 || (size_t)n >= len - off)
			return;
		off += (size_t)n;
	}
}
