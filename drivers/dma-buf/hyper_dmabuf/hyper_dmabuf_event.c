// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: bounded per-file event queue
 *
 * Events are copied into the queue, so a reader never sees memory of a
 * buffer that may have been freed meanwhile.  When the queue is full new
 * events are dropped and counted; the next read returns an overflow event
 * carrying the count before any further event, so loss is never silent.
 * A reader copies the oldest event out and only then consumes it, so an
 * event that could not be copied is still there for the next read.
 */
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/wait.h>

#include "hyper_dmabuf_drv.h"

/**
 * hyper_dmabuf_evq_init() - initialise an empty event queue
 * @q: queue
 */
void hyper_dmabuf_evq_init(struct hyper_dmabuf_evq *q)
{
	mutex_init(&q->read_lock);
	spin_lock_init(&q->lock);
	init_waitqueue_head(&q->wait);
	q->head = 0;
	q->count = 0;
	q->lost = 0;
}

static void hyper_dmabuf_evq_add(struct hyper_dmabuf_evq *q,
				 const struct hyper_dmabuf_event *ev)
{
	unsigned int tail;

	tail = (q->head + q->count) % HYPER_DMABUF_EVENT_QUEUE_LEN;
	q->ev[tail] = *ev;
	q->count++;
}

static void hyper_dmabuf_evq_add_overflow(struct hyper_dmabuf_evq *q)
{
	struct hyper_dmabuf_event ov = {
		.type = HYPER_DMABUF_EVENT_OVERFLOW,
		.lost = q->lost,
	};

	hyper_dmabuf_evq_add(q, &ov);
	q->lost = 0;
}

/**
 * hyper_dmabuf_evq_push() - queue a copy of an event and wake readers
 * @q: queue
 * @ev: event to copy
 *
 * If the queue is full the event is dropped and counted.  As soon as there
 * is room again an %HYPER_DMABUF_EVENT_OVERFLOW event with the count is
 * queued before any newer event, so the reader learns about the loss at
 * the position where it happened.
 */
void hyper_dmabuf_evq_push(struct hyper_dmabuf_evq *q,
			   const struct hyper_dmabuf_event *ev)
{
	spin_lock(&q->lock);
	if (q->lost && q->count < HYPER_DMABUF_EVENT_QUEUE_LEN)
		hyper_dmabuf_evq_add_overflow(q);
	if (q->count < HYPER_DMABUF_EVENT_QUEUE_LEN)
		hyper_dmabuf_evq_add(q, ev);
	else if (q->lost != U32_MAX)
		q->lost++;
	spin_unlock(&q->lock);
	wake_up_interruptible_poll(&q->wait, EPOLLIN | EPOLLRDNORM);
}

/**
 * hyper_dmabuf_evq_ready() - whether a read would return an event
 * @q: queue
 *
 * Return: true if an event or an overflow report is pending.
 */
bool hyper_dmabuf_evq_ready(struct hyper_dmabuf_evq *q)
{
	bool ready;

	spin_lock(&q->lock);
	ready = q->count || q->lost;
	spin_unlock(&q->lock);
	return ready;
}

/**
 * hyper_dmabuf_evq_peek() - copy the oldest event without taking it
 * @q: queue
 * @ev: filled with the event
 *
 * If events were dropped and nothing else is queued, an
 * %HYPER_DMABUF_EVENT_OVERFLOW event with the count is queued first, so
 * that it too stays until consumed.
 *
 * Context: @q->read_lock held, so that the event is still the oldest
 * when hyper_dmabuf_evq_consume() is called.
 * Return: true if @ev was filled.
 */
bool hyper_dmabuf_evq_peek(struct hyper_dmabuf_evq *q,
			   struct hyper_dmabuf_event *ev)
{
	bool ret;

	lockdep_assert_held(&q->read_lock);
	spin_lock(&q->lock);
	if (!q->count && q->lost)
		hyper_dmabuf_evq_add_overflow(q);
	ret = q->count;
	if (ret)
		*ev = q->ev[q->head];
	spin_unlock(&q->lock);
	return ret;
}

/**
 * hyper_dmabuf_evq_consume() - drop the event hyper_dmabuf_evq_peek() gave
 * @q: queue
 *
 * Context: @q->read_lock held since that hyper_dmabuf_evq_peek().
 */
void hyper_dmabuf_evq_consume(struct hyper_dmabuf_evq *q)
{
	lockdep_assert_held(&q->read_lock);
	spin_lock(&q->lock);
	if (!WARN_ON_ONCE(!q->count)) {
		q->head = (q->head + 1) % HYPER_DMABUF_EVENT_QUEUE_LEN;
		q->count--;
	}
	spin_unlock(&q->lock);
}

/**
 * hyper_dmabuf_evq_pop() - take the oldest event
 * @q: queue
 * @ev: filled with the event
 *
 * As hyper_dmabuf_evq_peek() followed by hyper_dmabuf_evq_consume().
 *
 * Return: true if @ev was filled.
 */
bool hyper_dmabuf_evq_pop(struct hyper_dmabuf_evq *q,
			  struct hyper_dmabuf_event *ev)
{
	bool ret;

	mutex_lock(&q->read_lock);
	ret = hyper_dmabuf_evq_peek(q, ev);
	if (ret)
		hyper_dmabuf_evq_consume(q);
	mutex_unlock(&q->read_lock);
	return ret;
}
