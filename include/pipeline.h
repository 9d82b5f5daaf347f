/*
 * pipeline: the core of vsampd, job bytes in, result out. It decodes and
 * validates a job, plans its calls, renders prompts, asks the backends
 * for chat completions, parses the candidates out of the replies,
 * normalises probabilities, selects, and hands back a struct result. It
 * knows nothing of Kafka: the daemon feeds it from Kafka, `vsampctl run`
 * from JSON lines. One pipeline, two front doors. Nor does it know the
 * backends' wire dialects: a backend takes and gives chat.h's terms.
 */
#ifndef VSAMPD_PIPELINE_H
#define VSAMPD_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "result.h"

struct loop;
struct conf;
struct pipeline;
struct scope;

struct scope_journal;

/*
 * Where a job came from, copied into the result's `source`, and which
 * dedup index it uses: the front door may keep one index per partition
 * (docs/dedup.md, the changelog) and a log of what each job changes.
 */
struct pipeline_src {
	const char *topic; /* NULL: no source */
	int32_t partition;
	int64_t offset;
	/* The index of the job's dedup_scope, borrowed until the job ends
	 * or is cancelled; NULL: the pipeline's own. */
	struct scope *scope;
	/* Filled with what the job inserts into and evicts from that
	 * index, borrowed like scope; NULL: not kept. */
	struct scope_journal *journal;
};

/*
 * Called once per submitted job with its result; ownership of r passes to
 * the callee. May be called from inside pipeline_submit (a job that fails
 * to decode or validate gets its result at once).
 */
typedef void (*pipeline_done_cb)(void *arg, void *token, struct result *r);

/* conf is borrowed and must outlive the pipeline (or be swapped with
 * pipeline_set_conf()). Returns NULL with errstr on a bad backend profile. */
struct pipeline *pipeline_new(struct loop *loop, const struct conf *conf,
    pipeline_done_cb cb, void *arg, char *errstr, size_t errlen);
/* Drops every job in flight without callbacks. NULL is a no-op. */
void pipeline_free(struct pipeline *p);

/*
 * Start new jobs on conf (borrowed, like pipeline_new()'s) with backends
 * made from it; jobs in flight finish on the config they started with.
 * Takes ownership of old, the config being replaced, and frees it once
 * no job uses it (NULL: the caller keeps it alive). The dedup index stays
 * as it is (its capacity needs a restart). Returns 0, or -1 with errstr
 * when a profile of conf cannot be used; then nothing changed and old is
 * still the caller's.
 */
int pipeline_set_conf(struct pipeline *p, const struct conf *conf,
    struct conf *old, char *errstr, size_t errlen);

/* Start a job from its encoded bytes (copied as needed). token is handed
 * back with the result. Returns the job's handle for pipeline_cancel, or
 * NULL when the job has already ended (its callback has run, e.g. a bad
 * job): then nothing about token may be touched that the callback freed. */
struct pjob;
struct pjob *pipeline_submit(struct pipeline *p, const void *buf, size_t len,
    const struct pipeline_src *src, void *token);

/* Drop a job still running, without a callback (its partition was
 * revoked): O(1). NULL is a no-op. */
void pipeline_cancel(struct pipeline *p, struct pjob *job);

/* The worker thread (for work that must not stall the loop), or NULL. */
struct offload;
struct offload *pipeline_offload(struct pipeline *p);

/* The cross-job dedup index (for loading and saving its state file). */
struct scope *pipeline_scope(struct pipeline *p);
/* Count backend requests, parse and embedding failures in st (borrowed,
 * must outlive p; NULL stops counting). */
struct stats;
void pipeline_set_stats(struct pipeline *p, struct stats *st);
/* Jobs whose embeddings request failed (semantic diversity left nil). */
uint64_t pipeline_embed_failures(const struct pipeline *p);

/* Jobs submitted and not yet answered. */
size_t pipeline_inflight(const struct pipeline *p);

#endif
