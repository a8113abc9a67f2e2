// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: Xen backend, granting buffer pages and mapping them
 */

/**
 * DOC: Xen sharing and mapping
 *
 * Exporter: no struct page of the dma-buf's exporter is looked at or
 * referenced: the memory belongs to the exporter, and only the dma-buf
 * itself keeps it.  The share holds a reference to the dma-buf, and the
 * mapping its frames were found through, until every grant has really
 * ended, that is until the peer has unmapped every page, not merely until
 * gnttab_end_foreign_access() was called: grants still in use are retried
 * from a delayed work, counted as granted until then, and keep the module
 * loaded.  The frames are found in one of two ways; in a PV domain the
 * choice is made once at load by mapping a page of our own for the
 * backend's device (the backend refuses to load if the answer is
 * unclear), and auto-translated domains always take the first:
 *
 * - Where DMA addresses are guest frames (PVH and HVM domains, PV domains
 *   without swiotlb-xen), as a device would find them: the backend
 *   attaches to the dma-buf with a device that keeps the platform's DMA
 *   operations, maps the attachment, and takes each page's frame from its
 *   DMA address, as gntdev_dmabuf_imp_to_refs() does.  A second
 *   attachment is mapped at export time and must give the very same
 *   addresses: a bounce buffer slot is never handed out twice at once,
 *   and grants of a bounce copy would not show the buffer.
 *
 * - Where DMA goes through swiotlb-xen (a PV dom0, or a PV domU with
 *   pcifront), DMA addresses are machine addresses, and swiotlb-xen
 *   bounces every segment whose pages are not contiguous in machine
 *   memory (and fails those above 256 KiB), which happens to ordinary
 *   buffers there.  The machine frames are read instead from the page
 *   tables of the exporter's own kernel mapping (dma_buf_vmap()), which
 *   the share keeps, together with a pinned attachment, so that exporters
 *   that could move the buffer do not.  This is the slower way (every
 *   entry of that mapping goes through Xen), but trying an attachment
 *   first and checking it, as above, would itself bounce such a buffer:
 *   two copies of it in dom0's bounce pool, which block and network
 *   backends need, for each export.
 *
 * Either way each frame must be RAM of this domain with a valid pfn, and
 * in a PV domain neither identity-mapped, foreign nor ballooned; other
 * frames (device memory), a buffer without a kernel mapping where one is
 * needed, or a bounced one, make the export fail with -EOPNOTSUPP.  (In
 * an auto-translated domain Xen itself refuses to let the peer map a
 * frame that is not RAM.)  Attachments are mapped DMA_TO_DEVICE whatever the
 * access: the grants do not depend on it, and an unmap then never copies
 * anything back.
 *
 * Importer: the grants are mapped in batches into ballooned pages, which
 * the core wraps in a local dma-buf.  In a PV domain foreign frames cannot
 * be placed in page tables by the guest, so mmap() and vmap() ask Xen to
 * write the grant mappings into the page-table entries themselves, as
 * gntdev does; in auto-translated (PVH, HVM) domains the pages are mapped
 * like any other.
 *
 * drivers/xen/xen-front-pgdir-shbuf.c is not used for the page directory:
 * it is built around a xenbus frontend device and its other end, while
 * hyper_dmabuf channels are symmetric and have no xenbus device.
 */
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/module.h>
#include <linux/workqueue.h>
#include <linux/fs.h>
#include <linux/iosys-map.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/platform_device.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <xen/grant_table.h>
#include <xen/features.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <asm/xen/hypercall.h>
#include <asm/xen/page.h>

#include "hyper_dmabuf_xen.h"

/* Unmap batches live on the stack: unmapping must not need memory. */
#define HYPER_DMABUF_XEN_UNMAP_BATCH	16

struct hyper_dmabuf_xen_share {
	struct dma_buf *dmabuf;
	/* what keeps the frames: a mapped attachment, or a kernel mapping */
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	struct iosys_map vmap;
	struct dma_buf_attachment *pin;
	unsigned int nr_pages;
	unsigned int nr_dir;
	/*
	 * grants still in use after hyper_dmabuf_xen_unshare(), retried by
	 * hyper_dmabuf_xen_reap_fn()
	 */
	unsigned int nr_live;
	unsigned int reap_tries;
	struct list_head reap_link;
	u32 domid;
	grant_ref_t *refs;
	struct page **dir;
	grant_ref_t *dir_refs;
};

struct hyper_dmabuf_xen_mapping {
	u32 domid;
	bool rw;
	unsigned int nr;
	grant_ref_t *refs;
	struct page **pages;
	grant_handle_t *handles;
	/* hyper_dmabuf_xen_unmap(): unmapped once no one else holds a page */
	struct gnttab_unmap_grant_ref *unmap_ops;
	struct gntab_unmap_queue_data unmap;
	struct list_head unmapped_link;	/* in hyper_dmabuf_xen_unmapped */
	/* kernel mapping made by hyper_dmabuf_xen_vmap(), shared by users */
	struct mutex vmap_lock; /* protects the members below */
	unsigned int vmap_count;
	void *vaddr;
	u64 *vmap_ptes;
	grant_handle_t *vmap_handles;
};

/* A PV user mapping of a struct hyper_dmabuf_xen_mapping. */
struct hyper_dmabuf_xen_vma {
	struct mmu_interval_notifier notifier;
	struct kref kref;
	struct mutex lock; /* protects mapped, handles */
	unsigned int n;
	bool mapped;
	u64 *ptes;
	grant_handle_t *handles;
};

struct hyper_dmabuf_xen_pte_list {
	u64 *ptes;
	unsigned int n;
	unsigned int max;
};

/* ---- exporter ----------------------------------------------------------- */

static struct platform_device *hyper_dmabuf_xen_pdev;
/*
 * DMA addresses of hyper_dmabuf_xen_pdev are machine addresses (PV with
 * swiotlb-xen).
 */
static bool hyper_dmabuf_xen_dma_is_bus;

/*
 * Mappings whose grants are unmapped, freed by
 * hyper_dmabuf_xen_unmapped_fn().
 */
static LIST_HEAD(hyper_dmabuf_xen_unmapped);
/* Protects hyper_dmabuf_xen_unmapped. */
static DEFINE_SPINLOCK(hyper_dmabuf_xen_unmapped_lock);
static void hyper_dmabuf_xen_unmapped_fn(struct work_struct *work);
static DECLARE_WORK(hyper_dmabuf_xen_unmapped_work,
		    hyper_dmabuf_xen_unmapped_fn);

/*
 * Grant budget: hyper_dmabuf keeps at most hyper_dmabuf_xen_grant_budget
 * grant references of this domain, three quarters of its grant table
 * (counted in version 1 entries, the layout Linux uses short of 16 TiB of
 * memory), so that the domain's block and network frontends, gntalloc and
 * the other users of grants always find the rest.  A reference counts from
 * hyper_dmabuf_xen_share() until it has really ended, that is until the
 * peer has unmapped it, however long that takes; an export that would go
 * beyond the budget fails with -ENOSPC.  The grant_budget parameter sets
 * another budget at load, and shows the one in force.  (With version 2
 * grant tables, which have half as many entries per frame, the default is
 * too large: set the parameter.)  The budget is the domain's, not a
 * peer's: a peer that keeps mapped what it was given keeps its part of it.
 */
static unsigned int hyper_dmabuf_xen_grant_budget;
module_param_named(grant_budget, hyper_dmabuf_xen_grant_budget, uint, 0444);
MODULE_PARM_DESC(grant_budget,
		 "Grant references hyper_dmabuf may hold (default: 3/4 of the grant table)");
/* References held or reserved. */
static atomic_t hyper_dmabuf_xen_grants = ATOMIC_INIT(0);

static bool hyper_dmabuf_xen_grants_reserve(unsigned int n)
{
	if (atomic_add_return(n, &hyper_dmabuf_xen_grants) <=
	    hyper_dmabuf_xen_grant_budget)
		return true;
	atomic_sub(n, &hyper_dmabuf_xen_grants);
	return false;
}

static void hyper_dmabuf_xen_grants_unreserve(unsigned int n)
{
	atomic_sub(n, &hyper_dmabuf_xen_grants);
}

/*
 * The counters userspace and the selftests read, grants_in_use and
 * mapped_pages, in the core's debugfs directory: references granted to
 * other domains (a share's count once all are granted, until the peer has
 * unmapped each), and pages of other domains mapped here (until they are
 * really unmapped).
 */
static atomic_t hyper_dmabuf_xen_grants_in_use = ATOMIC_INIT(0);
static atomic_t hyper_dmabuf_xen_mapped_pages = ATOMIC_INIT(0);

/*
 * Shares whose grants the peer still maps, retried by
 * hyper_dmabuf_xen_reap_work; each holds a reference on this module.
 */
static LIST_HEAD(hyper_dmabuf_xen_reap_list);
/* Protects hyper_dmabuf_xen_reap_list. */
static DEFINE_SPINLOCK(hyper_dmabuf_xen_reap_lock);
static void hyper_dmabuf_xen_reap_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(hyper_dmabuf_xen_reap_work,
			    hyper_dmabuf_xen_reap_fn);

/*
 * Find out once what a DMA address of hyper_dmabuf_xen_pdev means, with a
 * page of ours whose machine frame differs from its pfn: its DMA address
 * must be one or the other, or the backend refuses to load.
 */
static int hyper_dmabuf_xen_dma_probe(void)
{
	struct page *probe[8] = {};
	unsigned long pfn = 0;
	dma_addr_t addr;
	int i, ret;

	if (xen_feature(XENFEAT_auto_translated_physmap))
		return 0;
	for (i = 0; i < ARRAY_SIZE(probe); i++) {
		probe[i] = alloc_page(GFP_KERNEL);
		if (!probe[i]) {
			ret = -ENOMEM;
			goto free_pages;
		}
		pfn = page_to_pfn(probe[i]);
		if (pfn_to_bfn(pfn) != pfn)
			break;
	}
	if (i == ARRAY_SIZE(probe)) {
		ret = -ENODEV;
		goto free_pages;
	}
	addr = dma_map_page(&hyper_dmabuf_xen_pdev->dev, probe[i], 0, PAGE_SIZE,
			    DMA_TO_DEVICE);
	if (dma_mapping_error(&hyper_dmabuf_xen_pdev->dev, addr)) {
		ret = -EIO;
		goto free_pages;
	}
	ret = 0;
	if (PHYS_PFN(addr) == pfn_to_bfn(pfn))
		hyper_dmabuf_xen_dma_is_bus = true;
	else if (PHYS_PFN(addr) != pfn)
		ret = -ENODEV;
	dma_unmap_page(&hyper_dmabuf_xen_pdev->dev, addr, PAGE_SIZE,
		       DMA_TO_DEVICE);
free_pages:
	for (i = 0; i < ARRAY_SIZE(probe); i++)
		if (probe[i])
			__free_page(probe[i]);
	if (ret)
		pr_err("hyper_dmabuf_xen: cannot tell what DMA addresses are (%d)\n",
		       ret);
	return ret;
}

/**
 * hyper_dmabuf_xen_shm_init() - create the device buffers are mapped for
 * and the debugfs counters
 *
 * Return: 0 or a negative error code.
 */
int hyper_dmabuf_xen_shm_init(void)
{
	struct dentry *dir;
	int ret;

	if (!hyper_dmabuf_xen_grant_budget)
		hyper_dmabuf_xen_grant_budget =
			gnttab_max_grant_frames() *
			(XEN_PAGE_SIZE / sizeof(struct grant_entry_v1)) / 4 * 3;
	hyper_dmabuf_xen_grant_budget =
		min_t(unsigned int, hyper_dmabuf_xen_grant_budget, INT_MAX);
	hyper_dmabuf_xen_pdev =
		platform_device_register_simple("hyper_dmabuf_xen",
						PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(hyper_dmabuf_xen_pdev))
		return PTR_ERR(hyper_dmabuf_xen_pdev);
	ret = dma_coerce_mask_and_coherent(&hyper_dmabuf_xen_pdev->dev,
					   DMA_BIT_MASK(64));
	if (!ret)
		ret = hyper_dmabuf_xen_dma_probe();
	if (ret) {
		platform_device_unregister(hyper_dmabuf_xen_pdev);
		return ret;
	}
	dir = hyper_dmabuf_backend_debugfs();
	debugfs_create_atomic_t("grants_in_use", 0444, dir,
				&hyper_dmabuf_xen_grants_in_use);
	debugfs_create_atomic_t("mapped_pages", 0444, dir,
				&hyper_dmabuf_xen_mapped_pages);
	return 0;
}

/**
 * hyper_dmabuf_xen_shm_exit() - undo hyper_dmabuf_xen_shm_init()
 *
 * Called only once every share has ended: a share whose grants are still
 * in use holds a reference on the module.
 */
void hyper_dmabuf_xen_shm_exit(void)
{
	struct dentry *dir = hyper_dmabuf_backend_debugfs();

	debugfs_lookup_and_remove("grants_in_use", dir);
	debugfs_lookup_and_remove("mapped_pages", dir);
	flush_work(&hyper_dmabuf_xen_unmapped_work);
	WARN_ON(!list_empty(&hyper_dmabuf_xen_unmapped));
	cancel_delayed_work_sync(&hyper_dmabuf_xen_reap_work);
	WARN_ON(!list_empty(&hyper_dmabuf_xen_reap_list));
	platform_device_unregister(hyper_dmabuf_xen_pdev);
}

#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
/*
 * Test hook, debugfs hyper_dmabuf_xen/check: write the number of a dma-buf
 * fd of the writing process, read back what the kernel sees of it through
 * dma_buf_vmap() (FNV-1a 64 of every byte) and through an attachment of
 * this driver's device (bytes of the mapped sg_table).  The selftests use
 * it on imports, whose vmap and device mapping have no other user here.
 * Built only into test kernels (CONFIG_HYPER_DMABUF_DEBUG).
 */
struct hyper_dmabuf_xen_check {
	char text[96];
	size_t len;
};

static int hyper_dmabuf_xen_check_open(struct inode *inode, struct file *file)
{
	struct hyper_dmabuf_xen_check *c = kzalloc_obj(*c, GFP_KERNEL);

	file->private_data = c;
	return c ? 0 : -ENOMEM;
}

static int hyper_dmabuf_xen_check_release(struct inode *inode,
					  struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static int hyper_dmabuf_xen_check_buf(struct dma_buf *dmabuf,
				      struct hyper_dmabuf_xen_check *c)
{
	struct dma_buf_attachment *attach;
	u64 hash = 0xcbf29ce484222325ULL;
	struct scatterlist *sg;
	struct sg_table *sgt;
	struct iosys_map map;
	size_t i, sg_bytes = 0;
	const u8 *p;
	int ret, k;

	ret = dma_buf_vmap_unlocked(dmabuf, &map);
	if (ret)
		return ret;
	if (map.is_iomem) {
		dma_buf_vunmap_unlocked(dmabuf, &map);
		return -EOPNOTSUPP;
	}
	for (p = map.vaddr, i = 0; i < dmabuf->size; i++)
		hash = (hash ^ p[i]) * 0x100000001b3ULL;
	dma_buf_vunmap_unlocked(dmabuf, &map);

	attach = dma_buf_attach(dmabuf, &hyper_dmabuf_xen_pdev->dev);
	if (IS_ERR(attach))
		return PTR_ERR(attach);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	if (IS_ERR(sgt)) {
		dma_buf_detach(dmabuf, attach);
		return PTR_ERR(sgt);
	}
	for_each_sgtable_dma_sg(sgt, sg, k)
		sg_bytes += sg_dma_len(sg);
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_TO_DEVICE);
	dma_buf_detach(dmabuf, attach);

	c->len = scnprintf(c->text, sizeof(c->text),
			   "size=%zu fnv1a64=%016llx sg_bytes=%zu\n",
			   dmabuf->size, hash, sg_bytes);
	return 0;
}

static ssize_t hyper_dmabuf_xen_check_write(struct file *file,
					    const char __user *ubuf,
					    size_t count, loff_t *ppos)
{
	struct hyper_dmabuf_xen_check *c = file->private_data;
	struct dma_buf *dmabuf;
	int fd, ret;

	ret = kstrtoint_from_user(ubuf, count, 10, &fd);
	if (ret)
		return ret;
	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	c->len = 0;
	ret = hyper_dmabuf_xen_check_buf(dmabuf, c);
	dma_buf_put(dmabuf);
	return ret ? ret : count;
}

static ssize_t hyper_dmabuf_xen_check_read(struct file *file, char __user *ubuf,
					   size_t count, loff_t *ppos)
{
	struct hyper_dmabuf_xen_check *c = file->private_data;

	return simple_read_from_buffer(ubuf, count, ppos, c->text, c->len);
}

static const struct file_operations hyper_dmabuf_xen_check_fops = {
	.owner = THIS_MODULE,
	.open = hyper_dmabuf_xen_check_open,
	.release = hyper_dmabuf_xen_check_release,
	.write = hyper_dmabuf_xen_check_write,
	.read = hyper_dmabuf_xen_check_read,
	.llseek = default_llseek,
};

/**
 * hyper_dmabuf_xen_shm_debugfs() - add the test hook to the backend's
 * debugfs directory
 * @dir: the directory
 */
void hyper_dmabuf_xen_shm_debugfs(struct dentry *dir)
{
	debugfs_create_file("check", 0600, dir, NULL,
			    &hyper_dmabuf_xen_check_fops);
}
#endif /* CONFIG_HYPER_DMABUF_DEBUG */

static void hyper_dmabuf_xen_share_free(struct hyper_dmabuf_xen_share *sh)
{
	kvfree(sh->refs);
	kfree(sh->dir);
	kfree(sh->dir_refs);
	kfree(sh);
}

static void hyper_dmabuf_xen_fill_dir(struct hyper_dmabuf_xen_share *sh)
{
	unsigned int d, k, first, count;

	for (d = 0; d < sh->nr_dir; d++) {
		struct hyper_dmabuf_dir_page *dp = page_address(sh->dir[d]);

		first = d * HYPER_DMABUF_DIR_REFS;
		count = min_t(unsigned int, HYPER_DMABUF_DIR_REFS,
			      sh->nr_pages - first);
		dp->magic = cpu_to_le32(HYPER_DMABUF_DIR_MAGIC);
		dp->count = cpu_to_le32(count);
		dp->next = cpu_to_le32(d + 1 < sh->nr_dir ? sh->dir_refs[d + 1] : 0);
		for (k = 0; k < count; k++)
			dp->refs[k] = cpu_to_le32(sh->refs[first + k]);
	}
}

/*
 * The grant frame of @frame, a machine frame if @bus and a guest frame
 * otherwise, or 0 if it is not RAM of this domain: device memory, an
 * identity-mapped or foreign frame, a ballooned-out pfn.
 */
static unsigned long hyper_dmabuf_xen_frame_to_gfn(unsigned long frame,
						   bool bus)
{
	unsigned long pfn = bus ? bfn_to_local_pfn(frame) : frame;

	if (!pfn_valid(pfn) || !page_is_ram(pfn))
		return 0;
	if (xen_pv_domain()) {
		unsigned long mfn = __pfn_to_mfn(pfn);

		if (mfn == INVALID_P2M_ENTRY ||
		    (mfn & (FOREIGN_FRAME_BIT | IDENTITY_FRAME_BIT)))
			return 0;
	}
	return pfn_to_gfn(pfn);
}

/*
 * A second mapping of the buffer for the same device must give the same
 * addresses: a bounce buffer slot is never given out twice at once.
 */
static int hyper_dmabuf_xen_check_not_bounced(struct hyper_dmabuf_xen_share *sh)
{
	struct dma_buf_attachment *attach;
	struct scatterlist *a, *b;
	struct sg_table *sgt;
	int ret = 0, i;

	attach = dma_buf_attach(sh->dmabuf, &hyper_dmabuf_xen_pdev->dev);
	if (IS_ERR(attach))
		return PTR_ERR(attach);
	sgt = dma_buf_map_attachment_unlocked(attach, DMA_TO_DEVICE);
	if (IS_ERR(sgt)) {
		ret = PTR_ERR(sgt);
		goto detach;
	}
	if (sgt->nents != sh->sgt->nents) {
		ret = -EOPNOTSUPP;
		goto unmap;
	}
	b = sgt->sgl;
	for_each_sgtable_dma_sg(sh->sgt, a, i) {
		if (sg_dma_address(a) != sg_dma_address(b) ||
		    sg_dma_len(a) != sg_dma_len(b)) {
			ret = -EOPNOTSUPP;
			break;
		}
		b = sg_next(b);
	}
unmap:
	dma_buf_unmap_attachment_unlocked(attach, sgt, DMA_TO_DEVICE);
detach:
	dma_buf_detach(sh->dmabuf, attach);
	return ret;
}

/* The grant frame of page @i of the buffer, or 0. */
static unsigned long
hyper_dmabuf_xen_page_gfn(struct hyper_dmabuf_xen_share *sh, unsigned int i,
			  struct sg_dma_page_iter *it)
{
	phys_addr_t addr;

	if (!sh->attach) {
		void *va = sh->vmap.vaddr + (size_t)i * PAGE_SIZE;

		addr = arbitrary_virt_to_machine(va).maddr;
		return hyper_dmabuf_xen_frame_to_gfn(XEN_PFN_DOWN(addr), true);
	}
	if (!__sg_page_iter_dma_next(it))
		return 0;
	addr = dma_to_phys(&hyper_dmabuf_xen_pdev->dev,
			   sg_page_iter_dma_address(it));
	return hyper_dmabuf_xen_frame_to_gfn(PHYS_PFN(addr), false);
}

/* The grant frame of every page of the buffer, in order, into @gfns. */
static int hyper_dmabuf_xen_find_frames(struct hyper_dmabuf_xen_share *sh,
					unsigned long *gfns)
{
	struct sg_dma_page_iter it;
	unsigned int i;

	if (sh->attach)
		__sg_page_iter_start(&it.base, sh->sgt->sgl, sh->sgt->nents, 0);
	for (i = 0; i < sh->nr_pages; i++) {
		gfns[i] = hyper_dmabuf_xen_page_gfn(sh, i, &it);
		if (!gfns[i])
			return -EOPNOTSUPP;
	}
	return 0;
}

/*
 * Grant references are claimed for a whole share before any is granted,
 * as drivers/xen/xen-front-pgdir-shbuf.c does: a share gets all of them,
 * or fails with nothing granted.  gnttab_alloc_grant_references() walks
 * the free references with the grant table's lock held and interrupts
 * off, a lock every block and network request of the domain takes too:
 * the references of a buffer are claimed in lists of at most
 * %HYPER_DMABUF_XEN_REFS_CHUNK, so that the lock is never held for long.
 */
#define HYPER_DMABUF_XEN_REFS_CHUNK	1024
#define HYPER_DMABUF_XEN_MAX_PAGES	(HYPER_DMABUF_MAX_BUF_SIZE >> PAGE_SHIFT)
#define HYPER_DMABUF_XEN_MAX_REFS					\
	(HYPER_DMABUF_XEN_MAX_PAGES +					\
	 DIV_ROUND_UP(HYPER_DMABUF_XEN_MAX_PAGES, HYPER_DMABUF_DIR_REFS))

/**
 * struct hyper_dmabuf_xen_refs - grant references claimed, not yet used
 * @head: the lists gnttab_alloc_grant_references() gave
 * @nr: lists in @head
 * @cur: the list the next reference is taken from
 */
struct hyper_dmabuf_xen_refs {
	grant_ref_t *head;
	unsigned int nr;
	unsigned int cur;
};

/* Give back the references of @r that were not taken, and the lists. */
static void hyper_dmabuf_xen_refs_free(struct hyper_dmabuf_xen_refs *r)
{
	while (r->nr)
		gnttab_free_grant_references(r->head[--r->nr]);
	kfree(r->head);
	r->head = NULL;
}

/*
 * Claim @n grant references, at most %HYPER_DMABUF_XEN_MAX_REFS.
 * Return: 0, or -ENOSPC (and none is left claimed) if the grant table
 * cannot give them all, or -ENOMEM.
 */
static int hyper_dmabuf_xen_refs_alloc(struct hyper_dmabuf_xen_refs *r,
				       unsigned int n)
{
	unsigned int cnt;

	r->nr = 0;
	r->cur = 0;
	if (WARN_ON_ONCE(!n || n > HYPER_DMABUF_XEN_MAX_REFS))
		return -EINVAL;
	r->head = kmalloc_array(DIV_ROUND_UP(n, HYPER_DMABUF_XEN_REFS_CHUNK),
				sizeof(*r->head), GFP_KERNEL);
	if (!r->head)
		return -ENOMEM;
	for (; n; n -= cnt) {
		cnt = min_t(unsigned int, n, HYPER_DMABUF_XEN_REFS_CHUNK);
		if (gnttab_alloc_grant_references(cnt, &r->head[r->nr])) {
			hyper_dmabuf_xen_refs_free(r);
			return -ENOSPC;
		}
		r->nr++;
	}
	return 0;
}

/*
 * Take one of the references claimed in @r; the caller takes no more
 * than it claimed, so one is always left.
 */
static grant_ref_t hyper_dmabuf_xen_refs_take(struct hyper_dmabuf_xen_refs *r)
{
	int ref;

	/* Lists are never empty: a list used up leaves the next one. */
	ref = gnttab_claim_grant_reference(&r->head[r->cur]);
	if (ref < 0 && !WARN_ON_ONCE(r->cur + 1 >= r->nr))
		ref = gnttab_claim_grant_reference(&r->head[++r->cur]);
	return ref;
}

/*
 * Grant the pages of the buffer, found at @gfns, and then the page
 * directory (always read-only) to the peer, with the references claimed
 * in @r.  Nothing can fail here.
 */
static void hyper_dmabuf_xen_grant(struct hyper_dmabuf_xen_share *sh,
				   struct hyper_dmabuf_xen_refs *r,
				   const unsigned long *gfns, bool rw)
{
	unsigned int i;
	grant_ref_t ref;

	for (i = 0; i < sh->nr_pages; i++) {
		ref = hyper_dmabuf_xen_refs_take(r);
		gnttab_grant_foreign_access_ref(ref, sh->domid, gfns[i], !rw);
		sh->refs[i] = ref;
	}
	for (i = 0; i < sh->nr_dir; i++) {
		ref = hyper_dmabuf_xen_refs_take(r);
		gnttab_grant_foreign_access_ref(ref, sh->domid,
						xen_page_to_gfn(sh->dir[i]), 1);
		sh->dir_refs[i] = ref;
	}
}

/**
 * hyper_dmabuf_xen_sgt_check() - check that a mapped table can be granted
 * @sgt: the table of an attachment, mapped for hyper_dmabuf_xen_pdev
 * @nr_pages: pages the buffer has
 *
 * Only the DMA addresses are looked at: the page links of an importer's
 * table belong to the exporter (and CONFIG_DMABUF_DEBUG hides them).
 *
 * Return: 0 if every DMA segment starts and ends on a page boundary and
 * the segments cover exactly @nr_pages pages, -EOPNOTSUPP otherwise.
 */
static int hyper_dmabuf_xen_sgt_check(struct sg_table *sgt,
				      unsigned int nr_pages)
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

/*
 * Hold the buffer's frames where DMA addresses are guest frames: map an
 * attachment, which must cover the buffer in whole pages, unbounced.
 */
static int hyper_dmabuf_xen_hold_dma(struct hyper_dmabuf_xen_share *sh)
{
	int ret;

	sh->attach = dma_buf_attach(sh->dmabuf, &hyper_dmabuf_xen_pdev->dev);
	if (IS_ERR(sh->attach)) {
		ret = PTR_ERR(sh->attach);
		goto clear;
	}
	sh->sgt = dma_buf_map_attachment_unlocked(sh->attach, DMA_TO_DEVICE);
	if (IS_ERR(sh->sgt)) {
		ret = PTR_ERR(sh->sgt);
		goto detach;
	}
	ret = hyper_dmabuf_xen_sgt_check(sh->sgt, sh->nr_pages);
	if (!ret)
		ret = hyper_dmabuf_xen_check_not_bounced(sh);
	if (!ret)
		return 0;
	dma_buf_unmap_attachment_unlocked(sh->attach, sh->sgt, DMA_TO_DEVICE);
detach:
	dma_buf_detach(sh->dmabuf, sh->attach);
clear:
	sh->attach = NULL;
	return ret;
}

/*
 * The attachment of the kernel-mapping route is pinned and never mapped,
 * so it has no mappings to invalidate; it is dynamic only so that it can
 * be pinned.
 */
static const struct dma_buf_attach_ops hyper_dmabuf_xen_pin_ops = {
	.allow_peer2peer = false,
};

/*
 * Hold the buffer's frames where DMA goes through swiotlb-xen: its DMA
 * addresses may be those of a bounce copy, so the machine frames are read
 * from the page tables of the exporter's own kernel mapping instead.  A
 * pinned attachment keeps exporters that could move the buffer (TTM) from
 * doing so; a kernel mapping alone does not.
 */
static int hyper_dmabuf_xen_hold_vmap(struct hyper_dmabuf_xen_share *sh)
{
	int ret;

	/* dma_buf_vmap() warns about any failure of the exporter's vmap. */
	if (!sh->dmabuf->ops->vmap)
		return -EOPNOTSUPP;
	sh->pin = dma_buf_dynamic_attach(sh->dmabuf,
					 &hyper_dmabuf_xen_pdev->dev,
					 &hyper_dmabuf_xen_pin_ops, sh);
	if (IS_ERR(sh->pin)) {
		ret = PTR_ERR(sh->pin);
		goto clear;
	}
	dma_resv_lock(sh->dmabuf->resv, NULL);
	ret = dma_buf_pin(sh->pin);
	dma_resv_unlock(sh->dmabuf->resv);
	if (ret)
		goto detach;
	ret = dma_buf_vmap_unlocked(sh->dmabuf, &sh->vmap);
	if (ret)
		goto unpin;
	if (sh->vmap.is_iomem || !PAGE_ALIGNED(sh->vmap.vaddr)) {
		ret = -EOPNOTSUPP;
		goto vunmap;
	}
	return 0;

vunmap:
	dma_buf_vunmap_unlocked(sh->dmabuf, &sh->vmap);
unpin:
	dma_resv_lock(sh->dmabuf->resv, NULL);
	dma_buf_unpin(sh->pin);
	dma_resv_unlock(sh->dmabuf->resv);
detach:
	dma_buf_detach(sh->dmabuf, sh->pin);
clear:
	sh->pin = NULL;
	return ret;
}

static void hyper_dmabuf_xen_hold_release(struct hyper_dmabuf_xen_share *sh)
{
	if (sh->attach) {
		dma_buf_unmap_attachment_unlocked(sh->attach, sh->sgt,
						  DMA_TO_DEVICE);
		dma_buf_detach(sh->dmabuf, sh->attach);
		return;
	}
	dma_buf_vunmap_unlocked(sh->dmabuf, &sh->vmap);
	dma_resv_lock(sh->dmabuf->resv, NULL);
	dma_buf_unpin(sh->pin);
	dma_resv_unlock(sh->dmabuf->resv);
	dma_buf_detach(sh->dmabuf, sh->pin);
}

/**
 * hyper_dmabuf_xen_share() - grant the pages of a dma-buf to a domain
 * @domid: importing domain
 * @dmabuf: buffer to share; the share takes a reference of its own
 * @rw: grant write access too
 * @out: receives the handle and the page directory's grant reference
 *
 * Every frame of the buffer is found, and every grant reference the share
 * needs (one per page of the buffer and of the page directory) is
 * claimed, before anything is granted: a share that fails has granted
 * nothing, and leaves nothing behind.
 *
 * Return: 0, -EINVAL for a size that is not page aligned, -EFBIG above the
 * largest buffer a message can announce, -EOPNOTSUPP for a buffer that is
 * not RAM of this domain or would be bounced, an error of the dma-buf's
 * exporter, -ENOMEM, or -ENOSPC when the grant budget (three quarters
 * of the domain's grant table) or the grant table itself is full.
 */
int hyper_dmabuf_xen_share(u32 domid, struct dma_buf *dmabuf, bool rw,
			   struct hyper_dmabuf_share *out)
{
	struct hyper_dmabuf_xen_share *sh;
	struct hyper_dmabuf_xen_refs refs;
	unsigned long *gfns = NULL;
	unsigned int d = 0;
	int ret;

	if (!PAGE_ALIGNED(dmabuf->size) || !dmabuf->size)
		return -EINVAL;
	if (dmabuf->size > HYPER_DMABUF_MAX_BUF_SIZE)
		return -EFBIG;

	sh = kzalloc_obj(*sh, GFP_KERNEL);
	if (!sh)
		return -ENOMEM;
	sh->domid = domid;
	sh->nr_pages = dmabuf->size >> PAGE_SHIFT;
	sh->nr_dir = DIV_ROUND_UP(sh->nr_pages, HYPER_DMABUF_DIR_REFS);
	if (!hyper_dmabuf_xen_grants_reserve(sh->nr_pages + sh->nr_dir)) {
		kfree(sh);
		return -ENOSPC;
	}
	sh->refs = kvcalloc(sh->nr_pages, sizeof(*sh->refs), GFP_KERNEL);
	sh->dir = kcalloc(sh->nr_dir, sizeof(*sh->dir), GFP_KERNEL);
	sh->dir_refs = kcalloc(sh->nr_dir, sizeof(*sh->dir_refs), GFP_KERNEL);
	if (!sh->refs || !sh->dir || !sh->dir_refs) {
		ret = -ENOMEM;
		goto free_share;
	}

	get_dma_buf(dmabuf);
	sh->dmabuf = dmabuf;
	if (hyper_dmabuf_xen_dma_is_bus)
		ret = hyper_dmabuf_xen_hold_vmap(sh);
	else
		ret = hyper_dmabuf_xen_hold_dma(sh);
	if (ret)
		goto put_buf;

	gfns = kvmalloc_array(sh->nr_pages, sizeof(*gfns), GFP_KERNEL);
	if (!gfns) {
		ret = -ENOMEM;
		goto release;
	}
	ret = hyper_dmabuf_xen_find_frames(sh, gfns);
	if (ret)
		goto release;
	for (d = 0; d < sh->nr_dir; d++) {
		sh->dir[d] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!sh->dir[d]) {
			ret = -ENOMEM;
			goto free_dir;
		}
	}
	ret = hyper_dmabuf_xen_refs_alloc(&refs, sh->nr_pages + sh->nr_dir);
	if (ret)
		goto free_dir;

	hyper_dmabuf_xen_grant(sh, &refs, gfns, rw);
	/* Exactly as many were claimed as granted: none is left to free. */
	hyper_dmabuf_xen_refs_free(&refs);
	kvfree(gfns);
	hyper_dmabuf_xen_fill_dir(sh);

	atomic_add(sh->nr_pages + sh->nr_dir, &hyper_dmabuf_xen_grants_in_use);
	out->handle = sh;
	out->ref = sh->dir_refs[0];
	return 0;

free_dir:
	while (d--)
		__free_page(sh->dir[d]);
release:
	kvfree(gfns);
	hyper_dmabuf_xen_hold_release(sh);
put_buf:
	dma_buf_put(dmabuf);
free_share:
	hyper_dmabuf_xen_grants_unreserve(sh->nr_pages + sh->nr_dir);
	hyper_dmabuf_xen_share_free(sh);
	return ret;
}

/*
 * End every grant of @sh that the peer no longer maps.  Return: true once
 * all of them have ended; the buffer may then be let go.
 */
static bool hyper_dmabuf_xen_share_try_end(struct hyper_dmabuf_xen_share *sh)
{
	unsigned int i, ended = 0;

	for (i = 0; i < sh->nr_dir; i++) {
		if (!sh->dir_refs[i])
			continue;
		if (gnttab_try_end_foreign_access(sh->dir_refs[i])) {
			sh->dir_refs[i] = 0;
			__free_page(sh->dir[i]);
			ended++;
		}
	}
	for (i = 0; i < sh->nr_pages; i++) {
		if (!sh->refs[i])
			continue;
		if (gnttab_try_end_foreign_access(sh->refs[i])) {
			sh->refs[i] = 0;
			ended++;
		}
	}
	sh->nr_live -= ended;
	hyper_dmabuf_xen_grants_unreserve(ended);
	atomic_sub(ended, &hyper_dmabuf_xen_grants_in_use);
	return !sh->nr_live;
}

/* Let go of the buffer: its grants have all ended. */
static void hyper_dmabuf_xen_share_release(struct hyper_dmabuf_xen_share *sh)
{
	hyper_dmabuf_xen_hold_release(sh);
	dma_buf_put(sh->dmabuf);
	hyper_dmabuf_xen_share_free(sh);
}

static void hyper_dmabuf_xen_reap_fn(struct work_struct *work)
{
	unsigned long delay = ULONG_MAX;
	struct hyper_dmabuf_xen_share *sh, *tmp;
	LIST_HEAD(busy);

	spin_lock(&hyper_dmabuf_xen_reap_lock);
	list_splice_init(&hyper_dmabuf_xen_reap_list, &busy);
	spin_unlock(&hyper_dmabuf_xen_reap_lock);

	list_for_each_entry_safe(sh, tmp, &busy, reap_link) {
		if (hyper_dmabuf_xen_share_try_end(sh)) {
			list_del(&sh->reap_link);
			hyper_dmabuf_xen_share_release(sh);
			module_put(THIS_MODULE);
			continue;
		}
		/* 200 ms, doubling up to 12.8 s, then every 12.8 s. */
		if (sh->reap_tries < 7 && ++sh->reap_tries == 7)
			pr_warn_ratelimited("hyper_dmabuf_xen: domain %u still maps %u grants of a withdrawn buffer\n",
					    sh->domid, sh->nr_live);
		delay = min(delay, msecs_to_jiffies(100U << sh->reap_tries));
	}
	if (list_empty(&busy))
		return;
	spin_lock(&hyper_dmabuf_xen_reap_lock);
	list_splice(&busy, &hyper_dmabuf_xen_reap_list);
	spin_unlock(&hyper_dmabuf_xen_reap_lock);
	/* A share queued meanwhile has asked for an earlier run: keep it. */
	queue_delayed_work(system_dfl_wq, &hyper_dmabuf_xen_reap_work, delay);
}

/*
 * Hand @sh, with @nr_live grants made, to the reaper, which ends them and
 * lets the buffer go once the peer has unmapped every one.  It runs at
 * once, so the buffer is let go outside the caller's locks.
 */
static void hyper_dmabuf_xen_share_end(struct hyper_dmabuf_xen_share *sh,
				       unsigned int nr_live)
{
	sh->nr_live = nr_live;
	__module_get(THIS_MODULE);
	spin_lock(&hyper_dmabuf_xen_reap_lock);
	list_add_tail(&sh->reap_link, &hyper_dmabuf_xen_reap_list);
	spin_unlock(&hyper_dmabuf_xen_reap_lock);
	mod_delayed_work(system_dfl_wq, &hyper_dmabuf_xen_reap_work, 0);
}

/**
 * hyper_dmabuf_xen_unshare() - end a sharing made by hyper_dmabuf_xen_share()
 * @domid: importing domain
 * @handle: &hyper_dmabuf_share.handle
 *
 * The grants end, and the dma-buf reference and the attachment that keep
 * the buffer's memory are dropped, from a work item: at once for the
 * grants the peer no longer maps, and only after it has unmapped them for
 * the others.  The grant counter counts them until then.
 */
void hyper_dmabuf_xen_unshare(u32 domid, void *handle)
{
	struct hyper_dmabuf_xen_share *sh = handle;

	hyper_dmabuf_xen_share_end(sh, sh->nr_pages + sh->nr_dir);
}

/* ---- importer: kernel mapping --------------------------------------------- */

static unsigned long hyper_dmabuf_xen_kaddr(struct page *page)
{
	return (unsigned long)pfn_to_kaddr(page_to_xen_pfn(page));
}

/**
 * hyper_dmabuf_xen_map_pages() - map grants into ballooned pages
 * @domid: granting domain
 * @refs: @n grant references
 * @n: number of pages
 * @rw: map writable
 * @pages: @n pages from gnttab_alloc_pages()
 * @handles: receives @n grant handles
 *
 * Return: 0, or -EIO if Xen refused a grant (nothing stays mapped then).
 */
int hyper_dmabuf_xen_map_pages(u32 domid, const grant_ref_t *refs,
			       unsigned int n, bool rw, struct page **pages,
			       grant_handle_t *handles)
{
	u32 flags = GNTMAP_host_map | (rw ? 0 : GNTMAP_readonly);
	struct gnttab_map_grant_ref *ops;
	unsigned int off, cnt, i;
	unsigned long addr;
	int ret = 0;

	for (i = 0; i < n; i++)
		handles[i] = INVALID_GRANT_HANDLE;
	ops = kcalloc(min_t(unsigned int, n, HYPER_DMABUF_XEN_BATCH),
		      sizeof(*ops), GFP_KERNEL);
	if (!ops)
		return -ENOMEM;
	for (off = 0; off < n && !ret; off += cnt) {
		cnt = min_t(unsigned int, n - off, HYPER_DMABUF_XEN_BATCH);
		for (i = 0; i < cnt; i++) {
			addr = hyper_dmabuf_xen_kaddr(pages[off + i]);
			gnttab_set_map_op(&ops[i], addr, flags, refs[off + i],
					  domid);
		}
		ret = gnttab_map_refs(ops, NULL, pages + off, cnt);
		for (i = 0; i < cnt; i++) {
			if (ops[i].status == GNTST_okay)
				handles[off + i] = ops[i].handle;
			else if (!ret)
				ret = -EIO;
		}
	}
	kfree(ops);
	if (ret) {
		hyper_dmabuf_xen_unmap_pages(n, rw, pages, handles);
		return -EIO;
	}
	return 0;
}

/**
 * hyper_dmabuf_xen_unmap_pages() - undo hyper_dmabuf_xen_map_pages()
 * @n: number of pages
 * @rw: as passed to hyper_dmabuf_xen_map_pages()
 * @pages: the pages
 * @handles: their handles; unmapped ones are set to %INVALID_GRANT_HANDLE
 */
void hyper_dmabuf_xen_unmap_pages(unsigned int n, bool rw, struct page **pages,
				  grant_handle_t *handles)
{
	u32 flags = GNTMAP_host_map | (rw ? 0 : GNTMAP_readonly);
	struct gnttab_unmap_grant_ref ops[HYPER_DMABUF_XEN_UNMAP_BATCH];
	struct page *batch[HYPER_DMABUF_XEN_UNMAP_BATCH];
	unsigned int i, k = 0;

	for (i = 0; i < n; i++) {
		if (handles[i] != INVALID_GRANT_HANDLE) {
			gnttab_set_unmap_op(&ops[k],
					    hyper_dmabuf_xen_kaddr(pages[i]),
					    flags, handles[i]);
			batch[k++] = pages[i];
			handles[i] = INVALID_GRANT_HANDLE;
		}
		if (k == HYPER_DMABUF_XEN_UNMAP_BATCH || (k && i + 1 == n)) {
			if (gnttab_unmap_refs(ops, NULL, batch, k))
				pr_warn_ratelimited("hyper_dmabuf_xen: grant unmap failed\n");
			k = 0;
		}
	}
}

static int hyper_dmabuf_xen_read_dir(u32 domid, u64 ref, unsigned int n,
				     grant_ref_t *refs)
{
	unsigned int nr_dir = DIV_ROUND_UP(n, HYPER_DMABUF_DIR_REFS);
	unsigned int d, k, count, got = 0;
	struct hyper_dmabuf_dir_page *dp;
	grant_handle_t handle;
	struct page *page;
	grant_ref_t gref;
	u32 magic, next;
	int ret;

	if (!ref || ref > U32_MAX)
		return -EBADMSG;
	ret = gnttab_alloc_pages(1, &page);
	if (ret)
		return ret;
	dp = page_address(page);
	for (d = 0; d < nr_dir; d++) {
		gref = ref;
		ret = hyper_dmabuf_xen_map_pages(domid, &gref, 1, false, &page,
						 &handle);
		if (ret)
			break;
		magic = le32_to_cpu(READ_ONCE(dp->magic));
		count = le32_to_cpu(READ_ONCE(dp->count));
		next = le32_to_cpu(READ_ONCE(dp->next));
		if (magic != HYPER_DMABUF_DIR_MAGIC ||
		    count != min_t(unsigned int, HYPER_DMABUF_DIR_REFS,
				   n - got) ||
		    (d + 1 < nr_dir) != !!next) {
			ret = -EBADMSG;
		} else {
			for (k = 0; k < count; k++)
				refs[got + k] = le32_to_cpu(READ_ONCE(dp->refs[k]));
			got += count;
			ref = next;
		}
		hyper_dmabuf_xen_unmap_pages(1, false, &page, &handle);
		if (ret)
			break;
	}
	gnttab_free_pages(1, &page);
	return ret;
}

static void hyper_dmabuf_xen_mapping_free(struct hyper_dmabuf_xen_mapping *m)
{
	kvfree(m->unmap_ops);
	kvfree(m->refs);
	kvfree(m->pages);
	kvfree(m->handles);
	kfree(m);
}

/**
 * hyper_dmabuf_xen_map() - map a buffer another domain shared
 * @domid: exporting domain
 * @ref: grant reference of the first page-directory page
 * @nr_pages: buffer size in pages
 * @rw: map writable
 * @out: receives the handle and the pages
 *
 * Return: 0, -EBADMSG for a malformed page directory, -EIO if Xen refused
 * a grant, or -ENOMEM.
 */
int hyper_dmabuf_xen_map(u32 domid, u64 ref, unsigned int nr_pages, bool rw,
			 struct hyper_dmabuf_mapping *out)
{
	struct hyper_dmabuf_xen_mapping *m;
	int ret;

	if (!nr_pages || (u64)nr_pages << PAGE_SHIFT > HYPER_DMABUF_MAX_BUF_SIZE)
		return -EBADMSG;
	m = kzalloc_obj(*m, GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->domid = domid;
	m->rw = rw;
	m->nr = nr_pages;
	mutex_init(&m->vmap_lock);
	m->refs = kvcalloc(nr_pages, sizeof(*m->refs), GFP_KERNEL);
	m->pages = kvcalloc(nr_pages, sizeof(*m->pages), GFP_KERNEL);
	m->handles = kvcalloc(nr_pages, sizeof(*m->handles), GFP_KERNEL);
	m->unmap_ops = kvcalloc(nr_pages, sizeof(*m->unmap_ops), GFP_KERNEL);
	if (!m->refs || !m->pages || !m->handles || !m->unmap_ops) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = hyper_dmabuf_xen_read_dir(domid, ref, nr_pages, m->refs);
	if (ret)
		goto err_free;
	ret = gnttab_alloc_pages(nr_pages, m->pages);
	if (ret)
		goto err_free;
	ret = hyper_dmabuf_xen_map_pages(domid, m->refs, nr_pages, rw, m->pages,
					 m->handles);
	if (ret)
		goto err_free_pages;

	atomic_add(nr_pages, &hyper_dmabuf_xen_mapped_pages);
	out->handle = m;
	out->pages = m->pages;
	out->nr_pages = nr_pages;
	/*
	 * In a PV domain, consecutive pfns of foreign frames are not
	 * contiguous in machine memory: one page per segment, so that
	 * swiotlb-xen maps each for a device instead of bouncing it.
	 */
	out->max_segment = xen_pv_domain() ? PAGE_SIZE : 0;
	return 0;

err_free_pages:
	gnttab_free_pages(nr_pages, m->pages);
err_free:
	hyper_dmabuf_xen_mapping_free(m);
	return ret;
}

/*
 * Free what hyper_dmabuf_xen_unmap() left to the grant table's work, and
 * drop the module reference it held: from a work of this module, which
 * hyper_dmabuf_xen_shm_exit() waits for, never from the grant table's own
 * work.
 */
static void hyper_dmabuf_xen_unmapped_fn(struct work_struct *work)
{
	struct hyper_dmabuf_xen_mapping *m, *tmp;
	LIST_HEAD(done);

	spin_lock(&hyper_dmabuf_xen_unmapped_lock);
	list_splice_init(&hyper_dmabuf_xen_unmapped, &done);
	spin_unlock(&hyper_dmabuf_xen_unmapped_lock);
	list_for_each_entry_safe(m, tmp, &done, unmapped_link) {
		gnttab_free_pages(m->nr, m->pages);
		atomic_sub(m->nr, &hyper_dmabuf_xen_mapped_pages);
		hyper_dmabuf_xen_mapping_free(m);
		module_put(THIS_MODULE);
	}
}

static void hyper_dmabuf_xen_unmap_done(int result,
					struct gntab_unmap_queue_data *data)
{
	struct hyper_dmabuf_xen_mapping *m = data->data;

	if (result)
		pr_warn_ratelimited("hyper_dmabuf_xen: grant unmap failed: %d\n",
				    result);
	spin_lock(&hyper_dmabuf_xen_unmapped_lock);
	list_add_tail(&m->unmapped_link, &hyper_dmabuf_xen_unmapped);
	spin_unlock(&hyper_dmabuf_xen_unmapped_lock);
	schedule_work(&hyper_dmabuf_xen_unmapped_work);
}

/**
 * hyper_dmabuf_xen_unmap() - undo hyper_dmabuf_xen_map()
 * @domid: exporting domain
 * @handle: &hyper_dmabuf_mapping.handle
 *
 * The last local dma-buf user is gone, but someone may still hold a
 * reference to a page: an O_DIRECT transfer, or a pipe that vmsplice() fed
 * from an mmap of the import.  The grants are unmapped, and the pages
 * freed, only once no such reference is left (gnttab_unmap_refs_async()
 * checks, and tries again later); until then the pages count as mapped,
 * and the mapping holds a reference on this module.  Never waits.
 */
void hyper_dmabuf_xen_unmap(u32 domid, void *handle)
{
	u32 flags;
	struct hyper_dmabuf_xen_mapping *m = handle;
	unsigned int i;

	WARN_ON_ONCE(m->vaddr);
	flags = GNTMAP_host_map | (m->rw ? 0 : GNTMAP_readonly);
	/* hyper_dmabuf_xen_map() succeeded: every page has its handle. */
	for (i = 0; i < m->nr; i++)
		gnttab_set_unmap_op(&m->unmap_ops[i],
				    hyper_dmabuf_xen_kaddr(m->pages[i]),
				    flags, m->handles[i]);
	m->unmap.unmap_ops = m->unmap_ops;
	m->unmap.kunmap_ops = NULL;
	m->unmap.pages = m->pages;
	m->unmap.count = m->nr;
	m->unmap.done = hyper_dmabuf_xen_unmap_done;
	m->unmap.data = m;
	__module_get(THIS_MODULE);
	gnttab_unmap_refs_async(&m->unmap);
}

/* ---- importer: PV mappings through page-table entries --------------------- */

static int hyper_dmabuf_xen_collect_pte(pte_t *pte, unsigned long addr,
					void *data)
{
	struct hyper_dmabuf_xen_pte_list *l = data;

	if (l->n == l->max)
		return -EINVAL;
	l->ptes[l->n++] = arbitrary_virt_to_machine(pte).maddr;
	return 0;
}

static void hyper_dmabuf_xen_unmap_ptes(unsigned int n, const u64 *ptes,
					grant_handle_t *handles)
{
	struct gnttab_unmap_grant_ref ops[HYPER_DMABUF_XEN_UNMAP_BATCH];
	unsigned int i, j, k = 0;

	for (i = 0; i < n; i++) {
		if (handles[i] != INVALID_GRANT_HANDLE) {
			gnttab_set_unmap_op(&ops[k++], ptes[i],
					    GNTMAP_host_map |
					    GNTMAP_contains_pte,
					    handles[i]);
			handles[i] = INVALID_GRANT_HANDLE;
		}
		if (k == HYPER_DMABUF_XEN_UNMAP_BATCH || (k && i + 1 == n)) {
			if (HYPERVISOR_grant_table_op(GNTTABOP_unmap_grant_ref,
						      ops, k))
				pr_warn_ratelimited("hyper_dmabuf_xen: PTE unmap hypercall failed\n");
			for (j = 0; j < k; j++)
				if (ops[j].status != GNTST_okay)
					pr_warn_ratelimited("hyper_dmabuf_xen: PTE unmap status %d\n",
							    ops[j].status);
			k = 0;
		}
	}
}

static int hyper_dmabuf_xen_map_ptes(u32 domid, const grant_ref_t *refs,
				     unsigned int n, u32 flags, const u64 *ptes,
				     grant_handle_t *handles)
{
	struct gnttab_map_grant_ref *ops;
	unsigned int off, cnt, i;
	int ret = 0;

	for (i = 0; i < n; i++)
		handles[i] = INVALID_GRANT_HANDLE;
	ops = kcalloc(min_t(unsigned int, n, HYPER_DMABUF_XEN_BATCH),
		      sizeof(*ops), GFP_KERNEL);
	if (!ops)
		return -ENOMEM;
	for (off = 0; off < n && !ret; off += cnt) {
		cnt = min_t(unsigned int, n - off, HYPER_DMABUF_XEN_BATCH);
		for (i = 0; i < cnt; i++)
			gnttab_set_map_op(&ops[i], ptes[off + i], flags,
					  refs[off + i], domid);
		gnttab_batch_map(ops, cnt);
		for (i = 0; i < cnt; i++) {
			if (ops[i].status == GNTST_okay)
				handles[off + i] = ops[i].handle;
			else
				ret = -EIO;
		}
	}
	kfree(ops);
	if (ret)
		hyper_dmabuf_xen_unmap_ptes(n, ptes, handles);
	return ret;
}

static void hyper_dmabuf_xen_vma_free(struct kref *kref)
{
	struct hyper_dmabuf_xen_vma *v =
		container_of(kref, struct hyper_dmabuf_xen_vma, kref);

	mmu_interval_notifier_remove(&v->notifier);
	/* munmap and exit invalidate the range first; this is a fallback. */
	if (v->mapped)
		hyper_dmabuf_xen_unmap_ptes(v->n, v->ptes, v->handles);
	kvfree(v->ptes);
	kvfree(v->handles);
	kfree(v);
}

static bool
hyper_dmabuf_xen_vma_invalidate(struct mmu_interval_notifier *mn,
				const struct mmu_notifier_range *range,
				unsigned long cur_seq)
{
	struct hyper_dmabuf_xen_vma *v =
		container_of(mn, struct hyper_dmabuf_xen_vma, notifier);

	if (!mmu_notifier_range_blockable(range))
		return false;
	mutex_lock(&v->lock);
	mmu_interval_set_seq(mn, cur_seq);
	/*
	 * Xen must clear the grant PTEs before the kernel zaps or moves
	 * them.  The whole mapping goes: it cannot be split (may_split).
	 */
	if (v->mapped) {
		hyper_dmabuf_xen_unmap_ptes(v->n, v->ptes, v->handles);
		v->mapped = false;
	}
	mutex_unlock(&v->lock);
	return true;
}

static const struct mmu_interval_notifier_ops hyper_dmabuf_xen_vma_mn_ops = {
	.invalidate = hyper_dmabuf_xen_vma_invalidate,
};

static void hyper_dmabuf_xen_vma_open(struct vm_area_struct *vma)
{
	struct hyper_dmabuf_xen_vma *v = vma->vm_private_data;

	kref_get(&v->kref);
}

static void hyper_dmabuf_xen_vma_close(struct vm_area_struct *vma)
{
	struct hyper_dmabuf_xen_vma *v = vma->vm_private_data;

	kref_put(&v->kref, hyper_dmabuf_xen_vma_free);
}

static int hyper_dmabuf_xen_vma_may_split(struct vm_area_struct *vma,
					  unsigned long addr)
{
	return -EINVAL;
}

static int hyper_dmabuf_xen_vma_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct hyper_dmabuf_xen_vm_ops = {
	.open = hyper_dmabuf_xen_vma_open,
	.close = hyper_dmabuf_xen_vma_close,
	.may_split = hyper_dmabuf_xen_vma_may_split,
	.mremap = hyper_dmabuf_xen_vma_mremap,
};

/**
 * hyper_dmabuf_xen_mmap() - map an imported buffer into a process
 * @handle: &hyper_dmabuf_mapping.handle
 * @vma: the new vma, of the import's dma-buf file
 *
 * In a PV domain the mapping must be shared (-EINVAL otherwise), cannot be
 * split or moved, and is not inherited by a child process.
 *
 * Return: 0 or a negative error code.
 */
int hyper_dmabuf_xen_mmap(void *handle, struct vm_area_struct *vma)
{
	struct hyper_dmabuf_xen_mapping *m = handle;
	unsigned long n = vma_pages(vma);
	/*
	 * Xen sets guest bit 0 (_PAGE_SPECIAL) in the PTEs it writes, so
	 * that get_user_pages_fast() leaves these foreign frames, which have
	 * no struct page here, to the slow path, which refuses VM_PFNMAP:
	 * vmsplice() or O_DIRECT on the mapping fail with -EFAULT instead of
	 * taking a reference on a page that does not exist.
	 */
	u32 flags = GNTMAP_host_map | GNTMAP_application_map |
		    GNTMAP_contains_pte | (1 << _GNTMAP_guest_avail0);
	struct hyper_dmabuf_xen_pte_list list;
	struct hyper_dmabuf_xen_vma *v;
	int ret;

	if (vma->vm_pgoff >= m->nr || n > m->nr - vma->vm_pgoff)
		return -EINVAL;
	if (!xen_pv_domain())
		return vm_map_pages(vma, m->pages, m->nr);
	/* A read-only file's shared mappings lack VM_SHARED. */
	if (!(vma->vm_flags & VM_MAYSHARE))
		return -EINVAL;
	if (!m->rw || !(vma->vm_flags & VM_WRITE))
		flags |= GNTMAP_readonly;

	v = kzalloc_obj(*v, GFP_KERNEL);
	if (!v)
		return -ENOMEM;
	kref_init(&v->kref);
	mutex_init(&v->lock);
	v->n = n;
	v->ptes = kvcalloc(n, sizeof(*v->ptes), GFP_KERNEL);
	v->handles = kvcalloc(n, sizeof(*v->handles), GFP_KERNEL);
	if (!v->ptes || !v->handles) {
		ret = -ENOMEM;
		goto err_free;
	}

	vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP |
		     VM_DONTCOPY);
	if (flags & GNTMAP_readonly)
		vm_flags_clear(vma, VM_MAYWRITE);
	ret = mmu_interval_notifier_insert_locked(&v->notifier, vma->vm_mm,
						  vma->vm_start,
						  n << PAGE_SHIFT,
						  &hyper_dmabuf_xen_vma_mn_ops);
	if (ret)
		goto err_free;
	list.ptes = v->ptes;
	list.n = 0;
	list.max = n;
	ret = apply_to_page_range(vma->vm_mm, vma->vm_start, n << PAGE_SHIFT,
				  hyper_dmabuf_xen_collect_pte, &list);
	if (!ret && list.n != n)
		ret = -EINVAL;
	/*
	 * Nothing can invalidate the range before this returns: mmap_lock
	 * is held for writing and the PTEs are not reclaimable.
	 */
	if (!ret)
		ret = hyper_dmabuf_xen_map_ptes(m->domid,
						m->refs + vma->vm_pgoff, n,
						flags, v->ptes, v->handles);
	if (ret)
		goto err_remove;
	v->mapped = true;
	vma->vm_private_data = v;
	vma->vm_ops = &hyper_dmabuf_xen_vm_ops;
	return 0;

err_remove:
	mmu_interval_notifier_remove(&v->notifier);
err_free:
	kvfree(v->ptes);
	kvfree(v->handles);
	kfree(v);
	return ret;
}

/* Map the buffer into the kernel; m->vmap_lock held. */
static void *hyper_dmabuf_xen_vmap_locked(struct hyper_dmabuf_xen_mapping *m)
{
	u32 flags = GNTMAP_host_map | GNTMAP_contains_pte |
		    (m->rw ? 0 : GNTMAP_readonly);
	unsigned int i, level;
	struct page **zero;
	void *vaddr = NULL;
	pte_t *pte;

	if (!xen_pv_domain())
		return vmap(m->pages, m->nr, VM_MAP,
			    m->rw ? PAGE_KERNEL : PAGE_KERNEL_RO);

	m->vmap_ptes = kvcalloc(m->nr, sizeof(*m->vmap_ptes), GFP_KERNEL);
	m->vmap_handles = kvcalloc(m->nr, sizeof(*m->vmap_handles),
				   GFP_KERNEL);
	zero = kvcalloc(m->nr, sizeof(*zero), GFP_KERNEL);
	if (!m->vmap_ptes || !m->vmap_handles || !zero)
		goto err_free;
	for (i = 0; i < m->nr; i++)
		zero[i] = ZERO_PAGE(0);
	vaddr = vmap(zero, m->nr, VM_MAP, PAGE_KERNEL_RO);
	if (!vaddr)
		goto err_free;
	for (i = 0; i < m->nr; i++) {
		pte = lookup_address((unsigned long)vaddr + i * PAGE_SIZE,
				     &level);
		if (!pte || level != PG_LEVEL_4K)
			goto err_vunmap;
		m->vmap_ptes[i] = arbitrary_virt_to_machine(pte).maddr;
	}
	if (hyper_dmabuf_xen_map_ptes(m->domid, m->refs, m->nr, flags,
				      m->vmap_ptes, m->vmap_handles))
		goto err_vunmap;
	kvfree(zero);
	return vaddr;

err_vunmap:
	vunmap(vaddr);
	vaddr = NULL;
err_free:
	kvfree(zero);
	kvfree(m->vmap_ptes);
	kvfree(m->vmap_handles);
	return NULL;
}

/**
 * hyper_dmabuf_xen_vmap() - map an imported buffer into the kernel
 * @handle: &hyper_dmabuf_mapping.handle
 * @map: receives the address
 *
 * Every local dma-buf of an import shares one kernel mapping, counted.  In
 * a PV domain the area is first mapped to the zero page, then Xen replaces
 * each entry with the grant mapping.
 *
 * Return: 0 or -ENOMEM.
 */
int hyper_dmabuf_xen_vmap(void *handle, struct iosys_map *map)
{
	struct hyper_dmabuf_xen_mapping *m = handle;
	int ret = 0;

	mutex_lock(&m->vmap_lock);
	if (!m->vmap_count)
		m->vaddr = hyper_dmabuf_xen_vmap_locked(m);
	if (m->vaddr) {
		m->vmap_count++;
		iosys_map_set_vaddr(map, m->vaddr);
	} else {
		ret = -ENOMEM;
	}
	mutex_unlock(&m->vmap_lock);
	return ret;
}

/**
 * hyper_dmabuf_xen_vunmap() - undo hyper_dmabuf_xen_vmap()
 * @handle: &hyper_dmabuf_mapping.handle
 * @map: the mapping
 */
void hyper_dmabuf_xen_vunmap(void *handle, struct iosys_map *map)
{
	struct hyper_dmabuf_xen_mapping *m = handle;

	mutex_lock(&m->vmap_lock);
	if (WARN_ON_ONCE(!m->vmap_count) || --m->vmap_count)
		goto out_unlock;
	if (xen_pv_domain()) {
		/* Xen clears the entries; vunmap() then finds them empty. */
		hyper_dmabuf_xen_unmap_ptes(m->nr, m->vmap_ptes,
					    m->vmap_handles);
		kvfree(m->vmap_ptes);
		kvfree(m->vmap_handles);
	}
	vunmap(m->vaddr);
	m->vaddr = NULL;
out_unlock:
	mutex_unlock(&m->vmap_lock);
}

#if IS_ENABLED(CONFIG_HYPER_DMABUF_KUNIT_TEST)
#include "hyper_dmabuf_xen_test.c"
#endif
