/*
 * fuzz_conf: libFuzzer target for conf_load(). conf_load reads a file, so
 * the input is written to one temporary file per process (in /dev/shm
 * when it is writable, else $TMPDIR or /tmp) and loaded with both flag
 * values (0 and CONF_NEED_KAFKA).
 *
 * A config that loads is also printed, and conf.h promises that the
 * printout loads back to the same settings: it is loaded again with the
 * same flags and must print the same text.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char in_path[512], out_path[512];
static int in_fd = -1;

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_conf: %s\n", what);
	abort();
}

static void
cleanup(void)
{
	if (in_path[0] != '\0')
		unlink(in_path);
	if (out_path[0] != '\0')
		unlink(out_path);
}

/* A private directory for the temporary files. */
static const char *
tmp_dir(void)
{
	struct stat st;
	const char *d;

	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0)
		return "/dev/shm";
	if ((d = getenv("TMPDIR")) != NULL && *d != '\0')
		return d;
	return "/tmp";
}

static void
setup(void)
{
	const char *dir = tmp_dir();
	int fd;

	snprintf(in_path, sizeof(in_path), "%s/vsampd-fuzz-conf-XXXXXX", dir);
	if ((in_fd = mkstemp(in_path)) == -1)
		die("cannot create the input file");
	snprintf(out_path, sizeof(out_path), "%s/vsampd-fuzz-conf-XXXXXX", dir);
	if ((fd = mkstemp(out_path)) == -1)
		die("cannot create the output file");
	close(fd);
	atexit(cleanup);
}

static void
warn_cb(void *arg, const char *msg)
{
	(void)arg;
	if (msg == NULL || msg[0] == '\0')
		die("empty warning");
}

/* The printout of c as a malloc'ed string. */
static char *
print(const struct conf *c, size_t *lenp)
{
	char *s = NULL;
	FILE *fp;

	if ((fp = open_memstream(&s, lenp)) == NULL)
		die("open_memstream");
	conf_print(c, fp);
	if (fclose(fp) != 0)
		die("fclose");
	return s;
}

static void
roundtrip(const struct conf *c, int flags)
{
	struct conf *c2;
	char err[1024], *p1, *p2;
	size_t l1, l2;
	FILE *fp;

	p1 = print(c, &l1);
	if ((fp = fopen(out_path, "w")) == NULL)
		die("cannot write the printout");
	if (fwrite(p1, 1, l1, fp) != l1 || fclose(fp) != 0)
		die("cannot write the printout");
	err[0] = '\0';
	if ((c2 = conf_load(out_path, flags, NULL, NULL, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "fuzz_conf: printout does not load: %s\n%s\n",
		    err, p1);
		abort();
	}
	p2 = print(c2, &l2);
	if (l1 != l2 || memcmp(p1, p2, l1) != 0) {
		fprintf(stderr,
		    "fuzz_conf: printout loads differently:\n%s\n----\n%s\n",
		    p1, p2);
		abort();
	}
	free(p1);
	free(p2);
	conf_free(c2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int flagv[] = {0, CONF_NEED_KAFKA};
	char err[1024];

	if (in_fd == -1)
		setup();
	if (ftruncate(in_fd, 0) != 0 ||
	    (size > 0 && pwrite(in_fd, data, size, 0) != (ssize_t)size))
		die("cannot write the input file");
	for (size_t i = 0; i < sizeof(flagv) / sizeof(flagv[0]); i++) {
		struct conf *c;

		err[0] = '\0';
		c = conf_load(
		    in_path, flagv[i], warn_cb, NULL, err, sizeof(err));
		if (c == NULL) {
			if (err[0] == '\0')
				die("failure without a message");
			continue;
		}
		if (c->nbackends == 0 || c->default_backend == NULL ||
		    conf_backend_find(c, c->default_backend) == NULL)
			die("loaded without a default backend");
		if ((flagv[i] & CONF_NEED_KAFKA) && c->brokers == NULL)
			die("loaded without brokers");
		roundtrip(c, flagv[i]);
		conf_free(c);
	}
	return 0;
}
