/*
 * vsampctl: the companion tool of vsampd for people (vsampctl(1)):
 * submit JSON-lines jobs to the jobs topic, tail results as JSON
 * lines, run jobs with no Kafka at all through the daemon's own
 * pipeline, and report on the diversity of a results file or topic.
 * This file holds main(), the shared option and config handling, and
 * the line reader the subcommands share.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "xmalloc.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl [-V] COMMAND [options] [args]\n"
	    "\n"
	    "commands:\n"
	    "  run     run JSON-lines jobs through the pipeline, no Kafka:\n"
	    "          results as JSON lines (vsampctl run --help)\n"
	    "  submit  produce JSON-lines jobs to the jobs topic\n"
	    "  tail    print results from the results topic as JSON lines\n"
	    "  report  a diversity table and an SVG chart per method, from\n"
	    "          a results file or topic\n"
	    "\n"
	    "Each command takes -f FILE (the vsampd config, default %s)\n"
	    "and --help. See vsampctl(1).\n",
	    CONF_DEFAULT_PATH);
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

	c = conf_load(path, need_kafka && co->brokers == NULL ? CONF_NEED_KAFKA
							       : 0,
	    conf_warn, NULL, err, sizeof(err));
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
			snprintf(errstr, errlen, "%s: %s", path,
			    strerror(errno));
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
			size_t l = nl ? (size_t)(nl - (r->buf + r->off)) : avail;
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

/* ---- main ---- */

int
main(int argc, char *argv[])
{
	const char *cmd;
	int rc;

	log_init("vsampctl", LOG_LVL_WARNING);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("vsampctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "vsampctl: cannot initialise libcurl\n");
		return 1;
	}
	if (strcmp(cmd, "run") == 0)
		rc = ctl_run(argc - 1, argv + 1);
	else if (strcmp(cmd, "submit") == 0)
		rc = ctl_submit(argc - 1, argv + 1);
	else if (strcmp(cmd, "tail") == 0)
		rc = ctl_tail(argc - 1, argv + 1);
	else if (strcmp(cmd, "report") == 0)
		rc = ctl_report(argc - 1, argv + 1);
	else {
		fprintf(stderr, "vsampctl: unknown command \"%s\"\n\n", cmd);
		usage(stderr);
		rc = 2;
	}
	curl_global_cleanup();
	return rc;
}
