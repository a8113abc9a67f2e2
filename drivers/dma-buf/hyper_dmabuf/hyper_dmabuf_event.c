// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: the event log and its readers
 */
#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/wait.h>

#include "hyper_dmabuf_drv.h"

/**
 * DOC: Event log
 *
 * Every open file sees the same events, so the core keeps them once: a
 * ring of the last HYPER_DMABUF_EVENT_QUEUE_LEN events, numbered by a
 * sequence that never wraps.  Logging an event is a copy into the ring and
 * an increment, whatever the number of open files; waking the readers is
 * left to a work item, so that a caller holding the core's lock never
 * walks a wait queue that any process may fill with pollers.
 *
 * Each open file keeps only the sequence number of the next event it will
 * read, so an idle file costs nothing when an event is logged; waking
 * costs one step per waiting reader, taken by the work item.  A reader
 * that fell more than the ring's length behind has lost the oldest
 * events: its next read returns a %HYPER_DMABUF_EVENT_OVERFLOW event
 * with their number, then the events still in the ring.  A reader
 * copies an event out and only then moves past it, so an event that could
 * not be copied is still there for the next read (unless it was
 * overwritten meanwhile, which the overflow event then reports).
 *
 * The key and the private data of a buffer go only to files opened with
 * CAP_SYS_ADMIN: they are zeroed in the copy that other readers get.
 */

#define HYPER_DMABUF_EVLOG_MASK	(HYPER_DMABUF_EVENT_QUEUE_LEN - 1)

static void hyper_dmabuf_evlog_wake(struct work_struct *work)
{
	struct hyper_dmabuf_evlog *log =
		container_of(work, struct hyper_dmabuf_evlog, wake_work);

	/*
	 * Every reader: the files share this queue, so an exclusive waiter
	 * (EPOLLEXCLUSIVE) of one file must not take the wake-up of another.
	 */
	__wake_up(&log->wait, TASK_INTERRUPTIBLE, 0,
		  poll_to_key(EPOLLIN | EPOLLRDNORM));
}

/**
 * hyper_dmabuf_evlog_init() - initialise an empty event log
 * @log: log
 */
void hyper_dmabuf_evlog_init(struct hyper_dmabuf_evlog *log)
{
	BUILD_BUG_ON(!is_power_of_2(HYPER_DMABUF_EVENT_QUEUE_LEN));
	spin_lock_init(&log->lock);
	init_waitqueue_head(&log->wait);
	INIT_WORK(&log->wake_work, hyper_dmabuf_evlog_wake);
	log->seq = 0;
}

/**
 * hyper_dmabuf_evlog_fini() - tear down an event log
 * @log: log without readers
 */
void hyper_dmabuf_evlog_fini(struct hyper_dmabuf_evlog *log)
{
	cancel_work_sync(&log->wake_work);
}

/**
 * hyper_dmabuf_evlog_push() - log a copy of an event for every reader
 * @log: log
 * @ev: event to copy
 *
 * Constant time, whatever the number of open files; the oldest event is
 * overwritten once the ring is full.  May be called under the core's
 * lock: readers are woken from a work item.
 */
void hyper_dmabuf_evlog_push(struct hyper_dmabuf_evlog *log,
			     const struct hyper_dmabuf_event *ev)
{
	spin_lock(&log->lock);
	log->ev[log->seq & HYPER_DMABUF_EVLOG_MASK] = *ev;
	log->seq++;
	spin_unlock(&log->lock);
	schedule_work(&log->wake_work);
}

/**
 * hyper_dmabuf_evq_init() - make a reader that sees events logged from now
 * @q: reader
 * @log: log it reads
 * @privileged: gets keys and private data
 */
void hyper_dmabuf_evq_init(struct hyper_dmabuf_evq *q,
			   struct hyper_dmabuf_evlog *log, bool privileged)
{
	mutex_init(&q->read_lock);
	q->log = log;
	q->privileged = privileged;
	spin_lock(&log->lock);
	q->next = log->seq;
	spin_unlock(&log->lock);
}

/**
 * hyper_dmabuf_evq_ready() - whether a read would return an event
 * @q: reader
 *
 * Return: true if an event or an overflow report is pending.
 */
bool hyper_dmabuf_evq_ready(struct hyper_dmabuf_evq *q)
{
	bool ready;

	spin_lock(&q->log->lock);
	ready = q->log->seq != q->next;
	spin_unlock(&q->log->lock);
	return ready;
}

/**
 * hyper_dmabuf_evq_peek() - copy the reader's next event without taking it
 * @q: reader
 * @ev: filled with the event
 *
 * If the reader fell behind by more than the ring holds, the event is an
 * %HYPER_DMABUF_EVENT_OVERFLOW event counting what was overwritten.
 *
 * Context: @q->read_lock held, so that no other reader of @q moves it
 * before hyper_dmabuf_evq_consume().
 * Return: true if @ev was filled.
 */
bool hyper_dmabuf_evq_peek(struct hyper_dmabuf_evq *q,
			   struct hyper_dmabuf_event *ev)
{
	struct hyper_dmabuf_evlog *log = q->log;
	u64 oldest;

	lockdep_assert_held(&q->read_lock);
	spin_lock(&log->lock);
	if (log->seq == q->next) {
		spin_unlock(&log->lock);
		return false;
	}
	oldest = log->seq > HYPER_DMABUF_EVENT_QUEUE_LEN ?
		 log->seq - HYPER_DMABUF_EVENT_QUEUE_LEN : 0;
	if (q->next < oldest) {
		memset(ev, 0, sizeof(*ev));
		ev->type = HYPER_DMABUF_EVENT_OVERFLOW;
		ev->lost = min_t(u64, oldest - q->next, U32_MAX);
		/* Beyond U32_MAX lost, a further overflow event tells the rest. */
		q->peeked = q->next + ev->lost;
	} else {
		*ev = log->ev[q->next & HYPER_DMABUF_EVLOG_MASK];
		q->peeked = q->next + 1;
	}
	spin_unlock(&log->lock);
	if (ev->type != HYPER_DMABUF_EVENT_OVERFLOW && !q->privileged) {
		memset(ev->hid.key, 0, sizeof(ev->hid.key));
		memset(ev->priv, 0, sizeof(ev->priv));
		ev->priv_size = 0;
	}
	return true;
}

/**
 * hyper_dmabuf_evq_consume() - move past the event hyper_dmabuf_evq_peek()
 * gave
 * @q: reader
 *
 * Context: @q->read_lock held since that hyper_dmabuf_evq_peek().
 */
void hyper_dmabuf_evq_consume(struct hyper_dmabuf_evq *q)
{
	lockdep_assert_held(&q->read_lock);
	/* Under the log's lock, so that hyper_dmabuf_evq_ready() sees it whole. */
	spin_lock(&q->log->lock);
	q->next = q->peeked;
	spin_unlock(&q->log->lock);
}

/**
 * hyper_dmabuf_evq_pop() - take the reader's next event
 * @q: reader
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
