/*
 * ctl: what the vsampctl subcommands share (see ctl.h): the flags every
 * subcommand takes, loading the config, a path into a JSON value, and
 * the line reader of their JSON-lines input. It owns no subcommand and
 * never calls into one, nor into vsampctl.c, which dispatches to them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "conf.h"
#include "ctl.h"
#include "xmalloc.h"

/* The next option that is not one of the shared flags (see ctl.h). */
int
ctl_getopt(struct ctl_common *co, int argc, char **argv, const char *opts,
    const struct option *longopts)
{
	int ch;

	for (;;) {
		ch = getopt_long(argc, argv, opts, longopts, NULL);
		switch (ch) {
		case 'f':
			co->conf_path = optarg;
			break;
		case 'b':
			co->brokers = optarg;
			break;
		case 't':
			co->topic = optarg;
			break;
		case 'q':
			co->quiet = 1;
			break;
		default:
			return ch;
		}
	}
}

volatile sig_atomic_t ctl_interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	ctl_interrupted = 1;
}

/* SIGINT and SIGTERM set ctl_interrupted (see ctl.h). */
void
ctl_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void
conf_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "vsampctl: warning: %s\n", msg);
}

/* Load the config a subcommand needs (see ctl.h). */
struct conf *
ctl_load_conf(const struct ctl_common *co, int need_kafka)
{
	const char *path = co->conf_path ? co->conf_path : CONF_DEFAULT_PATH;
	struct conf *c;
	char err[1024];

	c = conf_load(path,
	    need_kafka && co->brokers == NULL ? CONF_NEED_KAFKA : 0, conf_warn,
	    NULL, err, sizeof(err));
	if (c == NULL) {
		fprintf(stderr, "vsampctl: %s\n", err);
		return NULL;
	}
	if (co->brokers != NULL) {
		free(c->brokers);
		c->brokers = xstrdup(co->brokers);
	}
	if (need_kafka && (c->brokers == NULL || *c->brokers == '\0')) {
		fprintf(stderr,
		    "vsampctl: %s: kafka.brokers is not set (or give -b)\n",
		    path);
		conf_free(c);
		return NULL;
	}
	return c;
}

/* The value at a dotted path of v (see ctl.h). */
json_t *
ctl_json_get(json_t *v, const char *path)
{
	char buf[256], *save = NULL, *part;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, ".", &save); part != NULL && v != NULL;
	     part = strtok_r(NULL, ".", &save))
		v = json_object_get(v, part);
	return v;
}

/* ---- the line reader ---- */

struct ctl_reader {
	int fd;
	int own; /* close fd at the end */
	char *buf;
	size_t off, len, cap;
	int eof;
	int skipping; /* discarding the rest of a cut line */
};

/* Open path ("-" or NULL: standard input). */
struct ctl_reader *
ctl_reader_open(const char *path, char *errstr, size_t errlen)
{
	struct ctl_reader *r = xcalloc(1, sizeof(*r));

	if (path == NULL || strcmp(path, "-") == 0) {
		r->fd = STDIN_FILENO;
	} else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			snprintf(
			    errstr, errlen, "%s: %s", path, strerror(errno));
			free(r);
			return NULL;
		}
		r->own = 1;
	}
	r->cap = 65536;
	r->buf = xmalloc(r->cap);
	return r;
}

int
ctl_reader_fd(const struct ctl_reader *r)
{
	return r->fd;
}

/*
 * The next line (see ctl.h); -2 when the fd is non-blocking and has
 * nothing more for now. The line is valid until the next call.
 */
long
ctl_reader_next(struct ctl_reader *r, char **line, size_t max, int *cut)
{
	*cut = 0;
	for (;;) {
		char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
		size_t avail = r->len - r->off;
		ssize_t n;

		if (nl != NULL || (r->eof && avail > 0) ||
		    (avail > max && !r->skipping)) {
			size_t l =
			    nl ? (size_t)(nl - (r->buf + r->off)) : avail;
			char *start = r->buf + r->off;

			if (r->skipping) {
				/* The tail of a line already cut: drop it. */
				r->off += l + (nl != NULL);
				r->skipping = 0;
				continue;
			}
			if (l > max) {
				*cut = 1;
				l = max;
				r->skipping = nl == NULL;
				r->off += nl ? (size_t)(nl - start) + 1 : avail;
			} else
				r->off += l + (nl != NULL);
			start[l] = '\0';
			if (l > 0 && start[l - 1] == '\r')
				start[--l] = '\0';
			*line = start;
			return (long)l;
		}
		if (r->eof) {
			errno = 0;
			return -1;
		}
		if (r->skipping) {
			/* Keep nothing of a line being dropped. */
			r->off = r->len = 0;
		}
		/* Make room: move what is left to the front, then grow. */
		if (r->off > 0) {
			memmove(r->buf, r->buf + r->off, r->len - r->off);
			r->len -= r->off;
			r->off = 0;
		}
		if (r->cap - r->len < 4096) {
			r->cap *= 2;
			r->buf = xreallocarray(r->buf, r->cap, 1);
		}
		n = read(r->fd, r->buf + r->len, r->cap - r->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -2;
			return -1;
		}
		if (n == 0)
			r->eof = 1;
		r->len += (size_t)n;
	}
}

void
ctl_reader_close(struct ctl_reader *r)
{
	if (r == NULL)
		return;
	if (r->own)
		close(r->fd);
	free(r->buf);
	free(r);
}

/* Text for SVG: escape the five XML specials (see ctl.h). */
void
ctl_svg_text(FILE *fp, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", fp);
			break;
		case '<':
			fputs("&lt;", fp);
			break;
		case '>':
			fputs("&gt;", fp);
			break;
		case '"':
			fputs("&quot;", fp);
			break;
		case '\'':
			fputs("&apos;", fp);
			break;
		default:
			fputc(*s, fp);
		}
	}
}
