/*
 * offload: one worker thread for pure CPU work that would stall the event
 * loop (scoring the candidates of a very large job, the state file's
 * fsync), each task handed back to the loop when it is done.
 *
 * A task's work function runs on the worker thread and may touch only
 * what the task owns: copies of its inputs, room for its outputs, never
 * the pipeline's or the daemon's state. Its done function runs on the
 * loop thread afterwards, always exactly once, with cancelled set when
 * offload_cancel() came first: the owner frees the task's memory there
 * and uses its outputs only when not cancelled.
 */
#ifndef VSAMPD_OFFLOAD_H
#define VSAMPD_OFFLOAD_H

#include <stddef.h>

struct loop;
struct offload;
struct offload_task;

typedef void (*offload_work_fn)(void *arg);
typedef void (*offload_done_fn)(void *arg, int cancelled);

/* The worker thread, waking loop through an eventfd. NULL with errno when
 * the thread or the eventfd cannot be made. */
struct offload *offload_new(struct loop *loop);
/*
 * Cancel what is queued, wait for the task that runs (if any), call every
 * done function still due, stop the thread and free. NULL is a no-op.
 */
void offload_free(struct offload *o);

/* Queue work(arg), then done(arg, cancelled) on the loop. Returns the
 * task, valid until its done function has been called. */
struct offload_task *offload_submit(
    struct offload *o, offload_work_fn work, offload_done_fn done, void *arg);
/* Its outputs are no longer wanted: done is still called, with cancelled
 * set (at once, from the loop, when the task had not started). */
void offload_cancel(struct offload_task *t);
/* Block until nothing is queued or running, then call the done functions
 * due (for a stop, when waiting is what is wanted). */
void offload_wait(struct offload *o);
/* Tasks queued, running, or done and not yet handed back. */
size_t offload_pending(const struct offload *o);

#endif
