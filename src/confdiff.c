/*
 * confdiff: flatten conf_print() output and compare. The printer writes
 * one setting per line, groups as `name = {` ... `};`, lists as
 * `name = (` ... `);` whose elements open with a lone `{`, and unset
 * optional keys as `# name: not set`.
 *
 * A leaf module: it compares two printed configs; it applies nothing
 * (the daemon's reload does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "confdiff.h"
#include "xmalloc.h"

#define MAXDEPTH 8

struct kv {
	char *path;
	char *value;
};

struct flat {
	struct kv *kv;
	size_t n, cap;
};

static void
flat_add(struct flat *f, const char *path, const char *value)
{
	if (f->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 64;
		f->kv = xreallocarray(f->kv, f->cap, sizeof(*f->kv));
	}
	f->kv[f->n].path = xstrdup(path);
	f->kv[f->n].value = xstrdup(value);
	f->n++;
}

static void
flat_free(struct flat *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->kv[i].path);
		free(f->kv[i].value);
	}
	free(f->kv);
}

/* Trim leading blanks and a trailing ';' or ',' with blanks. */
static char *
trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 &&
	    (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\t' ||
		s[n - 1] == ';' || s[n - 1] == ','))
		s[--n] = '\0';
	return s;
}

static void
flatten(const struct conf *c, struct flat *f)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);
	/* The path so far, one component per open group or element. */
	char comp[MAXDEPTH][96];
	int list_next[MAXDEPTH]; /* next element index, for lists */
	int depth = 0;

	memset(f, 0, sizeof(*f));
	if (fp == NULL)
		return;
	conf_print(c, fp);
	fclose(fp);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *s = trim(line), path[1024], *eq;
		size_t pl = 0;

		path[0] = '\0';
		for (int i = 0; i < depth; i++)
			pl += (size_t)snprintf(path + pl, sizeof(path) - pl,
			    "%s%s", i && comp[i][0] != '[' ? "." : "", comp[i]);
		if (*s == '\0')
			continue;
		if (strcmp(s, "}") == 0 || strcmp(s, ")") == 0) {
			if (depth > 0)
				depth--;
			continue;
		}
		if (strcmp(s, "{") == 0) {
			if (depth > 0 && depth < MAXDEPTH) {
				snprintf(comp[depth], sizeof(comp[depth]),
				    "[%d]", list_next[depth - 1]++);
				list_next[depth] = 0;
				depth++;
			}
			continue;
		}
		if (s[0] == '#') {
			/* "# name: not set" */
			char *colon = strstr(s, ": not set");

			if (colon != NULL) {
				char key[1100];

				*colon = '\0';
				snprintf(key, sizeof(key), "%s%s%s", path,
				    pl ? "." : "", trim(s + 1));
				flat_add(f, key, "(unset)");
			}
			continue;
		}
		if ((eq = strstr(s, " = ")) == NULL)
			continue;
		*eq = '\0';
		if ((strcmp(eq + 3, "{") == 0 || strcmp(eq + 3, "(") == 0) &&
		    depth < MAXDEPTH) {
			snprintf(comp[depth], sizeof(comp[depth]), "%s", s);
			list_next[depth] = 0;
			depth++;
			continue;
		}
		{
			char key[1100];

			snprintf(
			    key, sizeof(key), "%s%s%s", path, pl ? "." : "", s);
			flat_add(f, key, eq + 3);
		}
	}
	free(text);
}

/*
 * Name list elements by their `name` key where they have one, so that
 * backends[local].url stays the same key when a backend is inserted
 * before it: "backends[0].x" becomes "backends[local].x".
 */
static void
name_elements(struct flat *f)
{
	for (size_t i = 0; i < f->n; i++) {
		const char *p = f->kv[i].path, *br = strchr(p, '['), *end;
		size_t vl;

		if (br == NULL || (end = strchr(br, ']')) == NULL ||
		    strcmp(end, "].name") != 0)
			continue;
		vl = strlen(f->kv[i].value);
		if (vl < 2 || f->kv[i].value[0] != '"')
			continue;
		{
			size_t plen = (size_t)(end - p) + 1; /* "x[0]" */
			char *named = xasprintf("%.*s[%.*s]", (int)(br - p), p,
			    (int)(vl - 2), f->kv[i].value + 1);

			for (size_t j = 0; j < f->n; j++) {
				char *q = f->kv[j].path, *np;

				if (strncmp(q, p, plen) != 0 ||
				    (q[plen] != '.' && q[plen] != '\0'))
					continue;
				if (j == i)
					continue;
				np = xasprintf("%s%s", named, q + plen);
				free(f->kv[j].path);
				f->kv[j].path = np;
			}
			{
				char *np = xasprintf("%s.name", named);

				free(f->kv[i].path);
				f->kv[i].path = np;
			}
			free(named);
		}
	}
}

static const char *
find(const struct flat *f, const char *path)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->kv[i].path, path) == 0)
			return f->kv[i].value;
	return NULL;
}

/* Keys whose change needs a restart (see docs/operations.md). */
int
confdiff_needs_restart(const char *path)
{
	static const char *const exact[] = {"metrics.listen",
	    "dedup.scope_capacity", "dedup.state_file",
	    "worker.max_message_bytes", "worker.max_result_bytes",
	    "worker.inflight_file"};

	if (strncmp(path, "kafka.", 6) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (strcmp(path, exact[i]) == 0)
			return 1;
	return 0;
}

/* Report changed keys (see confdiff.h). */
int
confdiff_each(
    const struct conf *a, const struct conf *b, confdiff_cb cb, void *arg)
{
	struct flat fa, fb;
	int n = 0;

	flatten(a, &fa);
	flatten(b, &fb);
	name_elements(&fa);
	name_elements(&fb);
	/* Absent and unset are the same; "{ }" is an empty group. */
	for (size_t i = 0; i < fb.n; i++) {
		const char *was = find(&fa, fb.kv[i].path),
			   *now = fb.kv[i].value;

		if (was == NULL)
			was = "(unset)";
		if (strcmp(was, now) == 0 || strcmp(now, "{ }") == 0)
			continue;
		cb(arg, fb.kv[i].path, was, now,
		    confdiff_needs_restart(fb.kv[i].path));
		n++;
	}
	for (size_t i = 0; i < fa.n; i++) {
		const char *was = fa.kv[i].value;

		if (find(&fb, fa.kv[i].path) != NULL ||
		    strcmp(was, "(unset)") == 0 || strcmp(was, "{ }") == 0)
			continue;
		cb(arg, fa.kv[i].path, was, "(unset)",
		    confdiff_needs_restart(fa.kv[i].path));
		n++;
	}
	flat_free(&fa);
	flat_free(&fb);
	return n;
}

#define SWAP(type, x, y)         \
	do {                     \
		type tmp_ = (x); \
		(x) = (y);       \
		(y) = tmp_;      \
	} while (0)

/* Swap the restart-only settings (see confdiff.h). */
void
confdiff_keep_restart(struct conf *next, struct conf *running)
{
	SWAP(char *, next->brokers, running->brokers);
	SWAP(char *, next->group_id, running->group_id);
	SWAP(char *, next->jobs_topic, running->jobs_topic);
	SWAP(char *, next->results_topic, running->results_topic);
	SWAP(char *, next->dlq_topic, running->dlq_topic);
	SWAP(char *, next->scope_topic, running->scope_topic);
	SWAP(struct conf_prop *, next->consumer_props, running->consumer_props);
	SWAP(size_t, next->nconsumer_props, running->nconsumer_props);
	SWAP(struct conf_prop *, next->producer_props, running->producer_props);
	SWAP(size_t, next->nproducer_props, running->nproducer_props);
	SWAP(int, next->exactly_once, running->exactly_once);
	SWAP(char *, next->transactional_id, running->transactional_id);
	SWAP(long, next->transaction_ms, running->transaction_ms);
	SWAP(long, next->max_message_bytes, running->max_message_bytes);
	/* The producer's message.max.bytes was sized from these two. */
	SWAP(long, next->max_result_bytes, running->max_result_bytes);
	SWAP(long, next->scope_capacity, running->scope_capacity);
	SWAP(char *, next->state_file, running->state_file);
	SWAP(char *, next->inflight_file, running->inflight_file);
	SWAP(char *, next->metrics_listen, running->metrics_listen);
}
