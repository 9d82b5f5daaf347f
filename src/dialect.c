/*
 * dialect: the table of the dialects vsampd speaks (include/dialect.h).
 * It only finds them; what each one sends and parses is its module's.
 * Leaf module: no I/O.
 */
#include <string.h>

#include "anthropic.h"
#include "dialect.h"
#include "openai.h"
#include "xmalloc.h"

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
	const char *names[sizeof(dialects) / sizeof(dialects[0])];

	for (size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++)
		names[i] = dialects[i]->name;
	names_join(buf, len, names, sizeof(names) / sizeof(names[0]));
}
