/*
 * mpjson: one msgpack value as JSON, for people and JSON-lines tools
 * (vsampctl tail and run print results this way). Maps become objects
 * (keys that are not strings are printed as JSON strings of their JSON
 * form), arrays arrays, nil null, booleans and numbers as they are
 * (NaN and infinities, which JSON lacks, become null), strings as
 * strings (invalid UTF-8 is replaced by U+FFFD, so the output is
 * always valid JSON), binary data as base64 strings. Leaf module.
 */
#ifndef VSAMPD_MPJSON_H
#define VSAMPD_MPJSON_H

#include <stddef.h>

#include <jansson.h>

/*
 * The JSON text (compact, one line, no trailing newline) of the single
 * msgpack value in buf[0..len). Returns a malloc'ed NUL-terminated
 * string, or NULL with errstr when buf is not exactly one value or nests
 * deeper than 64 levels.
 */
char *mpjson_from_msgpack(
    const void *buf, size_t len, char *errstr, size_t errlen);

/* A JSON string of data in base64 (RFC 4648, with padding). */
json_t *mpjson_base64(const void *data, size_t len);

#endif
