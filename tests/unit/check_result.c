/*
 * check_result: the result codecs. The msgpack encoding is read back with
 * msgpack-c key by key (order, types, values), checked byte for byte
 * against fixtures written by python3-msgpack (tests/data/result/README
 * says how), decoded from them, mutated into every kind of malformed
 * input, and fed random bytes. The JSON form is compared as exact text.
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "result.h"
#include "utf8.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

static const char *top_keys[18] = {"v", "id", "status", "error", "method",
    "backend", "model", "candidates", "selected", "dedup", "diversity", "usage",
    "attempts", "failed_calls", "latency_ms", "source", "provenance",
    "metadata"};

/* {"k": "v", "n": [1, -2]} */
static const char meta_small[] = "\x82\xa1k\xa1v\xa1n\x92\x01\xfe";

static char *
dup_bytes(const void *p, size_t len)
{
	char *s = malloc(len + 1);

	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* A result with every field set. */
static struct result *
make_full(void)
{
	struct result *r = result_new();

	r->id = strdup("job-1");
	r->method = strdup("vs_standard");
	r->backend = strdup("local");
	r->model = strdup("m1");
	r->ncands = 2;
	r->cands = calloc(2, sizeof(*r->cands));
	r->cands[0].text = strdup("first\nline two\n");
	r->cands[0].len = strlen(r->cands[0].text);
	r->cands[0].probability = 0.75;
	r->cands[0].verbalized = 0.5;
	r->cands[0].turn = 0;
	r->cands[0].finish_reason = strdup("length");
	r->cands[1].text = strdup("zweite — Ünïcödé 詩");
	r->cands[1].len = strlen(r->cands[1].text);
	r->cands[1].probability = 0.25;
	r->cands[1].verbalized = NAN;
	r->cands[1].turn = 1;
	r->selected = 0;
	r->has_dedup = 1;
	r->dedup_in_job = 3;
	r->dedup_in_scope = 1;
	r->has_diversity = 1;
	r->semantic = NAN;
	r->rouge_l = 0.125;
	r->distinct[0] = 0.5;
	r->distinct[1] = 0.75;
	r->distinct[2] = 1.0;
	r->vendi = 1.5;
	r->classes = 2;
	r->requests = 2;
	r->prompt_tokens = 100;
	r->completion_tokens = 250;
	r->cost = 0.00275;
	r->attempts = 3;
	r->failed_calls = 1;
	r->latency_ms = 4321;
	r->source_topic = strdup("vs.jobs");
	r->source_partition = 7;
	r->source_offset = 123456789012LL;
	r->metadata_len = sizeof(meta_small) - 1;
	r->metadata = dup_bytes(meta_small, r->metadata_len);
	r->prov.created = strdup("2026-12-08T01:02:03.456Z");
	r->prov.template_id = strdup("vs_standard:0123456789ab");
	r->prov.has_seed = 1;
	r->prov.seed = UINT64_MAX;
	r->prov.has_decoding = 1;
	r->prov.temperature = 0.7;
	r->prov.top_p = NAN;
	r->prov.max_tokens = 512;
	r->prov.structured = 1;
	return r;
}

static int
dbl_eq(double a, double b)
{
	return (isnan(a) && isnan(b)) || a == b;
}

static int
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	    (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Field-by-field equality, NaN equal to NaN. */
static void
assert_result_eq(const struct result *a, const struct result *b)
{
	ck_assert(str_eq(a->id, b->id));
	ck_assert_int_eq(a->code, b->code);
	ck_assert(str_eq(a->errmsg, b->errmsg));
	ck_assert(str_eq(a->method, b->method));
	ck_assert(str_eq(a->backend, b->backend));
	ck_assert(str_eq(a->model, b->model));
	ck_assert_uint_eq(a->ncands, b->ncands);
	for (size_t i = 0; i < a->ncands; i++) {
		ck_assert_uint_eq(a->cands[i].len, b->cands[i].len);
		ck_assert_mem_eq(
		    a->cands[i].text, b->cands[i].text, a->cands[i].len);
		ck_assert(
		    dbl_eq(a->cands[i].probability, b->cands[i].probability));
		ck_assert(
		    dbl_eq(a->cands[i].verbalized, b->cands[i].verbalized));
		ck_assert_int_eq(a->cands[i].turn, b->cands[i].turn);
		ck_assert(str_eq(
		    a->cands[i].finish_reason, b->cands[i].finish_reason));
	}
	ck_assert_int_eq(a->selected, b->selected);
	ck_assert_int_eq(a->has_dedup, b->has_dedup);
	ck_assert_uint_eq(a->dedup_in_job, b->dedup_in_job);
	ck_assert_uint_eq(a->dedup_in_scope, b->dedup_in_scope);
	ck_assert_int_eq(a->has_diversity, b->has_diversity);
	ck_assert(dbl_eq(a->semantic, b->semantic));
	ck_assert(dbl_eq(a->rouge_l, b->rouge_l));
	for (int i = 0; i < 3; i++)
		ck_assert(dbl_eq(a->distinct[i], b->distinct[i]));
	ck_assert(dbl_eq(a->vendi, b->vendi));
	ck_assert_int_eq(a->classes, b->classes);
	ck_assert_uint_eq(a->requests, b->requests);
	ck_assert_uint_eq(a->prompt_tokens, b->prompt_tokens);
	ck_assert_uint_eq(a->completion_tokens, b->completion_tokens);
	ck_assert(dbl_eq(a->cost, b->cost));
	ck_assert_uint_eq(a->attempts, b->attempts);
	ck_assert_uint_eq(a->failed_calls, b->failed_calls);
	ck_assert_uint_eq(a->latency_ms, b->latency_ms);
	ck_assert(str_eq(a->source_topic, b->source_topic));
	if (a->source_topic != NULL) {
		ck_assert_int_eq(a->source_partition, b->source_partition);
		ck_assert_int_eq(a->source_offset, b->source_offset);
	}
	ck_assert_uint_eq(a->metadata_len, b->metadata_len);
	ck_assert((a->metadata == NULL) == (b->metadata == NULL));
	if (a->metadata != NULL)
		ck_assert_mem_eq(a->metadata, b->metadata, a->metadata_len);
	ck_assert(str_eq(a->prov.created, b->prov.created));
	ck_assert(str_eq(a->prov.version, b->prov.version));
	ck_assert(str_eq(a->prov.template_id, b->prov.template_id));
	ck_assert_int_eq(a->prov.has_seed, b->prov.has_seed);
	if (a->prov.has_seed)
		ck_assert_uint_eq(a->prov.seed, b->prov.seed);
	ck_assert_int_eq(a->prov.has_decoding, b->prov.has_decoding);
	if (a->prov.has_decoding) {
		ck_assert(dbl_eq(a->prov.temperature, b->prov.temperature));
		ck_assert(dbl_eq(a->prov.top_p, b->prov.top_p));
		ck_assert_int_eq(a->prov.max_tokens, b->prov.max_tokens);
		ck_assert_int_eq(a->prov.structured, b->prov.structured);
	}
}

/* ---- reading msgpack back ---- */

static void
unpack(msgpack_unpacked *u, const char *buf, size_t len)
{
	size_t off = 0;

	msgpack_unpacked_init(u);
	ck_assert_int_eq(
	    msgpack_unpack_next(u, buf, len, &off), MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, len);
}

/* The value of the i-th entry of map, whose key must be key. */
static const msgpack_object *
kv(const msgpack_object *map, uint32_t i, const char *key)
{
	const msgpack_object *k;

	ck_assert_int_eq(map->type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_lt(i, map->via.map.size);
	k = &map->via.map.ptr[i].key;
	ck_assert_int_eq(k->type, MSGPACK_OBJECT_STR);
	ck_assert_uint_eq(k->via.str.size, strlen(key));
	ck_assert_mem_eq(k->via.str.ptr, key, strlen(key));
	return &map->via.map.ptr[i].val;
}

static void
is_map(const msgpack_object *o, uint32_t n)
{
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(o->via.map.size, n);
}

static void
is_nil(const msgpack_object *o)
{
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_NIL);
}

static void
is_strn(const msgpack_object *o, const char *s, size_t len)
{
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_STR);
	ck_assert_uint_eq(o->via.str.size, len);
	ck_assert_mem_eq(o->via.str.ptr, s, len);
}

static void
is_str(const msgpack_object *o, const char *s)
{
	is_strn(o, s, strlen(s));
}

static void
is_uint(const msgpack_object *o, uint64_t u)
{
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	ck_assert_uint_eq(o->via.u64, u);
}

static void
is_f64(const msgpack_object *o, double d)
{
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_FLOAT64);
	ck_assert(o->via.f64 == d);
}

/* diversity's keys added to schema version 1, as make_full() sets them. */
#define DIVERSITY_ADDED(o)                                   \
	do {                                                 \
		is_f64(kv(o, 5, "vendi"), 1.5);              \
		is_uint(kv(o, 6, "classes"), 2);             \
	} while (0)

/* The top-level map: 18 keys, in the contract's order. */
static const msgpack_object *
top_map(msgpack_unpacked *u)
{
	is_map(&u->data, 18);
	for (uint32_t i = 0; i < 18; i++)
		kv(&u->data, i, top_keys[i]);
	return &u->data;
}

static char *
read_file(const char *name, size_t *lenp)
{
	char path[512];
	FILE *f;
	char *buf = malloc(65536);

	snprintf(path, sizeof(path), "%s/tests/data/result/%s", SRCDIR, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	*lenp = fread(buf, 1, 65536, f);
	ck_assert(ferror(f) == 0 && *lenp < 65536);
	fclose(f);
	return buf;
}

/* ---- tests ---- */

START_TEST(test_err_codes)
{
	static const char *names[] = {"ok", "bad_job", "backend", "timeout",
	    "rate_limited", "parse", "too_large", "internal", "poison"};
	enum err_code c;

	ck_assert_int_eq(ERR_COUNT, 9);
	for (int i = 0; i < ERR_COUNT; i++) {
		ck_assert_str_eq(err_code_name((enum err_code)i), names[i]);
		ck_assert_int_eq(err_code_parse(names[i], &c), 0);
		ck_assert_int_eq(c, i);
	}
	ck_assert_ptr_null(err_code_name(ERR_COUNT));
	ck_assert_ptr_null(err_code_name((enum err_code) - 1));
	ck_assert_int_eq(err_code_parse("error", &c), -1);
	ck_assert_int_eq(err_code_parse("", &c), -1);
	ck_assert_int_eq(err_code_parse("BAD_JOB", &c), -1);
}
END_TEST

START_TEST(test_new)
{
	struct result *r = result_new();

	ck_assert_ptr_null(r->id);
	ck_assert_int_eq(r->code, ERR_NONE);
	ck_assert_ptr_null(r->errmsg);
	ck_assert_ptr_null(r->method);
	ck_assert_ptr_null(r->model);
	ck_assert_ptr_null(r->cands);
	ck_assert_uint_eq(r->ncands, 0);
	ck_assert_int_eq(r->selected, -1);
	ck_assert_int_eq(r->has_dedup, 0);
	ck_assert_int_eq(r->has_diversity, 0);
	ck_assert(isnan(r->semantic) && isnan(r->rouge_l));
	ck_assert(isnan(r->distinct[0]) && isnan(r->distinct[1]) &&
	    isnan(r->distinct[2]));
	ck_assert_uint_eq(r->requests, 0);
	ck_assert_uint_eq(r->latency_ms, 0);
	ck_assert_ptr_null(r->source_topic);
	ck_assert_int_eq(r->source_partition, -1);
	ck_assert_int_eq(r->source_offset, -1);
	ck_assert_ptr_null(r->metadata);
	ck_assert_uint_eq(r->metadata_len, 0);
	ck_assert_ptr_null(r->prov.created);
	ck_assert_str_eq(r->prov.version, PACKAGE_VERSION);
	ck_assert_ptr_null(r->prov.template_id);
	ck_assert_int_eq(r->prov.has_seed, 0);
	ck_assert_int_eq(r->prov.has_decoding, 0);
	/* Stamped once: the first time sticks. */
	result_stamp(r);
	ck_assert_ptr_nonnull(r->prov.created);
	ck_assert_uint_eq(strlen(r->prov.created), 24);
	ck_assert(r->prov.created[4] == '-' && r->prov.created[10] == 'T' &&
	    r->prov.created[19] == '.' && r->prov.created[23] == 'Z');
	ck_assert_mem_eq(r->prov.created, "20", 2);
	{
		const char *first = r->prov.created;

		result_stamp(r);
		ck_assert_ptr_eq(r->prov.created, first);
	}
	result_free(r);
	result_free(NULL);
}
END_TEST

START_TEST(test_encode_ok)
{
	struct result *r = make_full();
	msgpack_unpacked u;
	const msgpack_object *m, *o, *c;
	size_t len;
	char *buf = result_encode(r, &len);

	unpack(&u, buf, len);
	m = top_map(&u);
	is_uint(kv(m, 0, "v"), 1);
	is_str(kv(m, 1, "id"), "job-1");
	is_str(kv(m, 2, "status"), "ok");
	is_nil(kv(m, 3, "error"));
	is_str(kv(m, 4, "method"), "vs_standard");
	is_str(kv(m, 5, "backend"), "local");
	is_str(kv(m, 6, "model"), "m1");

	o = kv(m, 7, "candidates");
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(o->via.array.size, 2);
	c = &o->via.array.ptr[0];
	is_map(c, 5);
	is_str(kv(c, 0, "text"), "first\nline two\n");
	is_f64(kv(c, 1, "probability"), 0.75);
	is_f64(kv(c, 2, "verbalized"), 0.5);
	is_uint(kv(c, 3, "turn"), 0);
	is_str(kv(c, 4, "finish_reason"), "length");
	c = &o->via.array.ptr[1];
	is_map(c, 5);
	is_str(kv(c, 0, "text"), "zweite — Ünïcödé 詩");
	is_f64(kv(c, 1, "probability"), 0.25);
	is_nil(kv(c, 2, "verbalized"));
	is_uint(kv(c, 3, "turn"), 1);
	is_nil(kv(c, 4, "finish_reason"));
	is_uint(kv(m, 8, "selected"), 0);

	o = kv(m, 9, "dedup");
	is_map(o, 2);
	is_uint(kv(o, 0, "in_job"), 3);
	is_uint(kv(o, 1, "in_scope"), 1);
	o = kv(m, 10, "diversity");
	is_map(o, 7);
	is_nil(kv(o, 0, "semantic"));
	is_f64(kv(o, 1, "rouge_l"), 0.125);
	is_f64(kv(o, 2, "distinct_1"), 0.5);
	is_f64(kv(o, 3, "distinct_2"), 0.75);
	is_f64(kv(o, 4, "distinct_3"), 1.0);
	DIVERSITY_ADDED(o);
	o = kv(m, 11, "usage");
	is_map(o, 4);
	is_uint(kv(o, 0, "requests"), 2);
	is_uint(kv(o, 1, "prompt_tokens"), 100);
	is_uint(kv(o, 2, "completion_tokens"), 250);
	is_f64(kv(o, 3, "cost"), 0.00275);
	is_uint(kv(m, 12, "attempts"), 3);
	is_uint(kv(m, 13, "failed_calls"), 1);
	is_uint(kv(m, 14, "latency_ms"), 4321);
	o = kv(m, 15, "source");
	is_map(o, 3);
	is_str(kv(o, 0, "topic"), "vs.jobs");
	is_uint(kv(o, 1, "partition"), 7);
	is_uint(kv(o, 2, "offset"), 123456789012ULL);

	/* Metadata is copied verbatim: the last bytes of the buffer. */
	o = kv(m, 17, "metadata");
	is_map(o, 2);
	ck_assert_uint_gt(len, sizeof(meta_small) - 1);
	ck_assert_mem_eq(buf + len - (sizeof(meta_small) - 1), meta_small,
	    sizeof(meta_small) - 1);
	o = kv(m, 16, "provenance");
	is_map(o, 5);
	is_str(kv(o, 0, "created"), "2026-12-08T01:02:03.456Z");
	is_str(kv(o, 1, "vsampd"), PACKAGE_VERSION);
	is_str(kv(o, 2, "template"), "vs_standard:0123456789ab");
	is_uint(kv(o, 3, "seed"), UINT64_MAX);
	c = kv(o, 4, "decoding");
	is_map(c, 4);
	is_f64(kv(c, 0, "temperature"), 0.7);
	is_nil(kv(c, 1, "top_p"));
	is_uint(kv(c, 2, "max_tokens"), 512);
	ck_assert_int_eq(kv(c, 3, "structured_output")->type,
	    MSGPACK_OBJECT_BOOLEAN);
	ck_assert(kv(c, 3, "structured_output")->via.boolean);

	msgpack_unpacked_destroy(&u);
	free(buf);
	result_free(r);
}
END_TEST

/* An error result keeps id, method, usage, source and metadata, and has
 * every key, with candidates empty and selected, dedup, diversity nil. */
START_TEST(test_encode_error)
{
	struct result *r = make_full();
	msgpack_unpacked u;
	const msgpack_object *m, *o;
	size_t len;
	char *buf;

	result_set_error(r, ERR_BACKEND, "backend local: HTTP 503");
	ck_assert_int_eq(r->code, ERR_BACKEND);
	ck_assert_str_eq(r->errmsg, "backend local: HTTP 503");
	ck_assert_ptr_null(r->cands);
	ck_assert_uint_eq(r->ncands, 0);
	ck_assert_int_eq(r->selected, -1);
	ck_assert_int_eq(r->has_dedup, 0);
	ck_assert_int_eq(r->has_diversity, 0);

	buf = result_encode(r, &len);
	unpack(&u, buf, len);
	m = top_map(&u);
	is_uint(kv(m, 0, "v"), 1);
	is_str(kv(m, 1, "id"), "job-1");
	is_str(kv(m, 2, "status"), "error");
	o = kv(m, 3, "error");
	is_map(o, 2);
	is_str(kv(o, 0, "code"), "backend");
	is_str(kv(o, 1, "message"), "backend local: HTTP 503");
	is_str(kv(m, 4, "method"), "vs_standard");
	is_str(kv(m, 6, "model"), "m1");
	o = kv(m, 7, "candidates");
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(o->via.array.size, 0);
	is_nil(kv(m, 8, "selected"));
	is_nil(kv(m, 9, "dedup"));
	is_nil(kv(m, 10, "diversity"));
	o = kv(m, 11, "usage");
	is_uint(kv(o, 0, "requests"), 2);
	/* what the job's requests cost stays on an error */
	is_f64(kv(o, 3, "cost"), 0.00275);
	is_uint(kv(m, 12, "attempts"), 3);
	o = kv(m, 15, "source");
	is_str(kv(o, 0, "topic"), "vs.jobs");
	is_map(kv(m, 17, "metadata"), 2);
	msgpack_unpacked_destroy(&u);
	free(buf);
	result_free(r);
}
END_TEST

/* A fresh result: every nil field nil, source and metadata included. */
START_TEST(test_encode_nil)
{
	struct result *r = result_new();
	msgpack_unpacked u;
	const msgpack_object *m, *o;
	size_t len;
	char *buf = result_encode(r, &len);

	unpack(&u, buf, len);
	m = top_map(&u);
	is_nil(kv(m, 1, "id"));
	is_str(kv(m, 2, "status"), "ok");
	is_nil(kv(m, 3, "error"));
	is_nil(kv(m, 4, "method"));
	is_nil(kv(m, 5, "backend"));
	is_nil(kv(m, 6, "model"));
	o = kv(m, 7, "candidates");
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(o->via.array.size, 0);
	is_nil(kv(m, 8, "selected"));
	is_nil(kv(m, 9, "dedup"));
	is_nil(kv(m, 10, "diversity"));
	o = kv(m, 11, "usage");
	is_map(o, 4);
	is_uint(kv(o, 2, "completion_tokens"), 0);
	/* no cost: nil, never a 0 that looks real */
	is_nil(kv(o, 3, "cost"));
	is_uint(kv(m, 14, "latency_ms"), 0);
	is_nil(kv(m, 15, "source"));
	is_nil(kv(m, 17, "metadata"));
	/* Provenance is a map whatever is known: here only the version. */
	o = kv(m, 16, "provenance");
	is_map(o, 5);
	is_nil(kv(o, 0, "created"));
	is_str(kv(o, 1, "vsampd"), PACKAGE_VERSION);
	is_nil(kv(o, 2, "template"));
	is_nil(kv(o, 3, "seed"));
	is_nil(kv(o, 4, "decoding"));
	msgpack_unpacked_destroy(&u);
	free(buf);
	result_free(r);
}
END_TEST

/* The wire keeps the contract even when the struct does not. */
START_TEST(test_encode_defensive)
{
	struct result *r = make_full();
	msgpack_unpacked u;
	const msgpack_object *m, *o;
	size_t len;
	char *buf;

	r->selected = 2; /* past the candidates */
	r->cands[0].verbalized = INFINITY; /* not a number to consumers */
	r->distinct[0] = -INFINITY;
	free(r->metadata);
	r->metadata = dup_bytes("\x92\x01", 2); /* truncated array */
	r->metadata_len = 2;
	buf = result_encode(r, &len);
	unpack(&u, buf, len);
	m = top_map(&u);
	is_nil(kv(m, 8, "selected"));
	is_nil(kv(m, 17, "metadata"));
	o = kv(m, 7, "candidates");
	is_nil(kv(&o->via.array.ptr[0], 2, "verbalized"));
	is_f64(kv(&o->via.array.ptr[0], 1, "probability"), 0.75);
	o = kv(m, 10, "diversity");
	is_nil(kv(o, 2, "distinct_1"));
	is_f64(kv(o, 4, "distinct_3"), 1.0);
	DIVERSITY_ADDED(o);
	msgpack_unpacked_destroy(&u);
	free(buf);

	free(r->metadata);
	r->metadata = dup_bytes("\x01\x02", 2); /* two objects */
	r->code = ERR_TIMEOUT; /* set without result_set_error */
	r->selected = 1;
	buf = result_encode(r, &len);
	unpack(&u, buf, len);
	m = top_map(&u);
	o = kv(m, 3, "error");
	is_str(kv(o, 0, "code"), "timeout");
	is_str(kv(o, 1, "message"), "");
	ck_assert_uint_eq(kv(m, 7, "candidates")->via.array.size, 0);
	is_nil(kv(m, 8, "selected"));
	is_nil(kv(m, 9, "dedup"));
	is_nil(kv(m, 10, "diversity"));
	is_nil(kv(m, 17, "metadata"));
	msgpack_unpacked_destroy(&u);
	free(buf);
	result_free(r);
}
END_TEST

START_TEST(test_set_error)
{
	struct result *r = result_new();

	result_set_error(r, ERR_PARSE, "first");
	/* The message may come from the result itself. */
	result_set_error(r, ERR_TOO_LARGE, r->errmsg);
	ck_assert_int_eq(r->code, ERR_TOO_LARGE);
	ck_assert_str_eq(r->errmsg, "first");
	result_set_error(r, ERR_NONE, NULL);
	ck_assert_int_eq(r->code, ERR_INTERNAL);
	ck_assert_str_eq(r->errmsg, "");
	result_free(r);
}
END_TEST

static void
roundtrip(const struct result *r)
{
	char err[256] = "";
	size_t len, len2;
	char *buf = result_encode(r, &len), *buf2;
	struct result *d = result_decode(buf, len, err, sizeof(err));

	ck_assert_msg(d != NULL, "decode: %s", err);
	assert_result_eq(r, d);
	/* And the encoding is stable. */
	buf2 = result_encode(d, &len2);
	ck_assert_uint_eq(len, len2);
	ck_assert_mem_eq(buf, buf2, len);
	free(buf);
	free(buf2);
	result_free(d);
}

START_TEST(test_roundtrip)
{
	struct result *r = make_full();

	roundtrip(r);
	/* Text with NUL bytes and extremes of every number. */
	free(r->cands[1].text);
	r->cands[1].text = dup_bytes("a\0b\n\tc", 6);
	r->cands[1].len = 6;
	r->cands[1].turn = 999;
	r->cands[0].probability = 0.1 + 0.2;
	r->selected = 1;
	r->has_diversity = 0;
	r->semantic = r->rouge_l = NAN;
	for (int i = 0; i < 3; i++)
		r->distinct[i] = NAN;
	r->vendi = NAN;
	r->classes = -1;
	r->requests = UINT64_MAX;
	r->latency_ms = UINT64_MAX - 1;
	r->attempts = UINT32_MAX;
	r->dedup_in_job = UINT32_MAX;
	r->source_partition = INT32_MIN;
	r->source_offset = INT64_MIN;
	roundtrip(r);
	r->source_offset = INT64_MAX;
	r->source_partition = INT32_MAX;
	free(r->model);
	r->model = NULL;
	roundtrip(r);
	result_set_error(
	    r, ERR_RATE_LIMITED, "429 from \"local\"\nretry later");
	roundtrip(r);
	result_free(r);

	r = result_new();
	roundtrip(r);
	result_set_error(r, ERR_BAD_JOB, "");
	roundtrip(r);
	result_free(r);
}
END_TEST

/* The fixtures written by python3-msgpack decode to what they say. */
START_TEST(test_golden_decode)
{
	static const char meta[] = "\x84\xa4user\xa2u1\xa4tags\x92\xa1"
				   "a\xa1"
				   "b\x07\xc3\xa4"
				   "blob\xc4\x03\x00\x01\xff";
	char err[256] = "", *buf;
	struct result *r;
	size_t len;

	buf = read_file("ok.msgpack", &len);
	r = result_decode(buf, len, err, sizeof(err));
	ck_assert_msg(r != NULL, "decode: %s", err);
	ck_assert_str_eq(r->id, "job-42");
	ck_assert_int_eq(r->code, ERR_NONE);
	ck_assert_ptr_null(r->errmsg);
	ck_assert_str_eq(r->method, "vs_standard");
	ck_assert_str_eq(r->backend, "local");
	ck_assert_str_eq(r->model, "smollm2");
	ck_assert_uint_eq(r->ncands, 2);
	ck_assert_uint_eq(
	    r->cands[0].len, strlen("Roses are red,\n  violets are blue.\n"));
	ck_assert_str_eq(
	    r->cands[0].text, "Roses are red,\n  violets are blue.\n");
	ck_assert(r->cands[0].probability == 0.6);
	ck_assert(r->cands[0].verbalized == 0.7);
	ck_assert_int_eq(r->cands[0].turn, 0);
	ck_assert_str_eq(r->cands[0].finish_reason, "stop");
	ck_assert_ptr_null(r->cands[1].finish_reason);
	ck_assert_str_eq(r->cands[1].text, "Ünïcödé — 詩");
	ck_assert_uint_eq(r->cands[1].len, strlen("Ünïcödé — 詩"));
	ck_assert(r->cands[1].probability == 0.4);
	ck_assert(isnan(r->cands[1].verbalized));
	ck_assert_int_eq(r->cands[1].turn, 1);
	ck_assert_int_eq(r->selected, 1);
	ck_assert_int_eq(r->has_dedup, 1);
	ck_assert_uint_eq(r->dedup_in_job, 2);
	ck_assert_uint_eq(r->dedup_in_scope, 1);
	ck_assert_int_eq(r->has_diversity, 1);
	ck_assert(isnan(r->semantic));
	ck_assert(r->rouge_l == 0.25);
	ck_assert(r->distinct[0] == 0.8);
	ck_assert(r->distinct[1] == 0.9);
	ck_assert(r->distinct[2] == 1.0);
	ck_assert(isnan(r->vendi));
	ck_assert_int_eq(r->classes, 2);
	ck_assert_uint_eq(r->requests, 2);
	ck_assert_uint_eq(r->prompt_tokens, 120);
	ck_assert_uint_eq(r->completion_tokens, 345);
	ck_assert(r->cost == 0.00375);
	ck_assert_uint_eq(r->attempts, 3);
	ck_assert_uint_eq(r->failed_calls, 0);
	ck_assert_uint_eq(r->latency_ms, 1234);
	ck_assert_str_eq(r->source_topic, "vs.jobs");
	ck_assert_int_eq(r->source_partition, 2);
	ck_assert_int_eq(r->source_offset, 987654321012LL);
	ck_assert_uint_eq(r->metadata_len, sizeof(meta) - 1);
	ck_assert_mem_eq(r->metadata, meta, sizeof(meta) - 1);
	ck_assert_str_eq(r->prov.created, "2026-12-08T01:02:03.456Z");
	ck_assert_str_eq(r->prov.version, "0.1.0");
	ck_assert_str_eq(r->prov.template_id, "vs_standard:0123456789ab");
	ck_assert_int_eq(r->prov.has_seed, 1);
	ck_assert_uint_eq(r->prov.seed, UINT64_MAX);
	ck_assert_int_eq(r->prov.has_decoding, 1);
	ck_assert(r->prov.temperature == 0.7);
	ck_assert(isnan(r->prov.top_p));
	ck_assert_int_eq(r->prov.max_tokens, 512);
	ck_assert_int_eq(r->prov.structured, 1);
	result_free(r);
	free(buf);

	buf = read_file("error.msgpack", &len);
	r = result_decode(buf, len, err, sizeof(err));
	ck_assert_msg(r != NULL, "decode: %s", err);
	ck_assert_ptr_null(r->id);
	ck_assert_int_eq(r->code, ERR_BAD_JOB);
	ck_assert_str_eq(r->errmsg, "k: expected int");
	ck_assert_ptr_null(r->method);
	ck_assert_ptr_null(r->backend);
	ck_assert_ptr_null(r->model);
	ck_assert_uint_eq(r->ncands, 0);
	ck_assert_int_eq(r->selected, -1);
	ck_assert_int_eq(r->has_dedup, 0);
	ck_assert_int_eq(r->has_diversity, 0);
	ck_assert_uint_eq(r->latency_ms, 5);
	ck_assert_str_eq(r->source_topic, "vs.jobs");
	ck_assert_int_eq(r->source_partition, 0);
	ck_assert_int_eq(r->source_offset, 17);
	ck_assert_ptr_null(r->metadata);
	/* Written before usage.cost was added: nil. */
	ck_assert(isnan(r->cost));
	/* Written before provenance was added: all of it nil. */
	ck_assert_ptr_null(r->prov.created);
	ck_assert_ptr_null(r->prov.version);
	ck_assert_ptr_null(r->prov.template_id);
	ck_assert_int_eq(r->prov.has_seed, 0);
	ck_assert_int_eq(r->prov.has_decoding, 0);
	result_free(r);
	free(buf);
}
END_TEST

/* Our encoder writes exactly what python3-msgpack writes for the same
 * map in the same key order. */
START_TEST(test_golden_encode)
{
	static const char *names[] = {"ok.msgpack", "ok_canonical.msgpack"};
	char err[256] = "", *canon, *buf, *enc;
	size_t clen, len, elen;

	canon = read_file("ok_canonical.msgpack", &clen);
	for (int i = 0; i < 2; i++) {
		struct result *r;

		buf = read_file(names[i], &len);
		r = result_decode(buf, len, err, sizeof(err));
		ck_assert_msg(r != NULL, "decode: %s", err);
		enc = result_encode(r, &elen);
		ck_assert_uint_eq(elen, clen);
		ck_assert_mem_eq(enc, canon, clen);
		free(enc);
		free(buf);
		result_free(r);
	}
	free(canon);
}
END_TEST

/* ---- malformed input ---- */

static msgpack_object
o_str(const char *s, size_t len)
{
	msgpack_object o;

	o.type = MSGPACK_OBJECT_STR;
	o.via.str.ptr = s;
	o.via.str.size = (uint32_t)len;
	return o;
}

static msgpack_object
o_cstr(const char *s)
{
	return o_str(s, strlen(s));
}

static msgpack_object
o_int(int64_t i)
{
	msgpack_object o;

	if (i < 0) {
		o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
		o.via.i64 = i;
	} else {
		o.type = MSGPACK_OBJECT_POSITIVE_INTEGER;
		o.via.u64 = (uint64_t)i;
	}
	return o;
}

static msgpack_object
o_nil(void)
{
	msgpack_object o;

	o.type = MSGPACK_OBJECT_NIL;
	return o;
}

static msgpack_object
o_f64(double d)
{
	msgpack_object o;

	o.type = MSGPACK_OBJECT_FLOAT64;
	o.via.f64 = d;
	return o;
}

enum patch_op { P_SET, P_DEL, P_DUP };

/*
 * A copy of o with path ("usage.requests", "candidates.0.text") set to
 * *val, deleted, or its key given twice. Copies live in zone z.
 */
static msgpack_object
patch(msgpack_zone *z, const msgpack_object *o, const char *path,
    enum patch_op op, const msgpack_object *val)
{
	const char *dot = strchr(path, '.');
	size_t plen = dot != NULL ? (size_t)(dot - path) : strlen(path);
	msgpack_object n = *o;

	if (o->type == MSGPACK_OBJECT_ARRAY) {
		uint32_t idx = (uint32_t)strtoul(path, NULL, 10);
		msgpack_object *a;

		ck_assert_uint_lt(idx, o->via.array.size);
		ck_assert_ptr_nonnull(dot);
		a = msgpack_zone_malloc(z, o->via.array.size * sizeof(*a));
		memcpy(a, o->via.array.ptr, o->via.array.size * sizeof(*a));
		a[idx] = patch(z, &a[idx], dot + 1, op, val);
		n.via.array.ptr = a;
		return n;
	}
	ck_assert_int_eq(o->type, MSGPACK_OBJECT_MAP);
	{
		uint32_t cnt = o->via.map.size, j = 0;
		msgpack_object_kv *kvs;
		int found = 0;

		kvs = msgpack_zone_malloc(z, (cnt + 1) * sizeof(*kvs));
		for (uint32_t i = 0; i < cnt; i++) {
			const msgpack_object_kv *e = &o->via.map.ptr[i];

			if (e->key.type != MSGPACK_OBJECT_STR ||
			    e->key.via.str.size != plen ||
			    memcmp(e->key.via.str.ptr, path, plen) != 0) {
				kvs[j++] = *e;
				continue;
			}
			found = 1;
			kvs[j] = *e;
			if (dot != NULL)
				kvs[j++].val =
				    patch(z, &e->val, dot + 1, op, val);
			else if (op == P_SET)
				kvs[j++].val = *val;
			else if (op == P_DUP) {
				j++;
				kvs[j++] = *e;
			}
		}
		ck_assert_msg(found, "no key %s", path);
		n.via.map.ptr = kvs;
		n.via.map.size = j;
	}
	return n;
}

/*
 * Decode base with one patch applied; it must fail with errstr equal
 * to want.
 */
static void
reject_patch(const msgpack_object *base, const char *path, enum patch_op op,
    msgpack_object val, const char *want)
{
	msgpack_zone *z = msgpack_zone_new(4096);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_object o = patch(z, base, path, op, &val);
	char err[256] = "";
	struct result *r;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, o);
	r = result_decode(sb.data, sb.size, err, sizeof(err));
	ck_assert_msg(r == NULL, "%s accepted", path);
	ck_assert_str_eq(err, want);
	msgpack_sbuffer_destroy(&sb);
	msgpack_zone_free(z);
}

/* The same, for a patch that must be accepted; returns the result. */
static struct result *
accept_patch(const msgpack_object *base, const char *path, enum patch_op op,
    msgpack_object val)
{
	msgpack_zone *z = msgpack_zone_new(4096);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_object o = patch(z, base, path, op, &val);
	char err[256] = "";
	struct result *r;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_object(&pk, o);
	r = result_decode(sb.data, sb.size, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s rejected: %s", path, err);
	msgpack_sbuffer_destroy(&sb);
	msgpack_zone_free(z);
	return r;
}

START_TEST(test_decode_rejects)
{
	char *okb, *errb;
	size_t oklen, errlen;
	msgpack_unpacked ok, er;
	const msgpack_object *o, *e;
	msgpack_object arr;
	struct result *r;

	okb = read_file("ok_canonical.msgpack", &oklen);
	errb = read_file("error.msgpack", &errlen);
	unpack(&ok, okb, oklen);
	unpack(&er, errb, errlen);
	o = &ok.data;
	e = &er.data;

	reject_patch(o, "v", P_SET, o_int(2), "v: unsupported schema version");
	reject_patch(
	    o, "v", P_SET, o_cstr("1"), "v: unsupported schema version");
	reject_patch(o, "v", P_DEL, o_nil(), "v: missing");
	reject_patch(o, "id", P_SET, o_int(5), "id: expected str");
	reject_patch(o, "id", P_SET, o_str("a\xff", 2), "id: invalid UTF-8");
	reject_patch(
	    o, "id", P_SET, o_str("a\0b", 3), "id: contains a NUL byte");
	reject_patch(o, "id", P_DUP, o_nil(), "id: duplicate key");
	reject_patch(o, "status", P_SET, o_cstr("maybe"),
	    "status: neither ok nor error");
	reject_patch(
	    o, "error", P_SET, o_cstr("x"), "error: not nil on an ok result");
	reject_patch(o, "error", P_DEL, o_nil(), "error: missing");
	reject_patch(o, "model", P_SET, o_f64(1), "model: expected str");
	reject_patch(o, "method", P_DEL, o_nil(), "method: missing");
	reject_patch(
	    o, "candidates", P_SET, o_nil(), "candidates: expected array");
	reject_patch(o, "candidates.1.text", P_SET, o_int(1),
	    "candidates[1].text: expected str");
	reject_patch(o, "candidates.1.text", P_SET, o_str("\xc0\x80", 2),
	    "candidates[1].text: invalid UTF-8");
	reject_patch(o, "candidates.0.probability", P_SET, o_nil(),
	    "candidates[0].probability: expected float");
	reject_patch(o, "candidates.0.verbalized", P_SET, o_cstr("70%"),
	    "candidates[0].verbalized: expected float");
	reject_patch(o, "candidates.0.turn", P_SET, o_f64(1.5),
	    "candidates[0].turn: expected int");
	reject_patch(o, "candidates.0.turn", P_SET, o_int(1LL << 31),
	    "candidates[0].turn: out of range");
	reject_patch(o, "candidates.0.turn", P_DEL, o_nil(),
	    "candidates[0].turn: missing");
	reject_patch(o, "selected", P_SET, o_int(2),
	    "selected: not an index into candidates");
	reject_patch(o, "selected", P_SET, o_int(-1), "selected: out of range");
	reject_patch(
	    o, "dedup.in_job", P_SET, o_int(-1), "dedup.in_job: out of range");
	reject_patch(o, "dedup.in_scope", P_SET, o_int(1LL << 32),
	    "dedup.in_scope: out of range");
	reject_patch(o, "dedup", P_SET, o_int(0), "dedup: expected map");
	reject_patch(o, "diversity.rouge_l", P_SET, o_cstr("x"),
	    "diversity.rouge_l: expected float");
	reject_patch(o, "diversity.distinct_3", P_DEL, o_nil(),
	    "diversity.distinct_3: missing");
	reject_patch(o, "usage", P_SET, o_nil(), "usage: expected map");
	reject_patch(o, "usage.requests", P_SET, o_int(-3),
	    "usage.requests: out of range");
	reject_patch(o, "usage.cost", P_SET, o_cstr("0.1"),
	    "usage.cost: expected float");
	reject_patch(
	    o, "usage.cost", P_SET, o_f64(-0.5), "usage.cost: negative");
	reject_patch(
	    o, "usage.cost", P_DUP, o_nil(), "usage.cost: duplicate key");
	/* The other keys added to version 1: a duplicate is no absence. */
	reject_patch(o, "provenance", P_DUP, o_nil(),
	    "provenance: duplicate key");
	reject_patch(o, "diversity.classes", P_DUP, o_nil(),
	    "diversity.classes: duplicate key");
	reject_patch(o, "diversity.vendi", P_DUP, o_nil(),
	    "diversity.vendi: duplicate key");
	reject_patch(
	    o, "attempts", P_SET, o_int(1LL << 32), "attempts: out of range");
	reject_patch(
	    o, "latency_ms", P_SET, o_f64(3), "latency_ms: expected int");
	reject_patch(o, "source.partition", P_SET, o_int(1LL << 31),
	    "source.partition: out of range");
	reject_patch(
	    o, "source.topic", P_SET, o_nil(), "source.topic: expected str");
	reject_patch(o, "metadata", P_DEL, o_nil(), "metadata: missing");
	reject_patch(e, "error", P_SET, o_nil(), "error: expected map");
	reject_patch(
	    e, "error.code", P_SET, o_cstr("nope"), "error.code: unknown code");
	reject_patch(
	    e, "error.code", P_SET, o_cstr("ok"), "error.code: unknown code");
	reject_patch(
	    e, "error.message", P_DEL, o_nil(), "error.message: missing");
	reject_patch(e, "candidates", P_SET, *kv(o, 7, "candidates"),
	    "candidates: not empty on an error");
	reject_patch(e, "selected", P_SET, o_int(0),
	    "selected: not an index into candidates");
	reject_patch(e, "dedup", P_SET, *kv(o, 9, "dedup"),
	    "dedup: not nil on an error");
	reject_patch(e, "diversity", P_SET, *kv(o, 10, "diversity"),
	    "diversity: not nil on an error");

	/* Accepted: ints where floats go, unknown keys, negative offsets. */
	r = accept_patch(o, "candidates.0.probability", P_SET, o_int(1));
	ck_assert(r->cands[0].probability == 1.0);
	result_free(r);
	r = accept_patch(o, "source.offset", P_SET, o_int(-1001));
	ck_assert_int_eq(r->source_offset, -1001);
	result_free(r);
	arr.type = MSGPACK_OBJECT_ARRAY;
	arr.via.array.size = 0;
	arr.via.array.ptr = NULL;
	r = accept_patch(o, "diversity.semantic", P_SET, o_f64(0.5));
	ck_assert(r->semantic == 0.5);
	result_free(r);
	/* usage.cost: nil is none, and so is no key (an older vsampd) */
	r = accept_patch(o, "usage.cost", P_SET, o_nil());
	ck_assert(isnan(r->cost));
	result_free(r);
	r = accept_patch(o, "usage.cost", P_DEL, o_nil());
	ck_assert(isnan(r->cost));
	ck_assert_uint_eq(r->completion_tokens, 345);
	result_free(r);
	r = accept_patch(o, "usage.cost", P_SET, o_int(0));
	ck_assert(r->cost == 0.0);
	result_free(r);
	r = accept_patch(o, "metadata", P_SET, arr);
	ck_assert_uint_eq(r->metadata_len, 1);
	ck_assert_mem_eq(r->metadata, "\x90", 1);
	result_free(r);

	msgpack_unpacked_destroy(&ok);
	msgpack_unpacked_destroy(&er);
	free(okb);
	free(errb);
}
END_TEST

static void
decode_fails(const void *buf, size_t len, const char *want)
{
	char err[256] = "";
	struct result *r = result_decode(buf, len, err, sizeof(err));

	ck_assert_ptr_null(r);
	if (want != NULL)
		ck_assert_str_eq(err, want);
	else
		ck_assert_uint_gt(strlen(err), 0);
}

START_TEST(test_decode_hostile)
{
	char *okb, *buf;
	size_t oklen;

	decode_fails(NULL, 0, "empty result");
	decode_fails("", 0, "empty result");
	decode_fails("\xc1", 1, "invalid msgpack type byte at 0");
	decode_fails("\x93\x01\x02\x03", 4, "result is not a map");
	decode_fails("\x01", 1, "result is not a map");
	decode_fails("\x80", 1, "v: missing");
	/* Headers that announce far more than the bytes hold. */
	decode_fails("\xdd\xff\xff\xff\xff", 5, "truncated msgpack");
	decode_fails("\xdf\xff\xff\xff\xff\xc0\xc0", 7, "truncated msgpack");
	decode_fails("\x81\xa1v\xdb\xff\xff\xff\xff", 8, "truncated msgpack");
	decode_fails(
	    "\x81\xa1v\xc9\xff\xff\xff\xff\x01", 9, "truncated msgpack");
	decode_fails("\x81\xa1v\xcf\x00", 5, "truncated msgpack");

	okb = read_file("ok_canonical.msgpack", &oklen);
	/* Trailing bytes. */
	buf = malloc(oklen + 1);
	memcpy(buf, okb, oklen);
	buf[oklen] = '\xc0';
	decode_fails(buf, oklen + 1, "trailing bytes after the result");
	free(buf);
	/* Every truncation. */
	for (size_t n = 0; n < oklen; n++) {
		buf = malloc(n + 1); /* exact size for ASan */
		memcpy(buf, okb, n);
		decode_fails(
		    buf, n, n == 0 ? "empty result" : "truncated msgpack");
		free(buf);
	}
	free(okb);
}
END_TEST

/*
 * Nesting: msgpack-c opens at most 32 containers; the decoder accepts
 * and rejects exactly at that limit (the result map is the first).
 */
static char *
nested_result(int depth, size_t *lenp)
{
	struct result *r = result_new();
	char *meta = malloc((size_t)depth + 1), *buf;

	/* depth - 1 arrays in the metadata, the innermost holding nil. */
	memset(meta, '\x91', (size_t)depth - 1);
	meta[depth - 1] = '\xc0';
	buf = result_encode(r, lenp);
	result_free(r);
	/* The encoder refuses nothing valid; splice by hand to be sure. */
	ck_assert_uint_gt(*lenp, 0);
	ck_assert_int_eq((unsigned char)buf[*lenp - 1], 0xc0);
	buf = realloc(buf, *lenp - 1 + (size_t)depth);
	memcpy(buf + *lenp - 1, meta, (size_t)depth);
	*lenp = *lenp - 1 + (size_t)depth;
	free(meta);
	return buf;
}

START_TEST(test_decode_nesting)
{
	char err[256] = "";
	msgpack_unpacked u;
	size_t len, off = 0;
	char *buf;
	struct result *r;

	buf = nested_result(32, &len);
	r = result_decode(buf, len, err, sizeof(err));
	ck_assert_msg(r != NULL, "decode: %s", err);
	ck_assert_uint_eq(r->metadata_len, 32);
	ck_assert_int_eq((unsigned char)r->metadata[30], 0x91);
	ck_assert_int_eq((unsigned char)r->metadata[31], 0xc0);
	result_free(r);
	free(buf);

	buf = nested_result(33, &len);
	decode_fails(buf, len, "msgpack nested deeper than 32 levels");
	/* msgpack-c itself agrees: it calls this out of memory. */
	msgpack_unpacked_init(&u);
	ck_assert_int_eq(msgpack_unpack_next(&u, buf, len, &off),
	    MSGPACK_UNPACK_NOMEM_ERROR);
	msgpack_unpacked_destroy(&u);
	free(buf);

	/* An empty container past the limit counts too, as in msgpack-c. */
	buf = nested_result(33, &len);
	buf[len - 2] = '\x90';
	len--;
	decode_fails(buf, len, "msgpack nested deeper than 32 levels");
	free(buf);
}
END_TEST

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* What was decoded survives the rest of the module. */
static void
exercise(struct result *r)
{
	char err[256], *buf, *json;
	size_t len;
	struct result *again;

	buf = result_encode(r, &len);
	again = result_decode(buf, len, err, sizeof(err));
	ck_assert_msg(again != NULL, "re-decode: %s", err);
	assert_result_eq(r, again);
	json = result_to_json(r);
	ck_assert_int_eq(json[0], '{');
	free(json);
	free(buf);
	result_free(again);
}

/* Random bytes and random mutations of a valid result: never a crash,
 * and whatever decodes also re-encodes and converts. */
START_TEST(test_decode_random)
{
	uint64_t seed = 0x243f6a8885a308d3ULL;
	char err[256], *okb, *buf;
	size_t oklen;
	int decoded = 0;

	for (int i = 0; i < 20000; i++) {
		size_t len = rnd(&seed) % 64;
		struct result *r;

		buf = malloc(len + 1);
		for (size_t j = 0; j < len; j++)
			buf[j] = (char)rnd(&seed);
		/* Often a map header, to get past the first check. */
		if (len > 0 && i % 2 == 0)
			buf[0] = (char)(0x80 | (rnd(&seed) % 16));
		r = result_decode(buf, len, err, sizeof(err));
		if (r == NULL)
			ck_assert(utf8_valid(err, strlen(err)));
		result_free(r);
		free(buf);
	}

	okb = read_file("ok.msgpack", &oklen);
	buf = malloc(oklen);
	for (int i = 0; i < 20000; i++) {
		int nflip = 1 + (int)(rnd(&seed) % 3);
		struct result *r;

		memcpy(buf, okb, oklen);
		for (int k = 0; k < nflip; k++) {
			size_t at = rnd(&seed) % oklen;

			switch (rnd(&seed) % 4) {
			case 0:
				buf[at] ^= (char)(1 << (rnd(&seed) % 8));
				break;
			case 1:
				buf[at] = (char)rnd(&seed);
				break;
			case 2:
				buf[at] = "\x00\xff\xc1\xdf\xdd\xdb\x7f\xc0"
				    [rnd(&seed) % 8];
				break;
			default:
				buf[at] = (char)(buf[at] + 1);
			}
		}
		r = result_decode(buf, oklen, err, sizeof(err));
		if (r != NULL) {
			decoded++;
			exercise(r);
			result_free(r);
		}
	}
	/* Some mutations land in text or numbers and still decode. */
	ck_assert_int_gt(decoded, 100);
	free(buf);
	free(okb);
}
END_TEST

/* ---- JSON ---- */

/* The provenance of make_full() as JSON, with the comma after it. */
#define PROV_FULL_JSON                                                 \
	"\"provenance\":{\"created\":\"2026-12-08T01:02:03.456Z\","       \
	"\"vsampd\":\"" PACKAGE_VERSION "\","                            \
	"\"template\":\"vs_standard:0123456789ab\","                     \
	"\"seed\":\"18446744073709551615\",\"decoding\":{"               \
	"\"temperature\":0.7,\"top_p\":null,\"max_tokens\":512,"         \
	"\"structured_output\":true}},"

START_TEST(test_json_ok)
{
	struct result *r = make_full();
	char *s = result_to_json(r);

	ck_assert_str_eq(s,
	    "{\"v\":1,\"id\":\"job-1\",\"status\":\"ok\",\"error\":null,"
	    "\"method\":\"vs_standard\",\"backend\":\"local\","
	    "\"model\":\"m1\",\"candidates\":["
	    "{\"text\":\"first\\nline two\\n\",\"probability\":0.75,"
	    "\"verbalized\":0.5,\"turn\":0,\"finish_reason\":\"length\"},"
	    "{\"text\":\"zweite — Ünïcödé 詩\",\"probability\":0.25,"
	    "\"verbalized\":null,\"turn\":1,\"finish_reason\":null}],"
	    "\"selected\":0,\"dedup\":{\"in_job\":3,\"in_scope\":1},"
	    "\"diversity\":{\"semantic\":null,\"rouge_l\":0.125,"
	    "\"distinct_1\":0.5,\"distinct_2\":0.75,\"distinct_3\":1.0,"
	    "\"vendi\":1.5,\"classes\":2},"
	    "\"usage\":{\"requests\":2,\"prompt_tokens\":100,"
	    "\"completion_tokens\":250,\"cost\":0.00275},\"attempts\":3,"
	    "\"failed_calls\":1,"
	    "\"latency_ms\":4321,\"source\":{\"topic\":\"vs.jobs\","
	    "\"partition\":7,\"offset\":123456789012},"
	    PROV_FULL_JSON
	    "\"metadata\":{\"k\":\"v\",\"n\":[1,-2]}}");
	ck_assert_ptr_null(strchr(s, '\n'));
	free(s);
	result_free(r);
}
END_TEST

START_TEST(test_json_error_and_nil)
{
	struct result *r = result_new();
	char *s = result_to_json(r);

	ck_assert_str_eq(s,
	    "{\"v\":1,\"id\":null,\"status\":\"ok\",\"error\":null,"
	    "\"method\":null,\"backend\":null,\"model\":null,"
	    "\"candidates\":[],\"selected\":null,\"dedup\":null,"
	    "\"diversity\":null,\"usage\":{\"requests\":0,"
	    "\"prompt_tokens\":0,\"completion_tokens\":0,\"cost\":null},"
	    "\"attempts\":0,"
	    "\"failed_calls\":0,\"latency_ms\":0,\"source\":null,"
	    "\"provenance\":{\"created\":null,\"vsampd\":\"" PACKAGE_VERSION
	    "\",\"template\":null,\"seed\":null,\"decoding\":null},"
	    "\"metadata\":null}");
	free(s);
	result_free(r);

	r = make_full();
	result_set_error(r, ERR_TIMEOUT, "job took \"too\" long\n");
	r->has_diversity = 1; /* ignored on an error */
	s = result_to_json(r);
	ck_assert_str_eq(s,
	    "{\"v\":1,\"id\":\"job-1\",\"status\":\"error\","
	    "\"error\":{\"code\":\"timeout\","
	    "\"message\":\"job took \\\"too\\\" long\\n\"},"
	    "\"method\":\"vs_standard\",\"backend\":\"local\","
	    "\"model\":\"m1\",\"candidates\":[],\"selected\":null,"
	    "\"dedup\":null,\"diversity\":null,\"usage\":{\"requests\":2,"
	    "\"prompt_tokens\":100,\"completion_tokens\":250,"
	    "\"cost\":0.00275},"
	    "\"attempts\":3,\"failed_calls\":1,\"latency_ms\":4321,"
	    "\"source\":{\"topic\":\"vs.jobs\",\"partition\":7,"
	    "\"offset\":123456789012},"
	    PROV_FULL_JSON
	    "\"metadata\":{\"k\":\"v\","
	    "\"n\":[1,-2]}}");
	free(s);
	result_free(r);
}
END_TEST

/* NaN and infinities are null wherever they appear. */
START_TEST(test_json_nan)
{
	struct result *r = make_full();
	char *s;

	r->cands[0].probability = NAN;
	r->cands[0].verbalized = INFINITY;
	r->rouge_l = -INFINITY;
	r->distinct[1] = NAN;
	s = result_to_json(r);
	ck_assert_ptr_nonnull(strstr(s,
	    "{\"text\":\"first\\nline two\\n\",\"probability\":null,"
	    "\"verbalized\":null,\"turn\":0,"));
	ck_assert_ptr_nonnull(strstr(s,
	    "\"diversity\":{\"semantic\":null,\"rouge_l\":null,"
	    "\"distinct_1\":0.5,\"distinct_2\":null,\"distinct_3\":1.0,"
	    "\"vendi\":1.5,\"classes\":2}"));
	free(s);
	result_free(r);
}
END_TEST

/* A number near the largest double must print as one a JSON reader
 * takes back as finite: 15 digits round DBL_MAX up past it (found by
 * fuzz_result). */
START_TEST(test_json_huge)
{
	struct result *r = make_full();
	json_error_t jerr;
	json_t *j;
	char *s;

	r->cands[0].verbalized = DBL_MAX;
	r->cands[1].verbalized = -nextafter(DBL_MAX, 0);
	s = result_to_json(r);
	j = json_loads(s, 0, &jerr);
	ck_assert_msg(j != NULL, "%s: %s", s, jerr.text);
	ck_assert_msg(strstr(s, "\"verbalized\":1.79769313486231e308") != NULL,
	    "%s", s);
	ck_assert_msg(strstr(s, "\"verbalized\":-1.79769313486231e308") != NULL,
	    "%s", s);
	json_decref(j);
	free(s);
	result_free(r);
}
END_TEST

static char *
json_with_metadata(const char *meta, size_t len)
{
	struct result *r = result_new();
	char *s, *p, *out;

	r->metadata = dup_bytes(meta, len);
	r->metadata_len = len;
	s = result_to_json(r);
	result_free(r);
	p = strstr(s, ",\"metadata\":");
	ck_assert_ptr_nonnull(p);
	out = strdup(p + strlen(",\"metadata\":"));
	free(s);
	return out;
}

/* A literal and its length without the terminating NUL. */
#define LIT(s) s, sizeof(s) - 1

static void
meta_is(const char *meta, size_t len, const char *want)
{
	char *got = json_with_metadata(meta, len);

	/* got ends with the closing brace of the result. */
	ck_assert_msg(
	    strlen(got) == strlen(want) + 1, "got %s, want %s}", got, want);
	ck_assert_mem_eq(got, want, strlen(want));
	ck_assert_str_eq(got + strlen(want), "}");
	free(got);
}

START_TEST(test_json_metadata)
{
	/* {1: "a", -2: true, nil: 1, 1.5: 2, [1]: 3, bin "\x01": 4} */
	static const char keys[] = "\x86\x01\xa1"
				   "a\xfe\xc3\xc0\x01\xcb\x3f\xf8\x00\x00"
				   "\x00\x00\x00\x00\x02\x91\x01\x03\xc4\x01"
				   "\x01\x04";
	/* [bin "hello", bin "", ext 1 "xy", fixext, float32 1.5, NaN,
	 *  uint64 max, int64 min, nil, false] */
	static const char vals[] = "\x9a\xc4\x05hello\xc4\x00\xc7\x02\x01xy"
				   "\xd4\x05\x00\xca\x3f\xc0\x00\x00"
				   "\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"
				   "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"
				   "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"
				   "\xc0\xc2";

	meta_is(LIT("\xc0"), "null");
	meta_is(LIT("\x2a"), "42");
	meta_is(LIT("\xa3\x61\x0a\x62"), "\"a\\nb\"");
	/* A bin key is the JSON text of its base64 string, quotes and all. */
	meta_is(LIT(keys),
	    "{\"1\":\"a\",\"-2\":true,\"null\":1,\"1.5\":2,\"[1]\":3,"
	    "\"\\\"AQ==\\\"\":4}");
	/* ext data is base64 as bin is (the type byte is not shown); reals
	 * have 15 significant digits. */
	meta_is(LIT(vals),
	    "[\"aGVsbG8=\",\"\",\"eHk=\",\"AA==\",1.5,null,"
	    "1.84467440737096e19,-9223372036854775808,null,false]");
	/* Base64 padding of one and two bytes, and none. */
	meta_is(LIT("\x93\xc4\x01\xff\xc4\x02\xff\xfe\xc4\x03\x00\x00\x00"),
	    "[\"/w==\",\"//4=\",\"AAAA\"]");
	/* Nested maps and a later duplicate key. */
	meta_is(LIT("\x82\xa1k\x81\xa1x\x90\xa1k\x01"), "{\"k\":1}");
	/* Invalid metadata bytes are null, not a broken line. */
	meta_is(LIT("\xc1"), "null");
	meta_is(LIT("\x92\x01"), "null");
	meta_is(LIT("\x01\x02"), "null");
	/* Strings that are not UTF-8, in values and keys. */
	meta_is(LIT("\x81\xa2\xff\x41\xa3\x61\xc3\x28"),
	    "{\"\xef\xbf\xbd"
	    "A\":\"a\xef\xbf\xbd(\"}");
}
END_TEST

/* Candidate text keeps its newlines, tabs, quotes, NULs and Unicode:
 * reading the JSON back gives the same bytes. Bad UTF-8 becomes U+FFFD. */
START_TEST(test_json_text)
{
	static const char poem[] = "  The sea, the sea —\n\tit \"sings\"\r\n"
				   "\xf0\x9f\x8c\x8a and \\ then\0 silence\n";
	struct result *r = result_new();
	json_t *j, *t;
	json_error_t jerr;
	char *s;

	r->ncands = 2;
	r->cands = calloc(2, sizeof(*r->cands));
	r->cands[0].text = dup_bytes(poem, sizeof(poem) - 1);
	r->cands[0].len = sizeof(poem) - 1;
	r->cands[0].probability = 1;
	r->cands[0].verbalized = NAN;
	r->cands[1].text = dup_bytes("ok\xff\xc3", 4);
	r->cands[1].len = 4;
	s = result_to_json(r);
	ck_assert_ptr_null(strchr(s, '\n'));
	j = json_loads(s, JSON_ALLOW_NUL, &jerr);
	ck_assert_msg(j != NULL, "%s", jerr.text);
	t = json_object_get(
	    json_array_get(json_object_get(j, "candidates"), 0), "text");
	ck_assert_uint_eq(json_string_length(t), sizeof(poem) - 1);
	ck_assert_mem_eq(json_string_value(t), poem, sizeof(poem) - 1);
	t = json_object_get(
	    json_array_get(json_object_get(j, "candidates"), 1), "text");
	ck_assert_str_eq(json_string_value(t), "ok\xef\xbf\xbd\xef\xbf\xbd");
	json_decref(j);
	free(s);
	result_free(r);
}
END_TEST

static Suite *
result_suite(void)
{
	Suite *s = suite_create("result");
	TCase *tc;

	tc = tcase_create("encode");
	tcase_add_test(tc, test_err_codes);
	tcase_add_test(tc, test_new);
	tcase_add_test(tc, test_encode_ok);
	tcase_add_test(tc, test_encode_error);
	tcase_add_test(tc, test_encode_nil);
	tcase_add_test(tc, test_encode_defensive);
	tcase_add_test(tc, test_set_error);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_golden_decode);
	tcase_add_test(tc, test_golden_encode);
	suite_add_tcase(s, tc);

	tc = tcase_create("decode");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_decode_rejects);
	tcase_add_test(tc, test_decode_hostile);
	tcase_add_test(tc, test_decode_nesting);
	tcase_add_test(tc, test_decode_random);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, test_json_ok);
	tcase_add_test(tc, test_json_error_and_nil);
	tcase_add_test(tc, test_json_nan);
	tcase_add_test(tc, test_json_huge);
	tcase_add_test(tc, test_json_metadata);
	tcase_add_test(tc, test_json_text);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(result_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
