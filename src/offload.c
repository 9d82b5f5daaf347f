/*
 * offload: the worker thread (include/offload.h). It owns the thread, its
 * queue and the eventfd that wakes the loop; it knows nothing of jobs,
 * Kafka or HTTP. The mutex guards the three lists and the flags; work
 * functions run without it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "offload.h"
#include "xmalloc.h"

struct offload;

struct offload_task {
	struct offload *o;
	offload_work_fn work;
	offload_done_fn done;
	void *arg;
	int cancelled;
	int queued; /* in o->queue, not started */
	TAILQ_ENTRY(offload_task) entry;
};

TAILQ_HEAD(otasks, offload_task);

struct offload {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t work; /* something queued, or stop */
	pthread_cond_t idle; /* the queue ran dry and nothing runs */
	struct otasks queue;
	struct otasks done;
	struct offload_task *running;
	size_t pending;
	int stop;
	int efd;
	struct loop_io *io;
};

static void
wake_loop(struct offload *o)
{
	uint64_t one = 1;
	ssize_t w = write(o->efd, &one, sizeof(one));

	(void)w; /* a full counter still wakes the loop */
}

static void *
worker(void *arg)
{
	struct offload *o = arg;
	struct offload_task *t;

	pthread_mutex_lock(&o->mu);
	for (;;) {
		while (!o->stop && TAILQ_EMPTY(&o->queue))
			pthread_cond_wait(&o->work, &o->mu);
		if ((t = TAILQ_FIRST(&o->queue)) == NULL)
			break; /* stop, and nothing left */
		TAILQ_REMOVE(&o->queue, t, entry);
		t->queued = 0;
		o->running = t;
		pthread_mutex_unlock(&o->mu);
		t->work(t->arg);
		pthread_mutex_lock(&o->mu);
		o->running = NULL;
		TAILQ_INSERT_TAIL(&o->done, t, entry);
		if (TAILQ_EMPTY(&o->queue))
			pthread_cond_broadcast(&o->idle);
		wake_loop(o);
	}
	pthread_mutex_unlock(&o->mu);
	return NULL;
}

/* Hand back what is done, on the loop thread. */
static void
deliver(struct offload *o)
{
	struct otasks ready;
	struct offload_task *t;

	TAILQ_INIT(&ready);
	pthread_mutex_lock(&o->mu);
	TAILQ_CONCAT(&ready, &o->done, entry);
	pthread_mutex_unlock(&o->mu);
	while ((t = TAILQ_FIRST(&ready)) != NULL) {
		TAILQ_REMOVE(&ready, t, entry);
		o->pending--;
		t->done(t->arg, t->cancelled);
		free(t);
	}
}

static void
on_event(int fd, uint32_t events, void *arg)
{
	uint64_t n;

	(void)events;
	while (read(fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
	deliver(arg);
}

struct offload *
offload_new(struct loop *loop)
{
	struct offload *o = xcalloc(1, sizeof(*o));
	sigset_t all, old;
	int err;

	TAILQ_INIT(&o->queue);
	TAILQ_INIT(&o->done);
	pthread_mutex_init(&o->mu, NULL);
	pthread_cond_init(&o->work, NULL);
	pthread_cond_init(&o->idle, NULL);
	o->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->efd == -1)
		goto fail;
	if ((o->io = loop_io_add(loop, o->efd, EPOLLIN, on_event, o)) == NULL)
		goto fail;
	/* No signal for the worker: they are the loop's (its signalfd), and
	 * one delivered here would take its default action. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&o->th, NULL, worker, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		errno = err;
		goto fail;
	}
	return o;
fail:
	err = errno;
	loop_io_del(o->io);
	if (o->efd != -1)
		close(o->efd);
	pthread_cond_destroy(&o->idle);
	pthread_cond_destroy(&o->work);
	pthread_mutex_destroy(&o->mu);
	free(o);
	errno = err;
	return NULL;
}

void
offload_free(struct offload *o)
{
	struct offload_task *t;

	if (o == NULL)
		return;
	pthread_mutex_lock(&o->mu);
	while ((t = TAILQ_FIRST(&o->queue)) != NULL) {
		TAILQ_REMOVE(&o->queue, t, entry);
		t->queued = 0;
		t->cancelled = 1;
		TAILQ_INSERT_TAIL(&o->done, t, entry);
	}
	o->stop = 1;
	pthread_cond_broadcast(&o->work);
	pthread_mutex_unlock(&o->mu);
	pthread_join(o->th, NULL);
	deliver(o);
	loop_io_del(o->io);
	close(o->efd);
	pthread_cond_destroy(&o->idle);
	pthread_cond_destroy(&o->work);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

struct offload_task *
offload_submit(
    struct offload *o, offload_work_fn work, offload_done_fn done, void *arg)
{
	struct offload_task *t = xcalloc(1, sizeof(*t));

	t->o = o;
	t->work = work;
	t->done = done;
	t->arg = arg;
	t->queued = 1;
	o->pending++;
	pthread_mutex_lock(&o->mu);
	TAILQ_INSERT_TAIL(&o->queue, t, entry);
	pthread_cond_signal(&o->work);
	pthread_mutex_unlock(&o->mu);
	return t;
}

void
offload_cancel(struct offload_task *t)
{
	struct offload *o;

	if (t == NULL)
		return;
	o = t->o;
	/* Read only by deliver(), on this (the loop's) thread. */
	t->cancelled = 1;
	pthread_mutex_lock(&o->mu);
	if (t->queued) {
		/* Not started: it never will be. */
		TAILQ_REMOVE(&o->queue, t, entry);
		t->queued = 0;
		TAILQ_INSERT_TAIL(&o->done, t, entry);
		wake_loop(o);
	}
	pthread_mutex_unlock(&o->mu);
}

void
offload_wait(struct offload *o)
{
	pthread_mutex_lock(&o->mu);
	while (!TAILQ_EMPTY(&o->queue) || o->running != NULL)
		pthread_cond_wait(&o->idle, &o->mu);
	pthread_mutex_unlock(&o->mu);
	deliver(o);
}

size_t
offload_pending(const struct offload *o)
{
	return o->pending;
}
