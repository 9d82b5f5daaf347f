/*
 * utf8: a strict validator (RFC 3629).
 */
#include <stdint.h>

#include "utf8.h"
#include "xmalloc.h"

/* The length of the valid sequence at s, or 0 (see utf8.h). */
size_t
utf8_seq_len(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char c;
	size_t need;
	uint32_t cp, min;

	if (len == 0)
		return 0;
	c = p[0];
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		need = 1;
		cp = c & 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		need = 2;
		cp = c & 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		need = 3;
		cp = c & 0x07;
		min = 0x10000;
	} else
		return 0;
	if (len <= need)
		return 0;
	for (size_t j = 1; j <= need; j++) {
		if ((p[j] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
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
	size_t i = len, back = 0;

	/* Walk back over continuation bytes to the last lead byte. */
	while (i > 0 && back < 4 && (p[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0)
		return len;
	{
		unsigned char c = p[i - 1];
		size_t seq = c < 0x80	 ? 1
		    : (c & 0xe0) == 0xc0 ? 2
		    : (c & 0xf0) == 0xe0 ? 3
		    : (c & 0xf8) == 0xf0 ? 4
					 : 1;

		if (seq > back + 1)
			return i - 1;
	}
	return len;
}

/* Append s with every invalid byte replaced by U+FFFD (see utf8.h). */
void
utf8_repair(const char *s, size_t len, struct buf *out)
{
	size_t i = 0;

	while (i < len) {
		size_t n = utf8_seq_len(s + i, len - i);

		if (n == 0) {
			buf_append(out, "\xef\xbf\xbd", 3);
			i++;
		} else {
			buf_append(out, s + i, n);
			i += n;
		}
	}
}
