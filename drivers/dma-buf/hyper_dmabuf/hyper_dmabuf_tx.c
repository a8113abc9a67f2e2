// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: messages to other domains, queued per peer
 *
 * Locking: see "DOC: Locking" in hyper_dmabuf_drv.h.
 */
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "hyper_dmabuf_drv.h"

/* ---- sending ------------------------------------------------------------ */

/**
 * DOC: Send queues
 *
 * Messages are never sent under the core's mutex: the backend may wait
 * there for a peer (a connection, room in a ring), and a peer that stops
 * draining its channel (paused, hung or hostile) must not hold up anybody
 * else.  Each peer has a FIFO queue (&struct hyper_dmabuf_peer), sent in
 * order by its own work item on &hyper_dmabuf_core.tx_wq, so such a peer
 * holds up only its own messages: every other call, to this domain or to
 * other peers, returns as usual.  What a peer that does not drain its
 * channel means for each operation is decided here:
 *
 * - a send that times out is tried again, backing off from
 *   %HYPER_DMABUF_TX_RETRY_MIN to %HYPER_DMABUF_TX_RETRY_MAX, as long as
 *   the peer is there: the queue is purged when the peer goes
 *   (hyper_dmabuf_core_peer_gone());
 * - any other error of the backend drops the message (counted as
 *   ``dropped`` in debugfs ``msgs_out``): the channel is broken and its
 *   reset will tell the core;
 * - new work (``EXPORT``, ``PENDING``, ``IMPORTED``) finds room for at most
 *   %HYPER_DMABUF_TX_QUEUE_MAX (64) queued messages: beyond that an export
 *   to the peer, or an import from it, fails with -EAGAIN, and an
 *   announcement is owed and retried (&hyper_dmabuf_exp.announce_work);
 *   so it does while half of %HYPER_DMABUF_UNACKED_MAX ``UNEXPORT`` and
 *   ``RELEASED`` messages wait for the peer's ``ACK``;
 * - ``ACK`` messages find room for as many as a peer may keep waiting for
 *   theirs (%HYPER_DMABUF_UNACKED_MAX), beyond which they are lost (the
 *   peer sends its message again);
 * - ``UNEXPORT`` and ``RELEASED`` go into messages allocated in advance,
 *   with their buffer, and are queued whatever the length of the queue:
 *   an unexport, a close and a release cannot fail.  They end state on the
 *   other side, so the other side acknowledges them: see
 *   `Acknowledgments`_.
 *
 * The debugfs file ``msgs_out`` shows the messages dropped, those given up
 * without an ``ACK``, and each peer's queue and the messages waiting for
 * their ``ACK``.
 */

/**
 * DOC: Acknowledgments
 *
 * ``UNEXPORT`` and ``RELEASED`` end state on the other side: a lost one
 * would leave an import record (``UNEXPORT``) or an export and its id
 * (``RELEASED``) behind.  On a healthy channel neither is lost (the ring
 * is reliable and ordered, and receiving them allocates nothing), but a
 * message can still be lost where the transport or a test drops it.
 * Each is therefore kept after it was sent, and sent again after one
 * second (%HYPER_DMABUF_ACK_TIMEOUT), then two, four, ... up to
 * %HYPER_DMABUF_ACK_TRIES sends in all, until the ``ACK`` comes; at most
 * %HYPER_DMABUF_UNACKED_MAX are kept per peer, and a copy given up (a
 * peer that never acknowledges) is counted in debugfs ``msgs_out``
 * (``unacked``).
 *
 * The receiver acknowledges every well-formed ``UNEXPORT`` and
 * ``RELEASED``, even one that finds nothing (a copy sent again after a
 * lost ``ACK``), and both are idempotent: a repeated ``UNEXPORT`` finds
 * the record already unexported or gone, a repeated or late ``RELEASED``
 * names a mapping that is not the one counted, and is dropped.  A copy
 * sent again may so arrive after later messages without harm: a
 * ``RELEASED`` names the mapping it ends, and never ends a newer one.
 * Copies sent again do not count against the room a peer's queue has for
 * new work, and ``ACK`` messages have a room of their own, as large as
 * what a peer may keep waiting.
 *
 * ``EXPORT``, ``PENDING`` and ``IMPORTED`` are not acknowledged, because
 * losing one leaves nothing behind:
 *
 * - a lost ``EXPORT`` or ``PENDING``: the importer never hears of the
 *   buffer (imports fail with -ENOENT); the export is owned by its file
 *   and is withdrawn like any other;
 * - a lost ``IMPORTED``: the exporter does not count the importer, and may
 *   free the export and its id while the importer still maps the pages.
 *   The pages stay: see `Grants`_.  The importer's ``RELEASED`` then finds
 *   nothing and is acknowledged all the same.
 *
 * A peer that never acknowledges keeps what its lost messages would have
 * released until it goes (its channel reset), as before the
 * acknowledgments existed.
 */

bool hyper_dmabuf_op_acked(u32 op)
{
	return op == HYPER_DMABUF_OP_UNEXPORT || op == HYPER_DMABUF_OP_RELEASED;
}

/* The flags of the ACK of @op with flags @flags. */
u32 hyper_dmabuf_ack_flags(u32 op, u32 flags)
{
	return op | (op == HYPER_DMABUF_OP_RELEASED ? flags << 8 : 0);
}

/* Give up @m, kept for its ACK and not being sent; tx_lock held. */
static void hyper_dmabuf_tx_give_up(struct hyper_dmabuf_core *core,
				    struct hyper_dmabuf_peer *peer,
				    struct hyper_dmabuf_txmsg *m)
{
	lockdep_assert_held(&core->tx_lock);
	list_del(&m->link);
	peer->nr_unacked--;
	atomic_inc(&core->tx_unacked);
	kfree(m);
}

/*
 * Before @m is sent: an acknowledged operation goes into the list of those
 * waiting for their ACK now, so that an ACK that comes back before the
 * send returns finds it; tx_lock held.
 */
static void hyper_dmabuf_tx_park(struct hyper_dmabuf_core *core,
				 struct hyper_dmabuf_peer *peer,
				 struct hyper_dmabuf_txmsg *m)
{
	struct hyper_dmabuf_txmsg *old;

	lockdep_assert_held(&core->tx_lock);
	if (!hyper_dmabuf_op_acked(m->op))
		return;
	if (peer->nr_unacked >= HYPER_DMABUF_UNACKED_MAX) {
		list_for_each_entry(old, &peer->unacked, link) {
			if (!old->inflight) {
				hyper_dmabuf_tx_give_up(core, peer, old);
				break;
			}
		}
	}
	m->tries++;
	m->inflight = true;
	m->acked = false;
	list_add_tail(&m->link, &peer->unacked);
	peer->nr_unacked++;
}

/*
 * After @m was sent (or not, @ret): whether the sender still owns it, to
 * free it or put it back in the queue; tx_lock held.
 */
static bool hyper_dmabuf_tx_unpark(struct hyper_dmabuf_peer *peer,
				   struct hyper_dmabuf_txmsg *m, int ret)
{
	lockdep_assert_held(&peer->core->tx_lock);
	if (!m->inflight)
		return true;
	m->inflight = false;
	/* Acknowledged already, or purged meanwhile: off the list. */
	if (m->acked)
		return true;
	if (!ret) {
		/* The wait for the ACK starts now, however long it took. */
		m->due = jiffies + (peer->core->ack_timeout << (m->tries - 1));
		return false;
	}
	list_del(&m->link);
	peer->nr_unacked--;
	m->tries--;
	return true;
}

/*
 * Queue again what waited too long for its ACK (or give it up after
 * HYPER_DMABUF_ACK_TRIES sends), and return the delay until the next one
 * is due (0 if none waits); tx_lock held.
 */
static unsigned long hyper_dmabuf_tx_resend(struct hyper_dmabuf_core *core,
					    struct hyper_dmabuf_peer *peer)
{
	unsigned long now = jiffies, next = 0;
	struct hyper_dmabuf_txmsg *m, *tmp;
	bool waiting = false;

	list_for_each_entry_safe(m, tmp, &peer->unacked, link) {
		if (m->inflight)
			continue;
		if (time_after_eq(now, m->due)) {
			if (m->tries >= HYPER_DMABUF_ACK_TRIES) {
				hyper_dmabuf_tx_give_up(core, peer, m);
				continue;
			}
			list_move_tail(&m->link, &peer->queue);
			peer->nr_unacked--;
			peer->queued++;
			peer->queued_kind[m->kind]++;
		} else if (!waiting || time_before(m->due, next)) {
			next = m->due;
			waiting = true;
		}
	}
	if (!list_empty(&peer->queue))
		return 1;
	return waiting ? next - now : 0;
}

static bool hyper_dmabuf_tx_retry(int ret)
{
	return ret == -ETIMEDOUT || ret == -EAGAIN || ret == -ENOMEM;
}

static void hyper_dmabuf_tx_work(struct work_struct *work)
{
	struct hyper_dmabuf_peer *peer =
		container_of(to_delayed_work(work), typeof(*peer), work);
	struct hyper_dmabuf_core *core = peer->core;
	const struct hyper_dmabuf_backend_ops *ops;
	struct hyper_dmabuf_txmsg *m;
	bool current_gen, owned;
	unsigned long delay;
	unsigned int gen;
	int ret;

	for (;;) {
		/* hyper_dmabuf_core_peer_gone() waits for a send under way. */
		mutex_lock(&peer->send_lock);
		spin_lock(&core->tx_lock);
		m = list_first_entry_or_null(&peer->queue, typeof(*m), link);
		if (!m && core->backend) {
			/* Then what waits for an ACK and is due again. */
			delay = hyper_dmabuf_tx_resend(core, peer);
			m = list_first_entry_or_null(&peer->queue, typeof(*m),
						     link);
			if (!m && delay)
				queue_delayed_work(core->tx_wq, &peer->work,
						   delay);
		}
		if (m) {
			list_del(&m->link);
			hyper_dmabuf_tx_park(core, peer, m);
		} else {
			/* Nothing to retry: new messages go at once. */
			peer->delay = 0;
		}
		ops = core->backend;
		gen = peer->gen;
		spin_unlock(&core->tx_lock);
		if (!m) {
			mutex_unlock(&peer->send_lock);
			return;
		}
		/* No backend: unregistering, the queue is being purged. */
		ret = ops ? ops->send(peer->domid, &m->wire, sizeof(m->wire)) :
			    -ENODEV;
		mutex_unlock(&peer->send_lock);

		spin_lock(&core->tx_lock);
		current_gen = gen == peer->gen;
		owned = hyper_dmabuf_tx_unpark(peer, m, ret);
		if (ops && hyper_dmabuf_tx_retry(ret) && current_gen &&
		    !m->acked) {
			/* Still counted in @queued: it was never off it. */
			list_add(&m->link, &peer->queue);
			peer->delay = peer->delay ?
				min(2 * peer->delay, HYPER_DMABUF_TX_RETRY_MAX) :
				HYPER_DMABUF_TX_RETRY_MIN;
			queue_delayed_work(core->tx_wq, &peer->work,
					   peer->delay);
			spin_unlock(&core->tx_lock);
			return;
		}
		peer->queued--;
		peer->queued_kind[m->kind]--;
		/* Not put back: whatever comes next goes at once. */
		peer->delay = 0;
		if (!owned) {
			/* Sent, kept until its ACK comes. */
			spin_unlock(&core->tx_lock);
			continue;
		}
		spin_unlock(&core->tx_lock);
		if (ret && ops && current_gen && !m->acked) {
			atomic_inc(&core->tx_dropped);
			/* Else the peer went: its reset tells the core. */
			if (ret != -ENOTCONN && ret != -ECONNRESET)
				pr_warn_ratelimited("hyper_dmabuf: message %u to domain %u dropped: %d\n",
						    le16_to_cpu(m->wire.op),
						    peer->domid, ret);
		}
		kfree(m);
	}
}

/* The send queue of @domid, created on first use; core->lock held. */
static struct hyper_dmabuf_peer *
hyper_dmabuf_peer_get(struct hyper_dmabuf_core *core, u32 domid)
{
	struct hyper_dmabuf_peer *peer;

	lockdep_assert_held(&core->lock);
	peer = xa_load(&core->peers, domid);
	if (peer)
		return peer;
	/* Shared by every user of the domain: not charged to the caller. */
	peer = kzalloc_obj(*peer, GFP_KERNEL);
	if (!peer)
		return NULL;
	peer->core = core;
	peer->domid = domid;
	mutex_init(&peer->send_lock);
	INIT_LIST_HEAD(&peer->queue);
	INIT_LIST_HEAD(&peer->unacked);
	INIT_DELAYED_WORK(&peer->work, hyper_dmabuf_tx_work);
	if (xa_insert(&core->peers, domid, peer, GFP_KERNEL)) {
		kfree(peer);
		return NULL;
	}
	return peer;
}

/*
 * Drop what is queued for @peer, and what waits for its ACK; a message
 * being sent is not put back.
 */
void hyper_dmabuf_peer_purge(struct hyper_dmabuf_peer *peer)
{
	struct hyper_dmabuf_core *core = peer->core;
	struct hyper_dmabuf_txmsg *m, *tmp;
	LIST_HEAD(dead);

	spin_lock(&core->tx_lock);
	list_for_each_entry(m, &peer->queue, link) {
		peer->queued--;
		peer->queued_kind[m->kind]--;
	}
	list_splice_init(&peer->queue, &dead);
	/* The one being sent is its sender's to free. */
	list_for_each_entry_safe(m, tmp, &peer->unacked, link) {
		if (m->inflight) {
			list_del(&m->link);
			m->acked = true;
		}
	}
	list_splice_init(&peer->unacked, &dead);
	peer->nr_unacked = 0;
	peer->gen++;
	peer->delay = 0;
	spin_unlock(&core->tx_lock);
	list_for_each_entry_safe(m, tmp, &dead, link)
		kfree(m);
}

struct hyper_dmabuf_txmsg *hyper_dmabuf_txmsg_alloc(void)
{
	return kzalloc_obj(struct hyper_dmabuf_txmsg, GFP_KERNEL_ACCOUNT);
}

/*
 * Queue a message to @domid.  @m is a message allocated in advance (it is
 * queued whatever the queue's length, and consumed), or NULL to allocate
 * one within the bound of its kind (new work, or an ACK).  @flags are the
 * message's flags, but for an export's, which come from @exp.
 */
int hyper_dmabuf_send_flags(struct hyper_dmabuf_core *core,
			    u32 domid, u32 op, u32 flags,
			    const struct hyper_dmabuf_id *hid,
			    const struct hyper_dmabuf_exp *exp,
			    struct hyper_dmabuf_txmsg *m)
{
	struct hyper_dmabuf_msg msg = { .flags = flags };
	struct hyper_dmabuf_peer *peer;
	unsigned int kind;

	lockdep_assert_held(&core->lock);
	if (!core->backend) {
		kfree(m);
		return -ENODEV;
	}
	kind = m ? HYPER_DMABUF_TX_KEPT : op == HYPER_DMABUF_OP_ACK ?
	       HYPER_DMABUF_TX_ACK : HYPER_DMABUF_TX_NEW;
	peer = hyper_dmabuf_peer_get(core, domid);
	if (!m)
		m = hyper_dmabuf_txmsg_alloc();
	if (!peer || !m) {
		kfree(m);
		return -ENOMEM;
	}
	msg.op = op;
	msg.sender_domid = hyper_dmabuf_core_local_domid(core);
	msg.hid = *hid;
	if (exp) {
		msg.flags = exp->flags;
		msg.buf_size = exp->dmabuf->size;
	}
	/* A pending notice has neither the reference nor private data. */
	if (exp && op == HYPER_DMABUF_OP_EXPORT) {
		msg.priv_size = exp->priv_size;
		msg.ref = exp->share.ref;
		memcpy(msg.priv, exp->priv, exp->priv_size);
	}
	hyper_dmabuf_msg_encode(&msg, &m->wire);
	m->op = op;
	m->flags = msg.flags;
	m->hid = *hid;
	m->kind = kind;
	m->tries = 0;

	spin_lock(&core->tx_lock);
	/*
	 * New work waits too while the peer leaves half of what it may
	 * keep waiting unacknowledged: each export and mapping will need
	 * an UNEXPORT or a RELEASED, which is never refused.
	 */
	if ((kind == HYPER_DMABUF_TX_NEW &&
	     (peer->queued_kind[kind] >= core->tx_queue_max ||
	      peer->nr_unacked + peer->queued_kind[HYPER_DMABUF_TX_KEPT] >=
	      HYPER_DMABUF_UNACKED_MAX / 2)) ||
	    (kind == HYPER_DMABUF_TX_ACK &&
	     peer->queued_kind[kind] >= HYPER_DMABUF_UNACKED_MAX)) {
		spin_unlock(&core->tx_lock);
		kfree(m);
		return -EAGAIN;
	}
	list_add_tail(&m->link, &peer->queue);
	peer->queued++;
	peer->queued_kind[kind]++;
	/* Now, unless a send timed out: then its back-off stands. */
	if (peer->delay)
		queue_delayed_work(core->tx_wq, &peer->work, peer->delay);
	else
		mod_delayed_work(core->tx_wq, &peer->work, 0);
	spin_unlock(&core->tx_lock);
	return 0;
}

int hyper_dmabuf_send(struct hyper_dmabuf_core *core, u32 domid,
		      u32 op, const struct hyper_dmabuf_id *hid,
		      const struct hyper_dmabuf_exp *exp,
		      struct hyper_dmabuf_txmsg *m)
{
	return hyper_dmabuf_send_flags(core, domid, op, 0, hid, exp, m);
}

/**
 * hyper_dmabuf_core_tx_flush() - send what is queued now
 * @core: core instance
 *
 * Runs every peer's send work at once, even one waiting to try again, and
 * waits for it.  For tests: a peer that does not drain its channel makes
 * this wait as long as the backend's send does.
 */
void hyper_dmabuf_core_tx_flush(struct hyper_dmabuf_core *core)
{
	struct hyper_dmabuf_peer *peer;
	unsigned long index;

	xa_for_each(&core->peers, index, peer)
		flush_delayed_work(&peer->work);
}

/* Stop sending and drop every queue: no backend, or the core goes. */
void hyper_dmabuf_tx_stop(struct hyper_dmabuf_core *core)
{
	struct hyper_dmabuf_peer *peer;
	unsigned long index;

	xa_for_each(&core->peers, index, peer) {
		cancel_delayed_work_sync(&peer->work);
		hyper_dmabuf_peer_purge(peer);
	}
}

