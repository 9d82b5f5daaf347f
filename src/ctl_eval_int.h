/*
 * ctl_eval_int: what ctl_eval.c (the plan, the run, the measures) and
 * ctl_eval_report.c (the statistics and the three reports) share.
 */
#ifndef VSAMPD_CTL_EVAL_INT_H
#define VSAMPD_CTL_EVAL_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "evalstat.h"
#include "method.h"

/* The measures of a prompt and method (docs/eval.md). The first seven
 * are the result's diversity keys, named as there, in that order. */
enum eval_m {
	EVAL_M_SEMANTIC = 0,
	EVAL_M_VENDI,
	EVAL_M_CLASSES,
	EVAL_M_ROUGE_L,
	EVAL_M_DISTINCT_1,
	EVAL_M_DISTINCT_2,
	EVAL_M_DISTINCT_3,
	EVAL_M_DUPLICATES,
	EVAL_M_PARSE_FAILURES,
	EVAL_M_TOKENS,
	EVAL_M_COST,
	EVAL_M_COVERAGE,
	EVAL_M_KL,
	EVAL_M_COUNT
};

struct eval_measure {
	const char *name;
	int better; /* 1: higher is better, -1: lower is */
	int enumerative; /* only enumerative prompts have it */
};

extern const struct eval_measure eval_measures[EVAL_M_COUNT];

/* One line of the prompt file; the strings are borrowed from job. */
struct eval_prompt {
	json_t *job; /* the line's object (a reference) */
	const char *id;
	const char *task;
	int enumerative;
	const char **answers;
	size_t nanswers;
	struct evalstat_alias *aliases;
	size_t naliases;
	size_t lineno;
};

/* A prompt and a method: the sums over its jobs, then the values. */
struct eval_cell {
	double sum[EVAL_M_COUNT];
	size_t count[EVAL_M_COUNT];
	double value[EVAL_M_COUNT]; /* NAN: none */
	size_t results, errors;
	int *draws; /* enumerative: answer index per draw, -1 none */
	size_t ndraws, valid, invalid;
};

struct eval {
	struct eval_prompt *prompts;
	size_t nprompts;
	enum method methods[METHOD_COUNT + 8];
	size_t nmethods;
	int k, draws, embed;
	uint64_t seed;
	struct eval_cell *cells; /* nprompts x nmethods */
	size_t results, errors, stray;
	char model[256];
};

#define EVAL_CELL(ev, pi, mi) (&(ev)->cells[(pi) * (ev)->nmethods + (mi)])

size_t eval_njobs(const struct eval *ev, const struct eval_prompt *p);

/*
 * Write DIR/report.txt, DIR/report.json and DIR/report.svg from the
 * measured cells of ev, and the text report on stdout unless quiet.
 * Returns 0, or -1 after naming the file that could not be written.
 */
int eval_report(const struct eval *ev, const char *dir, int quiet);

#endif
