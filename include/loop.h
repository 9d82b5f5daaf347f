/*
 * loop: the one event loop of vsampd. epoll over file descriptors (curl's
 * sockets, librdkafka's queue event pipes, the signalfd, the HTTP
 * endpoint) and a heap of one-shot millisecond timers. Single-threaded.
 */
#ifndef VSAMPD_LOOP_H
#define VSAMPD_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_io;
struct loop_timer;

typedef void (*loop_io_cb)(int fd, uint32_t events, void *arg);
typedef void (*loop_timer_cb)(void *arg);

struct loop *loop_new(void);
/* Frees the loop; every io and timer must have been removed first. */
void loop_free(struct loop *l);

/* Watch fd for EPOLLIN/EPOLLOUT; returns a handle, or NULL with errno. */
struct loop_io *loop_io_add(
    struct loop *l, int fd, uint32_t events, loop_io_cb cb, void *arg);
int loop_io_mod(struct loop_io *io, uint32_t events);
/* Stop watching; safe to call from inside any callback. NULL is a no-op. */
void loop_io_del(struct loop_io *io);

struct loop_timer *loop_timer_new(struct loop *l, loop_timer_cb cb, void *arg);
/* (Re)arm to fire once, ms from now. */
void loop_timer_set(struct loop_timer *t, uint64_t ms);
void loop_timer_stop(struct loop_timer *t);
int loop_timer_armed(const struct loop_timer *t);
/* Stop and free; NULL is a no-op. */
void loop_timer_free(struct loop_timer *t);

/* Monotonic milliseconds (CLOCK_MONOTONIC), cached per iteration. */
uint64_t loop_now(struct loop *l);
/* Milliseconds since some fixed point, uncached. */
uint64_t loop_clock_ms(void);

/*
 * Wait for events (at most max_wait_ms, -1 for no limit besides timers)
 * and dispatch them, then fire due timers. Returns 0, or -1 on an epoll
 * error other than EINTR.
 */
int loop_run_once(struct loop *l, int max_wait_ms);

#endif
