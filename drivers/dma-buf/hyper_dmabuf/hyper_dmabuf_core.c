// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: the core's tables, open files, backend registration, setup
 * and debugfs
 *
 * Locking: see "DOC: Locking" in hyper_dmabuf_drv.h.
 */

/**
 * DOC: Architecture
 *
 * hyper_dmabuf lets a process in one virtual machine domain export a
 * dma-buf to another domain by id, and a process in that domain import
 * the id as a local dma-buf over the same memory, without copying.  The
 * driver is split in two:
 *
 * - the core (``CONFIG_HYPER_DMABUF``) owns /dev/hyper_dmabuf, the buffer
 *   ids, the tables of exported and imported buffers, the users' quotas,
 *   the event log and the codec of the messages exchanged between domains.
 *   It knows no hypervisor;
 * - a backend provides the transport, through
 *   &struct hyper_dmabuf_backend_ops: sharing and mapping pages, a channel
 *   to each peer domain, and the local domain id (see `Backend
 *   operations`_).  The Xen backend is ``CONFIG_HYPER_DMABUF_XEN``.
 *
 * The core is split by job, one file each:
 *
 * - hyper_dmabuf_main.c: the character device; its ioctl, read and poll
 *   entry points call the core, so that KUnit tests it directly;
 * - hyper_dmabuf_core.c: the tables, open files, backend registration,
 *   setup and debugfs;
 * - hyper_dmabuf_export.c: exporting, the wait for idle (`Idle before
 *   share`_), unexporting and listing;
 * - hyper_dmabuf_import.c: importing, and the local dma-bufs that wrap a
 *   loopback export or a peer's mapped buffer;
 * - hyper_dmabuf_tx.c: messages to other domains, queued per peer;
 * - hyper_dmabuf_rx.c: messages from other domains, and the loss of a
 *   peer;
 * - hyper_dmabuf_event.c: the event log every open file reads;
 * - hyper_dmabuf_id.c: the stack of buffer ids;
 * - hyper_dmabuf_msg.c: the codec of the messages.
 *
 * The Xen backend is in hyper_dmabuf_xen_*.c and the KUnit tests, which
 * run the core with a fake backend (and two cores linked as two domains),
 * in hyper_dmabuf_test.c.
 *
 * A share goes as follows.  The export ioctl takes an id from the stack,
 * has the backend share the buffer's pages with the importing domain and
 * queues an ``EXPORT`` message for it once the buffer is idle.  The
 * importing domain records the buffer and logs a ``NEW_IMPORT`` event.  Its
 * import ioctl has the backend map the pages, wraps them in a local
 * dma-buf and tells the exporter (``IMPORTED``); when the last local user
 * lets go, the pages are unmapped and the exporter told (``RELEASED``).
 * An unexport, or the close of the exporting file, withdraws the buffer
 * (``UNEXPORT``); its id returns to the stack, with a new key for its next
 * use, once no importer is left.  A loopback export (to the local domain)
 * takes the same paths without the backend and without messages.
 */
#include <crypto/algapi.h>
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/fcntl.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/module.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/user_namespace.h>
#include <linux/vmalloc.h>

#include "hyper_dmabuf_drv.h"

MODULE_IMPORT_NS("DMA_BUF");

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

/* Whether two ids name the same buffer, key included. */
bool hyper_dmabuf_hid_match(const struct hyper_dmabuf_id *a,
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

/*
 * The record of the buffer @domid announces as @id now, whatever its key:
 * records of buffers it withdrew may remain beside it, for their local
 * users, under the same id.
 */
struct hyper_dmabuf_imp *
hyper_dmabuf_imp_find_current(struct hyper_dmabuf_core *core, u32 domid,
			      u32 id)
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

/* Tell every open file that a buffer can be imported (NEW_IMPORT). */
void hyper_dmabuf_event_new_import(struct hyper_dmabuf_core *core,
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
	struct hyper_dmabuf_local_buf *lbuf, *ltmp;
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
 * hyper_dmabuf_backend_debugfs() - the core's debugfs directory
 *
 * A backend may add counters of its own there, beside the core's (the Xen
 * backend's grants_in_use and mapped_pages), and removes them before it
 * is unloaded.
 *
 * Return: the directory, or an ERR_PTR (no core, or no debugfs), which
 * the debugfs functions take for a directory that is not there.
 */
struct dentry *hyper_dmabuf_backend_debugfs(void)
{
	if (!hyper_dmabuf_main)
		return ERR_PTR(-ENODEV);
	return hyper_dmabuf_main->debugfs;
}
EXPORT_SYMBOL_GPL(hyper_dmabuf_backend_debugfs);

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
 * ACK), then "domain D queued N waiting N" per peer), pending_idle
 * (exports waiting for their fences before the announcement) and
 * fences_held (fence references held by the core).  Each holds decimal
 * numbers, one per line.  A backend may add its own counters
 * (hyper_dmabuf_backend_debugfs()).
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
