/*
 * check_scope: the cross-job duplicate index and its state file.
 * Exact and near matching, the own-job rule of redeliveries, eviction
 * order (oldest first), and the state file: round trips (also with the
 * index changing between save slices), and every kind of damage a file
 * can come back with, each of which must be reported and ignored.
 */
#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dedup.h"
#include "scope.h"
#include "scope_file.h"
#include "scopelog.h"
#include "tokens.h"
#include "xmalloc.h"

#define T 0.8 /* near_threshold used unless a test says otherwise */

static char tmpdir[64];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_scope.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static char *
path_in_tmp(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

/* A key with the given exact hash and SimHash, built by hand. */
static struct scope_key
key(uint64_t exact, uint64_t sim)
{
	struct scope_key k = {exact, sim};

	return k;
}

/* A pseudo-random 64-bit value (splitmix64), never 0. */
static uint64_t
rnd(uint64_t *st)
{
	uint64_t z = (*st += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	z ^= z >> 31;
	return z == 0 ? 1 : z;
}

static int
check_text(struct scope *s, uint64_t sc, uint64_t job, const char *text)
{
	return scope_check_insert(s, sc, job, text, strlen(text), NULL, T);
}

/* ---- construction and hashes ---- */

START_TEST(test_new_bounds)
{
	struct scope *s;

	ck_assert_ptr_null(scope_new(0));
	ck_assert_ptr_null(scope_new(SCOPE_CAPACITY_MAX + 1));
	s = scope_new(10);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(scope_capacity(s), 10);
	ck_assert_uint_eq(scope_count(s), 0);
	scope_free(s);
	scope_free(NULL);
}
END_TEST

START_TEST(test_hashes_stable)
{
	/* Stored in state files: these values must never change. The
	 * reference is FNV-1a 64 of "" (0xcbf29ce484222325) through the
	 * splitmix64 finaliser, computed separately. */
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	h = (h ^ (h >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	h = (h ^ (h >> 27)) * UINT64_C(0x94d049bb133111eb);
	h ^= h >> 31;
	ck_assert_uint_eq(scope_id_hash("", 0), h);
	ck_assert_uint_eq(scope_job_hash("", 0), h);
	ck_assert_uint_ne(scope_id_hash("a", 1), scope_id_hash("b", 1));
	ck_assert_uint_eq(
	    scope_id_hash("poems", 5), scope_job_hash("poems", 5));
}
END_TEST

START_TEST(test_simhash)
{
	struct tokens a, b, e;

	tokens_init(&a);
	tokens_init(&b);
	tokens_init(&e);
	tokens_split(&a, "the cat sat on the mat", 22);
	tokens_split(&b, "Mat! on sat CAT the", 19);
	tokens_split(&e, "...  !!", 7);
	/* A token set: order, case, repeats and punctuation do not count. */
	ck_assert_uint_eq(scope_simhash(&a), scope_simhash(&b));
	ck_assert_uint_ne(scope_simhash(&a), 0);
	ck_assert_uint_eq(scope_simhash(&e), 0);
	tokens_free(&a);
	tokens_free(&b);
	tokens_free(&e);
}
END_TEST

START_TEST(test_near_distance)
{
	ck_assert_int_eq(scope_near_distance(1.0), 0);
	ck_assert_int_eq(scope_near_distance(0.9), 4);
	ck_assert_int_eq(scope_near_distance(0.8), 6);
	ck_assert_int_eq(scope_near_distance(0.7), 9);
	/* Capped, however low the threshold. */
	ck_assert_int_eq(scope_near_distance(0.1), SCOPE_NEAR_MAX);
	ck_assert_int_eq(scope_near_distance(0.0), SCOPE_NEAR_MAX);
	ck_assert_int_eq(scope_near_distance(-1.0), SCOPE_NEAR_MAX);
	ck_assert_int_eq(scope_near_distance(1.0001), -1);
	ck_assert_int_eq(scope_near_distance(NAN), -1);
	/* Monotone: a stricter threshold never allows more bits. */
	for (double t = 0.0; t < 1.0; t += 0.01)
		ck_assert_int_ge(
		    scope_near_distance(t), scope_near_distance(t + 0.01));
}
END_TEST

/* ---- matching ---- */

START_TEST(test_exact_across_jobs)
{
	struct scope *s = scope_new(100);
	uint64_t sc = scope_id_hash("jokes", 5);

	ck_assert_int_eq(check_text(s, sc, 1, "Why did the coffee file?"), 0);
	ck_assert_uint_eq(scope_count(s), 1);
	/* Normalised equal: case, punctuation and whitespace. */
	ck_assert_int_eq(check_text(s, sc, 2, "why  did the COFFEE file"), 1);
	/* A duplicate is not inserted. */
	ck_assert_uint_eq(scope_count(s), 1);
	ck_assert_int_eq(check_text(s, sc, 3, "A different joke."), 0);
	ck_assert_uint_eq(scope_count(s), 2);
	scope_free(s);
}
END_TEST

START_TEST(test_scopes_apart)
{
	struct scope *s = scope_new(100);
	uint64_t a = scope_id_hash("a", 1), b = scope_id_hash("b", 1);

	ck_assert_int_eq(check_text(s, a, 1, "same text here"), 0);
	ck_assert_int_eq(check_text(s, b, 2, "same text here"), 0);
	ck_assert_int_eq(check_text(s, a, 3, "same text here"), 1);
	ck_assert_int_eq(check_text(s, b, 3, "same text here"), 1);
	ck_assert_uint_eq(scope_count(s), 2);
	scope_free(s);
}
END_TEST

START_TEST(test_own_job_redelivery)
{
	struct scope *s = scope_new(100);
	uint64_t sc = 77, job = scope_job_hash("j1", 2);

	ck_assert_int_eq(check_text(s, sc, job, "first run candidate"), 0);
	/* The same job again (redelivered): not a duplicate, and not
	 * inserted a second time. */
	ck_assert_int_eq(check_text(s, sc, job, "first run candidate"), 0);
	ck_assert_int_eq(check_text(s, sc, job, "First run, candidate!"), 0);
	ck_assert_uint_eq(scope_count(s), 1);
	/* Another job still matches it. */
	ck_assert_int_eq(check_text(s, sc, job + 1, "first run candidate"), 1);
	scope_free(s);
}
END_TEST

START_TEST(test_near_bits)
{
	struct scope *s = scope_new(100);
	uint64_t sim = UINT64_C(0x0123456789abcdef);
	/* 6 bits flipped, spread over bands 0..2; band 3 still agrees. */
	uint64_t six = sim ^ UINT64_C(0x0000000300030003);
	/* 7 bits: one over the distance for 0.8. */
	uint64_t seven = six ^ UINT64_C(0x0000000000000100);
	/* Every band differs: cannot be found through any band. */
	uint64_t allbands = sim ^ UINT64_C(0x0001000100010001);
	struct scope_key k;

	ck_assert_int_eq(__builtin_popcountll(sim ^ six), 6);
	ck_assert_int_eq(__builtin_popcountll(sim ^ seven), 7);
	k = key(1, sim);
	ck_assert_int_eq(scope_check_insert_key(s, 5, 1, &k, T), 0);
	k = key(2, six);
	ck_assert_int_eq(scope_lookup_key(s, 5, 2, &k, T), 1);
	/* At 0.9 the distance is 4: six bits are too many. */
	ck_assert_int_eq(scope_lookup_key(s, 5, 2, &k, 0.9), 0);
	/* Near matching off above 1. */
	ck_assert_int_eq(scope_lookup_key(s, 5, 2, &k, 1.5), 0);
	k = key(3, seven);
	ck_assert_int_eq(scope_lookup_key(s, 5, 2, &k, T), 0);
	k = key(4, allbands);
	ck_assert_int_eq(__builtin_popcountll(sim ^ allbands), 4);
	ck_assert_int_eq(scope_lookup_key(s, 5, 2, &k, T), 0);
	/* Another scope never matches. */
	k = key(2, six);
	ck_assert_int_eq(scope_lookup_key(s, 6, 2, &k, T), 0);
	/* The same job never matches itself, near or exact. */
	ck_assert_int_eq(scope_lookup_key(s, 5, 1, &k, T), 0);
	k = key(1, sim);
	ck_assert_int_eq(scope_lookup_key(s, 5, 1, &k, T), 0);
	scope_free(s);
}
END_TEST

START_TEST(test_no_tokens_exact_only)
{
	struct scope *s = scope_new(100);
	struct scope_key k;

	/* sim 0 means no tokens: in no band table, never near. */
	k = key(10, 0);
	ck_assert_int_eq(scope_check_insert_key(s, 1, 1, &k, 0.0), 0);
	k = key(11, 0);
	ck_assert_int_eq(scope_check_insert_key(s, 1, 2, &k, 0.0), 0);
	k = key(10, 0);
	ck_assert_int_eq(scope_check_insert_key(s, 1, 3, &k, 0.0), 1);
	/* Punctuation only: exact match of the normalised form. */
	ck_assert_int_eq(check_text(s, 2, 1, "!!!"), 0);
	ck_assert_int_eq(check_text(s, 2, 2, "!!!"), 1);
	scope_free(s);
}
END_TEST

START_TEST(test_near_texts)
{
	struct scope *s = scope_new(1000);
	struct scope_key ka, kb;
	struct buf b;
	char *base, *copy;

	/* 100 distinct words, and the same with one more: Jaccard 100/101.
	 * Their SimHashes are within 3 bits, so a band must find them. */
	buf_init(&b);
	for (int i = 0; i < 100; i++)
		buf_printf(&b, "word%d ", i);
	base = buf_release(&b, NULL);
	copy = xasprintf("%s extra", base);
	scope_key_make(&ka, base, strlen(base), NULL);
	scope_key_make(&kb, copy, strlen(copy), NULL);
	ck_assert_int_le(__builtin_popcountll(ka.sim ^ kb.sim), 3);
	ck_assert_int_eq(check_text(s, 9, 1, base), 0);
	ck_assert_int_eq(check_text(s, 9, 2, copy), 1);
	ck_assert_int_eq(
	    check_text(s, 9, 3, "an entirely unrelated sentence about tax"), 0);
	free(base);
	free(copy);
	scope_free(s);
}
END_TEST

/* ---- eviction ---- */

START_TEST(test_eviction_order)
{
	struct scope *s = scope_new(3);
	struct scope_key k;

	for (uint64_t i = 1; i <= 4; i++) {
		k = key(i, 0);
		ck_assert_int_eq(scope_check_insert_key(s, 1, i, &k, T), 0);
	}
	ck_assert_uint_eq(scope_count(s), 3);
	/* 1 was oldest and went; 2, 3, 4 stay. */
	k = key(1, 0);
	ck_assert_int_eq(scope_lookup_key(s, 1, 99, &k, T), 0);
	for (uint64_t i = 2; i <= 4; i++) {
		k = key(i, 0);
		ck_assert_int_eq(scope_lookup_key(s, 1, 99, &k, T), 1);
	}
	/* A hit does not refresh: the next insert evicts 2. */
	k = key(5, 0);
	ck_assert_int_eq(scope_check_insert_key(s, 1, 5, &k, T), 0);
	k = key(2, 0);
	ck_assert_int_eq(scope_lookup_key(s, 1, 99, &k, T), 0);
	k = key(3, 0);
	ck_assert_int_eq(scope_lookup_key(s, 1, 99, &k, T), 1);
	scope_clear(s);
	ck_assert_uint_eq(scope_count(s), 0);
	ck_assert_int_eq(scope_lookup_key(s, 1, 99, &k, T), 0);
	scope_free(s);
}
END_TEST

START_TEST(test_eviction_many)
{
	enum { CAP = 1000, N = 7000 };
	struct scope *s = scope_new(CAP);
	uint64_t *ex = xreallocarray(NULL, N, sizeof(*ex));
	uint64_t *sim = xreallocarray(NULL, N, sizeof(*sim));
	uint64_t st = 3;
	struct scope_key k;

	/* Random keys in one scope, so the tables shift and wrap a lot. */
	for (size_t i = 0; i < N; i++) {
		ex[i] = rnd(&st);
		sim[i] = rnd(&st);
		k = key(ex[i], sim[i]);
		ck_assert_int_eq(
		    scope_check_insert_key(s, 1, i + 1, &k, 1.5), 0);
	}
	ck_assert_uint_eq(scope_count(s), CAP);
	for (size_t i = 0; i < N; i++) {
		k = key(ex[i], 0);
		ck_assert_int_eq(
		    scope_lookup_key(s, 1, 0, &k, 1.5), i >= N - CAP);
		/* Near lookup of the SimHash alone (another exact hash). */
		k = key(~ex[i], sim[i]);
		if (i >= N - CAP)
			ck_assert_int_eq(scope_lookup_key(s, 1, 0, &k, T), 1);
	}
	free(ex);
	free(sim);
	scope_free(s);
}
END_TEST

/* ---- state file ---- */

/* Fill s with n entries of scope 1, job i + 1, from seed st. */
static void
fill(struct scope *s, size_t n, uint64_t st)
{
	for (size_t i = 0; i < n; i++) {
		struct scope_key k;

		k.exact = rnd(&st); /* in this order: see nth_exact() */
		k.sim = rnd(&st);

		ck_assert_int_eq(
		    scope_check_insert_key(s, 1, i + 1, &k, 1.5), 0);
	}
}

/* The exact hash of entry i of fill(.., st). */
static uint64_t
nth_exact(uint64_t st, size_t i)
{
	for (size_t j = 0; j < i; j++) {
		(void)rnd(&st);
		(void)rnd(&st);
	}
	return rnd(&st);
}

/* 1 when every entry made by fill(.., n, st) from index `from` on is in
 * s, and none before it. */
static int
holds(const struct scope *s, size_t n, uint64_t st, size_t from)
{
	for (size_t i = 0; i < n; i++) {
		struct scope_key k = key(rnd(&st), 0);

		(void)rnd(&st);
		if (scope_lookup_key(s, 1, 0, &k, 1.5) != (i >= from))
			return 0;
	}
	return 1;
}

/* Save s to path in slices of `slice`; returns the last step's result. */
static int
save(const struct scope *s, const char *path, size_t slice)
{
	char err[256];
	struct scope_file_saver *sv =
	    scope_file_save_begin(s, path, err, sizeof(err));
	int r;

	ck_assert_msg(sv != NULL, "save_begin: %s", err);
	while ((r = scope_file_save_step(sv, slice, err, sizeof(err))) == 1)
		;
	ck_assert_msg(r == 0, "save_step: %s", err);
	scope_file_save_free(sv);
	return r;
}

START_TEST(test_state_round_trip)
{
	struct scope *s = scope_new(500), *t = scope_new(500);
	char *path = path_in_tmp("dedup.state"), err[256];
	char *tmp = xasprintf("%s.tmp", path);
	struct scope_key k;
	struct stat st;

	fill(s, 1200, 11); /* wraps the ring: the last 500 are held */
	save(s, path, 7);
	ck_assert_int_eq(stat(tmp, &st), -1); /* renamed into place */
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 24 + 500 * 32 + 24);
	ck_assert_int_eq(scope_file_load(t, path, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(scope_count(t), 500);
	ck_assert(holds(t, 1200, 11, 700));
	/* Loading keeps insertion order: the next insert evicts the oldest
	 * loaded entry (number 700) and nothing else. */
	k = key(12345, 0);
	ck_assert_int_eq(scope_check_insert_key(t, 1, 0, &k, 1.5), 0);
	k = key(nth_exact(11, 700), 0);
	ck_assert_int_eq(scope_lookup_key(t, 1, 0, &k, 1.5), 0);
	k = key(nth_exact(11, 701), 0);
	ck_assert_int_eq(scope_lookup_key(t, 1, 0, &k, 1.5), 1);
	/* The job hashes came back: an entry is still its own job's. */
	k = key(nth_exact(11, 1199), 0);
	ck_assert_int_eq(scope_lookup_key(t, 1, 1200, &k, 1.5), 0);
	ck_assert_int_eq(scope_lookup_key(t, 1, 1, &k, 1.5), 1);
	free(tmp);
	free(path);
	scope_free(s);
	scope_free(t);
}
END_TEST

START_TEST(test_state_smaller_capacity)
{
	struct scope *s = scope_new(300), *t = scope_new(100);
	char *path = path_in_tmp("small.state"), err[256];

	fill(s, 300, 5);
	save(s, path, 1000);
	/* More entries than the capacity: the newest are kept. */
	ck_assert_int_eq(scope_file_load(t, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(scope_count(t), 100);
	ck_assert(holds(t, 300, 5, 200));
	free(path);
	scope_free(s);
	scope_free(t);
}
END_TEST

START_TEST(test_state_changes_between_slices)
{
	struct scope *s = scope_new(100), *t = scope_new(100);
	char *path = path_in_tmp("moving.state"), err[256];
	struct scope_file_saver *sv;
	uint64_t st = 21;
	int r, steps = 0;

	fill(s, 100, 21);
	sv = scope_file_save_begin(s, path, err, sizeof(err));
	ck_assert_ptr_nonnull(sv);
	ck_assert_int_eq(scope_file_save_step(sv, 10, err, sizeof(err)), 1);
	/* 30 new entries evict 30 old ones: 10 already written, 20 not. */
	for (size_t i = 0; i < 30; i++) {
		struct scope_key k = key(rnd(&st) ^ 0xabc, 0);

		ck_assert_int_eq(
		    scope_check_insert_key(s, 1, 1000 + i, &k, 1.5), 0);
	}
	while ((r = scope_file_save_step(sv, 10, err, sizeof(err))) == 1)
		steps++;
	ck_assert_msg(r == 0, "%s", err);
	/* 10 written before, then the 70 that were neither evicted nor
	 * inserted after begin. */
	ck_assert_uint_eq(scope_file_save_written(sv), 80);
	scope_file_save_free(sv);
	ck_assert_int_eq(scope_file_load(t, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(scope_count(t), 80);
	free(path);
	scope_free(s);
	scope_free(t);
}
END_TEST

START_TEST(test_state_abandoned_save)
{
	struct scope *s = scope_new(50), *t = scope_new(50);
	char *path = path_in_tmp("keep.state"), err[256];
	char *tmp = xasprintf("%s.tmp", path);
	struct scope_file_saver *sv;
	struct stat st;

	fill(s, 20, 1);
	save(s, path, 5);
	fill(s, 50, 2);
	sv = scope_file_save_begin(s, path, err, sizeof(err));
	ck_assert_int_eq(scope_file_save_step(sv, 5, err, sizeof(err)), 1);
	ck_assert_int_eq(stat(tmp, &st), 0);
	scope_file_save_free(sv); /* abandoned: the old file stays */
	ck_assert_int_eq(stat(tmp, &st), -1);
	ck_assert_int_eq(scope_file_load(t, path, err, sizeof(err)), 0);
	ck_assert_uint_eq(scope_count(t), 20);
	free(tmp);
	free(path);
	scope_free(s);
	scope_free(t);
}
END_TEST

START_TEST(test_state_missing_and_unwritable)
{
	struct scope *s = scope_new(10);
	char *path = path_in_tmp("none.state"), err[256];
	char *bad = path_in_tmp("no/such/dir/x.state");

	fill(s, 5, 1);
	/* No file yet: an empty index, no error. */
	ck_assert_int_eq(scope_file_load(s, path, err, sizeof(err)), 0);
	ck_assert_str_eq(err, "");
	ck_assert_uint_eq(scope_count(s), 0);
	ck_assert_ptr_null(scope_file_save_begin(s, bad, err, sizeof(err)));
	ck_assert_msg(strstr(err, "x.state.tmp") != NULL, "%s", err);
	/* A directory is not a state file. */
	ck_assert_int_eq(scope_file_load(s, tmpdir, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
	free(path);
	free(bad);
	scope_free(s);
}
END_TEST

static unsigned char *
read_file(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p;
	long n;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = xmalloc((size_t)n + 1);
	ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*lenp = (size_t)n;
	return p;
}

static void
write_file(const char *path, const unsigned char *p, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, len, f), len);
	fclose(f);
}

/* Damage a good file in one way; loading must fail naming why and leave
 * the index empty. */
static void
damaged(
    const char *how, size_t off, int newbyte, size_t newlen, const char *want)
{
	struct scope *s = scope_new(100), *t = scope_new(100);
	char *path = path_in_tmp("damaged.state"), err[256];
	unsigned char *p;
	size_t len;

	fill(s, 40, 8);
	save(s, path, 100);
	p = read_file(path, &len);
	ck_assert_uint_eq(len, 24 + 40 * 32 + 24);
	if (newbyte >= 0)
		p[off] = (unsigned char)newbyte;
	if (newlen != (size_t)-1)
		len = newlen;
	write_file(path, p, len);
	fill(t, 10, 9);
	ck_assert_msg(scope_file_load(t, path, err, sizeof(err)) == -1,
	    "%s: loaded", how);
	ck_assert_msg(strstr(err, want) != NULL,
	    "%s: error \"%s\", want \"%s\"", how, err, want);
	ck_assert_msg(
	    strstr(err, path) != NULL, "%s: no path in \"%s\"", how, err);
	ck_assert_uint_eq(scope_count(t), 0);
	free(p);
	free(path);
	scope_free(s);
	scope_free(t);
}

START_TEST(test_state_corrupt)
{
	const size_t whole = 24 + 40 * 32 + 24;

	damaged("empty", 0, -1, 0, "truncated header");
	damaged("half header", 0, -1, 10, "truncated header");
	damaged("magic", 0, 'X', (size_t)-1, "bad magic");
	damaged("version", 8, 9, (size_t)-1, "unsupported version 9");
	damaged("entry size", 12, 16, (size_t)-1, "unsupported entry size");
	damaged("header only", 0, -1, 24, "truncated");
	damaged("one byte short", 0, -1, whole - 1, "truncated");
	damaged("one entry short", 0, -1, whole - 32, "trailer");
	damaged("entry byte", 24 + 5 * 32 + 3, 0x5a, (size_t)-1,
	    "checksum mismatch");
	damaged("reserved byte", 20, 1, (size_t)-1, "checksum mismatch");
	damaged("count", whole - 24, 41, (size_t)-1, "trailer counts 41");
	damaged("checksum", whole - 12, 0xee, (size_t)-1, "checksum mismatch");
	damaged("tail magic", whole - 1, 'Z', (size_t)-1, "trailer");
}
END_TEST

START_TEST(test_state_garbage)
{
	struct scope *t = scope_new(100);
	char *path = path_in_tmp("garbage.state"), err[256];
	unsigned char junk[4096];
	uint64_t st = 99;

	/* Random bytes of many lengths: always a clean error. */
	for (size_t n = 0; n < sizeof(junk); n = n * 2 + 1) {
		for (size_t i = 0; i < n; i++)
			junk[i] = (unsigned char)rnd(&st);
		if (n >= 8)
			memcpy(junk, "VSSCOPE", 8); /* get past the magic */
		write_file(path, junk, n);
		ck_assert_int_eq(
		    scope_file_load(t, path, err, sizeof(err)), -1);
		ck_assert(err[0] != '\0');
		ck_assert_uint_eq(scope_count(t), 0);
	}
	free(path);
	scope_free(t);
}
END_TEST

/* What a check-and-insert reports: the insertion number, and the entry
 * evicted to make room; a job's journal gathers them. */
START_TEST(test_change_journal)
{
	struct scope *s = scope_new(3);
	struct scope_journal jr;
	struct scope_change ch;
	struct scope_key k;

	memset(&jr, 0, sizeof(jr));
	for (uint64_t i = 0; i < 5; i++) {
		k = key(100 + i, 0);
		ck_assert_int_eq(
		    scope_check_insert_change(s, 1, 9, &k, 1.5, &ch), 0);
		ck_assert(ch.inserted);
		ck_assert_uint_eq(ch.num, i);
		ck_assert_int_eq(ch.evicted, i >= 3);
		if (ch.evicted)
			ck_assert_uint_eq(ch.old.exact, 100 + i - 3);
		scope_journal_add(&jr, &ch);
	}
	ck_assert_uint_eq(jr.first, 0);
	ck_assert_uint_eq(jr.nadded, 5);
	ck_assert_uint_eq(jr.nevicted, 2);
	/* A duplicate of another job inserts and evicts nothing. */
	k = key(104, 0);
	ck_assert_int_eq(scope_check_insert_change(s, 1, 8, &k, 1.5, &ch), 1);
	ck_assert(!ch.inserted && !ch.evicted);
	/* Nor does the same job's identical entry (a redelivery). */
	ck_assert_int_eq(scope_check_insert_change(s, 1, 9, &k, 1.5, &ch), 0);
	ck_assert(!ch.inserted && !ch.evicted);
	scope_journal_free(&jr);
	scope_journal_free(NULL);
	scope_free(s);
}
END_TEST

/* Restoring an entry held already (a log replayed twice) is a no-op. */
START_TEST(test_restore_idempotent)
{
	struct scope *s = scope_new(10);
	struct scope_entry e = {1, 2, 3, 4}, f = {1, 2, 3, 5};

	ck_assert_int_eq(scope_restore(s, &e), 1);
	ck_assert_int_eq(scope_restore(s, &e), 0);
	ck_assert_int_eq(scope_restore(s, &f), 1); /* another job's */
	ck_assert_uint_eq(scope_count(s), 2);
	scope_free(s);
}
END_TEST

/* The changelog's records: round trip, tombstones, and what is not
 * ours. */
START_TEST(test_scopelog)
{
	struct scope_entry e = {UINT64_C(0x0102030405060708), 42,
			       UINT64_C(0xffffffffffffffff), 7},
			   g;
	unsigned char k[SCOPELOG_KEY_LEN], v[SCOPELOG_VALUE_LEN];
	char err[128];

	scopelog_key(&e, k);
	scopelog_value(&e, v);
	ck_assert_int_eq(k[0], 0x08); /* little-endian */
	ck_assert_int_eq(v[0], SCOPELOG_VERSION);
	ck_assert_int_eq(
	    scopelog_decode(k, sizeof(k), v, sizeof(v), &g, err, sizeof(err)),
	    1);
	ck_assert(memcmp(&e, &g, sizeof(e)) == 0);
	ck_assert_int_eq(
	    scopelog_decode(k, sizeof(k), NULL, 0, &g, err, sizeof(err)), 0);
	ck_assert_uint_eq(g.scope, e.scope);
	ck_assert_uint_eq(g.exact, 42);
	ck_assert_int_eq(
	    scopelog_decode(k, 15, v, sizeof(v), &g, err, sizeof(err)), -1);
	ck_assert(strstr(err, "key of 15 bytes") != NULL);
	ck_assert_int_eq(
	    scopelog_decode(NULL, 0, v, sizeof(v), &g, err, sizeof(err)), -1);
	ck_assert_int_eq(
	    scopelog_decode(k, sizeof(k), v, 23, &g, err, sizeof(err)), -1);
	v[0] = 2;
	ck_assert_int_eq(
	    scopelog_decode(k, sizeof(k), v, sizeof(v), &g, err, sizeof(err)),
	    -1);
	ck_assert(strstr(err, "version 2") != NULL);
}
END_TEST

/* Version 2: sections per partition, skip ranges, the topic, and the
 * errors a reader must see. */
START_TEST(test_state_parts)
{
	struct scope *a = scope_new(100), *b = scope_new(100), *one;
	char *path = path_in_tmp("parts.state"), err[256], *topic;
	uint64_t skip[] = {2, 4, 7, 8};
	struct scope_file_section secs[2] = {
	    {5, 1234, a, skip, 2}, {0, -1001, b, NULL, 0}};
	struct scope_file_part *parts;
	struct scope_file_saver *sv;
	size_t n;
	int r;
	FILE *f;

	for (uint64_t i = 0; i < 10; i++) {
		struct scope_entry e = {1, 100 + i, 0, 9};

		scope_restore(a, &e);
		e.exact = 500 + i;
		if (i < 3)
			scope_restore(b, &e);
	}
	sv = scope_file_save_begin_parts(
	    path, "vs.scope", secs, 2, err, sizeof(err));
	ck_assert_msg(sv != NULL, "%s", err);
	while ((r = scope_file_save_step(sv, 3, err, sizeof(err))) == 1)
		;
	ck_assert_msg(r == 0, "%s", err);
	ck_assert_uint_eq(scope_file_save_written(sv), 7 + 3);
	scope_file_save_free(sv);
	ck_assert_int_eq(scope_file_load_parts(
			     path, 100, &topic, &parts, &n, err, sizeof(err)),
	    0);
	ck_assert_str_eq(topic, "vs.scope");
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(parts[0].partition, 5);
	ck_assert_int_eq(parts[0].offset, 1234);
	ck_assert_uint_eq(scope_count(parts[0].s), 7); /* 2, 3 and 7 skipped */
	ck_assert_int_eq(parts[1].partition, 0);
	ck_assert_uint_eq(scope_count(parts[1].s), 3);
	scope_file_parts_free(parts, n);
	free(topic);
	/* A flipped byte, then a truncation. */
	f = fopen(path, "r+b");
	fseek(f, 60, SEEK_SET);
	fputc(0x5a, f);
	fclose(f);
	ck_assert_int_eq(scope_file_load_parts(
			     path, 100, &topic, &parts, &n, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "checksum") != NULL, "%s", err);
	ck_assert_int_eq(truncate(path, 50), 0);
	ck_assert_int_eq(scope_file_load_parts(
			     path, 100, &topic, &parts, &n, err, sizeof(err)),
	    -1);
	ck_assert(parts == NULL && n == 0);
	/* A version-1 file is stale for the changelog. */
	one = scope_new(10);
	fill(one, 5, 3);
	save(one, path, 2);
	ck_assert_int_eq(scope_file_load_parts(
			     path, 100, &topic, &parts, &n, err, sizeof(err)),
	    -1);
	ck_assert_msg(strstr(err, "without a changelog") != NULL, "%s", err);
	/* Missing: nothing, and no error. */
	unlink(path);
	ck_assert_int_eq(scope_file_load_parts(
			     path, 100, &topic, &parts, &n, err, sizeof(err)),
	    0);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(err, "");
	scope_free(one);
	scope_free(a);
	scope_free(b);
	free(path);
}
END_TEST

static Suite *
scope_suite(void)
{
	Suite *s = suite_create("scope");
	TCase *tc = tcase_create("index");
	TCase *tf = tcase_create("state");

	tcase_add_test(tc, test_new_bounds);
	tcase_add_test(tc, test_hashes_stable);
	tcase_add_test(tc, test_simhash);
	tcase_add_test(tc, test_near_distance);
	tcase_add_test(tc, test_exact_across_jobs);
	tcase_add_test(tc, test_scopes_apart);
	tcase_add_test(tc, test_own_job_redelivery);
	tcase_add_test(tc, test_near_bits);
	tcase_add_test(tc, test_no_tokens_exact_only);
	tcase_add_test(tc, test_near_texts);
	tcase_add_test(tc, test_eviction_order);
	tcase_add_test(tc, test_eviction_many);
	tcase_add_test(tc, test_change_journal);
	tcase_add_test(tc, test_restore_idempotent);
	tcase_add_test(tc, test_scopelog);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_set_timeout(tf, 120);
	tcase_add_test(tf, test_state_round_trip);
	tcase_add_test(tf, test_state_smaller_capacity);
	tcase_add_test(tf, test_state_changes_between_slices);
	tcase_add_test(tf, test_state_abandoned_save);
	tcase_add_test(tf, test_state_missing_and_unwritable);
	tcase_add_test(tf, test_state_corrupt);
	tcase_add_test(tf, test_state_garbage);
	tcase_add_test(tf, test_state_parts);
	suite_add_tcase(s, tf);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(scope_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
