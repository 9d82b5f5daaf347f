/*
 * inflight: the record of the job offsets in flight, kept across
 * unclean exits (include/inflight.h). It owns one file and its shared
 * mapping; the daemon tells it when a job starts and ends, and asks it
 * which offsets are suspects.
 *
 * Layout (host byte order: the file never leaves the machine):
 *   header   magic, clean flag, slot count, suspect count, topic name
 *   suspects {partition, exits, offset} of the last exit, sorted
 *   slots    {offset, partition, used} of every job now in flight
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inflight.h"
#include "xmalloc.h"

#define MAGIC "VSINFL1"
#define SUSPECTS_MAX 4096
#define TOPIC_MAX 256

struct ihdr {
	char magic[8];
	uint32_t clean;
	uint32_t nslots;
	uint32_t nsuspects;
	uint32_t pad;
	char topic[TOPIC_MAX];
};

struct isuspect {
	int32_t partition;
	uint32_t exits;
	int64_t offset;
};

struct islot {
	int64_t offset;
	int32_t partition;
	int32_t used;
};

struct inflight {
	int fd;
	void *map;
	size_t maplen;
	struct ihdr *hdr;
	struct islot *slots;
	size_t nslots;
	struct isuspect *sus; /* sorted by partition, offset */
	size_t nsus;
	uint32_t *free; /* stack of free slot numbers */
	size_t nfree;
};

static size_t
map_size(size_t nslots)
{
	return sizeof(struct ihdr) + SUSPECTS_MAX * sizeof(struct isuspect) +
	    nslots * sizeof(struct islot);
}

static int
sus_cmp(const void *a, const void *b)
{
	const struct isuspect *x = a, *y = b;

	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	if (x->offset != y->offset)
		return x->offset < y->offset ? -1 : 1;
	return 0;
}

static const struct isuspect *
sus_find(const struct isuspect *s, size_t n, int32_t partition, int64_t off)
{
	struct isuspect key = {partition, 0, off};

	if (n == 0)
		return NULL;
	return bsearch(&key, s, n, sizeof(*s), sus_cmp);
}

/*
 * What the last exit left in the file's bytes old[0..len): an unclean
 * record's slots become suspects (one exit more than each had); a clean,
 * foreign or unreadable one leaves none.
 */
static void
read_last(
    struct inflight *f, const unsigned char *old, size_t len, const char *topic)
{
	const struct ihdr *h = (const void *)old;
	const struct isuspect *os;
	const struct islot *sl;

	f->sus = xcalloc(SUSPECTS_MAX, sizeof(*f->sus));
	f->nsus = 0;
	if (len < sizeof(*h) || memcmp(h->magic, MAGIC, 8) != 0 || h->clean ||
	    h->nsuspects > SUSPECTS_MAX || len < map_size(h->nslots) ||
	    strncmp(h->topic, topic, TOPIC_MAX) != 0)
		return;
	os = (const void *)(old + sizeof(*h));
	sl = (const void *)(old + sizeof(*h) +
	    SUSPECTS_MAX * sizeof(struct isuspect));
	for (size_t i = 0; i < h->nslots && f->nsus < SUSPECTS_MAX; i++) {
		const struct isuspect *prev;

		if (!sl[i].used)
			continue;
		prev =
		    sus_find(os, h->nsuspects, sl[i].partition, sl[i].offset);
		f->sus[f->nsus].partition = sl[i].partition;
		f->sus[f->nsus].offset = sl[i].offset;
		f->sus[f->nsus].exits = (prev ? prev->exits : 0) + 1;
		f->nsus++;
	}
	qsort(f->sus, f->nsus, sizeof(*f->sus), sus_cmp);
	/* The same offset twice (a slot left by a redelivery): once. */
	{
		size_t w = 0;

		for (size_t i = 0; i < f->nsus; i++)
			if (w == 0 || sus_cmp(&f->sus[i], &f->sus[w - 1]) != 0)
				f->sus[w++] = f->sus[i];
		f->nsus = w;
	}
}

/* The whole file, or NULL (len 0) when there is none yet. */
static unsigned char *
read_file(int fd, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t got = 0;

	*len = 0;
	if (fstat(fd, &st) == -1 || st.st_size <= 0 ||
	    st.st_size > 64 * 1024 * 1024)
		return NULL;
	buf = xmalloc((size_t)st.st_size);
	while (got < (size_t)st.st_size) {
		ssize_t n =
		    pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	*len = got;
	return buf;
}

struct inflight *
inflight_open(const char *path, const char *topic, size_t slots, char *errstr,
    size_t errlen)
{
	struct inflight *f;
	unsigned char *old;
	size_t oldlen;

	if (slots == 0 || slots > UINT32_MAX / 2) {
		snprintf(errstr, errlen, "%s: bad slot count", path);
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f->fd == -1) {
		snprintf(errstr, errlen, "%s: %s", path, strerror(errno));
		free(f);
		return NULL;
	}
	old = read_file(f->fd, &oldlen);
	read_last(f, old, oldlen, topic);
	free(old);
	f->nslots = slots;
	f->maplen = map_size(slots);
	if (ftruncate(f->fd, (off_t)f->maplen) == -1 ||
	    (f->map = mmap(NULL, f->maplen, PROT_READ | PROT_WRITE, MAP_SHARED,
		 f->fd, 0)) == MAP_FAILED) {
		snprintf(errstr, errlen, "%s: %s", path, strerror(errno));
		close(f->fd);
		free(f->sus);
		free(f);
		return NULL;
	}
	memset(f->map, 0, f->maplen);
	f->hdr = f->map;
	memcpy(f->hdr->magic, MAGIC, 8);
	f->hdr->nslots = (uint32_t)slots;
	snprintf(f->hdr->topic, TOPIC_MAX, "%s", topic);
	memcpy((unsigned char *)f->map + sizeof(struct ihdr), f->sus,
	    f->nsus * sizeof(*f->sus));
	f->hdr->nsuspects = (uint32_t)f->nsus;
	f->slots = (void *)((unsigned char *)f->map + sizeof(struct ihdr) +
	    SUSPECTS_MAX * sizeof(struct isuspect));
	f->free = xcalloc(slots, sizeof(*f->free));
	for (size_t i = 0; i < slots; i++)
		f->free[i] = (uint32_t)(slots - 1 - i);
	f->nfree = slots;
	return f;
}

unsigned
inflight_exits(const struct inflight *f, int32_t partition, int64_t offset)
{
	const struct isuspect *s;

	if (f == NULL)
		return 0;
	s = sus_find(f->sus, f->nsus, partition, offset);
	return s ? s->exits : 0;
}

size_t
inflight_nsuspects(const struct inflight *f)
{
	return f ? f->nsus : 0;
}

int
inflight_add(struct inflight *f, int32_t partition, int64_t offset)
{
	struct islot *s;
	uint32_t i;

	if (f == NULL || f->nfree == 0)
		return -1;
	i = f->free[--f->nfree];
	s = &f->slots[i];
	/* used last: a slot is never seen half written. */
	s->offset = offset;
	s->partition = partition;
	__atomic_store_n(&s->used, 1, __ATOMIC_RELEASE);
	return (int)i;
}

void
inflight_del(struct inflight *f, int slot)
{
	if (f == NULL || slot < 0 || (size_t)slot >= f->nslots ||
	    !f->slots[slot].used)
		return;
	__atomic_store_n(&f->slots[slot].used, 0, __ATOMIC_RELEASE);
	f->free[f->nfree++] = (uint32_t)slot;
}

void
inflight_close(struct inflight *f)
{
	if (f == NULL)
		return;
	f->hdr->clean = 1;
	(void)msync(f->map, sizeof(struct ihdr), MS_SYNC);
	munmap(f->map, f->maplen);
	close(f->fd);
	free(f->sus);
	free(f->free);
	free(f);
}
