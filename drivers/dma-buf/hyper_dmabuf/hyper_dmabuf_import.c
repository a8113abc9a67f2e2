// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: importing: buffers announced by other domains and the local
 * dma-bufs that wrap them
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

/* ---- buffers announced by other domains ------------------------------ */

/* Forget a buffer announced by another domain. */
void hyper_dmabuf_imp_free(struct hyper_dmabuf_core *core,
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
 * Drop a local importer of a remote buffer: the last one unmaps it and tells
 * the exporter, and frees the record if the exporter withdrew the buffer.
 */
static void hyper_dmabuf_imp_put(struct hyper_dmabuf_core *core,
				 struct hyper_dmabuf_imp *imp)
{
	lockdep_assert_held(&core->lock);
	if (--imp->importers)
		return;
	core->backend->unmap(imp->hid.exporter_domid, imp->map.handle);
	/* Allocated when the buffer was mapped: this cannot fail. */
	if (!imp->peer_gone)
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

static int hyper_dmabuf_loopback_attach(struct dma_buf *dmabuf,
					struct dma_buf_attachment *attach)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;
	struct dma_buf_attachment *orig;

	orig = dma_buf_attach(lbuf->exp->dmabuf, attach->dev);
	if (IS_ERR(orig))
		return PTR_ERR(orig);
	attach->priv = orig;
	return 0;
}

static void hyper_dmabuf_loopback_detach(struct dma_buf *dmabuf,
					 struct dma_buf_attachment *attach)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;

	dma_buf_detach(lbuf->exp->dmabuf, attach->priv);
}

static struct sg_table *
hyper_dmabuf_loopback_map(struct dma_buf_attachment *attach,
			  enum dma_data_direction dir)
{
	return dma_buf_map_attachment(attach->priv, dir);
}

static void hyper_dmabuf_loopback_unmap(struct dma_buf_attachment *attach,
					struct sg_table *sgt,
					enum dma_data_direction dir)
{
	dma_buf_unmap_attachment(attach->priv, sgt, dir);
}

static int hyper_dmabuf_loopback_mmap(struct dma_buf *dmabuf,
				      struct vm_area_struct *vma)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;

	return dma_buf_mmap(lbuf->exp->dmabuf, vma, vma->vm_pgoff);
}

static int hyper_dmabuf_loopback_vmap(struct dma_buf *dmabuf,
				      struct iosys_map *map)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;

	return dma_buf_vmap(lbuf->exp->dmabuf, map);
}

static void hyper_dmabuf_loopback_vunmap(struct dma_buf *dmabuf,
					 struct iosys_map *map)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;

	dma_buf_vunmap(lbuf->exp->dmabuf, map);
}

static int hyper_dmabuf_loopback_begin_cpu(struct dma_buf *dmabuf,
					   enum dma_data_direction dir)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;

	return dma_buf_begin_cpu_access(lbuf->exp->dmabuf, dir);
}

static int hyper_dmabuf_loopback_end_cpu(struct dma_buf *dmabuf,
					 enum dma_data_direction dir)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;

	return dma_buf_end_cpu_access(lbuf->exp->dmabuf, dir);
}

static void hyper_dmabuf_local_buf_release(struct dma_buf *dmabuf)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;
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

static const struct dma_buf_ops hyper_dmabuf_loopback_ops = {
	.attach = hyper_dmabuf_loopback_attach,
	.detach = hyper_dmabuf_loopback_detach,
	.map_dma_buf = hyper_dmabuf_loopback_map,
	.unmap_dma_buf = hyper_dmabuf_loopback_unmap,
	.release = hyper_dmabuf_local_buf_release,
	.mmap = hyper_dmabuf_loopback_mmap,
	.vmap = hyper_dmabuf_loopback_vmap,
	.vunmap = hyper_dmabuf_loopback_vunmap,
	.begin_cpu_access = hyper_dmabuf_loopback_begin_cpu,
	.end_cpu_access = hyper_dmabuf_loopback_end_cpu,
};

/* ---- local dma-buf wrapping pages mapped from another domain ---------- */

static struct sg_table *
hyper_dmabuf_remote_map(struct dma_buf_attachment *attach,
			enum dma_data_direction dir)
{
	struct hyper_dmabuf_local_buf *lbuf = attach->dmabuf->priv;
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

static void hyper_dmabuf_remote_unmap(struct dma_buf_attachment *attach,
				      struct sg_table *sgt,
				      enum dma_data_direction dir)
{
	dma_unmap_sgtable(attach->dev, sgt, dir, 0);
	sg_free_table(sgt);
	kfree(sgt);
}

static int hyper_dmabuf_remote_mmap(struct dma_buf *dmabuf,
				    struct vm_area_struct *vma)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;
	const struct hyper_dmabuf_backend_ops *ops = lbuf->core->backend;
	struct hyper_dmabuf_mapping *map = &lbuf->imp->map;

	/* The backend stays registered while this import exists. */
	if (ops->mmap)
		return ops->mmap(map->handle, vma);
	return vm_map_pages(vma, map->pages, map->nr_pages);
}

static int hyper_dmabuf_remote_vmap(struct dma_buf *dmabuf,
				    struct iosys_map *map)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;
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

static void hyper_dmabuf_remote_vunmap(struct dma_buf *dmabuf,
				       struct iosys_map *map)
{
	struct hyper_dmabuf_local_buf *lbuf = dmabuf->priv;
	const struct hyper_dmabuf_backend_ops *ops = lbuf->core->backend;

	if (ops->vunmap)
		ops->vunmap(lbuf->imp->map.handle, map);
	else
		vm_unmap_ram(map->vaddr, lbuf->imp->map.nr_pages);
}

static const struct dma_buf_ops hyper_dmabuf_remote_ops = {
	.map_dma_buf = hyper_dmabuf_remote_map,
	.unmap_dma_buf = hyper_dmabuf_remote_unmap,
	.release = hyper_dmabuf_local_buf_release,
	.mmap = hyper_dmabuf_remote_mmap,
	.vmap = hyper_dmabuf_remote_vmap,
	.vunmap = hyper_dmabuf_remote_vunmap,
};

/* Take a local importer of a remote buffer, mapping it on first use. */
static int hyper_dmabuf_imp_get(struct hyper_dmabuf_core *core,
				struct hyper_dmabuf_imp *imp)
{
	const struct hyper_dmabuf_backend_ops *ops = core->backend;
	u32 domid = imp->hid.exporter_domid;
	int ret;

	if (imp->importers) {
		imp->importers++;
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
	imp->importers = 1;
	return 0;

err_unmap:
	ops->unmap(domid, imp->map.handle);
err_free_bye:
	kfree(imp->bye);
	imp->bye = NULL;
	return ret;
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
	struct hyper_dmabuf_local_buf *lbuf;
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
		if (!exp->loopback || exp->unexported) {
			ret = -ENOENT;
			goto err_unlock;
		}
		pending = exp->fence;
		exp_flags = exp->flags;
		exp_info.size = exp->dmabuf->size;
		exp_info.resv = exp->dmabuf->resv;
		exp_info.ops = &hyper_dmabuf_loopback_ops;
	} else {
		imp = hyper_dmabuf_imp_lookup(core, hid);
		if (!imp || imp->unexported) {
			ret = -ENOENT;
			goto err_unlock;
		}
		pending = imp->pending;
		exp_flags = imp->flags;
		exp_info.size = imp->size;
		exp_info.ops = &hyper_dmabuf_remote_ops;
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
		q->unexport_pending = exp->unexported;
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
		q->busy = imp->importers;
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
