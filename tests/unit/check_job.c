/*
 * check_job: the job decoder (docs/schema.md).
 *
 * Valid jobs in both formats (one of them, tests/data/job/full.msgpack,
 * written by python3-msgpack rather than by msgpack-c), every validation
 * error with its exact message, the id handed back on errors, UTF-8 and
 * NUL checks, nesting limits, truncation at every length, trailing data,
 * metadata round trips and a few thousand pseudo-random inputs.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "chat.h"
#include "job.h"
#include "method.h"
#include "select.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

static char err[512];

/* Decode, keeping the error in err; *idp is always set (maybe NULL). */
static struct job *
dec(const void *p, size_t n, char **idp)
{
	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	return job_decode(p, n, idp, err, sizeof(err));
}

static struct job *
decs(const char *s, char **idp)
{
	return dec(s, strlen(s), idp);
}

static char *
read_fixture(const char *name, size_t *lenp)
{
	char path[512];
	FILE *f;
	char *p;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/job/%s", SRCDIR, name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_gt(n, 0);
	rewind(f);
	p = malloc((size_t)n);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*lenp = (size_t)n;
	return p;
}

/*
 * Pack values by format: M map(int), A array(int), s str, S str with
 * length (const char *, size_t), B bin (const char *, size_t), i int64
 * (long long), u uint64 (unsigned long long), d float64, f float32
 * (double), t true, F false, n nil, X raw bytes (const char *, size_t).
 * Spaces are ignored.
 */
static void
vpack(msgpack_sbuffer *sb, const char *fmt, va_list ap)
{
	msgpack_packer pk;
	const char *s;
	size_t n;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	for (; *fmt != '\0'; fmt++) {
		switch (*fmt) {
		case ' ':
			break;
		case 'M':
			msgpack_pack_map(&pk, (size_t)va_arg(ap, int));
			break;
		case 'A':
			msgpack_pack_array(&pk, (size_t)va_arg(ap, int));
			break;
		case 's':
			s = va_arg(ap, const char *);
			msgpack_pack_str_with_body(&pk, s, strlen(s));
			break;
		case 'S':
			s = va_arg(ap, const char *);
			n = va_arg(ap, size_t);
			msgpack_pack_str_with_body(&pk, s, n);
			break;
		case 'B':
			s = va_arg(ap, const char *);
			n = va_arg(ap, size_t);
			msgpack_pack_bin_with_body(&pk, s, n);
			break;
		case 'X':
			s = va_arg(ap, const char *);
			n = va_arg(ap, size_t);
			msgpack_sbuffer_write(sb, s, n);
			break;
		case 'i':
			msgpack_pack_int64(&pk, va_arg(ap, long long));
			break;
		case 'u':
			msgpack_pack_uint64(
			    &pk, va_arg(ap, unsigned long long));
			break;
		case 'd':
			msgpack_pack_double(&pk, va_arg(ap, double));
			break;
		case 'f':
			msgpack_pack_float(&pk, (float)va_arg(ap, double));
			break;
		case 't':
			msgpack_pack_true(&pk);
			break;
		case 'F':
			msgpack_pack_false(&pk);
			break;
		case 'n':
			msgpack_pack_nil(&pk);
			break;
		default:
			ck_abort_msg("bad pack format %c", *fmt);
		}
	}
}

static void
pack(msgpack_sbuffer *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpack(sb, fmt, ap);
	va_end(ap);
}

/* {"id": "j", "prompt": "p", key: <value by fmt>} */
static void
job3(msgpack_sbuffer *sb, const char *key, const char *fmt, ...)
{
	va_list ap;

	msgpack_sbuffer_init(sb);
	pack(sb, "M s s s s s", 3, "id", "j", "prompt", "p", key);
	va_start(ap, fmt);
	vpack(sb, fmt, ap);
	va_end(ap);
}

/* A job from job3 must fail with message want, handing back id "j". */
static void
expect3(msgpack_sbuffer *sb, const char *want)
{
	struct job *job;
	char *id;

	job = dec(sb->data, sb->size, &id);
	ck_assert_msg(job == NULL, "accepted, wanted \"%s\"", want);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_nonnull(id);
	ck_assert_str_eq(id, "j");
	free(id);
	msgpack_sbuffer_destroy(sb);
}

/* A job from job3 must be accepted. */
static struct job *
accept3(msgpack_sbuffer *sb)
{
	struct job *job;
	char *id;

	job = dec(sb->data, sb->size, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_ptr_null(id);
	msgpack_sbuffer_destroy(sb);
	return job;
}

static void
check_full(const struct job *job, uint64_t seed)
{
	msgpack_unpacked up;
	msgpack_object *m;
	size_t off = 0;

	ck_assert_str_eq(job->id, "job-42");
	ck_assert_str_eq(
	    job->prompt, "Write a haiku about the sea.\nKeep it short.");
	ck_assert_uint_eq(job->nmessages, 4);
	ck_assert_int_eq(job->messages[0].role, ROLE_SYSTEM);
	ck_assert_str_eq(job->messages[0].content, "You are a poet.");
	ck_assert_int_eq(job->messages[1].role, ROLE_USER);
	ck_assert_str_eq(job->messages[1].content, "Hello");
	ck_assert_int_eq(job->messages[2].role, ROLE_ASSISTANT);
	ck_assert_str_eq(job->messages[2].content, "Hi! \xe2\x9c\xa8");
	/* The prompt is merged in as the last user turn. */
	ck_assert_int_eq(job->messages[3].role, ROLE_USER);
	ck_assert_str_eq(job->messages[3].content, job->prompt);
	ck_assert_ptr_ne(job->messages[3].content, job->prompt);
	ck_assert_int_eq(job->method, METHOD_VS_COT);
	ck_assert_int_eq(job->k, 7);
	ck_assert_int_eq(job->n, 21);
	ck_assert_double_eq(job->tail, 0.1);
	ck_assert_double_eq(job->min_probability, 0.05);
	ck_assert_int_eq(job->select, SELECT_TOP);
	ck_assert_int_eq(job->has_seed, 1);
	ck_assert_uint_eq(job->seed, seed);
	ck_assert_str_eq(job->backend, "local");
	ck_assert_str_eq(job->model, "smollm2");
	ck_assert_double_eq(job->temperature, 0.7);
	ck_assert_double_eq(job->top_p, 0.95);
	ck_assert_int_eq(job->max_tokens, 512);
	ck_assert_str_eq(job->instructions, "At most 20 words.");
	ck_assert_str_eq(job->dedup_scope, "poems");
	ck_assert_int_eq(job->embed, 1);

	/* metadata: {"run": 3, "tags": ["a", "b"], "score": 0.5, "nil": nil} */
	ck_assert_ptr_nonnull(job->metadata);
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(
	    msgpack_unpack_next(&up, job->metadata, job->metadata_len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, job->metadata_len);
	m = &up.data;
	ck_assert_int_eq(m->type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(m->via.map.size, 4);
	ck_assert_int_eq(
	    m->via.map.ptr[0].val.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
	ck_assert_uint_eq(m->via.map.ptr[0].val.via.u64, 3);
	ck_assert_int_eq(m->via.map.ptr[1].val.type, MSGPACK_OBJECT_ARRAY);
	ck_assert_uint_eq(m->via.map.ptr[1].val.via.array.size, 2);
	ck_assert_int_eq(m->via.map.ptr[2].val.type, MSGPACK_OBJECT_FLOAT64);
	ck_assert_double_eq(m->via.map.ptr[2].val.via.f64, 0.5);
	ck_assert_int_eq(m->via.map.ptr[3].val.type, MSGPACK_OBJECT_NIL);
	ck_assert_uint_eq(m->via.map.ptr[3].key.via.str.size, 3);
	ck_assert_int_eq(
	    memcmp(m->via.map.ptr[3].key.via.str.ptr, "nil", 3), 0);
	msgpack_unpacked_destroy(&up);
}

START_TEST(test_select_names)
{
	enum select_mode m;

	ck_assert_str_eq(select_mode_name(SELECT_WEIGHTED), "weighted");
	ck_assert_str_eq(select_mode_name(SELECT_UNIFORM), "uniform");
	ck_assert_str_eq(select_mode_name(SELECT_TOP), "top");
	ck_assert_str_eq(select_mode_name(SELECT_NONE), "none");
	ck_assert_ptr_null(select_mode_name((enum select_mode)4));
	ck_assert_ptr_null(select_mode_name((enum select_mode) - 1));
	ck_assert_int_eq(select_mode_parse("top", &m), 0);
	ck_assert_int_eq(m, SELECT_TOP);
	ck_assert_int_eq(select_mode_parse("none", &m), 0);
	ck_assert_int_eq(m, SELECT_NONE);
	ck_assert_int_eq(select_mode_parse("Top", &m), -1);
	ck_assert_int_eq(select_mode_parse("", &m), -1);
}
END_TEST

START_TEST(test_fixture_msgpack)
{
	struct job *job;
	size_t len;
	char *buf, *id;

	buf = read_fixture("full.msgpack", &len);
	job = dec(buf, len, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_ptr_null(id);
	check_full(job, UINT64_MAX);
	job_free(job);
	free(buf);
}
END_TEST

START_TEST(test_fixture_json)
{
	struct job *job;
	size_t len;
	char *buf, *id, *bom;

	buf = read_fixture("full.json", &len);
	job = dec(buf, len, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_ptr_null(id);
	check_full(job, INT64_MAX);
	job_free(job);

	/* The same with a BOM and leading whitespace. */
	bom = malloc(len + 8);
	memcpy(bom, "\xef\xbb\xbf \r\n\t  ", 8);
	memcpy(bom + 8, buf, len);
	job = dec(bom, len + 8, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	check_full(job, INT64_MAX);
	job_free(job);
	free(bom);
	free(buf);
}
END_TEST

/* Every field built with msgpack-c, floats for some integer fields. */
START_TEST(test_msgpack_every_field)
{
	msgpack_sbuffer sb;
	struct job *job;
	char *id;

	msgpack_sbuffer_init(&sb);
	pack(&sb, "M", 19);
	pack(&sb, "s s", "id", "a");
	pack(&sb, "s s", "prompt", "task");
	pack(&sb, "s A M s s s s", "messages", 1, 2, "content", "earlier",
	    "role", "user");
	pack(&sb, "s s", "method", "direct");
	pack(&sb, "s d", "k", 100.0);
	pack(&sb, "s u", "n", 1000ULL);
	pack(&sb, "s i", "tail", 1LL);
	pack(&sb, "s i", "min_probability", 0LL);
	pack(&sb, "s s", "select", "none");
	pack(&sb, "s u", "seed", 0ULL);
	pack(&sb, "s s", "backend", "b");
	pack(&sb, "s s", "model", "m");
	pack(&sb, "s f", "temperature", 2.0);
	pack(&sb, "s f", "top_p", 0.5);
	pack(&sb, "s d", "max_tokens", 1000000.0);
	pack(&sb, "s s", "instructions", "");
	pack(&sb, "s s", "dedup_scope", "s");
	pack(&sb, "s F", "embed");
	pack(&sb, "s i", "metadata", 7LL);
	job = dec(sb.data, sb.size, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_str_eq(job->id, "a");
	ck_assert_str_eq(job->prompt, "task");
	ck_assert_uint_eq(job->nmessages, 2);
	ck_assert_str_eq(job->messages[0].content, "earlier");
	ck_assert_int_eq(job->messages[1].role, ROLE_USER);
	ck_assert_str_eq(job->messages[1].content, "task");
	ck_assert_int_eq(job->method, METHOD_DIRECT);
	ck_assert_int_eq(job->k, 100);
	ck_assert_int_eq(job->n, 1000);
	ck_assert_double_eq(job->tail, 1.0);
	ck_assert_double_eq(job->min_probability, 0.0);
	ck_assert_int_eq(job->select, SELECT_NONE);
	ck_assert_int_eq(job->has_seed, 1);
	ck_assert_uint_eq(job->seed, 0);
	ck_assert_str_eq(job->backend, "b");
	ck_assert_str_eq(job->model, "m");
	ck_assert_double_eq(job->temperature, 2.0);
	ck_assert_double_eq(job->top_p, 0.5);
	ck_assert_int_eq(job->max_tokens, 1000000);
	ck_assert_str_eq(job->instructions, "");
	ck_assert_str_eq(job->dedup_scope, "s");
	ck_assert_int_eq(job->embed, 0);
	ck_assert_uint_eq(job->metadata_len, 1);
	ck_assert_int_eq((unsigned char)job->metadata[0], 0x07);
	job_free(job);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Every optional field of job is unset. */
static void
assert_unset(const struct job *job)
{
	ck_assert_int_eq(job->method, -1);
	ck_assert_int_eq(job->k, 0);
	ck_assert_int_eq(job->n, 0);
	ck_assert(isnan(job->tail));
	ck_assert(isnan(job->min_probability));
	ck_assert_int_eq(job->min_keep, 0);
	ck_assert_int_eq(job->select, -1);
	ck_assert_int_eq(job->has_seed, 0);
	ck_assert_ptr_null(job->backend);
	ck_assert_ptr_null(job->model);
	ck_assert(isnan(job->temperature));
	ck_assert(isnan(job->top_p));
	ck_assert_int_eq(job->max_tokens, 0);
	ck_assert_ptr_null(job->instructions);
	ck_assert_ptr_null(job->dedup_scope);
	ck_assert_int_eq(job->embed, -1);
	ck_assert_ptr_null(job->metadata);
}

START_TEST(test_defaults)
{
	struct job *job;
	char *id;

	job = decs("{\"prompt\": \"p\", \"id\": \"x\"}", &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_ptr_null(id);
	ck_assert_str_eq(job->id, "x");
	ck_assert_str_eq(job->prompt, "p");
	ck_assert_ptr_null(job->messages);
	ck_assert_uint_eq(job->nmessages, 0);
	assert_unset(job);
	ck_assert_uint_eq(job->metadata_len, 0);
	job_free(job);
	job_free(NULL);

	/* Every field but id given as null is unset: the same defaults. */
	job = decs("{\"id\":\"x\",\"prompt\":\"p\",\"messages\":null,"
		   "\"method\":null,\"k\":null,\"n\":null,\"tail\":null,"
		   "\"min_probability\":null,\"min_keep\":null,"
		   "\"select\":null,\"seed\":null,"
		   "\"backend\":null,\"model\":null,\"temperature\":null,"
		   "\"top_p\":null,\"max_tokens\":null,"
		   "\"instructions\":null,\"dedup_scope\":null,"
		   "\"embed\":null,\"metadata\":null}",
	    &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	assert_unset(job);
	job_free(job);
	/* The id may not be null. */
	job = job_decode("{\"id\":null,\"prompt\":\"p\"}", 24, NULL, err,
	    sizeof(err));
	ck_assert_ptr_null(job);

	/* idp may be NULL, on success and on failure. */
	job = job_decode(
	    "{\"id\":\"x\",\"prompt\":\"p\"}", 23, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(job);
	job_free(job);
	job = job_decode("{\"id\":\"x\",\"k\":0}", 16, NULL, err, sizeof(err));
	ck_assert_ptr_null(job);
	ck_assert_str_eq(err, "k: must be an integer from 1 to 100");
	/* A short error buffer is truncated, never overrun. */
	job = job_decode("{\"id\":\"x\",\"k\":0}", 16, NULL, err, 4);
	ck_assert_ptr_null(job);
	ck_assert_str_eq(err, "k: ");
	ck_assert_ptr_null(job_decode("{}", 2, NULL, NULL, 0));
}
END_TEST

START_TEST(test_messages)
{
	struct job *job;
	char *id;

	/* Messages alone: the last user turn is the task. */
	job = decs("{\"id\":\"d\",\"messages\":["
		   "{\"role\":\"system\",\"content\":\"be brief\"},"
		   "{\"role\":\"user\",\"content\":\"hi\"},"
		   "{\"content\":\"hello\",\"role\":\"assistant\"},"
		   "{\"role\":\"user\",\"content\":\"line 1\\nline 2\"}]}",
	    &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_ptr_null(job->prompt);
	ck_assert_uint_eq(job->nmessages, 4);
	ck_assert_int_eq(job->messages[0].role, ROLE_SYSTEM);
	ck_assert_int_eq(job->messages[2].role, ROLE_ASSISTANT);
	ck_assert_str_eq(job->messages[2].content, "hello");
	ck_assert_int_eq(job->messages[3].role, ROLE_USER);
	ck_assert_str_eq(job->messages[3].content, "line 1\nline 2");
	job_free(job);

	/* Empty messages with a prompt: the prompt is the one turn. */
	job = decs("{\"id\":\"d\",\"messages\":[],\"prompt\":\"p\"}", &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_uint_eq(job->nmessages, 1);
	ck_assert_int_eq(job->messages[0].role, ROLE_USER);
	ck_assert_str_eq(job->messages[0].content, "p");
	job_free(job);

	/* A user turn followed by the prompt: both kept, prompt last. */
	job = decs("{\"id\":\"d\",\"prompt\":\"now\",\"messages\":["
		   "{\"role\":\"user\",\"content\":\"before\"}]}",
	    &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_uint_eq(job->nmessages, 2);
	ck_assert_str_eq(job->messages[0].content, "before");
	ck_assert_str_eq(job->messages[1].content, "now");
	ck_assert_int_eq(job->messages[1].role, ROLE_USER);
	job_free(job);

	/* Last message not from the user, and no prompt. */
	job = decs("{\"id\":\"d\",\"messages\":["
		   "{\"role\":\"user\",\"content\":\"hi\"},"
		   "{\"role\":\"assistant\",\"content\":\"hello\"}]}",
	    &id);
	ck_assert_ptr_null(job);
	ck_assert_str_eq(err,
	    "messages: the last message must have role user, unless a "
	    "prompt is given");
	ck_assert_str_eq(id, "d");
	free(id);
}
END_TEST

struct bad {
	const char *in;
	const char *err; /* a trailing '*' matches any rest */
	const char *id; /* id handed back, or NULL */
};

/* Bad values hold "zzz" so that an echo of input would be seen. */
static const struct bad bad_json[] = {
    {"{}", "id: missing", NULL},
    {"{\"prompt\":\"zzz\"}", "id: missing", NULL},
    {"{\"id\":\"\",\"prompt\":\"p\"}", "id: must be a string of 1 to 256 bytes",
	NULL},
    {"{\"id\":5,\"prompt\":\"p\"}", "id: must be a string of 1 to 256 bytes",
	NULL},
    {"{\"id\":null,\"prompt\":\"p\"}", "id: must be a string of 1 to 256 bytes",
	NULL},
    {"{\"id\":[\"zzz\"],\"prompt\":\"p\"}",
	"id: must be a string of 1 to 256 bytes", NULL},
    {"{\"id\":\"zzz\\u0000\",\"prompt\":\"p\"}",
	"id: must not contain NUL bytes", NULL},
    {"{\"id\":\"zzz\\u001b[31m\",\"prompt\":\"p\"}",
	"id: must not contain control characters", NULL},
    {"{\"id\":\"zz\\nz\",\"prompt\":\"p\"}",
	"id: must not contain control characters", NULL},
    {"{\"id\":\"zzz\\u007f\",\"prompt\":\"p\"}",
	"id: must not contain control characters", NULL},
    {"{\"id\":\"zzz\\u0085\",\"prompt\":\"p\"}",
	"id: must not contain control characters", NULL},
    {"{\"id\":\"j\"}", "prompt or messages is required", "j"},
    {"{\"id\":\"j\",\"prompt\":null}", "prompt or messages is required",
	"j"},
    {"{\"id\":\"j\",\"prompt\":5}", "prompt: must be a string", "j"},
    {"{\"id\":\"j\",\"prompt\":\"zzz\\u0000zzz\"}",
	"prompt: must not contain NUL bytes", "j"},
    /* The id is read first, whatever the key order. */
    {"{\"k\":0,\"prompt\":\"p\",\"id\":\"j\"}",
	"k: must be an integer from 1 to 100", "j"},
    /* Fields are checked in a fixed order, not in key order. */
    {"{\"k\":0,\"prompt\":5,\"id\":\"j\"}", "prompt: must be a string", "j"},
    {"{\"id\":\"j\",\"messages\":\"zzz\"}",
	"messages: must be an array of {role, content} maps", "j"},
    {"{\"id\":\"j\",\"messages\":{}}",
	"messages: must be an array of {role, content} maps", "j"},
    {"{\"id\":\"j\",\"messages\":[]}",
	"messages: must not be empty without a prompt", "j"},
    {"{\"id\":\"j\",\"messages\":[\"zzz\"]}",
	"messages[0]: must be a map with role and content", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
     "{\"content\":\"zzz\"}]}",
	"messages[1].role: missing", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
     "{\"role\":\"user\",\"content\":\"a\"},"
     "{\"role\":\"zzz\",\"content\":\"a\"}]}",
	"messages[2].role: must be system, user or assistant", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":\"User\",\"content\":\"a\"}]}",
	"messages[0].role: must be system, user or assistant", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":1,\"content\":\"a\"}]}",
	"messages[0].role: must be system, user or assistant", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
     "zzzzzzz\",\"content\":\"a\"}]}",
	"messages[0].role: must be system, user or assistant", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":\"user\\u0000\",\"content\":"
     "\"a\"}]}",
	"messages[0].role: must not contain NUL bytes", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":\"user\"}]}",
	"messages[0].content: missing", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":\"user\",\"content\":5}]}",
	"messages[0].content: must be a string", "j"},
    {"{\"id\":\"j\",\"messages\":[{\"role\":\"user\",\"content\":\"zzz\\u0000"
     "\"}]}",
	"messages[0].content: must not contain NUL bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"method\":\"zzz\"}",
	"method: must be one of direct, direct_cot, sequence, multi_turn, "
	"vs_standard, vs_cot, vs_multi, ssot",
	"j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"method\":\"VS_COT\"}",
	"method: must be one of direct, direct_cot, sequence, multi_turn, "
	"vs_standard, vs_cot, vs_multi, ssot",
	"j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"method\":4}",
	"method: must be one of direct, direct_cot, sequence, multi_turn, "
	"vs_standard, vs_cot, vs_multi, ssot",
	"j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"method\":\"direct\\u0000\"}",
	"method: must not contain NUL bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":0}",
	"k: must be an integer from 1 to 100", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":101}",
	"k: must be an integer from 1 to 100", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":-1}",
	"k: must be an integer from 1 to 100", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":2.5}",
	"k: must be an integer from 1 to 100", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":\"5\"}",
	"k: must be an integer from 1 to 100", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":true}",
	"k: must be an integer from 1 to 100", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"n\":0}",
	"n: must be an integer from 1 to 1000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"n\":1001}",
	"n: must be an integer from 1 to 1000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"n\":1e300}",
	"n: must be an integer from 1 to 1000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"tail\":0}",
	"tail: must be a number greater than 0 and at most 1", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"tail\":1.5}",
	"tail: must be a number greater than 0 and at most 1", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"tail\":\"zzz\"}",
	"tail: must be a number greater than 0 and at most 1", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"min_keep\":0}",
	"min_keep: must be an integer from 1 to 1000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"min_keep\":1001}",
	"min_keep: must be an integer from 1 to 1000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"min_keep\":\"2\"}",
	"min_keep: must be an integer from 1 to 1000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"min_probability\":-0.1}",
	"min_probability: must be a number from 0 to 1", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"min_probability\":1.01}",
	"min_probability: must be a number from 0 to 1", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"select\":\"zzz\"}",
	"select: must be weighted, uniform, top or none", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"select\":1}",
	"select: must be weighted, uniform, top or none", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"select\":\"top\\u0000\"}",
	"select: must not contain NUL bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"seed\":-1}",
	"seed: must be an integer from 0 to 18446744073709551615", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"seed\":1.5}",
	"seed: must be an integer from 0 to 18446744073709551615", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"seed\":\"1\"}",
	"seed: must be an integer from 0 to 18446744073709551615", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"seed\":1e30}",
	"seed: must be an integer from 0 to 18446744073709551615", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"backend\":\"\"}",
	"backend: must be a string of 1 to 256 bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"backend\":5}",
	"backend: must be a string of 1 to 256 bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"backend\":\"zzz\\u0000\"}",
	"backend: must not contain NUL bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"model\":\"\"}",
	"model: must be a string of 1 to 1024 bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"model\":\"\\u0000zzz\"}",
	"model: must not contain NUL bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"temperature\":-0.5}",
	"temperature: must be a number from 0 to 2", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"temperature\":2.5}",
	"temperature: must be a number from 0 to 2", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"temperature\":\"zzz\"}",
	"temperature: must be a number from 0 to 2", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"top_p\":0}",
	"top_p: must be a number greater than 0 and at most 1", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"top_p\":1.5}",
	"top_p: must be a number greater than 0 and at most 1", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"max_tokens\":0}",
	"max_tokens: must be an integer from 1 to 1000000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"max_tokens\":1000001}",
	"max_tokens: must be an integer from 1 to 1000000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"max_tokens\":10.5}",
	"max_tokens: must be an integer from 1 to 1000000", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"instructions\":5}",
	"instructions: must be a string", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"instructions\":\"zzz\\u0000\"}",
	"instructions: must not contain NUL bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"dedup_scope\":\"\"}",
	"dedup_scope: must be a string of 1 to 256 bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"dedup_scope\":[\"zzz\"]}",
	"dedup_scope: must be a string of 1 to 256 bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"dedup_scope\":\"zzz\\u0000\"}",
	"dedup_scope: must not contain NUL bytes", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"embed\":1}",
	"embed: must be true or false", "j"},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"embed\":\"true\"}",
	"embed: must be true or false", "j"},
    /* Decode errors: no id, even when one could be seen. */
    {"{\"id\":\"j\",\"prompt\":\"p\",\"id\":\"zzz\"}",
	"job: duplicate key in a JSON object (line 1)", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"metadata\":{\"a\":1,\"a\":2}}",
	"job: duplicate key in a JSON object (line 1)", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":1e999}",
	"job: JSON number out of range (line 1)", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"seed\":18446744073709551615}",
	"job: JSON number out of range (line 1)", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":NaN}", "job: invalid JSON (line 1*",
	NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\",\"k\":Infinity}",
	"job: invalid JSON (line 1*", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\",}", "job: invalid JSON (line 1*", NULL},
    {"{\"id\":\"j\",\n\"prompt\":zzz}", "job: invalid JSON (line 2*", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\\ud800\"}", "job: invalid JSON (line 1*",
	NULL},
    {"{\"id\":\"j\",\"prompt\":\"zzz", "job: truncated JSON", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\"} zzz", "trailing data after job", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\"}{}", "trailing data after job", NULL},
    {"{\"id\":\"j\",\"prompt\":\"p\"}]", "trailing data after job", NULL},
    {"", "job: empty", NULL},
    {"   ", "job: not a msgpack map or JSON object", NULL},
    {"\xef\xbb\xbf", "job: not a msgpack map or JSON object", NULL},
    {"[{\"id\":\"zzz\"}]", "job: not a msgpack map or JSON object", NULL},
    {"\"zzz\"", "job: not a msgpack map or JSON object", NULL},
    {"true", "job: not a msgpack map or JSON object", NULL},
    {"zzz", "job: not a msgpack map or JSON object", NULL},
};

static void
check_bad(const char *in, size_t len, const struct bad *b)
{
	struct job *job;
	size_t wl = strlen(b->err);
	char *id;

	job = dec(in, len, &id);
	ck_assert_msg(job == NULL, "accepted %s", in);
	if (wl > 0 && b->err[wl - 1] == '*')
		ck_assert_msg(strncmp(err, b->err, wl - 1) == 0,
		    "for %s: got \"%s\", want \"%s\"", in, err, b->err);
	else
		ck_assert_msg(strcmp(err, b->err) == 0,
		    "for %s: got \"%s\", want \"%s\"", in, err, b->err);
	ck_assert_msg(strstr(err, "zzz") == NULL, "input echoed: %s", err);
	if (b->id == NULL)
		ck_assert_msg(id == NULL, "for %s: id handed back", in);
	else {
		ck_assert_msg(id != NULL, "for %s: no id handed back", in);
		ck_assert_str_eq(id, b->id);
	}
	free(id);
}

START_TEST(test_json_errors)
{
	check_bad(bad_json[_i].in, strlen(bad_json[_i].in), &bad_json[_i]);
}
END_TEST

START_TEST(test_json_limits)
{
	char id[300], in[400];
	struct job *job;
	struct bad b;
	char *idp;

	/* 256 bytes is the longest id, 257 too long. */
	memset(id, 'a', 256);
	id[256] = '\0';
	snprintf(in, sizeof(in), "{\"id\":\"%s\",\"prompt\":\"p\"}", id);
	job = decs(in, &idp);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_uint_eq(strlen(job->id), 256);
	job_free(job);
	snprintf(in, sizeof(in), "{\"id\":\"%sz\",\"prompt\":\"p\"}", id);
	b.in = in;
	b.err = "id: must be a string of 1 to 256 bytes";
	b.id = NULL;
	check_bad(in, strlen(in), &b);
	/* The same for dedup_scope. */
	snprintf(in, sizeof(in),
	    "{\"id\":\"j\",\"prompt\":\"p\",\"dedup_scope\":\"%s\"}", id);
	job = decs(in, &idp);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_uint_eq(strlen(job->dedup_scope), 256);
	job_free(job);
	snprintf(in, sizeof(in),
	    "{\"id\":\"j\",\"prompt\":\"p\",\"dedup_scope\":\"%sz\"}", id);
	b.err = "dedup_scope: must be a string of 1 to 256 bytes";
	b.id = "j";
	check_bad(in, strlen(in), &b);
	/* A 4-byte character counts as 4 bytes. */
	snprintf(in, sizeof(in),
	    "{\"id\":\"%.253s\xf0\x9f\x98\x80\",\"prompt\":\"p\"}", id);
	b.err = "id: must be a string of 1 to 256 bytes";
	b.id = NULL;
	check_bad(in, strlen(in), &b);

	/* Integral floats are integers; bounds are inclusive. */
	job = decs("{\"id\":\"j\",\"prompt\":\"p\",\"k\":5.0,\"n\":1,"
		   "\"tail\":1,\"min_probability\":1,\"temperature\":0,"
		   "\"top_p\":1,\"max_tokens\":1,\"seed\":3.0}",
	    &idp);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_int_eq(job->k, 5);
	ck_assert_int_eq(job->n, 1);
	ck_assert_double_eq(job->tail, 1.0);
	ck_assert_double_eq(job->min_probability, 1.0);
	ck_assert_double_eq(job->temperature, 0.0);
	ck_assert_double_eq(job->top_p, 1.0);
	ck_assert_int_eq(job->max_tokens, 1);
	ck_assert_uint_eq(job->seed, 3);
	job_free(job);

	/* Exact bytes: escapes, newlines, non-ASCII, U+FDD0 itself. */
	job = decs("{\"id\":\"\\u00e9t\\u00e9\",\"prompt\":\"a\\tb\\n  c "
		   "\\ud83d\\ude00 \xef\xb7\x90 \\ufdd1\"}",
	    &idp);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_str_eq(job->id, "\xc3\xa9t\xc3\xa9");
	ck_assert_str_eq(job->prompt,
	    "a\tb\n  c \xf0\x9f\x98\x80 \xef\xb7\x90 \xef\xb7\x91");
	job_free(job);
}
END_TEST

/* Invalid UTF-8 in JSON is reported with the field's name. */
START_TEST(test_json_bad_utf8)
{
	static const struct bad cases[] = {
	    {"{\"id\":\"j\",\"prompt\":\"zzz\xff\"}", "prompt: invalid UTF-8",
		"j"},
	    {"{\"prompt\":\"p\xc0\x80\",\"id\":\"j\"}", "prompt: invalid UTF-8",
		"j"},
	    {"{\"id\":\"j\",\"prompt\":\"\xed\xa0\x80\"}",
		"prompt: invalid UTF-8", "j"},
	    {"{\"id\":\"j\",\"prompt\":\"\xe2\x82\"}", "prompt: invalid UTF-8",
		"j"},
	    {"{\"id\":\"j\xff\",\"prompt\":\"p\"}", "id: invalid UTF-8", NULL},
	    {"{\"id\":\"j\",\"messages\":[{\"role\":\"user\",\"content\":"
	     "\"a\xfe\"}]}",
		"messages[0].content: invalid UTF-8", "j"},
	    {"{\"id\":\"j\",\"messages\":[{\"role\":\"us\xe9r\",\"content\":"
	     "\"a\"}]}",
		"messages[0].role: invalid UTF-8", "j"},
	    {"{\"id\":\"j\",\"messages\":[{\"role\":\"user\",\"content\":"
	     "\"a\",\"x\xff\":1}]}",
		"messages[0]: a field name is not valid UTF-8", "j"},
	    {"{\"id\":\"j\",\"prompt\":\"p\",\"metadata\":{\"a\":[\"\xff\"]}}",
		"metadata: invalid UTF-8", "j"},
	    {"{\"id\":\"j\",\"prompt\":\"p\",\"metadata\":{\"\xff\":1}}",
		"metadata: invalid UTF-8", "j"},
	    {"{\"id\":\"j\",\"prompt\":\"p\",\"x\xff\":1}",
		"job: a field name is not valid UTF-8", "j"},
	    {"{\"id\":\"j\",\"prompt\":\"p\",\"model\":\"\x80\"}",
		"model: invalid UTF-8", "j"},
	    /* The first markers are taken, raw or escaped: still found. */
	    {"{\"id\":\"j\",\"prompt\":\"\xef\xb7\x90\\uFDD1 fdd2 \xff\"}",
		"prompt: invalid UTF-8", "j"},
	    /* A marker in valid text elsewhere is never taken for one. */
	    {"{\"id\":\"j\",\"prompt\":\"\\uFDD0\",\"model\":\"\xff\"}",
		"model: invalid UTF-8", "j"},
	    {"{\"id\":\"j\",\"prompt\":\"\\ufdd0\\ufdd1\",\"model\":\"\xff\"}",
		"model: invalid UTF-8", "j"},
	    {"{\"id\":\"j\",\"prompt\":\"\xef\xb7\x90\",\"model\":\"\xff\"}",
		"model: invalid UTF-8", "j"},
	    /* Outside a string it is bad JSON. */
	    {"{\"id\":\"j\",\"prompt\":\"p\"\xff}",
		"job: invalid JSON (line 1*", NULL},
	};
	struct text {
		char *p;
		size_t n;
	} all;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(cases[i].in, strlen(cases[i].in), &cases[i]);

	/* Every marker taken: the error can no longer name the field. */
	all.p = malloc(4096);
	all.n = (size_t)snprintf(all.p, 4096, "{\"id\":\"j\",\"prompt\":\"");
	for (int i = 0; i < 32; i++)
		all.n += (size_t)snprintf(
		    all.p + all.n, 4096 - all.n, "\\u%04x", 0xfdd0 + i);
	all.n += (size_t)snprintf(all.p + all.n, 4096 - all.n, "\xff\"}");
	{
		struct bad b = {all.p, "job: invalid UTF-8", NULL};

		check_bad(all.p, all.n, &b);
	}
	free(all.p);
}
END_TEST

START_TEST(test_msgpack_errors)
{
	msgpack_sbuffer sb;
	struct job *job;
	char *id;

	/* NaN and infinities are never numbers. */
	job3(&sb, "temperature", "d", NAN);
	expect3(&sb, "temperature: must be a number from 0 to 2");
	job3(&sb, "temperature", "d", INFINITY);
	expect3(&sb, "temperature: must be a number from 0 to 2");
	job3(&sb, "top_p", "f", NAN);
	expect3(&sb, "top_p: must be a number greater than 0 and at most 1");
	job3(&sb, "tail", "d", -INFINITY);
	expect3(&sb, "tail: must be a number greater than 0 and at most 1");
	job3(&sb, "min_probability", "f", NAN);
	expect3(&sb, "min_probability: must be a number from 0 to 1");
	job3(&sb, "k", "d", NAN);
	expect3(&sb, "k: must be an integer from 1 to 100");
	job3(&sb, "n", "d", INFINITY);
	expect3(&sb, "n: must be an integer from 1 to 1000");
	job3(&sb, "max_tokens", "d", NAN);
	expect3(&sb, "max_tokens: must be an integer from 1 to 1000000");
	job3(&sb, "seed", "d", INFINITY);
	expect3(&sb, "seed: must be an integer from 0 to 18446744073709551615");
	job3(&sb, "seed", "d", NAN);
	expect3(&sb, "seed: must be an integer from 0 to 18446744073709551615");
	job3(&sb, "seed", "d", 18446744073709551616.0);
	expect3(&sb, "seed: must be an integer from 0 to 18446744073709551615");
	job3(&sb, "seed", "i", -1LL);
	expect3(&sb, "seed: must be an integer from 0 to 18446744073709551615");
	job3(&sb, "seed", "i", (long long)INT64_MIN);
	expect3(&sb, "seed: must be an integer from 0 to 18446744073709551615");
	job3(&sb, "k", "u", (unsigned long long)UINT64_MAX);
	expect3(&sb, "k: must be an integer from 1 to 100");
	job3(&sb, "k", "i", (long long)INT64_MIN);
	expect3(&sb, "k: must be an integer from 1 to 100");
	job3(&sb, "k", "d", 1e19);
	expect3(&sb, "k: must be an integer from 1 to 100");
	job3(&sb, "embed", "i", 1LL);
	expect3(&sb, "embed: must be true or false");
	/* bin is not a string. */
	job3(&sb, "model", "B", "m", (size_t)1);
	expect3(&sb, "model: must be a string of 1 to 1024 bytes");
	job3(&sb, "instructions", "B", "m", (size_t)1);
	expect3(&sb, "instructions: must be a string");

	/* Bad UTF-8 and NUL bytes, named by field. */
	job3(&sb, "instructions", "S", "a\xff", (size_t)2);
	expect3(&sb, "instructions: invalid UTF-8");
	job3(&sb, "backend", "S", "\xc0\xaf", (size_t)2);
	expect3(&sb, "backend: invalid UTF-8");
	job3(&sb, "dedup_scope", "S", "\xf4\x90\x80\x80", (size_t)4);
	expect3(&sb, "dedup_scope: invalid UTF-8");
	job3(&sb, "method", "S", "vs\xff", (size_t)3);
	expect3(&sb, "method: invalid UTF-8");
	job3(&sb, "select", "S", "top\0", (size_t)4);
	expect3(&sb, "select: must not contain NUL bytes");
	job3(&sb, "backend", "S", "a\0b", (size_t)3);
	expect3(&sb, "backend: must not contain NUL bytes");
	job3(&sb, "messages", "A M s s s S", 1, 2, "role", "user", "content",
	    "\xe2\x28\xa1", (size_t)3);
	expect3(&sb, "messages[0].content: invalid UTF-8");
	job3(&sb, "metadata", "M i A S", 1, 5LL, 1, "\xff", (size_t)1);
	expect3(&sb, "metadata: invalid UTF-8");
	job3(&sb, "metadata", "M S i", 1, "\xff", (size_t)1, 5LL);
	expect3(&sb, "metadata: invalid UTF-8");

	/* Duplicate known fields are errors; the id is still handed back. */
	job3(&sb, "prompt", "s", "again");
	expect3(&sb, "prompt: given more than once");
	job3(&sb, "messages", "A M s s s s s s", 1, 3, "role", "user",
	    "content", "a", "role", "user");
	expect3(&sb, "messages[0].role: given more than once");
	job3(&sb, "messages", "A M s s s s s s", 1, 3, "role", "user",
	    "content", "a", "content", "b");
	expect3(&sb, "messages[0].content: given more than once");
	job3(&sb, "\xff", "i", 1LL);
	expect3(&sb, "job: a field name is not valid UTF-8");

	/* Duplicate unknown keys and non-string keys are ignored. */
	msgpack_sbuffer_init(&sb);
	pack(&sb, "M s s s s i s s i s i s i", 6, "id", "j", "prompt", "p", 7LL,
	    "x", "x", 1LL, "x", 2LL, "k", 7LL);
	job = dec(sb.data, sb.size, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_int_eq(job->k, 7);
	job_free(job);
	msgpack_sbuffer_destroy(&sb);

	/* The id itself. */
	msgpack_sbuffer_init(&sb);
	pack(&sb, "M s s s S", 2, "prompt", "p", "id", "a\xff", (size_t)2);
	job = dec(sb.data, sb.size, &id);
	ck_assert_ptr_null(job);
	ck_assert_str_eq(err, "id: invalid UTF-8");
	ck_assert_ptr_null(id);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_init(&sb);
	pack(&sb, "M s s s s s s", 3, "id", "a", "prompt", "p", "id", "a");
	job = dec(sb.data, sb.size, &id);
	ck_assert_ptr_null(job);
	ck_assert_str_eq(err, "id: given more than once");
	ck_assert_ptr_null(id);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_init(&sb);
	pack(&sb, "M s s s B", 2, "prompt", "p", "id", "a", (size_t)1);
	job = dec(sb.data, sb.size, &id);
	ck_assert_ptr_null(job);
	ck_assert_str_eq(err, "id: must be a string of 1 to 256 bytes");
	ck_assert_ptr_null(id);
	msgpack_sbuffer_destroy(&sb);

	/* Large numbers that do fit. */
	job3(&sb, "seed", "u", (unsigned long long)UINT64_MAX);
	job = accept3(&sb);
	ck_assert_uint_eq(job->seed, UINT64_MAX);
	job_free(job);
	job3(&sb, "seed", "d", 9007199254740992.0);
	job = accept3(&sb);
	ck_assert_uint_eq(job->seed, 9007199254740992ULL);
	job_free(job);
	job3(&sb, "k", "f", 100.0);
	job = accept3(&sb);
	ck_assert_int_eq(job->k, 100);
	job_free(job);
	job3(&sb, "temperature", "i", 1LL);
	job = accept3(&sb);
	ck_assert_double_eq(job->temperature, 1.0);
	job_free(job);
}
END_TEST

START_TEST(test_msgpack_framing)
{
	static const struct bad cases[] = {
	    /* An array, a string, an integer, nil: not a map. */
	    {"\x00", "job: not a msgpack map or JSON object", NULL},
	    {"\x91\xa1x", "job: not a msgpack map or JSON object", NULL},
	    {"\xa3zzz", "job: not a msgpack map or JSON object", NULL},
	    {"\x05", "job: not a msgpack map or JSON object", NULL},
	    {"\xc0", "job: not a msgpack map or JSON object", NULL},
	    {"\xdc", "job: not a msgpack map or JSON object", NULL},
	    /* Maps: truncated, trailing bytes, the unused byte 0xc1. */
	    {"\x81", "job: truncated msgpack", NULL},
	    {"\xde\x00\x01", "job: truncated msgpack", NULL},
	    {"\xdf\xff\xff\xff\xff", "job: truncated msgpack", NULL},
	    {"\x81\xa2id\xa1j\xc0", "trailing data after job", NULL},
	    {"\x80\x80", "trailing data after job", NULL},
	    {"\x81\xa2id\xc1", "job: invalid msgpack", NULL},
	    {"\x80", "id: missing", NULL},
	};
	msgpack_sbuffer sb;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_bad(
		    cases[i].in, i == 0 ? 1 : strlen(cases[i].in), &cases[i]);

	/* Headers that claim more than the input holds never allocate it. */
	job3(&sb, "metadata", "X", "\xdd\xff\xff\xff\xff", (size_t)5);
	check_bad(sb.data, sb.size,
	    &(struct bad){"", "job: truncated msgpack", NULL});
	msgpack_sbuffer_destroy(&sb);
	job3(&sb, "metadata", "X", "\xdb\xff\xff\xff\xf0zz", (size_t)7);
	check_bad(sb.data, sb.size,
	    &(struct bad){"", "job: truncated msgpack", NULL});
	msgpack_sbuffer_destroy(&sb);
	job3(&sb, "metadata", "X", "\xc9\x7f\xff\xff\xff\x01", (size_t)6);
	check_bad(sb.data, sb.size,
	    &(struct bad){"", "job: truncated msgpack", NULL});
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* metadata of every msgpack type comes back as one equal object. */
START_TEST(test_metadata_roundtrip)
{
	msgpack_sbuffer sb, want;
	msgpack_packer pk;
	msgpack_unpacked a, b;
	struct job *job;
	size_t off;
	char *id;

	msgpack_sbuffer_init(&want);
	msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
	pack(&want, "M", 10);
	pack(&want, "s u s i", "max", (unsigned long long)UINT64_MAX, "min",
	    (long long)INT64_MIN);
	pack(&want, "s f s d", "f32", 1.5, "f64", -0.25);
	pack(&want, "s S", "nul", "a\0b", (size_t)3);
	pack(&want, "s B", "bin", "\xff\x00\x01", (size_t)3);
	pack(&want, "s", "ext");
	msgpack_pack_ext(&pk, 4, 7);
	msgpack_pack_ext_body(&pk, "\x01\x02\x03\x04", 4);
	pack(&want, "s A t F n M", "mix", 4, 0);
	pack(&want, "i s", 42LL, "int key");
	pack(&want, "s A A A s", "deep", 1, 1, 1, "\xe2\x9c\xa8");

	msgpack_sbuffer_init(&sb);
	pack(&sb, "M s s s s s", 3, "id", "j", "prompt", "p", "metadata");
	pack(&sb, "X", want.data, want.size);
	job = dec(sb.data, sb.size, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_ptr_nonnull(job->metadata);
	/* Packed minimally both times: byte for byte the same. */
	ck_assert_uint_eq(job->metadata_len, want.size);
	ck_assert_int_eq(memcmp(job->metadata, want.data, want.size), 0);

	msgpack_unpacked_init(&a);
	msgpack_unpacked_init(&b);
	off = 0;
	ck_assert_int_eq(msgpack_unpack_next(&a, want.data, want.size, &off),
	    MSGPACK_UNPACK_SUCCESS);
	off = 0;
	ck_assert_int_eq(
	    msgpack_unpack_next(&b, job->metadata, job->metadata_len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, job->metadata_len);
	ck_assert(msgpack_object_equal(a.data, b.data));
	ck_assert_int_eq(
	    b.data.via.map.ptr[3].val.type, MSGPACK_OBJECT_FLOAT64);
	ck_assert_int_eq(
	    b.data.via.map.ptr[2].val.type, MSGPACK_OBJECT_FLOAT32);
	ck_assert_int_eq(b.data.via.map.ptr[6].val.type, MSGPACK_OBJECT_EXT);
	msgpack_unpacked_destroy(&a);
	msgpack_unpacked_destroy(&b);
	job_free(job);
	msgpack_sbuffer_destroy(&sb);
	msgpack_sbuffer_destroy(&want);
}
END_TEST

/* JSON metadata becomes msgpack: ints as ints, reals as float64. */
START_TEST(test_metadata_json)
{
	msgpack_sbuffer want;
	struct job *job;
	char *id;

	job = decs("{\"id\":\"j\",\"prompt\":\"p\",\"metadata\":{\"a\":[1,-2,"
		   "2.5,1.0,true,false,null,\"s\\u0000t\"],\"b\":{},"
		   "\"c\":9223372036854775807,\"d\":-9223372036854775808,"
		   "\"e\":[]}}",
	    &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	msgpack_sbuffer_init(&want);
	pack(&want, "M s A i i d d t F n S", 5, "a", 8, 1LL, -2LL, 2.5, 1.0,
	    "s\0t", (size_t)3);
	pack(&want, "s M s u s i s A", "b", 0, "c", 9223372036854775807ULL, "d",
	    (long long)INT64_MIN, "e", 0);
	ck_assert_uint_eq(job->metadata_len, want.size);
	ck_assert_int_eq(memcmp(job->metadata, want.data, want.size), 0);
	job_free(job);
	msgpack_sbuffer_destroy(&want);

	/* Scalars and null pass through too. */
	job = decs("{\"id\":\"j\",\"prompt\":\"p\",\"metadata\":\"x\"}", &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_uint_eq(job->metadata_len, 2);
	ck_assert_int_eq(memcmp(job->metadata, "\xa1x", 2), 0);
	job_free(job);
	/* A nil metadata is no metadata, like every nil field. */
	job = decs("{\"id\":\"j\",\"prompt\":\"p\",\"metadata\":null}", &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	ck_assert_uint_eq(job->metadata_len, 0);
	ck_assert_ptr_null(job->metadata);
	job_free(job);
}
END_TEST

/* metadata nested so that the whole job is `levels` deep. */
static void
nested_msgpack(msgpack_sbuffer *sb, int levels, int empty_inner)
{
	job3(sb, "metadata", "");
	for (int i = 0; i < levels - 2; i++)
		pack(sb, "A", 1);
	if (empty_inner)
		pack(sb, "A", 0);
	else
		pack(sb, "A n", 1);
}

static char *
nested_json(int levels, const char *open, const char *inner, const char *close)
{
	struct text {
		char *p;
		size_t n, cap;
	} b;
	size_t lo = strlen(open), lc = strlen(close);

	b.cap = 64 + strlen(inner) + (size_t)levels * (lo + lc);
	b.p = malloc(b.cap);
	b.n = (size_t)snprintf(
	    b.p, b.cap, "{\"id\":\"j\",\"prompt\":\"p\",\"metadata\":");
	for (int i = 0; i < levels - 1; i++) {
		memcpy(b.p + b.n, open, lo);
		b.n += lo;
	}
	memcpy(b.p + b.n, inner, strlen(inner));
	b.n += strlen(inner);
	for (int i = 0; i < levels - 1; i++) {
		memcpy(b.p + b.n, close, lc);
		b.n += lc;
	}
	b.p[b.n++] = '}';
	b.p[b.n] = '\0';
	return b.p;
}

START_TEST(test_nesting)
{
	msgpack_sbuffer sb;
	struct job *job;
	char *id, *s;

	for (int empty = 0; empty <= 1; empty++) {
		nested_msgpack(&sb, JOB_DEPTH_MAX, empty);
		job = dec(sb.data, sb.size, &id);
		ck_assert_msg(job != NULL, "rejected: %s", err);
		job_free(job);
		msgpack_sbuffer_destroy(&sb);

		nested_msgpack(&sb, JOB_DEPTH_MAX + 1, empty);
		check_bad(sb.data, sb.size,
		    &(struct bad){
			"", "job: nested deeper than 32 levels", NULL});
		msgpack_sbuffer_destroy(&sb);
	}

	s = nested_json(JOB_DEPTH_MAX, "[", "", "]");
	job = decs(s, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	/* 31 nested arrays: 30 of 0x91, one 0x90. */
	ck_assert_uint_eq(job->metadata_len, 31);
	ck_assert_int_eq((unsigned char)job->metadata[29], 0x91);
	ck_assert_int_eq((unsigned char)job->metadata[30], 0x90);
	job_free(job);
	free(s);
	s = nested_json(JOB_DEPTH_MAX + 1, "[", "", "]");
	check_bad(s, strlen(s),
	    &(struct bad){"", "job: nested deeper than 32 levels", NULL});
	free(s);
	s = nested_json(JOB_DEPTH_MAX, "{\"a\":", "null", "}");
	job = decs(s, &id);
	ck_assert_msg(job != NULL, "rejected: %s", err);
	job_free(job);
	free(s);
	s = nested_json(JOB_DEPTH_MAX + 1, "{\"a\":", "null", "}");
	check_bad(s, strlen(s),
	    &(struct bad){"", "job: nested deeper than 32 levels", NULL});
	free(s);
}
END_TEST

START_TEST(test_deep)
{
	const int deep = 10000;
	msgpack_sbuffer sb;
	char *s;

	/* 10000 levels of one-element arrays and maps in msgpack. */
	job3(&sb, "metadata", "");
	for (int i = 0; i < deep; i++)
		pack(&sb, "A", 1);
	pack(&sb, "n");
	check_bad(sb.data, sb.size,
	    &(struct bad){"", "job: nested deeper than 32 levels", NULL});
	msgpack_sbuffer_destroy(&sb);
	job3(&sb, "metadata", "");
	for (int i = 0; i < deep; i++)
		pack(&sb, "M s", 1, "a");
	pack(&sb, "n");
	check_bad(sb.data, sb.size,
	    &(struct bad){"", "job: nested deeper than 32 levels", NULL});
	msgpack_sbuffer_destroy(&sb);
	/* Unterminated: every header and nothing else. */
	msgpack_sbuffer_init(&sb);
	for (int i = 0; i < deep; i++)
		pack(&sb, "M s", 1, "a");
	check_bad(sb.data, sb.size,
	    &(struct bad){"", "job: nested deeper than 32 levels", NULL});
	msgpack_sbuffer_destroy(&sb);

	/* 10000 levels in JSON, closed and not. */
	s = nested_json(deep, "[", "", "]");
	check_bad(s, strlen(s),
	    &(struct bad){"", "job: nested deeper than 32 levels", NULL});
	free(s);
	s = nested_json(deep, "{\"a\":", "null", "}");
	check_bad(s, strlen(s),
	    &(struct bad){"", "job: nested deeper than 32 levels", NULL});
	free(s);
	s = nested_json(deep, "[", "", "");
	check_bad(s, strlen(s),
	    &(struct bad){"", "job: nested deeper than 32 levels", NULL});
	free(s);
}
END_TEST

/* Every prefix of a valid job fails cleanly, with no id. */
START_TEST(test_truncated)
{
	struct job *job;
	size_t len;
	char *buf, *id;

	buf = read_fixture("full.msgpack", &len);
	for (size_t n = 0; n < len; n++) {
		job = dec(buf, n, &id);
		ck_assert_msg(job == NULL, "prefix %zu accepted", n);
		ck_assert_ptr_null(id);
		ck_assert_str_eq(
		    err, n == 0 ? "job: empty" : "job: truncated msgpack");
	}
	job = dec(buf, len, &id);
	ck_assert_ptr_nonnull(job);
	job_free(job);
	free(buf);

	buf = read_fixture("full.json", &len);
	for (size_t n = 0; n < len - 1; n++) {
		job = dec(buf, n, &id);
		ck_assert_msg(job == NULL, "prefix %zu accepted", n);
		ck_assert_ptr_null(id);
		ck_assert(err[0] != '\0' && err[0] != 'X');
	}
	free(buf);
}
END_TEST

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One decode of junk: a job, or NULL with a message. */
static void
junk(const unsigned char *p, size_t n)
{
	struct job *job;
	char *id;

	job = dec(p, n, &id);
	if (job != NULL) {
		ck_assert_ptr_null(id);
		ck_assert_ptr_nonnull(job->id);
		ck_assert(job->prompt != NULL || job->nmessages > 0);
		job_free(job);
		return;
	}
	ck_assert(err[0] != '\0' && err[0] != 'X');
	free(id);
}

START_TEST(test_random)
{
	unsigned char b[512];
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	size_t mlen, jlen;
	char *mp, *js;

	/* Random bytes, many of them made to start like a map. */
	for (int i = 0; i < 3000; i++) {
		size_t n = xorshift(&s) % sizeof(b);

		for (size_t j = 0; j < n; j++)
			b[j] = (unsigned char)xorshift(&s);
		if (n > 0 && i % 2 == 0)
			b[0] = (unsigned char)(0x80 | (b[0] & 0x0f));
		if (n > 0 && i % 7 == 0)
			b[0] = '{';
		junk(b, n);
	}

	/* Valid jobs with a few bytes changed. */
	mp = read_fixture("full.msgpack", &mlen);
	js = read_fixture("full.json", &jlen);
	for (int i = 0; i < 2000; i++) {
		int json = i % 3 == 0;
		char *src = json ? js : mp;
		size_t n = json ? jlen : mlen;
		unsigned char *c = malloc(n);
		int flips = 1 + (int)(xorshift(&s) % 4);

		memcpy(c, src, n);
		for (int f = 0; f < flips; f++)
			c[xorshift(&s) % n] = (unsigned char)xorshift(&s);
		junk(c, n - (i % 5 == 0 ? xorshift(&s) % n : 0));
		free(c);
	}
	free(mp);
	free(js);
}
END_TEST

static Suite *
job_suite(void)
{
	Suite *s = suite_create("job");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_select_names);
	tcase_add_test(tc, test_fixture_msgpack);
	tcase_add_test(tc, test_fixture_json);
	tcase_add_test(tc, test_msgpack_every_field);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_messages);
	tcase_add_loop_test(tc, test_json_errors, 0,
	    (int)(sizeof(bad_json) / sizeof(bad_json[0])));
	tcase_add_test(tc, test_json_limits);
	tcase_add_test(tc, test_json_bad_utf8);
	tcase_add_test(tc, test_msgpack_errors);
	tcase_add_test(tc, test_msgpack_framing);
	tcase_add_test(tc, test_metadata_roundtrip);
	tcase_add_test(tc, test_metadata_json);
	tcase_add_test(tc, test_nesting);
	tcase_add_test(tc, test_deep);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(job_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
