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

#endif
