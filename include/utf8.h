/*
 * utf8: validation of text that comes from outside (jobs, model replies).
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

/* Append s[0..len) to out with every byte that does not start a valid
 * sequence replaced by U+FFFD, so that the text is valid UTF-8. */
struct buf;
void utf8_repair(const char *s, size_t len, struct buf *out);

#endif
