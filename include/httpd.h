/*
 * httpd: the metrics and health endpoint, libmicrohttpd folded into our
 * event loop (docs/operations.md). MHD runs with MHD_USE_EPOLL and no
 * thread of its own: its epoll fd is watched by the loop, and MHD_run()
 * is called when it is readable and when MHD's own timeout comes.
 * Requests are answered at once from the loop, so an answer is proof
 * that the loop turns. Only GET and HEAD are served; headers are capped
 * by a per-connection memory limit and connections by count and idle
 * timeout.
 */
#ifndef VSAMPD_HTTPD_H
#define VSAMPD_HTTPD_H

#include <stddef.h>

#include "xmalloc.h"

struct loop;
struct httpd;

/* What a handler answers: status, content type (static) and body. */
struct httpd_answer {
	unsigned status;
	const char *content_type;
	struct buf body;
};

/* Fill a (status 200 and an empty body preset) for a GET of path. */
typedef void (*httpd_cb)(void *arg, const char *path, struct httpd_answer *a);

/*
 * Listen on "host:port" or "[addr]:port" (numeric addresses, or
 * "localhost"), serving from loop l. Returns NULL with errstr when the
 * address is bad or cannot be bound.
 */
struct httpd *httpd_new(struct loop *l, const char *listen, httpd_cb cb,
    void *arg, char *errstr, size_t errlen);
/* Stop serving and close every connection. NULL is a no-op. */
void httpd_free(struct httpd *h);

#endif
