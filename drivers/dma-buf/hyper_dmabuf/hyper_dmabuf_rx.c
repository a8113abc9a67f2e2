// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: messages from other domains
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

/**
 * DOC: Lost messages
 *
 * The transport (a ring in each direction in the Xen backend) delivers
 * messages in order, and a message is lost only:
 *
 * - when the receiver has no memory for a new import record (``EXPORT``,
 *   ``PENDING``): receiving anything else allocates nothing but the
 *   ``ACK`` it answers with, and a lost ``ACK`` only makes the peer send
 *   its message again;
 * - when the channel breaks or is reset.  Both domains then see their peer
 *   go (hyper_dmabuf_core_peer_gone()), and everything either side kept
 *   about the other is dropped (see `Peer death`_);
 * - when a hostile or broken peer does not answer.
 *
 * The states below are such that no single lost or repeated message
 * leaves an id, a grant or an import record behind.
 */

/**
 * DOC: States of an export
 *
 * ::
 *
 *                  export (fences pending)          fences signal
 *    (new) ------------------------------> PENDING -----------------+
 *      |                                      |                     |
 *      | export (idle)                        | unexport            v
 *      +---------------------------------------------------> ANNOUNCED
 *                                             |                     |
 *                                             v       unexport      |
 *                                        WITHDRAWN <----------------+
 *                                             |
 *                       no importer left, delay over, or peer gone
 *                                             v
 *                                      (freed: id back on the stack,
 *                                       grants end once unmapped)
 *
 * - An export holds one reference for its table entry and, for the peer
 *   of a remote export, at most one for its mapping: an ``IMPORTED`` takes
 *   it and records the mapping's number (a repeat of the same number is
 *   dropped and counted; a new number while one is counted replaces it,
 *   the old mapping's ``RELEASED`` being still on its way), and only a
 *   ``RELEASED`` of the recorded number drops it.
 * - ``UNEXPORT`` is queued when the export is withdrawn, at once, whatever
 *   the unexport delay: the other domain starts no import once it has
 *   received it (the channel may hold it up behind earlier messages).  The
 *   delay only keeps the export that much longer, so that an import
 *   already under way in the other domain, whose ``IMPORTED`` is on its
 *   way, still finds it.
 * - An ``IMPORTED`` that arrives after the ``UNEXPORT`` was sent, while the
 *   export still exists, is counted: the peer mapped the buffer before it
 *   learnt of the withdrawal, and the export stays until its
 *   ``RELEASED``.  One that finds the export gone is dropped; the peer's
 *   mapping is still safe, see `Grants`_.  An ``IMPORTED`` of a buffer
 *   only announced as pending is dropped: it cannot be mapped yet.
 * - The id goes back to the stack when the last reference goes.  Only
 *   then can it be reused, with a new key.
 */

/**
 * DOC: States of an import record
 *
 * ::
 *
 *                 EXPORT                UNEXPORT
 *     PENDING -------------> ANNOUNCED -----------> UNEXPORTED
 *        |                       |                   ^     |
 *        |        UNEXPORT       |                   |     | last user
 *        +-----------------------+-------------------+     v
 *                   (peer gone: as UNEXPORT)             (freed)
 *
 * - A record (&struct hyper_dmabuf_imp) is keyed by the exporter's domain
 *   and id; lookups match the key too.  A record that is ``UNEXPORTED``
 *   stays while local users still map the buffer, and is never found by a
 *   new announcement.
 * - An ``EXPORT`` or ``PENDING`` of a buffer (id and key) whose record is
 *   already unexported is dropped: a withdrawn buffer is not announced
 *   again.
 * - An ``EXPORT`` or ``PENDING`` that names the id of a record still
 *   announced, with another key, means the exporter withdrew the old
 *   buffer and its ``UNEXPORT`` was lost (the exporter sends it before the
 *   id can be reused): the old record is treated as unexported, and the
 *   new one is created.  A stale record can therefore never hide a new
 *   buffer.
 * - ``IMPORTED`` is sent when the record is first mapped, ``RELEASED``
 *   when the last local user lets go.  A record of a peer that went says
 *   nothing.
 */

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
		hyper_dmabuf_event_new_import(core, &imp->hid, imp->flags,
					      imp->size, imp->priv,
					      imp->priv_size, false);
	return HYPER_DMABUF_ACCEPTED;
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
	if (!imp->importers)
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
	imp = hyper_dmabuf_imp_find_current(core, msg->hid.exporter_domid,
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
		hyper_dmabuf_event_new_import(core, &imp->hid, imp->flags,
					      imp->size, imp->priv,
					      imp->priv_size, !imp->pending);
		if (imp->pending) {
			imp->pending = false;
			hyper_dmabuf_wake_importers(core);
		}
		return HYPER_DMABUF_ACCEPTED;
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
	imp = hyper_dmabuf_imp_find_current(core, msg->hid.exporter_domid,
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
	if (!imp->importers)
		hyper_dmabuf_imp_free(core, imp);
	return HYPER_DMABUF_ACCEPTED;
}

/* IMPORTED or RELEASED: the peer mapped, or let go of, a buffer of ours. */
static enum hyper_dmabuf_drop_reason
hyper_dmabuf_rx_mapping(struct hyper_dmabuf_core *core,
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
	return HYPER_DMABUF_ACCEPTED;
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
	return acked ? HYPER_DMABUF_ACCEPTED : HYPER_DMABUF_DROP_STATE;
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
	default:	/* IMPORTED, RELEASED: the decoder let nothing else by */
		reason = hyper_dmabuf_rx_mapping(core, msg, &put);
		break;
	}
out_unlock:
	mutex_unlock(&core->lock);
	if (put)
		hyper_dmabuf_exp_put(put);
	if (reason == HYPER_DMABUF_ACCEPTED)
		return 0;
	atomic_inc(&core->drops[reason]);
	return -EINVAL;
}

/**
 * DOC: Peer death
 *
 * When a channel breaks (the peer died, was destroyed, restarted or
 * unloaded its driver, or broke the protocol of the ring), the backend
 * calls hyper_dmabuf_backend_peer_gone() and each side forgets the other
 * (the Xen backend sees the peer's offer withdrawn, vanished or renewed
 * with a new nonce, and dom0 withdraws the offers a dead domain left in
 * other domUs' homes; see `Channels and xenstore`_):
 *
 * - the exporter withdraws every export to the peer as if unexported,
 *   drops the importers' references, and returns the ids (the backend
 *   ends the grants once they are unmapped: the peer's mappings went with
 *   it); nothing queued for the old peer, and nothing waiting for its
 *   ``ACK``, is sent to its next incarnation: hyper_dmabuf_core_peer_gone()
 *   purges the peer's queue and waits for a send under way before it
 *   returns, and the backend reconnects only after that;
 * - the importer marks every record of the peer unexported: local users
 *   keep their mappings, still readable, until they let go, and nothing
 *   is sent about them.
 *
 * A new channel then starts from nothing on both sides; the next export
 * brings it up.
 */

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
		if (exp->loopback || exp->remote_domid != domid || exp->peer_gone)
			continue;
		/*
		 * The owner's reference goes too, as on unexport; an export
		 * already detached (unexported, or its file closing) keeps
		 * the owner_link its detacher uses.
		 */
		exp->peer_gone = true;
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
		imp->peer_gone = true;
		if (!imp->importers)
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
