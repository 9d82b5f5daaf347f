/*
 * pipeline_int.h: what the files of the pipeline share, and no one else.
 *
 *   pipeline.c        jobs and their lifecycle: config generations,
 *                     decoding, planning, picking a backend, timeouts
 *   pipeline_call.c   one call (or turn) of a job: its request body,
 *                     the backend's reply, parsing it, asking again
 *   pipeline_score.c  once the calls have ended: embeddings, dedup in
 *                     the job and in its scope, diversity, selection,
 *                     on the worker thread when the set is heavy
 *
 * Everything here runs on the loop's thread, except the work functions
 * handed to offload.c, which touch only what their task owns.
 */
#ifndef VSAMPD_PIPELINE_INT_H
#define VSAMPD_PIPELINE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "chat.h"
#include "cost.h"
#include "pipeline.h"
#include "prompt.h"
#include "reply.h"
#include "result.h"

struct backend;
struct backend_req;
struct backend_shared;
struct blob;
struct conf;
struct job;
struct loop;
struct loop_timer;
struct offload;
struct offload_task;
struct scope;
struct stats;

struct pjob;

/*
 * A generation: one config and the backends made from it. A reload makes
 * a new one; jobs keep the generation they started with, and a retired
 * generation is freed (with its config, when the pipeline owns it) once
 * its last job ends. So a job never sees its backend or profile change
 * under it, and no request is dropped by a reload.
 */
struct pgen {
	const struct conf *conf;
	struct conf *owned; /* freed with the generation, or NULL */
	struct backend **backends; /* parallel to conf->backends */
	size_t nbackends;
	struct backend *embed; /* the embeddings profile, or NULL */
	size_t refs; /* jobs started on it */
	TAILQ_ENTRY(pgen) entry;
};

TAILQ_HEAD(pgens, pgen);

struct pcall {
	struct pjob *job;
	int idx;
	int asked; /* candidates asked in the text of each choice */
	int choices; /* choices planned (n, docs/backends.md): 1 but for
		      * direct, direct_cot and ssot on a profile with
		      * supports_n */
	int sent_choices; /* what its last request asked of its backend */
	int tries; /* content-level tries (parse failures) */
	unsigned attempts; /* HTTP attempts over all tries: one budget */
	struct backend *be; /* where this call was sent */
	struct backend_req *req;
	struct offload_task *ptask; /* its candidates parsed off the loop */
	int ok;
	struct reply reply;
	char *finish_reason; /* the backend's, for the reply taken */
	char **item_finish; /* a reply of several choices: the finish
			     * reason of each item of reply (entries NULL
			     * for nil), owned; NULL: finish_reason */
};

struct pjob {
	struct pipeline *p;
	struct pgen *gen; /* the generation the job started on */
	char *tag; /* "job ID topic T partition P offset O", for logs */
	void *token;
	struct job *job;
	struct result *res;
	struct backend *be; /* the backend of the calls now */
	struct backend *primary; /* the job's own (fallbacks are its) */
	struct prompt_params pp;
	struct chat_params op;
	enum reply_kind kind;
	int ncalls;
	int nplanned; /* calls planned, each choice of a call one */
	int conversation;
	struct pcall *calls;
	int next_call; /* independent calls: the next one not yet started */
	int window; /* independent calls started at most at once */
	double *probs; /* the candidates' probabilities, once gathered */
	struct offload_task *task; /* scoring on the worker thread */
	struct blob *body; /* the last request body rendered, shared by */
	int body_asked; /* the calls that ask this many ... */
	int body_choices; /* ... in this many choices ... */
	struct backend *body_be; /* ... of this backend */
	int outstanding;
	int nok;
	int nfailed;
	enum err_code last_code;
	char last_err[320];
	struct cost cost; /* of its replies so far: usage.cost */
	struct chat chat; /* the conversation so far (conversations) */
	struct backend_req *embed_req;
	struct loop_timer *timeout;
	uint64_t started;
	struct scope *scope; /* its dedup index: the front door's, or p's */
	struct scope_journal *journal; /* NULL: what it changes is not kept */
	TAILQ_ENTRY(pjob) entry;
};

TAILQ_HEAD(pjobs, pjob);

struct pipeline {
	struct loop *loop;
	struct pgen *cur; /* new jobs start here */
	struct pgens retired; /* older generations with jobs left */
	struct loop_timer *reap; /* frees unused retired generations */
	struct backend_shared *shared; /* what the backends share */
	pipeline_done_cb cb;
	void *arg;
	struct scope *scope; /* the dedup_scope index */
	struct offload *off; /* the worker thread, or NULL (all inline) */
	uint64_t embed_failures;
	struct stats *st; /* borrowed; NULL: not counted */
	struct pjobs jobs;
	size_t njobs;
};

/* pipeline.c */
void pjob_finish(struct pjob *j);
void pjob_fail(struct pjob *j, enum err_code code, const char *msg);
void pjob_use_backend(struct pjob *j, struct backend *be);
void pjob_add_cost(
    struct pjob *j, const struct backend *be, const struct chat_reply *rep);
struct backend *pjob_pick_backend(struct pjob *j, int *more);
int pjob_chunk(const struct backend *be);

/* pipeline_call.c */
void pcall_start(struct pcall *c);
void pcall_free_item_finish(struct pcall *c);

/* pipeline_score.c */
void pjob_complete(struct pjob *j);

#endif
