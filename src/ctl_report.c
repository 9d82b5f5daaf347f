/*
 * ctl_report: `vsampctl report`, the diversity of a set of results,
 * per method (or any grouping), as a table and an SVG bar chart.
 *
 * Input: JSON lines as `vsampctl run` and `vsampctl tail` print them
 * (a result object per line, or tail's {"partition", "offset",
 * "result"} wrapper), from files or standard input, or the results
 * topic itself (-T), read with the typed decoder (result_decode) and
 * counted from the JSON that tail would print for it. Each figure is the mean
 * over the ok results where it is defined (semantic is absent without
 * embeddings; rouge_l with fewer than 2 candidates), as docs/diversity.md
 * defines them. Costs (usage.cost, docs/schema.md) are totals over the
 * results that have one, ok or not, since an error result's replies were
 * paid for too; the JSON adds the mean over the ok ones.
 *
 * The shared flags, config and line reader are ctl.c's; this file never
 * reaches back into vsampctl.c.
 */
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "conf.h"
#include "ctl.h"
#include "ctl_topic.h"
#include "result.h"
#include "xmalloc.h"

#define NMEAS 5
#define MAX_GROUPS 256
#define MAX_BY 4
#define MAX_MODELS 8

static const char *const meas_name[NMEAS] = {
    "semantic", "rouge_l", "distinct_1", "distinct_2", "distinct_3"};
static const char *const meas_color[NMEAS] = {
    "#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3"};

struct group {
	char *label;
	size_t jobs, ok;
	double cands;
	double sum[NMEAS];
	double min[NMEAS], max[NMEAS]; /* over the n[] results */
	size_t n[NMEAS];
	double dup_job, dup_scope; /* totals, not means */
	double cost; /* usage.cost over the cost_n results that have one */
	size_t cost_n;
	double cost_ok; /* the same over the ok ones */
	size_t cost_ok_n;
};

struct report {
	const char *by[MAX_BY];
	size_t nby;
	struct group g[MAX_GROUPS];
	size_t ng;
	size_t lines, bad;
	size_t priced; /* results with a usage.cost */
	char *models[MAX_MODELS]; /* the models of the ok results */
	size_t nmodels, more_models;
};

/* What to print: the table as text or JSON, and the chart. */
struct report_opts {
	const char *svg; /* -o; NULL: no chart */
	const char *title;
	const char *caption; /* --caption: a line under the chart */
	int as_json;
	int from_topic;
};

/* Note the model of an ok result, for the chart's footer. */
static void
report_model(struct report *rp, const char *model)
{
	if (model == NULL)
		return;
	for (size_t i = 0; i < rp->nmodels; i++)
		if (strcmp(rp->models[i], model) == 0)
			return;
	if (rp->nmodels == MAX_MODELS) {
		rp->more_models++;
		return;
	}
	rp->models[rp->nmodels++] = xstrdup(model);
}

static struct group *
group_get(struct report *rp, json_t *res)
{
	char label[512];
	size_t n = 0;

	label[0] = '\0';
	for (size_t i = 0; i < rp->nby; i++) {
		json_t *v = ctl_json_get(res, rp->by[i]);
		char *s = NULL;

		if (json_is_string(v))
			s = xstrdup(json_string_value(v));
		else if (v != NULL && !json_is_null(v))
			s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		n += (size_t)snprintf(label + n,
		    n < sizeof(label) ? sizeof(label) - n : 0, "%s%s",
		    i ? " / " : "", s ? s : "-");
		free(s);
	}
	for (size_t i = 0; i < rp->ng; i++)
		if (strcmp(rp->g[i].label, label) == 0)
			return &rp->g[i];
	if (rp->ng == MAX_GROUPS)
		return NULL;
	memset(&rp->g[rp->ng], 0, sizeof(rp->g[0]));
	rp->g[rp->ng].label = xstrdup(label);
	return &rp->g[rp->ng++];
}

/* The result's usage.cost, or NAN when it has none (nil, or a result of
 * an older vsampd). */
static double
result_cost(json_t *res)
{
	json_t *v = json_object_get(json_object_get(res, "usage"), "cost");

	if (!json_is_number(v) || !isfinite(json_number_value(v)))
		return NAN;
	return json_number_value(v);
}

/* Count one result object. */
static void
report_add(struct report *rp, json_t *res)
{
	struct group *g;
	json_t *div, *dd, *c;
	double cost;

	if (json_is_object(json_object_get(res, "result")))
		res = json_object_get(res, "result");
	if (!json_is_object(res) || json_object_get(res, "status") == NULL) {
		rp->bad++;
		return;
	}
	if ((g = group_get(rp, res)) == NULL) {
		rp->bad++;
		return;
	}
	g->jobs++;
	if (!isnan(cost = result_cost(res))) {
		g->cost += cost;
		g->cost_n++;
		rp->priced++;
	}
	if (strcmp(json_string_value(json_object_get(res, "status"))
		    ? json_string_value(json_object_get(res, "status"))
		    : "",
		"ok") != 0)
		return;
	g->ok++;
	if (!isnan(cost)) {
		g->cost_ok += cost;
		g->cost_ok_n++;
	}
	c = json_object_get(res, "candidates");
	g->cands += (double)json_array_size(c);
	div = json_object_get(res, "diversity");
	for (int i = 0; i < NMEAS; i++) {
		json_t *v = json_object_get(div, meas_name[i]);

		if (json_is_number(v) && isfinite(json_number_value(v))) {
			double x = json_number_value(v);

			if (g->n[i] == 0 || x < g->min[i])
				g->min[i] = x;
			if (g->n[i] == 0 || x > g->max[i])
				g->max[i] = x;
			g->sum[i] += x;
			g->n[i]++;
		}
	}
	report_model(rp, json_string_value(json_object_get(res, "model")));
	dd = json_object_get(res, "dedup");
	g->dup_job += json_number_value(json_object_get(dd, "in_job"));
	g->dup_scope += json_number_value(json_object_get(dd, "in_scope"));
}

static void
report_line(struct report *rp, const char *line, size_t len)
{
	json_t *v;

	rp->lines++;
	v = json_loadb(line, len, 0, NULL);
	if (v == NULL) {
		rp->bad++;
		return;
	}
	report_add(rp, v);
	json_decref(v);
}

static int
report_msg(void *arg, const rd_kafka_message_t *m)
{
	struct report *rp = arg;
	struct result *r;
	char err[128], *json;

	if ((r = result_decode(m->payload, m->len, err, sizeof(err))) == NULL) {
		rp->lines++;
		rp->bad++;
		return 0;
	}
	json = result_to_json(r);
	result_free(r);
	report_line(rp, json, strlen(json));
	free(json);
	return 0;
}

/* Groups in label order, so that "poem / direct" and "poem /
 * vs_standard" stand together. */
static int
group_cmp(const void *a, const void *b)
{
	return strcmp(
	    ((const struct group *)a)->label, ((const struct group *)b)->label);
}

static double
mean(const struct group *g, int i)
{
	return g->n[i] ? g->sum[i] / (double)g->n[i] : NAN;
}

static void
print_table(const struct report *rp, FILE *fp)
{
	size_t w = 5;

	for (size_t i = 0; i < rp->ng; i++)
		if (strlen(rp->g[i].label) > w)
			w = strlen(rp->g[i].label);
	fprintf(fp, "%-*s %6s %6s %6s", (int)w, "group", "jobs", "ok", "cands");
	for (int m = 0; m < NMEAS; m++)
		fprintf(fp, " %10s", meas_name[m]);
	fprintf(fp, " %8s %8s", "dup_job", "dup_scope");
	if (rp->priced > 0)
		fprintf(fp, " %12s", "cost");
	fputc('\n', fp);
	for (size_t i = 0; i < rp->ng; i++) {
		const struct group *g = &rp->g[i];

		fprintf(fp, "%-*s %6zu %6zu %6.2f", (int)w, g->label, g->jobs,
		    g->ok, g->ok ? g->cands / (double)g->ok : 0.0);
		for (int m = 0; m < NMEAS; m++) {
			double v = mean(g, m);

			if (isnan(v))
				fprintf(fp, " %10s", "-");
			else
				fprintf(fp, " %10.4f", v);
		}
		fprintf(fp, " %8.0f %8.0f", g->dup_job, g->dup_scope);
		if (rp->priced > 0 && g->cost_n > 0)
			fprintf(fp, " %12.6f", g->cost);
		else if (rp->priced > 0)
			fprintf(fp, " %12s", "-");
		fputc('\n', fp);
	}
	fprintf(fp,
	    "\nsemantic to distinct_3: means over each group's ok results "
	    "that have the figure\n(vsampctl report -j gives their n, min "
	    "and max); cands: candidates per ok result;\ndup_job, dup_scope: "
	    "totals, the candidates dropped as duplicates.\n");
	if (rp->priced > 0)
		fprintf(fp,
		    "cost: the total usage.cost of the group's results that "
		    "have one, ok or not\n(-: none has; -j gives their n and "
		    "the mean per ok result).\n");
}

static void
print_json(const struct report *rp, FILE *fp)
{
	json_t *arr = json_array();
	char *s;

	for (size_t i = 0; i < rp->ng; i++) {
		const struct group *g = &rp->g[i];
		json_t *o = json_object();

		json_object_set_new(o, "group", json_string(g->label));
		json_object_set_new(
		    o, "jobs", json_integer((json_int_t)g->jobs));
		json_object_set_new(o, "ok", json_integer((json_int_t)g->ok));
		json_object_set_new(o, "candidates",
		    json_real(g->ok ? g->cands / (double)g->ok : 0.0));
		for (int m = 0; m < NMEAS; m++) {
			double v = mean(g, m);
			char k[32];

			json_object_set_new(o, meas_name[m],
			    isnan(v) ? json_null() : json_real(v));
			snprintf(k, sizeof(k), "%s_n", meas_name[m]);
			json_object_set_new(
			    o, k, json_integer((json_int_t)g->n[m]));
			snprintf(k, sizeof(k), "%s_min", meas_name[m]);
			json_object_set_new(o, k,
			    g->n[m] ? json_real(g->min[m]) : json_null());
			snprintf(k, sizeof(k), "%s_max", meas_name[m]);
			json_object_set_new(o, k,
			    g->n[m] ? json_real(g->max[m]) : json_null());
		}
		json_object_set_new(o, "dup_in_job", json_real(g->dup_job));
		json_object_set_new(o, "dup_in_scope", json_real(g->dup_scope));
		json_object_set_new(
		    o, "cost", g->cost_n ? json_real(g->cost) : json_null());
		json_object_set_new(
		    o, "cost_n", json_integer((json_int_t)g->cost_n));
		json_object_set_new(o, "cost_per_ok",
		    g->cost_ok_n ? json_real(g->cost_ok / (double)g->cost_ok_n)
				 : json_null());
		json_array_append_new(arr, o);
	}
	s = json_dumps(arr, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
	fprintf(fp, "%s\n", s ? s : "[]");
	free(s);
	json_decref(arr);
}

/* Write s as lines of at most max characters, broken at spaces, from
 * (x, y) down by 15 px a line; returns the number of lines. */
static int
svg_lines(FILE *fp, double x, double y, const char *s, size_t max, int draw)
{
	int nl = 0;

	while (*s != '\0') {
		size_t len = strlen(s), cut = len;
		char *line;

		if (len > max) {
			for (cut = max; cut > 0 && s[cut] != ' '; cut--)
				;
			if (cut == 0)
				cut = max;
		}
		if (draw) {
			line = xstrndup(s, cut);
			fprintf(fp,
			    "<text x=\"%.0f\" y=\"%.0f\" fill=\"#333\">", x,
			    y + 15.0 * nl);
			ctl_svg_text(fp, line);
			fputs("</text>\n", fp);
			free(line);
		}
		nl++;
		s += cut;
		while (*s == ' ')
			s++;
	}
	return nl;
}

/* One bar: the mean, a whisker from min to max, the mean's value above
 * the whisker and n under the axis. */
static void
svg_bar(FILE *fp, const struct group *g, int m, double x, double top,
    double ph, double bar)
{
	double v = mean(g, m), h, lo, hi, cx = x + bar / 2 - 1;

	if (isnan(v))
		return;
#define CLIP01(a) ((a) < 0 ? 0 : (a) > 1 ? 1 : (a))
	h = ph * CLIP01(v);
	lo = top + ph - ph * CLIP01(g->min[m]);
	hi = top + ph - ph * CLIP01(g->max[m]);
#undef CLIP01
	fprintf(fp,
	    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.0f\" height=\"%.1f\" "
	    "fill=\"%s\"><title>%s %s: mean %.4f, min %.4f, max %.4f, "
	    "n %zu</title></rect>\n",
	    x, top + ph - h, bar - 2, h, meas_color[m], meas_name[m],
	    g->label, v, g->min[m], g->max[m], g->n[m]);
	if (g->n[m] > 1)
		fprintf(fp,
		    "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fh6M%.1f %.1fh6\" "
		    "stroke=\"#222\" stroke-width=\"1\" fill=\"none\" "
		    "class=\"whisker\"/>\n",
		    cx, lo, hi, cx - 3, lo, cx - 3, hi);
	fprintf(fp,
	    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" "
	    "text-anchor=\"middle\">%.2f</text>\n"
	    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"8\" fill=\"#555\" "
	    "text-anchor=\"middle\" class=\"n\">%zu</text>\n",
	    cx, hi - 3, v, cx, top + ph + 11, g->n[m]);
}

/*
 * A grouped bar chart: one cluster per group, one bar per measure, all
 * on one 0..1 axis: the mean, a whisker from the least to the largest
 * value, the value over it and the number of results (n) under it;
 * under each cluster its jobs and the total of duplicates dropped; in
 * the footer the models of the results and the caption.
 */
static void
write_svg(const struct report *rp, FILE *fp, const char *title,
    const char *caption)
{
	static const char sub[] =
	    "bars: the mean over each group's ok results; whiskers: min to "
	    "max; under a bar: n, the results it holds. Higher semantic and "
	    "distinct-n, lower ROUGE-L: more diverse.";
	const double bar = 16, gap = 28, left = 60, ph = 300;
	double cw = NMEAS * bar, width, height, slot, foot, top;
	size_t maxlabel = 0, wrap;
	struct buf models;
	int ncap, nsub;

	/* A cluster is as wide as its bars or its label (about 7 px a
	 * character at 12 px), whichever is wider. */
	for (size_t i = 0; i < rp->ng; i++)
		if (strlen(rp->g[i].label) > maxlabel)
			maxlabel = strlen(rp->g[i].label);
	slot = cw + gap;
	if ((double)maxlabel * 7.0 + 12 > slot)
		slot = (double)maxlabel * 7.0 + 12;
	/* and no narrower than its "N duplicates in all" at 10 px */
	if (slot < 130)
		slot = 130;
	width = left + (double)rp->ng * slot + gap + 20;
	if (width < 640)
		width = 640;
	wrap = (size_t)((width - left - 20) / 6.5);
	nsub = svg_lines(fp, 0, 0, sub, wrap, 0);
	top = 60 + 15.0 * (nsub - 1);
	buf_init(&models);
	buf_puts(&models, rp->nmodels == 1 ? "model: " : "models: ");
	for (size_t i = 0; i < rp->nmodels; i++) {
		buf_puts(&models, i ? ", " : "");
		buf_puts(&models, rp->models[i]);
	}
	if (rp->nmodels == 0)
		buf_puts(&models, "none (no ok result)");
	if (rp->more_models > 0)
		buf_printf(&models, " and %zu more", rp->more_models);
	foot = top + ph + 104;
	ncap = 1 + (caption != NULL && *caption != '\0'
			   ? svg_lines(fp, 0, 0, caption, wrap, 0)
			   : 0);
	height = foot + 15.0 * ncap + 16;
	fprintf(fp,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
	    "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	    "font-family=\"sans-serif\" font-size=\"12\">\n"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
	    "<text x=\"%.0f\" y=\"28\" font-size=\"16\" "
	    "font-weight=\"bold\">",
	    width, height, width, height, left);
	ctl_svg_text(fp, title);
	fputs("</text>\n", fp);
	svg_lines(fp, left, 46, sub, wrap, 1);
	for (int t = 0; t <= 10; t += 2) {
		double y = top + ph - ph * t / 10.0;

		fprintf(fp,
		    "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" "
		    "stroke=\"#ddd\"/>\n<text x=\"%.0f\" y=\"%.1f\" "
		    "text-anchor=\"end\">%.1f</text>\n",
		    left, width - 20, y, y, left - 6, y + 4, t / 10.0);
	}
	for (size_t i = 0; i < rp->ng; i++) {
		const struct group *g = &rp->g[i];
		double x0 =
		    left + gap + (double)i * slot + (slot - gap - cw) / 2;

		fprintf(fp, "<g class=\"group\">\n");
		for (int m = 0; m < NMEAS; m++)
			svg_bar(fp, g, m, x0 + m * bar, top, ph, bar);
		fprintf(fp,
		    "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">",
		    x0 + cw / 2, top + ph + 27);
		ctl_svg_text(fp, g->label);
		fprintf(fp,
		    "</text>\n<text x=\"%.1f\" y=\"%.0f\" "
		    "text-anchor=\"middle\" fill=\"#555\" "
		    "font-size=\"10\">%zu job%s, %zu ok</text>\n"
		    "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" "
		    "fill=\"#555\" font-size=\"10\" class=\"dups\">%.0f "
		    "duplicate%s in all</text>\n</g>\n",
		    x0 + cw / 2, top + ph + 41, g->jobs,
		    g->jobs == 1 ? "" : "s", g->ok, x0 + cw / 2,
		    top + ph + 53, g->dup_job + g->dup_scope,
		    g->dup_job + g->dup_scope == 1 ? "" : "s");
	}
	for (int m = 0; m < NMEAS; m++) {
		double x = left + m * 100.0;

		fprintf(fp,
		    "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"12\" "
		    "fill=\"%s\"/><text x=\"%.0f\" y=\"%.0f\">%s</text>\n",
		    x, top + ph + 68, meas_color[m], x + 16, top + ph + 79,
		    meas_name[m]);
	}
	fprintf(fp, "<g class=\"footer\">\n");
	svg_lines(fp, left, foot, models.data, wrap, 1);
	if (caption != NULL && *caption != '\0')
		svg_lines(fp, left, foot + 15, caption, wrap, 1);
	fprintf(fp, "</g>\n</svg>\n");
	buf_free(&models);
}

static void
report_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl report [-j] [-g FIELD]... [-o chart.svg]\n"
	    "                       [--title T] [--caption T] [FILE...]\n"
	    "       vsampctl report -T [-f conf] [-b brokers] [-t topic] ...\n"
	    "\n"
	    "Print a table of the diversity of results, per group (default:\n"
	    "per method), with their cost when they have one, and with -o\n"
	    "draw it as an SVG bar chart. Input:\n"
	    "JSON lines of `vsampctl run` or `vsampctl tail` from FILEs\n"
	    "(default: standard input), or with -T the results topic read\n"
	    "to its end.\n"
	    "\n"
	    "  -g FIELD    group by this result field, e.g. method, backend,\n"
	    "              model or metadata.task (repeatable; default\n"
	    "              method)\n"
	    "  -o FILE     write the SVG chart to FILE\n"
	    "  --title T   the chart's title\n"
	    "  --caption T a line under the chart: what it shows and what\n"
	    "              it cannot\n"
	    "  -j          print the table as JSON\n"
	    "  -T          read the results topic (kafka.results_topic, or\n"
	    "              -t) instead of files\n"
	    "  -f FILE     the vsampd config (default %s)\n"
	    "  -b BROKERS  overrides kafka.brokers\n",
	    CONF_DEFAULT_PATH);
}

/* report's options; returns -1 to go on, else the exit status. */
static int
report_args(int argc, char **argv, struct ctl_common *co, struct report *rp,
    struct report_opts *o)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"title", required_argument, NULL, 'L'},
	    {"caption", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0}};
	int ch;

	optind = 1;
	while ((ch = ctl_getopt(co, argc, argv, "g:o:jTf:b:t:h", longopts)) !=
	    -1) {
		switch (ch) {
		case 'g':
			if (rp->nby == MAX_BY) {
				fprintf(stderr,
				    "vsampctl report: at most %d -g\n", MAX_BY);
				return 2;
			}
			rp->by[rp->nby++] = optarg;
			break;
		case 'o':
			o->svg = optarg;
			break;
		case 'L':
			o->title = optarg;
			break;
		case 'C':
			o->caption = optarg;
			break;
		case 'j':
			o->as_json = 1;
			break;
		case 'T':
			o->from_topic = 1;
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			report_usage(stderr);
			return 2;
		}
	}
	if (rp->nby == 0)
		rp->by[rp->nby++] = "method";
	return -1;
}

/* Count the results topic up to its end; returns 0, 1 or 2 (config). */
static int
report_topic(struct report *rp, const struct ctl_common *co)
{
	static volatile sig_atomic_t never;
	struct conf *conf = ctl_load_conf(co, 1);
	char err[512];
	int status = 0;

	if (conf == NULL)
		return 2;
	if (ctl_topic_read(conf, co->topic ? co->topic : conf->results_topic, 0,
		0, &never, report_msg, rp, err, sizeof(err)) == -1) {
		fprintf(stderr, "vsampctl report: %s\n", err);
		status = 1;
	}
	conf_free(conf);
	return status;
}

/* Count the lines of the files (none: standard input); returns 0 or 1. */
static int
report_files(struct report *rp, int nfiles, char **paths)
{
	char err[512];
	int status = 0;

	for (int i = 0; i < (nfiles ? nfiles : 1); i++) {
		const char *path = nfiles ? paths[i] : NULL;
		struct ctl_reader *in = ctl_reader_open(path, err, sizeof(err));
		char *line;
		long n;
		int cut;

		if (in == NULL) {
			fprintf(stderr, "vsampctl report: %s\n", err);
			status = 1;
			continue;
		}
		while ((n = ctl_reader_next(in, &line, 64 << 20, &cut)) >= 0)
			if (n > 0)
				report_line(rp, line, (size_t)n);
		ctl_reader_close(in);
	}
	return status;
}

/* Print the table and write the chart; returns 0, or 1 when the chart
 * cannot be written. */
static int
report_print(struct report *rp, const struct report_opts *o)
{
	FILE *fp;

	qsort(rp->g, rp->ng, sizeof(rp->g[0]), group_cmp);
	if (rp->bad > 0)
		fprintf(stderr,
		    "vsampctl report: %zu of %zu line(s) were not results\n",
		    rp->bad, rp->lines);
	if (o->as_json)
		print_json(rp, stdout);
	else
		print_table(rp, stdout);
	if (o->svg == NULL)
		return 0;
	if ((fp = fopen(o->svg, "w")) == NULL) {
		fprintf(stderr, "vsampctl report: %s: cannot write\n", o->svg);
		return 1;
	}
	write_svg(rp, fp, o->title, o->caption);
	return fclose(fp) != 0 ? 1 : 0;
}

int
ctl_report(int argc, char **argv)
{
	struct ctl_common co = {0};
	struct report *rp = xcalloc(1, sizeof(*rp));
	struct report_opts o = {NULL, "vsampd: diversity by method", NULL, 0, 0};
	int status;

	if ((status = report_args(argc, argv, &co, rp, &o)) != -1) {
		free(rp);
		return status;
	}
	if (o.from_topic)
		status = report_topic(rp, &co);
	else
		status = report_files(rp, argc - optind, argv + optind);
	if (status == 2) {
		free(rp);
		return 2;
	}
	if (report_print(rp, &o) != 0)
		status = 1;
	for (size_t i = 0; i < rp->ng; i++)
		free(rp->g[i].label);
	for (size_t i = 0; i < rp->nmodels; i++)
		free(rp->models[i]);
	free(rp);
	return status;
}
