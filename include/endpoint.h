/*
 * endpoint: the metrics and health endpoint, libmicrohttpd folded into our
 * event loop (docs/operations.md). MHD runs with MHD_USE_EPOLL and no
 * thread of its own: its epoll fd is watched by the loop, and MHD_run()
 * is called when it is readable and when MHD's own timeout comes.
 * Requests are answered at once from the loop, so an answer is proof
 * that the loop turns. Only GET and HEAD are served; headers are capped
 * by a per-connection memory limit and connections by count and idle
 * timeout.
 */
#ifndef VSAMPD_ENDPOINT_H
#define VSAMPD_ENDPOINT_H

#include <stddef.h>

#include "xmalloc.h"

struct loop;
struct endpoint;

/* What a handler answers: status, content type (static) and body. */
struct endpoint_answer {
	unsigned status;
	const char *content_type;
	struct buf body;
};

/* Fill a (status 200 and an empty body preset) for a GET of path. */
typedef void (*endpoint_cb)(
    void *arg, const char *path, struct endpoint_answer *a);

/*
 * Listen on "host:port" or "[addr]:port" (numeric addresses, or
 * "localhost"), serving from loop l. Returns NULL with errstr when the
 * address is bad or cannot be bound.
 */
struct endpoint *endpoint_new(struct loop *l, const char *listen,
    endpoint_cb cb, void *arg, char *errstr, size_t errlen);
/* Stop serving and close every connection. NULL is a no-op. */
void endpoint_free(struct endpoint *h);

#endif
