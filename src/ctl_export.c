/*
 * ctl_export: `vsampctl export`, results as a dataset: JSON lines or
 * CSV, one row per job or one per candidate, from results files (the
 * JSON lines of `vsampctl run` and `vsampctl tail`) or from the results
 * topic up to its end, optionally joined with the jobs (a jobs file as
 * `vsampctl submit` reads it, or the jobs topic) for their prompts.
 *
 * Delivery is at least once, so a job may have several results
 * (docs/schema.md, *Duplicates*). Export keeps one per id: an ok result
 * over an error, and the later of two of the same status. Results with
 * no id are told apart by their source offset.
 *
 * Every result is held as the JSON that `vsampctl tail` prints for it
 * (result_decode, then result_to_json), whichever way it came in, so a
 * row is the same from a file and from the topic. The shared flags,
 * config, line reader and JSON paths are ctl.c's; this file never
 * reaches back into vsampctl.c.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat.h"
#include "conf.h"
#include "ctl.h"
#include "ctl_topic.h"
#include "job.h"
#include "log.h"
#include "mpjson.h"
#include "progress.h"
#include "result.h"
#include "utf8.h"
#include "xmalloc.h"

#define WHO "vsampctl export"
#define LINE_MAX_BYTES (64 << 20)
#define NAMED_MAX 5 /* bad inputs named one by one, then only counted */


/* Where a column's value comes from. */
enum col_kind {
	COL_RESULT, /* path into the result */
	COL_CAND, /* path into the row's candidate: in a job row, the
		   * selected one */
	COL_NCANDS, /* how many candidates */
	COL_SELECTED, /* job row: the selected index; candidate row:
		       * whether the candidate is the selected one */
	COL_INDEX, /* the row's candidate index */
	COL_JOB /* path into the joined job; only with --jobs */
};

#define IN_JOB 1 /* a column of job rows */
#define IN_CAND 2 /* a column of candidate rows */
#define IN_BOTH (IN_JOB | IN_CAND)

/* The columns, in their order (docs/vsampctl.1 lists them). */
static const struct col {
	const char *name;
	int in;
	enum col_kind kind;
	const char *path;
} cols[] = {
    {"id", IN_BOTH, COL_RESULT, "id"},
    {"index", IN_CAND, COL_INDEX, NULL},
    {"status", IN_BOTH, COL_RESULT, "status"},
    {"error_code", IN_JOB, COL_RESULT, "error.code"},
    {"error_message", IN_JOB, COL_RESULT, "error.message"},
    {"method", IN_BOTH, COL_RESULT, "method"},
    {"backend", IN_BOTH, COL_RESULT, "backend"},
    {"model", IN_BOTH, COL_RESULT, "model"},
    {"n_candidates", IN_JOB, COL_NCANDS, NULL},
    {"selected", IN_BOTH, COL_SELECTED, NULL},
    {"text", IN_BOTH, COL_CAND, "text"},
    {"probability", IN_BOTH, COL_CAND, "probability"},
    {"verbalized", IN_CAND, COL_CAND, "verbalized"},
    {"turn", IN_CAND, COL_CAND, "turn"},
    {"finish_reason", IN_BOTH, COL_CAND, "finish_reason"},
    {"semantic", IN_BOTH, COL_RESULT, "diversity.semantic"},
    {"rouge_l", IN_BOTH, COL_RESULT, "diversity.rouge_l"},
    {"distinct_1", IN_BOTH, COL_RESULT, "diversity.distinct_1"},
    {"distinct_2", IN_BOTH, COL_RESULT, "diversity.distinct_2"},
    {"distinct_3", IN_BOTH, COL_RESULT, "diversity.distinct_3"},
    /* the job's, not a candidate's: summing candidate rows would
     * count it once per candidate */
    {"cost", IN_JOB, COL_RESULT, "usage.cost"},
    {"metadata", IN_BOTH, COL_RESULT, "metadata"},
    {"created", IN_BOTH, COL_RESULT, "provenance.created"},
    {"vsampd", IN_BOTH, COL_RESULT, "provenance.vsampd"},
    {"template", IN_BOTH, COL_RESULT, "provenance.template"},
    {"seed", IN_BOTH, COL_RESULT, "provenance.seed"},
    {"decoding", IN_BOTH, COL_RESULT, "provenance.decoding"},
    {"prompt", IN_BOTH, COL_JOB, "prompt"},
    {"job_metadata", IN_BOTH, COL_JOB, "metadata"},
    {NULL, 0, COL_RESULT, NULL},
};

/* The result kept for one id. */
struct exp_entry {
	json_t *res; /* owned */
	int ok;
	long long where, at; /* first seen: partition (or file) and offset
			      * (or line), the order of the output */
};

struct export {
	json_t *index; /* key -> integer, the entry's index in ents */
	struct exp_entry *ents;
	size_t nents, cap;
	size_t read, bad, dropped, anon;
	json_t *jobs; /* id -> {"prompt", "metadata"}; NULL: no join */
	size_t jobs_read, jobs_bad;
	struct progress prog;
};

struct exp_opts {
	int format_csv; /* --format csv; 0: jsonl */
	int per_candidate; /* --rows candidate; 0: job */
	const char *out; /* -o; NULL: standard output */
	const char *jobs_file; /* --jobs */
	int jobs_topic; /* --jobs-topic */
	int from_topic; /* -T */
};

/* ---- results in ---- */

/* The key a result is deduplicated on: its id, else its source, else
 * nothing (each such result is its own). Control characters, which no
 * id holds, keep the three apart. Returns a malloc'ed string. */
static char *
result_key(struct export *ex, json_t *res)
{
	json_t *id = json_object_get(res, "id"), *src;

	if (json_is_string(id))
		return xstrdup(json_string_value(id));
	src = json_object_get(res, "source");
	if (json_is_object(src))
		return xasprintf("\001%s/%lld/%lld",
		    json_string_value(json_object_get(src, "topic"))
			? json_string_value(json_object_get(src, "topic"))
			: "",
		    (long long)json_integer_value(
			json_object_get(src, "partition")),
		    (long long)json_integer_value(
			json_object_get(src, "offset")));
	return xasprintf("\002%zu", ex->anon++);
}

/*
 * Take one result (takes ownership of res), first seen at where/at:
 * kept when its key is new, when it is ok and the one kept is not, or
 * when both have the same status (the later wins). Returns 0, or -1
 * when res is not a result (then it is freed).
 */
static int
export_add(struct export *ex, json_t *res, long long where, long long at)
{
	const char *st;
	json_t *i;
	char *key;
	int ok;

	if (json_is_object(json_object_get(res, "result"))) {
		json_t *inner = json_incref(json_object_get(res, "result"));

		json_decref(res);
		res = inner;
	}
	st = json_string_value(json_object_get(res, "status"));
	if (!json_is_object(res) || st == NULL ||
	    (strcmp(st, "ok") != 0 && strcmp(st, "error") != 0) ||
	    !json_is_array(json_object_get(res, "candidates"))) {
		json_decref(res);
		return -1;
	}
	ok = strcmp(st, "ok") == 0;
	ex->read++;
	key = result_key(ex, res);
	if ((i = json_object_get(ex->index, key)) != NULL) {
		struct exp_entry *e = &ex->ents[json_integer_value(i)];

		ex->dropped++;
		if (e->ok && !ok) {
			json_decref(res);
		} else {
			json_decref(e->res);
			e->res = res;
			e->ok = ok;
		}
		free(key);
		return 0;
	}
	if (ex->nents == ex->cap) {
		ex->cap = ex->cap ? ex->cap * 2 : 256;
		ex->ents = xreallocarray(ex->ents, ex->cap, sizeof(*ex->ents));
	}
	ex->ents[ex->nents] = (struct exp_entry){res, ok, where, at};
	if (json_object_set_new(
		ex->index, key, json_integer((json_int_t)ex->nents)) != 0)
		fatalx("out of memory");
	ex->nents++;
	free(key);
	return 0;
}

static void
export_progress(struct export *ex, int force)
{
	progress_update(&ex->prog, ex->read + ex->bad, ex->bad, force);
}

/* A result message of the topic (ctl_topic_read's callback). */
static int
export_msg(void *arg, const rd_kafka_message_t *m)
{
	struct export *ex = arg;
	struct result *r;
	char err[128], *json;
	json_t *v;

	r = result_decode(m->payload, m->len, err, sizeof(err));
	if (r != NULL) {
		json = result_to_json(r);
		result_free(r);
		v = json_loads(json, 0, NULL);
		free(json);
		if (v != NULL && export_add(ex, v, m->partition, m->offset) ==
			0) {
			export_progress(ex, 0);
			return 0;
		}
		snprintf(err, sizeof(err), "no status");
	}
	if (ex->bad++ < NAMED_MAX)
		fprintf(stderr,
		    WHO ": partition %d offset %lld: not a result (%s); "
		    "skipped\n",
		    (int)m->partition, (long long)m->offset, err);
	export_progress(ex, 0);
	return 0;
}

/* The results of a file ("-" or NULL: standard input), the fileno-th.
 * Returns 0, or -1 when it cannot be read. */
static int
export_file(struct export *ex, const char *path, long long fileno)
{
	struct ctl_reader *in;
	char err[512], *line;
	long long lineno = 0;
	long n;
	int cut;

	if ((in = ctl_reader_open(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, WHO ": %s\n", err);
		return -1;
	}
	while ((n = ctl_reader_next(in, &line, LINE_MAX_BYTES, &cut)) >= 0) {
		json_t *v;

		lineno++;
		if (n == 0)
			continue;
		v = cut ? NULL : json_loadb(line, (size_t)n, 0, NULL);
		if (v == NULL || export_add(ex, v, fileno, lineno) != 0) {
			if (ex->bad++ < NAMED_MAX)
				fprintf(stderr,
				    WHO ": %s:%lld: not a result%s; "
				    "skipped\n",
				    path ? path : "-", lineno,
				    cut ? " (too long)" : "");
		}
		export_progress(ex, 0);
	}
	ctl_reader_close(in);
	return 0;
}

/* ---- jobs in ---- */

/* The task of a job: its prompt, or its messages as an array of {role,
 * content} (job_decode has made a prompt given with them the last user
 * turn). */
static json_t *
job_task(const struct job *j)
{
	json_t *a, *o;

	if (j->messages == NULL)
		return j->prompt ? utf8_json_string(j->prompt, strlen(j->prompt))
				 : json_null();
	a = json_array();
	for (size_t i = 0; i < j->nmessages; i++) {
		const char *text = j->messages[i].content;

		o = json_pack("{s:s,s:o}", "role",
		    role_name(j->messages[i].role), "content",
		    utf8_json_string(text, strlen(text)));
		if (o == NULL || json_array_append_new(a, o) != 0)
			fatalx("out of memory");
	}
	return a;
}

/* Index one job (a JSON or msgpack job, as vsampd reads it); the later
 * of two with one id wins. Returns 0, or -1 when it is not a valid job,
 * with errstr. */
static int
export_job(struct export *ex, const void *buf, size_t len, char *errstr,
    size_t errlen)
{
	struct job *j;
	json_t *meta, *o;
	char *id = NULL;

	if ((j = job_decode(buf, len, &id, errstr, errlen)) == NULL) {
		free(id);
		return -1;
	}
	meta = mpjson_bytes(j->metadata, j->metadata_len);
	o = json_pack("{s:o,s:o}", "prompt", job_task(j), "metadata",
	    meta ? meta : json_null());
	if (o == NULL || json_object_set_new(ex->jobs, j->id, o) != 0)
		fatalx("out of memory");
	ex->jobs_read++;
	job_free(j);
	return 0;
}

/* A message of the jobs topic (ctl_topic_read's callback). */
static int
export_job_msg(void *arg, const rd_kafka_message_t *m)
{
	struct export *ex = arg;
	char err[256];

	if (export_job(ex, m->payload, m->len, err, sizeof(err)) != 0 &&
	    ex->jobs_bad++ < NAMED_MAX)
		fprintf(stderr,
		    WHO ": jobs partition %d offset %lld: not a valid job "
		    "(%s); not joined\n",
		    (int)m->partition, (long long)m->offset, err);
	return 0;
}

/* The jobs of a file, one per line as `vsampctl submit` reads them.
 * Returns 0, or -1 when it cannot be read. */
static int
export_jobs_file(struct export *ex, const char *path)
{
	struct ctl_reader *in;
	char err[512], *line;
	size_t lineno = 0;
	long n;
	int cut;

	if ((in = ctl_reader_open(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, WHO ": --jobs %s\n", err);
		return -1;
	}
	while ((n = ctl_reader_next(in, &line, LINE_MAX_BYTES, &cut)) >= 0) {
		lineno++;
		if (n == 0)
			continue;
		if (cut)
			snprintf(err, sizeof(err), "too long");
		if ((cut || export_job(ex, line, (size_t)n, err,
				sizeof(err)) != 0) &&
		    ex->jobs_bad++ < NAMED_MAX)
			fprintf(stderr,
			    WHO ": %s:%zu: not a valid job (%s); not "
			    "joined\n",
			    path, lineno, err);
	}
	ctl_reader_close(in);
	return 0;
}

/* ---- rows out ---- */

static json_t *
copy_or_null(json_t *v)
{
	return v != NULL ? json_incref(v) : json_null();
}

/* The selected index of a result; -1 when none. */
static long
selected_index(json_t *res)
{
	json_t *s = json_object_get(res, "selected");
	size_t n = json_array_size(json_object_get(res, "candidates"));

	if (!json_is_integer(s) || json_integer_value(s) < 0 ||
	    (size_t)json_integer_value(s) >= n)
		return -1;
	return (long)json_integer_value(s);
}

/* The value of column c for result res, candidate ci (in a job row the
 * selected one; -1 when none), and the joined job (NULL: not found). A
 * new reference. */
static json_t *
col_value(const struct col *c, int per_candidate, json_t *res, long ci,
    json_t *job)
{
	json_t *cands = json_object_get(res, "candidates");

	switch (c->kind) {
	case COL_RESULT:
		return copy_or_null(ctl_json_get(res, c->path));
	case COL_CAND:
		return ci < 0 ? json_null()
			      : copy_or_null(ctl_json_get(
				    json_array_get(cands, (size_t)ci),
				    c->path));
	case COL_NCANDS:
		return json_integer((json_int_t)json_array_size(cands));
	case COL_SELECTED:
		if (per_candidate)
			return json_boolean(selected_index(res) == ci);
		return ci < 0 ? json_null() : json_integer(ci);
	case COL_INDEX:
		return json_integer(ci);
	case COL_JOB:
		return copy_or_null(ctl_json_get(job, c->path));
	}
	return json_null();
}

/* A CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or
 * LF, quotes doubled. */
static void
csv_field(FILE *fp, const char *s, size_t len)
{
	if (strcspn(s, ",\"\r\n") >= len) {
		fwrite(s, 1, len, fp);
		return;
	}
	fputc('"', fp);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			fputc('"', fp);
		fputc(s[i], fp);
	}
	fputc('"', fp);
}

/* A cell: null empty, a string as it is, anything else (numbers,
 * booleans, metadata, messages) as its compact JSON. */
static void
csv_cell(FILE *fp, const json_t *v)
{
	char *s;

	if (json_is_null(v))
		return;
	if (json_is_string(v)) {
		csv_field(fp, json_string_value(v), json_string_length(v));
		return;
	}
	s = mpjson_dumps(v);
	csv_field(fp, s, strlen(s));
	free(s);
}

/* Whether column c is written in these rows (the job's columns only
 * with a join). */
static int
col_on(const struct col *c, const struct exp_opts *o, const struct export *ex)
{
	return (c->in & (!o->per_candidate ? IN_JOB : IN_CAND)) != 0 &&
	    (c->kind != COL_JOB || ex->jobs != NULL);
}

static void
csv_header(FILE *fp, const struct exp_opts *o, const struct export *ex)
{
	int first = 1;

	for (const struct col *c = cols; c->name != NULL; c++) {
		if (!col_on(c, o, ex))
			continue;
		if (!first)
			fputc(',', fp);
		first = 0;
		fputs(c->name, fp);
	}
	fputs("\r\n", fp);
}

/* Write the row of result res for candidate ci (see col_value). */
static void
write_row(FILE *fp, const struct exp_opts *o, const struct export *ex,
    json_t *res, long ci, json_t *job)
{
	json_t *row = json_object();
	int first = 1;
	char *s;

	for (const struct col *c = cols; c->name != NULL; c++) {
		json_t *v;

		if (!col_on(c, o, ex))
			continue;
		v = col_value(c, o->per_candidate, res, ci, job);
		if (o->format_csv) {
			if (!first)
				fputc(',', fp);
			csv_cell(fp, v);
			json_decref(v);
		} else if (json_object_set_new(row, c->name, v) != 0)
			fatalx("out of memory");
		first = 0;
	}
	if (o->format_csv) {
		fputs("\r\n", fp);
	} else {
		s = mpjson_dumps(row);
		fprintf(fp, "%s\n", s);
		free(s);
	}
	json_decref(row);
}

/* Output order: where each id was first seen. */
static int
entry_cmp(const void *a, const void *b)
{
	const struct exp_entry *x = a, *y = b;

	if (x->where != y->where)
		return x->where < y->where ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* Write every row; returns the number written, or -1 when the output
 * cannot be written. */
static long
export_write(struct export *ex, const struct exp_opts *o, size_t *joined)
{
	FILE *fp = stdout;
	long rows = 0;

	if (o->out != NULL && (fp = fopen(o->out, "w")) == NULL) {
		fprintf(stderr, WHO ": %s: cannot write\n", o->out);
		return -1;
	}
	qsort(ex->ents, ex->nents, sizeof(*ex->ents), entry_cmp);
	if (o->format_csv)
		csv_header(fp, o, ex);
	for (size_t i = 0; i < ex->nents; i++) {
		json_t *res = ex->ents[i].res, *job = NULL;
		const char *id = json_string_value(json_object_get(res, "id"));
		size_t nc = json_array_size(json_object_get(res, "candidates"));

		if (ex->jobs != NULL && id != NULL &&
		    (job = json_object_get(ex->jobs, id)) != NULL)
			(*joined)++;
		if (!o->per_candidate) {
			write_row(fp, o, ex, res, selected_index(res), job);
			rows++;
		}
		for (size_t c = 0; o->per_candidate && c < nc; c++) {
			write_row(fp, o, ex, res, (long)c, job);
			rows++;
		}
	}
	if (fflush(fp) != 0 || ferror(fp) ||
	    (fp != stdout && fclose(fp) != 0)) {
		fprintf(stderr, WHO ": %s: cannot write\n",
		    o->out ? o->out : "standard output");
		return -1;
	}
	return rows;
}

/* ---- the command ---- */

static void
export_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl export [-q] [--format jsonl|csv] "
	    "[--rows job|candidate]\n"
	    "                       [-o out] [--jobs FILE | --jobs-topic] "
	    "[FILE...]\n"
	    "       vsampctl export -T [-f conf] [-b brokers] [-t topic] "
	    "...\n"
	    "\n"
	    "Write results as a dataset: one row per job (default) or per\n"
	    "candidate, as JSON lines (default) or CSV. Input: JSON lines of\n"
	    "`vsampctl run` or `vsampctl tail` from FILEs (default: standard\n"
	    "input), or with -T the results topic read to its end. One result\n"
	    "is kept per job id: an ok one over an error, else the later.\n"
	    "\n"
	    "  --format F   jsonl or csv (RFC 4180, a header row)\n"
	    "  --rows R     job or candidate\n"
	    "  -o FILE      write to FILE (default: standard output)\n"
	    "  --jobs FILE  join the jobs of FILE (as submit reads them):\n"
	    "               prompt and job_metadata columns\n"
	    "  --jobs-topic join the jobs of kafka.jobs_topic instead\n"
	    "  -T           read the results topic (kafka.results_topic, or\n"
	    "               -t) instead of files\n"
	    "  -f FILE      the vsampd config (default %s)\n"
	    "  -b BROKERS   overrides kafka.brokers\n"
	    "  -q           no progress bar, no summary\n",
	    CONF_DEFAULT_PATH);
}

/* An option of two values: *which = 0 for the first, 1 for the second;
 * returns 0, or -1 naming what is wrong. */
static int
choice(const char *flag, const char *arg, const char *first,
    const char *second, int *which)
{
	if (strcmp(arg, first) == 0 || strcmp(arg, second) == 0) {
		*which = strcmp(arg, second) == 0;
		return 0;
	}
	fprintf(stderr, WHO ": %s takes %s or %s, not \"%s\"\n", flag, first,
	    second, arg);
	return -1;
}

/* export's options; returns -1 to go on, else the exit status. */
static int
export_args(
    int argc, char **argv, struct ctl_common *co, struct exp_opts *o)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"format", required_argument, NULL, 'F'},
	    {"rows", required_argument, NULL, 'R'},
	    {"jobs", required_argument, NULL, 'J'},
	    {"jobs-topic", no_argument, NULL, 'K'}, {NULL, 0, NULL, 0}};
	int ch;

	optind = 1;
	while ((ch = ctl_getopt(co, argc, argv, "o:Tf:b:t:qh", longopts)) !=
	    -1) {
		switch (ch) {
		case 'F':
			if (choice("--format", optarg, "jsonl", "csv",
				&o->format_csv) != 0)
				return 2;
			break;
		case 'R':
			if (choice("--rows", optarg, "job", "candidate",
				&o->per_candidate) != 0)
				return 2;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'J':
			o->jobs_file = optarg;
			break;
		case 'K':
			o->jobs_topic = 1;
			break;
		case 'T':
			o->from_topic = 1;
			break;
		case 'h':
			export_usage(stdout);
			return 0;
		default:
			export_usage(stderr);
			return 2;
		}
	}
	if (o->jobs_file != NULL && o->jobs_topic) {
		fprintf(stderr, WHO ": --jobs and --jobs-topic exclude each "
				"other\n");
		return 2;
	}
	if (o->from_topic && optind < argc) {
		fprintf(stderr, WHO ": -T reads the topic: no FILE with it\n");
		return 2;
	}
	return -1;
}

/* Read the results and the jobs; returns 0, 1 or 2 (config). */
static int
export_read(struct export *ex, const struct exp_opts *o,
    const struct ctl_common *co, int nfiles, char **paths)
{
	static volatile sig_atomic_t never;
	struct conf *conf = NULL;
	char err[512];
	int status = 0;

	if ((o->from_topic || o->jobs_topic) &&
	    (conf = ctl_load_conf(co, 1)) == NULL)
		return 2;
	progress_init(&ex->prog, "results", 0, !co->quiet);
	if (o->from_topic) {
		if (ctl_topic_read(conf,
			co->topic ? co->topic : conf->results_topic, 0, 0,
			&never, export_msg, ex, err, sizeof(err)) == -1) {
			fprintf(stderr, WHO ": %s\n", err);
			status = 1;
		}
	} else {
		for (int i = 0; i < (nfiles ? nfiles : 1); i++)
			if (export_file(ex, nfiles ? paths[i] : NULL, i) != 0)
				status = 1;
	}
	export_progress(ex, 1);
	progress_end(&ex->prog);
	if (status == 0 && (o->jobs_file != NULL || o->jobs_topic)) {
		ex->jobs = json_object();
		if (o->jobs_file != NULL) {
			if (export_jobs_file(ex, o->jobs_file) != 0)
				status = 1;
		} else if (ctl_topic_read(conf, conf->jobs_topic, 0, 0, &never,
			       export_job_msg, ex, err, sizeof(err)) == -1) {
			fprintf(stderr, WHO ": jobs: %s\n", err);
			status = 1;
		}
	}
	conf_free(conf);
	return status;
}

int
ctl_export(int argc, char **argv)
{
	struct ctl_common co = {0};
	struct exp_opts o = {0, 0, NULL, NULL, 0, 0};
	struct export ex;
	size_t joined = 0;
	long rows = 0;
	int status;

	if ((status = export_args(argc, argv, &co, &o)) != -1)
		return status;
	memset(&ex, 0, sizeof(ex));
	ex.index = json_object();
	status = export_read(&ex, &o, &co, argc - optind, argv + optind);
	if (status == 0 && (rows = export_write(&ex, &o, &joined)) < 0)
		status = 1;
	if (ex.bad > 0)
		fprintf(stderr, WHO ": %zu input(s) were not results; skipped\n",
		    ex.bad);
	if (ex.jobs_bad > 0)
		fprintf(stderr, WHO ": %zu job(s) were not valid; not joined\n",
		    ex.jobs_bad);
	if (status == 0 && !co.quiet) {
		fprintf(stderr,
		    WHO ": %ld row(s) of %zu job(s) written to %s; %zu "
		    "result(s) read, %zu duplicate(s) dropped\n",
		    rows, ex.nents, o.out ? o.out : "standard output", ex.read,
		    ex.dropped);
		if (ex.jobs != NULL)
			fprintf(stderr,
			    WHO ": %zu of %zu job(s) found among the jobs "
			    "(%zu read)\n",
			    joined, ex.nents, ex.jobs_read);
	}
	for (size_t i = 0; i < ex.nents; i++)
		json_decref(ex.ents[i].res);
	free(ex.ents);
	json_decref(ex.index);
	json_decref(ex.jobs);
	return status;
}
