/*
 * result: the result of a job and its codecs (docs/schema.md).
 *
 * The msgpack encoding is the contract with every consumer of the results
 * topic, so it is written by hand, key by key, in one fixed order, and
 * every key is always present (nil where a value does not apply). The
 * decoder is for our own tools: vsampctl tail and report read results
 * with it, and the fuzz round trip checks it. It is strict about the keys
 * we write, ignores keys it does not know, and must survive any bytes at
 * all. The JSON form is the same map for people: everything vsampctl
 * prints of a result is result_to_json(), through mpjson.
 *
 * Leaf module: no I/O; msgpack is pre-scanned by mpscan.c and converted
 * to JSON by mpjson.c, never here.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <msgpack.h>

#include "log.h"
#include "mpjson.h"
#include "mpscan.h"
#include "result.h"
#include "utf8.h"
#include "xmalloc.h"

static const char *err_names[ERR_COUNT] = {
    "ok",
    "bad_job",
    "backend",
    "timeout",
    "rate_limited",
    "parse",
    "too_large",
    "internal",
    "poison",
};

/* The error code's name ("ok" for ERR_NONE), or NULL when out of range. */
const char *
err_code_name(enum err_code c)
{
	if ((int)c < 0 || c >= ERR_COUNT)
		return NULL;
	return err_names[c];
}

/* Parse a code name ("ok" included); returns 0 and sets *c, or -1. */
int
err_code_parse(const char *s, enum err_code *c)
{
	for (int i = 0; i < ERR_COUNT; i++) {
		if (strcmp(s, err_names[i]) == 0) {
			*c = (enum err_code)i;
			return 0;
		}
	}
	return -1;
}

/*
 * A new ok result with every field nil (see result.h). The caller owns it
 * and frees it with result_free().
 */
struct result *
result_new(void)
{
	struct result *r;

	r = xcalloc(1, sizeof(*r));
	r->code = ERR_NONE;
	r->selected = -1;
	r->semantic = NAN;
	r->rouge_l = NAN;
	for (int i = 0; i < 3; i++)
		r->distinct[i] = NAN;
	r->vendi = NAN;
	r->classes = -1;
	r->cost = NAN;
	r->source_partition = -1;
	r->source_offset = -1;
	r->prov.version = xstrdup(PACKAGE_VERSION);
	r->prov.temperature = NAN;
	r->prov.top_p = NAN;
	return r;
}

/* Now as RFC 3339 in UTC with milliseconds: 2026-12-08T01:02:03.456Z. */
void
result_stamp(struct result *r)
{
	struct timespec ts;
	struct tm tm;
	char buf[40];

	if (r->prov.created != NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%03ldZ",
	    ts.tv_nsec / 1000000L);
	r->prov.created = xstrdup(buf);
}

static void
result_free_cands(struct result *r)
{
	for (size_t i = 0; i < r->ncands; i++) {
		free(r->cands[i].text);
		free(r->cands[i].finish_reason);
	}
	free(r->cands);
	r->cands = NULL;
	r->ncands = 0;
}

/* Free a result and everything it owns; NULL is accepted. */
void
result_free(struct result *r)
{
	if (r == NULL)
		return;
	free(r->id);
	free(r->errmsg);
	free(r->method);
	free(r->backend);
	free(r->model);
	result_free_cands(r);
	free(r->source_topic);
	free(r->metadata);
	free(r->prov.created);
	free(r->prov.version);
	free(r->prov.template_id);
	free(r);
}

/*
 * Turn r into an error result (docs/schema.md): candidates, selection,
 * dedup and diversity are dropped, the rest (id, method, usage, source,
 * metadata...) is kept. msg is copied and may point into r->errmsg; NULL
 * means an empty message. ERR_NONE is not an error, so it (or an
 * out-of-range code) becomes ERR_INTERNAL rather than an ok result with a
 * message.
 */
void
result_set_error(struct result *r, enum err_code code, const char *msg)
{
	char *copy = xstrdup(msg != NULL ? msg : "");

	if (code <= ERR_NONE || code >= ERR_COUNT)
		code = ERR_INTERNAL;
	free(r->errmsg);
	r->errmsg = copy;
	r->code = code;
	result_free_cands(r);
	r->selected = -1;
	r->has_dedup = 0;
	r->dedup_in_job = 0;
	r->dedup_in_scope = 0;
	r->has_diversity = 0;
	r->semantic = NAN;
	r->rouge_l = NAN;
	for (int i = 0; i < 3; i++)
		r->distinct[i] = NAN;
	r->vendi = NAN;
	r->classes = -1;
}

/* ---- the msgpack pre-scan ---- */

/*
 * Scan the one msgpack object at buf[0..len) (see mpscan.h) and set
 * *objlen to its length. Returns 0, or -1 with a reason in errstr.
 */
static int
scan_result(
    const void *buf, size_t len, size_t *objlen, char *errstr, size_t errlen)
{
	size_t at;

	switch (mpscan_object(buf, len, objlen, &at)) {
	case MPSCAN_OK:
		return 0;
	case MPSCAN_INVALID:
		snprintf(
		    errstr, errlen, "invalid msgpack type byte at %zu", at);
		return -1;
	case MPSCAN_TOO_DEEP:
		snprintf(errstr, errlen, "msgpack nested deeper than %d levels",
		    MPSCAN_DEPTH_MAX);
		return -1;
	case MPSCAN_TRUNCATED:
		break;
	}
	snprintf(errstr, errlen, "truncated msgpack");
	return -1;
}

/* ---- encoding ---- */

/* The packer's writer: running out of memory is fatal (docs/architecture.md),
 * so the pack calls below need no error checks. */
static int
sbuf_write(void *data, const char *buf, size_t len)
{
	if (msgpack_sbuffer_write(data, buf, len) != 0)
		fatalx("out of memory");
	return 0;
}

static void
pk_str(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

static void
pk_cstr(msgpack_packer *pk, const char *s)
{
	pk_str(pk, s, strlen(s));
}

/* A string, or nil for NULL. */
static void
pk_cstr_nil(msgpack_packer *pk, const char *s)
{
	if (s == NULL)
		msgpack_pack_nil(pk);
	else
		pk_cstr(pk, s);
}

/* A float64, or nil for NaN and infinities (not numbers to consumers). */
static void
pk_double_nil(msgpack_packer *pk, double d)
{
	if (isfinite(d))
		msgpack_pack_double(pk, d);
	else
		msgpack_pack_nil(pk);
}

/* error: nil on an ok result, else {code, message}. */
static void
pk_error(msgpack_packer *pk, const struct result *r)
{
	const char *name;

	if (r->code == ERR_NONE) {
		msgpack_pack_nil(pk);
		return;
	}
	if ((name = err_code_name(r->code)) == NULL)
		name = err_names[ERR_INTERNAL];
	msgpack_pack_map(pk, 2);
	pk_cstr(pk, "code");
	pk_cstr(pk, name);
	pk_cstr(pk, "message");
	pk_cstr(pk, r->errmsg != NULL ? r->errmsg : "");
}

/* candidates (the first ncands) and selected. */
static void
pk_candidates(msgpack_packer *pk, const struct result *r, size_t ncands)
{
	pk_cstr(pk, "candidates");
	msgpack_pack_array(pk, ncands);
	for (size_t i = 0; i < ncands; i++) {
		const struct candidate *c = &r->cands[i];

		msgpack_pack_map(pk, 5);
		pk_cstr(pk, "text");
		if (c->text != NULL)
			pk_str(pk, c->text, c->len);
		else
			pk_str(pk, "", 0);
		pk_cstr(pk, "probability");
		msgpack_pack_double(pk, c->probability);
		pk_cstr(pk, "verbalized");
		pk_double_nil(pk, c->verbalized);
		pk_cstr(pk, "turn");
		msgpack_pack_int(pk, c->turn);
		pk_cstr(pk, "finish_reason");
		pk_cstr_nil(pk, c->finish_reason);
	}
	pk_cstr(pk, "selected");
	if (r->selected >= 0 && (size_t)r->selected < ncands)
		msgpack_pack_int(pk, r->selected);
	else
		msgpack_pack_nil(pk);
}

/* dedup and diversity: nil on an error result or when not measured. */
static void
pk_scores(msgpack_packer *pk, const struct result *r)
{
	int ok = r->code == ERR_NONE;

	pk_cstr(pk, "dedup");
	if (ok && r->has_dedup) {
		msgpack_pack_map(pk, 2);
		pk_cstr(pk, "in_job");
		msgpack_pack_unsigned_int(pk, r->dedup_in_job);
		pk_cstr(pk, "in_scope");
		msgpack_pack_unsigned_int(pk, r->dedup_in_scope);
	} else
		msgpack_pack_nil(pk);
	pk_cstr(pk, "diversity");
	if (ok && r->has_diversity) {
		msgpack_pack_map(pk, 7);
		pk_cstr(pk, "semantic");
		pk_double_nil(pk, r->semantic);
		pk_cstr(pk, "rouge_l");
		pk_double_nil(pk, r->rouge_l);
		pk_cstr(pk, "distinct_1");
		pk_double_nil(pk, r->distinct[0]);
		pk_cstr(pk, "distinct_2");
		pk_double_nil(pk, r->distinct[1]);
		pk_cstr(pk, "distinct_3");
		pk_double_nil(pk, r->distinct[2]);
		pk_cstr(pk, "vendi");
		pk_double_nil(pk, r->vendi);
		pk_cstr(pk, "classes");
		if (r->classes >= 0)
			msgpack_pack_int(pk, r->classes);
		else
			msgpack_pack_nil(pk);
	} else
		msgpack_pack_nil(pk);
}

/* usage, attempts, failed_calls, latency_ms. */
static void
pk_counters(msgpack_packer *pk, const struct result *r)
{
	pk_cstr(pk, "usage");
	msgpack_pack_map(pk, 4);
	pk_cstr(pk, "requests");
	msgpack_pack_uint64(pk, r->requests);
	pk_cstr(pk, "prompt_tokens");
	msgpack_pack_uint64(pk, r->prompt_tokens);
	pk_cstr(pk, "completion_tokens");
	msgpack_pack_uint64(pk, r->completion_tokens);
	pk_cstr(pk, "cost");
	pk_double_nil(pk, r->cost);
	pk_cstr(pk, "attempts");
	msgpack_pack_unsigned_int(pk, r->attempts);
	pk_cstr(pk, "failed_calls");
	msgpack_pack_unsigned_int(pk, r->failed_calls);
	pk_cstr(pk, "latency_ms");
	msgpack_pack_uint64(pk, r->latency_ms);
}

/* source. */
static void
pk_source(msgpack_packer *pk, const struct result *r)
{
	pk_cstr(pk, "source");
	if (r->source_topic != NULL) {
		msgpack_pack_map(pk, 3);
		pk_cstr(pk, "topic");
		pk_cstr(pk, r->source_topic);
		pk_cstr(pk, "partition");
		msgpack_pack_int32(pk, r->source_partition);
		pk_cstr(pk, "offset");
		msgpack_pack_int64(pk, r->source_offset);
	} else
		msgpack_pack_nil(pk);
}

/* metadata, last, copied verbatim when it is exactly one object. */
static void
pk_metadata(msgpack_packer *pk, msgpack_sbuffer *sb, const struct result *r)
{
	size_t mlen;
	char err[64];

	pk_cstr(pk, "metadata");
	if (r->metadata != NULL && r->metadata_len > 0 &&
	    scan_result(
		r->metadata, r->metadata_len, &mlen, err, sizeof(err)) == 0 &&
	    mlen == r->metadata_len)
		sbuf_write(sb, r->metadata, r->metadata_len);
	else
		msgpack_pack_nil(pk);
}

/* provenance: always a map; what is not known is nil inside it. */
static void
pk_provenance(msgpack_packer *pk, const struct result *r)
{
	const struct provenance *pv = &r->prov;

	pk_cstr(pk, "provenance");
	msgpack_pack_map(pk, 5);
	pk_cstr(pk, "created");
	pk_cstr_nil(pk, pv->created);
	pk_cstr(pk, "vsampd");
	pk_cstr_nil(pk, pv->version);
	pk_cstr(pk, "template");
	pk_cstr_nil(pk, pv->template_id);
	pk_cstr(pk, "seed");
	if (pv->has_seed)
		msgpack_pack_uint64(pk, pv->seed);
	else
		msgpack_pack_nil(pk);
	pk_cstr(pk, "decoding");
	if (!pv->has_decoding) {
		msgpack_pack_nil(pk);
		return;
	}
	msgpack_pack_map(pk, 4);
	pk_cstr(pk, "temperature");
	pk_double_nil(pk, pv->temperature);
	pk_cstr(pk, "top_p");
	pk_double_nil(pk, pv->top_p);
	pk_cstr(pk, "max_tokens");
	if (pv->max_tokens > 0)
		msgpack_pack_long(pk, pv->max_tokens);
	else
		msgpack_pack_nil(pk);
	pk_cstr(pk, "structured_output");
	if (pv->structured)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

/*
 * Encode r (docs/schema.md): a map of every key, in a fixed order.
 * Whatever r holds, the wire keeps the contract: an error result has no
 * candidates and nil selected, dedup and diversity; a selection outside
 * the candidates is nil; metadata that is not exactly one msgpack object
 * is nil (it is copied verbatim otherwise). Returns a buffer the caller
 * frees with free(), its length in *lenp.
 */
char *
result_encode(const struct result *r, size_t *lenp)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int ok = r->code == ERR_NONE;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, sbuf_write);
	msgpack_pack_map(&pk, 18);
	pk_cstr(&pk, "v");
	msgpack_pack_int(&pk, RESULT_SCHEMA_VERSION);
	pk_cstr(&pk, "id");
	pk_cstr_nil(&pk, r->id);
	pk_cstr(&pk, "status");
	pk_cstr(&pk, ok ? "ok" : "error");
	pk_cstr(&pk, "error");
	pk_error(&pk, r);
	pk_cstr(&pk, "method");
	pk_cstr_nil(&pk, r->method);
	pk_cstr(&pk, "backend");
	pk_cstr_nil(&pk, r->backend);
	pk_cstr(&pk, "model");
	pk_cstr_nil(&pk, r->model);
	pk_candidates(&pk, r, ok ? r->ncands : 0);
	pk_scores(&pk, r);
	pk_counters(&pk, r);
	pk_source(&pk, r);
	pk_provenance(&pk, r);
	pk_metadata(&pk, &sb, r);
	*lenp = sb.size;
	return msgpack_sbuffer_release(&sb);
}

/* ---- decoding ---- */

/* Where the decoder reports: messages name the field, never its bytes. */
struct dec {
	char *errstr;
	size_t errlen;
};

static int
dec_fail(struct dec *d, const char *where, const char *key, const char *what)
{
	snprintf(d->errstr, d->errlen, "%s%s: %s", where, key, what);
	return -1;
}

/*
 * The value of key in map (where is the map's prefix for messages: "",
 * "usage.", "candidates[2]."). A key given twice is ambiguous, an error;
 * a missing one is an error when required (every key of schema version 1
 * as it was first written), else NULL with *absent set (the keys added
 * since: results of an older vsampd lack them). Other keys are ignored.
 */
static const msgpack_object *
dec_lookup(struct dec *d, const msgpack_object *map, const char *where,
    const char *key, int required, int *absent)
{
	const msgpack_object *found = NULL;
	size_t klen = strlen(key);

	/* Not absent until the scan says so: a duplicate is an error. */
	if (absent != NULL)
		*absent = 0;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type != MSGPACK_OBJECT_STR || k->via.str.size != klen ||
		    memcmp(k->via.str.ptr, key, klen) != 0)
			continue;
		if (found != NULL) {
			dec_fail(d, where, key, "duplicate key");
			return NULL;
		}
		found = &map->via.map.ptr[i].val;
	}
	if (found == NULL && required)
		dec_fail(d, where, key, "missing");
	if (absent != NULL)
		*absent = found == NULL && !required;
	return found;
}

static const msgpack_object *
dec_get(struct dec *d, const msgpack_object *map, const char *where,
    const char *key)
{
	return dec_lookup(d, map, where, key, 1, NULL);
}

/* A key added to schema version 1 later: NULL and *absent when missing. */
static const msgpack_object *
dec_added(struct dec *d, const msgpack_object *map, const char *where,
    const char *key, int *absent)
{
	return dec_lookup(d, map, where, key, 0, absent);
}

#define DEC_NIL 1 /* nil is allowed (a string becomes NULL) */
#define DEC_NUL 2 /* a string may hold NUL bytes (it has a length) */

/* A copy of a UTF-8 str. */
static int
dec_str(struct dec *d, const msgpack_object *map, const char *where,
    const char *key, int flags, char **sp, size_t *lenp)
{
	const msgpack_object *o;
	const char *s;
	size_t len;

	if ((o = dec_get(d, map, where, key)) == NULL)
		return -1;
	if ((flags & DEC_NIL) && o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_STR)
		return dec_fail(d, where, key, "expected str");
	s = o->via.str.ptr;
	len = o->via.str.size;
	if (len == 0)
		s = "";
	if (!utf8_valid(s, len))
		return dec_fail(d, where, key, "invalid UTF-8");
	if (!(flags & DEC_NUL) && memchr(s, '\0', len) != NULL)
		return dec_fail(d, where, key, "contains a NUL byte");
	*sp = xstrndup(s, len);
	if (lenp != NULL)
		*lenp = len;
	return 0;
}

/* An integer in [min, max]; *up gets it when it is not negative. */
static int
dec_int(struct dec *d, const msgpack_object *map, const char *where,
    const char *key, int64_t min, uint64_t max, int64_t *vp, uint64_t *up)
{
	const msgpack_object *o;

	if ((o = dec_get(d, map, where, key)) == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
		if (o->via.u64 > max)
			return dec_fail(d, where, key, "out of range");
		if (vp != NULL)
			*vp = (int64_t)o->via.u64;
		if (up != NULL)
			*up = o->via.u64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		if (o->via.i64 < min)
			return dec_fail(d, where, key, "out of range");
		if (vp != NULL)
			*vp = o->via.i64;
		return 0;
	}
	return dec_fail(d, where, key, "expected int");
}

static int
dec_uint(struct dec *d, const msgpack_object *map, const char *where,
    const char *key, uint64_t max, uint64_t *up)
{
	return dec_int(d, map, where, key, 0, max, NULL, up);
}

static int
dec_unsigned(struct dec *d, const msgpack_object *map, const char *where,
    const char *key, unsigned *up)
{
	uint64_t u;

	if (dec_uint(d, map, where, key, UINT_MAX, &u) != 0)
		return -1;
	*up = (unsigned)u;
	return 0;
}

/*
 * A number (float, or int from a less careful encoder). With DEC_NIL,
 * nil is NAN, and so are infinities, since the encoder writes them as nil.
 */
static int
dec_double(struct dec *d, const msgpack_object *map, const char *where,
    const char *key, int flags, double *dp)
{
	const msgpack_object *o;

	if ((o = dec_get(d, map, where, key)) == NULL)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*dp = o->via.f64;
		if ((flags & DEC_NIL) && !isfinite(*dp))
			*dp = NAN;
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*dp = (double)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*dp = (double)o->via.i64;
		return 0;
	case MSGPACK_OBJECT_NIL:
		if (flags & DEC_NIL) {
			*dp = NAN;
			return 0;
		}
		/* FALLTHROUGH */
	default:
		return dec_fail(d, where, key, "expected float");
	}
}

/*
 * A map, or NULL with *nilp set when it is nil and DEC_NIL allows it;
 * NULL with *nilp clear on error.
 */
static const msgpack_object *
dec_map(struct dec *d, const msgpack_object *map, const char *where,
    const char *key, int flags, int *nilp)
{
	const msgpack_object *o;

	*nilp = 0;
	if ((o = dec_get(d, map, where, key)) == NULL)
		return NULL;
	if (o->type == MSGPACK_OBJECT_MAP)
		return o;
	if ((flags & DEC_NIL) && o->type == MSGPACK_OBJECT_NIL)
		*nilp = 1;
	else
		dec_fail(d, where, key, "expected map");
	return NULL;
}

static int
dec_status(struct dec *d, struct result *r, const msgpack_object *top)
{
	const msgpack_object *o;
	char *s;
	int ok;

	if (dec_str(d, top, "", "status", 0, &s, NULL) != 0)
		return -1;
	ok = strcmp(s, "ok") == 0;
	if (!ok && strcmp(s, "error") != 0) {
		free(s);
		return dec_fail(d, "", "status", "neither ok nor error");
	}
	free(s);
	if ((o = dec_get(d, top, "", "error")) == NULL)
		return -1;
	if (ok && o->type != MSGPACK_OBJECT_NIL)
		return dec_fail(d, "", "error", "not nil on an ok result");
	if (ok)
		return 0;
	if (o->type != MSGPACK_OBJECT_MAP)
		return dec_fail(d, "", "error", "expected map");
	if (dec_str(d, o, "error.", "code", 0, &s, NULL) != 0)
		return -1;
	if (err_code_parse(s, &r->code) != 0 || r->code == ERR_NONE) {
		free(s);
		return dec_fail(d, "error.", "code", "unknown code");
	}
	free(s);
	return dec_str(d, o, "error.", "message", 0, &r->errmsg, NULL);
}

static int
dec_candidates(struct dec *d, struct result *r, const msgpack_object *top)
{
	const msgpack_object *o;
	char where[48];
	int absent;

	if ((o = dec_get(d, top, "", "candidates")) == NULL)
		return -1;
	if (o->type != MSGPACK_OBJECT_ARRAY)
		return dec_fail(d, "", "candidates", "expected array");
	if (o->via.array.size == 0)
		return 0;
	if (r->code != ERR_NONE)
		return dec_fail(d, "", "candidates", "not empty on an error");
	r->cands = xcalloc(o->via.array.size, sizeof(*r->cands));
	for (uint32_t i = 0; i < o->via.array.size; i++) {
		const msgpack_object *c = &o->via.array.ptr[i];
		struct candidate *cd = &r->cands[i];
		int64_t turn;

		/* Counted first, so that result_free frees what is set. */
		r->ncands++;
		snprintf(where, sizeof(where), "candidates[%" PRIu32 "]", i);
		if (c->type != MSGPACK_OBJECT_MAP)
			return dec_fail(d, where, "", "expected map");
		snprintf(where, sizeof(where), "candidates[%" PRIu32 "].", i);
		if (dec_str(d, c, where, "text", DEC_NUL, &cd->text,
			&cd->len) != 0 ||
		    dec_double(
			d, c, where, "probability", 0, &cd->probability) != 0 ||
		    dec_double(d, c, where, "verbalized", DEC_NIL,
			&cd->verbalized) != 0 ||
		    dec_int(d, c, where, "turn", INT_MIN, INT_MAX, &turn,
			NULL) != 0)
			return -1;
		cd->turn = (int)turn;
		if (dec_added(d, c, where, "finish_reason", &absent) == NULL) {
			if (!absent)
				return -1;
		} else if (dec_str(d, c, where, "finish_reason", DEC_NIL,
			       &cd->finish_reason, NULL) != 0)
			return -1;
	}
	return 0;
}

static int
dec_selected(struct dec *d, struct result *r, const msgpack_object *top)
{
	const msgpack_object *o;
	int64_t sel;

	if ((o = dec_get(d, top, "", "selected")) == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (dec_int(d, top, "", "selected", 0, INT_MAX, &sel, NULL) != 0)
		return -1;
	if ((size_t)sel >= r->ncands)
		return dec_fail(
		    d, "", "selected", "not an index into candidates");
	r->selected = (int)sel;
	return 0;
}

/* diversity.vendi and diversity.classes, added to schema version 1:
 * nil when absent. */
static int
dec_diversity_added(struct dec *d, struct result *r, const msgpack_object *o)
{
	const msgpack_object *v;
	int64_t k;
	int absent;

	if ((v = dec_added(d, o, "diversity.", "vendi", &absent)) == NULL) {
		if (!absent)
			return -1;
	} else if (dec_double(d, o, "diversity.", "vendi", DEC_NIL,
		       &r->vendi) != 0)
		return -1;
	if ((v = dec_added(d, o, "diversity.", "classes", &absent)) == NULL)
		return absent ? 0 : -1;
	if (v->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (dec_int(d, o, "diversity.", "classes", 0, INT_MAX, &k, NULL) != 0)
		return -1;
	r->classes = (int)k;
	return 0;
}

static int
dec_scores(struct dec *d, struct result *r, const msgpack_object *top)
{
	const msgpack_object *o;
	int nil;

	if ((o = dec_map(d, top, "", "dedup", DEC_NIL, &nil)) == NULL && !nil)
		return -1;
	if (o != NULL) {
		if (r->code != ERR_NONE)
			return dec_fail(d, "", "dedup", "not nil on an error");
		r->has_dedup = 1;
		if (dec_unsigned(d, o, "dedup.", "in_job", &r->dedup_in_job) !=
			0 ||
		    dec_unsigned(
			d, o, "dedup.", "in_scope", &r->dedup_in_scope) != 0)
			return -1;
	}
	if ((o = dec_map(d, top, "", "diversity", DEC_NIL, &nil)) == NULL &&
	    !nil)
		return -1;
	if (o != NULL) {
		if (r->code != ERR_NONE)
			return dec_fail(
			    d, "", "diversity", "not nil on an error");
		r->has_diversity = 1;
		if (dec_double(d, o, "diversity.", "semantic", DEC_NIL,
			&r->semantic) != 0 ||
		    dec_double(d, o, "diversity.", "rouge_l", DEC_NIL,
			&r->rouge_l) != 0 ||
		    dec_double(d, o, "diversity.", "distinct_1", DEC_NIL,
			&r->distinct[0]) != 0 ||
		    dec_double(d, o, "diversity.", "distinct_2", DEC_NIL,
			&r->distinct[1]) != 0 ||
		    dec_double(d, o, "diversity.", "distinct_3", DEC_NIL,
			&r->distinct[2]) != 0 ||
		    dec_diversity_added(d, r, o) != 0)
			return -1;
	}
	return 0;
}

static int
dec_counters(struct dec *d, struct result *r, const msgpack_object *top)
{
	const msgpack_object *o;
	int nil, absent;

	if ((o = dec_map(d, top, "", "usage", 0, &nil)) == NULL)
		return -1;
	if (dec_uint(d, o, "usage.", "requests", UINT64_MAX, &r->requests) !=
		0 ||
	    dec_uint(d, o, "usage.", "prompt_tokens", UINT64_MAX,
		&r->prompt_tokens) != 0 ||
	    dec_uint(d, o, "usage.", "completion_tokens", UINT64_MAX,
		&r->completion_tokens) != 0)
		return -1;
	/* cost came later: a result without it has none (nil) */
	if (dec_added(d, o, "usage.", "cost", &absent) == NULL) {
		if (!absent)
			return -1;
	} else if (dec_double(d, o, "usage.", "cost", DEC_NIL, &r->cost) != 0)
		return -1;
	else if (r->cost < 0)
		return dec_fail(d, "usage.", "cost", "negative");
	if (dec_unsigned(d, top, "", "attempts", &r->attempts) != 0 ||
	    dec_unsigned(d, top, "", "failed_calls", &r->failed_calls) != 0 ||
	    dec_uint(d, top, "", "latency_ms", UINT64_MAX, &r->latency_ms) != 0)
		return -1;
	return 0;
}

static int
dec_source(struct dec *d, struct result *r, const msgpack_object *top)
{
	const msgpack_object *o;
	int64_t part;
	int nil;

	if ((o = dec_map(d, top, "", "source", DEC_NIL, &nil)) == NULL)
		return nil ? 0 : -1;
	if (dec_str(d, o, "source.", "topic", 0, &r->source_topic, NULL) != 0 ||
	    dec_int(d, o, "source.", "partition", INT32_MIN, INT32_MAX, &part,
		NULL) != 0 ||
	    dec_int(d, o, "source.", "offset", INT64_MIN, INT64_MAX,
		&r->source_offset, NULL) != 0)
		return -1;
	r->source_partition = (int32_t)part;
	return 0;
}

/* Metadata is re-packed into bytes of its own (nil: none). */
static int
dec_metadata(struct dec *d, struct result *r, const msgpack_object *top)
{
	const msgpack_object *o;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if ((o = dec_get(d, top, "", "metadata")) == NULL)
		return -1;
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, sbuf_write);
	msgpack_pack_object(&pk, *o);
	r->metadata_len = sb.size;
	r->metadata = msgpack_sbuffer_release(&sb);
	return 0;
}

/* provenance.decoding: nil, or the four keys. */
static int
dec_decoding(struct dec *d, struct provenance *pv, const msgpack_object *o)
{
	const msgpack_object *v;
	int64_t mt;

	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_MAP)
		return dec_fail(d, "provenance.", "decoding", "expected map");
	pv->has_decoding = 1;
	if (dec_double(d, o, "provenance.decoding.", "temperature", DEC_NIL,
		&pv->temperature) != 0 ||
	    dec_double(d, o, "provenance.decoding.", "top_p", DEC_NIL,
		&pv->top_p) != 0 ||
	    (v = dec_get(d, o, "provenance.decoding.", "max_tokens")) == NULL)
		return -1;
	if (v->type != MSGPACK_OBJECT_NIL) {
		if (dec_int(d, o, "provenance.decoding.", "max_tokens", 1,
			LONG_MAX, &mt, NULL) != 0)
			return -1;
		pv->max_tokens = (long)mt;
	}
	if ((v = dec_get(d, o, "provenance.decoding.", "structured_output")) ==
	    NULL)
		return -1;
	if (v->type != MSGPACK_OBJECT_BOOLEAN)
		return dec_fail(d, "provenance.decoding.", "structured_output",
		    "expected bool");
	pv->structured = v->via.boolean;
	return 0;
}

/* provenance: a map added to schema version 1; absent in older results
 * (then every part of it is nil). */
static int
dec_provenance(struct dec *d, struct result *r, const msgpack_object *top)
{
	struct provenance *pv = &r->prov;
	const msgpack_object *o, *v;
	int absent;

	free(pv->version);
	pv->version = NULL;
	if ((o = dec_added(d, top, "", "provenance", &absent)) == NULL)
		return absent ? 0 : -1;
	if (o->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (o->type != MSGPACK_OBJECT_MAP)
		return dec_fail(d, "", "provenance", "expected map");
	if (dec_str(d, o, "provenance.", "created", DEC_NIL, &pv->created,
		NULL) != 0 ||
	    dec_str(d, o, "provenance.", "vsampd", DEC_NIL, &pv->version,
		NULL) != 0 ||
	    dec_str(d, o, "provenance.", "template", DEC_NIL,
		&pv->template_id, NULL) != 0 ||
	    (v = dec_get(d, o, "provenance.", "seed")) == NULL)
		return -1;
	if (v->type != MSGPACK_OBJECT_NIL) {
		if (dec_uint(d, o, "provenance.", "seed", UINT64_MAX,
			&pv->seed) != 0)
			return -1;
		pv->has_seed = 1;
	}
	if ((v = dec_get(d, o, "provenance.", "decoding")) == NULL)
		return -1;
	return dec_decoding(d, pv, v);
}

static int
dec_result(struct dec *d, struct result *r, const msgpack_object *top)
{
	const msgpack_object *o;

	if (top->type != MSGPACK_OBJECT_MAP) {
		snprintf(d->errstr, d->errlen, "result is not a map");
		return -1;
	}
	if ((o = dec_get(d, top, "", "v")) == NULL)
		return -1;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    o->via.u64 != RESULT_SCHEMA_VERSION)
		return dec_fail(d, "", "v", "unsupported schema version");
	if (dec_str(d, top, "", "id", DEC_NIL, &r->id, NULL) != 0 ||
	    dec_status(d, r, top) != 0 ||
	    dec_str(d, top, "", "method", DEC_NIL, &r->method, NULL) != 0 ||
	    dec_str(d, top, "", "backend", DEC_NIL, &r->backend, NULL) != 0 ||
	    dec_str(d, top, "", "model", DEC_NIL, &r->model, NULL) != 0 ||
	    dec_candidates(d, r, top) != 0 || dec_selected(d, r, top) != 0 ||
	    dec_scores(d, r, top) != 0 || dec_counters(d, r, top) != 0 ||
	    dec_source(d, r, top) != 0 || dec_metadata(d, r, top) != 0 ||
	    dec_provenance(d, r, top) != 0)
		return -1;
	return 0;
}

/*
 * Decode one msgpack-encoded result: exactly one map, nothing after it,
 * every key of section 4 present once with its type, v = 1, and the
 * error-result rules of section 9; other keys are ignored. Work and
 * memory are bounded by len: the pre-scan rejects element counts the
 * bytes cannot hold and nesting msgpack-c would refuse. Returns a new
 * result (the caller frees it), or NULL with errstr.
 */
struct result *
result_decode(const void *buf, size_t len, char *errstr, size_t errlen)
{
	struct dec d = {errstr, errlen};
	msgpack_unpacked u;
	struct result *r;
	size_t objlen, off = 0;
	int rc;

	if (buf == NULL || len == 0) {
		snprintf(errstr, errlen, "empty result");
		return NULL;
	}
	if (scan_result(buf, len, &objlen, errstr, errlen) != 0)
		return NULL;
	if (objlen != len) {
		snprintf(errstr, errlen, "trailing bytes after the result");
		return NULL;
	}
	msgpack_unpacked_init(&u);
	rc = msgpack_unpack_next(&u, buf, len, &off);
	if (rc != MSGPACK_UNPACK_SUCCESS || off != len) {
		/* The scan passed, so msgpack-c ran out of memory. */
		msgpack_unpacked_destroy(&u);
		snprintf(errstr, errlen, "cannot unpack msgpack (%d)", rc);
		return NULL;
	}
	r = result_new();
	if (dec_result(&d, r, &u.data) != 0) {
		result_free(r);
		r = NULL;
	}
	msgpack_unpacked_destroy(&u);
	return r;
}

/* ---- JSON ---- */

/* Jansson's allocations fail only when memory does. */
static json_t *
jcheck(json_t *j)
{
	if (j == NULL)
		fatalx("out of memory");
	return j;
}

static void
jset(json_t *obj, const char *key, json_t *val)
{
	if (json_object_set_new(obj, key, jcheck(val)) != 0)
		fatalx("out of memory");
}

static json_t *
jstr_nil(const char *s)
{
	return s == NULL ? json_null() : utf8_json_string(s, strlen(s));
}

/* The metadata bytes as JSON; null when absent or not one object. */
static json_t *
metadata_json(const struct result *r)
{
	json_t *j = mpjson_bytes(r->metadata, r->metadata_len);

	return j != NULL ? j : json_null();
}

/* provenance as result_encode() writes it. */
static json_t *
provenance_json(const struct provenance *pv)
{
	json_t *o = jcheck(json_object()), *dec;

	jset(o, "created", jstr_nil(pv->created));
	jset(o, "vsampd", jstr_nil(pv->version));
	jset(o, "template", jstr_nil(pv->template_id));
	/* A string: JSON readers hold integers above 2^53 (and jansson
	 * above 2^63 - 1) as floats, and a seed must be exact. */
	if (pv->has_seed) {
		char buf[24];

		snprintf(buf, sizeof(buf), "%" PRIu64, pv->seed);
		jset(o, "seed", json_string(buf));
	} else
		jset(o, "seed", json_null());
	if (pv->has_decoding) {
		dec = jcheck(json_object());
		jset(dec, "temperature", mpjson_real(pv->temperature));
		jset(dec, "top_p", mpjson_real(pv->top_p));
		jset(dec, "max_tokens",
		    pv->max_tokens > 0 ? json_integer(pv->max_tokens)
				       : json_null());
		jset(dec, "structured_output", json_boolean(pv->structured));
		jset(o, "decoding", dec);
	} else
		jset(o, "decoding", json_null());
	return o;
}

/*
 * The result as one compact JSON line without the newline: the keys of
 * result_encode(), in the same order and under the same rules, with
 * NaN as null and metadata converted by mpjson. Text that is not UTF-8
 * gets U+FFFD for each bad byte. It is printed as mpjson_dumps() prints
 * (floats with 15 significant digits), so that it is the text vsampctl
 * has always shown. Returns a string the caller frees with free().
 */
char *
result_to_json(const struct result *r)
{
	json_t *root, *o, *a;
	int ok = r->code == ERR_NONE;
	size_t ncands = ok ? r->ncands : 0;
	const char *name;
	char *s;

	root = jcheck(json_object());
	jset(root, "v", json_integer(RESULT_SCHEMA_VERSION));
	jset(root, "id", jstr_nil(r->id));
	jset(root, "status", json_string(ok ? "ok" : "error"));
	if (ok)
		jset(root, "error", json_null());
	else {
		if ((name = err_code_name(r->code)) == NULL)
			name = err_names[ERR_INTERNAL];
		o = jcheck(json_object());
		jset(o, "code", json_string(name));
		jset(
		    o, "message", jstr_nil(r->errmsg != NULL ? r->errmsg : ""));
		jset(root, "error", o);
	}
	jset(root, "method", jstr_nil(r->method));
	jset(root, "backend", jstr_nil(r->backend));
	jset(root, "model", jstr_nil(r->model));

	a = jcheck(json_array());
	for (size_t i = 0; i < ncands; i++) {
		const struct candidate *c = &r->cands[i];

		o = jcheck(json_object());
		jset(o, "text", utf8_json_string(c->text, c->len));
		jset(o, "probability", mpjson_real(c->probability));
		jset(o, "verbalized", mpjson_real(c->verbalized));
		jset(o, "turn", json_integer(c->turn));
		jset(o, "finish_reason", jstr_nil(c->finish_reason));
		if (json_array_append_new(a, o) != 0)
			fatalx("out of memory");
	}
	jset(root, "candidates", a);
	if (r->selected >= 0 && (size_t)r->selected < ncands)
		jset(root, "selected", json_integer(r->selected));
	else
		jset(root, "selected", json_null());

	if (ok && r->has_dedup) {
		o = jcheck(json_object());
		jset(o, "in_job", json_integer(r->dedup_in_job));
		jset(o, "in_scope", json_integer(r->dedup_in_scope));
		jset(root, "dedup", o);
	} else
		jset(root, "dedup", json_null());
	if (ok && r->has_diversity) {
		o = jcheck(json_object());
		jset(o, "semantic", mpjson_real(r->semantic));
		jset(o, "rouge_l", mpjson_real(r->rouge_l));
		jset(o, "distinct_1", mpjson_real(r->distinct[0]));
		jset(o, "distinct_2", mpjson_real(r->distinct[1]));
		jset(o, "distinct_3", mpjson_real(r->distinct[2]));
		jset(o, "vendi", mpjson_real(r->vendi));
		jset(o, "classes", r->classes >= 0 ? json_integer(r->classes)
						   : json_null());
		jset(root, "diversity", o);
	} else
		jset(root, "diversity", json_null());

	o = jcheck(json_object());
	jset(o, "requests", mpjson_uint(r->requests));
	jset(o, "prompt_tokens", mpjson_uint(r->prompt_tokens));
	jset(o, "completion_tokens", mpjson_uint(r->completion_tokens));
	jset(o, "cost", mpjson_real(r->cost));
	jset(root, "usage", o);
	jset(root, "attempts", json_integer(r->attempts));
	jset(root, "failed_calls", json_integer(r->failed_calls));
	jset(root, "latency_ms", mpjson_uint(r->latency_ms));

	if (r->source_topic != NULL) {
		o = jcheck(json_object());
		jset(o, "topic", jstr_nil(r->source_topic));
		jset(o, "partition", json_integer(r->source_partition));
		jset(o, "offset", json_integer(r->source_offset));
		jset(root, "source", o);
	} else
		jset(root, "source", json_null());
	jset(root, "provenance", provenance_json(&r->prov));
	jset(root, "metadata", metadata_json(r));

	s = mpjson_dumps(root);
	json_decref(root);
	return s;
}
