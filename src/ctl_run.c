/*
 * ctl_run: `vsampctl run`, the embedded mode. JSON-lines (or msgpack-free
 * JSON) jobs from a file or standard input go through the daemon's own
 * pipeline (pipeline.c: the same decoding, calls, parsing, dedup,
 * diversity and selection) on our event loop, with no Kafka at all, and
 * their results come out as JSON lines in input order, printed by
 * result_to_json() as tail prints what it reads.
 *
 * At most -j jobs are in flight; results that finish early wait in a
 * ring until the ones before them are written. Standard input that is a
 * pipe or a terminal is read without blocking, so backend calls keep
 * going while it is slow. SIGINT or SIGTERM stops reading and lets the
 * jobs in flight finish; a second one quits at once.
 *
 * The shared flags, config and line reader are ctl.c's; this file never
 * reaches back into vsampctl.c.
 */
#include <sys/signalfd.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ctl.h"
#include "loop.h"
#include "pipeline.h"
#include "progress.h"
#include "result.h"
#include "xmalloc.h"

struct run_slot {
	size_t line; /* input line number, 1-based */
	struct result *res; /* NULL until done */
	int busy;
};

struct run {
	const struct conf *conf;
	struct loop *loop;
	struct pipeline *pl;
	struct ctl_reader *in;
	struct loop_io *in_io;
	FILE *out;
	struct run_slot *ring;
	size_t cap;
	size_t next_seq; /* sequence number of the next job read */
	size_t next_out; /* sequence number of the next result to write */
	size_t lineno;
	size_t ok, failed;
	int eof; /* no more input */
	int stopping; /* a signal asked to stop reading */
	int quit; /* a second signal: leave now */
	int out_error;
	struct progress prog;
};

static void
run_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl run [-q] [-f conf] [-j jobs] [-o out] [FILE|-]\n"
	    "\n"
	    "Run the JSON-lines jobs of FILE (default: standard input)\n"
	    "through vsampd's pipeline against the config's backends, with\n"
	    "no Kafka, and write one JSON result per line, in input order.\n"
	    "Only the config's backends and defaults.backend are needed.\n"
	    "\n"
	    "  -f FILE   the vsampd config (default %s)\n"
	    "  -j N      at most N jobs in flight (default\n"
	    "            worker.max_inflight)\n"
	    "  -o FILE   write results to FILE (default: standard output)\n"
	    "  -q        no progress bar, no summary\n"
	    "\n"
	    "Error results (bad jobs, backend failures) are written like\n"
	    "the daemon writes them, and named with their input line on\n"
	    "standard error. Exit status: 0 when every job has a result,\n"
	    "1 on an input or output error, 2 on a usage or config error.\n",
	    CONF_DEFAULT_PATH);
}

/* Write what is done at the head of the ring, in order. */
static void
run_flush(struct run *r)
{
	for (;;) {
		struct run_slot *s = &r->ring[r->next_out % r->cap];
		char *json;

		if (r->next_out == r->next_seq || s->res == NULL)
			break;
		json = result_to_json(s->res);
		if (fprintf(r->out, "%s\n", json) < 0)
			r->out_error = 1;
		free(json);
		if (s->res->code != ERR_NONE) {
			r->failed++;
			fprintf(stderr,
			    "%svsampctl: line %zu: job %s: %s: %s\n",
			    r->prog.drawn ? "\r\033[K" : "", s->line,
			    s->res->id ? s->res->id : "(no id)",
			    err_code_name(s->res->code),
			    s->res->errmsg ? s->res->errmsg : "");
		} else
			r->ok++;
		result_free(s->res);
		s->res = NULL;
		s->busy = 0;
		r->next_out++;
	}
	fflush(r->out);
	progress_update(&r->prog, r->ok + r->failed, r->failed, 0);
}

static void
run_on_result(void *arg, void *token, struct result *res)
{
	struct run *r = arg;
	struct run_slot *s = token;

	s->res = res;
	run_flush(r);
}

/* Blank lines (and lines of white space) are not jobs. */
static int
blank(const char *s, long n)
{
	for (long i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

/* Submit lines while there is room in the ring and input to read. */
static void
run_feed(struct run *r)
{
	size_t max = (size_t)r->conf->max_message_bytes + 1;

	while (!r->eof && !r->stopping && r->next_seq - r->next_out < r->cap) {
		struct run_slot *s;
		char *line;
		int cut;
		long n = ctl_reader_next(r->in, &line, max, &cut);

		if (n == -2)
			return; /* the loop calls again when readable */
		if (n == -1) {
			if (errno != 0) {
				fprintf(stderr, "vsampctl: reading jobs: %s\n",
				    strerror(errno));
				r->out_error = 1;
			}
			r->eof = 1;
			break;
		}
		r->lineno++;
		if (blank(line, n))
			continue;
		s = &r->ring[r->next_seq % r->cap];
		s->line = r->lineno;
		s->busy = 1;
		s->res = NULL;
		r->next_seq++;
		/* A cut line is one byte over the cap: the pipeline answers
		 * it with too_large, as the daemon would. */
		pipeline_submit(r->pl, line, (size_t)n + (size_t)cut, NULL, s);
	}
	if ((r->eof || r->stopping) && r->in_io != NULL) {
		loop_io_del(r->in_io);
		r->in_io = NULL;
	}
}

static void
run_on_input(int fd, uint32_t events, void *arg)
{
	(void)fd;
	(void)events;
	run_feed(arg);
}

static void
run_on_signal(int fd, uint32_t events, void *arg)
{
	struct run *r = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (r->stopping)
			r->quit = 1;
		r->stopping = 1;
		fprintf(stderr,
		    "%svsampctl: stopping: finishing %zu job(s) in flight "
		    "(again to quit now)\n",
		    r->prog.drawn ? "\r\033[K" : "", r->next_seq - r->next_out);
	}
}

/* Lines of a regular file, for the progress bar's total; 0 otherwise. */
static size_t
count_lines(const char *path)
{
	FILE *f;
	size_t n = 0;
	int c, last = '\n';

	if (path == NULL || strcmp(path, "-") == 0)
		return 0;
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while ((c = getc(f)) != EOF) {
		if (c == '\n' && last != '\n')
			n++;
		last = c;
	}
	if (last != '\n')
		n++;
	fclose(f);
	return n;
}

/* run's options; returns -1 to go on, else the exit status. */
static int
run_args(int argc, char **argv, struct ctl_common *co, long *jobs,
    const char **outpath)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int ch;

	optind = 1;
	while ((ch = ctl_getopt(co, argc, argv, "f:j:o:qh", longopts)) != -1) {
		switch (ch) {
		case 'j':
			*jobs = strtol(optarg, NULL, 10);
			if (*jobs < 1 || *jobs > 100000) {
				fprintf(stderr,
				    "vsampctl run: -j takes 1 to 100000\n");
				return 2;
			}
			break;
		case 'o':
			*outpath = optarg;
			break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	if (argc - optind > 1) {
		run_usage(stderr);
		return 2;
	}
	return -1;
}

/* Open the input and the output; returns -1 to go on, else 1. */
static int
run_open(struct run *r, const char *inpath, const char *outpath)
{
	char err[512];

	if ((r->in = ctl_reader_open(inpath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "vsampctl run: %s\n", err);
		return 1;
	}
	r->out = stdout;
	if (outpath != NULL && strcmp(outpath, "-") != 0 &&
	    (r->out = fopen(outpath, "w")) == NULL) {
		fprintf(
		    stderr, "vsampctl run: %s: %s\n", outpath, strerror(errno));
		ctl_reader_close(r->in);
		r->in = NULL;
		return 1;
	}
	return -1;
}

/*
 * SIGINT and SIGTERM come through a signalfd on the loop, SIGPIPE is
 * blocked; a pipe or terminal is read as it becomes readable, while a
 * regular file (which epoll refuses) is read whenever there is room.
 * Returns the signalfd, or -1; *sio gets its loop entry.
 */
static int
run_watch(struct run *r, struct loop_io **sio)
{
	struct stat st;
	sigset_t set;
	int sfd, fd = ctl_reader_fd(r->in);

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGPIPE);
	if ((sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) >= 0)
		*sio = loop_io_add(r->loop, sfd, EPOLLIN, run_on_signal, r);
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		int fl = fcntl(fd, F_GETFL);

		if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)
			r->in_io =
			    loop_io_add(r->loop, fd, EPOLLIN, run_on_input, r);
	}
	return sfd;
}

/* Feed jobs and write results until all are out or a second signal;
 * returns the exit status so far. */
static int
run_loop(struct run *r)
{
	run_feed(r);
	while (!r->quit &&
	    (r->next_out < r->next_seq || (!r->eof && !r->stopping))) {
		/* Spin only while a regular file has lines and the ring room;
		 * otherwise sleep until a socket, timer or signal wakes us. */
		int more = r->in_io == NULL && !r->eof && !r->stopping &&
		    r->next_seq - r->next_out < r->cap;

		if (loop_run_once(r->loop, more ? 0 : 1000) == -1) {
			perror("vsampctl run: epoll_wait");
			return 1;
		}
		if (r->in_io == NULL)
			run_feed(r);
		progress_update(&r->prog, r->ok + r->failed, r->failed, 0);
	}
	return 0;
}

int
ctl_run(int argc, char **argv)
{
	struct ctl_common co = {0};
	const char *outpath = NULL, *inpath;
	struct run r;
	struct conf *conf;
	struct loop_io *sio = NULL;
	char err[512];
	int sfd = -1, status;
	long jobs = 0;

	memset(&r, 0, sizeof(r));
	if ((status = run_args(argc, argv, &co, &jobs, &outpath)) != -1)
		return status;
	inpath = optind < argc ? argv[optind] : NULL;
	if ((conf = ctl_load_conf(&co, 0)) == NULL)
		return 2;
	r.conf = conf;
	if ((status = run_open(&r, inpath, outpath)) != -1) {
		conf_free(conf);
		return status;
	}
	status = 0;
	r.cap = jobs > 0 ? (size_t)jobs : (size_t)conf->max_inflight;
	r.ring = xcalloc(r.cap, sizeof(*r.ring));
	if ((r.loop = loop_new()) == NULL) {
		perror("vsampctl run: epoll");
		exit(1);
	}
	r.pl = pipeline_new(r.loop, conf, run_on_result, &r, err, sizeof(err));
	if (r.pl == NULL) {
		fprintf(stderr, "vsampctl run: %s\n", err);
		status = 2;
		goto out;
	}
	sfd = run_watch(&r, &sio);
	progress_init(&r.prog, "jobs", count_lines(inpath), !co.quiet);
	status = run_loop(&r);
	progress_update(&r.prog, r.ok + r.failed, r.failed, 1);
	progress_end(&r.prog);
	if (!co.quiet)
		fprintf(stderr,
		    "vsampctl run: %zu job(s): %zu ok, %zu error%s\n",
		    r.ok + r.failed, r.ok, r.failed,
		    r.quit ? " (stopped before the end)" : "");
	if (r.out_error)
		status = 1;
	if (r.quit)
		status = 130;
out:
	loop_io_del(sio);
	loop_io_del(r.in_io);
	pipeline_free(r.pl);
	for (size_t i = 0; i < r.cap; i++)
		result_free(r.ring[i].res);
	free(r.ring);
	loop_free(r.loop);
	if (sfd >= 0)
		close(sfd);
	if (r.out != stdout && r.out != NULL && fclose(r.out) != 0)
		status = 1;
	ctl_reader_close(r.in);
	conf_free(conf);
	return status;
}
