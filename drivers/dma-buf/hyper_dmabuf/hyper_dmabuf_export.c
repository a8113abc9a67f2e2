// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: exporting: ids, the wait for idle, unexporting, listing
 *
 * Locking: see "DOC: Locking" in hyper_dmabuf_drv.h.
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

/* Longest delay between two tries of an owed announcement. */
#define HYPER_DMABUF_ANNOUNCE_RETRY_MAX	(64 * HZ)

/**
 * DOC: Lifetime of an export
 *
 * An export (&struct hyper_dmabuf_exp) lives as long as it has
 * references:
 *
 * - EXPORT allocates an id, shares the buffer (remote) and inserts the
 *   export into the export table holding the table reference.
 * - Each import (a loopback dma-buf, or an ``IMPORTED`` message from the
 *   peer) takes another reference, dropped by the import's release (or a
 *   ``RELEASED`` message).  The peer of a remote export holds at most one,
 *   however often it says ``IMPORTED`` (see `States of an export`_).
 * - UNEXPORT (or closing the owning file) marks it unexported, withdraws
 *   it from the peer at once and drops the table reference, at once or
 *   after the requested delay: &hyper_dmabuf_exp.unexport_work then holds
 *   the table reference, on &hyper_dmabuf_core.wq, which
 *   hyper_dmabuf_core_fini() flushes.
 * - The final reference removes the export from the table, unshares it
 *   and returns its id to the stack.  The user the export was charged to
 *   gets its share of the quotas back only then.
 */

/**
 * DOC: Idle before share
 *
 * A dma-buf may still be written by a device when it is exported: its
 * reservation object holds unsignalled fences.  The export ioctl never
 * waits for them: it returns the id at once, and the buffer is announced
 * (a ``NEW_IMPORT`` event for a loopback export, an ``EXPORT`` message
 * otherwise) once the last of them has signalled.
 *
 * EXPORT collects the fences pending in the buffer's reservation object
 * (kernel and write fences, and read fences too for a read-write export,
 * whose importers may write) as one fence (dma_resv_get_singleton(): a
 * reference on the fence, or on a fence array holding references on all
 * of them), stored in &hyper_dmabuf_exp.fence.  A callback on it queues
 * &hyper_dmabuf_exp.fence_work, which makes the announcement under the
 * core's mutex.  The reference in &hyper_dmabuf_exp.fence is dropped, and
 * the callback removed, by hyper_dmabuf_fence_drop() when the
 * announcement is made, when a re-export replaces the fence, and when the
 * export is withdrawn.  Since the callback runs and is removed under the
 * fence's lock, once dma_fence_remove_callback() returns the callback is
 * not running; at most the work is still queued.  Withdrawing paths
 * therefore cancel it (hyper_dmabuf_exp_cancel_works()), without the
 * core's mutex, before dropping the table reference, and the work only
 * ever acts on the state it finds under the mutex: it announces only if
 * &hyper_dmabuf_exp.fence is still set and signalled.
 *
 * If the callback cannot be added, the work (never the caller) polls the
 * fence for at most &hyper_dmabuf_core.fence_fallback_ms
 * (%HYPER_DMABUF_FENCE_FALLBACK_MS) and then announces anyway: loopback
 * importers share the reservation object and still see the fences
 * themselves.
 *
 * Meanwhile the buffer is pending idle: its query reports
 * %HYPER_DMABUF_QUERY_F_PENDING_IDLE and debugfs ``pending_idle`` counts
 * it.  The peer of a remote export is told at once that the id exists, by
 * a ``PENDING`` message (id, key, size and flags, but no page reference
 * and no private data), so that in the importing domain too:
 *
 * - no ``NEW_IMPORT`` event is sent before the announcement;
 * - an import of the id (hyper_dmabuf_import_wait()) waits for the
 *   announcement on &hyper_dmabuf_core.fence_wait, fails with -EAGAIN
 *   with %HYPER_DMABUF_IMPORT_NONBLOCK, and with -ETIMEDOUT once its
 *   timeout has passed;
 * - an unexport, the exporter closing its file, or the exporter's domain
 *   going away withdraws the pending buffer: waiting imports fail with
 *   -ENOENT and no event is ever sent for it.
 *
 * A re-export of the same buffer (new private data after the exporter
 * wrote again) follows the same rule: its update event is sent once the
 * fences pending at the time of the re-export have signalled.
 *
 * An ``EXPORT`` message that cannot be queued (the peer's queue is full) is
 * owed (&hyper_dmabuf_exp.announce_delay is set; the query still reports
 * the buffer pending idle) and retried by &hyper_dmabuf_exp.announce_work,
 * after 1 s, then backing off to 64 s, while the export stands: a peer
 * told the buffer was pending must not wait for an announcement that
 * never comes.
 */

/* Whether @domid names this domain. */
static bool hyper_dmabuf_is_local(struct hyper_dmabuf_core *core,
				  u32 domid)
{
	return domid == HYPER_DMABUF_DOMID_SELF ||
	       domid == hyper_dmabuf_core_local_domid(core);
}

/*
 * The quotas of the user of an unprivileged file: every file the user
 * opens draws on the same ones, so opening more files gains nothing.
 */
struct hyper_dmabuf_user *
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

void hyper_dmabuf_user_put(struct hyper_dmabuf_core *core,
			   struct hyper_dmabuf_user *user)
{
	lockdep_assert_held(&core->lock);
	if (--user->refs)
		return;
	WARN_ON(user->nr_exports || user->nr_remote_pages);
	hash_del(&user->node);
	kfree(user);
}

/* Final put of an export: called with core->lock held, drops it. */
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
void hyper_dmabuf_exp_put(struct hyper_dmabuf_exp *exp)
{
	kref_put_mutex(&exp->kref, hyper_dmabuf_exp_release, &exp->core->lock);
}

/* Withdraw an export from its peer; the caller then drops the table ref. */
void hyper_dmabuf_exp_withdraw(struct hyper_dmabuf_exp *exp)
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
void hyper_dmabuf_exp_detach(struct hyper_dmabuf_exp *exp)
{
	lockdep_assert_held(&exp->core->lock);
	exp->unexported = true;
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
void hyper_dmabuf_wake_importers(struct hyper_dmabuf_core *core)
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
void hyper_dmabuf_fence_drop(struct hyper_dmabuf_exp *exp)
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
		hyper_dmabuf_event_new_import(core, &exp->hid, exp->flags,
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
void hyper_dmabuf_exp_cancel_works(struct hyper_dmabuf_exp *exp)
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
