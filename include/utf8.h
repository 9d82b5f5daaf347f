/*
 * utf8: validation of text that comes from outside (jobs, model replies),
 * and its conversion into JSON strings. Leaf module: no I/O.
 */
#ifndef VSAMPD_UTF8_H
#define VSAMPD_UTF8_H

#include <stddef.h>

/* Return 1 when s[0..len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 otherwise. NUL bytes are valid. */
int utf8_valid(const char *s, size_t len);

/* The length (1 to 4) of the valid UTF-8 sequence starting at s (of len
 * bytes), or 0 when s starts with an invalid or truncated one. */
size_t utf8_seq_len(const char *s, size_t len);

/* Length of the longest prefix of s[0..len) that does not end inside a
 * multi-byte sequence (for truncating text without splitting characters). */
size_t utf8_trim(const char *s, size_t len);

/*
 * The one conversion of text into a JSON string: a new reference to a
 * JSON string of s[0..len), every byte that does not start a valid
 * sequence replaced by U+FFFD, so that jansson takes any bytes at all
 * (it refuses invalid UTF-8). NUL bytes are kept (as \u0000); s may be
 * NULL when len is 0. Never returns NULL (out of memory is fatal).
 */
struct json_t;
struct json_t *utf8_json_string(const char *s, size_t len);

#endif
