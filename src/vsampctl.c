/*
 * vsampctl: the companion tool of vsampd for people (vsampctl(1)):
 * submit JSON-lines jobs to the jobs topic, tail results as JSON
 * lines, run jobs with no Kafka at all through the daemon's own
 * pipeline, report on the diversity of a results file or topic, and
 * export results as a dataset; replay failed jobs from the DLQ.
 * This file holds main() and nothing else: it dispatches to the
 * subcommands (ctl_run.c, ctl_kafka.c, ctl_report.c, ctl_export.c,
 * ctl_replay.c, ctl_eval.c),
 * which share ctl.c; none of them calls back into it.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "conf.h"
#include "ctl.h"
#include "log.h"

static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: vsampctl [-V] COMMAND [options] [args]\n"
	    "\n"
	    "commands:\n"
	    "  run     run JSON-lines jobs through the pipeline, no Kafka:\n"
	    "          results as JSON lines (vsampctl run --help)\n"
	    "  submit  produce JSON-lines jobs to the jobs topic\n"
	    "  tail    print results from the results topic as JSON lines\n"
	    "  report  a diversity table and an SVG chart per method, from\n"
	    "          a results file or topic\n"
	    "  export  results as a dataset, JSON lines or CSV, one row per\n"
	    "          job or per candidate, from a results file or topic\n"
	    "  replay  produce the DLQ copies of failed jobs back to the\n"
	    "          jobs topic (vsampctl replay --help)\n"
	    "  eval    compare sampling methods over a prompt file: results,\n"
	    "          a report and an SVG (vsampctl eval --help)\n"
	    "\n"
	    "Each command takes -f FILE (the vsampd config, default %s)\n"
	    "and --help. See vsampctl(1).\n",
	    CONF_DEFAULT_PATH);
}

/* ---- main ---- */

int
main(int argc, char *argv[])
{
	const char *cmd;
	int rc;

	log_init("vsampctl", LOG_LVL_WARNING);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("vsampctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "vsampctl: cannot initialise libcurl\n");
		return 1;
	}
	if (strcmp(cmd, "run") == 0)
		rc = ctl_run(argc - 1, argv + 1);
	else if (strcmp(cmd, "submit") == 0)
		rc = ctl_submit(argc - 1, argv + 1);
	else if (strcmp(cmd, "tail") == 0)
		rc = ctl_tail(argc - 1, argv + 1);
	else if (strcmp(cmd, "report") == 0)
		rc = ctl_report(argc - 1, argv + 1);
	else if (strcmp(cmd, "export") == 0)
		rc = ctl_export(argc - 1, argv + 1);
	else if (strcmp(cmd, "replay") == 0)
		rc = ctl_replay(argc - 1, argv + 1);
	else if (strcmp(cmd, "eval") == 0)
		rc = ctl_eval(argc - 1, argv + 1);
	else {
		fprintf(stderr, "vsampctl: unknown command \"%s\"\n\n", cmd);
		usage(stderr);
		rc = 2;
	}
	curl_global_cleanup();
	return rc;
}
