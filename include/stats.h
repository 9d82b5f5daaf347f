/*
 * stats: vsampd's own metric set (docs/metrics.md) on top of
 * the metrics registry. It declares every family with its help text and
 * buckets, creates the series of every known label value at 0, and
 * turns what happened (a result, an HTTP attempt, a paused partition)
 * into counts. Every function accepts a NULL stats and then does
 * nothing, so that the pipeline runs the same without an endpoint
 * (vsampctl run). docs/metrics.md lists the families.
 * Leaf module: no I/O.
 */
#ifndef VSAMPD_STATS_H
#define VSAMPD_STATS_H

#include <stddef.h>

#include "metrics.h"
#include "result.h"

struct stats;

/* A new metric set; version goes to vsampd_build_info. */
struct stats *stats_new(const char *version);
void stats_free(struct stats *st);
struct metrics *stats_metrics(struct stats *st);

/* Create the request, latency, limit and breaker series of backend name
 * at 0, with its current concurrency limit (idempotent: a reload calls
 * it again). */
void stats_backend(struct stats *st, const char *name, int limit);

/*
 * Make model, the model of chat profile backend, known: the job,
 * candidate, duplicate and diversity series of every method with it, and
 * backend's token and parse-failure series, exist from now on at 0.
 * Idempotent; a reload calls it for each profile again. A model stays
 * known until stats_free() (its series stay too). A model never made
 * known counts as "other".
 */
void stats_model(struct stats *st, const char *backend, const char *model);

/* Create the cost series of backend, a priced profile, at 0
 * (idempotent: a reload calls it again for each priced profile). */
void stats_cost_backend(struct stats *st, const char *backend);
/* One reply of backend cost this much (cost.h): added to its series. A
 * counter is counted as replies come, so it holds what was spent even
 * on jobs whose result is never produced. */
void stats_cost(struct stats *st, const char *backend, double cost);

/* A result handed to the producer: jobs, errors by code, duration,
 * candidates, duplicates, diversity and tokens of its backend, by the
 * result's method and model ("none" for NULL, "other" when unknown). */
void stats_job_done(struct stats *st, const struct result *r);

/*
 * One HTTP attempt of a backend: code is the HTTP status ("200"), or
 * "timeout", "connect" or "tls"; seconds its duration.
 */
void stats_backend_request(
    struct stats *st, const char *backend, const char *code, double seconds);
/* A backend's concurrency limit and whether its breaker is open. */
void stats_backend_state(
    struct stats *st, const char *backend, int limit, int circuit_open);
/* A reply of backend that did not parse, on a call of a job of method
 * for model (labelled as for stats_job_done()). */
void stats_parse_failure(struct stats *st, const char *backend,
    const char *method, const char *model);
/* A job whose embeddings request failed. */
void stats_embedding_failure(struct stats *st);
/* A DLQ copy produced for an error of this code. */
void stats_dlq(struct stats *st, enum err_code code);
/* Create the delivery-failure series of topic at 0. */
void stats_delivery_failure_topic(struct stats *st, const char *topic);
/* A message to topic that failed delivery for good. */
void stats_delivery_failure(struct stats *st, const char *topic);
/* A configuration reload: ok != 0 when applied. */
void stats_reload(struct stats *st, int ok);

/* Gauges, set by the daemon when they change or before a scrape. */
void stats_set_inflight(struct stats *st, size_t n);
void stats_set_partitions(struct stats *st, size_t assigned, size_t paused);
void stats_set_scope_entries(struct stats *st, size_t n);
/* The dedup changelog (daemon_scope.c): partitions restoring now,
 * records read to restore, and records produced. */
void stats_set_restoring(struct stats *st, size_t n);
void stats_restore_records(struct stats *st, uint64_t n);
void stats_changelog(struct stats *st, uint64_t entries, uint64_t tombstones);
void stats_set_heartbeat_age(struct stats *st, double seconds);
/* Messages held back by a topic that refuses writes (daemon_produce.c). */
void stats_set_results_blocked(struct stats *st, size_t n);

/* Append the exposition of every family to out. */
void stats_render(struct stats *st, struct buf *out);

#endif
