/*
 * loop: epoll and a binary heap of timers.
 *
 * An io removed during dispatch is only marked dead and freed once the
 * current batch of epoll events has been handled, because a later event
 * of the same batch may still point at it.
 *
 * It dispatches and knows no module: every fd and timer is a callback
 * of its owner. Nothing may block inside a callback.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "xmalloc.h"

#define LOOP_MAX_EVENTS 64

struct loop_io {
	struct loop *loop;
	int fd;
	int dead;
	loop_io_cb cb;
	void *arg;
	struct loop_io *next_dead;
};

struct loop_timer {
	struct loop *loop;
	loop_timer_cb cb;
	void *arg;
	uint64_t due;
	size_t slot; /* index in the heap, or SIZE_MAX when not armed */
};

struct loop {
	int epfd;
	uint64_t now;
	struct loop_timer **heap;
	size_t nheap;
	size_t capheap;
	struct loop_io *dead;
};

uint64_t
loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *
loop_new(void)
{
	struct loop *l;

	l = xcalloc(1, sizeof(*l));
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		free(l);
		return NULL;
	}
	l->now = loop_clock_ms();
	return l;
}

static void
loop_reap(struct loop *l)
{
	struct loop_io *io;

	while ((io = l->dead) != NULL) {
		l->dead = io->next_dead;
		free(io);
	}
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	loop_reap(l);
	close(l->epfd);
	free(l->heap);
	free(l);
}

uint64_t
loop_now(struct loop *l)
{
	return l->now;
}

struct loop_io *
loop_io_add(struct loop *l, int fd, uint32_t events, loop_io_cb cb, void *arg)
{
	struct epoll_event ev;
	struct loop_io *io;

	io = xcalloc(1, sizeof(*io));
	io->loop = l;
	io->fd = fd;
	io->cb = cb;
	io->arg = arg;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = io;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
		free(io);
		return NULL;
	}
	return io;
}

int
loop_io_mod(struct loop_io *io, uint32_t events)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = io;
	return epoll_ctl(io->loop->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

void
loop_io_del(struct loop_io *io)
{
	if (io == NULL || io->dead)
		return;
	/* The fd may already be closed (curl closes before telling us). */
	(void)epoll_ctl(io->loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = 1;
	io->next_dead = io->loop->dead;
	io->loop->dead = io;
}

/* ---- timers: a binary min-heap on due time ---- */

static void
heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->slot = a;
	l->heap[b]->slot = b;
}

static void
heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (l->heap[p]->due <= l->heap[i]->due)
			break;
		heap_swap(l, p, i);
		i = p;
	}
}

static void
heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->nheap && l->heap[c]->due < l->heap[m]->due)
			m = c;
		if (c + 1 < l->nheap && l->heap[c + 1]->due < l->heap[m]->due)
			m = c + 1;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

struct loop_timer *
loop_timer_new(struct loop *l, loop_timer_cb cb, void *arg)
{
	struct loop_timer *t;

	t = xcalloc(1, sizeof(*t));
	t->loop = l;
	t->cb = cb;
	t->arg = arg;
	t->slot = SIZE_MAX;
	return t;
}

void
loop_timer_stop(struct loop_timer *t)
{
	struct loop_timer *moved;
	struct loop *l;
	size_t i;

	if (t == NULL || t->slot == SIZE_MAX)
		return;
	l = t->loop;
	i = t->slot;
	t->slot = SIZE_MAX;
	l->nheap--;
	if (i == l->nheap)
		return;
	moved = l->heap[l->nheap];
	l->heap[i] = moved;
	moved->slot = i;
	heap_up(l, i);
	heap_down(l, moved->slot);
}

void
loop_timer_set(struct loop_timer *t, uint64_t ms)
{
	struct loop *l = t->loop;

	loop_timer_stop(t);
	t->due = loop_clock_ms() + ms;
	if (l->nheap == l->capheap) {
		l->capheap = l->capheap ? l->capheap * 2 : 64;
		l->heap = xreallocarray(l->heap, l->capheap, sizeof(*l->heap));
	}
	t->slot = l->nheap;
	l->heap[l->nheap++] = t;
	heap_up(l, t->slot);
}

int
loop_timer_armed(const struct loop_timer *t)
{
	return t->slot != SIZE_MAX;
}

void
loop_timer_free(struct loop_timer *t)
{
	if (t == NULL)
		return;
	loop_timer_stop(t);
	free(t);
}

static void
loop_fire_timers(struct loop *l)
{
	l->now = loop_clock_ms();
	while (l->nheap > 0 && l->heap[0]->due <= l->now) {
		struct loop_timer *t = l->heap[0];

		loop_timer_stop(t);
		t->cb(t->arg); /* may re-arm or free t */
	}
}

int
loop_run_once(struct loop *l, int max_wait_ms)
{
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, wait = max_wait_ms;

	l->now = loop_clock_ms();
	if (l->nheap > 0) {
		uint64_t due = l->heap[0]->due;
		int until = due <= l->now
		    ? 0
		    : (due - l->now > 3600000 ? 3600000 : (int)(due - l->now));

		if (wait < 0 || until < wait)
			wait = until;
	}
	n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, wait);
	if (n == -1) {
		if (errno == EINTR)
			return 0;
		return -1;
	}
	l->now = loop_clock_ms();
	for (int i = 0; i < n; i++) {
		struct loop_io *io = evs[i].data.ptr;

		if (!io->dead)
			io->cb(io->fd, evs[i].events, io->arg);
	}
	loop_reap(l);
	loop_fire_timers(l);
	loop_reap(l);
	return 0;
}
