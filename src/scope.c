/*
 * scope: the cross-job duplicate index.
 *
 * Layout. Entries live in a ring of `capacity` slots in insertion order,
 * stored as four parallel arrays (scope id, exact hash, SimHash, job
 * hash): the near test reads only the SimHash array first, which is a
 * quarter of the data and stays in cache far better. Entries are found
 * through five open-addressing tables of 32-bit slots: one keyed by
 * (scope, exact hash) and one per 16-bit band of the SimHash keyed by
 * (scope, band value). Two SimHashes within 3 bits of each other agree on
 * at least one of the four bands (pigeonhole), so band lookup finds every
 * such pair; pairs further apart are found when a band happens to agree.
 *
 * Tables. Robin Hood linear probing. A slot holds the ring index + 1 in
 * its low bits (0 is empty) and the slot's distance from its home in the
 * high bits. With the distance stored, a lookup reads entry data only for
 * slots whose home equals the key's home, and deletion is a backward
 * shift that never reads entries, so evicting the oldest entry (FIFO) is
 * cheap and leaves no tombstones. The distance is capped at 255 (fewer
 * bits are left above 2^24 entries): an insert that would exceed it is
 * not made in that table. This also caps how many entries one band value
 * of one scope can index, which bounds the work of a lookup when many
 * texts of a scope share a band (common words bias SimHash bits).
 * Homes are taken with a multiply-shift range reduction, so table sizes
 * need not be powers of two and the load stays at 0.8.
 *
 * A leaf module: pure computation, no I/O. The state file that keeps
 * the index across restarts is scope_file.c, which reads and writes
 * entries through scope_entries() and scope_restore().
 */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "hash.h"
#include "scope.h"
#include "xmalloc.h"

#define NBANDS 4
#define BAND_BITS 16
#define DIB_CAP 255
#define PI 3.14159265358979323846

/* Table salts: the same (scope, value) in two tables hashes apart. */
static const uint64_t salt_exact = UINT64_C(0x243f6a8885a308d3);
static const uint64_t salt_band[NBANDS] = {
    UINT64_C(0x13198a2e03707344),
    UINT64_C(0xa4093822299f31d0),
    UINT64_C(0x082efa98ec4e6c89),
    UINT64_C(0x452821e638d01377),
};

struct table {
	uint32_t *slot;
	uint32_t size;
};

struct scope {
	/* The ring, as parallel arrays of cap values. */
	uint64_t *e_scope;
	uint64_t *e_exact;
	uint64_t *e_sim; /* 0: no tokens, in no band table */
	uint64_t *e_job;
	size_t cap;
	size_t head; /* ring index of the oldest entry */
	size_t count;
	uint64_t first; /* insertion number of the oldest entry */

	struct table exact;
	struct table band[NBANDS];
	unsigned idx_bits; /* low slot bits: ring index + 1 */
	uint32_t idx_mask;
	uint32_t dib_max;

	double last_t; /* cache of scope_near_distance() */
	int last_d;
};

/* Hash of a dedup_scope string; stored in the state file. */
uint64_t
scope_id_hash(const char *scope, size_t len)
{
	return hash_bytes(scope, len);
}

/* Hash of a job id; stored in the state file. */
uint64_t
scope_job_hash(const char *id, size_t len)
{
	return hash_bytes(id, len);
}

static uint32_t
band_of(uint64_t sim, int b)
{
	return (uint32_t)(sim >> (b * BAND_BITS)) & 0xffff;
}

static uint64_t
key_exact(uint64_t scope, uint64_t exact)
{
	return hash_mix64(scope ^ hash_mix64(exact ^ salt_exact));
}

/*
 * The band key is laid out rather than hashed: a random offset per
 * (scope, band) plus the band value in the top 16 bits. The table maps
 * the top bits linearly onto its slots, so one scope's 65536 band values
 * land on evenly spaced homes. A large scope has many texts per band
 * value; hashed, those groups would land in clumps and merge into runs
 * hundreds of slots long, while spaced out each group keeps to its own
 * stretch. Many small scopes still look random, from their offsets.
 */
static uint64_t
key_band(uint64_t scope, uint64_t sim, int b)
{
	return hash_mix64(scope ^ salt_band[b]) +
	    ((uint64_t)band_of(sim, b) << (64 - BAND_BITS));
}

/* ---- SimHash and keys ---- */

/* SimHash of the distinct token hashes of tok (see scope.h). */
uint64_t
scope_simhash(const struct tokens *tok)
{
	uint64_t small[256], *set, sim = 0;
	uint32_t ones[64] = {0};
	size_t n;

	if (tok->n == 0)
		return 0;
	set = tok->n <= 256 ? small : xreallocarray(NULL, tok->n, 8);
	n = dedup_token_set(tok, set);
	for (size_t i = 0; i < n; i++)
		for (int b = 0; b < 64; b++)
			ones[b] += (uint32_t)(set[i] >> b) & 1;
	for (int b = 0; b < 64; b++)
		if (2 * (size_t)ones[b] > n)
			sim |= UINT64_C(1) << b;
	if (set != small)
		free(set);
	return sim;
}

/* Fill k from text[0..len); tok holds its tokens, or NULL. */
void
scope_key_make(
    struct scope_key *k, const char *text, size_t len, const struct tokens *tok)
{
	struct tokens own;

	k->exact = dedup_norm_hash(text, len);
	if (tok != NULL) {
		k->sim = scope_simhash(tok);
		return;
	}
	tokens_init(&own);
	tokens_split(&own, text, len);
	k->sim = scope_simhash(&own);
	tokens_free(&own);
}

/*
 * The distance standing for Jaccard >= t (see scope.h). A 64-bit SimHash
 * bit differs between two sets with probability theta / pi, theta the
 * angle between their indicator vectors; for equal sizes and Jaccard t,
 * cos theta = 2t / (1 + t). The distance is then about binomial(64, p):
 * mean 64p, standard deviation sqrt(64p(1 - p)), some 3 bits near 0.8.
 * Cutting at the mean would flag half the pairs at the threshold but,
 * against a large scope, also many unrelated texts whose distance is
 * small by chance (1.7% of them against a million entries at 0.8); one
 * standard deviation below the mean keeps that near 0.03% (docs/dedup.md).
 */
int
scope_near_distance(double t)
{
	double p, d;

	if (!(t <= 1.0))
		return -1;
	if (t >= 1.0)
		return 0;
	if (t < 0.0)
		t = 0.0;
	p = acos(2.0 * t / (1.0 + t)) / PI;
	d = floor(64.0 * p - sqrt(64.0 * p * (1.0 - p)));
	if (d < 0.0)
		return 0;
	return d > SCOPE_NEAR_MAX ? SCOPE_NEAR_MAX : (int)d;
}

/* ---- tables ---- */

static uint32_t
tab_home(const struct table *t, uint64_t h)
{
	return (uint32_t)(((h >> 32) * (uint64_t)t->size) >> 32);
}

/*
 * The home slots of one entry in the five tables. They are computed, and
 * their cache lines requested, before any is used: each is a cache miss
 * in a large index, and asking for all at once overlaps them.
 */
struct homes {
	uint32_t exact;
	uint32_t band[NBANDS];
};

static void
homes_find(const struct scope *s, uint64_t scope, uint64_t exact, uint64_t sim,
    struct homes *hm)
{
	hm->exact = tab_home(&s->exact, key_exact(scope, exact));
	__builtin_prefetch(&s->exact.slot[hm->exact]);
	if (sim == 0)
		return;
	for (int b = 0; b < NBANDS; b++) {
		hm->band[b] = tab_home(&s->band[b], key_band(scope, sim, b));
		__builtin_prefetch(&s->band[b].slot[hm->band[b]]);
	}
}

/* The slot at offset o (< size) from pos. */
static uint32_t
tab_at(const struct table *t, uint32_t pos, uint32_t o)
{
	uint32_t p = pos + o;

	return p >= t->size || p < pos ? p - t->size : p;
}

static uint32_t
dib_of(const struct scope *s, uint32_t v)
{
	return v >> s->idx_bits;
}

static size_t
idx_of(const struct scope *s, uint32_t v)
{
	return (size_t)(v & s->idx_mask) - 1;
}

/*
 * Whether the slot at offset o from home is empty or holds an item whose
 * home is home or later. Robin Hood keeps the homes along a run in order,
 * and a run starting after an empty slot holds only later homes, so this
 * is false up to the start of home's group and true from there on.
 */
static int
at_or_after(
    const struct scope *s, const struct table *t, uint32_t home, uint32_t o)
{
	uint32_t v = t->slot[tab_at(t, home, o)];

	return v == 0 || dib_of(s, v) <= o;
}

/*
 * The offset from home of its group: the slots holding items of that
 * home, or where they would go. Found by galloping then bisecting, so
 * long runs (many texts of one scope share a band value) cost O(log run).
 * No distance exceeds dib_max, and the table always has an empty slot,
 * so the predicate is true at min(dib_max + 1, size - 1).
 */
static uint32_t
group_start(const struct scope *s, const struct table *t, uint32_t home)
{
	uint32_t lo = 0, hi = 1, limit = s->dib_max + 1;

	if (limit > t->size - 1)
		limit = t->size - 1;
	if (limit == 0 || at_or_after(s, t, home, 0))
		return 0;
	for (;;) {
		if (hi >= limit) {
			hi = limit;
			break;
		}
		if (at_or_after(s, t, home, hi))
			break;
		lo = hi;
		hi *= 2;
	}
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (at_or_after(s, t, home, mid))
			hi = mid;
		else
			lo = mid;
	}
	return hi;
}

/*
 * The first slot from pos on, cyclically, holding a value below lim
 * (lim 1: an empty slot; lim 1 << idx_bits: empty or at its home). The
 * largest value passed goes to *maxp. Tight loops over the linear
 * stretches: in a long run this is the bulk of an insert or a removal.
 */
static uint32_t
scan_below(const struct table *t, uint32_t pos, uint32_t lim, uint32_t *maxp)
{
	uint32_t mx = 0;

	for (;;) {
		const uint32_t *p = t->slot + pos, *end = t->slot + t->size;

		for (; p < end && *p >= lim; p++)
			mx = *p > mx ? *p : mx;
		if (p < end) {
			*maxp = mx;
			return (uint32_t)(p - t->slot);
		}
		pos = 0;
	}
}

/*
 * Insert ring index idx at home, at the end of its home's group
 * (so a group runs oldest first and eviction finds its entry at once).
 * The run from there to the next empty slot shifts right by one. Returns
 * -1, changing nothing, when a distance would pass dib_max.
 */
static int
tab_insert(struct scope *s, struct table *t, uint32_t home, size_t idx)
{
	uint32_t d, pos, e, v;
	const uint32_t one = UINT32_C(1) << s->idx_bits;

	d = group_start(s, t, home);
	while (
	    (v = t->slot[pos = tab_at(t, home, d)]) != 0 && dib_of(s, v) == d)
		d++;
	if (d > s->dib_max)
		return -1;
	e = scan_below(t, pos, 1, &v);
	if (dib_of(s, v) >= s->dib_max)
		return -1;
	if (e >= pos) {
		/* One stretch: a memmove and a loop the compiler vectorises. */
		memmove(&t->slot[pos + 1], &t->slot[pos],
		    (e - pos) * sizeof(*t->slot));
		for (uint32_t i = pos + 1; i <= e; i++)
			t->slot[i] += one;
	} else {
		while (e != pos) {
			uint32_t prev = e == 0 ? t->size - 1 : e - 1;

			t->slot[e] = t->slot[prev] + one;
			e = prev;
		}
	}
	t->slot[pos] = (d << s->idx_bits) | (uint32_t)(idx + 1);
	return 0;
}

/* Remove ring index idx stored at home, if present (an insert past
 * dib_max left it out), with a backward shift. */
static void
tab_remove(struct scope *s, struct table *t, uint32_t home, size_t idx)
{
	uint32_t d, pos, e, v;
	const uint32_t one = UINT32_C(1) << s->idx_bits;

	for (d = group_start(s, t, home);; d++) {
		v = t->slot[pos = tab_at(t, home, d)];
		if (v == 0 || dib_of(s, v) != d)
			return;
		if (idx_of(s, v) == idx)
			break;
	}
	/* Shift back everything up to an empty slot or an item at home. */
	e = scan_below(t, pos + 1 == t->size ? 0 : pos + 1, one, &v);
	if (e > pos) {
		memmove(&t->slot[pos], &t->slot[pos + 1],
		    (e - pos - 1) * sizeof(*t->slot));
		for (uint32_t i = pos; i + 1 < e; i++)
			t->slot[i] -= one;
		t->slot[e - 1] = 0;
	} else {
		for (;;) {
			uint32_t n = pos + 1 == t->size ? 0 : pos + 1;

			if (n == e)
				break;
			t->slot[pos] = t->slot[n] - one;
			pos = n;
		}
		t->slot[pos] = 0;
	}
}

static void
tab_alloc(struct table *t)
{
	free(t->slot);
	t->slot = xcalloc(t->size, sizeof(*t->slot));
}

/* ---- the index ---- */

/* An empty index for 1..SCOPE_CAPACITY_MAX entries, or NULL. */
struct scope *
scope_new(size_t capacity)
{
	struct scope *s;
	uint64_t size;
	unsigned dib_bits;

	if (capacity == 0 || capacity > SCOPE_CAPACITY_MAX)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	s->cap = capacity;
	/* calloc: pages are touched only as entries arrive. */
	s->e_scope = xcalloc(capacity, sizeof(uint64_t));
	s->e_exact = xcalloc(capacity, sizeof(uint64_t));
	s->e_sim = xcalloc(capacity, sizeof(uint64_t));
	s->e_job = xcalloc(capacity, sizeof(uint64_t));
	while (s->idx_bits < 32 && ((uint64_t)1 << s->idx_bits) <= capacity)
		s->idx_bits++;
	s->idx_mask = (UINT32_C(1) << s->idx_bits) - 1;
	dib_bits = 32 - s->idx_bits;
	s->dib_max = dib_bits >= 8 ? DIB_CAP : (UINT32_C(1) << dib_bits) - 1;
	/* Short distances need a lower load to stay under the cap. */
	if (dib_bits >= 8)
		size = (uint64_t)capacity + capacity / 4 + 1;
	else
		size = 2 * (uint64_t)capacity + 1;
	s->exact.size = (uint32_t)size;
	tab_alloc(&s->exact);
	for (int b = 0; b < NBANDS; b++) {
		s->band[b].size = (uint32_t)size;
		tab_alloc(&s->band[b]);
	}
	s->last_t = NAN;
	s->last_d = -1;
	return s;
}

/* Free s and its tables; NULL is fine. */
void
scope_free(struct scope *s)
{
	if (s == NULL)
		return;
	free(s->e_scope);
	free(s->e_exact);
	free(s->e_sim);
	free(s->e_job);
	free(s->exact.slot);
	for (int b = 0; b < NBANDS; b++)
		free(s->band[b].slot);
	free(s);
}

/* Entries held now. */
size_t
scope_count(const struct scope *s)
{
	return s->count;
}

/* The capacity given to scope_new(). */
size_t
scope_capacity(const struct scope *s)
{
	return s->cap;
}

/* Drop every entry. Fresh tables give their pages back to the system;
 * the insertion numbers move on, so savers skip what was dropped. */
void
scope_clear(struct scope *s)
{
	if (s->count == 0)
		return;
	tab_alloc(&s->exact);
	for (int b = 0; b < NBANDS; b++)
		tab_alloc(&s->band[b]);
	s->first += s->count;
	s->count = 0;
	s->head = 0;
}

/* The homes of the oldest entry, which the next insert evicts. */
static void
homes_oldest(const struct scope *s, struct homes *hm)
{
	size_t i = s->head;

	homes_find(s, s->e_scope[i], s->e_exact[i], s->e_sim[i], hm);
}

/* Evict the oldest entry; hm holds its homes (homes_oldest()). */
static void
evict_oldest(struct scope *s, const struct homes *hm)
{
	size_t i = s->head;

	tab_remove(s, &s->exact, hm->exact, i);
	if (s->e_sim[i] != 0)
		for (int b = 0; b < NBANDS; b++)
			tab_remove(s, &s->band[b], hm->band[b], i);
	s->head = i + 1 == s->cap ? 0 : i + 1;
	s->count--;
	s->first++;
}

/*
 * Append an entry whose homes are hm, evicting the oldest (whose homes
 * are old) when full.
 */
static void
insert_entry(struct scope *s, uint64_t scope, uint64_t exact, uint64_t sim,
    uint64_t job, const struct homes *hm, const struct homes *old)
{
	size_t i;

	if (s->count == s->cap)
		evict_oldest(s, old);
	i = s->head + s->count;
	if (i >= s->cap)
		i -= s->cap;
	s->e_scope[i] = scope;
	s->e_exact[i] = exact;
	s->e_sim[i] = sim;
	s->e_job[i] = job;
	s->count++;
	/* A failed insert (distance cap) leaves the entry out of one
	 * table: it can still match through the others. */
	(void)tab_insert(s, &s->exact, hm->exact, i);
	if (sim != 0)
		for (int b = 0; b < NBANDS; b++)
			(void)tab_insert(s, &s->band[b], hm->band[b], i);
}

/* Bits set in x (SWAR: no popcnt instruction is assumed). */
static int
popcount64(uint64_t x)
{
	x -= (x >> 1) & UINT64_C(0x5555555555555555);
	x = (x & UINT64_C(0x3333333333333333)) +
	    ((x >> 2) & UINT64_C(0x3333333333333333));
	x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
	return (int)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/*
 * The lookup: 1 when k (homes hm) duplicates an entry of another job in
 * scope, else 0, with *own set when an identical entry of the same job
 * is held.
 * d < 0 turns near matching off. Only the slots of the key's home group
 * are read, and entry data only for them.
 */
static int
lookup(const struct scope *s, uint64_t scope, uint64_t job,
    const struct scope_key *k, int d, const struct homes *hm, int *own)
{
	const struct table *t = &s->exact;
	uint32_t home, o, v;

	*own = 0;
	home = hm->exact;
	for (o = group_start(s, t, home);
	     (v = t->slot[tab_at(t, home, o)]) != 0 && dib_of(s, v) == o; o++) {
		size_t i = idx_of(s, v);

		if (s->e_exact[i] != k->exact || s->e_scope[i] != scope)
			continue;
		if (s->e_job[i] != job)
			return 1;
		if (s->e_sim[i] == k->sim)
			*own = 1;
	}
	if (k->sim == 0 || d < 0)
		return 0;
	for (int b = 0; b < NBANDS; b++) {
		uint32_t want = band_of(k->sim, b);

		t = &s->band[b];
		home = hm->band[b];
		for (o = group_start(s, t, home);
		     (v = t->slot[tab_at(t, home, o)]) != 0 &&
		     dib_of(s, v) == o;
		     o++) {
			size_t i = idx_of(s, v);
			uint64_t x = s->e_sim[i];

			if (popcount64(x ^ k->sim) > d ||
			    band_of(x, b) != want || s->e_scope[i] != scope ||
			    s->e_job[i] == job)
				continue;
			return 1;
		}
	}
	return 0;
}

/* 1 when k duplicates an entry of another job in scope_id; no insert. */
int
scope_lookup_key(const struct scope *s, uint64_t scope_id, uint64_t job_hash,
    const struct scope_key *k, double near_threshold)
{
	struct homes hm;
	int own;

	homes_find(s, scope_id, k->exact, k->sim, &hm);
	return lookup(s, scope_id, job_hash, k,
	    scope_near_distance(near_threshold), &hm, &own);
}

/* The oldest entry, as it is kept. */
static void
entry_oldest(const struct scope *s, struct scope_entry *e)
{
	size_t i = s->head;

	e->scope = s->e_scope[i];
	e->exact = s->e_exact[i];
	e->sim = s->e_sim[i];
	e->job = s->e_job[i];
}

/* Look up, then insert when new, saying what changed in ch (see
 * scope.h). Returns 1 or 0. */
int
scope_check_insert_change(struct scope *s, uint64_t scope_id, uint64_t job_hash,
    const struct scope_key *k, double near_threshold, struct scope_change *ch)
{
	struct homes hm, old;
	int own;

	memset(ch, 0, sizeof(*ch));
	if (near_threshold != s->last_t) {
		s->last_t = near_threshold;
		s->last_d = scope_near_distance(near_threshold);
	}
	/* The eviction's cache misses overlap the lookup's. */
	if (s->count == s->cap)
		homes_oldest(s, &old);
	homes_find(s, scope_id, k->exact, k->sim, &hm);
	if (lookup(s, scope_id, job_hash, k, s->last_d, &hm, &own))
		return 1;
	if (own)
		return 0;
	if (s->count == s->cap) {
		ch->evicted = 1;
		entry_oldest(s, &ch->old);
	}
	insert_entry(s, scope_id, k->exact, k->sim, job_hash, &hm, &old);
	ch->inserted = 1;
	ch->num = s->first + s->count - 1;
	return 0;
}

/* Look up, then insert when new (see scope.h). Returns 1 or 0. */
int
scope_check_insert_key(struct scope *s, uint64_t scope_id, uint64_t job_hash,
    const struct scope_key *k, double near_threshold)
{
	struct scope_change ch;

	return scope_check_insert_change(
	    s, scope_id, job_hash, k, near_threshold, &ch);
}

/* Add one check's changes to a job's journal (see scope.h). */
void
scope_journal_add(struct scope_journal *jr, const struct scope_change *ch)
{
	if (ch->inserted) {
		if (jr->nadded == 0)
			jr->first = ch->num;
		jr->nadded++;
	}
	if (!ch->evicted)
		return;
	if (jr->nevicted == jr->evicted_cap) {
		jr->evicted_cap = jr->evicted_cap ? 2 * jr->evicted_cap : 8;
		jr->evicted = xreallocarray(
		    jr->evicted, jr->evicted_cap, sizeof(*jr->evicted));
	}
	jr->evicted[jr->nevicted++] = ch->old;
}

/* Free what a journal holds and empty it; NULL is fine. */
void
scope_journal_free(struct scope_journal *jr)
{
	if (jr == NULL)
		return;
	free(jr->evicted);
	memset(jr, 0, sizeof(*jr));
}

/* scope_check_insert_key() for a text (see scope.h). */
int
scope_check_insert(struct scope *s, uint64_t scope_id, uint64_t job_hash,
    const char *text, size_t len, const struct tokens *tok,
    double near_threshold)
{
	struct scope_key k;

	scope_key_make(&k, text, len, tok);
	return scope_check_insert_key(
	    s, scope_id, job_hash, &k, near_threshold);
}

/* The insertion number of the oldest entry (see scope.h). */
uint64_t
scope_first(const struct scope *s)
{
	return s->first;
}

/* Copy entries from insertion number `from` on (see scope.h). */
size_t
scope_entries(
    const struct scope *s, uint64_t from, struct scope_entry *out, size_t max)
{
	uint64_t end = s->first + s->count;
	size_t n, i;

	if (from < s->first)
		from = s->first;
	if (from >= end)
		return 0;
	n = end - from < max ? (size_t)(end - from) : max;
	/* Entries [first, first + count) are at head onwards. */
	i = s->head + (size_t)(from - s->first);
	if (i >= s->cap)
		i -= s->cap;
	for (size_t j = 0; j < n; j++) {
		out[j].scope = s->e_scope[i];
		out[j].exact = s->e_exact[i];
		out[j].sim = s->e_sim[i];
		out[j].job = s->e_job[i];
		if (++i == s->cap)
			i = 0;
	}
	return n;
}

/* Whether an entry identical to e is held: it would be in e's home
 * group of the exact table. */
static int
held(const struct scope *s, const struct scope_entry *e, uint32_t home)
{
	const struct table *t = &s->exact;
	uint32_t o, v;

	for (o = group_start(s, t, home);
	     (v = t->slot[tab_at(t, home, o)]) != 0 && dib_of(s, v) == o; o++) {
		size_t i = idx_of(s, v);

		if (s->e_exact[i] == e->exact && s->e_scope[i] == e->scope &&
		    s->e_job[i] == e->job && s->e_sim[i] == e->sim)
			return 1;
	}
	return 0;
}

/* Insert a saved entry as it is, unless held (see scope.h). */
int
scope_restore(struct scope *s, const struct scope_entry *e)
{
	struct homes hm, old;

	homes_find(s, e->scope, e->exact, e->sim, &hm);
	if (held(s, e, hm.exact))
		return 0;
	if (s->count == s->cap)
		homes_oldest(s, &old);
	insert_entry(s, e->scope, e->exact, e->sim, e->job, &hm, &old);
	return 1;
}
