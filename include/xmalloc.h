/*
 * xmalloc: allocation that cannot fail. Running out of memory is one of
 * the few fatal conditions (docs/architecture.md).
 */
#ifndef VSAMPD_XMALLOC_H
#define VSAMPD_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* Copy len bytes and add a NUL. */
char *xstrndup(const char *s, size_t len);
/* Allocate a formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A growable byte buffer. Strings built in it are kept NUL-terminated
 * (the NUL is not counted in len).
 */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hand the data over to the caller (NUL-terminated) and empty b. */
char *buf_release(struct buf *b, size_t *lenp);

/*
 * Join the n names with ", " into the caller's buf of len bytes (NUL-
 * terminated; the names that do not fit whole are left out). For the
 * "allowed: a, b, c" of error messages, which must not allocate.
 */
void names_join(char *buf, size_t len, const char *const *names, size_t n);

#endif
