/*
 * metrics: a registry of Prometheus metric families (counters, gauges,
 * histograms) with labels, rendered in the text exposition format 0.0.4.
 * Families are declared once, at start; series are created on first use
 * (or up front, so that every counter is exported from start at 0) and
 * handed out as stable pointers, so the hot path is an add to a double.
 * Leaf module: no I/O, no globals, single-threaded.
 */
#ifndef VSAMPD_METRICS_H
#define VSAMPD_METRICS_H

#include <stddef.h>

#include "xmalloc.h"

#define METRICS_MAX_LABELS 4

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE, METRICS_HISTOGRAM };

struct metrics;
struct metrics_family;
struct metrics_series;

struct metrics *metrics_new(void);
/* Free the registry, its families and series (NULL is fine). */
void metrics_free(struct metrics *m);

/*
 * Declare a family. name and help are copied; labels names the label
 * keys (nlabels at most METRICS_MAX_LABELS). bounds (histograms only) are
 * the upper bounds of the buckets, ascending, without +Inf; copied.
 * Families render in declaration order. A broken declaration (bad name,
 * too many labels, unsorted bounds, a name declared twice) is a broken
 * invariant of the caller and fatal.
 */
struct metrics_family *metrics_family(struct metrics *m, enum metrics_type type,
    const char *name, const char *help, size_t nlabels,
    const char *const *labels, const double *bounds, size_t nbounds);

/*
 * The series of f with these label values (nlabels of them, copied),
 * made on first use. The pointer stays valid until metrics_free().
 */
struct metrics_series *metrics_series(
    struct metrics_family *f, const char *const *values);
/* metrics_series() for families of 0, 1 and 2 labels. */
struct metrics_series *metrics_get(struct metrics_family *f);
struct metrics_series *metrics_get1(struct metrics_family *f, const char *v);
struct metrics_series *metrics_get2(
    struct metrics_family *f, const char *v1, const char *v2);

/* Counters and gauges: add v (a counter ignores v < 0 and NaN). */
void metrics_add(struct metrics_series *s, double v);
/* Gauges: set the value. */
void metrics_set(struct metrics_series *s, double v);
/* Histograms: count one observation of v (NaN is ignored). */
void metrics_observe(struct metrics_series *s, double v);
/* The value of a counter or gauge; the count of a histogram. */
double metrics_value(const struct metrics_series *s);

/* Append the text exposition of every family to out. */
void metrics_render(const struct metrics *m, struct buf *out);

#endif
