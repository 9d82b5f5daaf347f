/*
 * vsampd: verbalized-sampling generation daemon.
 *
 * usage: vsampd [-dhnvV] [-f file]
 * The daemon never forks: systemd (Type=notify) supervises it.
 *
 * It parses the command line, loads the config and hands it to
 * daemon_run(); it holds no logic of its own.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "kafka.h"
#include "log.h"

static void usage(FILE *, int) __attribute__((noreturn));

/* The usage: to stdout with status 0 when asked for (-h), to stderr with
 * status 1 after a usage error. */
static void
usage(FILE *fp, int status)
{
	fprintf(fp,
	    "usage: vsampd [-dhnvV] [-f file]\n"
	    "  -d       log at debug level\n"
	    "  -f file  read the configuration from file\n"
	    "           (default %s)\n"
	    "  -h       print this help and exit\n"
	    "  -n       check the configuration, print the effective "
	    "settings and exit\n"
	    "  -v       more verbose\n"
	    "  -V       print the version and exit\n"
	    "See vsampd(8) and vsampd.conf(5).\n",
	    CONF_DEFAULT_PATH);
	exit(status);
}

static void
conf_warn(void *arg, const char *msg)
{
	log_warnx("%s", msg);
}

/* Raise the soft open-files limit to the hard one: each backend
 * connection and broker connection is a descriptor. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("cannot raise the open files limit");
	}
}

int
main(int argc, char *argv[])
{
	const char *path = CONF_DEFAULT_PATH;
	int ch, check = 0, level = LOG_LVL_INFO, status;
	struct conf *conf;
	sigset_t set;
	char err[1024];

	/* Block the signals we read from a signalfd before any thread
	 * (librdkafka's, curl's resolver) exists, so they all inherit it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
		perror("sigprocmask");
		return 1;
	}
	log_init("vsampd", LOG_LVL_INFO);
	while ((ch = getopt(argc, argv, "df:hnvV")) != -1) {
		switch (ch) {
		case 'd':
			level = LOG_LVL_DEBUG;
			break;
		case 'f':
			path = optarg;
			break;
		case 'h':
			usage(stdout, 0);
		case 'n':
			check = 1;
			break;
		case 'v':
			if (level < LOG_LVL_DEBUG)
				level++;
			break;
		case 'V':
			printf("vsampd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr, 1);
		}
	}
	if (optind != argc)
		usage(stderr, 1);
	log_setlevel(level);

	conf =
	    conf_load(path, CONF_NEED_KAFKA, conf_warn, NULL, err, sizeof(err));
	if (conf == NULL) {
		log_warnx("%s", err);
		if (check)
			fprintf(stderr, "configuration failed\n");
		return 1;
	}
	if (check) {
		/* librdkafka judges the passthrough properties itself. */
		if (kafka_check(conf, err, sizeof(err)) == -1) {
			log_warnx("%s: %s", path, err);
			fprintf(stderr, "configuration failed\n");
			conf_free(conf);
			return 1;
		}
		conf_print(conf, stdout);
		printf("configuration OK\n");
		conf_free(conf);
		return 0;
	}
	raise_nofile();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	status = daemon_run(conf); /* frees conf */
	curl_global_cleanup();
	return status;
}
