/*
 * mpjson: the one msgpack-to-JSON writer (see mpjson.h), through jansson,
 * which does the escaping. It owns the mapping of msgpack types onto JSON
 * and the one way JSON text is printed for people; it reads no bytes and
 * does no I/O.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "log.h"
#include "mpjson.h"
#include "mpscan.h"
#include "utf8.h"
#include "xmalloc.h"

/* Jansson's allocations fail only when memory does. */
static json_t *
mpjson_check(json_t *j)
{
	if (j == NULL)
		fatalx("out of memory");
	return j;
}

/* A JSON string of data in base64 (RFC 4648, with padding). */
static json_t *
mpjson_base64(const void *data, size_t len)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *u = data;
	struct buf b;
	json_t *v;

	buf_init(&b);
	for (size_t i = 0; i < len; i += 3) {
		unsigned x = (unsigned)u[i] << 16;
		char q[4];

		if (i + 1 < len)
			x |= (unsigned)u[i + 1] << 8;
		if (i + 2 < len)
			x |= u[i + 2];
		q[0] = tab[(x >> 18) & 63];
		q[1] = tab[(x >> 12) & 63];
		q[2] = i + 1 < len ? tab[(x >> 6) & 63] : '=';
		q[3] = i + 2 < len ? tab[x & 63] : '=';
		buf_append(&b, q, 4);
	}
	v = mpjson_check(json_stringn(b.data ? b.data : "", b.len));
	buf_free(&b);
	return v;
}

/*
 * The largest magnitude that 15 significant digits print as a finite
 * number: DBL_MAX and the doubles just below it round up to
 * 1.79769313486232e308, which is past DBL_MAX, so a JSON reader would
 * take it for an overflow (jansson refuses it, others read infinity).
 */
#define MPJSON_REAL_MAX 1.79769313486231e308

json_t *
mpjson_real(double d)
{
	if (!isfinite(d))
		return mpjson_check(json_null());
	if (fabs(d) > MPJSON_REAL_MAX)
		d = copysign(MPJSON_REAL_MAX, d);
	return mpjson_check(json_real(d));
}

json_t *
mpjson_uint(uint64_t u)
{
	if (u > (uint64_t)INT64_MAX)
		return mpjson_check(json_real((double)u));
	return mpjson_check(json_integer((json_int_t)u));
}

/* A key for a map entry: a string as it is, anything else as the JSON
 * text of its JSON form (1 -> "1", bin -> "\"AQ==\""). */
static json_t *
mpjson_key(const msgpack_object *k)
{
	json_t *kj, *s;
	char *text;

	if (k->type == MSGPACK_OBJECT_STR)
		return utf8_json_string(k->via.str.ptr, k->via.str.size);
	kj = mpjson_value(k);
	text = json_dumps(kj, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(kj);
	if (text == NULL)
		fatalx("out of memory");
	s = mpjson_check(json_string(text));
	free(text);
	return s;
}

/* An object of the map's entries; a later duplicate key wins. */
static json_t *
mpjson_map(const msgpack_object *o)
{
	json_t *v = mpjson_check(json_object());

	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		json_t *k = mpjson_key(&kv->key);

		if (json_object_setn_new(v, json_string_value(k),
			json_string_length(k), mpjson_value(&kv->val)) != 0)
			fatalx("out of memory");
		json_decref(k);
	}
	return v;
}

json_t *
mpjson_value(const msgpack_object *o)
{
	json_t *v;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return mpjson_uint(o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return mpjson_check(json_integer((json_int_t)o->via.i64));
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return mpjson_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
		return utf8_json_string(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return mpjson_base64(o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_EXT:
		return mpjson_base64(o->via.ext.ptr, o->via.ext.size);
	case MSGPACK_OBJECT_ARRAY:
		v = mpjson_check(json_array());
		for (uint32_t i = 0; i < o->via.array.size; i++)
			if (json_array_append_new(
				v, mpjson_value(&o->via.array.ptr[i])) != 0)
				fatalx("out of memory");
		return v;
	case MSGPACK_OBJECT_MAP:
		return mpjson_map(o);
	}
	return json_null();
}

/* The one object of buf[0..len) as JSON (see mpjson.h). */
json_t *
mpjson_bytes(const void *buf, size_t len)
{
	msgpack_unpacked u;
	size_t objlen, at, off = 0;
	json_t *j = NULL;

	if (buf == NULL || len == 0 ||
	    mpscan_object(buf, len, &objlen, &at) != MPSCAN_OK || objlen != len)
		return NULL;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, buf, len, &off) == MSGPACK_UNPACK_SUCCESS)
		j = mpjson_value(&u.data);
	msgpack_unpacked_destroy(&u);
	return j;
}

char *
mpjson_dumps(const json_t *v)
{
	char *s;

	/* JSON_PRESERVE_ORDER is what jansson does since 2.8 anyway. */
	s = json_dumps(v,
	    JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER |
		JSON_REAL_PRECISION(15));
	if (s == NULL)
		fatalx("out of memory");
	return s;
}
