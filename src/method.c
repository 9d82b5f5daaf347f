/*
 * method: the names of the sampling methods. A leaf module: no I/O.
 */
#include <string.h>

#include "method.h"
#include "xmalloc.h"

static const char *const method_names[METHOD_COUNT] = {
    "direct",
    "direct_cot",
    "sequence",
    "multi_turn",
    "vs_standard",
    "vs_cot",
    "vs_multi",
    "ssot",
};

const char *
method_name(enum method m)
{
	if ((int)m < 0 || m >= METHOD_COUNT)
		return NULL;
	return method_names[m];
}

int
method_parse(const char *s, enum method *m)
{
	for (int i = 0; i < METHOD_COUNT; i++) {
		if (strcmp(s, method_names[i]) == 0) {
			*m = (enum method)i;
			return 0;
		}
	}
	return -1;
}

void
method_list(char *buf, size_t len)
{
	names_join(buf, len, method_names, METHOD_COUNT);
}
