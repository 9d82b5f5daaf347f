/*
 * mpjson: the one msgpack-to-JSON writer, for people and JSON-lines
 * tools (vsampctl prints results through it). Maps become objects (keys
 * that are not strings are printed as JSON strings of their JSON form),
 * arrays arrays, nil null, booleans and numbers as they are (NaN and
 * infinities, which JSON lacks, become null; integers beyond int64 become
 * reals), strings as strings (invalid UTF-8 is replaced by U+FFFD, so
 * the output is always valid JSON), binary data and the data of ext
 * values as base64 strings. result_to_json() is its user: vsampctl reads
 * results with result_decode() and prints them through it.
 *
 * Leaf module: no I/O; it converts values it is handed and never parses
 * bytes itself (msgpack-c and the pre-scan in mpscan.c do that, also for
 * mpjson_bytes).
 */
#ifndef VSAMPD_MPJSON_H
#define VSAMPD_MPJSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <msgpack.h>

/*
 * A new JSON value for the unpacked msgpack value o. Recursion is bounded
 * by msgpack-c's own nesting limit. Never NULL: out of memory is fatal.
 */
json_t *mpjson_value(const msgpack_object *o);

/*
 * A new JSON value for the one msgpack object that buf[0..len) holds
 * (metadata kept as bytes), pre-scanned by mpscan before msgpack-c
 * unpacks it. NULL when len is 0 or the bytes are not exactly one
 * well-formed object.
 */
json_t *mpjson_bytes(const void *buf, size_t len);

/* A JSON number for d, or null for NaN and infinities. A magnitude that
 * 15 digits would round past the largest double prints as
 * 1.79769313486231e308, so that every reader gets a finite number. */
json_t *mpjson_real(double d);

/* A JSON integer for u, or past the int64 range a real (rounded). */
json_t *mpjson_uint(uint64_t u);

/*
 * The JSON text of v: compact, one line, no trailing newline, keys in
 * insertion order, reals with 15 significant digits (0.3333 prints as
 * 0.3333, not 0.33329999999999999). Returns a malloc'ed string; out of
 * memory is fatal.
 */
char *mpjson_dumps(const json_t *v);

#endif
