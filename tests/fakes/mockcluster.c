/*
 * mockcluster: a librdkafka mock cluster (rdkafka_mock.h) driven from
 * stdin, for integration tests that need Kafka faults a real broker
 * cannot be made to show on cue.
 *
 *	mockcluster [-b brokers] [-t topic:partitions[:replication]]...
 *
 * Prints "BOOTSTRAP host:port,..." once the cluster is up, then reads one
 * command per line and answers each with "OK ..." or "ERR ..." so that a
 * test can wait for the fault to be in place before it goes on:
 *
 *	push_errors API COUNT ERR...     next COUNT requests of API fail
 *	broker_push_errors ID API ERR[:RTT_MS]...   same, on one broker
 *	clear_errors API
 *	broker_down ID [MS]              down (and back up after MS)
 *	broker_up ID
 *	broker_rtt ID MS
 *	leader TOPIC PARTITION ID
 *	coordinator group|transaction KEY ID
 *	coordinator_down group|transaction KEY MS
 *	topic_create TOPIC PARTITIONS [REPLICATION]
 *	topic_error TOPIC ERR
 *	apiversion API MIN MAX
 *	sleep MS
 *	quit
 *
 * API is a number or a request name (Produce, OffsetCommit, ...); ERR is
 * a number or an error name (NOT_ENOUGH_REPLICAS, _TRANSPORT, ...). EOF on
 * stdin, SIGTERM and SIGINT mean quit. The mock brokers listen on
 * 127.0.0.1 only.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAXARGS 64
#define MAXTIMERS 64
#define LINEMAX 4096

/* A broker to bring back up at a deadline (broker_down ID MS). */
struct timer {
	int active;
	int32_t broker;
	struct timespec when;
};

static volatile sig_atomic_t quit_flag;
static struct timer timers[MAXTIMERS];

static const struct {
	const char *name;
	int16_t key;
} apikeys[] = {
    {"Produce", 0},
    {"Fetch", 1},
    {"ListOffsets", 2},
    {"Metadata", 3},
    {"OffsetCommit", 8},
    {"OffsetFetch", 9},
    {"FindCoordinator", 10},
    {"JoinGroup", 11},
    {"Heartbeat", 12},
    {"LeaveGroup", 13},
    {"SyncGroup", 14},
    {"DescribeGroups", 15},
    {"ListGroups", 16},
    {"ApiVersions", 18},
    {"CreateTopics", 19},
    {"InitProducerId", 22},
    {"OffsetForLeaderEpoch", 23},
    {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25},
    {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static void
on_signal(int sig)
{
	(void)sig;
	quit_flag = 1;
}

static void reply(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Parse a whole decimal number in [min, max]. */
static int
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
parse_int(const char *s, int min, int max, int *out)
{
	long v;

	if (parse_long(s, min, max, &v) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

static int
parse_apikey(const char *s, int16_t *out)
{
	size_t i;
	int v;

	for (i = 0; i < sizeof(apikeys) / sizeof(apikeys[0]); i++) {
		if (strcasecmp(s, apikeys[i].name) == 0) {
			*out = apikeys[i].key;
			return 0;
		}
	}
	if (parse_int(s, 0, 1000, &v) == -1)
		return -1;
	*out = (int16_t)v;
	return 0;
}

/*
 * An error code by number or by librdkafka's name, with or without the
 * RD_KAFKA_RESP_ERR_ prefix (internal errors keep their leading '_').
 */
static int
parse_err(const char *s, rd_kafka_resp_err_t *out)
{
	const struct rd_kafka_err_desc *descs;
	size_t i, n;
	int v;

	if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
		s += 18;
	rd_kafka_get_err_descs(&descs, &n);
	for (i = 0; i < n; i++) {
		if (descs[i].name != NULL &&
		    strcasecmp(s, descs[i].name) == 0) {
			*out = descs[i].code;
			return 0;
		}
	}
	if (parse_int(s, -200, 1000, &v) == -1)
		return -1;
	*out = (rd_kafka_resp_err_t)v;
	return 0;
}

/* Split line in place into words separated by blanks. */
static int
split(char *line, char **argv, int max)
{
	int argc = 0;
	char *p = line;

	for (;;) {
		p += strspn(p, " \t\r\n");
		if (*p == '\0')
			break;
		if (argc == max)
			return -1;
		argv[argc++] = p;
		p += strcspn(p, " \t\r\n");
		if (*p != '\0')
			*p++ = '\0';
	}
	return argc;
}

static void
timespec_add_ms(struct timespec *ts, long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static long
ms_until(const struct timespec *when)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(when->tv_sec - now.tv_sec) * 1000 +
	    (when->tv_nsec - now.tv_nsec) / 1000000L;
	return ms < 0 ? 0 : ms;
}

static int
timer_add(int32_t broker, long ms)
{
	int i;

	for (i = 0; i < MAXTIMERS; i++) {
		if (!timers[i].active) {
			timers[i].active = 1;
			timers[i].broker = broker;
			clock_gettime(CLOCK_MONOTONIC, &timers[i].when);
			timespec_add_ms(&timers[i].when, ms);
			return 0;
		}
	}
	return -1;
}

/* Bring up every broker whose deadline passed; return ms to the next. */
static int
timers_run(rd_kafka_mock_cluster_t *mc)
{
	int i, next = -1;
	long ms;

	for (i = 0; i < MAXTIMERS; i++) {
		if (!timers[i].active)
			continue;
		ms = ms_until(&timers[i].when);
		if (ms == 0) {
			timers[i].active = 0;
			rd_kafka_mock_broker_set_up(mc, timers[i].broker);
			reply("EVENT broker_up %d", (int)timers[i].broker);
			continue;
		}
		if (ms > INT_MAX)
			ms = INT_MAX;
		if (next == -1 || ms < next)
			next = (int)ms;
	}
	return next;
}

/* Cancel pending "up" timers of a broker (an explicit broker_up wins). */
static void
timers_cancel(int32_t broker)
{
	int i;

	for (i = 0; i < MAXTIMERS; i++)
		if (timers[i].active &&
		    (timers[i].broker == broker || broker == -1))
			timers[i].active = 0;
}

static int
cmd_push_errors(rd_kafka_mock_cluster_t *mc, int argc, char **argv)
{
	rd_kafka_resp_err_t errs[MAXARGS];
	int16_t api;
	int cnt, i;

	if (argc < 4 || parse_apikey(argv[1], &api) == -1 ||
	    parse_int(argv[2], 1, MAXARGS, &cnt) == -1)
		return -1;
	/* One error repeats COUNT times; otherwise give COUNT of them. */
	if (argc - 3 != 1 && argc - 3 != cnt)
		return -1;
	for (i = 0; i < cnt; i++)
		if (parse_err(argv[argc - 3 == 1 ? 3 : 3 + i], &errs[i]) == -1)
			return -1;
	rd_kafka_mock_push_request_errors_array(mc, api, (size_t)cnt, errs);
	return 0;
}

static int
cmd_broker_push_errors(rd_kafka_mock_cluster_t *mc, int argc, char **argv)
{
	rd_kafka_resp_err_t err;
	int16_t api;
	int id, i, rtt;
	char *colon;

	if (argc < 4 || parse_int(argv[1], 1, 1000, &id) == -1 ||
	    parse_apikey(argv[2], &api) == -1)
		return -1;
	/* The broker API is variadic only: push the tuples one at a time,
	 * which keeps them in order. */
	for (i = 3; i < argc; i++) {
		rtt = 0;
		if ((colon = strchr(argv[i], ':')) != NULL) {
			*colon = '\0';
			if (parse_int(colon + 1, 0, 600000, &rtt) == -1)
				return -1;
		}
		if (parse_err(argv[i], &err) == -1)
			return -1;
		if (rd_kafka_mock_broker_push_request_error_rtts(
			mc, id, api, 1, err, rtt) != RD_KAFKA_RESP_ERR_NO_ERROR)
			return -1;
	}
	return 0;
}

static int
coord_type_ok(const char *s)
{
	return strcmp(s, "group") == 0 || strcmp(s, "transaction") == 0;
}

/*
 * Run one command. Returns 0 (done), 1 (quit), or -1 with *why set when
 * the command is malformed or librdkafka refused it.
 */
static int
run_command(rd_kafka_mock_cluster_t *mc, int nbrokers, int argc, char **argv,
    const char **why)
{
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	const char *c = argv[0];
	int16_t api;
	int id, a, b;
	long ms;

	*why = "bad arguments";
	if (strcmp(c, "quit") == 0 || strcmp(c, "exit") == 0)
		return 1;
	if (strcmp(c, "push_errors") == 0)
		return cmd_push_errors(mc, argc, argv);
	if (strcmp(c, "broker_push_errors") == 0)
		return cmd_broker_push_errors(mc, argc, argv);
	if (strcmp(c, "clear_errors") == 0) {
		if (argc != 2 || parse_apikey(argv[1], &api) == -1)
			return -1;
		rd_kafka_mock_clear_request_errors(mc, api);
		return 0;
	}
	if (strcmp(c, "broker_down") == 0) {
		if ((argc != 2 && argc != 3) ||
		    parse_int(argv[1], -1, nbrokers, &id) == -1)
			return -1;
		ms = 0;
		if (argc == 3 && parse_long(argv[2], 1, 86400000L, &ms) == -1)
			return -1;
		err = rd_kafka_mock_broker_set_down(mc, id);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR && ms > 0 &&
		    timer_add(id, ms) == -1) {
			*why = "too many timers";
			return -1;
		}
	} else if (strcmp(c, "broker_up") == 0) {
		if (argc != 2 || parse_int(argv[1], -1, nbrokers, &id) == -1)
			return -1;
		timers_cancel(id);
		err = rd_kafka_mock_broker_set_up(mc, id);
	} else if (strcmp(c, "broker_rtt") == 0) {
		if (argc != 3 || parse_int(argv[1], -1, nbrokers, &id) == -1 ||
		    parse_int(argv[2], 0, 600000, &a) == -1)
			return -1;
		err = rd_kafka_mock_broker_set_rtt(mc, id, a);
	} else if (strcmp(c, "leader") == 0) {
		if (argc != 4 || parse_int(argv[2], 0, 100000, &a) == -1 ||
		    parse_int(argv[3], -1, nbrokers, &id) == -1)
			return -1;
		err = rd_kafka_mock_partition_set_leader(mc, argv[1], a, id);
	} else if (strcmp(c, "coordinator") == 0) {
		if (argc != 4 || !coord_type_ok(argv[1]) ||
		    parse_int(argv[3], 1, 100000, &id) == -1)
			return -1;
		err = rd_kafka_mock_coordinator_set(mc, argv[1], argv[2], id);
	} else if (strcmp(c, "coordinator_down") == 0) {
		/* Pin the coordinator to the last broker, then take that
		 * broker down for MS: with -b 2 or more the partitions led
		 * by other brokers stay available. */
		if (argc != 4 || !coord_type_ok(argv[1]) ||
		    parse_long(argv[3], 1, 86400000L, &ms) == -1)
			return -1;
		err = rd_kafka_mock_coordinator_set(
		    mc, argv[1], argv[2], nbrokers);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			err = rd_kafka_mock_broker_set_down(mc, nbrokers);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR &&
		    timer_add(nbrokers, ms) == -1) {
			*why = "too many timers";
			return -1;
		}
	} else if (strcmp(c, "topic_create") == 0) {
		b = nbrokers < 3 ? nbrokers : 3;
		if ((argc != 3 && argc != 4) ||
		    parse_int(argv[2], 1, 100000, &a) == -1 ||
		    (argc == 4 && parse_int(argv[3], 1, nbrokers, &b) == -1))
			return -1;
		err = rd_kafka_mock_topic_create(mc, argv[1], a, b);
	} else if (strcmp(c, "topic_error") == 0) {
		rd_kafka_resp_err_t terr;

		if (argc != 3 || parse_err(argv[2], &terr) == -1)
			return -1;
		rd_kafka_mock_topic_set_error(mc, argv[1], terr);
	} else if (strcmp(c, "apiversion") == 0) {
		if (argc != 4 || parse_apikey(argv[1], &api) == -1 ||
		    parse_int(argv[2], -1, 100, &a) == -1 ||
		    parse_int(argv[3], -1, 100, &b) == -1)
			return -1;
		err = rd_kafka_mock_set_apiversion(
		    mc, api, (int16_t)a, (int16_t)b);
	} else if (strcmp(c, "sleep") == 0) {
		struct timespec ts;

		if (argc != 2 || parse_long(argv[1], 0, 3600000L, &ms) == -1)
			return -1;
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (ms % 1000) * 1000000L;
		while (
		    nanosleep(&ts, &ts) == -1 && errno == EINTR && !quit_flag)
			;
	} else {
		*why = "unknown command";
		return -1;
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		*why = rd_kafka_err2str(err);
		return -1;
	}
	return 0;
}

/* Run a line; answer OK or ERR on stdout. Returns 1 on quit. */
static int
handle_line(rd_kafka_mock_cluster_t *mc, int nbrokers, char *line)
{
	char copy[LINEMAX], *argv[MAXARGS];
	const char *why = NULL;
	int argc, r;

	line[strcspn(line, "\r\n")] = '\0';
	snprintf(copy, sizeof(copy), "%s", line);
	if ((argc = split(line, argv, MAXARGS)) <= 0 || argv[0][0] == '#') {
		if (argc == -1)
			reply("ERR %s: too many words", copy);
		return 0;
	}
	r = run_command(mc, nbrokers, argc, argv, &why);
	if (r == -1)
		reply("ERR %s: %s", copy, why);
	else if (r == 0)
		reply("OK %s", copy);
	return r == 1;
}

static int
add_topic(rd_kafka_mock_cluster_t *mc, int nbrokers, char *spec)
{
	char *colon, *rf;
	int parts, repl = nbrokers < 3 ? nbrokers : 3;

	if ((colon = strchr(spec, ':')) == NULL)
		return -1;
	*colon = '\0';
	if ((rf = strchr(colon + 1, ':')) != NULL) {
		*rf = '\0';
		if (parse_int(rf + 1, 1, nbrokers, &repl) == -1)
			return -1;
	}
	if (*spec == '\0' || parse_int(colon + 1, 1, 100000, &parts) == -1)
		return -1;
	return rd_kafka_mock_topic_create(mc, spec, parts, repl) ==
		RD_KAFKA_RESP_ERR_NO_ERROR
	    ? 0
	    : -1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: mockcluster [-b brokers] "
	    "[-t topic:partitions[:replication]] ...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	char errstr[512], line[LINEMAX], *topics[MAXARGS];
	rd_kafka_mock_cluster_t *mc;
	struct sigaction sa;
	struct pollfd pfd;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	size_t used = 0;
	ssize_t nr;
	char *nl;
	int ch, i, ntopics = 0, nbrokers = 1, timeout, eof = 0, done = 0;

	while ((ch = getopt(argc, argv, "b:t:")) != -1) {
		switch (ch) {
		case 'b':
			if (parse_int(optarg, 1, 32, &nbrokers) == -1)
				usage();
			break;
		case 't':
			if (ntopics == MAXARGS)
				usage();
			topics[ntopics++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* The handle only hosts the cluster; it never connects anywhere. */
	/* Warnings only: the hosting handle has no bootstrap.servers, and
	 * librdkafka would say so at notice level on every start. */
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "client.id", "mockcluster", errstr,
		sizeof(errstr)) != RD_KAFKA_CONF_OK ||
	    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) !=
		RD_KAFKA_CONF_OK) {
		fprintf(stderr, "mockcluster: %s\n", errstr);
		return 1;
	}
	if ((rk = rd_kafka_new(
		 RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))) == NULL) {
		fprintf(stderr, "mockcluster: %s\n", errstr);
		return 1;
	}
	if ((mc = rd_kafka_mock_cluster_new(rk, nbrokers)) == NULL) {
		fprintf(stderr, "mockcluster: cannot create mock cluster\n");
		rd_kafka_destroy(rk);
		return 1;
	}
	for (i = 0; i < ntopics; i++) {
		if (add_topic(mc, nbrokers, topics[i]) == -1) {
			fprintf(
			    stderr, "mockcluster: bad topic '%s'\n", topics[i]);
			rd_kafka_mock_cluster_destroy(mc);
			rd_kafka_destroy(rk);
			return 2;
		}
	}
	reply("BOOTSTRAP %s", rd_kafka_mock_cluster_bootstraps(mc));

	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	while (!quit_flag && !done) {
		timeout = timers_run(mc);
		if (eof) {
			/* Stdin closed: quit (documented). */
			break;
		}
		if (poll(&pfd, 1, timeout) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
			continue;
		nr = read(STDIN_FILENO, line + used, sizeof(line) - 1 - used);
		if (nr == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		if (nr == 0) {
			eof = 1;
			if (used == 0)
				continue;
			line[used++] = '\n';
		}
		used += (size_t)nr;
		line[used] = '\0';
		while (!done && (nl = memchr(line, '\n', used)) != NULL) {
			size_t n = (size_t)(nl - line) + 1;
			char one[LINEMAX];

			memcpy(one, line, n);
			one[n] = '\0';
			memmove(line, line + n, used - n);
			used -= n;
			line[used] = '\0';
			done = handle_line(mc, nbrokers, one);
		}
		if (used == sizeof(line) - 1) {
			reply("ERR line too long");
			used = 0;
		}
	}
	rd_kafka_mock_cluster_destroy(mc);
	rd_kafka_destroy(rk);
	return 0;
}
