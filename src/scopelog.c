/*
 * scopelog: encoding and decoding the changelog's records (see
 * scopelog.h). Little-endian like the state file (scope_file.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "scopelog.h"

static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The record's key: scope id, exact hash. */
void
scopelog_key(const struct scope_entry *e, unsigned char *key)
{
	put64(key, e->scope);
	put64(key + 8, e->exact);
}

/* The record's value: version, padding, SimHash, job hash. */
void
scopelog_value(const struct scope_entry *e, unsigned char *value)
{
	memset(value, 0, 8);
	value[0] = SCOPELOG_VERSION;
	put64(value + 8, e->sim);
	put64(value + 16, e->job);
}

/* One record into e: 1 an entry, 0 a tombstone, -1 not ours. */
int
scopelog_decode(const void *key, size_t keylen, const void *value, size_t vlen,
    struct scope_entry *e, char *errstr, size_t errlen)
{
	const unsigned char *k = key, *v = value;

	memset(e, 0, sizeof(*e));
	if (key == NULL || keylen != SCOPELOG_KEY_LEN) {
		snprintf(errstr, errlen,
		    "key of %zu bytes, not %d (not a vsampd scope record)",
		    key == NULL ? 0 : keylen, SCOPELOG_KEY_LEN);
		return -1;
	}
	e->scope = get64(k);
	e->exact = get64(k + 8);
	if (value == NULL)
		return 0;
	if (vlen != SCOPELOG_VALUE_LEN) {
		snprintf(errstr, errlen, "value of %zu bytes, not %d", vlen,
		    SCOPELOG_VALUE_LEN);
		return -1;
	}
	if (v[0] != SCOPELOG_VERSION) {
		snprintf(errstr, errlen, "record version %u, not %d",
		    (unsigned)v[0], SCOPELOG_VERSION);
		return -1;
	}
	e->sim = get64(v + 8);
	e->job = get64(v + 16);
	return 1;
}
