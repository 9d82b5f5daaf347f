/*
 * scope_file: the dedup state file (see scope_file.h). The only module of
 * the dedup index that does I/O; it sees the index only through
 * scope.h's interface.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hash.h"
#include "scope.h"
#include "scope_file.h"
#include "xmalloc.h"

/*
 * Format, all integers little-endian:
 *   header  (24 bytes): magic "VSSCOPE\0", u32 version (1), u32 entry
 *           size (32), u64 reserved (0)
 *   entries (32 bytes each, oldest first): u64 scope id, u64 exact hash,
 *           u64 SimHash, u64 job hash
 *   trailer (24 bytes): u64 count, u64 checksum, magic "VSSCEND\0"
 * The checksum is FNV-1a 64 over every byte before it (header, entries
 * and count), so any changed byte, and any truncation, is detected.
 */

#define FILE_VERSION 1
#define ENTRY_SIZE 32
#define HDR_SIZE 24
#define TRL_SIZE 24
#define LOAD_CHUNK 4096 /* entries per read */
#define FILE_VERSION_PARTS 2
#define PART_ROW 24 /* version 2: a row of the section table */
#define PARTS_MAX 65536

static const char magic_head[8] = "VSSCOPE";
static const char magic_tail[8] = "VSSCEND";

struct scope_file_saver {
	const struct scope *s;
	char *path;
	char *tmp;
	int fd;
	int done;
	int failed; /* a write failed: the file is no longer whole */
	uint64_t next; /* insertion number to write next */
	uint64_t end; /* first insertion number not to write */
	uint64_t written;
	uint64_t sum;
	off_t off;
	unsigned char *buf;
	size_t bufcap;
	int defer; /* the last step leaves the finish to scope_file_save_finish
		    */
	/* Version 2: the sections, written one after the other. */
	struct part_sec *secs;
	size_t nsecs, cur;
};

/* A section of a version-2 save, as the saver keeps it. */
struct part_sec {
	int32_t partition;
	int64_t offset;
	const struct scope *s;
	uint64_t *skip; /* pairs [lo, hi), sorted */
	size_t nskip, iskip;
	uint64_t next, end, written;
};

static void seterr(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int parts_step(struct scope_file_saver *sv, size_t max_entries,
    char *errstr, size_t errlen);

static void
seterr(char *errstr, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errstr == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(errstr, errlen, fmt, ap);
	va_end(ap);
}

static void
put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t
get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
put_entry(unsigned char *p, const struct scope_entry *e)
{
	put_u64(p, e->scope);
	put_u64(p + 8, e->exact);
	put_u64(p + 16, e->sim);
	put_u64(p + 24, e->job);
}

/* write(2) all of p, retrying short writes and EINTR. */
static int
write_all(int fd, const unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* Read exactly len bytes; -1 with errno set, or errno 0 at early EOF. */
static int
read_all(int fd, unsigned char *p, size_t len)
{
	while (len > 0) {
		ssize_t r = read(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = 0;
			return -1;
		}
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

/* fsync the directory holding path, so the rename is durable. */
static int
sync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, r;

	if (slash == NULL)
		dir = xstrdup(".");
	else
		dir =
		    xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(dir);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

static int
saver_write(struct scope_file_saver *sv, const unsigned char *p, size_t len)
{
	if (write_all(sv->fd, p, len) != 0)
		return -1;
#ifdef SYNC_FILE_RANGE_WRITE
	/* Start writeback now, without waiting, so the final fsync has
	 * little left to flush. */
	(void)sync_file_range(
	    sv->fd, sv->off, (off_t)len, SYNC_FILE_RANGE_WRITE);
#endif
	sv->off += (off_t)len;
	return 0;
}

/* Open "<path>.tmp" and write the header; see scope_file.h. */
struct scope_file_saver *
scope_file_save_begin(
    const struct scope *s, const char *path, char *errstr, size_t errlen)
{
	struct scope_file_saver *sv;
	unsigned char hdr[HDR_SIZE];

	sv = xcalloc(1, sizeof(*sv));
	sv->s = s;
	sv->path = xstrdup(path);
	sv->tmp = xasprintf("%s.tmp", path);
	sv->fd = open(sv->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sv->fd < 0) {
		seterr(errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
		free(sv->tmp);
		sv->tmp = NULL; /* nothing of ours to remove */
		scope_file_save_free(sv);
		return NULL;
	}
	memcpy(hdr, magic_head, 8);
	put_u32(hdr + 8, FILE_VERSION);
	put_u32(hdr + 12, ENTRY_SIZE);
	put_u64(hdr + 16, 0);
	sv->sum = hash_fnv1a(HASH_FNV_OFFSET, hdr, sizeof(hdr));
	if (saver_write(sv, hdr, sizeof(hdr)) != 0) {
		seterr(errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
		scope_file_save_free(sv);
		return NULL;
	}
	sv->next = scope_first(s);
	sv->end = scope_first(s) + scope_count(s);
	return sv;
}

/* Version 2: the section table before the trailer. */
static int
parts_table(struct scope_file_saver *sv)
{
	unsigned char row[PART_ROW];

	for (size_t i = 0; i < sv->nsecs; i++) {
		const struct part_sec *ps = &sv->secs[i];

		put_u32(row, (uint32_t)ps->partition);
		put_u32(row + 4, 0);
		put_u64(row + 8, (uint64_t)ps->offset);
		put_u64(row + 16, ps->written);
		sv->sum = hash_fnv1a(sv->sum, row, sizeof(row));
		if (saver_write(sv, row, sizeof(row)) != 0)
			return -1;
	}
	put_u64(row, sv->nsecs);
	sv->sum = hash_fnv1a(sv->sum, row, 8);
	return saver_write(sv, row, 8);
}

/* The trailer, fsync, rename and directory fsync of the last step. */
static int
saver_finish(struct scope_file_saver *sv, char *errstr, size_t errlen)
{
	unsigned char trl[TRL_SIZE];
	int fd = sv->fd;

	if (sv->s == NULL && parts_table(sv) != 0) {
		seterr(errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
		return -1;
	}
	put_u64(trl, sv->written);
	sv->sum = hash_fnv1a(sv->sum, trl, 8);
	put_u64(trl + 8, sv->sum);
	memcpy(trl + 16, magic_tail, 8);
	if (saver_write(sv, trl, sizeof(trl)) != 0 || fsync(fd) != 0) {
		seterr(errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
		return -1;
	}
	sv->fd = -1;
	if (close(fd) != 0) {
		seterr(errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
		return -1;
	}
	if (rename(sv->tmp, sv->path) != 0) {
		seterr(errstr, errlen, "rename %s to %s: %s", sv->tmp, sv->path,
		    strerror(errno));
		return -1;
	}
	sv->done = 1;
	if (sync_dir(sv->path) != 0) {
		/* The file is in place; only its durability is unsure. */
		seterr(errstr, errlen, "fsync directory of %s: %s", sv->path,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* Write up to max_entries more entries; 1 more to do, 0 done, -1 error. */
int
scope_file_save_step(struct scope_file_saver *sv, size_t max_entries,
    char *errstr, size_t errlen)
{
	struct scope_entry e[256];
	size_t n, got;

	if (sv->done)
		return 0;
	if (sv->failed || sv->fd < 0) {
		seterr(errstr, errlen, "%s: save already failed", sv->tmp);
		return -1;
	}
	if (max_entries == 0)
		max_entries = 1;
	if (sv->secs != NULL || sv->s == NULL)
		return parts_step(sv, max_entries, errstr, errlen);
	/* Entries evicted since begin are gone: skip them. */
	if (sv->next < scope_first(sv->s))
		sv->next = scope_first(sv->s);
	n = 0;
	if (sv->next < sv->end)
		n = sv->end - sv->next < max_entries ? sv->end - sv->next
						     : max_entries;
	if (n > 0) {
		if (n > sv->bufcap) {
			free(sv->buf);
			sv->buf = xreallocarray(NULL, n, ENTRY_SIZE);
			sv->bufcap = n;
		}
		for (size_t j = 0; j < n; j += got) {
			size_t want = n - j < 256 ? n - j : 256;

			got = scope_entries(sv->s, sv->next + j, e, want);
			if (got == 0)
				break; /* cannot be: [next, end) is held */
			for (size_t k = 0; k < got; k++)
				put_entry(
				    sv->buf + (j + k) * ENTRY_SIZE, &e[k]);
		}
		sv->sum = hash_fnv1a(sv->sum, sv->buf, n * ENTRY_SIZE);
		if (saver_write(sv, sv->buf, n * ENTRY_SIZE) != 0) {
			seterr(
			    errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
			sv->failed = 1;
			return -1;
		}
		sv->written += n;
		sv->next += n;
	}
	if (sv->next < sv->end)
		return 1;
	if (sv->defer)
		return 2;
	return scope_file_save_finish(sv, errstr, errlen);
}

/* The trailer, fsync and rename (see scope_file.h). */
int
scope_file_save_finish(struct scope_file_saver *sv, char *errstr, size_t errlen)
{
	if (sv->done)
		return 0;
	if (sv->failed || sv->fd < 0) {
		seterr(errstr, errlen, "%s: save already failed", sv->tmp);
		return -1;
	}
	if (saver_finish(sv, errstr, errlen) != 0) {
		sv->failed = !sv->done;
		return -1;
	}
	return 0;
}

void
scope_file_save_defer_finish(struct scope_file_saver *sv)
{
	sv->defer = 1;
}

/* Entries written so far. */
size_t
scope_file_save_written(const struct scope_file_saver *sv)
{
	return (size_t)sv->written;
}

/* Free a saver; an unfinished save loses its temporary file. */
void
scope_file_save_free(struct scope_file_saver *sv)
{
	if (sv == NULL)
		return;
	if (sv->fd >= 0)
		close(sv->fd);
	if (!sv->done && sv->tmp != NULL)
		(void)unlink(sv->tmp);
	for (size_t i = 0; i < sv->nsecs; i++)
		free(sv->secs[i].skip);
	free(sv->secs);
	free(sv->buf);
	free(sv->tmp);
	free(sv->path);
	free(sv);
}

/* Check the header and trailer; the entry count goes to *countp. */
static int
load_frame(int fd, off_t size, const char *path, uint64_t *countp,
    unsigned char *hdr, char *errstr, size_t errlen)
{
	unsigned char trl[TRL_SIZE];
	uint64_t n;

	if (size < HDR_SIZE || read_all(fd, hdr, HDR_SIZE) != 0) {
		seterr(errstr, errlen, "%s: truncated header", path);
		return -1;
	}
	if (memcmp(hdr, magic_head, 8) != 0) {
		seterr(errstr, errlen, "%s: not a scope state file (bad magic)",
		    path);
		return -1;
	}
	if (get_u32(hdr + 8) != FILE_VERSION) {
		seterr(errstr, errlen, "%s: unsupported version %u", path,
		    (unsigned)get_u32(hdr + 8));
		return -1;
	}
	if (get_u32(hdr + 12) != ENTRY_SIZE) {
		seterr(errstr, errlen, "%s: unsupported entry size %u", path,
		    (unsigned)get_u32(hdr + 12));
		return -1;
	}
	if (size < HDR_SIZE + TRL_SIZE ||
	    (size - HDR_SIZE - TRL_SIZE) % ENTRY_SIZE != 0) {
		seterr(errstr, errlen,
		    "%s: truncated (%lld bytes is not a whole file)", path,
		    (long long)size);
		return -1;
	}
	n = (uint64_t)(size - HDR_SIZE - TRL_SIZE) / ENTRY_SIZE;
	if (pread(fd, trl, TRL_SIZE, size - TRL_SIZE) != TRL_SIZE ||
	    memcmp(trl + 16, magic_tail, 8) != 0) {
		seterr(
		    errstr, errlen, "%s: truncated or corrupt trailer", path);
		return -1;
	}
	if (get_u64(trl) != n) {
		seterr(errstr, errlen,
		    "%s: trailer counts %llu entries, file holds %llu", path,
		    (unsigned long long)get_u64(trl), (unsigned long long)n);
		return -1;
	}
	*countp = n;
	return 0;
}

/* Read the entries (after the header), insert the newest, and verify the
 * checksum. */
static int
load_entries(struct scope *s, int fd, const char *path, uint64_t n,
    const unsigned char *hdr, char *errstr, size_t errlen)
{
	unsigned char *buf, tail[16];
	uint64_t sum, skip, done = 0;

	sum = hash_fnv1a(HASH_FNV_OFFSET, hdr, HDR_SIZE);
	skip = n > scope_capacity(s) ? n - scope_capacity(s) : 0;
	buf = xreallocarray(NULL, LOAD_CHUNK, ENTRY_SIZE);
	while (done < n) {
		size_t c =
		    n - done < LOAD_CHUNK ? (size_t)(n - done) : LOAD_CHUNK;

		if (read_all(fd, buf, c * ENTRY_SIZE) != 0) {
			seterr(errstr, errlen, "%s: %s", path,
			    errno ? strerror(errno) : "truncated entries");
			free(buf);
			return -1;
		}
		sum = hash_fnv1a(sum, buf, c * ENTRY_SIZE);
		for (size_t j = 0; j < c; j++, done++) {
			const unsigned char *p = buf + j * ENTRY_SIZE;

			struct scope_entry e;

			if (done < skip)
				continue;
			e.scope = get_u64(p);
			e.exact = get_u64(p + 8);
			e.sim = get_u64(p + 16);
			e.job = get_u64(p + 24);
			scope_restore(s, &e);
		}
	}
	free(buf);
	if (read_all(fd, tail, sizeof(tail)) != 0) {
		seterr(errstr, errlen, "%s: truncated trailer", path);
		return -1;
	}
	sum = hash_fnv1a(sum, tail, 8);
	if (sum != get_u64(tail + 8)) {
		seterr(errstr, errlen, "%s: checksum mismatch", path);
		return -1;
	}
	return 0;
}

/* Replace the contents of s with the state file at path; see scope_file.h. */
int
scope_file_load(struct scope *s, const char *path, char *errstr, size_t errlen)
{
	unsigned char hdr[HDR_SIZE];
	struct stat st;
	uint64_t n;
	int fd;

	scope_clear(s);
	seterr(errstr, errlen, "%s", "");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		seterr(errstr, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		seterr(errstr, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(errstr, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (load_frame(fd, st.st_size, path, &n, hdr, errstr, errlen) != 0 ||
	    load_entries(s, fd, path, n, hdr, errstr, errlen) != 0) {
		close(fd);
		scope_clear(s);
		return -1;
	}
	close(fd);
	return 0;
}

/* ---- version 2: one section per partition ---- */

/* Open "<path>.tmp" and write a version-2 header (see scope_file.h). */
struct scope_file_saver *
scope_file_save_begin_parts(const char *path, const char *topic,
    const struct scope_file_section *secs, size_t nsecs, char *errstr,
    size_t errlen)
{
	struct scope_file_saver *sv;
	unsigned char hdr[HDR_SIZE + 8];
	size_t tlen = topic != NULL ? strlen(topic) : 0;
	size_t padded = (tlen + 7) & ~(size_t)7;
	unsigned char *name;

	sv = xcalloc(1, sizeof(*sv));
	sv->path = xstrdup(path);
	sv->tmp = xasprintf("%s.tmp", path);
	sv->secs = xcalloc(nsecs + 1, sizeof(*sv->secs));
	sv->nsecs = nsecs;
	for (size_t i = 0; i < nsecs; i++) {
		struct part_sec *ps = &sv->secs[i];

		ps->partition = secs[i].partition;
		ps->offset = secs[i].offset;
		ps->s = secs[i].s;
		ps->next = scope_first(ps->s);
		ps->end = scope_first(ps->s) + scope_count(ps->s);
		if (secs[i].nskip > 0) {
			ps->skip = xreallocarray(
			    NULL, secs[i].nskip, 2 * sizeof(uint64_t));
			memcpy(ps->skip, secs[i].skip,
			    secs[i].nskip * 2 * sizeof(uint64_t));
			ps->nskip = secs[i].nskip;
		}
	}
	sv->fd = open(sv->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (sv->fd < 0) {
		seterr(errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
		free(sv->tmp);
		sv->tmp = NULL;
		scope_file_save_free(sv);
		return NULL;
	}
	memcpy(hdr, magic_head, 8);
	put_u32(hdr + 8, FILE_VERSION_PARTS);
	put_u32(hdr + 12, ENTRY_SIZE);
	put_u64(hdr + 16, 0);
	put_u32(hdr + 24, (uint32_t)tlen);
	put_u32(hdr + 28, 0);
	name = xcalloc(padded + 1, 1);
	if (tlen > 0)
		memcpy(name, topic, tlen);
	sv->sum = hash_fnv1a(HASH_FNV_OFFSET, hdr, sizeof(hdr));
	sv->sum = hash_fnv1a(sv->sum, name, padded);
	if (saver_write(sv, hdr, sizeof(hdr)) != 0 ||
	    (padded > 0 && saver_write(sv, name, padded) != 0)) {
		seterr(errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
		free(name);
		scope_file_save_free(sv);
		return NULL;
	}
	free(name);
	return sv;
}

/* Whether insertion number q of ps is to be skipped (not durable). */
static int
part_skips(struct part_sec *ps, uint64_t q)
{
	while (ps->iskip < ps->nskip && ps->skip[2 * ps->iskip + 1] <= q)
		ps->iskip++;
	return ps->iskip < ps->nskip && ps->skip[2 * ps->iskip] <= q;
}

/* Version 2: the next entries, section after section. */
static int
parts_step(struct scope_file_saver *sv, size_t max_entries, char *errstr,
    size_t errlen)
{
	struct scope_entry e[256];
	size_t done = 0;

	if (sv->bufcap < 256) {
		free(sv->buf);
		sv->buf = xreallocarray(NULL, 256, ENTRY_SIZE);
		sv->bufcap = 256;
	}
	while (sv->cur < sv->nsecs && done < max_entries) {
		struct part_sec *ps = &sv->secs[sv->cur];
		size_t want, got, n = 0;

		if (ps->next < scope_first(ps->s))
			ps->next = scope_first(ps->s);
		if (ps->next >= ps->end) {
			sv->cur++;
			continue;
		}
		want = ps->end - ps->next < 256 ? (size_t)(ps->end - ps->next)
						: 256;
		if (want > max_entries - done)
			want = max_entries - done;
		got = scope_entries(ps->s, ps->next, e, want);
		for (size_t k = 0; k < got; k++)
			if (!part_skips(ps, ps->next + k))
				put_entry(sv->buf + (n++) * ENTRY_SIZE, &e[k]);
		ps->next += got > 0 ? got : want;
		done += got > 0 ? got : want;
		if (n == 0)
			continue;
		sv->sum = hash_fnv1a(sv->sum, sv->buf, n * ENTRY_SIZE);
		if (saver_write(sv, sv->buf, n * ENTRY_SIZE) != 0) {
			seterr(
			    errstr, errlen, "%s: %s", sv->tmp, strerror(errno));
			sv->failed = 1;
			return -1;
		}
		ps->written += n;
		sv->written += n;
	}
	if (sv->cur < sv->nsecs)
		return 1;
	if (sv->defer)
		return 2;
	return scope_file_save_finish(sv, errstr, errlen);
}

/* Free sections loaded by scope_file_load_parts(); NULL is fine. */
void
scope_file_parts_free(struct scope_file_part *parts, size_t nparts)
{
	if (parts == NULL)
		return;
	for (size_t i = 0; i < nparts; i++)
		scope_free(parts[i].s);
	free(parts);
}

/* Read all of path into *bufp (the file is at most the entries of one
 * instance's capacity). 1 loaded, 0 missing, -1 error. */
static int
read_file(const char *path, unsigned char **bufp, size_t *lenp, char *errstr,
    size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		seterr(errstr, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		seterr(errstr, errlen, "%s: not a readable regular file", path);
		close(fd);
		return -1;
	}
	*lenp = (size_t)st.st_size;
	*bufp = xmalloc(*lenp + 1);
	if (read_all(fd, *bufp, *lenp) != 0) {
		seterr(errstr, errlen, "%s: truncated", path);
		free(*bufp);
		*bufp = NULL;
		close(fd);
		return -1;
	}
	close(fd);
	return 1;
}

/* Check a version-2 file's frame; its sections' table and entries. */
static int
parts_frame(const unsigned char *b, size_t len, const char *path,
    size_t *entries_off, size_t *nsec, size_t *table_off, char **topic,
    char *errstr, size_t errlen)
{
	size_t tlen, padded, total, n, sum_n = 0;

	if (len < HDR_SIZE + 8 + 8 + TRL_SIZE) {
		seterr(errstr, errlen, "%s: truncated", path);
		return -1;
	}
	if (memcmp(b, magic_head, 8) != 0 ||
	    memcmp(b + len - 8, magic_tail, 8) != 0) {
		seterr(errstr, errlen, "%s: not a scope state file (bad magic)",
		    path);
		return -1;
	}
	if (get_u32(b + 8) == FILE_VERSION) {
		seterr(errstr, errlen,
		    "%s: written without a changelog (version 1)", path);
		return -1;
	}
	if (get_u32(b + 8) != FILE_VERSION_PARTS ||
	    get_u32(b + 12) != ENTRY_SIZE) {
		seterr(
		    errstr, errlen, "%s: unknown version or entry size", path);
		return -1;
	}
	if (hash_fnv1a(HASH_FNV_OFFSET, b, len - 16) != get_u64(b + len - 16)) {
		seterr(errstr, errlen, "%s: bad checksum", path);
		return -1;
	}
	tlen = get_u32(b + 24);
	padded = (tlen + 7) & ~(size_t)7;
	total = (size_t)get_u64(b + len - TRL_SIZE);
	n = (size_t)get_u64(b + len - TRL_SIZE - 8);
	*entries_off = HDR_SIZE + 8 + padded;
	if (tlen > len || n > PARTS_MAX || total > len / ENTRY_SIZE ||
	    *entries_off + total * ENTRY_SIZE + n * PART_ROW + 8 + TRL_SIZE !=
		len) {
		seterr(errstr, errlen, "%s: bad length or count", path);
		return -1;
	}
	*table_off = *entries_off + total * ENTRY_SIZE;
	for (size_t i = 0; i < n; i++)
		sum_n += (size_t)get_u64(b + *table_off + i * PART_ROW + 16);
	if (sum_n != total) {
		seterr(
		    errstr, errlen, "%s: section counts do not add up", path);
		return -1;
	}
	*nsec = n;
	*topic = xcalloc(tlen + 1, 1);
	memcpy(*topic, b + HDR_SIZE + 8, tlen);
	return 0;
}

/* Read a version-2 file into one new index per section (see
 * scope_file.h). */
int
scope_file_load_parts(const char *path, size_t cap, char **topic,
    struct scope_file_part **parts, size_t *nparts, char *errstr, size_t errlen)
{
	unsigned char *b = NULL;
	size_t len = 0, eoff, n, toff, at;
	struct scope_file_part *ps;
	int rc;

	*topic = NULL;
	*parts = NULL;
	*nparts = 0;
	seterr(errstr, errlen, "%s", "");
	if ((rc = read_file(path, &b, &len, errstr, errlen)) <= 0)
		return rc;
	if (parts_frame(
		b, len, path, &eoff, &n, &toff, topic, errstr, errlen) != 0) {
		free(b);
		return -1;
	}
	ps = xcalloc(n + 1, sizeof(*ps));
	at = eoff;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *row = b + toff + i * PART_ROW;
		uint64_t cnt = get_u64(row + 16);

		ps[i].partition = (int32_t)get_u32(row);
		ps[i].offset = (int64_t)get_u64(row + 8);
		for (size_t k = 0; k <= i; k++)
			if (ps[i].partition < 0 ||
			    (k < i && ps[k].partition == ps[i].partition)) {
				seterr(errstr, errlen,
				    "%s: bad or repeated partition %" PRId32,
				    path, ps[i].partition);
				scope_file_parts_free(ps, i);
				free(*topic);
				*topic = NULL;
				free(b);
				return -1;
			}
		if ((ps[i].s = scope_new(cap)) == NULL) {
			seterr(
			    errstr, errlen, "capacity %zu out of range", cap);
			scope_file_parts_free(ps, i);
			free(*topic);
			*topic = NULL;
			free(b);
			return -1;
		}
		for (uint64_t k = 0; k < cnt; k++, at += ENTRY_SIZE) {
			struct scope_entry e;

			e.scope = get_u64(b + at);
			e.exact = get_u64(b + at + 8);
			e.sim = get_u64(b + at + 16);
			e.job = get_u64(b + at + 24);
			(void)scope_restore(ps[i].s, &e);
		}
	}
	free(b);
	*parts = ps;
	*nparts = n;
	return 0;
}
