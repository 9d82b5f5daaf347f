/*
 * ctl: the subcommands of vsampctl(1), the companion tool for people,
 * and what they share (ctl.c). Each subcommand takes the arguments after
 * its name (argv[0] is the subcommand) and returns the process exit
 * status: 0 success, 1 a failure of the work (unreachable broker, a job
 * that could not be submitted, unreadable input), 2 a usage or config
 * error. ctl.c calls none of them: main() in vsampctl.c dispatches.
 */
#ifndef VSAMPD_CTL_H
#define VSAMPD_CTL_H

#include <signal.h>
#include <stdio.h>

struct conf;
struct json_t;
struct option;

/* Options every subcommand shares. */
struct ctl_common {
	const char *conf_path; /* -f; NULL: the default path */
	const char *brokers; /* -b: overrides kafka.brokers */
	const char *topic; /* -t: overrides the subcommand's topic */
	int quiet; /* -q: no progress bar, no summary */
};

/*
 * getopt_long() over argv for a subcommand, with the shared flags taken
 * care of: -f FILE, -b BROKERS, -t TOPIC and -q go into co, as far as
 * opts lists them. Returns the next other option character (or '?' and
 * ':' as getopt does), or -1 after the last option.
 */
int ctl_getopt(struct ctl_common *co, int argc, char **argv, const char *opts,
    const struct option *longopts);

/* Set by SIGINT and SIGTERM once ctl_catch_signals() has run: the
 * subcommand stops reading and finishes what it began. */
extern volatile sig_atomic_t ctl_interrupted;
void ctl_catch_signals(void);

int ctl_run(int argc, char **argv);
int ctl_submit(int argc, char **argv);
int ctl_tail(int argc, char **argv);
int ctl_report(int argc, char **argv);
int ctl_export(int argc, char **argv);
int ctl_replay(int argc, char **argv);
int ctl_eval(int argc, char **argv);

/*
 * Load the config for a subcommand: need_kafka != 0 wants the kafka
 * section (unless -b gives brokers). Prints the error naming file, line
 * and key to stderr and returns NULL on failure.
 */
struct conf *ctl_load_conf(const struct ctl_common *co, int need_kafka);

/*
 * The value at a dotted path ("metadata.task") inside the JSON value v,
 * borrowed from v; NULL when a step is missing or not an object.
 */
struct json_t *ctl_json_get(struct json_t *v, const char *path);

/*
 * Read the next line of fd into *line (NUL-terminated, without the
 * newline; *cap is its buffer size). Lines over max bytes are cut, and
 * *cut is set. Returns the length, or -1 at end of input or on error
 * (errno set; 0 at the end).
 */
struct ctl_reader;
struct ctl_reader *ctl_reader_open(
    const char *path, char *errstr, size_t errlen);
long ctl_reader_next(struct ctl_reader *r, char **line, size_t max, int *cut);
int ctl_reader_fd(const struct ctl_reader *r);
void ctl_reader_close(struct ctl_reader *r);

/* Write s to fp as SVG (XML) text: & < > " ' escaped. */
void ctl_svg_text(FILE *fp, const char *s);

#endif
