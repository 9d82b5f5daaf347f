/*
 * batchmodel: the step/queue arithmetic of a batching model server
 * (continuous batching, as vLLM does it), for fakebackend --batch.
 *
 * Up to B sequences decode together. One decoding step with b active
 * sequences takes t0 + c * b; every active sequence gains one token per
 * step, and a request is answered at the end of the step that makes its
 * reply's last token. Requests beyond B wait in a FIFO queue and join
 * the batch at a step boundary, when a sequence has finished (or at once
 * when the engine is idle). So below B in flight the latency grows
 * slowly (c per extra sequence and step), and above B the throughput is
 * B / (tokens * (t0 + c * B)) whatever the concurrency: the rest is
 * queueing. That bend is the knee that flow control has to find.
 *
 * Pure: no clock, no I/O. Times are microseconds given by the caller;
 * a request is an opaque id. Header-only, so that the fake and its test
 * (tests/unit/check_batchmodel.c) compile the same code.
 */
#ifndef VSAMPD_BATCHMODEL_H
#define VSAMPD_BATCHMODEL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BM_HIST_MS 65536 /* latency histogram: 1 ms buckets, then the last */

struct bm_req {
	uint64_t id;
	long left; /* tokens still to decode */
	uint64_t arrived_us;
};

struct bm_stats {
	uint64_t submitted, done, steps, tokens;
	uint64_t batch_sum; /* sum over steps of the batch size */
	double queue_us; /* integral of the queue length over time */
	double busy_us; /* time spent stepping */
	double latency_sum_us;
	size_t peak_queue;
	uint64_t since_us; /* the start of these figures */
	uint64_t last_us; /* the last time the integral was brought up */
	uint32_t *hist; /* BM_HIST_MS latency buckets (ms) */
};

struct bmodel {
	int B;
	double t0_us, c_us;
	struct bm_req *q; /* ring */
	size_t qhead, qlen, qcap;
	struct bm_req *act; /* B slots, the first nact used */
	int nact;
	int stepping; /* a step is under way */
	int step_b; /* its batch size */
	uint64_t step_due_us;
	struct bm_stats st;
};

/* The duration of one step with b sequences, in microseconds. */
static inline double
bm_step_us(const struct bmodel *m, int b)
{
	return m->t0_us + m->c_us * (double)b;
}

/*
 * Set m up for a batch of B (>= 1), steps of t0_ms + c_ms * b, at
 * time now_us. Returns 0, or -1 when out of memory.
 */
static inline int
bm_init(struct bmodel *m, int B, double t0_ms, double c_ms, uint64_t now_us)
{
	memset(m, 0, sizeof(*m));
	m->B = B < 1 ? 1 : B;
	m->t0_us = t0_ms * 1000.0;
	m->c_us = c_ms * 1000.0;
	m->act = calloc((size_t)m->B, sizeof(*m->act));
	m->st.hist = calloc(BM_HIST_MS, sizeof(*m->st.hist));
	if (m->act == NULL || m->st.hist == NULL) {
		free(m->act);
		free(m->st.hist);
		return -1;
	}
	m->st.since_us = m->st.last_us = now_us;
	return 0;
}

static inline void
bm_free(struct bmodel *m)
{
	free(m->q);
	free(m->act);
	free(m->st.hist);
	m->q = m->act = NULL;
	m->st.hist = NULL;
}

/* Bring the queue-length integral up to now_us. */
static inline void
bm_account(struct bmodel *m, uint64_t now_us)
{
	if (now_us > m->st.last_us)
		m->st.queue_us +=
		    (double)m->qlen * (double)(now_us - m->st.last_us);
	m->st.last_us = now_us;
}

/* Clear the figures (not the queue or the batch) from now_us on. */
static inline void
bm_stats_reset(struct bmodel *m, uint64_t now_us)
{
	uint32_t *h = m->st.hist;

	memset(&m->st, 0, sizeof(m->st));
	memset(h, 0, BM_HIST_MS * sizeof(*h));
	m->st.hist = h;
	m->st.since_us = m->st.last_us = now_us;
	m->st.peak_queue = m->qlen;
}

/* Move queued requests into free batch slots; start a step if any. */
static inline void
bm_admit_and_step(struct bmodel *m, uint64_t now_us)
{
	bm_account(m, now_us);
	while (m->nact < m->B && m->qlen > 0) {
		m->act[m->nact++] = m->q[m->qhead];
		m->qhead = (m->qhead + 1) % m->qcap;
		m->qlen--;
	}
	if (m->nact == 0) {
		m->stepping = 0;
		return;
	}
	m->stepping = 1;
	m->step_b = m->nact;
	m->step_due_us = now_us + (uint64_t)(bm_step_us(m, m->nact) + 0.5);
}

/*
 * A request id arrives at now_us needing tokens (>= 1) decoded. It waits
 * in the queue for the next step boundary, or starts a step at once when
 * the engine is idle. Returns 1 when a step started (the caller arms a
 * timer for bm_due()), 0 when it queued, -1 when out of memory.
 */
static inline int
bm_submit(struct bmodel *m, uint64_t now_us, uint64_t id, long tokens)
{
	struct bm_req r = {id, tokens < 1 ? 1 : tokens, now_us};

	bm_account(m, now_us);
	if (m->qlen == m->qcap) {
		size_t ncap = m->qcap ? m->qcap * 2 : 64;
		struct bm_req *nq = malloc(ncap * sizeof(*nq));
		if (nq == NULL)
			return -1;
		for (size_t i = 0; i < m->qlen; i++)
			nq[i] = m->q[(m->qhead + i) % m->qcap];
		free(m->q);
		m->q = nq;
		m->qhead = 0;
		m->qcap = ncap;
	}
	m->q[(m->qhead + m->qlen) % m->qcap] = r;
	m->qlen++;
	m->st.submitted++;
	if (!m->stepping) {
		bm_admit_and_step(m, now_us);
		return 1;
	}
	if (m->qlen > m->st.peak_queue)
		m->st.peak_queue = m->qlen;
	return 0;
}

/* When the step under way ends; 0 when idle. */
static inline uint64_t
bm_due(const struct bmodel *m)
{
	return m->stepping ? m->step_due_us : 0;
}

/*
 * The step under way ends at now_us (>= bm_due()): every active
 * sequence gains a token; those complete are removed and their ids
 * written to done (room for B); the queue fills the free slots and the
 * next step starts if anything is left. Returns how many completed.
 */
static inline int
bm_step_end(struct bmodel *m, uint64_t now_us, uint64_t *done)
{
	int n = 0, k = 0;

	if (!m->stepping)
		return 0;
	m->st.steps++;
	m->st.batch_sum += (uint64_t)m->step_b;
	m->st.tokens += (uint64_t)m->step_b;
	m->st.busy_us += bm_step_us(m, m->step_b);
	for (int i = 0; i < m->nact; i++) {
		struct bm_req *r = &m->act[i];
		if (--r->left > 0) {
			m->act[k++] = *r;
			continue;
		}
		uint64_t lat = now_us - r->arrived_us;
		uint64_t ms = lat / 1000u;
		m->st.hist[ms < BM_HIST_MS ? ms : BM_HIST_MS - 1]++;
		m->st.latency_sum_us += (double)lat;
		m->st.done++;
		done[n++] = r->id;
	}
	m->nact = k;
	bm_admit_and_step(m, now_us);
	if (m->qlen > m->st.peak_queue)
		m->st.peak_queue = m->qlen;
	return n;
}

/* The p-th percentile (0 < p <= 100) of the latencies recorded, in
 * whole ms (rounded down); 0 with none. */
static inline double
bm_latency_pct(const struct bmodel *m, double p)
{
	uint64_t want, seen = 0;

	if (m->st.done == 0)
		return 0;
	want = (uint64_t)((double)m->st.done * p / 100.0 + 0.999999);
	if (want < 1)
		want = 1;
	for (size_t i = 0; i < BM_HIST_MS; i++) {
		seen += m->st.hist[i];
		if (seen >= want)
			return (double)i;
	}
	return BM_HIST_MS;
}

/* The mean queue length from the last reset to now_us. */
static inline double
bm_mean_queue(struct bmodel *m, uint64_t now_us)
{
	bm_account(m, now_us);
	if (now_us <= m->st.since_us)
		return 0;
	return m->st.queue_us / (double)(now_us - m->st.since_us);
}

/* The mean batch size over the steps since the last reset. */
static inline double
bm_mean_batch(const struct bmodel *m)
{
	return m->st.steps ? (double)m->st.batch_sum / (double)m->st.steps : 0;
}

#endif
