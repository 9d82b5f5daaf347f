/*
 * scopelog: the records of the dedup changelog (kafka.scope_topic,
 * docs/dedup.md). One record per entry of a partition's scope index:
 *
 *   key   (16 bytes): u64 scope id, u64 exact hash, little-endian. No
 *         two entries held at once share them (a second text with the
 *         same exact hash in a scope is a duplicate, and never goes in),
 *         so compaction keeps one record per entry held.
 *   value (24 bytes): u8 version (1), 7 bytes zero, u64 SimHash, u64
 *         job hash, little-endian; or none (a tombstone) once the entry
 *         is evicted.
 *
 * A leaf module: no I/O.
 */
#ifndef VSAMPD_SCOPELOG_H
#define VSAMPD_SCOPELOG_H

#include <stddef.h>

#include "scope.h"

#define SCOPELOG_KEY_LEN 16
#define SCOPELOG_VALUE_LEN 24
#define SCOPELOG_VERSION 1

/* The key and value of e's record. */
void scopelog_key(const struct scope_entry *e, unsigned char *key);
void scopelog_value(const struct scope_entry *e, unsigned char *value);

/*
 * Read one record. Returns 1 for an entry (filled into e), 0 for a
 * tombstone (e's scope and exact hash filled), -1 for a record that is
 * not one of ours (errstr says what is wrong with it).
 */
int scopelog_decode(const void *key, size_t keylen, const void *value,
    size_t vlen, struct scope_entry *e, char *errstr, size_t errlen);

#endif
