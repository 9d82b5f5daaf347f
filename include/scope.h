/*
 * scope: the cross-job duplicate index of one instance (docs/dedup.md;
 * step 7 of docs/methods.md). Each entry is 32 bytes: the scope id (hash of the
 * job's dedup_scope), the exact hash of the normalised text
 * (dedup_norm_hash), a 64-bit SimHash of the text's token set, and the
 * hash of the job id that inserted it. A candidate duplicates an entry of
 * the same scope that another job inserted when
 *   - their exact hashes are equal, or
 *   - both have tokens and their SimHashes differ in at most
 *     scope_near_distance(near_threshold) bits, and the entry shares at
 *     least one 16-bit band of the SimHash with the candidate (the index
 *     looks entries up by band; every pair within 3 bits shares one).
 * This approximates the Jaccard rule of dedup.h; docs/dedup.md gives
 * the mapping and its measured error. Entries of the candidate's own job
 * never match, so a redelivered job is not deduplicated against its own
 * earlier run (docs/dedup.md).
 *
 * The index holds at most `capacity` entries and evicts the oldest first.
 * Memory: 32 bytes per entry plus five tables of 4-byte slots at load
 * 0.8, about 57 bytes per entry (capacities of 2^24 and more use tables
 * at load 0.5, about 72 bytes per entry).
 *
 * A leaf module: no I/O (the state file is scope_file.h's).
 * Single-threaded, like the rest of the pipeline.
 */
#ifndef VSAMPD_SCOPE_H
#define VSAMPD_SCOPE_H

#include <stddef.h>
#include <stdint.h>

#include "tokens.h"

/* The largest capacity scope_new() accepts. */
#define SCOPE_CAPACITY_MAX (((size_t)1 << 27) - 1)
/* The largest SimHash distance that ever counts as near. */
#define SCOPE_NEAR_MAX 9

struct scope;

/* What the index keeps of a text, computed once per candidate. */
struct scope_key {
	uint64_t exact; /* dedup_norm_hash of the text */
	uint64_t sim; /* SimHash of the token set; 0 when it has none */
};

/* A new, empty index for at most capacity entries (1..SCOPE_CAPACITY_MAX);
 * NULL when capacity is out of range. Memory is touched as entries come. */
struct scope *scope_new(size_t capacity);
/* Free the index (NULL is fine). Finish or free its savers first. */
void scope_free(struct scope *s);
/* Entries held now, and the capacity given to scope_new(). */
size_t scope_count(const struct scope *s);
size_t scope_capacity(const struct scope *s);
/* Remove every entry (savers in progress skip what was removed). */
void scope_clear(struct scope *s);

/*
 * 64-bit hashes (FNV-1a, then a splitmix64 finaliser) of a dedup_scope
 * string and of a job id. They are stored in the state file, so they
 * must never change.
 */
uint64_t scope_id_hash(const char *scope, size_t len);
uint64_t scope_job_hash(const char *id, size_t len);

/*
 * SimHash of a token set: bit i is 1 when more of the distinct token
 * hashes have bit i set than clear (ties give 0). 0 for an empty set.
 */
uint64_t scope_simhash(const struct tokens *tok);

/*
 * Fill k for text[0..len). tok must hold the tokens of that text
 * (tokens_split), or be NULL to have them computed here.
 */
void scope_key_make(struct scope_key *k, const char *text, size_t len,
    const struct tokens *tok);

/*
 * The SimHash distance that stands for Jaccard >= t: with p = acos(2t /
 * (1 + t)) / pi, the chance that one bit differs between two equal-sized
 * sets of Jaccard t, floor(64p - sqrt(64p(1 - p))), one standard
 * deviation below the expected distance, and at most SCOPE_NEAR_MAX.
 * 0.8 gives 6, 0.9 gives 4, 0.7 gives 9, 1 gives 0. Returns -1 (near
 * matching off) for t > 1 or NaN.
 */
int scope_near_distance(double t);

/*
 * Look k up in scope_id for job job_hash. Returns 1 when it duplicates an
 * entry inserted by another job (and then inserts nothing), 0 when it is
 * new. A new key is inserted, evicting the oldest entry when full, unless
 * an identical entry of the same job is already held (a redelivery), so
 * that redeliveries do not fill the index.
 */
int scope_check_insert_key(struct scope *s, uint64_t scope_id,
    uint64_t job_hash, const struct scope_key *k, double near_threshold);
/* scope_check_insert_key() with the key made from text (tok as in
 * scope_key_make()). */
int scope_check_insert(struct scope *s, uint64_t scope_id, uint64_t job_hash,
    const char *text, size_t len, const struct tokens *tok,
    double near_threshold);
/* The lookup alone: 1 when k duplicates an entry of another job. */
int scope_lookup_key(const struct scope *s, uint64_t scope_id,
    uint64_t job_hash, const struct scope_key *k, double near_threshold);

/* One entry as it is kept, saved and restored. */
struct scope_entry {
	uint64_t scope; /* scope id */
	uint64_t exact; /* exact hash of the text */
	uint64_t sim; /* SimHash, 0 when the text has no tokens */
	uint64_t job; /* hash of the job id that inserted it */
};

/* The insertion number of the oldest entry: entries are numbered in
 * insertion order from 0, and the oldest are evicted first. */
uint64_t scope_first(const struct scope *s);
/* Copy to out up to max entries, oldest first, from insertion number
 * `from` on (from below scope_first(): from the oldest). Returns how
 * many. */
size_t scope_entries(
    const struct scope *s, uint64_t from, struct scope_entry *out, size_t max);
/* Insert e as it was saved (its hashes made already), evicting the
 * oldest entry when full. An entry identical to one held (all four
 * values) is not inserted again, so replaying a log twice is harmless.
 * Returns 1 when inserted, 0 when it was held already. */
int scope_restore(struct scope *s, const struct scope_entry *e);

/*
 * What one check-and-insert changed, for a caller that keeps a log of
 * the index (the changelog of docs/dedup.md).
 */
struct scope_change {
	int inserted; /* the key went in, as insertion number `num` */
	uint64_t num;
	int evicted; /* the oldest entry, `old`, went to make room */
	struct scope_entry old;
};

/* scope_check_insert_key() that also says what it changed in *ch. */
int scope_check_insert_change(struct scope *s, uint64_t scope_id,
    uint64_t job_hash, const struct scope_key *k, double near_threshold,
    struct scope_change *ch);

/*
 * What one job changed in an index: the entries it inserted are the
 * insertion numbers [first, first + nadded) (one job's checks run one
 * after the other, so its numbers follow on), and evicted[] holds the
 * entries that went to make room for them. Owned by whoever keeps the
 * log; scope_journal_free() frees what it holds (NULL is fine).
 */
struct scope_journal {
	uint64_t first;
	size_t nadded;
	struct scope_entry *evicted;
	size_t nevicted;
	size_t evicted_cap;
};

/* Add what ch says to jr. */
void scope_journal_add(struct scope_journal *jr, const struct scope_change *ch);
void scope_journal_free(struct scope_journal *jr);

#endif
