// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: export, import, unexport and query of shared buffers
 *
 * Lifetime of an export (struct hyper_dmabuf_exp):
 *   - EXPORT allocates an id, shares the buffer (remote) and inserts the
 *     export into the export table holding the table reference.
 *   - Each import (a loopback dma-buf, or an IMPORTED message from the
 *     peer) takes another reference, dropped by the import's release (or a
 *     RELEASED message).
 *   - UNEXPORT (or closing the owning file) marks the export pending,
 *     withdraws it from the peer at once and drops the table reference,
 *     at once or after the requested delay: exp->unexport_work then holds
 *     the table reference, on core->wq, which hyper_dmabuf_core_fini()
 *     flushes.
 *   - The final reference removes the export from the table, unshares it
 *     and returns its id to the stack.
 *
 * Waiting for idle: EXPORT collects the fences pending in the buffer's
 * reservation object as one fence (dma_resv_get_singleton(): a reference
 * on the fence, or on a fence array holding references on all of them),
 * stored in exp->fence.  A callback on it queues exp->fence_work, which
 * makes the announcement (event or EXPORT message) under core->lock.  The
 * reference in exp->fence is dropped, and the callback removed, by
 * hyper_dmabuf_fence_drop() when the announcement is made, when a
 * re-export replaces the fence, and when the export is withdrawn.  Since
 * the callback runs and is removed under the fence's lock, once
 * dma_fence_remove_callback() returns the callback is not running; at
 * most fence_work is still queued.  Withdrawing paths therefore cancel it
 * (hyper_dmabuf_exp_cancel_works()), without core->lock, before dropping
 * the table reference, and the work only ever acts on the state it finds
 * under core->lock: it announces only if exp->fence is still set and
 * signalled.
 * If the callback cannot be added, the work polls the fence for at most
 * core->fence_fallback_ms and then announces anyway: loopback importers
 * share the reservation object and still see the fences themselves.
 * An EXPORT message that cannot be queued (the peer's queue is full) is
 * owed (exp->announce_delay is set) and retried by exp->announce_work,
 * after 1 s, then backing off to HYPER_DMABUF_ANNOUNCE_RETRY_MAX, while the
 * export stands: a peer told the buffer was pending must not wait for an
 * announcement that never comes.
 *
 * Messages to other domains are queued, never sent under core->lock: see
 * "sending" below.
 *
 * Locking: core->lock (a mutex) serialises all of the above and every
 * backend call but the import's mmap/vmap/vunmap and send; the id stack,
 * the send queues (core->tx_lock) and the event log have their own
 * spinlock, taken inside core->lock.  Nothing waits for another domain
 * under core->lock.  A dma_buf_put() that may drop the last reference to a
 * buffer we did not create is always done after dropping core->lock, since
 * that buffer may itself be a hyper_dmabuf import whose release takes
 * core->lock.
 */
#include <crypto/algapi.h>
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>
#include <linux/vmalloc.h>

#include "hyper_dmabuf_drv.h"

MODULE_IMPORT_NS("DMA_BUF");

/* Longest delay between two tries of an owed announcement. */
#define HYPER_DMABUF_ANNOUNCE_RETRY_MAX	(64 * HZ)

/**
 * struct hyper_dmabuf_lbuf - local dma-buf created by an import
 * @core: core instance
 * @file: file the import was made through, NULL once it is closed
 *	(core lock)
 * @file_link: entry in the file's import list (core lock)
 * @exp: wrapped loopback export (reference held), or NULL
 * @imp: remote buffer whose mapping is wrapped, or NULL
 */
struct hyper_dmabuf_lbuf {
	struct hyper_dmabuf_core *core;
	struct hyper_dmabuf_file *file;
	struct list_head file_link;
	struct hyper_dmabuf_exp *exp;
	struct hyper_dmabuf_imp *imp;
};

/* The instance behind /dev/hyper_dmabuf, reached by backends. */
static struct hyper_dmabuf_core *hyper_dmabuf_main;

/**
 * hyper_dmabuf_core_local_domid() - domain id of this domain
 * @core: core instance
 *
 * Context: core->lock held.
 * Return: the backend's local domain id, or %HYPER_DMABUF_DOMID_SELF when
 * no backend is registered (the real domain id is then unknown).
 */
u32 hyper_dmabuf_core_local_domid(struct hyper_dmabuf_core *core)
{
	lockdep_assert_held(&core->lock);
	if (core->backend)
		return core->backend->get_domid();
	return HYPER_DMABUF_DOMID_SELF;
}

static bool hyper_dmabuf_is_local(struct hyper_dmabuf_core *core, u32 domid)
{
	return domid == HYPER_DMABUF_DOMID_SELF ||
	       domid == hyper_dmabuf_core_local_domid(core);
}

static bool hyper_dmabuf_hid_match(const struct hyper_dmabuf_id *a,
				   const struct hyper_dmabuf_id *b)
{
	/* Evaluate everything, compare the key in constant time. */
	return !(crypto_memneq(a->key, b->key, sizeof(a->key)) |
		 (a->id != b->id) | (a->exporter_domid != b->exporter_domid));
}

/**
 * hyper_dmabuf_exp_lookup() - find an export of this domain
 * @core: core instance
 * @hid: id, exporter domid and key to match
 *
 * Context: core->lock held.
 * The exporter domid is compared with the one the export was created with,
 * which is the local domid at that time.
 *
 * Return: the export, or NULL if the id is unknown or the exporter domid
 * or key do not match.
 */
struct hyper_dmabuf_exp *
hyper_dmabuf_exp_lookup(struct hyper_dmabuf_core *core,
			const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_exp *exp;

	lockdep_assert_held(&core->lock);
	exp = xa_load(&core->exports, hyper_dmabuf_id_slot(hid->id));
	if (!exp || !hyper_dmabuf_hid_match(&exp->hid, hid))
		return NULL;
	return exp;
}

/* Key of the import hashtable: exporter domid and id together. */
static u64 hyper_dmabuf_imp_hkey(u32 domid, u32 id)
{
	return ((u64)domid << 32) | id;
}

/*
 * The record of the buffer @domid announces as @id now, whatever its key:
 * records of buffers it withdrew may remain beside it, for their local
 * users, under the same id.
 */
static struct hyper_dmabuf_imp *
hyper_dmabuf_imp_find(struct hyper_dmabuf_core *core, u32 domid, u32 id)
{
	struct hyper_dmabuf_imp *imp;

	hash_for_each_possible(core->imports, imp, node,
			       hyper_dmabuf_imp_hkey(domid, id))
		if (imp->hid.id == id && imp->hid.exporter_domid == domid &&
		    !imp->unexported)
			return imp;
	return NULL;
}

/**
 * hyper_dmabuf_imp_lookup() - find a buffer announced by another domain
 * @core: core instance
 * @hid: id, exporter domid and key to match
 *
 * Context: core->lock held.
 * Return: the import record or NULL.
 */
struct hyper_dmabuf_imp *
hyper_dmabuf_imp_lookup(struct hyper_dmabuf_core *core,
			const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_imp *imp;

	lockdep_assert_held(&core->lock);
	hash_for_each_possible(core->imports, imp, node,
			       hyper_dmabuf_imp_hkey(hid->exporter_domid,
						     hid->id))
		if (hyper_dmabuf_hid_match(&imp->hid, hid))
			return imp;
	return NULL;
}

static void hyper_dmabuf_announce(struct hyper_dmabuf_core *core,
				  const struct hyper_dmabuf_id *hid, u32 flags,
				  u64 size, const u8 *priv, u32 priv_size,
				  bool update)
{
	struct hyper_dmabuf_event ev = {
		.type = HYPER_DMABUF_EVENT_NEW_IMPORT,
		.event_flags = update ? HYPER_DMABUF_EVENT_F_UPDATE : 0,
		.hid = *hid,
		.size = size,
		.export_flags = flags,
		.priv_size = priv_size,
	};

	/*
	 * Every open file learns of the buffer; the event log gives its key
	 * and private data only to files opened with CAP_SYS_ADMIN (a
	 * compositor, a broker), which hand them on to whom they choose.
	 */
	memcpy(ev.priv, priv, priv_size);
	hyper_dmabuf_evlog_push(&core->events, &ev);
}

/* ---- sending ------------------------------------------------------------ */

/*
 * Messages are never sent under core->lock: the backend may wait there for
 * a peer (a connection, room in a ring), and a peer that stops draining
 * its channel must not hold up anybody else.  Each peer has a FIFO queue,
 * sent in order by its own work item.  What a peer that does not drain its
 * channel means for each operation is decided here:
 *   - a send that times out is tried again, backing off to
 *     HYPER_DMABUF_TX_RETRY_MAX, as long as the peer is there: the queue
 *     is purged when the peer goes (hyper_dmabuf_core_peer_gone());
 *   - any other error of the backend drops the message (counted in
 *     tx_dropped): the channel is broken and its reset will tell the core;
 *   - new work (EXPORT, PENDING, IMPORTED) finds room for at most
 *     HYPER_DMABUF_TX_QUEUE_MAX queued messages: beyond that an export or
 *     import fails with -EAGAIN, and an announcement is owed and retried
 *     (exp->announce_work); so it does while half of
 *     HYPER_DMABUF_UNACKED_MAX UNEXPORTs and RELEASEDs wait for the
 *     peer's ACK; ACKs find room for as many as a peer may keep
 *     waiting for theirs (HYPER_DMABUF_UNACKED_MAX), beyond which they
 *     are lost (the peer sends its message again);
 *   - UNEXPORT and RELEASED go into messages allocated in advance and are
 *     queued whatever the length of the queue: they cannot fail.  They end
 *     state on the other side, so the other side acknowledges them (ACK),
 *     and they are sent again until it does (HYPER_DMABUF_ACK_TRIES
 *     times at most, HYPER_DMABUF_UNACKED_MAX kept per peer; a copy given
 *     up is counted in tx_unacked): a message lost on the way (a test
 *     drops them) cannot leave an id or an import record behind.  A copy
 *     sent again may arrive after later messages: both are idempotent,
 *     and a RELEASED names the mapping it ends, so that it never ends a
 *     newer one.  The state machine is described in
 *     Documentation/driver-api/hyper_dmabuf.rst.
 */

static bool hyper_dmabuf_op_acked(u32 op)
{
	return op == HYPER_DMABUF_OP_UNEXPORT || op == HYPER_DMABUF_OP_RELEASED;
}

/* The flags of the ACK of @op with flags @flags. */
static u32 hyper_dmabuf_ack_flags(u32 op, u32 flags)
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
static void hyper_dmabuf_peer_purge(struct hyper_dmabuf_peer *peer)
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

static struct hyper_dmabuf_txmsg *hyper_dmabuf_txmsg_alloc(void)
{
	return kzalloc_obj(struct hyper_dmabuf_txmsg, GFP_KERNEL_ACCOUNT);
}

/*
 * Queue a message to @domid.  @m is a message allocated in advance (it is
 * queued whatever the queue's length, and consumed), or NULL to allocate
 * one within the bound of its kind (new work, or an ACK).  @flags are the
 * message's flags, but for an export's, which come from @exp.
 */
static int hyper_dmabuf_send_flags(struct hyper_dmabuf_core *core,
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

static int hyper_dmabuf_send(struct hyper_dmabuf_core *core, u32 domid,
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
static void hyper_dmabuf_tx_stop(struct hyper_dmabuf_core *core)
{
	struct hyper_dmabuf_peer *peer;
	unsigned long index;

	xa_for_each(&core->peers, index, peer) {
		cancel_delayed_work_sync(&peer->work);
		hyper_dmabuf_peer_purge(peer);
	}
}

/* Final put of an export: called with core->lock held, drops it. */
/*
 * The quotas of the user of an unprivileged file: every file the user
 * opens draws on the same ones, so opening more files gains nothing.
 */
static struct hyper_dmabuf_user *
hyper_dmabuf_user_get(struct hyper_dmabuf_core *core, kuid_t uid,
		      struct hyper_dmabuf_user **spare)
{
	u32 key = from_kuid(&init_user_ns, uid);
	struct hyper_dmabuf_user *user;

	lockdep_assert_held(&core->lock);
	hash_for_each_possible(core->users, user, node, key)
		if (uid_eq(user->uid, uid))
			goto found;
	user = *spare;
	*spare = NULL;
	user->uid = uid;
	hash_add(core->users, &user->node, key);
found:
	user->refs++;
	return user;
}

static void hyper_dmabuf_user_put(struct hyper_dmabuf_core *core,
				  struct hyper_dmabuf_user *user)
{
	lockdep_assert_held(&core->lock);
	if (--user->refs)
		return;
	WARN_ON(user->nr_exports || user->nr_remote_pages);
	hash_del(&user->node);
	kfree(user);
}

static void hyper_dmabuf_exp_release(struct kref *kref)
{
	struct hyper_dmabuf_exp *exp = container_of(kref, typeof(*exp), kref);
	struct hyper_dmabuf_core *core = exp->core;
	const struct hyper_dmabuf_backend_ops *ops = core->backend;

	WARN_ON_ONCE(exp->fence);
	xa_erase(&core->exports, hyper_dmabuf_id_slot(exp->hid.id));
	if (!exp->loopback && ops) {
		ops->unshare(exp->remote_domid, exp->share.handle);
		ops->fini_channel(exp->remote_domid);
		module_put(ops->owner);
	}
	hyper_dmabuf_id_release(&core->ids, exp->hid.id);
	/* The id and the grants are free now: so is the user's share. */
	if (exp->user) {
		exp->user->nr_exports--;
		if (!exp->loopback)
			exp->user->nr_remote_pages -= PFN_UP(exp->dmabuf->size);
		hyper_dmabuf_user_put(core, exp->user);
	}
	mutex_unlock(&core->lock);

	dma_buf_put(exp->dmabuf);
	kfree(exp->bye);
	kfree(exp);
}

/* Drop a reference to an export; must be called without core->lock. */
static void hyper_dmabuf_exp_put(struct hyper_dmabuf_exp *exp)
{
	kref_put_mutex(&exp->kref, hyper_dmabuf_exp_release, &exp->core->lock);
}

/* Withdraw an export from its peer; the caller then drops the table ref. */
static void hyper_dmabuf_exp_withdraw(struct hyper_dmabuf_exp *exp)
{
	struct hyper_dmabuf_core *core = exp->core;

	lockdep_assert_held(&core->lock);
	/*
	 * A peer that was never told about the buffer is not told now.  The
	 * message was allocated with the export: this cannot fail.
	 */
	if (!exp->loopback && (exp->announced || exp->pending_sent) &&
	    exp->bye) {
		hyper_dmabuf_send(core, exp->remote_domid,
				  HYPER_DMABUF_OP_UNEXPORT, &exp->hid, NULL,
				  exp->bye);
		exp->bye = NULL;
	}
}

static void hyper_dmabuf_unexport_work(struct work_struct *work)
{
	struct hyper_dmabuf_exp *exp =
		container_of(to_delayed_work(work), typeof(*exp),
			     unexport_work);

	mutex_lock(&exp->core->lock);
	hyper_dmabuf_exp_withdraw(exp);
	mutex_unlock(&exp->core->lock);
	hyper_dmabuf_exp_put(exp);
}

/* Mark an export unexported and detach it from its owner. */
static void hyper_dmabuf_exp_detach(struct hyper_dmabuf_exp *exp)
{
	lockdep_assert_held(&exp->core->lock);
	exp->unexport_pending = true;
	exp->owner = NULL;
	list_del_init(&exp->owner_link);
}

/* ---- announcing once the buffer is idle -------------------------------- */

static void hyper_dmabuf_fence_put(struct hyper_dmabuf_core *core,
				   struct dma_fence *fence)
{
	atomic_dec(&core->nr_fences_held);
	dma_fence_put(fence);
}

/*
 * Collect the fences an announcement of @dmabuf has to wait for: kernel and
 * write fences, and read fences too when importers may write.  *@fence is
 * set to one fence with a reference held, or to NULL if the buffer is idle.
 */
static int hyper_dmabuf_fence_collect(struct hyper_dmabuf_core *core,
				      struct dma_buf *dmabuf, bool rw,
				      struct dma_fence **fence)
{
	enum dma_resv_usage usage = rw ? DMA_RESV_USAGE_READ :
					 DMA_RESV_USAGE_WRITE;
	int ret;

	ret = dma_resv_get_singleton(dmabuf->resv, usage, fence);
	if (ret || !*fence)
		return ret;
	atomic_inc(&core->nr_fences_held);
	if (dma_fence_is_signaled(*fence)) {
		hyper_dmabuf_fence_put(core, *fence);
		*fence = NULL;
	}
	return 0;
}

/* Fence callback, atomic context: defer the announcement to the work. */
static void hyper_dmabuf_fence_cb(struct dma_fence *fence,
				  struct dma_fence_cb *cb)
{
	struct hyper_dmabuf_exp *exp = container_of(cb, typeof(*exp),
						    fence_cb);

	queue_work(exp->core->wq, &exp->fence_work);
}

/*
 * A buffer importers may wait for (a loopback export pending idle, or a
 * remote one announced as pending) was announced or withdrawn: waiters
 * look it up again.
 */
static void hyper_dmabuf_wake_importers(struct hyper_dmabuf_core *core)
{
	lockdep_assert_held(&core->lock);
	WRITE_ONCE(core->wait_gen, core->wait_gen + 1);
	wake_up_all(&core->fence_wait);
}

/*
 * Stop waiting for exp->fence: remove the callback and drop the reference.
 * After this the callback does not run any more; fence_work may still be
 * queued and finds nothing to do.
 */
static void hyper_dmabuf_fence_drop(struct hyper_dmabuf_exp *exp)
{
	struct hyper_dmabuf_core *core = exp->core;
	struct dma_fence *fence = exp->fence;

	lockdep_assert_held(&core->lock);
	exp->announce_delay = 0;
	if (!fence)
		return;
	/* False: it ran already, under the fence lock taken here too. */
	if (exp->fence_cb_armed)
		dma_fence_remove_callback(fence, &exp->fence_cb);
	exp->fence_cb_armed = false;
	exp->fence_fallback = false;
	WRITE_ONCE(exp->fence, NULL);
	atomic_dec(&core->nr_pending_idle);
	hyper_dmabuf_wake_importers(core);
	hyper_dmabuf_fence_put(core, fence);
}

/* Announce once @fence signals; takes over the caller's reference. */
static void hyper_dmabuf_fence_arm(struct hyper_dmabuf_exp *exp,
				   struct dma_fence *fence)
{
	struct hyper_dmabuf_core *core = exp->core;
	int ret;

	lockdep_assert_held(&core->lock);
	WRITE_ONCE(exp->fence, fence);
	atomic_inc(&core->nr_pending_idle);
	ret = hyper_dmabuf_fault_add_cb(core);
	if (!ret)
		ret = dma_fence_add_callback(fence, &exp->fence_cb,
					     hyper_dmabuf_fence_cb);
	exp->fence_cb_armed = !ret;
	exp->fence_fallback = ret && ret != -ENOENT;
	/* -ENOENT: signalled meanwhile; the work announces at once. */
	if (ret)
		queue_work(core->wq, &exp->fence_work);
}

/* Make the buffer known: event for loopback, EXPORT message otherwise. */
static void hyper_dmabuf_exp_announce(struct hyper_dmabuf_exp *exp)
{
	struct hyper_dmabuf_core *core = exp->core;

	lockdep_assert_held(&core->lock);
	if (exp->loopback) {
		hyper_dmabuf_announce(core, &exp->hid, exp->flags,
				      exp->dmabuf->size, exp->priv,
				      exp->priv_size, exp->announced);
	} else if (hyper_dmabuf_send(core, exp->remote_domid,
				     HYPER_DMABUF_OP_EXPORT, &exp->hid, exp,
				     NULL)) {
		pr_warn_ratelimited("hyper_dmabuf: could not announce id %#x to domain %u, will retry\n",
				    exp->hid.id, exp->remote_domid);
		/* The peer's queue is full: try again, backing off. */
		exp->announce_delay = exp->announce_delay ?
			min(2 * exp->announce_delay,
			    HYPER_DMABUF_ANNOUNCE_RETRY_MAX) : HZ;
		queue_delayed_work(core->wq, &exp->announce_work,
				   exp->announce_delay);
		return;
	}
	exp->announce_delay = 0;
	exp->announced = true;
}

/* Retry an announcement that could not be sent, until it is or not owed. */
static void hyper_dmabuf_announce_work(struct work_struct *work)
{
	struct hyper_dmabuf_exp *exp =
		container_of(to_delayed_work(work), typeof(*exp),
			     announce_work);

	mutex_lock(&exp->core->lock);
	if (exp->announce_delay)
		hyper_dmabuf_exp_announce(exp);
	mutex_unlock(&exp->core->lock);
}

/*
 * Wait for the works that may announce @exp; called without core->lock,
 * after hyper_dmabuf_fence_drop() made sure they find nothing to do.
 */
static void hyper_dmabuf_exp_cancel_works(struct hyper_dmabuf_exp *exp)
{
	cancel_work_sync(&exp->fence_work);
	cancel_delayed_work_sync(&exp->announce_work);
}

/*
 * Fallback when no callback could be added: poll @fence until it signals,
 * the wait is cancelled (exp->fence changes) or the bound expires.
 */
static bool hyper_dmabuf_fence_poll(struct hyper_dmabuf_exp *exp,
				    struct dma_fence *fence)
{
	struct hyper_dmabuf_core *core = exp->core;
	unsigned long end = jiffies +
			    msecs_to_jiffies(core->fence_fallback_ms);

	for (;;) {
		if (dma_fence_is_signaled(fence))
			return true;
		if (READ_ONCE(exp->fence) != fence || time_after(jiffies, end))
			return false;
		wait_event_timeout(core->fence_wait,
				   READ_ONCE(exp->fence) != fence,
				   msecs_to_jiffies(10));
	}
}

static void hyper_dmabuf_fence_work(struct work_struct *work)
{
	struct hyper_dmabuf_exp *exp = container_of(work, typeof(*exp),
						    fence_work);
	struct hyper_dmabuf_core *core = exp->core;
	struct dma_fence *fence;
	bool signalled;

	mutex_lock(&core->lock);
	fence = exp->fence;
	/* Cancelled, or already announced by an earlier run. */
	if (!fence)
		goto out_unlock;
	if (!dma_fence_is_signaled(fence)) {
		/* Woken for a fence that was replaced since. */
		if (!exp->fence_fallback)
			goto out_unlock;
		dma_fence_get(fence);
		atomic_inc(&core->nr_fences_held);
		mutex_unlock(&core->lock);
		signalled = hyper_dmabuf_fence_poll(exp, fence);
		mutex_lock(&core->lock);
		if (exp->fence != fence || !exp->fence_fallback) {
			hyper_dmabuf_fence_put(core, fence);
			goto out_unlock;
		}
		hyper_dmabuf_fence_put(core, fence);
		if (!signalled)
			pr_notice_ratelimited("hyper_dmabuf: id %#x still busy after %u ms, announced anyway\n",
					      exp->hid.id,
					      core->fence_fallback_ms);
	}
	hyper_dmabuf_fence_drop(exp);
	hyper_dmabuf_exp_announce(exp);
out_unlock:
	mutex_unlock(&core->lock);
}

/*
 * Let the backend bring the channel to a remote domain up before the
 * export takes the core's mutex: waiting for a peer must not stall the
 * other users of the core.
 */
static int hyper_dmabuf_export_wait_channel(struct hyper_dmabuf_core *core,
					    u32 remote_domid)
{
	const struct hyper_dmabuf_backend_ops *ops;
	int ret;

	mutex_lock(&core->lock);
	ops = core->backend;
	if (!ops || !ops->wait_channel ||
	    hyper_dmabuf_is_local(core, remote_domid) ||
	    !try_module_get(ops->owner))
		ops = NULL;
	mutex_unlock(&core->lock);
	if (!ops)
		return 0;
	ret = ops->wait_channel(remote_domid);
	module_put(ops->owner);
	return ret;
}

/**
 * hyper_dmabuf_export() - export a dma-buf to a domain
 * @file: exporting file, owner of the export
 * @dmabuf: buffer to export
 * @remote_domid: importing domain; the local domain for loopback
 * @flags: HYPER_DMABUF_EXPORT_* flags
 * @priv: private data
 * @priv_size: size of @priv, at most %HYPER_DMABUF_MAX_PRIV
 * @hid: filled with the id of the export
 * @created: if not NULL, set to whether a new export was made (rather
 *	than an existing one of @file updated)
 *
 * Never waits for the buffer's fences: if some are pending, the export
 * (or re-export) is announced from a work item once they have signalled.
 *
 * Return: 0 or a negative error code (see HYPER_DMABUF_IOCTL_EXPORT).
 */
int hyper_dmabuf_export(struct hyper_dmabuf_file *file, struct dma_buf *dmabuf,
			u32 remote_domid, u32 flags, const void *priv,
			u32 priv_size, struct hyper_dmabuf_id *hid,
			bool *created)
{
	struct hyper_dmabuf_core *core = file->core;
	const struct hyper_dmabuf_backend_ops *ops;
	struct hyper_dmabuf_exp *exp;
	bool rw = flags & HYPER_DMABUF_EXPORT_RDWR;
	struct dma_fence *fence;
	int ret;

	if (flags & ~HYPER_DMABUF_EXPORT_VALID_FLAGS ||
	    priv_size > HYPER_DMABUF_MAX_PRIV)
		return -EINVAL;
	if (rw && !(dmabuf->file->f_mode & FMODE_WRITE))
		return -EACCES;
	if (created)
		*created = false;
	ret = hyper_dmabuf_export_wait_channel(core, remote_domid);
	if (ret)
		return ret;
	ret = hyper_dmabuf_fence_collect(core, dmabuf, rw, &fence);
	if (ret)
		return ret;

	mutex_lock(&core->lock);
	ops = core->backend;

	/* Fast path: same buffer to the same domain only updates priv. */
	list_for_each_entry(exp, &file->exports, owner_link) {
		if (exp->dmabuf != dmabuf || exp->remote_domid != remote_domid)
			continue;
		if (exp->flags != flags) {
			ret = -EINVAL;
			goto err_unlock;
		}
		memcpy(exp->priv, priv, priv_size);
		exp->priv_size = priv_size;
		/* The fences collected now cover those still pending. */
		hyper_dmabuf_fence_drop(exp);
		if (fence)
			hyper_dmabuf_fence_arm(exp, fence);
		else
			hyper_dmabuf_exp_announce(exp);
		*hid = exp->hid;
		mutex_unlock(&core->lock);
		return 0;
	}

	/* No user but the administrator takes more than its share. */
	if (file->user &&
	    (file->user->nr_exports >= HYPER_DMABUF_MAX_IDS_PER_USER ||
	     (!hyper_dmabuf_is_local(core, remote_domid) &&
	      file->user->nr_remote_pages + PFN_UP(dmabuf->size) >
	      HYPER_DMABUF_MAX_REMOTE_PAGES_PER_USER))) {
		ret = -EDQUOT;
		goto err_unlock;
	}
	exp = kzalloc_obj(*exp, GFP_KERNEL_ACCOUNT);
	if (!exp) {
		ret = -ENOMEM;
		goto err_unlock;
	}
	exp->core = core;
	kref_init(&exp->kref);
	exp->remote_domid = remote_domid;
	exp->loopback = hyper_dmabuf_is_local(core, remote_domid);
	exp->flags = flags;
	exp->dmabuf = dmabuf;
	exp->priv_size = priv_size;
	memcpy(exp->priv, priv, priv_size);
	INIT_DELAYED_WORK(&exp->unexport_work, hyper_dmabuf_unexport_work);
	INIT_LIST_HEAD(&exp->gone_link);
	INIT_WORK(&exp->fence_work, hyper_dmabuf_fence_work);
	INIT_DELAYED_WORK(&exp->announce_work, hyper_dmabuf_announce_work);

	if (!exp->loopback && !ops) {
		ret = -ENODEV;
		goto err_free_exp;
	}
	if (!exp->loopback) {
		exp->bye = hyper_dmabuf_txmsg_alloc();
		if (!exp->bye) {
			ret = -ENOMEM;
			goto err_free_exp;
		}
	}

	ret = hyper_dmabuf_id_alloc(&core->ids,
				    hyper_dmabuf_core_local_domid(core),
				    &exp->hid);
	if (ret)
		goto err_free_exp;

	if (!exp->loopback) {
		if (!try_module_get(ops->owner)) {
			ret = -ENODEV;
			goto err_release_id;
		}
		ret = ops->init_channel(remote_domid);
		if (ret)
			goto err_put_backend;
		ret = ops->share(remote_domid, dmabuf, rw, &exp->share);
		if (ret)
			goto err_fini_channel;
		/*
		 * Busy: tell the peer now that the id exists, so that its
		 * importers can wait for the announcement (or get -EAGAIN).
		 */
		ret = hyper_dmabuf_send(core, remote_domid,
					fence ? HYPER_DMABUF_OP_PENDING :
						HYPER_DMABUF_OP_EXPORT,
					&exp->hid, exp, NULL);
		if (ret)
			goto err_unshare;
		if (fence)
			exp->pending_sent = true;
		else
			exp->announced = true;
	}

	ret = xa_insert(&core->exports, hyper_dmabuf_id_slot(exp->hid.id),
			exp, GFP_KERNEL);
	if (ret && exp->loopback)
		goto err_release_id;
	if (ret)
		goto err_withdraw;

	get_dma_buf(dmabuf);
	exp->owner = file;
	list_add(&exp->owner_link, &file->exports);
	/* Charged until the id and the grants are free (exp_release()). */
	if (file->user) {
		exp->user = file->user;
		exp->user->refs++;
		exp->user->nr_exports++;
		if (!exp->loopback)
			exp->user->nr_remote_pages += PFN_UP(dmabuf->size);
	}
	if (fence)
		hyper_dmabuf_fence_arm(exp, fence);
	else if (exp->loopback)
		hyper_dmabuf_exp_announce(exp);
	*hid = exp->hid;
	if (created)
		*created = true;
	mutex_unlock(&core->lock);
	return 0;

err_withdraw:
	hyper_dmabuf_exp_withdraw(exp);
err_unshare:
	ops->unshare(remote_domid, exp->share.handle);
err_fini_channel:
	ops->fini_channel(remote_domid);
err_put_backend:
	module_put(ops->owner);
err_release_id:
	hyper_dmabuf_id_release(&core->ids, exp->hid.id);
err_free_exp:
	kfree(exp->bye);
	kfree(exp);
err_unlock:
	mutex_unlock(&core->lock);
	if (fence)
		hyper_dmabuf_fence_put(core, fence);
	return ret;
}

static int hyper_dmabuf_unexport_hid(struct hyper_dmabuf_file *file,
				     const struct hyper_dmabuf_id *hid,
				     u32 delay_ms, bool any_file)
{
	struct hyper_dmabuf_core *core = file->core;
	struct hyper_dmabuf_exp *exp;

	if (delay_ms > HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS || hid->pad)
		return -EINVAL;

	mutex_lock(&core->lock);
	exp = hyper_dmabuf_exp_lookup(core, hid);
	/* No owner: already unexported, or its file is closing. */
	if (!exp || !exp->owner || (!any_file && exp->owner != file)) {
		mutex_unlock(&core->lock);
		return -ENOENT;
	}
	hyper_dmabuf_exp_detach(exp);
	hyper_dmabuf_fence_drop(exp);
	/*
	 * The peer is told at once: no new import anywhere.  The delay keeps
	 * the export (its id and grants) that much longer, whatever the
	 * importers do, for an import already under way in another domain:
	 * its IMPORTED, on its way, still finds the export and holds it.
	 */
	hyper_dmabuf_exp_withdraw(exp);
	if (delay_ms) {
		/*
		 * The work inherits the table reference; keep one for
		 * cancelling the fence work below.
		 */
		kref_get(&exp->kref);
		queue_delayed_work(core->wq, &exp->unexport_work,
				   msecs_to_jiffies(delay_ms));
	}
	mutex_unlock(&core->lock);
	hyper_dmabuf_exp_cancel_works(exp);
	hyper_dmabuf_exp_put(exp);
	return 0;
}

/**
 * hyper_dmabuf_unexport() - withdraw an export
 * @file: file that made the export
 * @hid: id of the export
 * @delay_ms: time the export is kept at least (the peer is told at
 *	once), bounded by %HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS
 *
 * Return: 0, -EINVAL for a bad delay or padding, -ENOENT if @file has no
 * such export.
 */
int hyper_dmabuf_unexport(struct hyper_dmabuf_file *file,
			  const struct hyper_dmabuf_id *hid, u32 delay_ms)
{
	return hyper_dmabuf_unexport_hid(file, hid, delay_ms, false);
}

/**
 * hyper_dmabuf_unexport_any() - withdraw an export made by any file
 * @file: file asking (the caller checked its privilege)
 * @hid: id and key of the export
 * @delay_ms: as for hyper_dmabuf_unexport()
 *
 * Return: 0, -EINVAL for a bad delay or padding, -ENOENT if this domain
 * has no such export, or it is already unexported.
 */
int hyper_dmabuf_unexport_any(struct hyper_dmabuf_file *file,
			      const struct hyper_dmabuf_id *hid, u32 delay_ms)
{
	return hyper_dmabuf_unexport_hid(file, hid, delay_ms, true);
}

/**
 * hyper_dmabuf_list() - ids of this domain's exports or of its imports
 * @core: core instance
 * @type: %HYPER_DMABUF_TYPE_EXPORTED or %HYPER_DMABUF_TYPE_IMPORTED
 * @mine: if not NULL, only the exports of this file come with their key;
 *	the keys of other files' exports are zeroed
 * @hids: receives at most @count ids (may be NULL if @count is 0)
 * @count: capacity of @hids
 * @total: set to the number of such buffers
 *
 * Return: 0, or -EINVAL for an unknown @type.
 */
int hyper_dmabuf_list(struct hyper_dmabuf_core *core, u32 type,
		      const struct hyper_dmabuf_file *mine,
		      struct hyper_dmabuf_id *hids, u32 count, u32 *total)
{
	struct hyper_dmabuf_exp *exp;
	struct hyper_dmabuf_imp *imp;
	unsigned long index;
	unsigned int bkt;
	u32 n = 0;

	if (type != HYPER_DMABUF_TYPE_EXPORTED &&
	    type != HYPER_DMABUF_TYPE_IMPORTED)
		return -EINVAL;
	mutex_lock(&core->lock);
	if (type == HYPER_DMABUF_TYPE_EXPORTED) {
		xa_for_each(&core->exports, index, exp) {
			if (n < count) {
				hids[n] = exp->hid;
				if (mine && exp->owner != mine)
					memset(hids[n].key, 0,
					       sizeof(hids[n].key));
			}
			n++;
		}
	} else {
		hash_for_each(core->imports, bkt, imp, node) {
			if (n < count) {
				hids[n] = imp->hid;
				if (mine)
					memset(hids[n].key, 0,
					       sizeof(hids[n].key));
			}
			n++;
		}
	}
	mutex_unlock(&core->lock);
	*total = n;
	return 0;
}

/* ---- buffers announced by other domains ------------------------------ */

/* Forget a buffer announced by another domain. */
static void hyper_dmabuf_imp_free(struct hyper_dmabuf_core *core,
				  struct hyper_dmabuf_imp *imp)
{
	lockdep_assert_held(&core->lock);
	if (imp->pending)
		hyper_dmabuf_wake_importers(core);
	hash_del(&imp->node);
	module_put(core->backend->owner);
	kfree(imp->bye);
	kfree(imp);
}

/*
 * Drop a local user of a remote buffer: the last one unmaps it and tells
 * the exporter, and frees the record if the exporter withdrew the buffer.
 */
static void hyper_dmabuf_imp_put(struct hyper_dmabuf_core *core,
				 struct hyper_dmabuf_imp *imp)
{
	lockdep_assert_held(&core->lock);
	if (--imp->users)
		return;
	core->backend->unmap(imp->hid.exporter_domid, imp->map.handle);
	/* Allocated when the buffer was mapped: this cannot fail. */
	if (!imp->gone)
		hyper_dmabuf_send_flags(core, imp->hid.exporter_domid,
					HYPER_DMABUF_OP_RELEASED, imp->map_seq,
					&imp->hid, NULL, imp->bye);
	else
		kfree(imp->bye);
	imp->bye = NULL;
	if (imp->unexported)
		hyper_dmabuf_imp_free(core, imp);
}

/* ---- local dma-buf wrapping a loopback export ------------------------- */

static int hyper_dmabuf_lb_attach(struct dma_buf *dmabuf,
				  struct dma_buf_attachment *attach)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;
	struct dma_buf_attachment *orig;

	orig = dma_buf_attach(lbuf->exp->dmabuf, attach->dev);
	if (IS_ERR(orig))
		return PTR_ERR(orig);
	attach->priv = orig;
	return 0;
}

static void hyper_dmabuf_lb_detach(struct dma_buf *dmabuf,
				   struct dma_buf_attachment *attach)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;

	dma_buf_detach(lbuf->exp->dmabuf, attach->priv);
}

static struct sg_table *
hyper_dmabuf_lb_map(struct dma_buf_attachment *attach,
		    enum dma_data_direction dir)
{
	return dma_buf_map_attachment(attach->priv, dir);
}

static void hyper_dmabuf_lb_unmap(struct dma_buf_attachment *attach,
				  struct sg_table *sgt,
				  enum dma_data_direction dir)
{
	dma_buf_unmap_attachment(attach->priv, sgt, dir);
}

static int hyper_dmabuf_lb_mmap(struct dma_buf *dmabuf,
				struct vm_area_struct *vma)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;

	return dma_buf_mmap(lbuf->exp->dmabuf, vma, vma->vm_pgoff);
}

static int hyper_dmabuf_lb_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;

	return dma_buf_vmap(lbuf->exp->dmabuf, map);
}

static void hyper_dmabuf_lb_vunmap(struct dma_buf *dmabuf,
				   struct iosys_map *map)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;

	dma_buf_vunmap(lbuf->exp->dmabuf, map);
}

static int hyper_dmabuf_lb_begin_cpu(struct dma_buf *dmabuf,
				     enum dma_data_direction dir)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;

	return dma_buf_begin_cpu_access(lbuf->exp->dmabuf, dir);
}

static int hyper_dmabuf_lb_end_cpu(struct dma_buf *dmabuf,
				   enum dma_data_direction dir)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;

	return dma_buf_end_cpu_access(lbuf->exp->dmabuf, dir);
}

static void hyper_dmabuf_lbuf_release(struct dma_buf *dmabuf)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;
	struct hyper_dmabuf_core *core = lbuf->core;
	struct hyper_dmabuf_exp *exp = lbuf->exp;
	struct hyper_dmabuf_imp *imp = lbuf->imp;

	mutex_lock(&core->lock);
	if (lbuf->file)
		list_del(&lbuf->file_link);
	atomic_dec(&core->nr_imports);
	if (exp)
		exp->importers--;
	else
		hyper_dmabuf_imp_put(core, imp);
	mutex_unlock(&core->lock);
	if (exp)
		hyper_dmabuf_exp_put(exp);
	kfree(lbuf);
}

static const struct dma_buf_ops hyper_dmabuf_lb_ops = {
	.attach = hyper_dmabuf_lb_attach,
	.detach = hyper_dmabuf_lb_detach,
	.map_dma_buf = hyper_dmabuf_lb_map,
	.unmap_dma_buf = hyper_dmabuf_lb_unmap,
	.release = hyper_dmabuf_lbuf_release,
	.mmap = hyper_dmabuf_lb_mmap,
	.vmap = hyper_dmabuf_lb_vmap,
	.vunmap = hyper_dmabuf_lb_vunmap,
	.begin_cpu_access = hyper_dmabuf_lb_begin_cpu,
	.end_cpu_access = hyper_dmabuf_lb_end_cpu,
};

/* ---- local dma-buf wrapping pages mapped from another domain ---------- */

static struct sg_table *
hyper_dmabuf_rm_map(struct dma_buf_attachment *attach,
		    enum dma_data_direction dir)
{
	struct hyper_dmabuf_lbuf *lbuf = attach->dmabuf->priv;
	struct hyper_dmabuf_mapping *map = &lbuf->imp->map;
	struct sg_table *sgt;
	int ret;

	sgt = kzalloc_obj(*sgt, GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table_from_pages_segment(sgt, map->pages, map->nr_pages,
						0, (size_t)map->nr_pages << PAGE_SHIFT,
						map->max_segment ?: UINT_MAX,
						GFP_KERNEL);
	if (ret)
		goto err_free_sgt;
	ret = dma_map_sgtable(attach->dev, sgt, dir, 0);
	if (ret)
		goto err_free_table;
	return sgt;

err_free_table:
	sg_free_table(sgt);
err_free_sgt:
	kfree(sgt);
	return ERR_PTR(ret);
}

static void hyper_dmabuf_rm_unmap(struct dma_buf_attachment *attach,
				  struct sg_table *sgt,
				  enum dma_data_direction dir)
{
	dma_unmap_sgtable(attach->dev, sgt, dir, 0);
	sg_free_table(sgt);
	kfree(sgt);
}

static int hyper_dmabuf_rm_mmap(struct dma_buf *dmabuf,
				struct vm_area_struct *vma)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;
	const struct hyper_dmabuf_backend_ops *ops = lbuf->core->backend;
	struct hyper_dmabuf_mapping *map = &lbuf->imp->map;

	/* The backend stays registered while this import exists. */
	if (ops->mmap)
		return ops->mmap(map->handle, vma);
	return vm_map_pages(vma, map->pages, map->nr_pages);
}

static int hyper_dmabuf_rm_vmap(struct dma_buf *dmabuf, struct iosys_map *map)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;
	const struct hyper_dmabuf_backend_ops *ops = lbuf->core->backend;
	void *vaddr;

	if (ops->vmap)
		return ops->vmap(lbuf->imp->map.handle, map);
	vaddr = vm_map_ram(lbuf->imp->map.pages, lbuf->imp->map.nr_pages, -1);
	if (!vaddr)
		return -ENOMEM;
	iosys_map_set_vaddr(map, vaddr);
	return 0;
}

static void hyper_dmabuf_rm_vunmap(struct dma_buf *dmabuf,
				   struct iosys_map *map)
{
	struct hyper_dmabuf_lbuf *lbuf = dmabuf->priv;
	const struct hyper_dmabuf_backend_ops *ops = lbuf->core->backend;

	if (ops->vunmap)
		ops->vunmap(lbuf->imp->map.handle, map);
	else
		vm_unmap_ram(map->vaddr, lbuf->imp->map.nr_pages);
}

static const struct dma_buf_ops hyper_dmabuf_rm_ops = {
	.map_dma_buf = hyper_dmabuf_rm_map,
	.unmap_dma_buf = hyper_dmabuf_rm_unmap,
	.release = hyper_dmabuf_lbuf_release,
	.mmap = hyper_dmabuf_rm_mmap,
	.vmap = hyper_dmabuf_rm_vmap,
	.vunmap = hyper_dmabuf_rm_vunmap,
};

/* Take a local user of a remote buffer, mapping it on first use. */
static int hyper_dmabuf_imp_get(struct hyper_dmabuf_core *core,
				struct hyper_dmabuf_imp *imp)
{
	const struct hyper_dmabuf_backend_ops *ops = core->backend;
	u32 domid = imp->hid.exporter_domid;
	int ret;

	if (imp->users) {
		imp->users++;
		return 0;
	}
	imp->bye = hyper_dmabuf_txmsg_alloc();
	if (!imp->bye)
		return -ENOMEM;
	ret = ops->map(domid, imp->ref, imp->size >> PAGE_SHIFT,
		       imp->flags & HYPER_DMABUF_EXPORT_RDWR, &imp->map);
	if (ret)
		goto err_free_bye;
	if (imp->map.nr_pages != imp->size >> PAGE_SHIFT) {
		ret = -EIO;
		goto err_unmap;
	}
	ret = hyper_dmabuf_send_flags(core, domid, HYPER_DMABUF_OP_IMPORTED,
				      imp->map_seq + 1, &imp->hid, NULL, NULL);
	if (ret)
		goto err_unmap;
	imp->map_seq++;
	imp->users = 1;
	return 0;

err_unmap:
	ops->unmap(domid, imp->map.handle);
err_free_bye:
	kfree(imp->bye);
	imp->bye = NULL;
	return ret;
}

/**
 * hyper_dmabuf_import() - create a local dma-buf for a shared buffer
 * @file: importing file
 * @hid: id of the buffer
 * @fd_flags: O_CLOEXEC and the access mode of the new dma-buf
 *
 * Waits without limit for a pending announcement, like
 * hyper_dmabuf_import_wait() with no flags and no timeout.
 *
 * Return: the new dma-buf, or an ERR_PTR (see HYPER_DMABUF_IOCTL_IMPORT).
 */
struct dma_buf *hyper_dmabuf_import(struct hyper_dmabuf_file *file,
				    const struct hyper_dmabuf_id *hid,
				    u32 fd_flags)
{
	return hyper_dmabuf_import_wait(file, hid, fd_flags, 0, 0);
}

/**
 * hyper_dmabuf_import_wait() - create a local dma-buf for a shared buffer
 * @file: importing file
 * @hid: id of the buffer
 * @fd_flags: O_CLOEXEC and the access mode of the new dma-buf
 * @flags: HYPER_DMABUF_IMPORT_* flags
 * @timeout_ms: longest wait for a pending announcement, 0 for no limit
 *
 * A loopback export still waiting for its fences, or a remote buffer the
 * exporter announced as pending, is waited for (interruptibly), unless
 * @flags has %HYPER_DMABUF_IMPORT_NONBLOCK.
 *
 * Return: the new dma-buf, or an ERR_PTR (see HYPER_DMABUF_IOCTL_IMPORT).
 */
struct dma_buf *hyper_dmabuf_import_wait(struct hyper_dmabuf_file *file,
					 const struct hyper_dmabuf_id *hid,
					 u32 fd_flags, u32 flags,
					 u32 timeout_ms)
{
	long left = timeout_ms ? (long)msecs_to_jiffies(timeout_ms) :
				 MAX_SCHEDULE_TIMEOUT;
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct hyper_dmabuf_core *core = file->core;
	u32 acc = fd_flags & O_ACCMODE;
	struct hyper_dmabuf_lbuf *lbuf;
	struct hyper_dmabuf_exp *exp;
	struct hyper_dmabuf_imp *imp = NULL;
	struct dma_buf *dmabuf;
	unsigned int gen;
	bool pending;
	u32 exp_flags;
	int ret;

	if (fd_flags & ~(O_CLOEXEC | O_ACCMODE) || acc == O_ACCMODE ||
	    hid->pad || flags & ~HYPER_DMABUF_IMPORT_VALID_FLAGS)
		return ERR_PTR(-EINVAL);

	lbuf = kzalloc_obj(*lbuf, GFP_KERNEL);
	if (!lbuf)
		return ERR_PTR(-ENOMEM);
	lbuf->core = core;

retry:
	mutex_lock(&core->lock);
	exp = hyper_dmabuf_exp_lookup(core, hid);
	if (exp) {
		if (!exp->loopback || exp->unexport_pending) {
			ret = -ENOENT;
			goto err_unlock;
		}
		pending = exp->fence;
		exp_flags = exp->flags;
		exp_info.size = exp->dmabuf->size;
		exp_info.resv = exp->dmabuf->resv;
		exp_info.ops = &hyper_dmabuf_lb_ops;
	} else {
		imp = hyper_dmabuf_imp_lookup(core, hid);
		if (!imp || imp->unexported) {
			ret = -ENOENT;
			goto err_unlock;
		}
		pending = imp->pending;
		exp_flags = imp->flags;
		exp_info.size = imp->size;
		exp_info.ops = &hyper_dmabuf_rm_ops;
	}
	if (pending) {
		if (flags & HYPER_DMABUF_IMPORT_NONBLOCK) {
			ret = -EAGAIN;
			goto err_unlock;
		}
		/* Announced, withdrawn or forgotten: look it up again. */
		gen = core->wait_gen;
		mutex_unlock(&core->lock);
		left = wait_event_interruptible_timeout(core->fence_wait,
							READ_ONCE(core->wait_gen) != gen,
							left);
		if (left > 0)
			goto retry;
		if (!left)
			ret = -ETIMEDOUT;
		else
			ret = timeout_ms ? -EINTR : -ERESTARTSYS;
		kfree(lbuf);
		return ERR_PTR(ret);
	}
	if (acc != O_RDONLY && !(exp_flags & HYPER_DMABUF_EXPORT_RDWR)) {
		ret = -EACCES;
		goto err_unlock;
	}
	if (imp) {
		ret = hyper_dmabuf_imp_get(core, imp);
		if (ret)
			goto err_unlock;
	}
	exp_info.flags = acc;
	exp_info.priv = lbuf;
	lbuf->exp = exp;
	lbuf->imp = imp;
	dmabuf = dma_buf_export(&exp_info);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto err_put_imp;
	}
	if (exp) {
		kref_get(&exp->kref);
		exp->importers++;
	}
	atomic_inc(&core->nr_imports);
	lbuf->file = file;
	list_add(&lbuf->file_link, &file->imports);
	mutex_unlock(&core->lock);
	return dmabuf;

err_put_imp:
	/* Not unexported: checked above, and core->lock was held since. */
	if (imp)
		hyper_dmabuf_imp_put(core, imp);
err_unlock:
	mutex_unlock(&core->lock);
	kfree(lbuf);
	return ERR_PTR(ret);
}

/**
 * hyper_dmabuf_query() - describe a buffer
 * @core: core instance
 * @q: query; @q->hid is the input, the out members are filled
 * @priv: buffer of %HYPER_DMABUF_MAX_PRIV bytes receiving the private data
 *
 * Return: 0 or -ENOENT.
 */
int hyper_dmabuf_query(struct hyper_dmabuf_core *core,
		       struct hyper_dmabuf_query *q, void *priv)
{
	struct hyper_dmabuf_exp *exp;
	struct hyper_dmabuf_imp *imp;
	int ret = 0;

	q->state = 0;
	mutex_lock(&core->lock);
	exp = hyper_dmabuf_exp_lookup(core, &q->hid);
	if (exp) {
		if (exp->fence || exp->announce_delay)
			q->state |= HYPER_DMABUF_QUERY_F_PENDING_IDLE;
		q->type = HYPER_DMABUF_TYPE_EXPORTED;
		q->flags = exp->flags;
		q->exporter_domid = exp->hid.exporter_domid;
		q->importer_domid = exp->remote_domid;
		q->size = exp->dmabuf->size;
		q->busy = exp->importers;
		q->unexport_pending = exp->unexport_pending;
		q->priv_size = exp->priv_size;
		memcpy(priv, exp->priv, exp->priv_size);
		goto out_unlock;
	}
	imp = hyper_dmabuf_imp_lookup(core, &q->hid);
	if (imp) {
		if (imp->pending)
			q->state |= HYPER_DMABUF_QUERY_F_PENDING_IDLE;
		q->type = HYPER_DMABUF_TYPE_IMPORTED;
		q->flags = imp->flags;
		q->exporter_domid = imp->hid.exporter_domid;
		q->importer_domid = hyper_dmabuf_core_local_domid(core);
		q->size = imp->size;
		q->busy = imp->users;
		q->unexport_pending = imp->unexported;
		q->priv_size = imp->priv_size;
		memcpy(priv, imp->priv, imp->priv_size);
		goto out_unlock;
	}
	ret = -ENOENT;
out_unlock:
	mutex_unlock(&core->lock);
	return ret;
}

/* ---- messages from other domains -------------------------------------- */

/* Record a buffer another domain exported here (announced or pending). */
static enum hyper_dmabuf_drop_reason
hyper_dmabuf_rx_new(struct hyper_dmabuf_core *core,
		    const struct hyper_dmabuf_msg *msg)
{
	struct hyper_dmabuf_imp *imp;

	lockdep_assert_held(&core->lock);
	imp = kzalloc_obj(*imp, GFP_KERNEL);
	if (!imp)
		return HYPER_DMABUF_DROP_NOMEM;
	if (!try_module_get(core->backend->owner)) {
		kfree(imp);
		return HYPER_DMABUF_DROP_STATE;
	}
	imp->core = core;
	imp->hid = msg->hid;
	imp->flags = msg->flags;
	imp->size = msg->buf_size;
	imp->ref = msg->ref;
	imp->priv_size = msg->priv_size;
	memcpy(imp->priv, msg->priv, msg->priv_size);
	imp->pending = msg->op == HYPER_DMABUF_OP_PENDING;
	hash_add(core->imports, &imp->node,
		 hyper_dmabuf_imp_hkey(imp->hid.exporter_domid, imp->hid.id));
	/* Importers learn of a pending buffer only once it is announced. */
	if (!imp->pending)
		hyper_dmabuf_announce(core, &imp->hid, imp->flags, imp->size,
				      imp->priv, imp->priv_size, false);
	return HYPER_DMABUF_DROP_MAX;
}

/*
 * The exporter announces @imp's id with another key: it withdrew @imp, and
 * its UNEXPORT was lost (it is sent before the id can be used again).
 * Forget @imp as if the UNEXPORT had come, rather than let it hide the new
 * buffer.
 */
static void hyper_dmabuf_imp_stale(struct hyper_dmabuf_core *core,
				   struct hyper_dmabuf_imp *imp)
{
	imp->unexported = true;
	if (!imp->users)
		hyper_dmabuf_imp_free(core, imp);
}

static enum hyper_dmabuf_drop_reason
hyper_dmabuf_rx_export(struct hyper_dmabuf_core *core,
		       const struct hyper_dmabuf_msg *msg)
{
	struct hyper_dmabuf_imp *imp;

	/* A withdrawn buffer is not announced again. */
	imp = hyper_dmabuf_imp_lookup(core, &msg->hid);
	if (imp && imp->unexported)
		return HYPER_DMABUF_DROP_STATE;
	imp = hyper_dmabuf_imp_find(core, msg->hid.exporter_domid,
				    msg->hid.id);
	if (imp && !hyper_dmabuf_hid_match(&imp->hid, &msg->hid)) {
		hyper_dmabuf_imp_stale(core, imp);
		imp = NULL;
	}
	if (imp) {
		/*
		 * The announcement of a pending buffer, or a re-announce:
		 * new private data for a known buffer.
		 */
		if (imp->size != msg->buf_size ||
		    imp->flags != msg->flags ||
		    (!imp->pending && imp->ref != msg->ref))
			return HYPER_DMABUF_DROP_STATE;
		imp->ref = msg->ref;
		imp->priv_size = msg->priv_size;
		memcpy(imp->priv, msg->priv, msg->priv_size);
		hyper_dmabuf_announce(core, &imp->hid, imp->flags, imp->size,
				      imp->priv, imp->priv_size, !imp->pending);
		if (imp->pending) {
			imp->pending = false;
			hyper_dmabuf_wake_importers(core);
		}
		return HYPER_DMABUF_DROP_MAX;
	}
	return hyper_dmabuf_rx_new(core, msg);
}

/* A PENDING notice: the id exists, its announcement follows. */
static enum hyper_dmabuf_drop_reason
hyper_dmabuf_rx_pending(struct hyper_dmabuf_core *core,
			const struct hyper_dmabuf_msg *msg)
{
	struct hyper_dmabuf_imp *imp;

	/* Known already, or withdrawn: not pending. */
	if (hyper_dmabuf_imp_lookup(core, &msg->hid))
		return HYPER_DMABUF_DROP_STATE;
	imp = hyper_dmabuf_imp_find(core, msg->hid.exporter_domid,
				    msg->hid.id);
	if (imp)
		hyper_dmabuf_imp_stale(core, imp);
	return hyper_dmabuf_rx_new(core, msg);
}

static enum hyper_dmabuf_drop_reason
hyper_dmabuf_rx_unexport(struct hyper_dmabuf_core *core,
			 const struct hyper_dmabuf_msg *msg)
{
	struct hyper_dmabuf_imp *imp;

	imp = hyper_dmabuf_imp_lookup(core, &msg->hid);
	if (!imp)
		return HYPER_DMABUF_DROP_KEY;
	if (imp->unexported)
		return HYPER_DMABUF_DROP_STATE;
	imp->unexported = true;
	if (!imp->users)
		hyper_dmabuf_imp_free(core, imp);
	return HYPER_DMABUF_DROP_MAX;
}

static enum hyper_dmabuf_drop_reason
hyper_dmabuf_rx_sync(struct hyper_dmabuf_core *core,
		     const struct hyper_dmabuf_msg *msg,
		     struct hyper_dmabuf_exp **put)
{
	struct hyper_dmabuf_exp *exp;

	exp = hyper_dmabuf_exp_lookup(core, &msg->hid);
	if (!exp)
		return HYPER_DMABUF_DROP_KEY;
	if (exp->loopback || exp->remote_domid != msg->sender_domid)
		return HYPER_DMABUF_DROP_STATE;

	switch (msg->op) {
	case HYPER_DMABUF_OP_IMPORTED:
		/*
		 * A buffer only announced as pending cannot be mapped yet.
		 * One being withdrawn can: the peer may have mapped it before
		 * the UNEXPORT reached it, and the export, still there,
		 * stays until the peer says RELEASED.
		 */
		if (!exp->announced)
			return HYPER_DMABUF_DROP_STATE;
		/*
		 * The peer maps a buffer once for all its users, and numbers
		 * its mappings: one reference at most, whatever it says, so
		 * that a peer cannot pile up references.  A new mapping
		 * while one is counted means the RELEASED of the old one is
		 * still on its way: it will find the new number.
		 */
		if (exp->importers && exp->map_seq == msg->flags)
			return HYPER_DMABUF_DROP_REPEAT;
		if (!exp->importers) {
			kref_get(&exp->kref);
			exp->importers++;
		}
		exp->map_seq = msg->flags;
		break;
	case HYPER_DMABUF_OP_RELEASED:
		/* Only the end of the mapping counted, not of an older one. */
		if (!exp->importers || exp->map_seq != msg->flags)
			return HYPER_DMABUF_DROP_STATE;
		exp->importers--;
		*put = exp;
		break;
	default:
		return HYPER_DMABUF_DROP_OP;
	}
	return HYPER_DMABUF_DROP_MAX;
}

/* An ACK: the peer has what we kept sending; forget it. */
static enum hyper_dmabuf_drop_reason
hyper_dmabuf_rx_ack(struct hyper_dmabuf_core *core,
		    const struct hyper_dmabuf_msg *msg)
{
	struct hyper_dmabuf_peer *peer = xa_load(&core->peers,
						 msg->sender_domid);
	struct hyper_dmabuf_txmsg *m, *found = NULL;
	bool acked = false;

	if (!peer)
		return HYPER_DMABUF_DROP_STATE;
	spin_lock(&core->tx_lock);
	list_for_each_entry(m, &peer->unacked, link) {
		if (hyper_dmabuf_ack_flags(m->op, m->flags) != msg->flags ||
		    !hyper_dmabuf_hid_match(&m->hid, &msg->hid))
			continue;
		list_del(&m->link);
		peer->nr_unacked--;
		acked = true;
		/* Still being sent: its sender frees it. */
		if (m->inflight)
			m->acked = true;
		else
			found = m;
		break;
	}
	spin_unlock(&core->tx_lock);
	kfree(found);
	/* A repeat, or the answer to a copy sent again: nothing waits. */
	return acked ? HYPER_DMABUF_DROP_MAX : HYPER_DMABUF_DROP_STATE;
}

/**
 * hyper_dmabuf_core_rx() - handle a message received from another domain
 * @core: core instance
 * @sender_domid: peer of the channel the message arrived on
 * @buf: message bytes
 * @len: message length
 *
 * Invalid messages, and messages that do not fit the core's state (unknown
 * id, wrong key, unexpected operation), are dropped and counted per reason.
 *
 * Context: process context, core->lock not held.
 * Return: 0 if the message was accepted, -EINVAL if it was dropped.
 */
int hyper_dmabuf_core_rx(struct hyper_dmabuf_core *core, u32 sender_domid,
			 const void *buf, size_t len)
{
	enum hyper_dmabuf_drop_reason reason = HYPER_DMABUF_DROP_STATE;
	struct hyper_dmabuf_msg *msg = &core->rx_msg;
	struct hyper_dmabuf_exp *put = NULL;

	mutex_lock(&core->lock);
	if (!core->backend)
		goto out_unlock;
	if (hyper_dmabuf_msg_decode(buf, len, sender_domid,
				    hyper_dmabuf_core_local_domid(core), msg,
				    &reason))
		goto out_unlock;
	/*
	 * Acknowledge every well-formed UNEXPORT and RELEASED, even one that
	 * finds nothing: it may be a copy sent again after a lost ACK.  An
	 * ACK that cannot be queued now is lost like any, and the peer
	 * sends its message again.
	 */
	if (hyper_dmabuf_op_acked(msg->op))
		hyper_dmabuf_send_flags(core, sender_domid,
					HYPER_DMABUF_OP_ACK,
					hyper_dmabuf_ack_flags(msg->op,
							       msg->flags),
					&msg->hid, NULL, NULL);

	switch (msg->op) {
	case HYPER_DMABUF_OP_EXPORT:
		reason = hyper_dmabuf_rx_export(core, msg);
		break;
	case HYPER_DMABUF_OP_PENDING:
		reason = hyper_dmabuf_rx_pending(core, msg);
		break;
	case HYPER_DMABUF_OP_UNEXPORT:
		reason = hyper_dmabuf_rx_unexport(core, msg);
		break;
	case HYPER_DMABUF_OP_ACK:
		reason = hyper_dmabuf_rx_ack(core, msg);
		break;
	default:
		reason = hyper_dmabuf_rx_sync(core, msg, &put);
		break;
	}
out_unlock:
	mutex_unlock(&core->lock);
	if (put)
		hyper_dmabuf_exp_put(put);
	if (reason == HYPER_DMABUF_DROP_MAX)
		return 0;
	atomic_inc(&core->drops[reason]);
	return -EINVAL;
}

/**
 * hyper_dmabuf_core_peer_gone() - forget what was shared with a lost domain
 * @core: core instance
 * @domid: domain that died, closed its channel or restarted its driver
 *
 * Exports to @domid are withdrawn as if unexported (the peer's mappings
 * went with it), which returns their ids and lets the backend end its
 * grants.  Buffers @domid announced are forgotten; those still imported
 * stay usable until their last local user lets go.
 */
void hyper_dmabuf_core_peer_gone(struct hyper_dmabuf_core *core, u32 domid)
{
	struct hyper_dmabuf_peer *peer;
	struct hyper_dmabuf_exp *exp, *etmp;
	struct hyper_dmabuf_imp *imp;
	struct hlist_node *itmp;
	unsigned long index;
	unsigned int bkt;
	LIST_HEAD(dead);

	mutex_lock(&core->lock);
	xa_for_each(&core->exports, index, exp) {
		if (exp->loopback || exp->remote_domid != domid || exp->gone)
			continue;
		/*
		 * The owner's reference goes too, as on unexport; an export
		 * already detached (unexported, or its file closing) keeps
		 * the owner_link its detacher uses.
		 */
		exp->gone = true;
		exp->gone_refs = exp->importers + !!exp->owner + 1;
		exp->importers = 0;
		exp->announced = false;
		exp->pending_sent = false;
		if (exp->owner)
			hyper_dmabuf_exp_detach(exp);
		hyper_dmabuf_fence_drop(exp);
		kref_get(&exp->kref);
		list_add_tail(&exp->gone_link, &dead);
	}
	hash_for_each_safe(core->imports, bkt, itmp, imp, node) {
		if (imp->hid.exporter_domid != domid)
			continue;
		imp->unexported = true;
		imp->gone = true;
		if (!imp->users)
			hyper_dmabuf_imp_free(core, imp);
	}
	/* What was still to be said to the old peer is moot. */
	peer = xa_load(&core->peers, domid);
	if (peer)
		hyper_dmabuf_peer_purge(peer);
	mutex_unlock(&core->lock);
	/*
	 * A message taken from the queue before the purge may still be on
	 * its way: wait for it, so that it cannot reach a new incarnation of
	 * the peer (the backend reconnects only after this returns).
	 */
	if (peer) {
		mutex_lock(&peer->send_lock);
		mutex_unlock(&peer->send_lock);
	}

	list_for_each_entry_safe(exp, etmp, &dead, gone_link) {
		unsigned int refs = exp->gone_refs;

		list_del_init(&exp->gone_link);
		hyper_dmabuf_exp_cancel_works(exp);
		while (refs--)
			hyper_dmabuf_exp_put(exp);
	}
}

/* ---- files ------------------------------------------------------------ */

/**
 * hyper_dmabuf_file_open() - initialise the state of a new open file
 * @core: core instance
 * @file: state to initialise; @file->privileged and @file->uid are set
 *
 * Return: 0, or -ENOMEM.
 */
int hyper_dmabuf_file_open(struct hyper_dmabuf_core *core,
			   struct hyper_dmabuf_file *file)
{
	struct hyper_dmabuf_user *spare;

	file->core = core;
	INIT_LIST_HEAD(&file->exports);
	INIT_LIST_HEAD(&file->imports);
	hyper_dmabuf_evq_init(&file->evq, &core->events, file->privileged);
	file->user = NULL;
	if (file->privileged)
		return 0;
	/* Allocated beforehand: the core's lock is held only for the lookup. */
	spare = kzalloc_obj(*spare, GFP_KERNEL_ACCOUNT);
	if (!spare)
		return -ENOMEM;
	mutex_lock(&core->lock);
	file->user = hyper_dmabuf_user_get(core, file->uid, &spare);
	mutex_unlock(&core->lock);
	kfree(spare);
	return 0;
}

/**
 * hyper_dmabuf_file_release() - unexport everything a file exported
 * @file: closing file
 *
 * Imports made through the file stay valid (they are dma-bufs of their
 * own); only their link to the file is dropped.
 */
void hyper_dmabuf_file_release(struct hyper_dmabuf_file *file)
{
	struct hyper_dmabuf_core *core = file->core;
	struct hyper_dmabuf_lbuf *lbuf, *ltmp;
	struct hyper_dmabuf_exp *exp, *tmp;
	LIST_HEAD(dead);

	mutex_lock(&core->lock);
	list_for_each_entry_safe(exp, tmp, &file->exports, owner_link) {
		hyper_dmabuf_exp_detach(exp);
		list_add_tail(&exp->owner_link, &dead);
		hyper_dmabuf_fence_drop(exp);
		hyper_dmabuf_exp_withdraw(exp);
	}
	list_for_each_entry_safe(lbuf, ltmp, &file->imports, file_link) {
		list_del(&lbuf->file_link);
		lbuf->file = NULL;
	}
	if (file->user)
		hyper_dmabuf_user_put(core, file->user);
	file->user = NULL;
	mutex_unlock(&core->lock);

	list_for_each_entry_safe(exp, tmp, &dead, owner_link) {
		list_del_init(&exp->owner_link);
		hyper_dmabuf_exp_cancel_works(exp);
		hyper_dmabuf_exp_put(exp);
	}
}

/* ---- backend registration --------------------------------------------- */

/**
 * hyper_dmabuf_register_backend() - make a hypervisor backend available
 * @ops: backend operations; must stay valid until unregistered
 *
 * Only one backend can be registered.  Exports that already exist keep
 * the local domain id they were created with.
 *
 * Return: 0, -ENODEV if the core is not initialised, -EBUSY if a backend
 * is already registered, -EINVAL if @ops lacks a callback.
 */
int hyper_dmabuf_register_backend(const struct hyper_dmabuf_backend_ops *ops)
{
	struct hyper_dmabuf_core *core = hyper_dmabuf_main;
	int ret = 0;

	if (!ops->get_domid || !ops->init_channel || !ops->fini_channel ||
	    !ops->share || !ops->unshare || !ops->map || !ops->unmap ||
	    !ops->send || !ops->vmap != !ops->vunmap)
		return -EINVAL;
	if (!core)
		return -ENODEV;
	mutex_lock(&core->lock);
	spin_lock(&core->tx_lock);
	if (core->backend)
		ret = -EBUSY;
	else
		core->backend = ops;
	spin_unlock(&core->tx_lock);
	mutex_unlock(&core->lock);
	return ret;
}
EXPORT_SYMBOL_GPL(hyper_dmabuf_register_backend);

/**
 * hyper_dmabuf_unregister_backend() - withdraw a backend
 * @ops: operations passed to hyper_dmabuf_register_backend()
 *
 * The core holds a reference on @ops->owner for each remote export and
 * each buffer announced by another domain, so this is normally called from
 * the backend's module exit when none are left.  No callback is invoked
 * once this returns.
 */
void hyper_dmabuf_unregister_backend(const struct hyper_dmabuf_backend_ops *ops)
{
	struct hyper_dmabuf_core *core = hyper_dmabuf_main;
	bool ours;

	if (!core)
		return;
	mutex_lock(&core->lock);
	ours = core->backend == ops;
	if (ours) {
		spin_lock(&core->tx_lock);
		core->backend = NULL;
		spin_unlock(&core->tx_lock);
	}
	mutex_unlock(&core->lock);
	/* A send in progress ends before this returns. */
	if (ours)
		hyper_dmabuf_tx_stop(core);
}
EXPORT_SYMBOL_GPL(hyper_dmabuf_unregister_backend);

/**
 * hyper_dmabuf_backend_rx() - deliver a message received by the backend
 * @sender_domid: peer of the channel the message arrived on
 * @msg: message bytes, only read during the call
 * @len: message length
 *
 * Context: process context (backends defer from interrupt handlers to a
 * work item), may sleep.  Invalid messages are dropped and counted.
 */
void hyper_dmabuf_backend_rx(u32 sender_domid, const void *msg, size_t len)
{
	if (hyper_dmabuf_main)
		hyper_dmabuf_core_rx(hyper_dmabuf_main, sender_domid, msg, len);
}
EXPORT_SYMBOL_GPL(hyper_dmabuf_backend_rx);

/**
 * hyper_dmabuf_backend_peer_gone() - report the loss of a peer domain
 * @domid: domain whose channel went down
 *
 * Context: process context, without locks the backend takes in its
 * callbacks.
 */
void hyper_dmabuf_backend_peer_gone(u32 domid)
{
	if (hyper_dmabuf_main)
		hyper_dmabuf_core_peer_gone(hyper_dmabuf_main, domid);
}
EXPORT_SYMBOL_GPL(hyper_dmabuf_backend_peer_gone);

/**
 * hyper_dmabuf_backend_count_grants() - account grants in debugfs
 * @delta: grants added (positive) or removed (negative)
 */
void hyper_dmabuf_backend_count_grants(int delta)
{
	if (hyper_dmabuf_main)
		atomic_add(delta, &hyper_dmabuf_main->nr_grants);
}
EXPORT_SYMBOL_GPL(hyper_dmabuf_backend_count_grants);

/**
 * hyper_dmabuf_backend_count_mapped_pages() - account mapped foreign pages
 * @delta: pages mapped (positive) or unmapped (negative)
 */
void hyper_dmabuf_backend_count_mapped_pages(int delta)
{
	if (hyper_dmabuf_main)
		atomic_add(delta, &hyper_dmabuf_main->nr_mapped_pages);
}
EXPORT_SYMBOL_GPL(hyper_dmabuf_backend_count_mapped_pages);

/**
 * hyper_dmabuf_sgt_check() - check that a mapped table can be granted
 * @sgt: the table of an attachment, mapped for a device of the backend
 * @nr_pages: pages the buffer has
 *
 * Only the DMA addresses are looked at: the page links of an importer's
 * table belong to the exporter (and CONFIG_DMABUF_DEBUG hides them).
 *
 * Return: 0 if every DMA segment starts and ends on a page boundary and
 * the segments cover exactly @nr_pages pages, -EOPNOTSUPP otherwise.
 */
int hyper_dmabuf_sgt_check(struct sg_table *sgt, unsigned int nr_pages)
{
	struct scatterlist *sg;
	unsigned int got = 0;
	int i;

	for_each_sgtable_dma_sg(sgt, sg, i) {
		dma_addr_t addr = sg_dma_address(sg);
		unsigned int len = sg_dma_len(sg);

		if (!PAGE_ALIGNED(addr) || !PAGE_ALIGNED(len) || !len ||
		    len >> PAGE_SHIFT > nr_pages - got)
			return -EOPNOTSUPP;
		got += len >> PAGE_SHIFT;
	}
	return got == nr_pages ? 0 : -EOPNOTSUPP;
}
EXPORT_SYMBOL_GPL(hyper_dmabuf_sgt_check);

/* ---- setup and debugfs ------------------------------------------------ */

static int hyper_dmabuf_live_ids_show(struct seq_file *s, void *unused)
{
	struct hyper_dmabuf_core *core = s->private;

	seq_printf(s, "%u\n", hyper_dmabuf_id_live(&core->ids));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hyper_dmabuf_live_ids);

static int hyper_dmabuf_dropped_show(struct seq_file *s, void *unused)
{
	struct hyper_dmabuf_core *core = s->private;
	unsigned int total = 0;
	int i;

	for (i = 0; i < HYPER_DMABUF_DROP_MAX; i++)
		total += atomic_read(&core->drops[i]);
	seq_printf(s, "total %u\n", total);
	for (i = 0; i < HYPER_DMABUF_DROP_MAX; i++)
		seq_printf(s, "%s %d\n", hyper_dmabuf_drop_names[i],
			   atomic_read(&core->drops[i]));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hyper_dmabuf_dropped);

/*
 * Messages dropped for good, those given up without an ACK, and per peer
 * those queued and those waiting for their ACK.
 */
static int hyper_dmabuf_tx_show(struct seq_file *s, void *unused)
{
	struct hyper_dmabuf_core *core = s->private;
	unsigned int queued, unacked;
	struct hyper_dmabuf_peer *peer;
	unsigned long index;

	seq_printf(s, "dropped %d\n", atomic_read(&core->tx_dropped));
	seq_printf(s, "unacked %d\n", atomic_read(&core->tx_unacked));
	/* Peers are freed only with the core, after this file. */
	xa_for_each(&core->peers, index, peer) {
		spin_lock(&core->tx_lock);
		queued = peer->queued;
		unacked = peer->nr_unacked;
		spin_unlock(&core->tx_lock);
		seq_printf(s, "domain %u queued %u waiting %u\n", peer->domid,
			   queued, unacked);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hyper_dmabuf_tx);

/**
 * hyper_dmabuf_core_debugfs() - create the debugfs counters
 * @core: core instance
 * @name: directory name below the debugfs root
 *
 * Files: exported_ids (live ids of this domain), imported (local dma-bufs
 * created by imports), msgs_dropped ("total N" then one "reason N" line
 * per reason), msgs_out ("dropped N", "unacked N" (given up without an
 * ACK), then "domain D queued N waiting N" per peer), grants_in_use and
 * mapped_pages (maintained by the backend),
 * pending_idle (exports waiting for their fences before the announcement)
 * and fences_held (fence references held by the core).  Each holds
 * decimal numbers, one per line.
 */
void hyper_dmabuf_core_debugfs(struct hyper_dmabuf_core *core,
			       const char *name)
{
	struct dentry *dir = debugfs_create_dir(name, NULL);

	core->debugfs = dir;
	debugfs_create_file("exported_ids", 0444, dir, core,
			    &hyper_dmabuf_live_ids_fops);
	debugfs_create_atomic_t("imported", 0444, dir, &core->nr_imports);
	debugfs_create_file("msgs_dropped", 0444, dir, core,
			    &hyper_dmabuf_dropped_fops);
	debugfs_create_file("msgs_out", 0444, dir, core, &hyper_dmabuf_tx_fops);
	debugfs_create_atomic_t("grants_in_use", 0444, dir, &core->nr_grants);
	debugfs_create_atomic_t("mapped_pages", 0444, dir,
				&core->nr_mapped_pages);
	debugfs_create_atomic_t("pending_idle", 0444, dir,
				&core->nr_pending_idle);
	debugfs_create_atomic_t("fences_held", 0444, dir,
				&core->nr_fences_held);
}

/**
 * hyper_dmabuf_core_init() - initialise a core instance
 * @core: instance, zeroed by the caller
 *
 * Return: 0 or -ENOMEM.
 */
int hyper_dmabuf_core_init(struct hyper_dmabuf_core *core)
{
	core->wq = alloc_workqueue("hyper_dmabuf", WQ_UNBOUND, 0);
	if (!core->wq)
		return -ENOMEM;
	/* One work per peer: a peer stuck in a send holds up no other. */
	core->tx_wq = alloc_workqueue("hyper_dmabuf_tx", WQ_UNBOUND, 0);
	if (!core->tx_wq) {
		destroy_workqueue(core->wq);
		return -ENOMEM;
	}
	spin_lock_init(&core->tx_lock);
	xa_init(&core->peers);
	core->tx_queue_max = HYPER_DMABUF_TX_QUEUE_MAX;
	core->ack_timeout = HYPER_DMABUF_ACK_TIMEOUT;
	/* The wait for an ACK doubles at each send: keep it in range. */
	BUILD_BUG_ON(HYPER_DMABUF_ACK_TRIES > 8);
	init_waitqueue_head(&core->fence_wait);
	core->fence_fallback_ms = HYPER_DMABUF_FENCE_FALLBACK_MS;
	mutex_init(&core->lock);
	hyper_dmabuf_id_stack_init(&core->ids);
	xa_init(&core->exports);
	hash_init(core->imports);
	hash_init(core->users);
	hyper_dmabuf_evlog_init(&core->events);
	/* Counters and the test hooks start at zero: the caller zeroed @core. */
	return 0;
}

/**
 * hyper_dmabuf_core_set_main() - make @core the instance reached by backends
 * @core: instance, or NULL
 */
void hyper_dmabuf_core_set_main(struct hyper_dmabuf_core *core)
{
	hyper_dmabuf_main = core;
}

/**
 * hyper_dmabuf_core_fini() - tear down a core instance
 * @core: instance without open files
 *
 * Runs pending delayed unexports at once.  Loopback imports hold a module
 * reference through their dma-buf, so none can exist here.
 */
void hyper_dmabuf_core_fini(struct hyper_dmabuf_core *core)
{
	struct hyper_dmabuf_peer *peer;
	struct hyper_dmabuf_exp *exp;
	unsigned long index;

	/*
	 * Under core->lock no export in the table can be freed: the final
	 * put takes the lock.  A delayed unexport still waiting for its
	 * timer is taken back and queued to run now; one that is running
	 * already is on core->wq as well.  Flushing the queue then waits
	 * for all of them without looking at any export again.
	 */
	mutex_lock(&core->lock);
	xa_for_each(&core->exports, index, exp)
		if (cancel_delayed_work(&exp->unexport_work))
			queue_delayed_work(core->wq, &exp->unexport_work, 0);
	mutex_unlock(&core->lock);
	flush_workqueue(core->wq);
	debugfs_remove_recursive(core->debugfs);
	WARN_ON(!xa_empty(&core->exports));
	xa_destroy(&core->exports);
	destroy_workqueue(core->wq);
	hyper_dmabuf_tx_stop(core);
	xa_for_each(&core->peers, index, peer) {
		mutex_destroy(&peer->send_lock);
		kfree(peer);
	}
	xa_destroy(&core->peers);
	destroy_workqueue(core->tx_wq);
	hyper_dmabuf_evlog_fini(&core->events);
	WARN_ON(!hash_empty(core->users));
	mutex_destroy(&core->lock);
}
