/*
 * check_docs: the documentation agrees with the code.
 *
 * The config keys come from conf.c's own tables (conf_key_info()), the
 * metrics from the registry vsampd serves at /metrics (stats_new() and
 * the series it creates for a backend and a topic), so this file holds
 * no list of its own. It checks that
 *   - vsampd.conf(5) documents every key, in the section of its file
 *     section, with its type, bounds and default, and documents no key
 *     the code does not know;
 *   - conf/vsampd.conf shows every key: the settings that are not
 *     commented out are the defaults (the required keys any value),
 *     keys not set by default or worked out from other keys are
 *     commented out, and it sets nothing vsampd does not know;
 *   - the three places that say which keys a reload keeps (until a
 *     restart) name those confdiff_needs_restart() names, and no other;
 *   - docs/metrics.md lists every family with its type and label names,
 *     and lists nothing vsampd does not export;
 *   - the queries of docs/grafana-dashboard.json, docs/vsampd-alerts.yml
 *     and metrics.md name only exported metrics and their labels, every
 *     alert has a severity, a summary and a description, and metrics.md
 *     lists the alerts of the file.
 * Every problem is printed on its own line, naming the file and the key
 * or metric, before the test fails.
 */
#include <check.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "confdiff.h"
#include "stats.h"
#include "xmalloc.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif

#define MAN_PAGE SRCDIR "/docs/vsampd.conf.5"
#define SAMPLE SRCDIR "/conf/vsampd.conf"
#define METRICS_MD SRCDIR "/docs/metrics.md"

/* ---- helpers ------------------------------------------------------------ */

static char *
slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;

	if (fp == NULL)
		return NULL;
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		buf_append(&b, chunk, n);
	fclose(fp);
	buf_append(&b, "", 1);
	return buf_release(&b, NULL);
}

/* Problems found, one per line; printed and counted. */
struct probs {
	struct buf b;
	int n;
};

static void prob(struct probs *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
prob(struct probs *p, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
	buf_printf(&p->b, "%s\n", line);
	p->n++;
}

static void
probs_done(struct probs *p, const char *what)
{
	buf_append(&p->b, "", 1);
	ck_assert_msg(
	    p->n == 0, "%s: %d problem(s):\n%s", what, p->n, p->b.data);
	buf_free(&p->b);
}

/* The keys of conf.c, all of them. */
static struct conf_keyinfo *
all_keys(size_t *np)
{
	struct conf_keyinfo *k = NULL;
	size_t n = 0;

	for (;;) {
		k = xreallocarray(k, n + 1, sizeof(*k));
		if (conf_key_info(n, &k[n]) == -1)
			break;
		n++;
	}
	ck_assert_uint_gt(n, 40); /* the tables, not an empty walk */
	*np = n;
	return k;
}

static const struct conf_keyinfo *
key_find(const struct conf_keyinfo *k, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(k[i].path, path) == 0)
			return &k[i];
	return NULL;
}

/* A key that is a whole part of the file (a section of the man page);
 * a group inside one (backends.price) is a key of its part. */
static int
key_is_part(const struct conf_keyinfo *k)
{
	return (strcmp(k->type, "section") == 0 &&
		   strchr(k->path, '.') == NULL) ||
	    strcmp(k->type, "list") == 0 || strcmp(k->type, "profile") == 0;
}

/* The default as the docs write it: the build's LOCALSTATEDIR is /var
 * there (the Debian layout). */
static void
doc_default(const struct conf_keyinfo *k, char *out, size_t outlen)
{
	size_t l = strlen(LOCALSTATEDIR);

	if (k->def[0] == '"' && strncmp(k->def + 1, LOCALSTATEDIR, l) == 0)
		snprintf(out, outlen, "\"/var%s", k->def + 1 + l);
	else
		snprintf(out, outlen, "%s", k->def);
}

/* Is s at p a whole token: not glued to a letter or digit around it? */
static int
whole(const char *text, const char *p, size_t len)
{
	if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '.'))
		return 0;
	if (isalnum((unsigned char)p[len]) ||
	    (p[len] == '.' && isdigit((unsigned char)p[len + 1])))
		return 0;
	return 1;
}

static int
has_word(const char *text, const char *w)
{
	size_t len = strlen(w);

	for (const char *p = text; (p = strstr(p, w)) != NULL; p++)
		if (whole(text, p, len))
			return 1;
	return 0;
}

/* ---- vsampd.conf(5) ----------------------------------------------------- */

/* Append the text of a roff line: macros of the B/I/R family become
 * their arguments, escapes their characters; other requests nothing. */
static void
roff_text(const char *line, struct buf *out)
{
	char arg[1024];
	int join = 0, first = 1;
	const char *p = line;

	if (*p == '.' || *p == '\'') {
		char mac[8];
		size_t m = 0;

		p++;
		while (*p != '\0' && *p != ' ' && m + 1 < sizeof(mac))
			mac[m++] = *p++;
		mac[m] = '\0';
		if (strcmp(mac, "B") == 0 || strcmp(mac, "I") == 0)
			join = 0;
		else if (m == 2 && strchr("BIR", mac[0]) != NULL &&
		    strchr("BIR", mac[1]) != NULL)
			join = 1;
		else
			return;
	} else
		join = 2; /* plain text */
	buf_append(out, " ", 1);
	while (*p != '\0') {
		size_t a = 0;

		if (join != 2) {
			while (*p == ' ')
				p++;
			if (*p == '\0')
				break;
			if (*p == '"') {
				for (p++; *p != '\0'; p++) {
					if (*p == '"' && p[1] == '"')
						p++;
					else if (*p == '"') {
						p++;
						break;
					}
					if (a + 1 < sizeof(arg))
						arg[a++] = *p;
				}
			} else {
				while (*p != '\0' && *p != ' ' &&
				    a + 1 < sizeof(arg))
					arg[a++] = *p++;
			}
		} else {
			while (*p != '\0' && a + 1 < sizeof(arg))
				arg[a++] = *p++;
		}
		arg[a] = '\0';
		if (!first && join == 0)
			buf_append(out, " ", 1);
		first = 0;
		/* Escapes: \- \e \(xx \fX \& and "\ ". */
		for (const char *q = arg; *q != '\0'; q++) {
			if (*q != '\\') {
				buf_append(out, q, 1);
				continue;
			}
			q++;
			if (*q == 'e')
				buf_append(out, "\\", 1);
			else if (*q == '(' && q[1] != '\0' && q[2] != '\0')
				q += 2;
			else if (*q == 'f' && q[1] != '\0')
				q++;
			else if (*q == '&')
				;
			else if (*q == '\0')
				break;
			else
				buf_append(out, q, 1);
		}
	}
}

struct man_entry {
	char section[32]; /* "KAFKA" */
	char name[64]; /* the tag: "group_id" */
	char *head; /* the text up to the next paragraph */
	int line;
};

/* The sections (.SH) of the page and its tagged paragraphs (.TP with a
 * one-word .B tag). */
static size_t
man_parse(char *text, struct man_entry **ep, char ***shp, size_t *nsh)
{
	struct man_entry *e = NULL;
	size_t n = 0;
	char section[32] = "", *save = NULL, **sh = NULL;
	int lineno = 0, want_tag = 0;
	struct buf *head = NULL;

	*nsh = 0;
	for (char *l = strtok_r(text, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		lineno++;
		if (head != NULL &&
		    (strncmp(l, ".TP", 3) == 0 || strncmp(l, ".IP", 3) == 0 ||
			strncmp(l, ".PP", 3) == 0 ||
			strncmp(l, ".SH", 3) == 0 ||
			strncmp(l, ".RS", 3) == 0)) {
			buf_append(head, "", 1);
			e[n - 1].head = buf_release(head, NULL);
			free(head);
			head = NULL;
		}
		if (strncmp(l, ".SH ", 4) == 0) {
			snprintf(section, sizeof(section), "%s", l + 4);
			sh = xreallocarray(sh, *nsh + 1, sizeof(*sh));
			sh[(*nsh)++] = xstrdup(section);
			continue;
		}
		if (strcmp(l, ".TP") == 0) {
			want_tag = 1;
			continue;
		}
		if (want_tag) {
			want_tag = 0;
			if (strncmp(l, ".B ", 3) == 0 &&
			    strchr(l + 3, ' ') == NULL) {
				e = xreallocarray(e, n + 1, sizeof(*e));
				memset(&e[n], 0, sizeof(e[n]));
				snprintf(e[n].section, sizeof(e[n].section),
				    "%s", section);
				snprintf(
				    e[n].name, sizeof(e[n].name), "%s", l + 3);
				e[n].line = lineno;
				n++;
				head = xcalloc(1, sizeof(*head));
				buf_init(head);
				continue;
			}
		}
		if (head != NULL)
			roff_text(l, head);
	}
	if (head != NULL) {
		buf_append(head, "", 1);
		e[n - 1].head = buf_release(head, NULL);
		free(head);
	}
	*ep = e;
	*shp = sh;
	return n;
}

/* Leading blanks skipped. */
static const char *
skip_blanks(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

static const char *
type_word(const char *type)
{
	if (strcmp(type, "integer") == 0)
		return "Integer";
	if (strcmp(type, "number") == 0)
		return "Number";
	if (strcmp(type, "boolean") == 0)
		return "Boolean";
	if (strcmp(type, "string") == 0)
		return "String";
	if (strcmp(type, "array") == 0)
		return "Array";
	if (strcmp(type, "group") == 0 || strcmp(type, "section") == 0)
		return "Group";
	return "?";
}

/* Does the paragraph give this default ("default X" for some X)? */
static int
man_has_default(const char *head, const struct conf_keyinfo *k)
{
	char def[160], bare[160];
	size_t len;

	doc_default(k, def, sizeof(def));
	for (const char *p = head; (p = strstr(p, "default ")) != NULL; p++) {
		const char *v = p + 8;
		char *end;

		if (strcmp(k->type, "array") == 0 ||
		    strcmp(k->type, "group") == 0) {
			if (strncmp(v, "empty", 5) == 0)
				return 1;
		} else if (strcmp(k->type, "integer") == 0 ||
		    strcmp(k->type, "number") == 0) {
			double d = strtod(v, &end);

			if (end != v && d == strtod(def, NULL) &&
			    !isalnum((unsigned char)*end))
				return 1;
		} else if (strcmp(k->type, "string") == 0) {
			/* "vsampd" quoted, or a path set in italics bare */
			len = strlen(def);
			if (strncmp(v, def, len) == 0)
				return 1;
			snprintf(bare, sizeof(bare), "%.*s", (int)(len - 2),
			    def + 1);
			len = strlen(bare);
			if (len > 0 && strncmp(v, bare, len) == 0 &&
			    (v[len] == '\0' || v[len] == ' ' ||
				(ispunct((unsigned char)v[len]) &&
				    v[len] != '/' && v[len] != '_')))
				return 1;
		} else if (has_word(v, def) &&
		    strncmp(v, def, strlen(def)) == 0)
			return 1;
	}
	return 0;
}

static void
man_check_key(struct probs *pr, const struct conf_keyinfo *k,
    const struct man_entry *e, size_t ne)
{
	char section[32], bounds[160];
	const char *dot = strchr(k->path, '.'), *leaf = dot + 1, *head;
	const struct man_entry *m = NULL;
	size_t i;

	snprintf(
	    section, sizeof(section), "%.*s", (int)(dot - k->path), k->path);
	for (i = 0; section[i] != '\0'; i++)
		section[i] = (char)toupper((unsigned char)section[i]);
	for (i = 0; i < ne && m == NULL; i++)
		if (strcmp(e[i].section, section) == 0 &&
		    strcmp(e[i].name, leaf) == 0)
			m = &e[i];
	if (m == NULL) {
		prob(pr,
		    "vsampd.conf.5: %s: not documented (no .TP/.B %s in "
		    "section %s)",
		    k->path, leaf, section);
		return;
	}
	head = skip_blanks(m->head != NULL ? m->head : "");
	if (strncmp(head, type_word(k->type), strlen(type_word(k->type))) != 0)
		prob(pr,
		    "vsampd.conf.5:%d: %s: the code's type is %s, the page "
		    "says \"%.40s\"",
		    m->line, k->path, k->type, head);
	if (k->bounded) {
		if (strcmp(k->type, "integer") == 0)
			snprintf(bounds, sizeof(bounds), "%lld to %lld",
			    (long long)k->min, (long long)k->max);
		else if (k->min_excluded)
			snprintf(bounds, sizeof(bounds),
			    "greater than %.15g and at most %.15g", k->min,
			    k->max);
		else
			snprintf(bounds, sizeof(bounds), "%.15g to %.15g",
			    k->min, k->max);
		if (!has_word(head, bounds))
			prob(pr,
			    "vsampd.conf.5:%d: %s: the code's bounds are "
			    "\"%s\", the page does not say so",
			    m->line, k->path, bounds);
	}
	switch (k->how) {
	case CONF_KEY_DEFAULT:
		if (!man_has_default(head, k))
			prob(pr,
			    "vsampd.conf.5:%d: %s: the code's default is %s, "
			    "the page does not say \"default %s\"",
			    m->line, k->path, k->def, k->def);
		break;
	case CONF_KEY_UNSET:
		if (strstr(head, "not set by default") == NULL)
			prob(pr,
			    "vsampd.conf.5:%d: %s: not set by default in the "
			    "code, the page does not say \"not set by "
			    "default\"",
			    m->line, k->path);
		break;
	case CONF_KEY_REQUIRED:
		if (!has_word(head, "required"))
			prob(pr,
			    "vsampd.conf.5:%d: %s: required by the code, the "
			    "page does not say \"required\"",
			    m->line, k->path);
		break;
	case CONF_KEY_DERIVED:
		if (!has_word(head, "default"))
			prob(pr,
			    "vsampd.conf.5:%d: %s: its default is worked out "
			    "from other keys; the page does not say what it is",
			    m->line, k->path);
		break;
	}
}

START_TEST(test_man_page)
{
	struct probs pr = {{NULL, 0, 0}, 0};
	char *text = slurp(MAN_PAGE), **sh, upper[96];
	struct man_entry *e;
	size_t nk, ne, nsh;
	struct conf_keyinfo *k = all_keys(&nk);

	ck_assert_msg(text != NULL, "cannot read %s", MAN_PAGE);
	buf_init(&pr.b);
	ne = man_parse(text, &e, &sh, &nsh);
	for (size_t i = 0; i < nk; i++) {
		if (key_is_part(&k[i])) {
			size_t j, found = 0;

			for (j = 0; k[i].path[j] != '\0'; j++)
				upper[j] =
				    (char)toupper((unsigned char)k[i].path[j]);
			upper[j] = '\0';
			for (j = 0; j < nsh; j++)
				found |= strcmp(sh[j], upper) == 0;
			if (!found)
				prob(&pr,
				    "vsampd.conf.5: %s: no section .SH %s",
				    k[i].path, upper);
			continue;
		}
		man_check_key(&pr, &k[i], e, ne);
	}
	/* The other way: what the page documents in the key sections. */
	for (size_t i = 0; i < ne; i++) {
		char path[160];
		size_t j, keysec = 0;

		for (j = 0; e[i].section[j] != '\0' && j + 1 < sizeof(upper);
		     j++)
			upper[j] =
			    (char)tolower((unsigned char)e[i].section[j]);
		upper[j] = '\0';
		for (j = 0; j < nk; j++)
			keysec |=
			    key_is_part(&k[j]) && strcmp(k[j].path, upper) == 0;
		if (!keysec || strcmp(upper, "embeddings") == 0)
			continue;
		snprintf(path, sizeof(path), "%s.%s", upper, e[i].name);
		if (key_find(k, nk, path) == NULL)
			prob(&pr,
			    "vsampd.conf.5:%d: %s: documented, but the code "
			    "knows no such key",
			    e[i].line, path);
	}
	for (size_t i = 0; i < ne; i++)
		free(e[i].head);
	free(e);
	for (size_t i = 0; i < nsh; i++)
		free(sh[i]);
	free(sh);
	free(k);
	free(text);
	probs_done(&pr, "vsampd.conf.5 against conf.c");
}
END_TEST

/* ---- conf/vsampd.conf --------------------------------------------------- */

struct setting {
	char path[160];
	char value[256]; /* as written, up to the ';' */
	int active; /* not commented out */
	int children; /* active settings inside (groups) */
	int line;
};

struct sample {
	struct setting *s;
	size_t n;
};

static struct setting *
sample_find(struct sample *sm, const char *path, int active)
{
	for (size_t i = 0; i < sm->n; i++)
		if (strcmp(sm->s[i].path, path) == 0 &&
		    (active < 0 || sm->s[i].active == active))
			return &sm->s[i];
	return NULL;
}

static struct setting *
sample_add(struct sample *sm, const char *path, const char *value, int active,
    int line)
{
	struct setting *s;

	sm->s = xreallocarray(sm->s, sm->n + 1, sizeof(*sm->s));
	s = &sm->s[sm->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(s->value, sizeof(s->value), "%s", value);
	s->active = active;
	s->line = line;
	return s;
}

/* "name = value" or "name : value": the name and where the value
 * starts, or 0. */
static int
assignment(const char *l, char *name, size_t namelen, const char **value)
{
	size_t n = 0;

	if (!isalpha((unsigned char)*l) && *l != '_')
		return 0;
	while ((isalnum((unsigned char)l[n]) || l[n] == '_' || l[n] == '-') &&
	    n + 1 < namelen) {
		name[n] = l[n];
		n++;
	}
	name[n] = '\0';
	l += n;
	l = skip_blanks(l);
	while (*l == '\t')
		l++;
	if (*l != '=' && *l != ':')
		return 0;
	l++;
	while (*l == ' ' || *l == '\t')
		l++;
	*value = l;
	return 1;
}

/* The line without its comment (a '#' or "//" outside a string). */
static void
strip_comment(char *l)
{
	int q = 0;

	for (char *p = l; *p != '\0'; p++) {
		if (*p == '\\' && q && p[1] != '\0')
			p++;
		else if (*p == '"')
			q = !q;
		else if (!q && (*p == '#' || (*p == '/' && p[1] == '/'))) {
			*p = '\0';
			break;
		}
	}
}

static char *
trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 &&
	    (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
		s[n - 1] == ';' || s[n - 1] == ','))
		s[--n] = '\0';
	return s;
}

#define MAXDEPTH 8

/* Append a and b to path, cutting what does not fit. */
static void
pathcat(char *path, size_t len, const char *a, const char *b)
{
	size_t n = strlen(path);

	for (const char *p = a; *p != '\0' && n + 1 < len; p++)
		path[n++] = *p;
	for (const char *p = b; *p != '\0' && n + 1 < len; p++)
		path[n++] = *p;
	path[n] = '\0';
}

/* Read the sample into settings with their paths; list elements add no
 * component, so a backend's keys are "backends.NAME". */
static void
sample_parse(char *text, struct sample *sm)
{
	char comp[MAXDEPTH][64], path[160], name[64], *save = NULL;
	/* the setting of each open group, by index (sm->s moves) */
	long open[MAXDEPTH];
	int depth = 0, lineno = 0;
	const char *v;

	memset(sm, 0, sizeof(*sm));
	for (char *raw = strtok_r(text, "\n", &save); raw != NULL;
	     raw = strtok_r(NULL, "\n", &save)) {
		char *l, *c;

		lineno++;
		path[0] = '\0';
		for (int i = 0; i < depth; i++)
			if (comp[i][0] != '\0')
				pathcat(path, sizeof(path), comp[i], ".");
		c = raw;
		while (*c == ' ' || *c == '\t')
			c++;
		if (*c == '#') {
			/* A commented-out setting: "# name = value;" */
			while (*c == '#' || *c == ' ' || *c == '\t')
				c++;
			if (assignment(c, name, sizeof(name), &v)) {
				char full[160], val[256];

				snprintf(
				    full, sizeof(full), "%s%s", path, name);
				snprintf(val, sizeof(val), "%s", v);
				strip_comment(val);
				if (sample_find(sm, full, -1) == NULL)
					sample_add(
					    sm, full, trim(val), 0, lineno);
			}
			continue;
		}
		strip_comment(raw);
		l = trim(raw);
		if (*l == '\0')
			continue;
		if (*l == '}' || *l == ')') {
			if (depth > 0)
				depth--;
			continue;
		}
		if (*l == '{') {
			if (depth < MAXDEPTH) {
				comp[depth][0] = '\0';
				open[depth++] = -1;
			}
			continue;
		}
		if (!assignment(l, name, sizeof(name), &v))
			continue;
		{
			char full[160], val[256];
			struct setting *s;

			snprintf(full, sizeof(full), "%s", path);
			pathcat(full, sizeof(full), name, "");
			snprintf(val, sizeof(val), "%s", v);
			s = sample_add(sm, full, trim(val), 1, lineno);
			for (int i = depth - 1; i >= 0; i--)
				if (open[i] >= 0) {
					sm->s[open[i]].children++;
					break;
				}
			/* An inline group: "{ }" or "{ a = 1; }". */
			if (*v == '{' && strchr(v, '}') != NULL) {
				const char *in = skip_blanks(v + 1);

				if (*in != '}')
					s->children++;
			} else if ((*v == '{' || *v == '(') &&
			    depth < MAXDEPTH) {
				snprintf(comp[depth], sizeof(comp[depth]), "%s",
				    name);
				open[depth++] = (long)(sm->n - 1);
			}
		}
	}
}

/* Does the written value have the key's type? */
static int
value_typed(const struct conf_keyinfo *k, const char *v)
{
	char *end;

	if (strcmp(k->type, "integer") == 0) {
		(void)strtoll(v, &end, 0);
		if (*end == 'L')
			end++;
		return end != v && *end == '\0';
	}
	if (strcmp(k->type, "number") == 0) {
		(void)strtod(v, &end);
		return end != v && *end == '\0';
	}
	if (strcmp(k->type, "boolean") == 0)
		return strcmp(v, "true") == 0 || strcmp(v, "false") == 0;
	if (strcmp(k->type, "string") == 0)
		return v[0] == '"' && strlen(v) >= 2 && v[strlen(v) - 1] == '"';
	if (strcmp(k->type, "array") == 0)
		return v[0] == '[';
	if (strcmp(k->type, "list") == 0)
		return v[0] == '(';
	return v[0] == '{'; /* section, profile, group */
}

/* Is the written value the default? */
static int
value_is_default(const struct conf_keyinfo *k, const struct setting *s)
{
	char def[160], a[256], b[160];
	size_t na = 0, nb = 0;

	doc_default(k, def, sizeof(def));
	if (strcmp(k->type, "integer") == 0 || strcmp(k->type, "number") == 0)
		return strtod(s->value, NULL) == strtod(def, NULL);
	/* A group written over several lines: its properties are
	 * reported one by one. */
	if (strcmp(k->type, "group") == 0)
		return s->children == 0 || strcmp(s->value, "{") == 0;
	if (strcmp(k->type, "array") == 0) {
		for (const char *p = s->value; *p != '\0'; p++)
			if (*p != ' ' && *p != '\t')
				a[na++] = *p;
		for (const char *p = def; *p != '\0'; p++)
			if (*p != ' ')
				b[nb++] = *p;
		a[na] = b[nb] = '\0';
		return strcmp(a, b) == 0;
	}
	return strcmp(s->value, def) == 0;
}

/*
 * Is key k shown inside its group's commented-out example, a group not
 * set by default ("# price = { prompt = 2.5; completion = 10.0; };")?
 * Its keys, required inside it, are shown there and nowhere else.
 */
static int
in_optional_group(struct sample *sm, const struct conf_keyinfo *k,
    const struct conf_keyinfo *keys, size_t nk)
{
	const struct conf_keyinfo *pk;
	const struct setting *g;
	char parent[160], want[96], *dot;

	snprintf(parent, sizeof(parent), "%s", k->path);
	if ((dot = strrchr(parent, '.')) == NULL)
		return 0;
	*dot = '\0';
	pk = key_find(keys, nk, parent);
	if (pk == NULL || strcmp(pk->type, "section") != 0 ||
	    pk->how != CONF_KEY_UNSET)
		return 0;
	if ((g = sample_find(sm, parent, 0)) == NULL)
		return 0;
	snprintf(want, sizeof(want), "%s =", dot + 1);
	return has_word(g->value, want);
}

START_TEST(test_sample_config)
{
	struct probs pr = {{NULL, 0, 0}, 0};
	char *text = slurp(SAMPLE);
	struct sample sm;
	size_t nk;
	struct conf_keyinfo *k = all_keys(&nk);

	ck_assert_msg(text != NULL, "cannot read %s", SAMPLE);
	buf_init(&pr.b);
	sample_parse(text, &sm);
	for (size_t i = 0; i < nk; i++) {
		struct setting *on = sample_find(&sm, k[i].path, 1);
		struct setting *off = sample_find(&sm, k[i].path, 0);
		struct setting *s = on != NULL ? on : off;

		if (s == NULL && in_optional_group(&sm, &k[i], k, nk))
			continue;
		if (s == NULL) {
			prob(&pr, "vsampd.conf: %s: not shown", k[i].path);
			continue;
		}
		if (!value_typed(&k[i], s->value))
			prob(&pr,
			    "vsampd.conf:%d: %s = %s: the code's type is %s",
			    s->line, k[i].path, s->value, k[i].type);
		switch (k[i].how) {
		case CONF_KEY_DEFAULT:
			if (on == NULL)
				prob(&pr,
				    "vsampd.conf:%d: %s: commented out, but it "
				    "has a default: show it as %s = %s;",
				    off->line, k[i].path, k[i].path, k[i].def);
			else if (!key_is_part(&k[i]) &&
			    !value_is_default(&k[i], on))
				prob(&pr,
				    "vsampd.conf:%d: %s = %s, but the default "
				    "is %s",
				    on->line, k[i].path, on->value, k[i].def);
			break;
		case CONF_KEY_REQUIRED:
			if (on == NULL)
				prob(&pr,
				    "vsampd.conf:%d: %s: required, but "
				    "commented out",
				    off->line, k[i].path);
			break;
		case CONF_KEY_UNSET:
			if (on != NULL)
				prob(&pr,
				    "vsampd.conf:%d: %s = %s, but it is not "
				    "set "
				    "by default: comment it out as an example",
				    on->line, k[i].path, on->value);
			break;
		case CONF_KEY_DERIVED:
			if (on != NULL)
				prob(&pr,
				    "vsampd.conf:%d: %s = %s, but its default "
				    "is worked out from other keys: comment it "
				    "out as an example",
				    on->line, k[i].path, on->value);
			break;
		}
	}
	/* The other way: everything the sample sets is a key, and the
	 * passthrough groups are empty, as by default. */
	for (size_t i = 0; i < sm.n; i++) {
		char parent[160], *dot;
		const struct conf_keyinfo *pk;

		if (!sm.s[i].active || key_find(k, nk, sm.s[i].path) != NULL)
			continue;
		snprintf(parent, sizeof(parent), "%s", sm.s[i].path);
		if ((dot = strrchr(parent, '.')) != NULL)
			*dot = '\0';
		pk = dot != NULL ? key_find(k, nk, parent) : NULL;
		if (pk != NULL && strcmp(pk->type, "group") == 0)
			prob(&pr,
			    "vsampd.conf:%d: %s: %s is empty by default; "
			    "comment this property out as an example",
			    sm.s[i].line, sm.s[i].path, parent);
		else if (pk == NULL || strcmp(pk->type, "group") != 0)
			prob(&pr,
			    "vsampd.conf:%d: %s: the code knows no such key",
			    sm.s[i].line, sm.s[i].path);
	}
	free(sm.s);
	free(k);
	free(text);
	probs_done(&pr, "conf/vsampd.conf against conf.c");
}
END_TEST

/* ---- what a reload applies ---------------------------------------------- */

/*
 * The text of the paragraph of a man page's section that holds phrase:
 * paragraphs end at .PP, .IP, .TP, .RS and .SH. NULL when none does.
 */
static char *
man_paragraph(const char *page, const char *section, const char *phrase)
{
	char *text = xstrdup(page), *save = NULL, *found = NULL;
	int in = 0;
	struct buf b;

	buf_init(&b);
	for (char *l = strtok_r(text, "\n", &save); l != NULL && found == NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		if (strncmp(l, ".SH ", 4) == 0)
			in = strcmp(l + 4, section) == 0;
		if (strncmp(l, ".PP", 3) == 0 || strncmp(l, ".IP", 3) == 0 ||
		    strncmp(l, ".TP", 3) == 0 || strncmp(l, ".RS", 3) == 0 ||
		    strncmp(l, ".SH", 3) == 0) {
			buf_append(&b, "", 1);
			if (strstr(b.data, phrase) != NULL)
				found = xstrdup(b.data);
			buf_reset(&b);
			continue;
		}
		if (in)
			roff_text(l, &b);
	}
	buf_free(&b);
	free(text);
	return found;
}

/* The comment block of the sample that starts with "# phrase", as text. */
static char *
sample_block(const char *sample, const char *phrase)
{
	const char *p = strstr(sample, phrase);
	struct buf b;

	if (p == NULL)
		return NULL;
	buf_init(&b);
	while (p != NULL && *p != '\0' && *p != '\n') {
		const char *e = strchr(p, '\n');
		size_t len = e != NULL ? (size_t)(e - p) : strlen(p);

		buf_append(&b, " ", 1);
		buf_append(&b, p, len);
		p = e != NULL ? e + 1 : NULL;
		if (p == NULL || *p != '#')
			break;
		p++;
	}
	buf_append(&b, "", 1);
	return buf_release(&b, NULL);
}

/*
 * text lists the keys that need a restart: every key confdiff keeps on a
 * reload is named (the kafka keys by the word "kafka"), and no key a
 * reload applies is.
 */
static void
restart_list(struct probs *pr, const char *where, const char *text,
    const struct conf_keyinfo *k, size_t nk)
{
	if (text == NULL) {
		prob(pr, "%s: no text that lists the keys a reload keeps",
		    where);
		return;
	}
	for (size_t i = 0; i < nk; i++) {
		int named, kafka = strncmp(k[i].path, "kafka.", 6) == 0;

		if (key_is_part(&k[i]))
			continue;
		named = has_word(text, k[i].path) ||
		    (kafka && has_word(text, "kafka"));
		if (confdiff_needs_restart(k[i].path) && !named)
			prob(pr,
			    "%s: %s needs a restart (confdiff.c), but is not "
			    "named among the keys a reload keeps",
			    where, k[i].path);
		else if (!confdiff_needs_restart(k[i].path) &&
		    has_word(text, k[i].path))
			prob(pr,
			    "%s: %s is named among the keys a reload keeps, "
			    "but a reload applies it",
			    where, k[i].path);
	}
}

START_TEST(test_reload_doc)
{
	struct probs pr = {{NULL, 0, 0}, 0};
	char *conf5 = slurp(MAN_PAGE), *man8 = slurp(SRCDIR "/docs/vsampd.8");
	char *sample = slurp(SAMPLE), *t;
	size_t nk;
	struct conf_keyinfo *k = all_keys(&nk);

	ck_assert(conf5 != NULL && man8 != NULL && sample != NULL);
	buf_init(&pr.b);
	t = man_paragraph(conf5, "RELOADING", "needs a restart");
	restart_list(&pr, "vsampd.conf.5 RELOADING", t, k, nk);
	free(t);
	t = man_paragraph(man8, "SIGNALS", "not applied by a reload");
	restart_list(&pr, "vsampd.8 SIGHUP", t, k, nk);
	free(t);
	t = sample_block(sample, "SIGHUP");
	restart_list(&pr, "vsampd.conf header", t, k, nk);
	free(t);
	free(k);
	free(sample);
	free(man8);
	free(conf5);
	probs_done(&pr, "what a reload keeps, against confdiff.c");
}
END_TEST

/* ---- docs/metrics.md ---------------------------------------------------- */

struct family {
	char name[96];
	char type[16];
	char labels[128]; /* label names, sorted, comma separated */
	int has_series;
	int line;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add name to a sorted comma-separated set. */
static void
set_add(char *set, size_t setlen, const char *name)
{
	char copy[128], *names[16], *save = NULL;
	size_t n = 0;

	snprintf(copy, sizeof(copy), "%s", set);
	for (char *t = strtok_r(copy, ",", &save); t != NULL && n < 15;
	     t = strtok_r(NULL, ",", &save))
		if (strcmp(t, name) != 0)
			names[n++] = t;
	names[n++] = (char *)name;
	qsort(names, n, sizeof(*names), cmp_str);
	set[0] = '\0';
	for (size_t i = 0; i < n; i++)
		snprintf(set + strlen(set), setlen - strlen(set), "%s%s",
		    i > 0 ? "," : "", names[i]);
}

/* The families vsampd serves, with the label names of their series. */
static size_t
exported(struct family **fp)
{
	struct stats *st = stats_new("0.0.0");
	struct family *f = NULL;
	size_t n = 0;
	char *text, *save = NULL;
	struct buf b;

	/* Every per-backend and per-topic series, as the daemon makes
	 * them at start. */
	stats_backend(st, "local", 8);
	stats_model(st, "local", "fake");
	stats_cost_backend(st, "local"); /* as for a priced profile */
	stats_delivery_failure_topic(st, "vs.results");
	buf_init(&b);
	stats_render(st, &b);
	buf_append(&b, "", 1);
	text = buf_release(&b, NULL);
	for (char *l = strtok_r(text, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		char name[128], *brace;
		size_t len;

		if (strncmp(l, "# TYPE ", 7) == 0) {
			f = xreallocarray(f, n + 1, sizeof(*f));
			memset(&f[n], 0, sizeof(f[n]));
			sscanf(l + 7, "%95s %15s", f[n].name, f[n].type);
			n++;
			continue;
		}
		if (l[0] == '#' || n == 0)
			continue;
		/* A sample of the last family: name{a="x",b="y"} v */
		snprintf(name, sizeof(name), "%s", l);
		name[strcspn(name, "{ ")] = '\0';
		len = strlen(f[n - 1].name);
		if (strncmp(name, f[n - 1].name, len) != 0)
			continue;
		f[n - 1].has_series = 1;
		if ((brace = strchr(l, '{')) == NULL)
			continue;
		for (char *p = brace + 1; *p != '\0' && *p != '}';) {
			char label[64];
			size_t m = 0;

			while (*p != '=' && *p != '\0' && m + 1 < sizeof(label))
				label[m++] = *p++;
			label[m] = '\0';
			if (strcmp(label, "le") != 0)
				set_add(f[n - 1].labels,
				    sizeof(f[n - 1].labels), label);
			/* skip ="value" */
			if (*p == '=')
				p++;
			if (*p == '"')
				for (p++; *p != '\0' && *p != '"'; p++)
					if (*p == '\\' && p[1] != '\0')
						p++;
			if (*p == '"')
				p++;
			if (*p == ',')
				p++;
		}
	}
	free(text);
	stats_free(st);
	*fp = f;
	return n;
}

/* The table rows of docs/metrics.md: | `name` | type | labels | meaning | */
static size_t
documented(char *text, struct family **fp)
{
	struct family *f = NULL;
	size_t n = 0;
	char *save = NULL;
	int lineno = 0;

	for (char *l = strtok_r(text, "\n", &save); l != NULL;
	     l = strtok_r(NULL, "\n", &save)) {
		char *cell[4], *p;
		int nc = 0, depth = 0;

		lineno++;
		if (strncmp(l, "| `vsampd_", 10) != 0)
			continue;
		/* Cells end at a '|' that is not escaped. */
		for (p = l + 1; *p != '\0' && nc < 4; p++) {
			cell[nc++] = p;
			while (*p != '\0' && !(*p == '|' && p[-1] != '\\'))
				p++;
			if (*p == '\0')
				break;
			*p = '\0';
		}
		if (nc < 3)
			continue;
		f = xreallocarray(f, n + 1, sizeof(*f));
		memset(&f[n], 0, sizeof(f[n]));
		f[n].line = lineno;
		p = strchr(cell[0], '`');
		snprintf(f[n].name, sizeof(f[n].name), "%s", p + 1);
		f[n].name[strcspn(f[n].name, "`")] = '\0';
		snprintf(f[n].type, sizeof(f[n].type), "%s", trim(cell[1]));
		/* Label names: the first `word` of each comma-separated part,
		 * outside parentheses (which hold values). */
		{
			char names[256];
			size_t m = 0;

			for (p = cell[2]; *p != '\0' && m + 1 < sizeof(names);
			     p++) {
				if (*p == '(')
					depth++;
				else if (*p == ')')
					depth--;
				else if (depth == 0)
					names[m++] = *p;
			}
			names[m] = '\0';
			for (char *sv = NULL, *part = strtok_r(names, ",", &sv);
			     part != NULL; part = strtok_r(NULL, ",", &sv)) {
				char *q = strchr(part, '`'), *e;

				if (q == NULL ||
				    (e = strchr(q + 1, '`')) == NULL)
					continue;
				*e = '\0';
				set_add(
				    f[n].labels, sizeof(f[n].labels), q + 1);
			}
		}
		n++;
	}
	*fp = f;
	return n;
}

START_TEST(test_metrics_doc)
{
	struct probs pr = {{NULL, 0, 0}, 0};
	char *text = slurp(METRICS_MD);
	struct family *ex, *doc;
	size_t nex, ndoc;

	ck_assert_msg(text != NULL, "cannot read %s", METRICS_MD);
	buf_init(&pr.b);
	nex = exported(&ex);
	ndoc = documented(text, &doc);
	ck_assert_uint_gt(nex, 20); /* the registry, not an empty render */
	for (size_t i = 0; i < nex; i++) {
		const struct family *d = NULL;

		for (size_t j = 0; j < ndoc && d == NULL; j++)
			if (strcmp(doc[j].name, ex[i].name) == 0)
				d = &doc[j];
		if (d == NULL) {
			prob(&pr,
			    "metrics.md: %s: exported (%s), not "
			    "documented",
			    ex[i].name, ex[i].type);
			continue;
		}
		if (strcmp(d->type, ex[i].type) != 0)
			prob(&pr,
			    "metrics.md:%d: %s: documented as %s, exported as "
			    "%s",
			    d->line, ex[i].name, d->type, ex[i].type);
		if (ex[i].has_series && strcmp(d->labels, ex[i].labels) != 0)
			prob(&pr,
			    "metrics.md:%d: %s: documented labels {%s}, "
			    "exported labels {%s}",
			    d->line, ex[i].name, d->labels, ex[i].labels);
	}
	for (size_t j = 0; j < ndoc; j++) {
		int found = 0;

		for (size_t i = 0; i < nex; i++)
			found |= strcmp(doc[j].name, ex[i].name) == 0;
		if (!found)
			prob(&pr,
			    "metrics.md:%d: %s: documented, but vsampd does "
			    "not export it",
			    doc[j].line, doc[j].name);
	}
	free(ex);
	free(doc);
	free(text);
	probs_done(&pr, "docs/metrics.md against /metrics");
}
END_TEST

/* ---- the dashboard, the alerting rules and the queries of metrics.md --- */

/*
 * Every query the repository ships (docs/grafana-dashboard.json's panels
 * and variables, docs/vsampd-alerts.yml's rules, metrics.md's promql
 * blocks) names only metrics vsampd exports, selects on their labels
 * only, and groups by labels those metrics have; so that a rename in
 * stats.c cannot leave a panel or an alert looking at nothing. The
 * labels Prometheus adds to a target (instance, job) are allowed
 * everywhere, le on a histogram's _bucket.
 */

#define DASHBOARD SRCDIR "/docs/grafana-dashboard.json"
#define ALERTS SRCDIR "/docs/vsampd-alerts.yml"

static int
ident_char(int c)
{
	return isalnum(c) || c == '_' || c == ':';
}

/* Whether name is in a sorted comma-separated set. */
static int
set_has(const char *set, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = set; *p != '\0';) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);

		if (n == len && strncmp(p, name, len) == 0)
			return 1;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return 0;
}

/* The family a series name belongs to (a histogram's _bucket, _sum and
 * _count too); *bucket set for a _bucket. NULL when vsampd has none. */
static const struct family *
family_of(const struct family *ex, size_t nex, const char *name, int *bucket)
{
	static const char *const suffix[] = {"_bucket", "_sum", "_count"};

	*bucket = 0;
	for (size_t i = 0; i < nex; i++) {
		size_t len = strlen(ex[i].name);

		if (strcmp(ex[i].name, name) == 0 &&
		    strcmp(ex[i].type, "histogram") != 0)
			return &ex[i];
		if (strcmp(ex[i].type, "histogram") != 0 ||
		    strncmp(ex[i].name, name, len) != 0)
			continue;
		for (size_t s = 0; s < 3; s++)
			if (strcmp(name + len, suffix[s]) == 0) {
				*bucket = s == 0;
				return &ex[i];
			}
	}
	return NULL;
}

/* Past a quoted string starting at p (its quote); at its end or NUL. */
static const char *
skip_string(const char *p)
{
	char q = *p++;

	while (*p != '\0' && *p != q) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		p++;
	}
	return *p == q ? p + 1 : p;
}

/* Read an identifier at p into out; returns past it. */
static const char *
read_ident(const char *p, char *out, size_t len)
{
	size_t n = 0;

	while (ident_char((unsigned char)*p)) {
		if (n + 1 < len)
			out[n++] = *p;
		p++;
	}
	out[n] = '\0';
	return p;
}

/* Add the names of the comma-separated list to the set (unsorted). */
static void
list_add(char *set, size_t setlen, const char *list)
{
	for (const char *l = list; *l != '\0';) {
		char one[64];
		size_t n = strcspn(l, ",");

		snprintf(one, sizeof(one), "%.*s", (int)n, l);
		if (!set_has(set, one))
			snprintf(set + strlen(set), setlen - strlen(set),
			    "%s%s", set[0] != '\0' ? "," : "", one);
		l += n + (l[n] == ',');
	}
}

/* The next identifier of query q at or after p, outside strings, into
 * tok; returns past it, or NULL at the end of q. */
static const char *
next_ident(const char *q, const char *p, char *tok, size_t len)
{
	while (*p != '\0') {
		if (*p == '"' || *p == '\'' || *p == '`')
			p = skip_string(p);
		else if (ident_char((unsigned char)*p) &&
		    (p == q || !ident_char((unsigned char)p[-1])))
			return read_ident(p, tok, len);
		else
			p++;
	}
	return NULL;
}

/* The next label name of a {...} or (...) list, p inside it, into
 * label; returns past it, or NULL at close (or the end). */
static const char *
next_label(const char *p, int close, char *label, size_t len)
{
	while (*p != '\0' && *p != close) {
		if (*p == '"')
			p = skip_string(p);
		else if (ident_char((unsigned char)*p))
			return read_ident(p, label, len);
		else
			p++;
	}
	return NULL;
}

/* A problem for each name of the set a that the set b lacks. */
static void
set_missing(struct probs *pr, const char *a, const char *b, const char *what)
{
	for (const char *p = a; *p != '\0';) {
		char one[96];
		size_t n = strcspn(p, ",");

		snprintf(one, sizeof(one), "%.*s", (int)n, p);
		if (!set_has(b, one))
			prob(pr, "%s: %s", what, one);
		p += n + (p[n] == ',');
	}
}

static int
target_label(const char *l)
{
	return strcmp(l, "instance") == 0 || strcmp(l, "job") == 0;
}

/*
 * Check one query (where names it in the problems). Returns the number
 * of vsampd metrics it names, so that a caller can tell an extraction
 * that found nothing.
 */
static int
check_query(struct probs *pr, const char *where, const char *q,
    const struct family *ex, size_t nex)
{
	static const char *const grouping[] = {
	    "by", "without", "on", "ignoring", "group_left", "group_right"};
	const size_t ngrouping = sizeof(grouping) / sizeof(grouping[0]);
	char used[512] = "", tok[128], label[64];
	int nmetrics = 0;

	/* First pass: the metrics, and the labels of their selectors. */
	for (const char *p = q; (p = next_ident(q, p, tok, sizeof(tok)));) {
		const struct family *f;
		int bucket;

		if (strncmp(tok, "vsampd_", 7) != 0)
			continue;
		nmetrics++;
		if ((f = family_of(ex, nex, tok, &bucket)) == NULL) {
			prob(pr, "%s: %s: not a metric vsampd exports", where,
			    tok);
			continue;
		}
		list_add(used, sizeof(used), f->labels);
		if (*p != '{')
			continue;
		for (const char *l = p + 1;
		     (l = next_label(l, '}', label, sizeof(label)));)
			if (!set_has(f->labels, label) &&
			    !target_label(label) &&
			    !(bucket && strcmp(label, "le") == 0))
				prob(pr, "%s: %s has no label %s", where,
				    f->name, label);
	}
	/* Second pass: the labels of by, without, on and ignoring. */
	for (const char *p = q; (p = next_ident(q, p, tok, sizeof(tok)));) {
		const char *l = p + strspn(p, " \t\n");
		size_t g = 0;

		while (g < ngrouping && strcmp(tok, grouping[g]) != 0)
			g++;
		if (g == ngrouping || *l != '(')
			continue;
		for (l++; (l = next_label(l, ')', label, sizeof(label)));)
			if (!set_has(used, label) && !target_label(label) &&
			    strcmp(label, "le") != 0)
				prob(pr,
				    "%s: groups by %s, a label none of its "
				    "metrics has",
				    where, label);
	}
	return nmetrics;
}

/* What the walk of the dashboard checks against, and counts. */
struct walk {
	struct probs *pr;
	const struct family *ex;
	size_t nex;
	int nqueries; /* strings checked */
	int nmetrics; /* vsampd metrics named in them */
};

/* Every expr, query and definition string of the dashboard's JSON; ctx
 * is the title (or name) of the panel or variable around v. */
static void
dashboard_walk(struct walk *w, json_t *v, const char *ctx)
{
	const char *key;
	json_t *item, *title;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, item) dashboard_walk(w, item, ctx);
		return;
	}
	if (!json_is_object(v))
		return;
	if (json_is_string(title = json_object_get(v, "title")) ||
	    json_is_string(title = json_object_get(v, "name")))
		ctx = json_string_value(title);
	json_object_foreach(v, key, item)
	{
		char where[160];

		if (!json_is_string(item) ||
		    (strcmp(key, "expr") != 0 && strcmp(key, "query") != 0 &&
			strcmp(key, "definition") != 0)) {
			dashboard_walk(w, item, ctx);
			continue;
		}
		snprintf(where, sizeof(where),
		    "grafana-dashboard.json: panel or variable \"%s\"", ctx);
		w->nmetrics += check_query(
		    w->pr, where, json_string_value(item), w->ex, w->nex);
		w->nqueries++;
	}
}

/*
 * The alerting rules, a YAML file of our own: each "- alert:" up to the
 * next rule. Its expr (on the line, or a block scalar below it) is
 * checked as a query; it must have a severity of critical or warning,
 * a summary and a description. Alert names are added to names. text is
 * cut into lines in place.
 */
static void
alerts_check(struct probs *pr, char *text, const struct family *ex, size_t nex,
    char *names, size_t nameslen, int *nalerts)
{
	char alert[96] = "", *next = text;
	int severity = 0, summary = 0, description = 0, lineno = 0, at = 0;
	struct buf expr;
	int in_expr = 0;
	size_t expr_indent = 0;

	buf_init(&expr);
	/* Line by line, blank ones too (NULL after the last). */
	for (char *l = next;; l = next) {
		size_t indent;
		char *t;
		int end;

		if (l != NULL && (next = strchr(l, '\n')) != NULL)
			*next++ = '\0';
		indent = l ? strspn(l, " ") : 0;
		t = l ? l + indent : NULL;
		end = l == NULL || strncmp(t, "- alert:", 8) == 0 ||
		    strncmp(t, "- record:", 9) == 0;
		lineno++;
		if (in_expr && l != NULL &&
		    (indent > expr_indent || *t == '\0')) {
			buf_printf(&expr, "%s\n", t);
			continue;
		}
		in_expr = 0;
		if (end && alert[0] != '\0') {
			char where[160];

			snprintf(where, sizeof(where),
			    "vsampd-alerts.yml:%d: %s", at, alert);
			buf_append(&expr, "", 1);
			if (check_query(pr, where, expr.data, ex, nex) == 0 &&
			    strstr(expr.data, "up{") == NULL)
				prob(pr, "%s: its expr names no metric", where);
			if (!severity)
				prob(pr,
				    "%s: no severity label of critical or "
				    "warning",
				    where);
			if (!summary || !description)
				prob(pr,
				    "%s: no summary or no description "
				    "annotation",
				    where);
			list_add(names, nameslen, alert);
			(*nalerts)++;
			alert[0] = '\0';
		}
		if (l == NULL)
			break;
		if (end) {
			snprintf(alert, sizeof(alert), "%s",
			    trim(strchr(t, ':') + 1));
			severity = summary = description = 0;
			at = lineno;
			buf_free(&expr);
			buf_init(&expr);
			if (strncmp(t, "- record:", 9) == 0)
				alert[0] = '\0';
			continue;
		}
		if (strncmp(t, "expr:", 5) == 0) {
			char *v = trim(t + 5);
			size_t n = strlen(v);

			if (v[0] == '|' || v[0] == '>') { /* a block scalar */
				in_expr = 1;
				expr_indent = indent;
				continue;
			}
			if (n >= 2 && (v[0] == '"' || v[0] == '\'') &&
			    v[n - 1] == v[0]) {
				v[n - 1] = '\0';
				v++;
			}
			buf_printf(&expr, "%s\n", v);
		} else if (strcmp(t, "severity: critical") == 0 ||
		    strcmp(t, "severity: warning") == 0)
			severity = 1;
		else if (strncmp(t, "summary:", 8) == 0)
			summary = 1;
		else if (strncmp(t, "description:", 12) == 0)
			description = 1;
	}
	buf_free(&expr);
}

/* The ```promql blocks of metrics.md, each one query. */
static int
metrics_md_queries(
    struct probs *pr, const char *text, const struct family *ex, size_t nex)
{
	int n = 0;

	for (const char *p = strstr(text, "```promql\n"); p != NULL;
	     p = strstr(p, "```promql\n")) {
		const char *end;
		char *q;

		p += 10;
		if ((end = strstr(p, "```")) == NULL)
			break;
		q = xstrndup(p, (size_t)(end - p));
		check_query(pr, "metrics.md: a promql block", q, ex, nex);
		free(q);
		n++;
		p = end + 3;
	}
	return n;
}

START_TEST(test_queries)
{
	struct probs pr = {{NULL, 0, 0}, 0};
	char *alerts = slurp(ALERTS), *md = slurp(METRICS_MD), *copy;
	char names[2048] = "", listed[2048] = "";
	struct family *ex;
	size_t nex;
	json_error_t jerr;
	json_t *dash = json_load_file(DASHBOARD, 0, &jerr);
	struct walk w = {&pr, NULL, 0, 0, 0};
	int nalerts = 0;

	ck_assert_msg(
	    dash != NULL, "%s:%d: %s", DASHBOARD, jerr.line, jerr.text);
	ck_assert_msg(alerts != NULL, "cannot read %s", ALERTS);
	ck_assert_msg(md != NULL, "cannot read %s", METRICS_MD);
	buf_init(&pr.b);
	nex = exported(&ex);
	w.ex = ex;
	w.nex = nex;
	dashboard_walk(&w, dash, "(top)");
	/* The panels, not an empty walk. */
	ck_assert_int_gt(w.nqueries, 30);
	ck_assert_int_gt(w.nmetrics, 30);
	copy = xstrdup(alerts); /* alerts_check() cuts it into lines */
	alerts_check(&pr, copy, ex, nex, names, sizeof(names), &nalerts);
	free(copy);
	ck_assert_int_gt(nalerts, 10);
	ck_assert_int_ge(metrics_md_queries(&pr, md, ex, nex), 8);
	/* metrics.md lists every alert of the file, and no other. */
	for (const char *p = strstr(md, "\n| `Vsampd"); p != NULL;
	     p = strstr(p + 1, "\n| `Vsampd")) {
		char a[96];

		snprintf(a, sizeof(a), "%.*s", (int)strcspn(p + 4, "`"), p + 4);
		list_add(listed, sizeof(listed), a);
	}
	set_missing(&pr, names, listed,
	    "metrics.md does not list the alert of vsampd-alerts.yml");
	set_missing(&pr, listed, names,
	    "metrics.md lists an alert vsampd-alerts.yml does not have");
	json_decref(dash);
	free(ex);
	free(alerts);
	free(md);
	probs_done(&pr, "the dashboard and the alerts against /metrics");
}
END_TEST

static Suite *
docs_suite(void)
{
	Suite *s = suite_create("docs");
	TCase *tc = tcase_create("docs");

	tcase_add_test(tc, test_man_page);
	tcase_add_test(tc, test_sample_config);
	tcase_add_test(tc, test_reload_doc);
	tcase_add_test(tc, test_metrics_doc);
	tcase_add_test(tc, test_queries);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(docs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
