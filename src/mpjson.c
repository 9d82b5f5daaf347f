/*
 * mpjson: msgpack to JSON through jansson, which does the escaping.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "mpjson.h"
#include "utf8.h"
#include "xmalloc.h"

#define MAX_DEPTH 64

json_t *
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
	v = json_stringn(b.data ? b.data : "", b.len);
	buf_free(&b);
	return v;
}

static json_t *
to_json(const msgpack_object *o, int depth)
{
	json_t *v;

	if (depth > MAX_DEPTH)
		return NULL;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > (uint64_t)INT64_MAX)
			return json_real((double)o->via.u64);
		return json_integer((json_int_t)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer((json_int_t)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return json_null();
		return json_real(o->via.f64);
	case MSGPACK_OBJECT_STR:
		return utf8_json_string(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return mpjson_base64(o->via.bin.ptr, o->via.bin.size);
	case MSGPACK_OBJECT_EXT:
		return mpjson_base64(o->via.ext.ptr, o->via.ext.size);
	case MSGPACK_OBJECT_ARRAY:
		v = json_array();
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			json_t *e = to_json(&o->via.array.ptr[i], depth + 1);

			if (e == NULL) {
				json_decref(v);
				return NULL;
			}
			json_array_append_new(v, e);
		}
		return v;
	case MSGPACK_OBJECT_MAP:
		v = json_object();
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object_kv *kv = &o->via.map.ptr[i];
			json_t *val = to_json(&kv->val, depth + 1), *k;
			char *key;

			if (val == NULL) {
				json_decref(v);
				return NULL;
			}
			if (kv->key.type == MSGPACK_OBJECT_STR) {
				k = utf8_json_string(
				    kv->key.via.str.ptr, kv->key.via.str.size);
			} else {
				json_t *kj = to_json(&kv->key, depth + 1);

				key = kj ? json_dumps(kj,
					       JSON_COMPACT | JSON_ENCODE_ANY)
					 : NULL;
				json_decref(kj);
				k = json_string(key ? key : "?");
				free(key);
			}
			json_object_setn_new(v, json_string_value(k),
			    json_string_length(k), val);
			json_decref(k);
		}
		return v;
	}
	return json_null();
}

/* The JSON text of one msgpack value (see mpjson.h). */
char *
mpjson_from_msgpack(const void *buf, size_t len, char *errstr, size_t errlen)
{
	msgpack_unpacked up;
	size_t off = 0;
	json_t *v = NULL;
	char *out = NULL;
	int rc;

	msgpack_unpacked_init(&up);
	rc = msgpack_unpack_next(&up, buf, len, &off);
	if (rc != MSGPACK_UNPACK_SUCCESS || off != len)
		snprintf(errstr, errlen, "not one msgpack value");
	else if ((v = to_json(&up.data, 0)) == NULL)
		snprintf(errstr, errlen, "msgpack nests deeper than %d levels",
		    MAX_DEPTH);
	else
		/* 15 significant digits: 0.3333 prints as 0.3333, not as
		 * 0.33329999999999999, and no figure here needs more. */
		out = json_dumps(v,
		    JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
	json_decref(v);
	msgpack_unpacked_destroy(&up);
	return out;
}
