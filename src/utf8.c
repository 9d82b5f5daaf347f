/*
 * utf8: the project's one UTF-8 code (RFC 3629): the strict validator,
 * the one sequence-length helper, truncation on a character boundary, and
 * the one conversion of bytes that ought to be UTF-8 into a JSON string
 * (request bodies, vsampctl's JSON, results as JSON).
 *
 * Leaf module: no I/O, no state; jansson only for the JSON string.
 */
#include <stdint.h>

#include <jansson.h>

#include "log.h"
#include "utf8.h"
#include "xmalloc.h"

/* The length a lead byte announces (1 to 4), or 0 when c leads nothing. */
static size_t
utf8_lead_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 0;
}

/* The length of the valid sequence at s, or 0 (see utf8.h). */
size_t
utf8_seq_len(const char *s, size_t len)
{
	static const uint32_t lead_mask[] = {0, 0x7f, 0x1f, 0x0f, 0x07};
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	const unsigned char *p = (const unsigned char *)s;
	size_t n, need;
	uint32_t cp;

	if (len == 0 || (n = utf8_lead_len(p[0])) == 0)
		return 0;
	if (n == 1)
		return 1;
	need = n - 1;
	cp = p[0] & lead_mask[n];
	if (len <= need)
		return 0;
	for (size_t j = 1; j <= need; j++) {
		if ((p[j] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[j] & 0x3f);
	}
	if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

int
utf8_valid(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t n = utf8_seq_len(s + i, len - i);

		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

size_t
utf8_trim(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = len, back = 0, seq;

	/* Walk back over continuation bytes to the last lead byte. */
	while (i > 0 && back < 4 && (p[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0)
		return len;
	/* A byte that leads nothing counts as a whole (invalid) character. */
	seq = utf8_lead_len(p[i - 1]);
	if (seq > back + 1)
		return i - 1;
	return len;
}

/*
 * A new JSON string of s[0..len) (see utf8.h): the bytes as they are when
 * they are valid UTF-8, else each byte that starts no valid sequence
 * replaced by U+FFFD. Running out of memory is fatal.
 */
json_t *
utf8_json_string(const char *s, size_t len)
{
	struct buf b;
	json_t *j;
	size_t i = 0;

	if (len == 0)
		s = "";
	if (utf8_valid(s, len))
		j = json_stringn(s, len);
	else {
		buf_init(&b);
		while (i < len) {
			size_t n = utf8_seq_len(s + i, len - i);

			if (n == 0) {
				buf_append(&b, "\xef\xbf\xbd", 3);
				i++;
			} else {
				buf_append(&b, s + i, n);
				i += n;
			}
		}
		j = json_stringn(b.data, b.len);
		buf_free(&b);
	}
	if (j == NULL)
		fatalx("out of memory");
	return j;
}
