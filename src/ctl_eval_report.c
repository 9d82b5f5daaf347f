/*
 * ctl_eval_report: the statistics and the reports of `vsampctl eval`
 * (docs/eval.md, Reading the report). For each group of prompts (all of
 * them, then each task), each measure and each method: the mean over the
 * group's prompts that have a value, with its 95% bootstrap interval; the
 * ratio to direct's mean, paired by prompt, with its interval; and the
 * prompts the method wins, ties and loses against direct, in the
 * measure's direction. Written as a text table, as JSON, and as an SVG
 * of one panel per measure.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_eval_int.h"
#include "evalstat.h"
#include "method.h"
#include "xmalloc.h"

static const char *const report_tasks[] = {
    NULL, "poem", "story", "joke", "dialogue", "enumerative"};
#define REPORT_NGROUPS (sizeof(report_tasks) / sizeof(report_tasks[0]))

struct report_stat {
	size_t n; /* prompts with a value */
	struct evalstat_ci mean;
	size_t paired; /* prompts where direct has a value too */
	struct evalstat_ci ratio; /* all NAN: no direct, or this is it */
	struct evalstat_wins w;
	int has_wins;
};

static size_t
report_direct(const struct eval *ev)
{
	for (size_t i = 0; i < ev->nmethods; i++)
		if (ev->methods[i] == METHOD_DIRECT)
			return i;
	return SIZE_MAX;
}

static int
report_in_group(const struct eval_prompt *p, const char *task)
{
	return task == NULL || strcmp(p->task, task) == 0;
}

static size_t
report_group_size(const struct eval *ev, const char *task)
{
	size_t n = 0;

	for (size_t pi = 0; pi < ev->nprompts; pi++)
		n += report_in_group(&ev->prompts[pi], task);
	return n;
}

static void
report_nan(struct evalstat_ci *ci)
{
	ci->point = ci->lo = ci->hi = NAN;
	ci->resamples = ci->skipped = 0;
}

/* The statistics of measure m of method mi over the group's prompts. */
static void
report_stat(const struct eval *ev, const char *task, int m, size_t mi,
    struct report_stat *st)
{
	size_t dm = report_direct(ev);
	double *x = xcalloc(ev->nprompts + 1, sizeof(double));
	double *px = xcalloc(ev->nprompts + 1, sizeof(double));
	double *py = xcalloc(ev->nprompts + 1, sizeof(double));
	char err[256];

	memset(st, 0, sizeof(*st));
	report_nan(&st->ratio);
	for (size_t pi = 0; pi < ev->nprompts; pi++) {
		double v = EVAL_CELL(ev, pi, mi)->value[m];

		if (!report_in_group(&ev->prompts[pi], task) || !isfinite(v))
			continue;
		x[st->n++] = v;
		if (dm != SIZE_MAX && dm != mi &&
		    isfinite(EVAL_CELL(ev, pi, dm)->value[m])) {
			px[st->paired] = v;
			py[st->paired++] = EVAL_CELL(ev, pi, dm)->value[m];
		}
	}
	if (evalstat_mean_ci(x, st->n, EVALSTAT_RESAMPLES, ev->seed, &st->mean,
		err, sizeof(err)) == -1)
		report_nan(&st->mean);
	if (st->paired > 0) {
		if (evalstat_ratio_ci(px, py, st->paired, EVALSTAT_RESAMPLES,
			ev->seed, &st->ratio, err, sizeof(err)) == -1)
			report_nan(&st->ratio);
		/* Lower is better: the method wins where it is below. */
		if (eval_measures[m].better > 0)
			st->has_wins = evalstat_wins(px, py, st->paired, &st->w,
					   err, sizeof(err)) == 0;
		else
			st->has_wins = evalstat_wins(py, px, st->paired, &st->w,
					   err, sizeof(err)) == 0;
	}
	free(x);
	free(px);
	free(py);
}

/* Whether any method has a value of m in the group. */
static int
report_has(const struct eval *ev, const char *task, int m)
{
	for (size_t pi = 0; pi < ev->nprompts; pi++)
		for (size_t mi = 0; mi < ev->nmethods; mi++)
			if (report_in_group(&ev->prompts[pi], task) &&
			    isfinite(EVAL_CELL(ev, pi, mi)->value[m]))
				return 1;
	return 0;
}

/* ---- text ---- */

static void
report_num(FILE *fp, double v)
{
	if (isfinite(v))
		fprintf(fp, "%9.4f", v);
	else
		fprintf(fp, "%9s", "-");
}

static void
report_text(const struct eval *ev, FILE *fp)
{
	fprintf(fp,
	    "vsampctl eval: model %s, %zu prompts, %zu methods, k %d, "
	    "%d draws per enumerative prompt, %zu results (%zu errors), "
	    "seed %llu\n",
	    ev->model[0] != '\0' ? ev->model : "(unknown)", ev->nprompts,
	    ev->nmethods, ev->k, ev->draws, ev->results, ev->errors,
	    (unsigned long long)ev->seed);
	fprintf(fp,
	    "means over prompts with 95%% bootstrap intervals; ratio: mean "
	    "/ direct's mean, paired by prompt; w/t/l: prompts won, tied, "
	    "lost against direct in the measure's direction\n");
	for (size_t g = 0; g < REPORT_NGROUPS; g++) {
		const char *task = report_tasks[g];
		size_t np = report_group_size(ev, task);

		if (np == 0 || (task != NULL && np == ev->nprompts))
			continue;
		fprintf(fp, "\n== %s: %zu prompts ==\n",
		    task != NULL ? task : "all", np);
		fprintf(fp, "%-21s %-6s %-12s %4s %9s %9s %9s %9s %9s %9s "
			    "%s\n",
		    "measure", "better", "method", "n", "mean", "ci_lo",
		    "ci_hi", "ratio", "r_lo", "r_hi", "w/t/l");
		for (int m = 0; m < EVAL_M_COUNT; m++) {
			if (!report_has(ev, task, m))
				continue;
			for (size_t mi = 0; mi < ev->nmethods; mi++) {
				struct report_stat st;

				report_stat(ev, task, m, mi, &st);
				fprintf(fp, "%-21s %-6s %-12s %4zu ",
				    eval_measures[m].name,
				    eval_measures[m].better > 0 ? "higher"
								: "lower",
				    method_name(ev->methods[mi]), st.n);
				report_num(fp, st.mean.point);
				fputc(' ', fp);
				report_num(fp, st.mean.lo);
				fputc(' ', fp);
				report_num(fp, st.mean.hi);
				fputc(' ', fp);
				report_num(fp, st.ratio.point);
				fputc(' ', fp);
				report_num(fp, st.ratio.lo);
				fputc(' ', fp);
				report_num(fp, st.ratio.hi);
				if (st.has_wins)
					fprintf(fp, " %zu/%zu/%zu\n", st.w.wins,
					    st.w.ties, st.w.losses);
				else
					fprintf(fp, " -\n");
			}
		}
	}
}

/* ---- JSON ---- */

static json_t *
report_jnum(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *
report_json(const struct eval *ev)
{
	json_t *root = json_object(), *groups = json_array();
	json_t *measures = json_array(), *methods = json_array();
	json_t *prompts = json_array();

	for (int m = 0; m < EVAL_M_COUNT; m++)
		json_array_append_new(measures,
		    json_pack("{s:s,s:s,s:b}", "name", eval_measures[m].name,
			"better",
			eval_measures[m].better > 0 ? "higher" : "lower",
			"enumerative_only", eval_measures[m].enumerative));
	for (size_t mi = 0; mi < ev->nmethods; mi++)
		json_array_append_new(
		    methods, json_string(method_name(ev->methods[mi])));
	json_object_set_new(root, "model",
	    ev->model[0] != '\0' ? json_string(ev->model) : json_null());
	json_object_set_new(root, "k", json_integer(ev->k));
	json_object_set_new(root, "draws", json_integer(ev->draws));
	json_object_set_new(root, "seed", json_integer((json_int_t)ev->seed));
	json_object_set_new(
	    root, "resamples", json_integer(EVALSTAT_RESAMPLES));
	json_object_set_new(
	    root, "results", json_integer((json_int_t)ev->results));
	json_object_set_new(
	    root, "errors", json_integer((json_int_t)ev->errors));
	json_object_set_new(root, "methods", methods);
	json_object_set_new(root, "measures", measures);
	for (size_t g = 0; g < REPORT_NGROUPS; g++) {
		const char *task = report_tasks[g];
		size_t np = report_group_size(ev, task);
		json_t *grp, *bym = json_object();

		if (np == 0)
			continue;
		for (size_t mi = 0; mi < ev->nmethods; mi++) {
			json_t *one = json_object();

			for (int m = 0; m < EVAL_M_COUNT; m++) {
				struct report_stat st;
				json_t *s;

				if (!report_has(ev, task, m))
					continue;
				report_stat(ev, task, m, mi, &st);
				s = json_pack(
				    "{s:I,s:o,s:o,s:o,s:I,s:o,s:o,s:o}", "n",
				    (json_int_t)st.n, "mean",
				    report_jnum(st.mean.point), "ci_lo",
				    report_jnum(st.mean.lo), "ci_hi",
				    report_jnum(st.mean.hi), "paired",
				    (json_int_t)st.paired, "ratio",
				    report_jnum(st.ratio.point), "ratio_lo",
				    report_jnum(st.ratio.lo), "ratio_hi",
				    report_jnum(st.ratio.hi));
				if (st.has_wins)
					json_object_set_new(s, "wins",
					    json_pack("{s:I,s:I,s:I}", "wins",
						(json_int_t)st.w.wins, "ties",
						(json_int_t)st.w.ties, "losses",
						(json_int_t)st.w.losses));
				else
					json_object_set_new(
					    s, "wins", json_null());
				json_object_set_new(
				    one, eval_measures[m].name, s);
			}
			json_object_set_new(
			    bym, method_name(ev->methods[mi]), one);
		}
		grp = json_pack("{s:s,s:I,s:o}", "task",
		    task != NULL ? task : "all", "prompts", (json_int_t)np,
		    "methods", bym);
		json_array_append_new(groups, grp);
	}
	json_object_set_new(root, "groups", groups);
	for (size_t pi = 0; pi < ev->nprompts; pi++)
		for (size_t mi = 0; mi < ev->nmethods; mi++) {
			const struct eval_cell *c = EVAL_CELL(ev, pi, mi);
			json_t *row = json_pack("{s:s,s:s,s:s,s:I,s:I}",
			    "prompt", ev->prompts[pi].id, "task",
			    ev->prompts[pi].task, "method",
			    method_name(ev->methods[mi]), "results",
			    (json_int_t)c->results, "errors",
			    (json_int_t)c->errors);

			for (int m = 0; m < EVAL_M_COUNT; m++)
				if (!eval_measures[m].enumerative ||
				    ev->prompts[pi].enumerative)
					json_object_set_new(row,
					    eval_measures[m].name,
					    report_jnum(c->value[m]));
			if (ev->prompts[pi].enumerative) {
				json_object_set_new(row, "valid_draws",
				    json_integer((json_int_t)c->valid));
				json_object_set_new(row, "invalid_draws",
				    json_integer((json_int_t)c->invalid));
			}
			json_array_append_new(prompts, row);
		}
	json_object_set_new(root, "prompts", prompts);
	return root;
}

/* ---- SVG ---- */

#define SVG_PW 300 /* panel width */
#define SVG_PH 210 /* panel height */
#define SVG_COLS 3
#define SVG_TOP 70 /* title and caption */

static const char *const svg_colours[] = {"#4e79a7", "#f28e2b", "#59a14f",
    "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};

static void
svg_panel(const struct eval *ev, FILE *fp, int m, int slot)
{
	int x0 = 10 + (slot % SVG_COLS) * SVG_PW;
	int y0 = SVG_TOP + (slot / SVG_COLS) * SVG_PH;
	double base = y0 + SVG_PH - 40, height = SVG_PH - 90, ymax = 0;
	double bw = (SVG_PW - 40.0) / (double)ev->nmethods;
	struct report_stat *st = xcalloc(ev->nmethods, sizeof(*st));

	for (size_t mi = 0; mi < ev->nmethods; mi++) {
		report_stat(ev, NULL, m, mi, &st[mi]);
		if (isfinite(st[mi].mean.hi) && st[mi].mean.hi > ymax)
			ymax = st[mi].mean.hi;
		if (isfinite(st[mi].mean.point) && st[mi].mean.point > ymax)
			ymax = st[mi].mean.point;
	}
	if (ymax <= 0)
		ymax = 1;
	fprintf(fp, "<g class=\"panel\" data-measure=\"%s\">\n",
	    eval_measures[m].name);
	fprintf(fp,
	    "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s (%s is "
	    "better)</text>\n",
	    x0 + 10, y0 + 16, eval_measures[m].name,
	    eval_measures[m].better > 0 ? "higher" : "lower");
	fprintf(fp,
	    "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
	    "stroke=\"#888\"/>\n",
	    x0 + 15, base, x0 + SVG_PW - 15, base);
	for (size_t mi = 0; mi < ev->nmethods; mi++) {
		const char *name = method_name(ev->methods[mi]);
		double cx = x0 + 20 + bw * ((double)mi + 0.5);
		double mean = st[mi].mean.point;
		double h = isfinite(mean) ? mean / ymax * height : 0;

		fprintf(fp, "<g class=\"bar\" data-method=\"%s\"", name);
		if (isfinite(mean))
			fprintf(fp, " data-mean=\"%.6g\"", mean);
		if (isfinite(st[mi].ratio.point))
			fprintf(fp, " data-ratio=\"%.6g\"", st[mi].ratio.point);
		fprintf(fp, ">\n");
		fprintf(fp,
		    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
		    "height=\"%.1f\" fill=\"%s\"><title>%s: %.4g [%.4g, "
		    "%.4g], n %zu</title></rect>\n",
		    cx - bw * 0.35, base - h, bw * 0.7, h,
		    svg_colours[mi % 8], name, mean, st[mi].mean.lo,
		    st[mi].mean.hi, st[mi].n);
		if (isfinite(st[mi].mean.lo) && isfinite(st[mi].mean.hi)) {
			double ylo = base - st[mi].mean.lo / ymax * height;
			double yhi = base - st[mi].mean.hi / ymax * height;

			fprintf(fp,
			    "<path class=\"ci\" d=\"M%.1f %.1fV%.1fM%.1f "
			    "%.1fh8M%.1f %.1fh8\" stroke=\"#222\" "
			    "fill=\"none\"/>\n",
			    cx, ylo, yhi, cx - 4, ylo, cx - 4, yhi);
		}
		fprintf(fp,
		    "<text class=\"value\" x=\"%.1f\" y=\"%.1f\" "
		    "font-size=\"10\" text-anchor=\"middle\">",
		    cx, base - height - 18);
		if (isfinite(mean))
			fprintf(fp, "%.3g", mean);
		fprintf(fp, "</text>\n");
		if (isfinite(st[mi].ratio.point))
			fprintf(fp,
			    "<text class=\"ratio\" x=\"%.1f\" y=\"%.1f\" "
			    "font-size=\"10\" text-anchor=\"middle\">"
			    "×%.2f</text>\n",
			    cx, base - height - 6, st[mi].ratio.point);
		fprintf(fp,
		    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" "
		    "text-anchor=\"end\" transform=\"rotate(-30 %.1f "
		    "%.1f)\">%s</text>\n",
		    cx + 4, base + 14, cx + 4, base + 14, name);
		fprintf(fp, "</g>\n");
	}
	fprintf(fp, "</g>\n");
	free(st);
}

static void
report_svg(const struct eval *ev, FILE *fp)
{
	int slots = 0, slot = 0, w, h;

	for (int m = 0; m < EVAL_M_COUNT; m++)
		slots += report_has(ev, NULL, m);
	w = 20 + SVG_COLS * SVG_PW;
	h = SVG_TOP + ((slots + SVG_COLS - 1) / SVG_COLS) * SVG_PH + 10;
	fprintf(fp,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" "
	    "font-family=\"sans-serif\" font-size=\"12\">\n"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
	    w, h, w, h);
	fprintf(fp, "<text class=\"title\" x=\"10\" y=\"24\" "
		    "font-size=\"16\" font-weight=\"bold\">Sampling methods "
		    "on ");
	ctl_svg_text(fp, ev->model[0] != '\0' ? ev->model : "(unknown model)");
	fprintf(fp, "</text>\n");
	fprintf(fp,
	    "<text class=\"caption\" x=\"10\" y=\"44\">Means over %zu "
	    "prompts (k %d, %d draws per enumerative prompt) with 95%% "
	    "bootstrap intervals; ×: ratio to direct, paired by "
	    "prompt</text>\n",
	    ev->nprompts, ev->k, ev->draws);
	for (int m = 0; m < EVAL_M_COUNT; m++)
		if (report_has(ev, NULL, m))
			svg_panel(ev, fp, m, slot++);
	fprintf(fp, "</svg>\n");
}

/* ---- files ---- */

static int
report_close(FILE *fp, const char *path)
{
	int bad = ferror(fp);

	if (fclose(fp) != 0 || bad) {
		fprintf(stderr, "vsampctl: eval: writing %s: %s\n", path,
		    strerror(errno != 0 ? errno : EIO));
		return -1;
	}
	return 0;
}

static FILE *
report_open(const char *dir, const char *name, char **path)
{
	FILE *fp;

	*path = xasprintf("%s/%s", dir, name);
	if ((fp = fopen(*path, "w")) == NULL)
		fprintf(stderr, "vsampctl: eval: %s: %s\n", *path,
		    strerror(errno));
	return fp;
}

int
eval_report(const struct eval *ev, const char *dir, int quiet)
{
	char *path = NULL;
	json_t *j;
	FILE *fp;
	int rc = 0;

	if ((fp = report_open(dir, "report.txt", &path)) == NULL)
		rc = -1;
	else {
		report_text(ev, fp);
		rc |= report_close(fp, path);
	}
	free(path);
	if (!quiet)
		report_text(ev, stdout);
	if ((fp = report_open(dir, "report.json", &path)) == NULL)
		rc = -1;
	else {
		j = report_json(ev);
		if (json_dumpf(j, fp, JSON_INDENT(1)) == -1)
			rc = -1;
		fputc('\n', fp);
		json_decref(j);
		rc |= report_close(fp, path);
	}
	free(path);
	if ((fp = report_open(dir, "report.svg", &path)) == NULL)
		rc = -1;
	else {
		report_svg(ev, fp);
		rc |= report_close(fp, path);
	}
	free(path);
	return rc == 0 ? 0 : -1;
}
