/*
 * metrics: Prometheus families and series, and their text exposition
 * (format 0.0.4). Series are found by a linear scan over their family:
 * a family has a handful of series (a label per backend, per status
 * code), or a few dozen when it is by method and model (7 per configured
 * model); a scan of those per finished job is nothing beside the job.
 *
 * A leaf module: it renders into a buffer; the endpoint serves it.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "xmalloc.h"

struct metrics_series {
	const struct metrics_family *fam;
	char *values[METRICS_MAX_LABELS];
	double value; /* counter, gauge; histogram sum */
	double count; /* histogram observations */
	double *buckets; /* histogram: per bucket, not cumulative */
};

struct metrics_family {
	enum metrics_type type;
	char *name;
	char *help;
	size_t nlabels;
	char *labels[METRICS_MAX_LABELS];
	double *bounds;
	size_t nbounds;
	struct metrics_series **series;
	size_t nseries;
	size_t capseries;
};

struct metrics {
	struct metrics_family **fam;
	size_t nfam;
	size_t capfam;
};

struct metrics *
metrics_new(void)
{
	return xcalloc(1, sizeof(struct metrics));
}

static void
series_free(struct metrics_series *s, size_t nlabels)
{
	for (size_t i = 0; i < nlabels; i++)
		free(s->values[i]);
	free(s->buckets);
	free(s);
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nfam; i++) {
		struct metrics_family *f = m->fam[i];

		for (size_t j = 0; j < f->nseries; j++)
			series_free(f->series[j], f->nlabels);
		for (size_t j = 0; j < f->nlabels; j++)
			free(f->labels[j]);
		free(f->series);
		free(f->bounds);
		free(f->name);
		free(f->help);
		free(f);
	}
	free(m->fam);
	free(m);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]*, and no colon for label names. */
static int
valid_name(const char *s, int label)
{
	if (s == NULL || *s == '\0' || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s != '\0'; s++) {
		int c = (unsigned char)*s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '_' ||
			(c == ':' && !label)))
			return 0;
	}
	return 1;
}

/* Declare a family (see metrics.h). */
struct metrics_family *
metrics_family(struct metrics *m, enum metrics_type type, const char *name,
    const char *help, size_t nlabels, const char *const *labels,
    const double *bounds, size_t nbounds)
{
	struct metrics_family *f;

	if (!valid_name(name, 0) || nlabels > METRICS_MAX_LABELS)
		fatalx("metrics: bad family %s", name ? name : "(null)");
	for (size_t i = 0; i < m->nfam; i++)
		if (strcmp(m->fam[i]->name, name) == 0)
			fatalx("metrics: family %s declared twice", name);
	for (size_t i = 0; i < nlabels; i++)
		if (!valid_name(labels[i], 1) || strcmp(labels[i], "le") == 0)
			fatalx("metrics: bad label of %s", name);
	for (size_t i = 1; i < nbounds; i++)
		if (!(bounds[i - 1] < bounds[i]))
			fatalx("metrics: unsorted buckets of %s", name);
	f = xcalloc(1, sizeof(*f));
	f->type = type;
	f->name = xstrdup(name);
	f->help = xstrdup(help);
	f->nlabels = nlabels;
	for (size_t i = 0; i < nlabels; i++)
		f->labels[i] = xstrdup(labels[i]);
	if (type == METRICS_HISTOGRAM && nbounds > 0) {
		f->bounds = xreallocarray(NULL, nbounds, sizeof(*f->bounds));
		memcpy(f->bounds, bounds, nbounds * sizeof(*f->bounds));
		f->nbounds = nbounds;
	}
	if (m->nfam == m->capfam) {
		m->capfam = m->capfam ? m->capfam * 2 : 32;
		m->fam = xreallocarray(m->fam, m->capfam, sizeof(*m->fam));
	}
	m->fam[m->nfam++] = f;
	return f;
}

/* The series of f for values, made on first use. */
struct metrics_series *
metrics_series(struct metrics_family *f, const char *const *values)
{
	struct metrics_series *s;
	size_t i, j;

	for (i = 0; i < f->nseries; i++) {
		s = f->series[i];
		for (j = 0; j < f->nlabels; j++)
			if (strcmp(s->values[j], values[j] ? values[j] : "") !=
			    0)
				break;
		if (j == f->nlabels)
			return s;
	}
	s = xcalloc(1, sizeof(*s));
	s->fam = f;
	for (j = 0; j < f->nlabels; j++)
		s->values[j] = xstrdup(values[j] ? values[j] : "");
	if (f->type == METRICS_HISTOGRAM)
		s->buckets = xcalloc(f->nbounds + 1, sizeof(*s->buckets));
	if (f->nseries == f->capseries) {
		f->capseries = f->capseries ? f->capseries * 2 : 4;
		f->series =
		    xreallocarray(f->series, f->capseries, sizeof(*f->series));
	}
	f->series[f->nseries++] = s;
	return s;
}

struct metrics_series *
metrics_get(struct metrics_family *f)
{
	return metrics_series(f, NULL);
}

struct metrics_series *
metrics_get1(struct metrics_family *f, const char *v)
{
	const char *vals[1] = {v};

	return metrics_series(f, vals);
}

struct metrics_series *
metrics_get2(struct metrics_family *f, const char *v1, const char *v2)
{
	const char *vals[2] = {v1, v2};

	return metrics_series(f, vals);
}

void
metrics_add(struct metrics_series *s, double v)
{
	if (s == NULL || isnan(v) || s->fam->type == METRICS_HISTOGRAM)
		return;
	if (s->fam->type == METRICS_COUNTER && v < 0.0)
		return; /* counters only go up */
	s->value += v;
}

void
metrics_set(struct metrics_series *s, double v)
{
	if (s != NULL)
		s->value = v;
}

void
metrics_observe(struct metrics_series *s, double v)
{
	const struct metrics_family *f;
	size_t lo, hi;

	if (s == NULL || s->buckets == NULL || isnan(v))
		return;
	f = s->fam;
	/* The first bucket whose bound is >= v (le is inclusive); the
	 * last, +Inf, when none is. */
	lo = 0;
	hi = f->nbounds;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->bounds[mid] >= v)
			hi = mid;
		else
			lo = mid + 1;
	}
	s->buckets[lo] += 1.0;
	s->value += v;
	s->count += 1.0;
}

double
metrics_value(const struct metrics_series *s)
{
	return s->buckets != NULL ? s->count : s->value;
}

/* ---- exposition ---- */

/* The shortest of %.15g, %.16g and %.17g that reads back as v, so that
 * 0.1 is "0.1" and every value round-trips. */
static void
fmt_double(char *dst, size_t len, double v)
{
	if (isnan(v)) {
		snprintf(dst, len, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(dst, len, "%s", v > 0 ? "+Inf" : "-Inf");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(dst, len, "%.*g", prec, v);
		if (strtod(dst, NULL) == v)
			return;
	}
}

static void
put_value(struct buf *out, double v)
{
	char tmp[64];

	fmt_double(tmp, sizeof(tmp), v);
	buf_puts(out, tmp);
}

/* HELP text escapes backslash and newline; label values also '"'. */
static void
put_escaped(struct buf *out, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_puts(out, "\\\\");
		else if (*s == '\n')
			buf_puts(out, "\\n");
		else if (*s == '"' && quote)
			buf_puts(out, "\\\"");
		else
			buf_append(out, s, 1);
	}
}

/* name{labels[,le="bound"]} value */
static void
put_sample(struct buf *out, const struct metrics_family *f,
    const struct metrics_series *s, const char *suffix, const char *le,
    double v)
{
	size_t n = 0;

	buf_puts(out, f->name);
	buf_puts(out, suffix);
	if (f->nlabels > 0 || le != NULL) {
		buf_puts(out, "{");
		for (size_t i = 0; i < f->nlabels; i++, n++) {
			buf_printf(out, "%s%s=\"", n ? "," : "", f->labels[i]);
			put_escaped(out, s->values[i], 1);
			buf_puts(out, "\"");
		}
		if (le != NULL)
			buf_printf(out, "%sle=\"%s\"", n ? "," : "", le);
		buf_puts(out, "}");
	}
	buf_puts(out, " ");
	put_value(out, v);
	buf_puts(out, "\n");
}

static const char *
type_name(enum metrics_type t)
{
	switch (t) {
	case METRICS_COUNTER:
		return "counter";
	case METRICS_GAUGE:
		return "gauge";
	case METRICS_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/* Append every family (see metrics.h). */
void
metrics_render(const struct metrics *m, struct buf *out)
{
	char le[64];

	for (size_t i = 0; i < m->nfam; i++) {
		const struct metrics_family *f = m->fam[i];

		buf_printf(out, "# HELP %s ", f->name);
		put_escaped(out, f->help, 0);
		buf_printf(
		    out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
		for (size_t j = 0; j < f->nseries; j++) {
			const struct metrics_series *s = f->series[j];
			double cum = 0.0;

			if (f->type != METRICS_HISTOGRAM) {
				put_sample(out, f, s, "", NULL, s->value);
				continue;
			}
			for (size_t b = 0; b < f->nbounds; b++) {
				cum += s->buckets[b];
				fmt_double(le, sizeof(le), f->bounds[b]);
				put_sample(out, f, s, "_bucket", le, cum);
			}
			put_sample(out, f, s, "_bucket", "+Inf", s->count);
			put_sample(out, f, s, "_sum", NULL, s->value);
			put_sample(out, f, s, "_count", NULL, s->count);
		}
	}
}
