/*
 * job: decoding and validation of a generation job (docs/schema.md,
 * the job).
 *
 * Both wire formats end in one validator over msgpack objects: a JSON job
 * is parsed with jansson and packed as msgpack first, so that the rules
 * and the error messages cannot drift apart between the two formats.
 *
 * Before msgpack-c sees a buffer, the one pre-scanner (mpscan.c) walks it
 * once. It bounds nesting at JOB_DEPTH_MAX levels (the top map is level
 * 1), and reports truncation; this file adds trailing bytes and words the
 * messages. This matters beyond the messages: msgpack-c allocates a
 * container's element array from its header before it reads any element,
 * so a five-byte input could otherwise ask for gigabytes. Once the scan
 * has seen every element that every header claims, msgpack-c allocates at
 * most a few dozen bytes per input byte, and every recursion below is
 * bounded by JOB_DEPTH_MAX.
 *
 * Leaf module: no I/O, no globals; the only output is the job or the
 * error text in the caller's buffer.
 *
 * Decisions worth knowing:
 * - Duplicate keys. In msgpack, a known field given twice is an error
 *   ("k: given more than once"); duplicate unknown keys are ignored, and
 *   metadata passes through as given. In JSON any duplicate key is an error
 *   (JSON_REJECT_DUPLICATES), because jansson would silently keep one of
 *   them and metadata could no longer pass through unchanged.
 * - Every string we store as a C string (id, prompt, message contents,
 *   instructions, names) may not contain NUL bytes: they would silently cut
 *   the text short downstream. Strings inside metadata may.
 * - Every string key of a map we read (the job, its messages) and every
 *   string inside metadata must be valid UTF-8.
 * - Invalid UTF-8 in JSON: jansson refuses such input as a whole, which
 *   would leave the error without a field name. The invalid bytes are first
 *   replaced with a noncharacter (U+FDD0..U+FDEF) that occurs nowhere else
 *   in the input, neither raw nor as a \u escape, and turned back into an
 *   invalid byte when the JSON is packed as msgpack, so that the validator
 *   names the field just as it does for msgpack.
 * - jansson keeps JSON integers in a long long: a JSON seed above 2^63-1 is
 *   a decode error ("JSON number out of range"); msgpack carries all 64 bits.
 * - A decode failure (syntax, truncation, trailing data, nesting) leaves
 *   *idp NULL, as section 9 asks for undecodable messages; a validation
 *   failure after a valid id hands the id back.
 * - Error messages are built from our own field names and numbers only;
 *   no byte of the input is ever copied into them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "chat.h"
#include "job.h"
#include "method.h"
#include "mpscan.h"
#include "select.h"
#include "utf8.h"
#include "xmalloc.h"

#define JOB_BACKEND_MAX 256
#define JOB_MODEL_MAX 1024
#define JOB_SCOPE_MAX 256
#define JOB_MAX_TOKENS_MAX 1000000

enum field {
	F_ID = 0,
	F_PROMPT,
	F_MESSAGES,
	F_METHOD,
	F_K,
	F_N,
	F_TAIL,
	F_MIN_PROBABILITY,
	F_MIN_KEEP,
	F_SELECT,
	F_SEED,
	F_BACKEND,
	F_MODEL,
	F_TEMPERATURE,
	F_TOP_P,
	F_MAX_TOKENS,
	F_INSTRUCTIONS,
	F_DEDUP_SCOPE,
	F_EMBED,
	F_METADATA,
	F_COUNT
};

/* Indexed by enum field; fields are also validated in this order. */
static const char *field_names[F_COUNT] = {
    "id",
    "prompt",
    "messages",
    "method",
    "k",
    "n",
    "tail",
    "min_probability",
    "min_keep",
    "select",
    "seed",
    "backend",
    "model",
    "temperature",
    "top_p",
    "max_tokens",
    "instructions",
    "dedup_scope",
    "embed",
    "metadata",
};

static int fail(char *errstr, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write a message into the caller's buffer; always returns -1. */
static int
fail(char *errstr, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errstr == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(errstr, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Scan the one msgpack object at p[0..len) (see mpscan.h) and set *endp
 * to the offset just past it. Returns 0, or -1 with errstr in the words
 * docs/schema.md gives.
 */
static int
scan_job(const unsigned char *p, size_t len, size_t *endp, char *errstr,
    size_t errlen)
{
	size_t at;

	switch (mpscan_object(p, len, endp, &at)) {
	case MPSCAN_OK:
		return 0;
	case MPSCAN_INVALID:
		return fail(errstr, errlen, "job: invalid msgpack");
	case MPSCAN_TOO_DEEP:
		return fail(errstr, errlen, "job: nested deeper than %d levels",
		    JOB_DEPTH_MAX);
	case MPSCAN_TRUNCATED:
		break;
	}
	return fail(errstr, errlen, "job: truncated msgpack");
}

/* msgpack_packer callback: append to a struct buf (cannot fail). */
static int
pack_write(void *data, const char *p, size_t len)
{
	buf_append(data, p, len);
	return 0;
}

/* The value of a hex digit, or -1. */
static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Choose a noncharacter U+FDD0..U+FDEF that occurs nowhere in p[0..len),
 * neither as UTF-8 nor as the hex digits of a \u escape (any "fddX" or
 * "fdeX" counts, to be safe). One pass. Returns 0 and the three bytes of
 * the marker in m, or -1 when all 32 are taken.
 */
static int
pick_marker(const unsigned char *p, size_t len, unsigned char m[3])
{
	uint32_t used = 0;

	for (size_t i = 0; i < len; i++) {
		if (len - i >= 3 && p[i] == 0xef && p[i + 1] == 0xb7 &&
		    p[i + 2] >= 0x90 && p[i + 2] <= 0xaf)
			used |= UINT32_C(1) << (p[i + 2] - 0x90);
		if (len - i >= 4 && hexval(p[i]) == 0xf &&
		    hexval(p[i + 1]) == 0xd &&
		    (hexval(p[i + 2]) == 0xd || hexval(p[i + 2]) == 0xe) &&
		    hexval(p[i + 3]) >= 0)
			used |= UINT32_C(1) << ((hexval(p[i + 2]) - 0xd) * 16 +
				    hexval(p[i + 3]));
	}
	for (unsigned int i = 0; i < 32; i++) {
		if (used & (UINT32_C(1) << i))
			continue;
		m[0] = 0xef;
		m[1] = 0xb7;
		m[2] = (unsigned char)(0x90 + i);
		return 0;
	}
	return -1;
}

/* Copy p[0..len) into out with every invalid UTF-8 byte replaced by m. */
static void
mark_invalid(const unsigned char *p, size_t len, const unsigned char m[3],
    struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;

		n = c < 0x80	? 1
		    : c >= 0xf0 ? 4
		    : c >= 0xe0 ? 3
		    : c >= 0xc0 ? 2
				: 0;
		if (n == 1 ||
		    (n > 1 && len - i >= n &&
			utf8_valid((const char *)p + i, n))) {
			buf_append(out, p + i, n);
			i += n;
		} else {
			buf_append(out, m, 3);
			i++;
		}
	}
}

/* Pack a JSON string, turning each marker back into an invalid byte. */
static void
pack_json_str(
    msgpack_packer *pk, const char *s, size_t len, const unsigned char *m)
{
	size_t count = 0, start = 0;

	if (m != NULL) {
		for (size_t i = 0; i + 3 <= len; i++)
			if (memcmp(s + i, m, 3) == 0)
				count++;
	}
	msgpack_pack_str(pk, len - 2 * count);
	if (count == 0) {
		msgpack_pack_str_body(pk, s, len);
		return;
	}
	for (size_t i = 0; i + 3 <= len;) {
		if (memcmp(s + i, m, 3) == 0) {
			msgpack_pack_str_body(pk, s + start, i - start);
			msgpack_pack_str_body(pk, "\xff", 1);
			i += 3;
			start = i;
		} else
			i++;
	}
	msgpack_pack_str_body(pk, s + start, len - start);
}

/*
 * Pack a JSON value at nesting level `level` as msgpack: integers as
 * integers, reals as float64. Returns 0, or -1 with errstr when it nests
 * deeper than JOB_DEPTH_MAX.
 */
static int
pack_json(msgpack_packer *pk, json_t *v, int level, const unsigned char *m,
    char *errstr, size_t errlen)
{
	const char *key;
	json_t *child;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (level > JOB_DEPTH_MAX)
			return fail(errstr, errlen,
			    "job: nested deeper than %d levels", JOB_DEPTH_MAX);
		msgpack_pack_map(pk, json_object_size(v));
		json_object_foreach(v, key, child)
		{
			pack_json_str(pk, key, strlen(key), m);
			if (pack_json(
				pk, child, level + 1, m, errstr, errlen) == -1)
				return -1;
		}
		return 0;
	case JSON_ARRAY:
		if (level > JOB_DEPTH_MAX)
			return fail(errstr, errlen,
			    "job: nested deeper than %d levels", JOB_DEPTH_MAX);
		msgpack_pack_array(pk, json_array_size(v));
		json_array_foreach(v, i, child)
		{
			if (pack_json(
				pk, child, level + 1, m, errstr, errlen) == -1)
				return -1;
		}
		return 0;
	case JSON_STRING:
		pack_json_str(
		    pk, json_string_value(v), json_string_length(v), m);
		return 0;
	case JSON_INTEGER:
		msgpack_pack_int64(pk, (int64_t)json_integer_value(v));
		return 0;
	case JSON_REAL:
		msgpack_pack_double(pk, json_real_value(v));
		return 0;
	case JSON_TRUE:
		msgpack_pack_true(pk);
		return 0;
	case JSON_FALSE:
		msgpack_pack_false(pk);
		return 0;
	case JSON_NULL:
		msgpack_pack_nil(pk);
		return 0;
	}
	return fail(errstr, errlen, "job: invalid JSON");
}

/* Translate a jansson error without its text, which quotes the input. */
static void
json_fail(const json_error_t *e, char *errstr, size_t errlen)
{
	switch (json_error_code(e)) {
	case json_error_stack_overflow:
		fail(errstr, errlen, "job: nested deeper than %d levels",
		    JOB_DEPTH_MAX);
		break;
	case json_error_end_of_input_expected:
		fail(errstr, errlen, "trailing data after job");
		break;
	case json_error_premature_end_of_input:
		fail(errstr, errlen, "job: truncated JSON");
		break;
	case json_error_numeric_overflow:
		fail(errstr, errlen, "job: JSON number out of range (line %d)",
		    e->line);
		break;
	case json_error_duplicate_key:
		fail(errstr, errlen,
		    "job: duplicate key in a JSON object (line %d)", e->line);
		break;
	case json_error_invalid_utf8:
		fail(errstr, errlen, "job: invalid UTF-8");
		break;
	case json_error_null_byte_in_key:
		fail(errstr, errlen, "job: NUL byte in a JSON key (line %d)",
		    e->line);
		break;
	default:
		fail(errstr, errlen, "job: invalid JSON (line %d, column %d)",
		    e->line, e->column);
		break;
	}
}

/* Does key k name the field `name`? */
static int
key_is(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);

	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	    memcmp(k->via.str.ptr, name, n) == 0;
}

/*
 * Copy a string field of min..max bytes (max 0: any length) into *out.
 * Returns 0, or -1 with errstr naming the field.
 */
static int
get_str(const msgpack_object *o, const char *name, size_t min, size_t max,
    char **out, char *errstr, size_t errlen)
{
	size_t n;

	if (o->type != MSGPACK_OBJECT_STR ||
	    (max > 0 && (o->via.str.size < min || o->via.str.size > max))) {
		if (max > 0)
			return fail(errstr, errlen,
			    "%s: must be a string of %zu to %zu bytes", name,
			    min, max);
		return fail(errstr, errlen, "%s: must be a string", name);
	}
	n = o->via.str.size;
	if (n == 0) {
		*out = xstrdup("");
		return 0;
	}
	if (!utf8_valid(o->via.str.ptr, n))
		return fail(errstr, errlen, "%s: invalid UTF-8", name);
	if (memchr(o->via.str.ptr, '\0', n) != NULL)
		return fail(
		    errstr, errlen, "%s: must not contain NUL bytes", name);
	*out = xstrndup(o->via.str.ptr, n);
	return 0;
}

/* s holds a C0 or C1 control character, or DEL (s is valid UTF-8). */
static int
has_control(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 1;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return 1;
	}
	return 0;
}

/*
 * Read a short name (method, select, role) into buf[0..size) as a C
 * string. Returns 0; 1 when it cannot be one of ours (not a string, or too
 * long), for the caller to say what it expects; or -1 with errstr for a
 * string that is not UTF-8 or holds a NUL.
 */
static int
get_name(const msgpack_object *o, const char *name, char *buf, size_t size,
    char *errstr, size_t errlen)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return 1;
	if (!utf8_valid(o->via.str.ptr, o->via.str.size))
		return fail(errstr, errlen, "%s: invalid UTF-8", name);
	if (o->via.str.size > 0 &&
	    memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL)
		return fail(
		    errstr, errlen, "%s: must not contain NUL bytes", name);
	if (o->via.str.size >= size)
		return 1;
	if (o->via.str.size > 0)
		memcpy(buf, o->via.str.ptr, o->via.str.size);
	buf[o->via.str.size] = '\0';
	return 0;
}

/*
 * An integer in [min, max]; a float with an integral value counts.
 * Returns 0, or -1 with errstr.
 */
static int
get_int(const msgpack_object *o, const char *name, long long min, long long max,
    long long *out, char *errstr, size_t errlen)
{
	double d;

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 <= (uint64_t)max &&
		    (long long)o->via.u64 >= min) {
			*out = (long long)o->via.u64;
			return 0;
		}
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		if (o->via.i64 >= min && o->via.i64 <= max) {
			*out = o->via.i64;
			return 0;
		}
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		d = o->via.f64;
		if (isfinite(d) && floor(d) == d && d >= (double)min &&
		    d <= (double)max) {
			*out = (long long)d;
			return 0;
		}
		break;
	default:
		break;
	}
	return fail(errstr, errlen, "%s: must be an integer from %lld to %lld",
	    name, min, max);
}

/* Any finite number, integer or float. Returns 0 or -1 (no message). */
static int
get_num(const msgpack_object *o, double *out)
{
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*out = (double)o->via.i64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*out = o->via.f64;
		return isfinite(*out) ? 0 : -1;
	default:
		return -1;
	}
}

/* The seed: all of uint64, or an integral float below 2^64. */
static int
get_seed(const msgpack_object *o, uint64_t *out, char *errstr, size_t errlen)
{
	double d;

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*out = o->via.u64;
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		d = o->via.f64;
		if (isfinite(d) && floor(d) == d && d >= 0 &&
		    d < 18446744073709551616.0) {
			*out = (uint64_t)d;
			return 0;
		}
		break;
	default:
		break;
	}
	return fail(errstr, errlen,
	    "seed: must be an integer from 0 to 18446744073709551615");
}

/* Are all strings (and string keys) in o valid UTF-8? Depth is bounded. */
static int
strings_valid(const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		return utf8_valid(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_ARRAY:
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (!strings_valid(&o->via.array.ptr[i]))
				return 0;
		return 1;
	case MSGPACK_OBJECT_MAP:
		for (uint32_t i = 0; i < o->via.map.size; i++)
			if (!strings_valid(&o->via.map.ptr[i].key) ||
			    !strings_valid(&o->via.map.ptr[i].val))
				return 0;
		return 1;
	default:
		return 1;
	}
}

/*
 * Read the messages array into job->messages, with room for one more
 * (the prompt, merged later). Returns 0, or -1 with errstr.
 */
static int
get_messages(
    struct job *job, const msgpack_object *o, char *errstr, size_t errlen)
{
	uint32_t n;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return fail(errstr, errlen,
		    "messages: must be an array of {role, content} maps");
	n = o->via.array.size;
	job->messages = xcalloc((size_t)n + 1, sizeof(*job->messages));
	for (uint32_t i = 0; i < n; i++) {
		const msgpack_object *m = &o->via.array.ptr[i];
		const msgpack_object *role = NULL, *content = NULL;
		struct job_message *jm = &job->messages[i];
		char name[64], rbuf[16];
		enum role r;
		int rc;

		if (m->type != MSGPACK_OBJECT_MAP)
			return fail(errstr, errlen,
			    "messages[%u]: must be a map with role and content",
			    i);
		for (uint32_t j = 0; j < m->via.map.size; j++) {
			const msgpack_object *k = &m->via.map.ptr[j].key;
			const msgpack_object *v = &m->via.map.ptr[j].val;

			if (k->type == MSGPACK_OBJECT_STR &&
			    !utf8_valid(k->via.str.ptr, k->via.str.size))
				return fail(errstr, errlen,
				    "messages[%u]: a field name is not valid "
				    "UTF-8",
				    i);
			if (key_is(k, "role")) {
				if (role != NULL)
					return fail(errstr, errlen,
					    "messages[%u].role: given more "
					    "than once",
					    i);
				role = v;
			} else if (key_is(k, "content")) {
				if (content != NULL)
					return fail(errstr, errlen,
					    "messages[%u].content: given more "
					    "than once",
					    i);
				content = v;
			}
		}
		snprintf(name, sizeof(name), "messages[%u].role", i);
		if (role == NULL)
			return fail(errstr, errlen, "%s: missing", name);
		rc = get_name(role, name, rbuf, sizeof(rbuf), errstr, errlen);
		if (rc == -1)
			return -1;
		if (rc == 1 || role_parse(rbuf, &r) == -1)
			return fail(errstr, errlen,
			    "%s: must be system, user or assistant", name);
		snprintf(name, sizeof(name), "messages[%u].content", i);
		if (content == NULL)
			return fail(errstr, errlen, "%s: missing", name);
		if (get_str(content, name, 0, 0, &jm->content, errstr,
			errlen) == -1)
			return -1;
		jm->role = r;
		job->nmessages++;
	}
	return 0;
}

/* Re-encode metadata as one msgpack object. Returns 0 or -1 with errstr. */
static int
get_metadata(
    struct job *job, const msgpack_object *o, char *errstr, size_t errlen)
{
	msgpack_packer pk;
	struct buf b;

	if (!strings_valid(o))
		return fail(errstr, errlen, "metadata: invalid UTF-8");
	buf_init(&b);
	msgpack_packer_init(&pk, &b, pack_write);
	msgpack_pack_object(&pk, *o);
	job->metadata = buf_release(&b, &job->metadata_len);
	return 0;
}

/* A name field, method or select, parsed by its module. */
static int
get_choice(struct job *job, enum field f, const msgpack_object *o, char *errstr,
    size_t errlen)
{
	char nbuf[32], names[160];
	enum method m;
	enum select_mode sel;
	int rc;

	rc = get_name(o, field_names[f], nbuf, sizeof(nbuf), errstr, errlen);
	if (rc == -1)
		return -1;
	if (f == F_METHOD) {
		if (rc == 0 && method_parse(nbuf, &m) == 0) {
			job->method = (int)m;
			return 0;
		}
		method_list(names, sizeof(names));
		return fail(errstr, errlen, "method: must be one of %s", names);
	}
	if (rc == 0 && select_mode_parse(nbuf, &sel) == 0) {
		job->select = (int)sel;
		return 0;
	}
	return fail(
	    errstr, errlen, "select: must be weighted, uniform, top or none");
}

/*
 * A finite number in [lo, hi], or (lo, hi] when lo_open, into *out; else
 * msg. Returns 0, or -1 with errstr.
 */
static int
get_real(const msgpack_object *o, double lo, int lo_open, double hi,
    const char *msg, double *out, char *errstr, size_t errlen)
{
	double d;

	if (get_num(o, &d) == -1 || d < lo || (lo_open && d == lo) || d > hi)
		return fail(errstr, errlen, "%s", msg);
	*out = d;
	return 0;
}

/* Validate one field other than id. Returns 0, or -1 with errstr. */
static int
get_field(struct job *job, enum field f, const msgpack_object *o, char *errstr,
    size_t errlen)
{
	long long v;

	switch (f) {
	case F_ID:
	case F_COUNT:
		break;
	case F_PROMPT:
		return get_str(o, "prompt", 0, 0, &job->prompt, errstr, errlen);
	case F_MESSAGES:
		return get_messages(job, o, errstr, errlen);
	case F_METHOD:
	case F_SELECT:
		return get_choice(job, f, o, errstr, errlen);
	case F_K:
		if (get_int(o, "k", 1, JOB_K_MAX, &v, errstr, errlen) == -1)
			return -1;
		job->k = (int)v;
		return 0;
	case F_N:
		if (get_int(o, "n", 1, JOB_N_MAX, &v, errstr, errlen) == -1)
			return -1;
		job->n = (int)v;
		return 0;
	case F_MIN_KEEP:
		if (get_int(o, "min_keep", 1, JOB_N_MAX, &v, errstr, errlen) ==
		    -1)
			return -1;
		job->min_keep = (int)v;
		return 0;
	case F_MAX_TOKENS:
		if (get_int(o, "max_tokens", 1, JOB_MAX_TOKENS_MAX, &v, errstr,
			errlen) == -1)
			return -1;
		job->max_tokens = (long)v;
		return 0;
	case F_TAIL:
		return get_real(o, 0, 1, 1,
		    "tail: must be a number greater than 0 and at most 1",
		    &job->tail, errstr, errlen);
	case F_MIN_PROBABILITY:
		return get_real(o, 0, 0, 1,
		    "min_probability: must be a number from 0 to 1",
		    &job->min_probability, errstr, errlen);
	case F_TEMPERATURE:
		return get_real(o, 0, 0, 2,
		    "temperature: must be a number from 0 to 2",
		    &job->temperature, errstr, errlen);
	case F_TOP_P:
		return get_real(o, 0, 1, 1,
		    "top_p: must be a number greater than 0 and at most 1",
		    &job->top_p, errstr, errlen);
	case F_SEED:
		if (get_seed(o, &job->seed, errstr, errlen) == -1)
			return -1;
		job->has_seed = 1;
		return 0;
	case F_BACKEND:
		return get_str(o, "backend", 1, JOB_BACKEND_MAX, &job->backend,
		    errstr, errlen);
	case F_MODEL:
		return get_str(
		    o, "model", 1, JOB_MODEL_MAX, &job->model, errstr, errlen);
	case F_INSTRUCTIONS:
		return get_str(o, "instructions", 0, 0, &job->instructions,
		    errstr, errlen);
	case F_DEDUP_SCOPE:
		return get_str(o, "dedup_scope", 1, JOB_SCOPE_MAX,
		    &job->dedup_scope, errstr, errlen);
	case F_EMBED:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return fail(
			    errstr, errlen, "embed: must be true or false");
		job->embed = o->via.boolean ? 1 : 0;
		return 0;
	case F_METADATA:
		return get_metadata(job, o, errstr, errlen);
	}
	return fail(errstr, errlen, "job: internal error");
}

/* The rules that span fields: a task is required, the prompt merges. */
static int
check_task(struct job *job, char *errstr, size_t errlen)
{
	struct job_message *last;

	if (job->prompt == NULL && job->messages == NULL)
		return fail(errstr, errlen, "prompt or messages is required");
	if (job->messages == NULL)
		return 0;
	if (job->prompt != NULL) {
		/* get_messages left room for this one. */
		last = &job->messages[job->nmessages];
		last->role = ROLE_USER;
		last->content = xstrdup(job->prompt);
		job->nmessages++;
		return 0;
	}
	if (job->nmessages == 0)
		return fail(errstr, errlen,
		    "messages: must not be empty without a prompt");
	last = &job->messages[job->nmessages - 1];
	if (last->role != ROLE_USER)
		return fail(errstr, errlen,
		    "messages: the last message must have role user, "
		    "unless a prompt is given");
	return 0;
}

/* A job with every optional field at its "unset" sentinel. */
static struct job *
job_new(void)
{
	struct job *job;

	job = xcalloc(1, sizeof(*job));
	job->method = -1;
	job->tail = NAN;
	job->min_probability = NAN;
	job->select = -1;
	job->temperature = NAN;
	job->top_p = NAN;
	job->embed = -1;
	return job;
}

/* Validate a decoded top-level map. */
static struct job *
job_from_object(
    const msgpack_object *o, char **idp, char *errstr, size_t errlen)
{
	const msgpack_object *val[F_COUNT];
	int dup[F_COUNT], badkey = 0;
	struct job *job;
	char *id = NULL;

	memset(val, 0, sizeof(val));
	memset(dup, 0, sizeof(dup));
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;

		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		if (!utf8_valid(k->via.str.ptr, k->via.str.size)) {
			badkey = 1;
			continue;
		}
		for (int f = 0; f < F_COUNT; f++) {
			if (!key_is(k, field_names[f]))
				continue;
			/* A nil field is an unset one (an id must be given). */
			if (f != F_ID &&
			    o->via.map.ptr[i].val.type == MSGPACK_OBJECT_NIL)
				break;
			if (val[f] != NULL)
				dup[f] = 1;
			else
				val[f] = &o->via.map.ptr[i].val;
			break;
		}
	}

	/* The id first, whatever the key order, so errors can carry it. */
	if (val[F_ID] == NULL) {
		fail(errstr, errlen, "id: missing");
		return NULL;
	}
	if (dup[F_ID]) {
		fail(errstr, errlen, "id: given more than once");
		return NULL;
	}
	if (get_str(val[F_ID], "id", 1, JOB_ID_MAX, &id, errstr, errlen) == -1)
		return NULL;
	/* The id goes into every log line and into the result's key. */
	if (has_control(id)) {
		free(id);
		fail(errstr, errlen, "id: must not contain control characters");
		return NULL;
	}

	job = job_new();
	job->id = id;
	if (badkey) {
		fail(errstr, errlen, "job: a field name is not valid UTF-8");
		goto fail;
	}
	for (int f = F_ID + 1; f < F_COUNT; f++) {
		if (dup[f]) {
			fail(errstr, errlen, "%s: given more than once",
			    field_names[f]);
			goto fail;
		}
		if (val[f] != NULL &&
		    get_field(job, (enum field)f, val[f], errstr, errlen) == -1)
			goto fail;
	}
	if (check_task(job, errstr, errlen) == -1)
		goto fail;
	return job;

fail:
	if (idp != NULL)
		*idp = xstrdup(job->id);
	job_free(job);
	return NULL;
}

/* Decode a msgpack job: scan, unpack, validate. */
static struct job *
job_from_msgpack(
    const unsigned char *p, size_t len, char **idp, char *errstr, size_t errlen)
{
	msgpack_unpacked up;
	struct job *job = NULL;
	size_t end = 0, off = 0;
	int rc;

	if (!((p[0] >= 0x80 && p[0] <= 0x8f) || p[0] == 0xde || p[0] == 0xdf)) {
		fail(errstr, errlen, "job: not a msgpack map or JSON object");
		return NULL;
	}
	if (scan_job(p, len, &end, errstr, errlen) == -1)
		return NULL;
	if (end != len) {
		fail(errstr, errlen, "trailing data after job");
		return NULL;
	}
	msgpack_unpacked_init(&up);
	rc = msgpack_unpack_next(&up, (const char *)p, len, &off);
	if (rc != MSGPACK_UNPACK_SUCCESS || off != len ||
	    up.data.type != MSGPACK_OBJECT_MAP)
		fail(errstr, errlen, "job: invalid msgpack");
	else
		job = job_from_object(&up.data, idp, errstr, errlen);
	msgpack_unpacked_destroy(&up);
	return job;
}

/* Decode a JSON job: parse, pack as msgpack, then as msgpack. */
static struct job *
job_from_json(
    const unsigned char *p, size_t len, char **idp, char *errstr, size_t errlen)
{
	struct buf marked, mp;
	unsigned char mbuf[3], *m = NULL;
	msgpack_packer pk;
	json_error_t jerr;
	json_t *root;
	struct job *job = NULL;

	buf_init(&marked);
	if (!utf8_valid((const char *)p, len) &&
	    pick_marker(p, len, mbuf) == 0) {
		m = mbuf;
		mark_invalid(p, len, m, &marked);
		p = (const unsigned char *)marked.data;
		len = marked.len;
	}
	root = json_loadb((const char *)p, len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		json_fail(&jerr, errstr, errlen);
		buf_free(&marked);
		return NULL;
	}
	buf_init(&mp);
	msgpack_packer_init(&pk, &mp, pack_write);
	if (pack_json(&pk, root, 1, m, errstr, errlen) == 0)
		job = job_from_msgpack((const unsigned char *)mp.data, mp.len,
		    idp, errstr, errlen);
	json_decref(root);
	buf_free(&mp);
	buf_free(&marked);
	return job;
}

/*
 * Decode and validate a job from buf[0..len): JSON when the first byte
 * after an optional UTF-8 BOM and ASCII whitespace is '{', msgpack
 * otherwise. See job.h for ownership and *idp.
 */
struct job *
job_decode(const void *buf, size_t len, char **idp, char *errstr, size_t errlen)
{
	const unsigned char *p = buf;
	size_t i = 0;

	if (idp != NULL)
		*idp = NULL;
	if (errstr != NULL && errlen > 0)
		errstr[0] = '\0';
	if (buf == NULL || len == 0) {
		fail(errstr, errlen, "job: empty");
		return NULL;
	}
	if (len >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf)
		i = 3;
	while (i < len &&
	    (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' ||
		p[i] == '\f' || p[i] == '\v'))
		i++;
	if (i < len && p[i] == '{')
		return job_from_json(p + i, len - i, idp, errstr, errlen);
	return job_from_msgpack(p, len, idp, errstr, errlen);
}

/* Free a job and everything it owns; NULL is fine. */
void
job_free(struct job *job)
{
	if (job == NULL)
		return;
	free(job->id);
	free(job->prompt);
	for (size_t i = 0; i < job->nmessages; i++)
		free(job->messages[i].content);
	free(job->messages);
	free(job->backend);
	free(job->model);
	free(job->instructions);
	free(job->dedup_scope);
	free(job->metadata);
	free(job);
}
