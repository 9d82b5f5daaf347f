/*
 * conf: load and validate the libconfig file (vsampd.conf(5)).
 *
 * Every key is declared once, as data, in conf_keys[] (the file's sections)
 * or profile_keys[] (one backend profile, used for each element of
 * `backends` and for `embeddings`): its name, type, bounds, default and
 * where it goes. Loading, printing and freeing all walk these tables, so a
 * new key is one new line. Errors read "FILE:LINE: KEY: problem" with KEY
 * the full path ("backends[1].timeout_ms"); unknown keys are warnings.
 *
 * It reads the config file (and api_key_file) and nothing else: no
 * sockets, no Kafka; the daemon and vsampctl decide what to do with it.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "conf.h"
#include "dialect.h"
#include "method.h"
#include "utf8.h"
#include "xmalloc.h"

enum conf_type {
	CT_SECTION, /* a group of further keys in the same table */
	CT_BACKENDS, /* a list of groups, each a backend profile */
	CT_PROFILE, /* one group holding a backend profile */
	CT_PROPS, /* librdkafka properties passed through as strings */
	CT_INT, /* int */
	CT_LONG, /* long */
	CT_DOUBLE, /* double */
	CT_BOOL, /* int, 0 or 1 */
	CT_STRING, /* char *, owned */
	CT_STRLIST, /* char **, count at noff */
	CT_METHOD /* int holding an enum method */
};

#define CK_REQUIRED 0x01 /* error when missing (and no default) */
#define CK_NEED_KAFKA 0x02 /* required when loading with CONF_NEED_KAFKA */
#define CK_EXCL_MIN 0x04 /* the lower bound itself is not allowed */
#define CK_UNSET 0x08 /* the default means "not set" and prints so */
#define CK_EMPTY_OK 0x10 /* an empty string is allowed */
#define CK_DERIVED 0x20 /* unset, it is worked out from other keys */

struct conf_key {
	const char *name; /* dotted path from the table's root */
	enum conf_type type;
	double min, max; /* inclusive bounds of numbers */
	double def; /* default of numbers and booleans */
	size_t off; /* where the value goes */
	const char *sdef; /* default of strings, NULL for none */
	size_t noff; /* CT_STRLIST, CT_PROPS: where the count goes */
	int flags;
	/* Extra check of a string: 0, or -1 with a reason in why. */
	int (*check)(const char *, char *, size_t);
};

#define KIB 1024.0
#define MIB (1024.0 * KIB)
#define GIB (1024.0 * MIB)

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

static int check_url(const char *, char *, size_t);
static int check_btype(const char *, char *, size_t);
static int check_concurrency(const char *, char *, size_t);
static int check_listen(const char *, char *, size_t);

#define C(f) offsetof(struct conf, f)
#define B(f) offsetof(struct conf_backend, f)

/* One line per key: a section, a number or boolean, a string, a list. */
#define SECT(name, type, flags)                              \
	{                                                    \
		name, type, 0, 0, 0, 0, NULL, 0, flags, NULL \
	}
#define NUM(name, type, min, max, def, off, flags)                   \
	{                                                            \
		name, type, min, max, def, off, NULL, 0, flags, NULL \
	}
#define STR(name, off, sdef, flags, check)                           \
	{                                                            \
		name, CT_STRING, 0, 0, 0, off, sdef, 0, flags, check \
	}
#define LIST(name, type, off, noff, flags)                        \
	{                                                         \
		name, type, 0, 0, 0, off, NULL, noff, flags, NULL \
	}

/* The sections of the file. Printing follows this order. */
static const struct conf_key conf_keys[] = {
    SECT("kafka", CT_SECTION, CK_NEED_KAFKA),
    STR("kafka.brokers", C(brokers), NULL, CK_NEED_KAFKA, NULL),
    STR("kafka.group_id", C(group_id), "vsampd", 0, NULL),
    STR("kafka.jobs_topic", C(jobs_topic), "vs.jobs", 0, NULL),
    STR("kafka.results_topic", C(results_topic), "vs.results", 0, NULL),
    STR("kafka.dlq_topic", C(dlq_topic), NULL, CK_UNSET, NULL),
    /* unset: no changelog, the dedup index is the instance's own */
    STR("kafka.scope_topic", C(scope_topic), NULL, CK_UNSET, NULL),
    LIST("kafka.consumer", CT_PROPS, C(consumer_props), C(nconsumer_props), 0),
    LIST("kafka.producer", CT_PROPS, C(producer_props), C(nproducer_props), 0),
    NUM("kafka.exactly_once", CT_BOOL, 0, 1, 0, C(exactly_once), 0),
    STR("kafka.transactional_id", C(transactional_id), NULL, CK_UNSET, NULL),
    NUM("kafka.transaction_ms", CT_LONG, 1, 3600000, 100, C(transaction_ms), 0),

    SECT("backends", CT_BACKENDS, CK_REQUIRED),
    SECT("embeddings", CT_PROFILE, 0),

    SECT("defaults", CT_SECTION, 0),
    /* NULL: the first backend, filled in after loading */
    STR("defaults.backend", C(default_backend), NULL, CK_DERIVED, NULL),
    NUM("defaults.method", CT_METHOD, 0, 0, METHOD_VS_STANDARD,
	C(default_method), 0),
    NUM("defaults.k", CT_INT, 1, 100, 5, C(default_k), 0),
    NUM("defaults.temperature", CT_DOUBLE, 0, 2, 0.7, C(default_temperature),
	0),
    NUM("defaults.top_p", CT_DOUBLE, 0, 1, NAN, C(default_top_p),
	CK_EXCL_MIN | CK_UNSET),
    NUM("defaults.max_tokens", CT_LONG, 1, 1000000, 0, C(default_max_tokens),
	CK_UNSET),
    NUM("defaults.embed", CT_BOOL, 0, 1, -1, C(default_embed), CK_UNSET),

    SECT("worker", CT_SECTION, 0),
    NUM("worker.max_inflight", CT_INT, 1, 100000, 256, C(max_inflight), 0),
    /* -1: three quarters of max_inflight, filled in after loading */
    NUM("worker.resume_inflight", CT_INT, 0, 100000, -1, C(resume_inflight),
	CK_DERIVED),
    NUM("worker.shutdown_timeout_ms", CT_LONG, 0, 3600000, 30000,
	C(shutdown_timeout_ms), 0),
    NUM("worker.max_message_bytes", CT_LONG, KIB, GIB, MIB,
	C(max_message_bytes), 0),
    NUM("worker.max_result_bytes", CT_LONG, KIB, GIB, 4 * MIB,
	C(max_result_bytes), 0),
    NUM("worker.job_timeout_ms", CT_LONG, 100, 86400000, 600000,
	C(job_timeout_ms), 0),
    NUM("worker.poison_exits", CT_INT, 0, 1000, 3, C(poison_exits), 0),
    /* unset: dedup.state_file + ".inflight"; "" (or both unset): off */
    STR("worker.inflight_file", C(inflight_file), NULL,
	CK_UNSET | CK_EMPTY_OK | CK_DERIVED, NULL),

    SECT("dedup", CT_SECTION, 0),
    NUM("dedup.near_threshold", CT_DOUBLE, 0, 1, 0.8, C(near_threshold), 0),
    NUM("dedup.scope_capacity", CT_LONG, 1, 100000000, 1000000,
	C(scope_capacity), 0),
    STR("dedup.state_file", C(state_file),
	LOCALSTATEDIR "/lib/vsampd/dedup.state", CK_EMPTY_OK, NULL),

    SECT("metrics", CT_SECTION, 0),
    STR("metrics.listen", C(metrics_listen), "127.0.0.1:9464", CK_EMPTY_OK,
	check_listen),
};

/* One backend profile: each element of `backends`, and `embeddings`. */
static const struct conf_key profile_keys[] = {
    STR("name", B(name), NULL, CK_REQUIRED, NULL),
    STR("type", B(type), "openai", 0, check_btype),
    STR("url", B(url), NULL, CK_REQUIRED, check_url),
    STR("model", B(model), "default", 0, NULL),
    STR("api_key_env", B(api_key_env), NULL, CK_UNSET, NULL),
    STR("api_key_file", B(api_key_file), NULL, CK_UNSET, NULL),
    STR("ca_file", B(ca_file), NULL, CK_UNSET, NULL),
    NUM("max_inflight", CT_INT, 1, 10000, 64, B(max_inflight), 0),
    STR("concurrency", B(concurrency), "aimd", 0, check_concurrency),
    NUM("timeout_ms", CT_LONG, 100, 3600000, 120000, B(timeout_ms), 0),
    NUM("max_retries", CT_INT, 0, 100, 3, B(max_retries), 0),
    NUM("max_retry_after_ms", CT_LONG, 0, 3600000, 60000, B(max_retry_after_ms),
	0),
    NUM("max_reply_bytes", CT_LONG, KIB, GIB, 8 * MIB, B(max_reply_bytes), 0),
    NUM("structured_output", CT_BOOL, 0, 1, 0, B(structured_output), 0),
    NUM("supports_n", CT_BOOL, 0, 1, 0, B(supports_n), 0),
    NUM("n_chunk", CT_INT, 1, 128, 16, B(n_chunk), 0),
    NUM("temperature", CT_DOUBLE, 0, 2, NAN, B(temperature), CK_UNSET),
    NUM("top_p", CT_DOUBLE, 0, 1, NAN, B(top_p), CK_EXCL_MIN | CK_UNSET),
    NUM("max_tokens", CT_LONG, 1, 1000000, 0, B(max_tokens), CK_UNSET),
    NUM("rpm", CT_INT, 0, 1000000000, 0, B(rpm), 0),
    NUM("tpm", CT_LONG, 0, 1e15, 0, B(tpm), 0),
    LIST("fallback", CT_STRLIST, B(fallback), B(nfallback), 0),
    /* unset: the profile is unpriced (its results' usage.cost is nil) */
    SECT("price", CT_SECTION, CK_UNSET),
    NUM("price.prompt", CT_DOUBLE, 0, 1000000, NAN, B(price.prompt),
	CK_REQUIRED),
    NUM("price.completion", CT_DOUBLE, 0, 1000000, NAN, B(price.completion),
	CK_REQUIRED),
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* librdkafka properties that vsampd sets itself, and where to say so. */
static const struct {
	const char *prop;
	const char *instead;
} owned_props[] = {
    {"bootstrap.servers", "set kafka.brokers instead"},
    {"group.id", "set kafka.group_id instead"},
    {"enable.auto.offset.store", "vsampd stores offsets itself"},
    {"enable.partition.eof", "vsampd sets it"},
    {"transactional.id", "set kafka.transactional_id instead"},
};

struct loadctx {
	const char *path;
	int flags;
	void (*warn)(void *, const char *);
	void *warnarg;
	char *errstr;
	size_t errlen;
	struct conf *c;
};

static int conf_group(struct loadctx *, const config_setting_t *, const char *,
    const char *, const struct conf_key *, size_t, void *);
static void keypath(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static int conf_err(struct loadctx *, const config_setting_t *, const char *,
    const char *, ...) __attribute__((format(printf, 4, 5)));

/* Format "FILE:LINE: KEY: " for setting s; LINE is left out for the root,
 * which has none. */
static void
conf_where(const struct loadctx *lc, const config_setting_t *s, const char *key,
    char *out, size_t outlen)
{
	const char *file = NULL;
	unsigned int line = 0;

	if (s != NULL) {
		file = config_setting_source_file(s);
		line = config_setting_source_line(s);
	}
	if (file == NULL)
		file = lc->path;
	if (line > 0)
		snprintf(out, outlen, "%s:%u: %s: ", file, line, key);
	else
		snprintf(out, outlen, "%s: %s: ", file, key);
}

/* Build a key path for messages; a very long one is cut, never
 * overflows (vsnprintf: the cut is expected, so no truncation warning). */
static void
keypath(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
}

/* Set errstr to "FILE:LINE: KEY: message"; returns -1. */
static int
conf_err(struct loadctx *lc, const config_setting_t *s, const char *key,
    const char *fmt, ...)
{
	char where[512], what[512];
	va_list ap;

	conf_where(lc, s, key, where, sizeof(where));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(lc->errstr, lc->errlen, "%s%s", where, what);
	return -1;
}

static void
conf_warn(struct loadctx *lc, const config_setting_t *s, const char *key)
{
	char where[512], msg[600];

	if (lc->warn == NULL)
		return;
	conf_where(lc, s, key, where, sizeof(where));
	snprintf(msg, sizeof(msg), "%sunknown key, ignored", where);
	lc->warn(lc->warnarg, msg);
}

static int
check_url(const char *s, char *why, size_t whylen)
{
	const char *rest;

	if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	else {
		snprintf(why, whylen, "must start with http:// or https://");
		return -1;
	}
	if (*rest == '\0' || *rest == '/') {
		snprintf(why, whylen, "has no host");
		return -1;
	}
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f) {
			snprintf(why, whylen,
			    "must not contain spaces or control characters");
			return -1;
		}
	}
	return 0;
}

static int
check_btype(const char *s, char *why, size_t whylen)
{
	char names[128];

	if (dialect_find(s) != NULL)
		return 0;
	dialect_names(names, sizeof(names));
	snprintf(why, whylen, "unknown type \"%s\" (allowed: %s)", s, names);
	return -1;
}

static const char *const concurrency_names[] = {
    [CONF_CONC_AIMD] = "aimd",
    [CONF_CONC_GRADIENT] = "gradient",
    [CONF_CONC_FIXED] = "fixed",
};

int
conf_concurrency(const char *s)
{
	/* Unset (a profile not loaded from a file): the default. */
	if (s == NULL)
		return CONF_CONC_AIMD;
	for (size_t i = 0; i < NKEYS(concurrency_names); i++)
		if (strcmp(s, concurrency_names[i]) == 0)
			return (int)i;
	return -1;
}

static int
check_concurrency(const char *s, char *why, size_t whylen)
{
	if (conf_concurrency(s) >= 0)
		return 0;
	snprintf(why, whylen,
	    "unknown concurrency \"%s\" (allowed: aimd, gradient, fixed)", s);
	return -1;
}

/* "host:port" or "[v6addr]:port", the port from 1 to 65535; "" is off. */
static int
check_listen(const char *s, char *why, size_t whylen)
{
	const char *colon, *p;
	long port = 0;

	if (*s == '\0')
		return 0;
	if ((colon = strrchr(s, ':')) == NULL || colon == s)
		goto bad;
	if (s[0] == '[') {
		if (colon[-1] != ']' || colon - s < 3)
			goto bad;
	} else if (memchr(s, ':', (size_t)(colon - s)) != NULL)
		goto bad;
	for (p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			goto bad;
		port = port * 10 + (*p - '0');
	}
	if (p == colon + 1 || port < 1 || port > 65535)
		goto bad;
	return 0;
bad:
	snprintf(why, whylen,
	    "must be \"host:port\" (\"[addr]:port\" for IPv6) with a port "
	    "from 1 to 65535");
	return -1;
}

/* Name of the key in table path parent when name is a direct child of it,
 * or NULL. */
static const char *
key_child(const char *name, const char *parent)
{
	size_t plen = strlen(parent);

	if (plen > 0) {
		if (strncmp(name, parent, plen) != 0 || name[plen] != '.')
			return NULL;
		name += plen + 1;
	}
	return strchr(name, '.') == NULL ? name : NULL;
}

static const struct conf_key *
key_find(const struct conf_key *tab, size_t ntab, const char *name)
{
	for (size_t i = 0; i < ntab; i++)
		if (strcmp(tab[i].name, name) == 0)
			return &tab[i];
	return NULL;
}

/* Store every default of tab into base. */
static void
conf_defaults(const struct conf_key *tab, size_t ntab, void *base)
{
	for (size_t i = 0; i < ntab; i++) {
		char *p = (char *)base + tab[i].off;

		switch (tab[i].type) {
		case CT_INT:
		case CT_BOOL:
		case CT_METHOD:
			*(int *)p = (int)tab[i].def;
			break;
		case CT_LONG:
			*(long *)p = (long)tab[i].def;
			break;
		case CT_DOUBLE:
			*(double *)p = tab[i].def;
			break;
		case CT_STRING:
			free(*(char **)p);
			*(char **)p =
			    tab[i].sdef != NULL ? xstrdup(tab[i].sdef) : NULL;
			break;
		default:
			break;
		}
	}
}

static void
range_err(struct loadctx *lc, const config_setting_t *s, const char *key,
    const struct conf_key *k)
{
	if (k->type == CT_DOUBLE && (k->flags & CK_EXCL_MIN))
		conf_err(lc, s, key,
		    "must be greater than %.15g and at most %.15g", k->min,
		    k->max);
	else if (k->type == CT_DOUBLE)
		conf_err(
		    lc, s, key, "must be from %.15g to %.15g", k->min, k->max);
	else
		conf_err(lc, s, key, "must be from %lld to %lld",
		    (long long)k->min, (long long)k->max);
}

/* Check a string value: type, UTF-8, emptiness; NULL after an error. */
static const char *
conf_string(
    struct loadctx *lc, const config_setting_t *s, const char *key, int emptyok)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_err(lc, s, key, "must be a string");
		return NULL;
	}
	v = config_setting_get_string(s);
	if (!utf8_valid(v, strlen(v))) {
		conf_err(lc, s, key, "must be valid UTF-8");
		return NULL;
	}
	if (*v == '\0' && !emptyok) {
		conf_err(lc, s, key, "must not be empty");
		return NULL;
	}
	return v;
}

static int
conf_strlist(struct loadctx *lc, const config_setting_t *s, const char *key,
    const struct conf_key *k, void *base)
{
	char ***listp = (char ***)((char *)base + k->off);
	size_t *np = (size_t *)((char *)base + k->noff);
	int n;

	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return conf_err(lc, s, key, "must be an array of strings");
	n = config_setting_length(s);
	for (size_t i = 0; i < *np; i++)
		free((*listp)[i]);
	free(*listp);
	*listp = xcalloc((size_t)n, sizeof(char *));
	*np = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, i);
		char ekey[300];
		const char *v;

		keypath(ekey, sizeof(ekey), "%s[%d]", key, i);
		if ((v = conf_string(lc, e, ekey, 0)) == NULL)
			return -1;
		(*listp)[(*np)++] = xstrdup(v);
	}
	return 0;
}

static int read_secret(const char *, char **, char *, size_t);

/* Does name end in suffix? */
static int
ends_with(const char *name, const char *suffix)
{
	size_t n = strlen(name), m = strlen(suffix);

	return n > m && strcmp(name + n - m, suffix) == 0;
}

/*
 * A whole file (a PEM key or certificate), trailing white space removed;
 * at most 1 MiB.
 */
static int
read_file_all(const char *file, char **out, char *why, size_t whylen)
{
	struct buf b;
	char chunk[4096];
	size_t got;
	FILE *fp;

	if ((fp = fopen(file, "re")) == NULL) {
		snprintf(
		    why, whylen, "cannot open %s: %s", file, strerror(errno));
		return -1;
	}
	buf_init(&b);
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0 &&
	    b.len <= 1024 * 1024)
		buf_append(&b, chunk, got);
	explicit_bzero(chunk, sizeof(chunk));
	if (ferror(fp) || b.len > 1024 * 1024) {
		snprintf(why, whylen,
		    ferror(fp) ? "cannot read %s" : "%s is larger than 1 MiB",
		    file);
		fclose(fp);
		explicit_bzero(b.data, b.len);
		buf_free(&b);
		return -1;
	}
	fclose(fp);
	while (b.len > 0 && strchr(" \t\r\n", b.data[b.len - 1]) != NULL)
		b.data[--b.len] = '\0';
	if (b.len == 0 || memchr(b.data, '\0', b.len) != NULL) {
		snprintf(why, whylen, "%s is %s", file,
		    b.len == 0 ? "empty" : "not text");
		explicit_bzero(b.data, b.len);
		buf_free(&b);
		return -1;
	}
	*out = xstrndup(b.data, b.len);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	return 0;
}

/*
 * A property written NAME_file or NAME_env (docs/vsampd.conf.5, Secrets):
 * NAME's value is read from the file, or the environment variable, that
 * v names. A file name without a '/' is a systemd credential, looked up
 * in $CREDENTIALS_DIRECTORY. A *.pem property reads the whole file, any
 * other its first line. name is NAME (the suffix taken off), from "file"
 * or "env"; on success prop holds the secret and where it came from.
 */
static int
prop_indirect(struct loadctx *lc, const config_setting_t *s,
    const char *pkey, const char *name, const char *from, const char *v,
    struct conf_prop *prop)
{
	char path[PATH_MAX], why[PATH_MAX + 128];
	const char *dir, *e;
	char *secret = NULL;

	prop->from = from;
	if (strcmp(from, "env") == 0) {
		if ((e = getenv(v)) == NULL || *e == '\0')
			return conf_err(lc, s, pkey,
			    "environment variable %s is not set", v);
		secret = xstrdup(e);
	} else {
		if (strchr(v, '/') == NULL) {
			if ((dir = getenv("CREDENTIALS_DIRECTORY")) == NULL ||
			    *dir == '\0')
				return conf_err(lc, s, pkey,
				    "\"%s\" names a systemd credential, but "
				    "CREDENTIALS_DIRECTORY is not set (give a "
				    "path, or LoadCredential=%s:... in the unit)",
				    v, v);
			snprintf(path, sizeof(path), "%s/%s", dir, v);
		} else
			snprintf(path, sizeof(path), "%s", v);
		if ((ends_with(name, ".pem")
			    ? read_file_all(path, &secret, why, sizeof(why))
			    : read_secret(path, &secret, why, sizeof(why))) == -1)
			return conf_err(lc, s, pkey, "%s", why);
	}
	prop->source = xstrdup(v);
	prop->value = secret;
	return 0;
}

/* Load a group of librdkafka properties: names get '.' for '_', values
 * become strings, and the properties vsampd owns are refused. NAME_file
 * and NAME_env read NAME's value from a file or the environment. */
static int
conf_props(struct loadctx *lc, const config_setting_t *g, const char *key,
    const struct conf_key *k, void *base)
{
	struct conf_prop **propsp =
	    (struct conf_prop **)((char *)base + k->off);
	size_t *np = (size_t *)((char *)base + k->noff);
	int n;

	if (!config_setting_is_group(g))
		return conf_err(lc, g, key, "must be a group");
	n = config_setting_length(g);
	*propsp = xcalloc((size_t)n, sizeof(struct conf_prop));
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		char pkey[300], val[64], *name;
		const char *v = val, *from = NULL;
		double d;

		keypath(pkey, sizeof(pkey), "%s.%s", key, s->name);
		name = xstrdup(s->name);
		for (char *p = name; *p != '\0'; p++)
			if (*p == '_')
				*p = '.';
		if (ends_with(name, ".file"))
			from = "file";
		else if (ends_with(name, ".env"))
			from = "env";
		if (from != NULL)
			name[strlen(name) - strlen(from) - 1] = '\0';
		for (size_t j = 0; j < NKEYS(owned_props); j++) {
			if (strcmp(name, owned_props[j].prop) == 0) {
				conf_err(lc, s, pkey,
				    "%s is owned by vsampd; %s", name,
				    owned_props[j].instead);
				free(name);
				return -1;
			}
		}
		switch (config_setting_type(s)) {
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			snprintf(val, sizeof(val), "%lld",
			    config_setting_get_int64(s));
			break;
		case CONFIG_TYPE_FLOAT:
			/* The shortest text that reads back the same. */
			d = config_setting_get_float(s);
			for (int prec = 1; prec <= 17; prec++) {
				snprintf(val, sizeof(val), "%.*g", prec, d);
				if (strtod(val, NULL) == d)
					break;
			}
			break;
		case CONFIG_TYPE_BOOL:
			v = config_setting_get_bool(s) ? "true" : "false";
			break;
		case CONFIG_TYPE_STRING:
			if ((v = conf_string(lc, s, pkey, 1)) == NULL) {
				free(name);
				return -1;
			}
			break;
		default:
			free(name);
			return conf_err(
			    lc, s, pkey, "must be a string, number or boolean");
		}
		if (from != NULL) {
			if (config_setting_type(s) != CONFIG_TYPE_STRING) {
				free(name);
				return conf_err(lc, s, pkey,
				    "must be a string (a %s)",
				    strcmp(from, "env") == 0
					? "variable name"
					: "file name");
			}
			if (prop_indirect(lc, s, pkey, name, from, v,
				&(*propsp)[*np]) == -1) {
				free(name);
				return -1;
			}
			(*propsp)[(*np)++].name = name;
			continue;
		}
		(*propsp)[*np].name = name;
		(*propsp)[(*np)++].value = xstrdup(v);
	}
	/* NAME and NAME_file (or NAME_env) would each set NAME. */
	for (size_t i = 0; i < *np; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp((*propsp)[i].name, (*propsp)[j].name) == 0)
				return conf_err(lc, g, key,
				    "%s is given more than once (directly, "
				    "or with _file or _env)",
				    (*propsp)[i].name);
	return 0;
}

/* Read a secret: the first line of file, trailing white space removed. */
static int
read_secret(const char *file, char **out, char *why, size_t whylen)
{
	char line[4096];
	size_t len;
	FILE *fp;
	int rc = -1;

	if ((fp = fopen(file, "re")) == NULL) {
		snprintf(
		    why, whylen, "cannot open %s: %s", file, strerror(errno));
		return -1;
	}
	if (fgets(line, sizeof(line), fp) == NULL) {
		if (ferror(fp))
			snprintf(why, whylen, "cannot read %s: %s", file,
			    strerror(errno));
		else
			snprintf(why, whylen, "%s is empty", file);
		goto done;
	}
	len = strlen(line);
	if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(fp)) {
		snprintf(why, whylen, "the first line of %s is too long", file);
		goto done;
	}
	while (len > 0 &&
	    (line[len - 1] == '\n' || line[len - 1] == '\r' ||
		line[len - 1] == ' ' || line[len - 1] == '\t'))
		line[--len] = '\0';
	if (len == 0) {
		snprintf(why, whylen, "%s is empty", file);
		goto done;
	}
	*out = xstrdup(line);
	rc = 0;
done:
	explicit_bzero(line, sizeof(line));
	fclose(fp);
	return rc;
}

/* A key goes into an HTTP header: control characters would split it. */
static int
secret_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 0;
	return 1;
}

/* Fill in the profile's api_key from api_key_env or api_key_file. */
static int
conf_secret(struct loadctx *lc, const config_setting_t *g, const char *key,
    struct conf_backend *b)
{
	const config_setting_t *s;
	char skey[300], why[512];
	const char *v;

	if (b->api_key_env != NULL && b->api_key_file != NULL) {
		s = config_setting_get_member(g, "api_key_file");
		keypath(skey, sizeof(skey), "%s.api_key_file", key);
		return conf_err(
		    lc, s, skey, "cannot be set together with api_key_env");
	}
	if (b->api_key_env != NULL) {
		s = config_setting_get_member(g, "api_key_env");
		keypath(skey, sizeof(skey), "%s.api_key_env", key);
		v = getenv(b->api_key_env);
		if (v == NULL || *v == '\0')
			return conf_err(lc, s, skey,
			    "environment variable %s is not set",
			    b->api_key_env);
		if (!secret_ok(v))
			return conf_err(lc, s, skey,
			    "environment variable %s holds control characters",
			    b->api_key_env);
		b->api_key = xstrdup(v);
	} else if (b->api_key_file != NULL) {
		s = config_setting_get_member(g, "api_key_file");
		keypath(skey, sizeof(skey), "%s.api_key_file", key);
		if (read_secret(
			b->api_key_file, &b->api_key, why, sizeof(why)) == -1)
			return conf_err(lc, s, skey, "%s", why);
		if (!secret_ok(b->api_key))
			return conf_err(lc, s, skey,
			    "%s holds control characters", b->api_key_file);
	}
	return 0;
}

/* Load one backend profile from group g into b (defaults already set). */
static int
conf_profile(struct loadctx *lc, const config_setting_t *g, const char *key,
    struct conf_backend *b)
{
	if (!config_setting_is_group(g))
		return conf_err(lc, g, key, "must be a group");
	if (conf_group(lc, g, key, "", profile_keys, NKEYS(profile_keys), b) ==
	    -1)
		return -1;
	return conf_secret(lc, g, key, b);
}

static void
profile_init(struct conf_backend *b)
{
	conf_defaults(profile_keys, NKEYS(profile_keys), b);
}

static int
conf_backends(struct loadctx *lc, const config_setting_t *l, const char *key)
{
	struct conf *c = lc->c;
	int n;

	if (!config_setting_is_list(l) && !config_setting_is_array(l))
		return conf_err(lc, l, key,
		    "must be a list of groups: ( { name = ...; }, ... )");
	if ((n = config_setting_length(l)) == 0)
		return conf_err(lc, l, key, "at least one backend is required");
	c->backends = xcalloc((size_t)n, sizeof(*c->backends));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l, i);
		struct conf_backend *b = &c->backends[i];
		char bkey[300];

		c->nbackends++;
		profile_init(b);
		keypath(bkey, sizeof(bkey), "%s[%d]", key, i);
		if (conf_profile(lc, g, bkey, b) == -1)
			return -1;
		for (int j = 0; j < i; j++) {
			if (strcmp(c->backends[j].name, b->name) == 0) {
				keypath(
				    bkey, sizeof(bkey), "%s[%d].name", key, i);
				return conf_err(lc,
				    config_setting_get_member(g, "name"), bkey,
				    "duplicate backend name \"%s\"", b->name);
			}
		}
	}
	return 0;
}

/* Load one setting s described by k into base. */
static int
conf_value(struct loadctx *lc, const config_setting_t *s, const char *key,
    const char *tkey, const struct conf_key *k, const struct conf_key *tab,
    size_t ntab, void *base)
{
	char *p = (char *)base + k->off, why[300];
	int t = config_setting_type(s);
	const char *v;
	long long i;
	double d;
	enum method m;

	switch (k->type) {
	case CT_SECTION:
		if (!config_setting_is_group(s))
			return conf_err(lc, s, key, "must be a group");
		return conf_group(lc, s, key, tkey, tab, ntab, base);
	case CT_BACKENDS:
		return conf_backends(lc, s, key);
	case CT_PROFILE:
		lc->c->has_embeddings = 1;
		profile_init(&lc->c->embeddings);
		lc->c->embeddings.name = xstrdup("embeddings");
		return conf_profile(lc, s, key, &lc->c->embeddings);
	case CT_PROPS:
		return conf_props(lc, s, key, k, base);
	case CT_STRLIST:
		return conf_strlist(lc, s, key, k, base);
	case CT_INT:
	case CT_LONG:
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return conf_err(lc, s, key, "must be an integer");
		i = config_setting_get_int64(s);
		if (i < k->min || i > k->max) {
			range_err(lc, s, key, k);
			return -1;
		}
		if (k->type == CT_INT)
			*(int *)p = (int)i;
		else
			*(long *)p = (long)i;
		return 0;
	case CT_DOUBLE:
		/* Integers too, so that "temperature = 1;" means 1.0. */
		if (t == CONFIG_TYPE_FLOAT)
			d = config_setting_get_float(s);
		else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			d = (double)config_setting_get_int64(s);
		else
			return conf_err(lc, s, key, "must be a number");
		if (d < k->min || d > k->max ||
		    ((k->flags & CK_EXCL_MIN) && d == k->min)) {
			range_err(lc, s, key, k);
			return -1;
		}
		*(double *)p = d;
		return 0;
	case CT_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			return conf_err(lc, s, key, "must be true or false");
		*(int *)p = config_setting_get_bool(s) ? 1 : 0;
		return 0;
	case CT_METHOD:
		if ((v = conf_string(lc, s, key, 0)) == NULL)
			return -1;
		if (method_parse(v, &m) == -1) {
			method_list(why, sizeof(why));
			return conf_err(lc, s, key,
			    "unknown method \"%s\" (allowed: %s)", v, why);
		}
		*(int *)p = (int)m;
		return 0;
	case CT_STRING:
		v = conf_string(lc, s, key, k->flags & CK_EMPTY_OK);
		if (v == NULL)
			return -1;
		if (k->check != NULL && k->check(v, why, sizeof(why)) == -1)
			return conf_err(lc, s, key, "%s", why);
		free(*(char **)p);
		*(char **)p = xstrdup(v);
		return 0;
	}
	return conf_err(lc, s, key, "internal error: bad key type");
}

/* Load the members of group g, whose keys live under tpath in tab; key is
 * g's path for messages. Then check that required members are there. */
static int
conf_group(struct loadctx *lc, const config_setting_t *g, const char *key,
    const char *tpath, const struct conf_key *tab, size_t ntab, void *base)
{
	int n = config_setting_length(g);
	char mkey[300], tkey[300];
	const struct conf_key *k;
	const char *leaf;

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);

		keypath(mkey, sizeof(mkey), "%s%s%s", key,
		    *key != '\0' ? "." : "", s->name);
		keypath(tkey, sizeof(tkey), "%s%s%s", tpath,
		    *tpath != '\0' ? "." : "", s->name);
		if ((k = key_find(tab, ntab, tkey)) == NULL) {
			conf_warn(lc, s, mkey);
			continue;
		}
		if (conf_value(lc, s, mkey, tkey, k, tab, ntab, base) == -1)
			return -1;
	}
	for (size_t i = 0; i < ntab; i++) {
		k = &tab[i];
		if ((leaf = key_child(k->name, tpath)) == NULL)
			continue;
		if (!(k->flags & CK_REQUIRED) &&
		    !((k->flags & CK_NEED_KAFKA) &&
			(lc->flags & CONF_NEED_KAFKA)))
			continue;
		if (config_setting_get_member(g, leaf) != NULL)
			continue;
		if (k->type == CT_STRING &&
		    *(char **)((char *)base + k->off) != NULL)
			continue;
		keypath(mkey, sizeof(mkey), "%s%s%s", key,
		    *key != '\0' ? "." : "", leaf);
		if (k->type == CT_SECTION || k->type == CT_BACKENDS)
			return conf_err(
			    lc, g, mkey, "missing required section");
		return conf_err(lc, g, mkey, "missing required key");
	}
	return 0;
}

static int
fallback_check(struct loadctx *lc, const config_setting_t *g, const char *key,
    const struct conf_backend *b)
{
	const config_setting_t *l = config_setting_get_member(g, "fallback");
	const struct dialect *dl = dialect_find(b->type);
	char fkey[300];

	/* An unknown type is check_btype's error. */
	if (dl != NULL && strcmp(key, "embeddings") == 0 &&
	    dl->embed_path == NULL) {
		keypath(fkey, sizeof(fkey), "%s.type", key);
		return conf_err(lc, config_setting_get_member(g, "type"), fkey,
		    "embeddings need an OpenAI-compatible /embeddings (type "
		    "openai)");
	}
	if (strcmp(key, "embeddings") == 0 && price_set(&b->price)) {
		keypath(fkey, sizeof(fkey), "%s.price", key);
		return conf_err(lc, config_setting_get_member(g, "price"), fkey,
		    "embeddings requests are not priced: usage.cost counts "
		    "the chat replies of a job only");
	}
	if (dl != NULL && b->structured_output && !dl->structured_output) {
		keypath(fkey, sizeof(fkey), "%s.structured_output", key);
		return conf_err(lc,
		    config_setting_get_member(g, "structured_output"), fkey,
		    "the %s type has no response_format", b->type);
	}
	if (dl != NULL && b->supports_n && dl->chat_parse_choices == NULL) {
		keypath(fkey, sizeof(fkey), "%s.supports_n", key);
		return conf_err(lc, config_setting_get_member(g, "supports_n"),
		    fkey,
		    "the %s type cannot ask for several choices in one "
		    "request (n)",
		    b->type);
	}
	for (size_t i = 0; i < b->nfallback; i++) {
		const config_setting_t *e =
		    config_setting_get_elem(l, (unsigned int)i);

		keypath(fkey, sizeof(fkey), "%s.fallback[%zu]", key, i);
		if (strcmp(b->fallback[i], b->name) == 0)
			return conf_err(lc, e, fkey,
			    "a backend cannot fall back to itself");
		if (conf_backend_find(lc->c, b->fallback[i]) == NULL)
			return conf_err(lc, e, fkey, "no backend named \"%s\"",
			    b->fallback[i]);
	}
	return 0;
}

/* Checks that span keys, once everything is loaded. */

/*
 * Passthrough properties that would break a promise vsampd makes:
 * topics are never created (allow.auto.create.topics must stay false on
 * both clients), and in at-least-once mode offsets are committed by
 * librdkafka's auto-commit of what vsampd stored, so turning it off
 * would commit nothing until shutdown.
 */
static int
kafka_props_check(struct loadctx *lc, const config_t *cfg, const struct conf *c)
{
	const struct {
		const struct conf_prop *props;
		size_t n;
		const char *group;
	} sides[] = {
	    {c->consumer_props, c->nconsumer_props, "kafka.consumer"},
	    {c->producer_props, c->nproducer_props, "kafka.producer"},
	};
	char key[300];

	for (size_t k = 0; k < NKEYS(sides); k++) {
		for (size_t i = 0; i < sides[k].n; i++) {
			const char *name = sides[k].props[i].name;
			const char *v = sides[k].props[i].value;

			if (strcmp(name, "allow.auto.create.topics") == 0 &&
			    strcmp(v, "false") != 0) {
				snprintf(key, sizeof(key),
				    "%s.allow_auto_create_topics",
				    sides[k].group);
				return conf_err(lc, config_lookup(cfg, key),
				    key,
				    "must be false: vsampd never creates "
				    "topics (create them with kafka-topics)");
			}
			if (k == 0 && !c->exactly_once &&
			    strcmp(name, "enable.auto.commit") == 0 &&
			    strcmp(v, "false") == 0) {
				snprintf(key, sizeof(key),
				    "kafka.consumer.enable_auto_commit");
				return conf_err(lc, config_lookup(cfg, key),
				    key,
				    "must be true unless kafka.exactly_once "
				    "is set: vsampd commits the offsets it "
				    "stores through librdkafka's auto-commit, "
				    "and with it off nothing would be "
				    "committed until shutdown");
			}
		}
	}
	return 0;
}

static int
conf_finish(struct loadctx *lc, const config_t *cfg)
{
	struct conf *c = lc->c;
	const config_setting_t *s, *l = config_lookup(cfg, "backends");
	char key[300];
	const char *v;

	for (size_t i = 0; i < c->nbackends; i++) {
		snprintf(key, sizeof(key), "backends[%zu]", i);
		if (fallback_check(lc,
			config_setting_get_elem(l, (unsigned int)i), key,
			&c->backends[i]) == -1)
			return -1;
	}
	if (c->has_embeddings &&
	    fallback_check(lc, config_lookup(cfg, "embeddings"), "embeddings",
		&c->embeddings) == -1)
		return -1;

	if (c->default_backend == NULL)
		c->default_backend = xstrdup(c->backends[0].name);
	else if (conf_backend_find(c, c->default_backend) == NULL)
		return conf_err(lc, config_lookup(cfg, "defaults.backend"),
		    "defaults.backend", "no backend named \"%s\"",
		    c->default_backend);

	if (c->resume_inflight < 0)
		c->resume_inflight = c->max_inflight * 3 / 4;
	else if (c->resume_inflight >= c->max_inflight)
		return conf_err(lc,
		    config_lookup(cfg, "worker.resume_inflight"),
		    "worker.resume_inflight",
		    "must be less than worker.max_inflight (%d)",
		    c->max_inflight);

	if (!(lc->flags & CONF_NEED_KAFKA))
		return 0;
	if (kafka_props_check(lc, cfg, c) == -1)
		return -1;
	if (c->scope_topic != NULL &&
	    (strcmp(c->scope_topic, c->jobs_topic) == 0 ||
		strcmp(c->scope_topic, c->results_topic) == 0 ||
		(c->dlq_topic != NULL &&
		    strcmp(c->scope_topic, c->dlq_topic) == 0)))
		return conf_err(lc, config_lookup(cfg, "kafka.scope_topic"),
		    "kafka.scope_topic",
		    "must name a topic of its own, not the jobs, results or "
		    "DLQ topic");
	if (!c->exactly_once)
		return 0;
	if (c->transactional_id == NULL)
		return conf_err(lc, config_lookup(cfg, "kafka"),
		    "kafka.transactional_id",
		    "required when kafka.exactly_once is true");
	for (size_t i = 0; i < c->nconsumer_props; i++) {
		v = c->consumer_props[i].value;
		if (strcmp(c->consumer_props[i].name, "enable.auto.commit") ==
			0 &&
		    strcmp(v, "false") != 0) {
			s = config_lookup(
			    cfg, "kafka.consumer.enable_auto_commit");
			return conf_err(lc, s,
			    "kafka.consumer.enable_auto_commit",
			    "must be false when kafka.exactly_once is true");
		}
	}
	return 0;
}

/* libconfig 1.5 refuses to include deeper than this (MAX_INCLUDE_DEPTH). */
#define CONF_INCLUDE_MAX 10

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The name of an "@include" line (libconfig's ^[ \t]*@include[ \t]+"),
 * unescaped as libconfig does, into b. Returns 0, -1 for other lines, or
 * -2 when the name is not closed on the line. */
static int
include_name(const char *line, size_t len, struct buf *b)
{
	size_t i = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (len - i < 8 || memcmp(line + i, "@include", 8) != 0)
		return -1;
	i += 8;
	if (i >= len || (line[i] != ' ' && line[i] != '\t'))
		return -1;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i >= len || line[i++] != '"')
		return -1;
	buf_reset(b);
	for (; i < len && line[i] != '"'; i++) {
		if (line[i] == '\\' && i + 1 < len &&
		    (line[i + 1] == '\\' || line[i + 1] == '"'))
			i++;
		buf_append(b, line + i, 1);
	}
	/* libconfig reads a name on over a line end: not worth following. */
	return i < len ? 0 : -2;
}

/*
 * libconfig 1.5 opens a directory without complaint, whether it is the
 * file or an @include, and then its scanner fails to read it and calls
 * exit(): a SIGHUP would end the daemon. So the includes of file (at
 * include depth `depth`) are walked first, each line that starts like an
 * @include, even inside a comment (that only turns a crash into an
 * error), one level deeper than libconfig goes. Non-regular files are
 * not opened. Returns 0, 1 when the walk stopped at that depth, or -1
 * with errstr.
 */
static int
conf_includes(struct loadctx *lc, const char *file, int depth)
{
	struct stat st;
	struct buf name;
	char *line = NULL;
	size_t cap = 0;
	unsigned int lineno = 0;
	ssize_t n;
	FILE *fp;
	int rc = 0;

	if (depth > CONF_INCLUDE_MAX)
		return 1;
	if (stat(file, &st) != 0 || !S_ISREG(st.st_mode) ||
	    (fp = fopen(file, "re")) == NULL)
		return 0; /* libconfig says why, if it matters */
	buf_init(&name);
	while (rc == 0 && (n = getline(&line, &cap, fp)) != -1) {
		int in;

		lineno++;
		/* libconfig's scanner stops at a NUL, wherever it is (in an
		 * @include name it then opens what comes before): refuse. */
		if (memchr(line, '\0', (size_t)n) != NULL) {
			snprintf(lc->errstr, lc->errlen,
			    "%s:%u: a NUL byte (not a text file)", file,
			    lineno);
			rc = -1;
			break;
		}
		in = include_name(line, (size_t)n, &name);
		if (in == -2) {
			snprintf(lc->errstr, lc->errlen,
			    "%s:%u: @include: the file name is not closed on "
			    "its line",
			    file, lineno);
			rc = -1;
			break;
		}
		if (in == -1 || name.data == NULL)
			continue;
		if (is_dir(name.data)) {
			snprintf(lc->errstr, lc->errlen,
			    "%s:%u: @include: %s is a directory", file, lineno,
			    name.data);
			rc = -1;
		} else
			rc = conf_includes(lc, name.data, depth + 1);
	}
	free(line);
	buf_free(&name);
	fclose(fp);
	return rc;
}

/*
 * Load and validate the libconfig file at path (vsampd.conf(5)).
 * flags: CONF_NEED_KAFKA to require the kafka section and brokers.
 * Unknown keys are passed to warn(warnarg, msg) when warn is not NULL.
 * Returns a new conf for conf_free(), or NULL with errstr set to
 * "FILE:LINE: KEY: problem" (or "FILE:LINE: syntax error...").
 */
struct conf *
conf_load(const char *path, int flags, void (*warn)(void *, const char *),
    void *warnarg, char *errstr, size_t errlen)
{
	struct loadctx lc;
	struct conf *c;
	const char *file, *text;
	config_t cfg;

	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	conf_defaults(conf_keys, NKEYS(conf_keys), c);

	memset(&lc, 0, sizeof(lc));
	lc.path = path;
	lc.flags = flags;
	lc.warn = warn;
	lc.warnarg = warnarg;
	lc.errstr = errstr;
	lc.errlen = errlen;
	lc.c = c;

	config_init(&cfg);
	config_set_options(&cfg, CONFIG_OPTION_AUTOCONVERT);
	if (is_dir(path)) {
		snprintf(errstr, errlen, "%s: cannot read: %s", path,
		    strerror(EISDIR));
		goto fail;
	}
	if (conf_includes(&lc, path, 0) == -1)
		goto fail;
	errno = 0;
	if (config_read_file(&cfg, path) != CONFIG_TRUE) {
		if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
			snprintf(errstr, errlen, "%s: cannot read: %s", path,
			    errno != 0 ? strerror(errno) : "I/O error");
		} else {
			/* libconfig's text is usually just "syntax error". */
			file = config_error_file(&cfg);
			text = config_error_text(&cfg);
			snprintf(errstr, errlen, "%s:%d: syntax error%s%s",
			    file != NULL ? file : path, config_error_line(&cfg),
			    strcmp(text, "syntax error") == 0 ? "" : ": ",
			    strcmp(text, "syntax error") == 0 ? "" : text);
		}
		goto fail;
	}
	if (conf_group(&lc, config_root_setting(&cfg), "", "", conf_keys,
		NKEYS(conf_keys), c) == -1 ||
	    conf_finish(&lc, &cfg) == -1)
		goto fail;
	config_destroy(&cfg);
	return c;
fail:
	config_destroy(&cfg);
	conf_free(c);
	return NULL;
}

/* Free the strings and lists of tab held in base. */
static void
conf_release(const struct conf_key *tab, size_t ntab, void *base)
{
	for (size_t i = 0; i < ntab; i++) {
		char *p = (char *)base + tab[i].off;
		size_t n;

		if (tab[i].type == CT_STRING) {
			free(*(char **)p);
			*(char **)p = NULL;
		} else if (tab[i].type == CT_STRLIST) {
			char **l = *(char ***)p;

			n = *(size_t *)((char *)base + tab[i].noff);
			for (size_t j = 0; j < n; j++)
				free(l[j]);
			free(l);
			*(char ***)p = NULL;
		} else if (tab[i].type == CT_PROPS) {
			struct conf_prop *props = *(struct conf_prop **)p;

			n = *(size_t *)((char *)base + tab[i].noff);
			for (size_t j = 0; j < n; j++) {
				free(props[j].name);
				if (props[j].value != NULL)
					explicit_bzero(props[j].value,
					    strlen(props[j].value));
				free(props[j].value);
				free(props[j].source);
			}
			free(props);
			*(struct conf_prop **)p = NULL;
		}
	}
}

static void
profile_free(struct conf_backend *b)
{
	conf_release(profile_keys, NKEYS(profile_keys), b);
	if (b->api_key != NULL) {
		explicit_bzero(b->api_key, strlen(b->api_key));
		free(b->api_key);
		b->api_key = NULL;
	}
}

/* Free c and everything it holds (the API keys are wiped first); NULL is
 * fine. */
void
conf_free(struct conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nbackends; i++)
		profile_free(&c->backends[i]);
	free(c->backends);
	profile_free(&c->embeddings);
	conf_release(conf_keys, NKEYS(conf_keys), c);
	free(c->path);
	free(c);
}

/* The backend profile called name in c, or NULL. The pointer lives as
 * long as c. */
const struct conf_backend *
conf_backend_find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nbackends; i++)
		if (c->backends[i].name != NULL &&
		    strcmp(c->backends[i].name, name) == 0)
			return &c->backends[i];
	return NULL;
}

/* ---- printing --------------------------------------------------------- */

static void
print_indent(FILE *fp, int depth)
{
	for (int i = 0; i < depth; i++)
		fputc('\t', fp);
}

/* A libconfig string literal. */
static void
print_string(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(fp, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", fp);
		else if (ch == '\t')
			fputs("\\t", fp);
		else if (ch == '\r')
			fputs("\\r", fp);
		else if (ch < ' ' || ch == 0x7f)
			fprintf(fp, "\\x%02x", ch);
		else
			fputc(ch, fp);
	}
	fputc('"', fp);
}

/* The shortest decimal that reads back as d, always with a '.' or an
 * exponent so that libconfig reads a float. */
static void
print_double(FILE *fp, double d)
{
	char b[64];
	int prec = 1;

	/* Not fewer digits than the integer part has, so that 10 is 10.0
	 * and not 1e+01. */
	for (double a = fabs(d); a >= 10 && prec < 17; a /= 10)
		prec++;
	for (; prec <= 17; prec++) {
		snprintf(b, sizeof(b), "%.*g", prec, d);
		if (strtod(b, NULL) == d)
			break;
	}
	fputs(b, fp);
	if (strpbrk(b, ".eEni") == NULL)
		fputs(".0", fp);
}

/* Does a passthrough property name look like it holds a secret? */
static int
prop_secret(const char *name)
{
	static const char *words[] = {"password", "secret", "key"};

	for (const char *p = name; *p != '\0'; p++)
		for (size_t i = 0; i < NKEYS(words); i++)
			if (strncasecmp(p, words[i], strlen(words[i])) == 0)
				return 1;
	return 0;
}

static void print_table(FILE *fp, const struct conf_key *, size_t, const char *,
    const void *, const struct conf *, int);

static void
print_props(FILE *fp, const char *leaf, const struct conf_prop *props, size_t n,
    int depth)
{
	if (n == 0) {
		fprintf(fp, "%s = { };\n", leaf);
		return;
	}
	fprintf(fp, "%s = {\n", leaf);
	for (size_t i = 0; i < n; i++) {
		print_indent(fp, depth + 1);
		for (const char *p = props[i].name; *p != '\0'; p++)
			fputc(*p == '.' ? '_' : *p, fp);
		/* Where a secret comes from, never the secret. */
		if (props[i].from != NULL) {
			fprintf(fp, "_%s = ", props[i].from);
			print_string(fp, props[i].source);
		} else {
			fputs(" = ", fp);
			print_string(fp, prop_secret(props[i].name)
				? "(redacted)"
				: props[i].value);
		}
		fputs(";\n", fp);
	}
	print_indent(fp, depth);
	fputs("};\n", fp);
}

static void
print_profile(FILE *fp, const struct conf_backend *b, int depth)
{
	print_table(fp, profile_keys, NKEYS(profile_keys), "", b, NULL, depth);
}

/* The value of a scalar key or a list of strings, as libconfig reads it
 * back (without the name or the ';'). */
static void
print_value(FILE *fp, const struct conf_key *k, const void *base)
{
	const char *p = (const char *)base + k->off;
	long l;

	switch (k->type) {
	case CT_STRLIST:
		fputc('[', fp);
		for (size_t i = 0;
		     i < *(const size_t *)((const char *)base + k->noff); i++) {
			fputs(i > 0 ? ", " : " ", fp);
			print_string(fp, (*(char *const *const *)p)[i]);
		}
		fputs(" ]", fp);
		return;
	case CT_INT:
		fprintf(fp, "%d", *(const int *)p);
		return;
	case CT_LONG:
		/* libconfig reads larger numbers only with the L suffix */
		l = *(const long *)p;
		fprintf(fp, "%ld%s", l, l > INT_MAX || l < INT_MIN ? "L" : "");
		return;
	case CT_DOUBLE:
		print_double(fp, *(const double *)p);
		return;
	case CT_BOOL:
		fputs(*(const int *)p ? "true" : "false", fp);
		return;
	case CT_METHOD:
		print_string(fp, method_name((enum method) * (const int *)p));
		return;
	case CT_STRING:
		print_string(fp, *(char *const *)p);
		return;
	default:
		return;
	}
}

/*
 * Whether key k of tab (in base) is not set: by its value and CK_UNSET;
 * a section marked CK_UNSET is unset when none of its keys is set.
 */
static int
key_unset(const struct conf_key *tab, size_t ntab, const struct conf_key *k,
    const void *base, const struct conf *c)
{
	const char *p = (const char *)base + k->off;

	switch (k->type) {
	case CT_STRING:
		return *(char *const *)p == NULL;
	case CT_DOUBLE:
		return isnan(*(const double *)p);
	case CT_LONG:
		return (k->flags & CK_UNSET) && *(const long *)p == 0;
	case CT_BOOL:
		return (k->flags & CK_UNSET) && *(const int *)p < 0;
	case CT_PROFILE:
		return !c->has_embeddings;
	case CT_SECTION:
		if (!(k->flags & CK_UNSET))
			return 0;
		for (size_t i = 0; i < ntab; i++)
			if (key_child(tab[i].name, k->name) != NULL &&
			    !key_unset(tab, ntab, &tab[i], base, c))
				return 0;
		return 1;
	default:
		return 0;
	}
}

/* One key of tab, set or not (key_unset). */
static void
print_key(FILE *fp, const struct conf_key *tab, size_t ntab,
    const struct conf_key *k, const char *leaf, const void *base,
    const struct conf *c, int depth)
{
	const char *p = (const char *)base + k->off;
	int unset = key_unset(tab, ntab, k, base, c);

	print_indent(fp, depth);
	if (unset) {
		fprintf(fp, "# %s: not set\n", leaf);
		return;
	}
	switch (k->type) {
	case CT_SECTION:
		fprintf(fp, "%s = {\n", leaf);
		print_table(fp, tab, ntab, k->name, base, c, depth + 1);
		print_indent(fp, depth);
		fputs("};\n", fp);
		return;
	case CT_BACKENDS:
		fprintf(fp, "%s = (\n", leaf);
		for (size_t i = 0; i < c->nbackends; i++) {
			print_indent(fp, depth + 1);
			fputs("{\n", fp);
			print_profile(fp, &c->backends[i], depth + 2);
			print_indent(fp, depth + 1);
			fputs(i + 1 < c->nbackends ? "},\n" : "}\n", fp);
		}
		print_indent(fp, depth);
		fputs(");\n", fp);
		return;
	case CT_PROFILE:
		fprintf(fp, "%s = {\n", leaf);
		print_profile(fp, &c->embeddings, depth + 1);
		print_indent(fp, depth);
		fputs("};\n", fp);
		return;
	case CT_PROPS:
		print_props(fp, leaf, *(struct conf_prop *const *)p,
		    *(const size_t *)((const char *)base + k->noff), depth);
		return;
	default:
		fprintf(fp, "%s = ", leaf);
		print_value(fp, k, base);
		fputs(";\n", fp);
		return;
	}
}

/* Print the keys of tab directly under tpath, in table order. */
static void
print_table(FILE *fp, const struct conf_key *tab, size_t ntab,
    const char *tpath, const void *base, const struct conf *c, int depth)
{
	const char *leaf;

	for (size_t i = 0; i < ntab; i++)
		if ((leaf = key_child(tab[i].name, tpath)) != NULL)
			print_key(fp, tab, ntab, &tab[i], leaf, base, c, depth);
}

/*
 * Write the effective settings of c to fp as a libconfig file that loads
 * back to the same settings: every key, defaults included, keys that are
 * not set as comments. API keys are never written (only where they come
 * from), and passthrough values whose names contain "password", "secret"
 * or "key" are written as "(redacted)".
 */
void
conf_print(const struct conf *c, FILE *fp)
{
	print_table(fp, conf_keys, NKEYS(conf_keys), "", c, c, 0);
}

/* ---- the key tables, for documentation checks ------------------------- */

static const char *
key_type_name(enum conf_type t)
{
	switch (t) {
	case CT_SECTION:
		return "section";
	case CT_BACKENDS:
		return "list";
	case CT_PROFILE:
		return "profile";
	case CT_PROPS:
		return "group";
	case CT_INT:
	case CT_LONG:
		return "integer";
	case CT_DOUBLE:
		return "number";
	case CT_BOOL:
		return "boolean";
	case CT_STRING:
	case CT_METHOD:
		return "string";
	case CT_STRLIST:
		return "array";
	}
	return "?";
}

/*
 * Describe key i of the tables in ki: the keys of conf_keys[] in the
 * order conf_print() writes them, then those of a backend profile as
 * "backends.NAME". Returns 0, or -1 when i is past the last key.
 * It reads the tables themselves, so that a check of the documentation
 * (tests/unit/check_docs.c) holds no list of its own.
 */
int
conf_key_info(size_t i, struct conf_keyinfo *ki)
{
	const struct conf_key *k;
	struct conf_backend b;
	struct conf c;
	const char *prefix = "";
	void *base;
	FILE *fp;

	if (i < NKEYS(conf_keys))
		k = &conf_keys[i];
	else if (i - NKEYS(conf_keys) < NKEYS(profile_keys)) {
		k = &profile_keys[i - NKEYS(conf_keys)];
		prefix = "backends.";
	} else
		return -1;
	memset(ki, 0, sizeof(*ki));
	snprintf(ki->path, sizeof(ki->path), "%s%s", prefix, k->name);
	ki->type = key_type_name(k->type);
	if (k->flags & CK_DERIVED)
		ki->how = CONF_KEY_DERIVED;
	else if (k->flags & (CK_REQUIRED | CK_NEED_KAFKA))
		ki->how = CONF_KEY_REQUIRED;
	else if ((k->flags & CK_UNSET) || k->type == CT_PROFILE ||
	    (k->type == CT_STRING && k->sdef == NULL))
		ki->how = CONF_KEY_UNSET;
	else
		ki->how = CONF_KEY_DEFAULT;
	if (k->type == CT_INT || k->type == CT_LONG || k->type == CT_DOUBLE) {
		ki->bounded = 1;
		ki->min = k->min;
		ki->max = k->max;
		ki->min_excluded = (k->flags & CK_EXCL_MIN) != 0;
	}
	if (ki->how != CONF_KEY_DEFAULT)
		return 0;
	if (k->type == CT_PROPS) {
		snprintf(ki->def, sizeof(ki->def), "{ }");
		return 0;
	}
	if (k->type == CT_SECTION)
		return 0;
	/* The default as conf_print() writes it, from a struct that holds
	 * nothing but defaults. */
	memset(&c, 0, sizeof(c));
	memset(&b, 0, sizeof(b));
	base = prefix[0] != '\0' ? (void *)&b : (void *)&c;
	if (prefix[0] != '\0')
		conf_defaults(profile_keys, NKEYS(profile_keys), &b);
	else
		conf_defaults(conf_keys, NKEYS(conf_keys), &c);
	if ((fp = fmemopen(ki->def, sizeof(ki->def), "w")) != NULL) {
		print_value(fp, k, base);
		fclose(fp);
	}
	if (prefix[0] != '\0')
		conf_release(profile_keys, NKEYS(profile_keys), &b);
	else
		conf_release(conf_keys, NKEYS(conf_keys), &c);
	return 0;
}
