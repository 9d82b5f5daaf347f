/*
 * endpoint: libmicrohttpd in external-epoll mode inside our loop. MHD's
 * epoll fd aggregates its listening socket and connections; the loop
 * watches that one fd. After every MHD_run() the MHD timeout (idle
 * connections) re-arms a loop timer, so nothing in MHD waits on a thread.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "endpoint.h"
#include "log.h"
#include "loop.h"
#include "xmalloc.h"

#define CONN_LIMIT 64
#define CONN_TIMEOUT_S 10
#define CONN_MEMORY (32 * 1024) /* request line and headers */

struct endpoint {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	struct loop_io *io;
	struct loop_timer *timer;
	endpoint_cb cb;
	void *arg;
};

static void endpoint_run(struct endpoint *h);

static enum MHD_Result
endpoint_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct endpoint *h = cls;
	struct endpoint_answer a;
	struct MHD_Response *resp;
	enum MHD_Result r;
	int head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	memset(&a, 0, sizeof(a));
	buf_init(&a.body);
	a.content_type = "text/plain; charset=utf-8";
	if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
		/* Any body is ignored: the answer goes out at once, and MHD
		 * closes the connection after it. */
		*upload_data_size = 0;
		a.status = MHD_HTTP_METHOD_NOT_ALLOWED;
		buf_puts(&a.body, "only GET and HEAD are served\n");
	} else {
		a.status = MHD_HTTP_OK;
		h->cb(h->arg, url, &a);
	}
	resp = MHD_create_response_from_buffer(a.body.len,
	    a.body.data ? a.body.data : (void *)"", MHD_RESPMEM_MUST_COPY);
	buf_free(&a.body);
	if (resp == NULL)
		return MHD_NO;
	(void)MHD_add_response_header(resp, "Content-Type", a.content_type);
	(void)MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (a.status == MHD_HTTP_METHOD_NOT_ALLOWED)
		(void)MHD_add_response_header(resp, "Allow", "GET, HEAD");
	r = MHD_queue_response(c, a.status, resp);
	MHD_destroy_response(resp);
	return r;
}

static void
endpoint_on_timer(void *arg)
{
	endpoint_run(arg);
}

static void
endpoint_on_fd(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	endpoint_run(arg);
}

/* Let MHD do what is ready, then arm the timer for its next timeout. */
static void
endpoint_run(struct endpoint *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	(void)MHD_run(h->mhd);
	if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
		loop_timer_set(h->timer, ms > 60000 ? 60000 : (uint64_t)ms);
	else
		loop_timer_stop(h->timer);
}

/* MHD's error log goes to ours, at warning level. */
static void endpoint_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
endpoint_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warnx("metrics endpoint: %s", msg);
}

/* Parse "host:port" / "[v6]:port" into ss; 0 or -1. */
static int
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sl)
{
	const char *colon = strrchr(listen, ':');
	char host[128];
	size_t hl;
	long port;
	char *end;

	if (colon == NULL)
		return -1;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	hl = (size_t)(colon - listen);
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
		listen++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -1;
	memcpy(host, listen, hl);
	host[hl] = '\0';
	if (strcmp(host, "localhost") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	memset(ss, 0, sizeof(*ss));
	if (strchr(host, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return -1;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*sl = sizeof(*s4);
	}
	return 0;
}

/* Start serving on listen (see endpoint.h). */
struct endpoint *
endpoint_new(struct loop *l, const char *listen, endpoint_cb cb, void *arg,
    char *errstr, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	const union MHD_DaemonInfo *info;
	unsigned int flags;
	struct endpoint *h;

	if (parse_listen(listen, &ss, &sl) != 0) {
		snprintf(errstr, errlen,
		    "metrics.listen \"%s\": not a numeric host:port", listen);
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->loop = l;
	h->cb = cb;
	h->arg = arg;
	flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The logger first: MHD logs with its own until it is set. */
	h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, endpoint_request, h,
	    MHD_OPTION_EXTERNAL_LOGGER, endpoint_log, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONN_LIMIT,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)CONN_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
	    MHD_OPTION_END);
	if (h->mhd == NULL) {
		snprintf(errstr, errlen,
		    "metrics.listen \"%s\": cannot listen (address in use or "
		    "not local?)",
		    listen);
		free(h);
		return NULL;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		snprintf(errstr, errlen, "metrics endpoint: no epoll fd");
		MHD_stop_daemon(h->mhd);
		free(h);
		return NULL;
	}
	h->timer = loop_timer_new(l, endpoint_on_timer, h);
	h->io = loop_io_add(l, info->epoll_fd, EPOLLIN, endpoint_on_fd, h);
	if (h->io == NULL) {
		snprintf(errstr, errlen, "metrics endpoint: cannot watch fd");
		loop_timer_free(h->timer);
		MHD_stop_daemon(h->mhd);
		free(h);
		return NULL;
	}
	(void)sl;
	return h;
}

void
endpoint_free(struct endpoint *h)
{
	if (h == NULL)
		return;
	loop_io_del(h->io);
	loop_timer_free(h->timer);
	MHD_stop_daemon(h->mhd);
	free(h);
}
