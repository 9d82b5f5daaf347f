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
 * The functions above the state-file section are pure (leaf module); the
 * state-file functions do blocking file I/O and are the only ones that do.
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
struct scope_saver;

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

/*
 * State file (blocking file I/O; everything else here does none).
 *
 * Saving runs in slices so the event loop never stalls: scope_save_begin()
 * opens "<path>.tmp", each scope_save_step() writes at most max_entries
 * entries, and the last step writes the trailer, fsyncs, renames the
 * temporary file to path and fsyncs the directory. The file holds the
 * entries that were in the index when the save began, oldest first, minus
 * those evicted before the saver reached them; entries inserted after
 * begin wait for the next save. The index may change freely between steps
 * and the file is always consistent. At most one save per path at a time.
 */

/* Start saving s to path. NULL on error (errstr says why). s must
 * outlive the saver. */
struct scope_saver *scope_save_begin(
    const struct scope *s, const char *path, char *errstr, size_t errlen);
/* Write the next slice of at most max_entries (0 means 1) entries.
 * Returns 1 while more remains, 0 once the file is in place, -1 on error
 * (errstr says why). After 0 or -1, call scope_save_free(). */
int scope_save_step(
    struct scope_saver *sv, size_t max_entries, char *errstr, size_t errlen);
/*
 * Make the last step return 2 ("every entry written") instead of
 * finishing; then scope_save_finish() writes the trailer, fsyncs,
 * renames and fsyncs the directory. It touches the saver alone, never
 * the index, so it may run on another thread (the daemon's worker) while
 * the loop goes on; the saver is then the worker's until it returns.
 */
void scope_save_defer_finish(struct scope_saver *sv);
/* 0 once the file is in place, -1 on error (errstr says why). */
int scope_save_finish(struct scope_saver *sv, char *errstr, size_t errlen);
/* Entries written so far. */
size_t scope_save_written(const struct scope_saver *sv);
/* Free a saver (NULL is fine). An unfinished save is abandoned: its
 * temporary file is closed and removed, and path is left untouched. */
void scope_save_free(struct scope_saver *sv);

/*
 * Replace the contents of s with the entries of the state file at path,
 * oldest first; with more entries than the capacity, the newest are kept.
 * Returns 0 when loaded, or when the file does not exist (then s is left
 * empty and errstr holds ""); -1 when the file cannot be read or is
 * truncated or corrupt (bad magic, version, entry size, length, count or
 * checksum): errstr says which, and s is left empty.
 */
int scope_load(struct scope *s, const char *path, char *errstr, size_t errlen);

#endif
