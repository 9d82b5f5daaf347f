/*
 * check_conf: the config loader against golden files and targeted cases.
 *
 * The golden files live in tests/conf/ and the test runs from there, so
 * that file names in messages are relative ("bad/no_url.conf:3: ..."):
 *   good/NAME.conf  loads without warnings; conf_print output is NAME.out
 *                   (NAME starting with "nokafka" loads without
 *                   CONF_NEED_KAFKA);
 *   bad/NAME.conf   fails; the error string is NAME.err;
 *   warn/NAME.conf  loads; the warnings, one a line, are NAME.warn.
 * "@LOCALSTATEDIR@" in expected output stands for the build's value.
 * Run with VSAMPD_GOLDEN_UPDATE=1 to rewrite the expected files (then
 * review the diff).
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "method.h"
#include "conf.h"
#include "confdiff.h"
#include "xmalloc.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#define GOLDEN_DIR SRCDIR "/tests/conf"

static char *
slurp(const char *path)
{
	struct buf b;
	char chunk[4096];
	size_t n;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	buf_append(&b, "", 0);
	return buf_release(&b, NULL);
}

static void
spill(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	ck_assert_int_eq(fclose(fp), 0);
}

/* Replace every "@LOCALSTATEDIR@" in s by the build's value. */
static char *
expand(const char *s)
{
	static const char tag[] = "@LOCALSTATEDIR@";
	struct buf b;
	const char *p;

	buf_init(&b);
	while ((p = strstr(s, tag)) != NULL) {
		buf_append(&b, s, (size_t)(p - s));
		buf_puts(&b, LOCALSTATEDIR);
		s = p + sizeof(tag) - 1;
	}
	buf_puts(&b, s);
	return buf_release(&b, NULL);
}

static char *
printed(const struct conf *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(fp);
	conf_print(c, fp);
	fclose(fp);
	return text;
}

static void
warn_collect(void *arg, const char *msg)
{
	struct buf *b = arg;

	buf_puts(b, msg);
	buf_puts(b, "\n");
}

/* A config file written from text in the temporary directory. */
struct tmpconf {
	char path[256];
};

static void
tmpconf_write(struct tmpconf *t, const char *text)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(t->path, sizeof(t->path), "%s/check_conf.XXXXXX.conf",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	fd = mkstemps(t->path, 5);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
tmpconf_done(struct tmpconf *t)
{
	unlink(t->path);
}

/* Load text with flags; return the conf or NULL with err set. */
static struct conf *
load_text(
    const char *text, int flags, char *err, size_t errlen, struct tmpconf *t)
{
	tmpconf_write(t, text);
	return conf_load(t->path, flags, NULL, NULL, err, errlen);
}

/* Expect text to fail to load with "TMPFILE" + suffix as the error. */
static void
expect_error(const char *text, int flags, const char *suffix)
{
	struct tmpconf t;
	struct conf *c;
	char err[1024], want[1400];

	c = load_text(text, flags, err, sizeof(err), &t);
	snprintf(want, sizeof(want), "%s%s", t.path, suffix);
	tmpconf_done(&t);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, want);
}

#define KAFKA "kafka = { brokers = \"127.0.0.1:9092\"; };\n"
#define ONE_BACKEND                                                         \
	"backends = ( { name = \"a\"; url = \"http://127.0.0.1:8080/v1\"; " \
	"} );\n"
/* A config with one backend and these kafka settings besides brokers. */
#define KAFKA_WITH(settings)                                                \
	"kafka = { brokers = \"127.0.0.1:9092\";\n  " settings "\n};\n" ONE_BACKEND

/* The golden files of dir, sorted, each without ".conf". */
static size_t
golden_list(const char *dir, char ***namesp)
{
	struct dirent **ents;
	char **names;
	int n, k = 0;

	n = scandir(dir, &ents, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	names = xcalloc((size_t)n, sizeof(*names));
	for (int i = 0; i < n; i++) {
		size_t len = strlen(ents[i]->d_name);

		if (len > 5 && strcmp(ents[i]->d_name + len - 5, ".conf") == 0)
			names[k++] = xstrndup(ents[i]->d_name, len - 5);
		free(ents[i]);
	}
	free(ents);
	*namesp = names;
	return (size_t)k;
}

static void
golden_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Compare got with the expected file, or rewrite it in update mode. */
static void
golden_compare(const char *expfile, const char *got, const char *what)
{
	char *want, *exp;

	if (getenv("VSAMPD_GOLDEN_UPDATE") != NULL) {
		spill(expfile, got);
		return;
	}
	want = slurp(expfile);
	ck_assert_msg(want != NULL, "%s: missing %s", what, expfile);
	exp = expand(want);
	ck_assert_msg(strcmp(exp, got) == 0, "%s:\n--- want\n%s--- got\n%s",
	    what, exp, got);
	free(exp);
	free(want);
}

START_TEST(test_sample)
{
	struct buf warns;
	struct conf *c;
	char err[1024];

	buf_init(&warns);
	c = conf_load(SRCDIR "/conf/vsampd.conf", CONF_NEED_KAFKA, warn_collect,
	    &warns, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(warns.len, 0);
	ck_assert_str_eq(c->brokers, "127.0.0.1:9092");
	ck_assert_uint_eq(c->nbackends, 1);
	ck_assert_str_eq(c->backends[0].name, "local");
	ck_assert_str_eq(c->backends[0].url, "http://127.0.0.1:8080/v1");
	ck_assert_ptr_null(c->backends[0].api_key);
	ck_assert_ptr_null(c->backends[0].api_key_env);
	ck_assert_int_eq(c->has_embeddings, 0);
	ck_assert_str_eq(c->default_backend, "local");
	ck_assert_str_eq(c->metrics_listen, "127.0.0.1:9464");
	/* The sample runs on the defaults: its properties are examples. */
	ck_assert_uint_eq(c->nconsumer_props, 0);
	ck_assert_uint_eq(c->nproducer_props, 0);
	ck_assert_int_eq(c->resume_inflight, 192);
	conf_free(c);
	buf_free(&warns);
}
END_TEST

START_TEST(test_golden_good)
{
	char **names, file[512], exp[512], err[1024];
	size_t n = golden_list("good", &names);
	struct buf warns;

	ck_assert_uint_ge(n, 3);
	buf_init(&warns);
	for (size_t i = 0; i < n; i++) {
		int flags =
		    strncmp(names[i], "nokafka", 7) == 0 ? 0 : CONF_NEED_KAFKA;
		struct conf *c, *c2;
		struct tmpconf t;
		char *out, *out2;

		snprintf(file, sizeof(file), "good/%s.conf", names[i]);
		snprintf(exp, sizeof(exp), "good/%s.out", names[i]);
		buf_reset(&warns);
		c = conf_load(
		    file, flags, warn_collect, &warns, err, sizeof(err));
		ck_assert_msg(c != NULL, "%s: %s", file, err);
		ck_assert_msg(warns.len == 0, "%s: %s", file, warns.data);
		out = printed(c);
		golden_compare(exp, out, file);

		/* What conf_print writes loads back to the same settings. */
		tmpconf_write(&t, out);
		c2 = conf_load(
		    t.path, flags, warn_collect, &warns, err, sizeof(err));
		tmpconf_done(&t);
		ck_assert_msg(c2 != NULL, "%s reprinted: %s", file, err);
		ck_assert_msg(warns.len == 0, "%s: %s", file, warns.data);
		out2 = printed(c2);
		ck_assert_str_eq(out, out2);
		free(out2);
		free(out);
		conf_free(c2);
		conf_free(c);
	}
	buf_free(&warns);
	golden_free(names, n);
}
END_TEST

START_TEST(test_golden_bad)
{
	char **names, file[512], exp[512], err[1024];
	size_t n = golden_list("bad", &names);

	ck_assert_uint_ge(n, 30);
	unsetenv("VSAMPD_TEST_NO_SUCH_VARIABLE");
	for (size_t i = 0; i < n; i++) {
		struct conf *c;
		char *got;

		snprintf(file, sizeof(file), "bad/%s.conf", names[i]);
		snprintf(exp, sizeof(exp), "bad/%s.err", names[i]);
		c = conf_load(
		    file, CONF_NEED_KAFKA, NULL, NULL, err, sizeof(err));
		ck_assert_msg(c == NULL, "%s loaded", file);
		got = xasprintf("%s\n", err);
		golden_compare(exp, got, file);
		free(got);
	}
	golden_free(names, n);
}
END_TEST

START_TEST(test_golden_warn)
{
	char **names, file[512], exp[512], err[1024];
	size_t n = golden_list("warn", &names);
	struct buf warns;

	ck_assert_uint_ge(n, 1);
	buf_init(&warns);
	for (size_t i = 0; i < n; i++) {
		struct conf *c;

		snprintf(file, sizeof(file), "warn/%s.conf", names[i]);
		snprintf(exp, sizeof(exp), "warn/%s.warn", names[i]);
		buf_reset(&warns);
		c = conf_load(file, CONF_NEED_KAFKA, warn_collect, &warns, err,
		    sizeof(err));
		ck_assert_msg(c != NULL, "%s: %s", file, err);
		golden_compare(exp, warns.len > 0 ? warns.data : "", file);
		conf_free(c);
	}
	buf_free(&warns);
	golden_free(names, n);
}
END_TEST

START_TEST(test_unknown_key_warning)
{
	struct tmpconf t;
	struct buf warns;
	struct conf *c;
	char err[1024], *want;

	buf_init(&warns);
	tmpconf_write(
	    &t, KAFKA ONE_BACKEND "dedup = {\n\tfuture_key = 1;\n};\n");
	c = conf_load(
	    t.path, CONF_NEED_KAFKA, warn_collect, &warns, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	want =
	    xasprintf("%s:4: dedup.future_key: unknown key, ignored\n", t.path);
	ck_assert_str_eq(warns.data, want);
	free(want);
	/* Without a callback the warning is dropped, not fatal. */
	conf_free(c);
	c = conf_load(t.path, CONF_NEED_KAFKA, NULL, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(c);
	conf_free(c);
	tmpconf_done(&t);
	buf_free(&warns);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf *c;
	char err[1024];

	c = conf_load(
	    "good/minimal.conf", CONF_NEED_KAFKA, NULL, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->path, "good/minimal.conf");
	ck_assert_str_eq(c->group_id, "vsampd");
	ck_assert_str_eq(c->jobs_topic, "vs.jobs");
	ck_assert_str_eq(c->results_topic, "vs.results");
	ck_assert_ptr_null(c->dlq_topic);
	ck_assert_uint_eq(c->nconsumer_props, 0);
	ck_assert_uint_eq(c->nproducer_props, 0);
	ck_assert_int_eq(c->exactly_once, 0);
	ck_assert_ptr_null(c->transactional_id);
	ck_assert_int_eq(c->transaction_ms, 100);
	ck_assert_str_eq(c->backends[0].type, "openai");
	ck_assert_str_eq(c->backends[0].model, "default");
	ck_assert_int_eq(c->backends[0].max_inflight, 64);
	ck_assert_int_eq(c->backends[0].timeout_ms, 120000);
	ck_assert_int_eq(c->backends[0].max_retries, 3);
	ck_assert_int_eq(c->backends[0].max_retry_after_ms, 60000);
	ck_assert_int_eq(c->backends[0].max_reply_bytes, 8 * 1024 * 1024);
	ck_assert_int_eq(c->backends[0].structured_output, 0);
	ck_assert(isnan(c->backends[0].temperature));
	ck_assert(isnan(c->backends[0].top_p));
	ck_assert_int_eq(c->backends[0].max_tokens, 0);
	ck_assert_int_eq(c->backends[0].rpm, 0);
	ck_assert_int_eq(c->backends[0].tpm, 0);
	ck_assert_uint_eq(c->backends[0].nfallback, 0);
	ck_assert_ptr_null(c->backends[0].ca_file);
	ck_assert_str_eq(c->default_backend, "local");
	ck_assert_int_eq(c->default_method, METHOD_VS_STANDARD);
	ck_assert_int_eq(c->default_k, 5);
	ck_assert_double_eq(c->default_temperature, 0.7);
	ck_assert(isnan(c->default_top_p));
	ck_assert_int_eq(c->default_max_tokens, 0);
	ck_assert_int_eq(c->default_embed, -1);
	ck_assert_int_eq(c->max_inflight, 256);
	ck_assert_int_eq(c->resume_inflight, 192);
	ck_assert_int_eq(c->shutdown_timeout_ms, 30000);
	ck_assert_int_eq(c->max_message_bytes, 1048576);
	ck_assert_int_eq(c->max_result_bytes, 4 * 1024 * 1024);
	ck_assert_int_eq(c->job_timeout_ms, 600000);
	ck_assert_double_eq(c->near_threshold, 0.8);
	ck_assert_int_eq(c->scope_capacity, 1000000);
	ck_assert_str_eq(
	    c->state_file, LOCALSTATEDIR "/lib/vsampd/dedup.state");
	ck_assert_str_eq(c->metrics_listen, "127.0.0.1:9464");
	conf_free(c);
}
END_TEST

START_TEST(test_full_values)
{
	const struct conf_backend *b;
	struct conf *c;
	char err[1024];

	c = conf_load(
	    "good/full.conf", CONF_NEED_KAFKA, NULL, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->nbackends, 3);
	b = conf_backend_find(c, "secondary");
	ck_assert_ptr_eq(b, &c->backends[1]);
	ck_assert_ptr_null(conf_backend_find(c, "nope"));
	ck_assert_ptr_null(conf_backend_find(c, "embeddings"));
	b = &c->backends[0];
	ck_assert_uint_eq(b->nfallback, 2);
	ck_assert_str_eq(b->fallback[0], "secondary");
	ck_assert_str_eq(b->fallback[1], "tertiary");
	ck_assert_double_eq(b->temperature, 1.0);
	ck_assert_double_eq(b->top_p, 0.95);
	ck_assert_int_eq(b->tpm, 5000000000L);
	ck_assert_int_eq(b->max_reply_bytes, 1073741824L);
	/* First line only, trailing white space and CR stripped. */
	ck_assert_str_eq(b->api_key, "sk-test-0123456789");
	ck_assert_double_eq(c->backends[2].temperature, 0.0);
	ck_assert_int_eq(c->has_embeddings, 1);
	ck_assert_str_eq(c->embeddings.name, "embeddings");
	ck_assert_str_eq(c->embeddings.model, "e5");
	ck_assert_int_eq(c->embeddings.timeout_ms, 30000);
	ck_assert_int_eq(c->default_method, METHOD_VS_MULTI);
	ck_assert_double_eq(c->default_top_p, 1.0);
	ck_assert_int_eq(c->default_max_tokens, 512);
	ck_assert_int_eq(c->exactly_once, 1);
	ck_assert_str_eq(c->transactional_id, "vsampd-\"1\"");
	/* The real value goes to librdkafka; only printing redacts it. */
	ck_assert_str_eq(c->consumer_props[4].name, "sasl.password");
	ck_assert_str_eq(c->consumer_props[4].value, "hunter2");
	ck_assert_str_eq(c->consumer_props[3].name, "fetch.wait.max.ms");
	ck_assert_str_eq(c->consumer_props[3].value, "100");
	ck_assert_str_eq(c->producer_props[8].value, "true");
	ck_assert_str_eq(c->producer_props[9].value, "0.25");
	conf_free(c);
}
END_TEST

START_TEST(test_autoconvert)
{
	struct tmpconf t;
	struct conf *c;
	char err[1024];

	c = load_text(KAFKA
	    "backends = ( { name = \"a\"; url = \"http://127.0.0.1/\";\n"
	    "  temperature = 2; top_p = 1; } );\n"
	    "defaults = { temperature = 1; };\n"
	    "dedup = { near_threshold = 0; };\n",
	    CONF_NEED_KAFKA, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_double_eq(c->default_temperature, 1.0);
	ck_assert_double_eq(c->backends[0].temperature, 2.0);
	ck_assert_double_eq(c->backends[0].top_p, 1.0);
	ck_assert_double_eq(c->near_threshold, 0.0);
	conf_free(c);
}
END_TEST

START_TEST(test_int64)
{
	struct tmpconf t;
	struct conf *c;
	char err[1024], *out;

	c = load_text(KAFKA
	    "backends = ( { name = \"a\"; url = \"http://127.0.0.1/\";\n"
	    "  max_reply_bytes = 1073741824L; tpm = 3000000000L;\n"
	    "  max_inflight = 7L; } );\n"
	    "dedup = { scope_capacity = 100000000L; };\n",
	    CONF_NEED_KAFKA, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->backends[0].max_reply_bytes, 1073741824L);
	ck_assert_int_eq(c->backends[0].tpm, 3000000000L);
	ck_assert_int_eq(c->backends[0].max_inflight, 7);
	ck_assert_int_eq(c->scope_capacity, 100000000L);
	/* Printed back with the suffix where libconfig needs it. */
	out = printed(c);
	ck_assert_ptr_nonnull(strstr(out, "\t\ttpm = 3000000000L;\n"));
	ck_assert_ptr_nonnull(
	    strstr(out, "\t\tmax_reply_bytes = 1073741824;\n"));
	free(out);
	conf_free(c);

	/* A 64-bit value beyond an int key's range is a range error. */
	expect_error(KAFKA
	    "backends = ( { name = \"a\"; url = \"http://127.0.0.1/\";\n"
	    "  rpm = 5000000000L; } );\n",
	    CONF_NEED_KAFKA,
	    ":3: backends[0].rpm: must be from 0 to 1000000000");
	expect_error(KAFKA ONE_BACKEND
	    "worker = { max_message_bytes = 2147483648L; };\n",
	    CONF_NEED_KAFKA,
	    ":3: worker.max_message_bytes: must be from 1024 to 1073741824");
}
END_TEST

START_TEST(test_redaction)
{
	struct tmpconf t;
	struct conf *c;
	char err[1024], *out;

	c = load_text(
	    "kafka = {\n"
	    "  brokers = \"127.0.0.1:9092\";\n"
	    "  consumer = { sasl_PASSWORD = \"pw-1\";\n"
	    "    ssl_key_location = \"/k.pem\";\n"
	    "    client_id = \"vs\"; };\n"
	    "  producer = { Sasl_Oauthbearer_Client_Secret = \"s-2\";\n"
	    "    ssl_keystore_password = \"pw-3\"; linger_ms = 5; };\n"
	    "};\n" ONE_BACKEND,
	    CONF_NEED_KAFKA, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->consumer_props[0].name, "sasl.PASSWORD");
	ck_assert_str_eq(c->consumer_props[0].value, "pw-1");
	out = printed(c);
	ck_assert_ptr_null(strstr(out, "pw-1"));
	ck_assert_ptr_null(strstr(out, "s-2"));
	ck_assert_ptr_null(strstr(out, "pw-3"));
	ck_assert_ptr_null(strstr(out, "/k.pem"));
	ck_assert_ptr_nonnull(strstr(out,
	    "\tconsumer = {\n"
	    "\t\tsasl_PASSWORD = \"(redacted)\";\n"
	    "\t\tssl_key_location = \"(redacted)\";\n"
	    "\t\tclient_id = \"vs\";\n"
	    "\t};\n"
	    "\tproducer = {\n"
	    "\t\tSasl_Oauthbearer_Client_Secret = \"(redacted)\";\n"
	    "\t\tssl_keystore_password = \"(redacted)\";\n"
	    "\t\tlinger_ms = \"5\";\n"
	    "\t};\n"));
	free(out);
	conf_free(c);
}
END_TEST

/* A file of text in a fresh directory; *dirp gets the directory. */
static char *
secret_file(const char *name, const char *text, char **dirp)
{
	char tmpl[] = "/tmp/check_conf.XXXXXX", *dir, *path;
	FILE *fp;

	dir = mkdtemp(tmpl);
	ck_assert_ptr_nonnull(dir);
	*dirp = strdup(dir);
	ck_assert_int_ne(asprintf(&path, "%s/%s", dir, name), -1);
	fp = fopen(path, "w");
	ck_assert_ptr_nonnull(fp);
	fputs(text, fp);
	fclose(fp);
	return path;
}

/* Kafka secrets from a file (a systemd credential) or the environment. */
START_TEST(test_kafka_secrets)
{
	struct tmpconf t;
	struct conf *c;
	char err[1024], *out, *dir, *pem_dir, *pw, *pem, *text;

	pw = secret_file("kafka-password", "pw-from-file\nsecond line\n", &dir);
	pem = secret_file("client.pem",
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n\n",
	    &pem_dir);
	ck_assert_int_eq(setenv("VSAMPD_TEST_KAFKA_SECRET", "s-env", 1), 0);
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
	ck_assert_int_ne(asprintf(&text,
			     "kafka = {\n"
			     "  brokers = \"127.0.0.1:9092\";\n"
			     "  consumer = { sasl_password_file = "
			     "\"kafka-password\";\n"
			     "    ssl_key_pem_file = \"%s\"; };\n"
			     "  producer = { sasl_password_file = \"%s\";\n"
			     "    sasl_oauthbearer_client_secret_env = "
			     "\"VSAMPD_TEST_KAFKA_SECRET\"; };\n"
			     "};\n" ONE_BACKEND,
			     pem, pw),
	    -1);
	c = load_text(text, CONF_NEED_KAFKA, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	/* A credential name is looked up in CREDENTIALS_DIRECTORY; the
	 * first line of a secret, the whole of a PEM file. */
	ck_assert_str_eq(c->consumer_props[0].name, "sasl.password");
	ck_assert_str_eq(c->consumer_props[0].value, "pw-from-file");
	ck_assert_str_eq(c->consumer_props[1].name, "ssl.key.pem");
	ck_assert_str_eq(c->consumer_props[1].value,
	    "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----");
	ck_assert_str_eq(c->producer_props[0].value, "pw-from-file");
	ck_assert_str_eq(c->producer_props[1].name,
	    "sasl.oauthbearer.client.secret");
	ck_assert_str_eq(c->producer_props[1].value, "s-env");
	/* vsampd -n says where each comes from, never what it is. */
	out = printed(c);
	ck_assert_ptr_null(strstr(out, "pw-from-file"));
	ck_assert_ptr_null(strstr(out, "s-env"));
	ck_assert_ptr_null(strstr(out, "AAAA"));
	ck_assert_ptr_nonnull(
	    strstr(out, "\t\tsasl_password_file = \"kafka-password\";\n"));
	ck_assert_ptr_nonnull(strstr(out,
	    "\t\tsasl_oauthbearer_client_secret_env = "
	    "\"VSAMPD_TEST_KAFKA_SECRET\";\n"));
	free(out);
	conf_free(c);
	free(text);

	expect_error(KAFKA_WITH("consumer = { sasl_password_file = "
				"\"/nonexistent/pw\"; };"),
	    CONF_NEED_KAFKA,
	    ":2: kafka.consumer.sasl_password_file: cannot open /nonexistent/pw: "
	    "No such file or directory");
	expect_error(KAFKA_WITH("consumer = { sasl_password_env = "
				"\"VSAMPD_TEST_NO_SUCH_VARIABLE\"; };"),
	    CONF_NEED_KAFKA,
	    ":2: kafka.consumer.sasl_password_env: environment variable "
	    "VSAMPD_TEST_NO_SUCH_VARIABLE is not set");
	expect_error(KAFKA_WITH("consumer = { sasl_password_file = 5; };"),
	    CONF_NEED_KAFKA,
	    ":2: kafka.consumer.sasl_password_file: must be a string (a file "
	    "name)");
	expect_error(KAFKA_WITH("producer = { sasl_password = \"x\";\n"
				"  sasl_password_file = \"kafka-password\"; };"),
	    CONF_NEED_KAFKA,
	    ":2: kafka.producer: sasl.password is given more than once "
	    "(directly, or with _file or _env)");
	/* What vsampd owns cannot come in by the side door. */
	expect_error(KAFKA_WITH("consumer = { group_id_env = "
				"\"VSAMPD_TEST_KAFKA_SECRET\"; };"),
	    CONF_NEED_KAFKA,
	    ":2: kafka.consumer.group_id_env: group.id is owned by vsampd; set "
	    "kafka.group_id instead");
	ck_assert_int_eq(unsetenv("CREDENTIALS_DIRECTORY"), 0);
	expect_error(KAFKA_WITH("consumer = { sasl_password_file = "
				"\"kafka-password\"; };"),
	    CONF_NEED_KAFKA,
	    ":2: kafka.consumer.sasl_password_file: \"kafka-password\" names a "
	    "systemd credential, but CREDENTIALS_DIRECTORY is not set (give "
	    "a path, or LoadCredential=kafka-password:... in the unit)");
	unsetenv("VSAMPD_TEST_KAFKA_SECRET");
	unlink(pw);
	unlink(pem);
	rmdir(dir);
	rmdir(pem_dir);
	free(pw);
	free(pem);
	free(dir);
	free(pem_dir);
}
END_TEST

#define ENV_BACKEND                                                     \
	KAFKA "backends = (\n"                                          \
	      "  { name = \"a\"; url = \"http://127.0.0.1:8080/v1\";\n" \
	      "    api_key_env = \"VSAMPD_TEST_KEY\"; }\n"              \
	      ");\n"

START_TEST(test_api_key_env)
{
	struct tmpconf t;
	struct conf *c;
	char err[1024], *out;

	ck_assert_int_eq(setenv("VSAMPD_TEST_KEY", "sk-env-123", 1), 0);
	c = load_text(ENV_BACKEND, CONF_NEED_KAFKA, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->backends[0].api_key, "sk-env-123");
	ck_assert_str_eq(c->backends[0].api_key_env, "VSAMPD_TEST_KEY");
	out = printed(c);
	ck_assert_ptr_null(strstr(out, "sk-env-123"));
	ck_assert_ptr_nonnull(
	    strstr(out, "\t\tapi_key_env = \"VSAMPD_TEST_KEY\";\n"));
	free(out);
	conf_free(c);

	ck_assert_int_eq(unsetenv("VSAMPD_TEST_KEY"), 0);
	expect_error(ENV_BACKEND, CONF_NEED_KAFKA,
	    ":4: backends[0].api_key_env: environment variable "
	    "VSAMPD_TEST_KEY is not set");
	ck_assert_int_eq(setenv("VSAMPD_TEST_KEY", "", 1), 0);
	expect_error(ENV_BACKEND, CONF_NEED_KAFKA,
	    ":4: backends[0].api_key_env: environment variable "
	    "VSAMPD_TEST_KEY is not set");
	/* A key with a line break would split the Authorization header. */
	ck_assert_int_eq(setenv("VSAMPD_TEST_KEY", "sk\r\nX-Evil: 1", 1), 0);
	expect_error(ENV_BACKEND, CONF_NEED_KAFKA,
	    ":4: backends[0].api_key_env: environment variable "
	    "VSAMPD_TEST_KEY holds control characters");
	unsetenv("VSAMPD_TEST_KEY");
}
END_TEST

START_TEST(test_api_key_file)
{
	char path[1024], text[1024];
	struct tmpconf t, key;
	struct conf *c;
	char err[1024], *out;

	tmpconf_write(&key, "sk-file-456\n");
	snprintf(text, sizeof(text),
	    KAFKA "backends = ( { name = \"a\"; url = \"http://127.0.0.1/\";\n"
		  "  api_key_file = \"%s\"; } );\n"
		  "embeddings = { url = \"http://127.0.0.1:8001/\";\n"
		  "  api_key_file = \"%s\"; };\n",
	    key.path, key.path);
	c = load_text(text, CONF_NEED_KAFKA, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->backends[0].api_key, "sk-file-456");
	ck_assert_str_eq(c->embeddings.api_key, "sk-file-456");
	out = printed(c);
	ck_assert_ptr_null(strstr(out, "sk-file-456"));
	ck_assert_ptr_nonnull(strstr(out, key.path));
	free(out);
	conf_free(c);

	/* Unreadable: the message names the file, never its content. */
	tmpconf_done(&key);
	c = load_text(text, CONF_NEED_KAFKA, err, sizeof(err), &t);
	ck_assert_ptr_null(c);
	snprintf(path, sizeof(path),
	    "%s:3: backends[0].api_key_file: cannot open %s: No such file or "
	    "directory",
	    t.path, key.path);
	tmpconf_done(&t);
	ck_assert_str_eq(err, path);
}
END_TEST

START_TEST(test_duplicate_backend)
{
	expect_error(KAFKA
	    "backends = (\n"
	    "  { name = \"x\"; url = \"http://127.0.0.1:1/\"; },\n"
	    "  { name = \"x\"; url = \"http://127.0.0.1:2/\"; }\n"
	    ");\n",
	    CONF_NEED_KAFKA,
	    ":4: backends[1].name: duplicate backend name \"x\"");
}
END_TEST

START_TEST(test_fallback)
{
	expect_error(KAFKA
	    "backends = (\n"
	    "  { name = \"x\"; url = \"http://127.0.0.1:1/\";\n"
	    "    fallback = [ \"y\", \"z\" ]; },\n"
	    "  { name = \"y\"; url = \"http://127.0.0.1:2/\"; }\n"
	    ");\n",
	    CONF_NEED_KAFKA,
	    ":4: backends[0].fallback[1]: no backend named \"z\"");
	expect_error(KAFKA "backends = (\n"
			   "  { name = \"x\"; url = \"http://127.0.0.1:1/\";\n"
			   "    fallback = [ \"x\" ]; }\n"
			   ");\n",
	    CONF_NEED_KAFKA,
	    ":4: backends[0].fallback[0]: a backend cannot fall back to "
	    "itself");
	expect_error(KAFKA "backends = (\n"
			   "  { name = \"x\"; url = \"http://127.0.0.1:1/\";\n"
			   "    fallback = [ 1 ]; }\n"
			   ");\n",
	    CONF_NEED_KAFKA, ":4: backends[0].fallback[0]: must be a string");
}
END_TEST

START_TEST(test_owned_property)
{
	static const char *props[] = {"bootstrap_servers", "group_id",
	    "enable_auto_offset_store", "enable_partition_eof",
	    "transactional_id"};

	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		char text[512], suffix[512], dotted[64];

		snprintf(text, sizeof(text),
		    "kafka = {\n  brokers = \"127.0.0.1:9092\";\n"
		    "  producer = {\n    %s = \"x\";\n  };\n};\n" ONE_BACKEND,
		    props[i]);
		snprintf(dotted, sizeof(dotted), "%s", props[i]);
		for (char *p = dotted; *p != '\0'; p++)
			if (*p == '_')
				*p = '.';
		snprintf(suffix, sizeof(suffix),
		    ":4: kafka.producer.%s: %s is owned by vsampd; ", props[i],
		    dotted);
		{
			struct tmpconf t;
			struct conf *c;
			char err[1024], want[1024];

			c = load_text(text, 0, err, sizeof(err), &t);
			snprintf(want, sizeof(want), "%s%s", t.path, suffix);
			tmpconf_done(&t);
			ck_assert_ptr_null(c);
			ck_assert_msg(
			    strncmp(err, want, strlen(want)) == 0, "%s", err);
		}
	}
	/* Properties vsampd does not own pass through. */
	{
		struct tmpconf t;
		struct conf *c;
		char err[1024];

		c = load_text(
		    "kafka = { brokers = \"b:9092\";\n"
		    "  consumer = { group_instance_id = \"i-1\";\n"
		    "  transaction_timeout_ms = 60000; }; };\n" ONE_BACKEND,
		    CONF_NEED_KAFKA, err, sizeof(err), &t);
		tmpconf_done(&t);
		ck_assert_msg(c != NULL, "%s", err);
		ck_assert_str_eq(
		    c->consumer_props[0].name, "group.instance.id");
		ck_assert_str_eq(c->consumer_props[1].value, "60000");
		conf_free(c);
	}
}
END_TEST

START_TEST(test_need_kafka)
{
	struct tmpconf t;
	struct conf *c;
	char err[1024];

	/* vsampctl run: backends are enough. */
	c = load_text(ONE_BACKEND, 0, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_ptr_null(c->brokers);
	ck_assert_str_eq(c->default_backend, "a");
	conf_free(c);
	c = load_text("kafka = { group_id = \"g\"; };\n" ONE_BACKEND, 0, err,
	    sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->group_id, "g");
	conf_free(c);

	/* The daemon needs kafka and its brokers. */
	expect_error(
	    ONE_BACKEND, CONF_NEED_KAFKA, ": kafka: missing required section");
	expect_error("kafka = { group_id = \"g\"; };\n" ONE_BACKEND,
	    CONF_NEED_KAFKA, ":1: kafka.brokers: missing required key");
	/* Backends are needed either way. */
	expect_error(KAFKA, 0, ": backends: missing required section");
}
END_TEST

START_TEST(test_resume_default)
{
	struct tmpconf t;
	struct conf *c;
	char err[1024];

	c = load_text(KAFKA ONE_BACKEND "worker = { max_inflight = 1; };\n",
	    CONF_NEED_KAFKA, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->resume_inflight, 0);
	conf_free(c);
	c = load_text(KAFKA ONE_BACKEND "worker = { max_inflight = 10; };\n",
	    CONF_NEED_KAFKA, err, sizeof(err), &t);
	tmpconf_done(&t);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->resume_inflight, 7);
	conf_free(c);
}
END_TEST

START_TEST(test_misc_errors)
{
	char err[1024], small[24];
	struct conf *c;

	c = conf_load("no-such.conf", 0, NULL, NULL, err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err,
	    "no-such.conf: cannot read: No such file or "
	    "directory");
	/* A short buffer truncates, never overflows. */
	c = conf_load("bad/no_url.conf", CONF_NEED_KAFKA, NULL, NULL, small,
	    sizeof(small));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(small, "bad/no_url.conf:3: back");
	expect_error(KAFKA "backends = ( { name = \"a\"; url = \"http://h/\";\n"
			   "  model = \"\xff\"; } );\n",
	    CONF_NEED_KAFKA, ":3: backends[0].model: must be valid UTF-8");
	expect_error(KAFKA ONE_BACKEND "metrics = { listen = \":9464\"; };\n",
	    CONF_NEED_KAFKA,
	    ":3: metrics.listen: must be \"host:port\" (\"[addr]:port\" for "
	    "IPv6) with a port from 1 to 65535");
	expect_error(KAFKA ONE_BACKEND
	    "metrics = { listen = \"::1:9464\"; };\n",
	    CONF_NEED_KAFKA,
	    ":3: metrics.listen: must be \"host:port\" (\"[addr]:port\" for "
	    "IPv6) with a port from 1 to 65535");
	expect_error(KAFKA "backends = ( { name = \"a\";\n"
			   "  url = \"http://h/a b\"; } );\n",
	    CONF_NEED_KAFKA,
	    ":3: backends[0].url: must not contain spaces or control "
	    "characters");
	conf_free(NULL);
}
END_TEST

/*
 * libconfig 1.5 calls exit() when the file, or a file it includes, is a
 * directory (seen while writing tests/fuzz/fuzz_conf): conf_load must
 * refuse it first, or a SIGHUP would end the daemon.
 */
START_TEST(test_include_directory)
{
	struct tmpconf inner, outer;
	char err[1024], text[512], want[600];
	struct conf *c;

	c = conf_load(".", 0, NULL, NULL, err, sizeof(err));
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, ".: cannot read: Is a directory");
	/* Found by fuzz_conf: a name that runs over its line (libconfig
	 * follows it, NULs and all, and may open "/"). */
	expect_error("@include \"/\n" ONE_BACKEND, 0,
	    ":1: @include: the file name is not closed on its line");
	expect_error("@include \".\"\n" ONE_BACKEND, 0,
	    ":1: @include: . is a directory");
	/* Included files are followed. */
	tmpconf_write(&inner, "# inner\n  @include\t\".\"\n");
	snprintf(
	    text, sizeof(text), "%s@include \"%s\"\n", ONE_BACKEND, inner.path);
	snprintf(
	    want, sizeof(want), "%s:2: @include: . is a directory", inner.path);
	c = load_text(text, 0, err, sizeof(err), &outer);
	tmpconf_done(&outer);
	tmpconf_done(&inner);
	ck_assert_ptr_null(c);
	ck_assert_str_eq(err, want);
	/* A regular file still includes. */
	tmpconf_write(&inner, ONE_BACKEND);
	snprintf(text, sizeof(text), "@include \"%s\"\n", inner.path);
	c = load_text(text, 0, err, sizeof(err), &outer);
	tmpconf_done(&outer);
	tmpconf_done(&inner);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->backends[0].name, "a");
	conf_free(c);
}
END_TEST

/* ---- confdiff: what a reload changes ---- */

struct diffs {
	char text[4096];
	int restart;
};

static void
diff_cb(void *arg, const char *path, const char *was, const char *now,
    int restart)
{
	struct diffs *d = arg;
	size_t n = strlen(d->text);

	snprintf(d->text + n, sizeof(d->text) - n, "%s%s: %s -> %s\n",
	    restart ? "RESTART " : "", path, was, now);
	d->restart += restart;
}

START_TEST(test_confdiff)
{
	struct tmpconf ta, tb;
	struct conf *a, *b;
	struct diffs d;
	char err[1024];

	setenv("CK_DIFF_KEY", "sk-secret-one", 1);
	a = load_text("kafka = { brokers = \"127.0.0.1:9092\"; "
		      "consumer = { session_timeout_ms = 6000; }; };\n"
		      "backends = ( { name = \"a\"; url = "
		      "\"http://127.0.0.1:8080/v1\"; api_key_env = "
		      "\"CK_DIFF_KEY\"; } );\n"
		      "worker = { max_inflight = 10; };\n",
	    CONF_NEED_KAFKA, err, sizeof(err), &ta);
	ck_assert_msg(a != NULL, "%s", err);
	b = load_text("kafka = { brokers = \"127.0.0.1:9093\"; "
		      "consumer = { session_timeout_ms = 6000; }; };\n"
		      "backends = ( { name = \"a\"; url = "
		      "\"http://127.0.0.1:8081/v1\"; api_key_env = "
		      "\"CK_DIFF_KEY\"; },\n"
		      "  { name = \"b\"; url = \"http://h/v1\"; } );\n"
		      "worker = { max_inflight = 20; };\n",
	    CONF_NEED_KAFKA, err, sizeof(err), &tb);
	ck_assert_msg(b != NULL, "%s", err);
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(confdiff_each(a, a, diff_cb, &d), 0);
	ck_assert_str_eq(d.text, "");
	ck_assert_int_gt(confdiff_each(a, b, diff_cb, &d), 4);
	ck_assert_msg(strstr(d.text, "RESTART kafka.brokers: "
				     "\"127.0.0.1:9092\" -> "
				     "\"127.0.0.1:9093\"\n") != NULL,
	    "%s", d.text);
	ck_assert_msg(strstr(d.text, "backends[a].url: "
				     "\"http://127.0.0.1:8080/v1\" -> "
				     "\"http://127.0.0.1:8081/v1\"\n") != NULL,
	    "%s", d.text);
	ck_assert_msg(strstr(d.text, "backends[b].name: (unset) -> \"b\"\n") !=
		NULL,
	    "%s", d.text);
	/* Absent and unset are one: a new backend's unset keys are quiet. */
	ck_assert_msg(strstr(d.text, "(unset) -> (unset)") == NULL, "%s",
	    d.text);
	ck_assert_msg(strstr(d.text, "worker.max_inflight: 10 -> 20\n") != NULL,
	    "%s", d.text);
	ck_assert_int_eq(d.restart, 1);
	ck_assert_ptr_null(strstr(d.text, "sk-secret-one"));
	ck_assert(confdiff_needs_restart("metrics.listen"));
	ck_assert(confdiff_needs_restart("kafka.consumer.x"));
	ck_assert(!confdiff_needs_restart("defaults.k"));
	/* Keeping the restart-only keys: b runs on a's brokers. */
	confdiff_keep_restart(b, a);
	ck_assert_str_eq(b->brokers, "127.0.0.1:9092");
	ck_assert_str_eq(a->brokers, "127.0.0.1:9093");
	ck_assert_str_eq(b->backends[0].url, "http://127.0.0.1:8081/v1");
	conf_free(a);
	conf_free(b);
	tmpconf_done(&ta);
	tmpconf_done(&tb);
}
END_TEST

/* A profile's price: loaded as given, NAN in both when absent; a reload
 * reports a price set, changed or removed, and applies it (no restart). */
START_TEST(test_price)
{
	struct tmpconf ta, tb;
	struct conf *a, *b;
	struct diffs d;
	char err[1024];

	a = load_text(KAFKA
	    "backends = ( { name = \"a\"; url = \"http://h/\";\n"
	    "  price = { prompt = 2.5; completion = 10; }; },\n"
	    "  { name = \"b\"; url = \"http://h/\"; } );\n",
	    CONF_NEED_KAFKA, err, sizeof(err), &ta);
	ck_assert_msg(a != NULL, "%s", err);
	ck_assert(price_set(&a->backends[0].price));
	ck_assert_double_eq(a->backends[0].price.prompt, 2.5);
	ck_assert_double_eq(a->backends[0].price.completion, 10.0);
	ck_assert(!price_set(&a->backends[1].price));
	ck_assert(isnan(a->backends[1].price.prompt));
	ck_assert(isnan(a->backends[1].price.completion));
	b = load_text(KAFKA
	    "backends = ( { name = \"a\"; url = \"http://h/\";\n"
	    "  price = { prompt = 3; completion = 10.0; }; },\n"
	    "  { name = \"b\"; url = \"http://h/\";\n"
	    "  price = { prompt = 0; completion = 0; }; } );\n",
	    CONF_NEED_KAFKA, err, sizeof(err), &tb);
	ck_assert_msg(b != NULL, "%s", err);
	ck_assert(price_set(&b->backends[1].price));
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(confdiff_each(a, b, diff_cb, &d), 3);
	ck_assert_str_eq(d.text,
	    "backends[a].price.prompt: 2.5 -> 3.0\n"
	    "backends[b].price.prompt: (unset) -> 0.0\n"
	    "backends[b].price.completion: (unset) -> 0.0\n");
	ck_assert_int_eq(d.restart, 0);
	/* and back: the price removed */
	memset(&d, 0, sizeof(d));
	ck_assert_int_eq(confdiff_each(b, a, diff_cb, &d), 3);
	ck_assert_msg(strstr(d.text, "backends[b].price.prompt: 0.0 -> "
				     "(unset)\n") != NULL,
	    "%s", d.text);
	conf_free(a);
	conf_free(b);
	tmpconf_done(&ta);
	tmpconf_done(&tb);
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sample);
	tcase_add_test(tc, test_golden_good);
	tcase_add_test(tc, test_golden_bad);
	tcase_add_test(tc, test_golden_warn);
	tcase_add_test(tc, test_unknown_key_warning);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_full_values);
	tcase_add_test(tc, test_autoconvert);
	tcase_add_test(tc, test_int64);
	tcase_add_test(tc, test_redaction);
	tcase_add_test(tc, test_kafka_secrets);
	tcase_add_test(tc, test_api_key_env);
	tcase_add_test(tc, test_api_key_file);
	tcase_add_test(tc, test_duplicate_backend);
	tcase_add_test(tc, test_fallback);
	tcase_add_test(tc, test_owned_property);
	tcase_add_test(tc, test_need_kafka);
	tcase_add_test(tc, test_resume_default);
	tcase_add_test(tc, test_misc_errors);
	tcase_add_test(tc, test_include_directory);
	tcase_add_test(tc, test_confdiff);
	tcase_add_test(tc, test_price);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	/* Golden files name paths relative to their directory. */
	if (chdir(GOLDEN_DIR) == -1) {
		perror(GOLDEN_DIR);
		return 1;
	}
	sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
