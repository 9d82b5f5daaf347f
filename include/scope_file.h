/*
 * scope_file: the dedup state file, which keeps a scope index across
 * restarts (docs/dedup.md). Blocking file I/O: the daemon runs the slow
 * parts (fsync, rename) on its offload thread. The index itself is
 * scope.h's; this module reads and writes its entries through
 * scope_entries() and scope_restore() alone.
 */
#ifndef VSAMPD_SCOPE_FILE_H
#define VSAMPD_SCOPE_FILE_H

#include <stddef.h>
#include <stdint.h>

struct scope;
struct scope_file_saver;

/*
 * Saving runs in slices so the event loop never stalls: scope_file_save_begin()
 * opens "<path>.tmp", each scope_file_save_step() writes at most max_entries
 * entries, and the last step writes the trailer, fsyncs, renames the
 * temporary file to path and fsyncs the directory. The file holds the
 * entries that were in the index when the save began, oldest first, minus
 * those evicted before the saver reached them; entries inserted after
 * begin wait for the next save. The index may change freely between steps
 * and the file is always consistent. At most one save per path at a time.
 */

/* Start saving s to path. NULL on error (errstr says why). s must
 * outlive the saver. */
struct scope_file_saver *scope_file_save_begin(
    const struct scope *s, const char *path, char *errstr, size_t errlen);
/* Write the next slice of at most max_entries (0 means 1) entries.
 * Returns 1 while more remains, 0 once the file is in place, -1 on error
 * (errstr says why). After 0 or -1, call scope_file_save_free(). */
int scope_file_save_step(struct scope_file_saver *sv, size_t max_entries,
    char *errstr, size_t errlen);
/*
 * Make the last step return 2 ("every entry written") instead of
 * finishing; then scope_file_save_finish() writes the trailer, fsyncs,
 * renames and fsyncs the directory. It touches the saver alone, never
 * the index, so it may run on another thread (the daemon's worker) while
 * the loop goes on; the saver is then the worker's until it returns.
 */
void scope_file_save_defer_finish(struct scope_file_saver *sv);
/* 0 once the file is in place, -1 on error (errstr says why). */
int scope_file_save_finish(
    struct scope_file_saver *sv, char *errstr, size_t errlen);
/* Entries written so far. */
size_t scope_file_save_written(const struct scope_file_saver *sv);
/* Free a saver (NULL is fine). An unfinished save is abandoned: its
 * temporary file is closed and removed, and path is left untouched. */
void scope_file_save_free(struct scope_file_saver *sv);

/*
 * Replace the contents of s with the entries of the state file at path,
 * oldest first; with more entries than the capacity, the newest are kept.
 * Returns 0 when loaded, or when the file does not exist (then s is left
 * empty and errstr holds ""); -1 when the file cannot be read or is
 * truncated or corrupt (bad magic, version, entry size, length, count or
 * checksum): errstr says which, and s is left empty.
 */
int scope_file_load(
    struct scope *s, const char *path, char *errstr, size_t errlen);

/*
 * Version 2 (the dedup changelog's checkpoints, docs/dedup.md): one
 * section per partition, each with its changelog offset (the next one to
 * read to bring it up to date) and its entries, and the changelog's
 * name in the header. Saved in slices like version 1 (the step, finish
 * and free calls above serve both). skip holds nskip [lo, hi) pairs of
 * insertion numbers not to write (sorted, disjoint; copied at begin).
 * Each s must outlive the saver: free the saver before freeing or
 * clearing one of them.
 */
struct scope_file_section {
	int32_t partition;
	int64_t offset;
	const struct scope *s;
	const uint64_t *skip;
	size_t nskip;
};
struct scope_file_saver *scope_file_save_begin_parts(const char *path,
    const char *topic, const struct scope_file_section *secs, size_t nsecs,
    char *errstr, size_t errlen);
/*
 * Read a version-2 file: *parts gets *nparts sections, each in a new
 * index of capacity cap (the caller's, scope_file_parts_free()), and
 * *topic the changelog's name (free() it). Returns 0 when loaded, 0 with
 * nothing and errstr "" when the file does not exist, -1 when it cannot
 * be read, is corrupt, or is a version-1 file (errstr says which).
 */
struct scope_file_part {
	int32_t partition;
	int64_t offset;
	struct scope *s;
};
int scope_file_load_parts(const char *path, size_t cap, char **topic,
    struct scope_file_part **parts, size_t *nparts, char *errstr,
    size_t errlen);
void scope_file_parts_free(struct scope_file_part *parts, size_t nparts);

#endif
