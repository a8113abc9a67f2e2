// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: Xen backend, granting buffer pages and mapping them
 *
 * Exporter: the buffer's frames are found by attaching to the dma-buf with
 * a device of this driver whose DMA operations are the identity: they
 * report each segment's physical address and never bounce.  Two other
 * routes were weighed.  A mapping for a device that uses the platform's
 * DMA operations is unusable in a PV domain: swiotlb-xen bounces any
 * segment whose pages are not contiguous in machine memory, and the grants
 * would then cover the bounce copy instead of the buffer.  A kernel
 * mapping (dma_buf_vmap()) is not offered by every producer: udmabuf has no
 * vmap in 6.1.  The sg_table's page links cannot be used either, since
 * CONFIG_DMABUF_DEBUG scrambles them; its DMA addresses are what this
 * device's operations put there.  The attachment stays mapped while the
 * buffer is shared, which keeps the pages of exporters that could move
 * them in place.  Addresses that are not RAM with a struct page (device
 * memory, iomem) make the export fail.  Every page holds a reference while
 * granted; gnttab_end_foreign_access() drops it only once the peer has
 * unmapped the page, so a page is never freed while another domain can
 * touch it.
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
#include <linux/dma-map-ops.h>
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
#include <xen/page.h>
#include <xen/xen.h>
#include <asm/xen/hypercall.h>
#include <asm/xen/page.h>

#include "hyper_dmabuf_xen.h"

/* Unmap batches live on the stack: unmapping must not need memory. */
#define HDX_UNMAP_BATCH	16

struct hdx_share {
	struct dma_buf_attachment *attach;
	struct sg_table *sgt;
	unsigned int nr_pages;
	unsigned int nr_dir;
	struct page **pages;
	grant_ref_t *refs;
	struct page **dir;
	grant_ref_t *dir_refs;
};

struct hdx_mapping {
	u32 domid;
	bool rw;
	unsigned int nr;
	grant_ref_t *refs;
	struct page **pages;
	grant_handle_t *handles;
	/* kernel mapping made by hdx_vmap(), shared by its users */
	struct mutex vmap_lock; /* protects the members below */
	unsigned int vmap_count;
	void *vaddr;
	u64 *vmap_ptes;
	grant_handle_t *vmap_handles;
};

/* A PV user mapping of a struct hdx_mapping. */
struct hdx_vma {
	struct mmu_interval_notifier notifier;
	struct kref kref;
	struct mutex lock; /* protects mapped, handles */
	unsigned int n;
	bool mapped;
	u64 *ptes;
	grant_handle_t *handles;
};

struct hdx_pte_list {
	u64 *ptes;
	unsigned int n;
	unsigned int max;
};

/* ---- exporter ----------------------------------------------------------- */

static struct platform_device *hdx_pdev;

/* Identity DMA operations: the "bus" address is the physical address. */
static int hdx_dma_map_sg(struct device *dev, struct scatterlist *sgl,
			  int nents, enum dma_data_direction dir,
			  unsigned long attrs)
{
	struct scatterlist *sg;
	int i;

	for_each_sg(sgl, sg, nents, i) {
		sg_dma_address(sg) = sg_phys(sg);
		sg_dma_len(sg) = sg->length;
	}
	return nents;
}

static void hdx_dma_unmap_sg(struct device *dev, struct scatterlist *sgl,
			     int nents, enum dma_data_direction dir,
			     unsigned long attrs)
{
}

static dma_addr_t hdx_dma_map_page(struct device *dev, struct page *page,
				   unsigned long offset, size_t size,
				   enum dma_data_direction dir,
				   unsigned long attrs)
{
	return page_to_phys(page) + offset;
}

static void hdx_dma_unmap_page(struct device *dev, dma_addr_t addr,
			       size_t size, enum dma_data_direction dir,
			       unsigned long attrs)
{
}

/* Device memory has no page that could be granted. */
static dma_addr_t hdx_dma_map_resource(struct device *dev,
				       phys_addr_t phys, size_t size,
				       enum dma_data_direction dir,
				       unsigned long attrs)
{
	return DMA_MAPPING_ERROR;
}

static const struct dma_map_ops hdx_dma_ops = {
	.map_sg = hdx_dma_map_sg,
	.unmap_sg = hdx_dma_unmap_sg,
	.map_page = hdx_dma_map_page,
	.unmap_page = hdx_dma_unmap_page,
	.map_resource = hdx_dma_map_resource,
};

/**
 * hdx_shm_init() - create the device exporters map their buffers for
 *
 * Return: 0 or a negative error code.
 */
int hdx_shm_init(void)
{
	int ret;

	hdx_pdev = platform_device_register_simple("hyper_dmabuf_xen",
						   PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(hdx_pdev))
		return PTR_ERR(hdx_pdev);
	ret = dma_coerce_mask_and_coherent(&hdx_pdev->dev, DMA_BIT_MASK(64));
	if (ret) {
		platform_device_unregister(hdx_pdev);
		return ret;
	}
	set_dma_ops(&hdx_pdev->dev, &hdx_dma_ops);
	return 0;
}

/**
 * hdx_shm_exit() - undo hdx_shm_init()
 */
void hdx_shm_exit(void)
{
	platform_device_unregister(hdx_pdev);
}

/*
 * Test hook, debugfs hyper_dmabuf_xen/check: write the number of a dma-buf
 * fd of the writing process, read back what the kernel sees of it through
 * dma_buf_vmap() (FNV-1a 64 of every byte) and through an attachment of
 * this driver's device (bytes of the mapped sg_table).  The selftests use
 * it on imports, whose vmap and device mapping have no other user here.
 */
struct hdx_check {
	char text[96];
	size_t len;
};

static int hdx_check_open(struct inode *inode, struct file *file)
{
	struct hdx_check *c = kzalloc(sizeof(*c), GFP_KERNEL);

	file->private_data = c;
	return c ? 0 : -ENOMEM;
}

static int hdx_check_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return 0;
}

static int hdx_check_buf(struct dma_buf *dmabuf, struct hdx_check *c)
{
	struct dma_buf_attachment *attach;
	u64 hash = 0xcbf29ce484222325ULL;
	struct scatterlist *sg;
	struct sg_table *sgt;
	struct iosys_map map;
	size_t i, sg_bytes = 0;
	const u8 *p;
	int ret, k;

	ret = dma_buf_vmap(dmabuf, &map);
	if (ret)
		return ret;
	if (map.is_iomem) {
		dma_buf_vunmap(dmabuf, &map);
		return -EOPNOTSUPP;
	}
	for (p = map.vaddr, i = 0; i < dmabuf->size; i++)
		hash = (hash ^ p[i]) * 0x100000001b3ULL;
	dma_buf_vunmap(dmabuf, &map);

	attach = dma_buf_attach(dmabuf, &hdx_pdev->dev);
	if (IS_ERR(attach))
		return PTR_ERR(attach);
	sgt = dma_buf_map_attachment(attach, DMA_TO_DEVICE);
	if (IS_ERR(sgt)) {
		dma_buf_detach(dmabuf, attach);
		return PTR_ERR(sgt);
	}
	for_each_sgtable_dma_sg(sgt, sg, k)
		sg_bytes += sg_dma_len(sg);
	dma_buf_unmap_attachment(attach, sgt, DMA_TO_DEVICE);
	dma_buf_detach(dmabuf, attach);

	c->len = scnprintf(c->text, sizeof(c->text),
			   "size=%zu fnv1a64=%016llx sg_bytes=%zu\n",
			   dmabuf->size, hash, sg_bytes);
	return 0;
}

static ssize_t hdx_check_write(struct file *file, const char __user *ubuf,
			       size_t count, loff_t *ppos)
{
	struct hdx_check *c = file->private_data;
	struct dma_buf *dmabuf;
	int fd, ret;

	ret = kstrtoint_from_user(ubuf, count, 10, &fd);
	if (ret)
		return ret;
	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	c->len = 0;
	ret = hdx_check_buf(dmabuf, c);
	dma_buf_put(dmabuf);
	return ret ? ret : count;
}

static ssize_t hdx_check_read(struct file *file, char __user *ubuf,
			      size_t count, loff_t *ppos)
{
	struct hdx_check *c = file->private_data;

	return simple_read_from_buffer(ubuf, count, ppos, c->text, c->len);
}

static const struct file_operations hdx_check_fops = {
	.owner = THIS_MODULE,
	.open = hdx_check_open,
	.release = hdx_check_release,
	.write = hdx_check_write,
	.read = hdx_check_read,
	.llseek = default_llseek,
};

/**
 * hdx_shm_debugfs() - add the test hook to the backend's debugfs directory
 * @dir: the directory
 */
void hdx_shm_debugfs(struct dentry *dir)
{
	debugfs_create_file("check", 0600, dir, NULL, &hdx_check_fops);
}

static void hdx_share_free(struct hdx_share *sh)
{
	kvfree(sh->pages);
	kvfree(sh->refs);
	kfree(sh->dir);
	kfree(sh->dir_refs);
	kfree(sh);
}

static void hdx_fill_dir(struct hdx_share *sh)
{
	unsigned int d, k, first, count;

	for (d = 0; d < sh->nr_dir; d++) {
		struct hdx_dir_page *dp = page_address(sh->dir[d]);

		first = d * HDX_DIR_REFS;
		count = min_t(unsigned int, HDX_DIR_REFS, sh->nr_pages - first);
		dp->magic = cpu_to_le32(HDX_DIR_MAGIC);
		dp->count = cpu_to_le32(count);
		dp->next = cpu_to_le32(d + 1 < sh->nr_dir ? sh->dir_refs[d + 1] : 0);
		for (k = 0; k < count; k++)
			dp->refs[k] = cpu_to_le32(sh->refs[first + k]);
	}
}

/**
 * hdx_share() - grant the pages of a dma-buf to a domain
 * @domid: importing domain
 * @dmabuf: buffer to share; a reference is held by the caller throughout
 * @rw: grant write access too
 * @out: receives the handle and the page directory's grant reference
 *
 * Return: 0, -EINVAL for a size that is not page aligned, -EFBIG above the
 * largest buffer a message can announce, -EOPNOTSUPP for a buffer that is
 * not RAM with struct pages, an error of the dma-buf's exporter, -ENOMEM,
 * or -ENOSPC when the grant table is full.
 */
int hdx_share(u32 domid, struct dma_buf *dmabuf, bool rw,
	      struct hyper_dmabuf_share *out)
{
	unsigned int i, granted = 0, got = 0, d, dir_alloc = 0, dir_granted = 0;
	struct hdx_share *sh;
	int ret;

	if (!PAGE_ALIGNED(dmabuf->size) || !dmabuf->size)
		return -EINVAL;
	if (dmabuf->size > HYPER_DMABUF_MAX_BUF_SIZE)
		return -EFBIG;

	sh = kzalloc(sizeof(*sh), GFP_KERNEL);
	if (!sh)
		return -ENOMEM;
	sh->nr_pages = dmabuf->size >> PAGE_SHIFT;
	sh->nr_dir = DIV_ROUND_UP(sh->nr_pages, HDX_DIR_REFS);
	sh->pages = kvcalloc(sh->nr_pages, sizeof(*sh->pages), GFP_KERNEL);
	sh->refs = kvcalloc(sh->nr_pages, sizeof(*sh->refs), GFP_KERNEL);
	sh->dir = kcalloc(sh->nr_dir, sizeof(*sh->dir), GFP_KERNEL);
	sh->dir_refs = kcalloc(sh->nr_dir, sizeof(*sh->dir_refs), GFP_KERNEL);
	if (!sh->pages || !sh->refs || !sh->dir || !sh->dir_refs) {
		ret = -ENOMEM;
		goto err_free;
	}

	sh->attach = dma_buf_attach(dmabuf, &hdx_pdev->dev);
	if (IS_ERR(sh->attach)) {
		ret = PTR_ERR(sh->attach);
		goto err_free;
	}
	sh->sgt = dma_buf_map_attachment(sh->attach, DMA_BIDIRECTIONAL);
	if (IS_ERR(sh->sgt)) {
		ret = PTR_ERR(sh->sgt);
		goto err_detach;
	}
	ret = hyper_dmabuf_sgt_pages(sh->sgt, sh->nr_pages, sh->pages);
	if (ret)
		goto err_unmap;
	got = sh->nr_pages;

	for (granted = 0; granted < sh->nr_pages; granted++) {
		ret = gnttab_grant_foreign_access(domid,
						  xen_page_to_gfn(sh->pages[granted]),
						  !rw);
		if (ret < 0)
			goto err_end;
		sh->refs[granted] = ret;
	}
	for (dir_alloc = 0; dir_alloc < sh->nr_dir; dir_alloc++) {
		sh->dir[dir_alloc] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!sh->dir[dir_alloc]) {
			ret = -ENOMEM;
			goto err_end;
		}
	}
	for (dir_granted = 0; dir_granted < sh->nr_dir; dir_granted++) {
		ret = gnttab_grant_foreign_access(domid,
						  xen_page_to_gfn(sh->dir[dir_granted]),
						  1);
		if (ret < 0)
			goto err_end;
		sh->dir_refs[dir_granted] = ret;
	}
	hdx_fill_dir(sh);

	hyper_dmabuf_backend_count_grants(sh->nr_pages + sh->nr_dir);
	out->handle = sh;
	out->ref = sh->dir_refs[0];
	return 0;

err_end:
	/* The peer has not been told about any of these grants yet. */
	for (d = 0; d < dir_alloc; d++) {
		if (d < dir_granted)
			gnttab_end_foreign_access(sh->dir_refs[d], sh->dir[d]);
		else
			__free_page(sh->dir[d]);
	}
	for (i = 0; i < got; i++) {
		if (i < granted)
			gnttab_end_foreign_access(sh->refs[i], sh->pages[i]);
		else
			put_page(sh->pages[i]);
	}
err_unmap:
	dma_buf_unmap_attachment(sh->attach, sh->sgt, DMA_BIDIRECTIONAL);
err_detach:
	dma_buf_detach(dmabuf, sh->attach);
err_free:
	hdx_share_free(sh);
	return ret;
}

/**
 * hdx_unshare() - end a sharing made by hdx_share()
 * @domid: importing domain
 * @handle: &hyper_dmabuf_share.handle
 *
 * Pages the peer still maps stay allocated until it unmaps them.
 */
void hdx_unshare(u32 domid, void *handle)
{
	struct hdx_share *sh = handle;
	unsigned int i;

	for (i = 0; i < sh->nr_dir; i++)
		gnttab_end_foreign_access(sh->dir_refs[i], sh->dir[i]);
	for (i = 0; i < sh->nr_pages; i++)
		gnttab_end_foreign_access(sh->refs[i], sh->pages[i]);
	hyper_dmabuf_backend_count_grants(-(int)(sh->nr_pages + sh->nr_dir));
	dma_buf_unmap_attachment(sh->attach, sh->sgt, DMA_BIDIRECTIONAL);
	dma_buf_detach(sh->attach->dmabuf, sh->attach);
	hdx_share_free(sh);
}

/* ---- importer: kernel mapping --------------------------------------------- */

static unsigned long hdx_kaddr(struct page *page)
{
	return (unsigned long)pfn_to_kaddr(page_to_xen_pfn(page));
}

/**
 * hdx_map_pages() - map grants into ballooned pages
 * @domid: granting domain
 * @refs: @n grant references
 * @n: number of pages
 * @rw: map writable
 * @pages: @n pages from gnttab_alloc_pages()
 * @handles: receives @n grant handles
 *
 * Return: 0, or -EIO if Xen refused a grant (nothing stays mapped then).
 */
int hdx_map_pages(u32 domid, const grant_ref_t *refs, unsigned int n,
		  bool rw, struct page **pages, grant_handle_t *handles)
{
	u32 flags = GNTMAP_host_map | (rw ? 0 : GNTMAP_readonly);
	struct gnttab_map_grant_ref *ops;
	unsigned int off, cnt, i;
	int ret = 0;

	for (i = 0; i < n; i++)
		handles[i] = INVALID_GRANT_HANDLE;
	ops = kcalloc(min_t(unsigned int, n, HDX_BATCH), sizeof(*ops),
		      GFP_KERNEL);
	if (!ops)
		return -ENOMEM;
	for (off = 0; off < n && !ret; off += cnt) {
		cnt = min_t(unsigned int, n - off, HDX_BATCH);
		for (i = 0; i < cnt; i++)
			gnttab_set_map_op(&ops[i], hdx_kaddr(pages[off + i]),
					  flags, refs[off + i], domid);
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
		hdx_unmap_pages(n, rw, pages, handles);
		return -EIO;
	}
	return 0;
}

/**
 * hdx_unmap_pages() - undo hdx_map_pages()
 * @n: number of pages
 * @rw: as passed to hdx_map_pages()
 * @pages: the pages
 * @handles: their handles; unmapped ones are set to %INVALID_GRANT_HANDLE
 */
void hdx_unmap_pages(unsigned int n, bool rw, struct page **pages,
		     grant_handle_t *handles)
{
	u32 flags = GNTMAP_host_map | (rw ? 0 : GNTMAP_readonly);
	struct gnttab_unmap_grant_ref ops[HDX_UNMAP_BATCH];
	struct page *batch[HDX_UNMAP_BATCH];
	unsigned int i, k = 0;

	for (i = 0; i < n; i++) {
		if (handles[i] != INVALID_GRANT_HANDLE) {
			gnttab_set_unmap_op(&ops[k], hdx_kaddr(pages[i]), flags,
					    handles[i]);
			batch[k++] = pages[i];
			handles[i] = INVALID_GRANT_HANDLE;
		}
		if (k == HDX_UNMAP_BATCH || (k && i + 1 == n)) {
			if (gnttab_unmap_refs(ops, NULL, batch, k))
				pr_warn_ratelimited("hyper_dmabuf_xen: grant unmap failed\n");
			k = 0;
		}
	}
}

static int hdx_read_dir(u32 domid, u64 ref, unsigned int n, grant_ref_t *refs)
{
	unsigned int d, k, count, got = 0, nr_dir = DIV_ROUND_UP(n, HDX_DIR_REFS);
	struct hdx_dir_page *dp;
	grant_handle_t handle;
	struct page *page;
	grant_ref_t gref;
	u32 next;
	int ret;

	if (!ref || ref > U32_MAX)
		return -EBADMSG;
	ret = gnttab_alloc_pages(1, &page);
	if (ret)
		return ret;
	dp = page_address(page);
	for (d = 0; d < nr_dir; d++) {
		gref = ref;
		ret = hdx_map_pages(domid, &gref, 1, false, &page, &handle);
		if (ret)
			break;
		count = le32_to_cpu(READ_ONCE(dp->count));
		next = le32_to_cpu(READ_ONCE(dp->next));
		if (le32_to_cpu(READ_ONCE(dp->magic)) != HDX_DIR_MAGIC ||
		    count != min_t(unsigned int, HDX_DIR_REFS, n - got) ||
		    (d + 1 < nr_dir) != !!next) {
			ret = -EBADMSG;
		} else {
			for (k = 0; k < count; k++)
				refs[got + k] = le32_to_cpu(READ_ONCE(dp->refs[k]));
			got += count;
			ref = next;
		}
		hdx_unmap_pages(1, false, &page, &handle);
		if (ret)
			break;
	}
	gnttab_free_pages(1, &page);
	return ret;
}

static void hdx_mapping_free(struct hdx_mapping *m)
{
	kvfree(m->refs);
	kvfree(m->pages);
	kvfree(m->handles);
	kfree(m);
}

/**
 * hdx_map() - map a buffer another domain shared
 * @domid: exporting domain
 * @ref: grant reference of the first page-directory page
 * @nr_pages: buffer size in pages
 * @rw: map writable
 * @out: receives the handle and the pages
 *
 * Return: 0, -EBADMSG for a malformed page directory, -EIO if Xen refused
 * a grant, or -ENOMEM.
 */
int hdx_map(u32 domid, u64 ref, unsigned int nr_pages, bool rw,
	    struct hyper_dmabuf_mapping *out)
{
	struct hdx_mapping *m;
	int ret;

	if (!nr_pages || (u64)nr_pages << PAGE_SHIFT > HYPER_DMABUF_MAX_BUF_SIZE)
		return -EBADMSG;
	m = kzalloc(sizeof(*m), GFP_KERNEL);
	if (!m)
		return -ENOMEM;
	m->domid = domid;
	m->rw = rw;
	m->nr = nr_pages;
	mutex_init(&m->vmap_lock);
	m->refs = kvcalloc(nr_pages, sizeof(*m->refs), GFP_KERNEL);
	m->pages = kvcalloc(nr_pages, sizeof(*m->pages), GFP_KERNEL);
	m->handles = kvcalloc(nr_pages, sizeof(*m->handles), GFP_KERNEL);
	if (!m->refs || !m->pages || !m->handles) {
		ret = -ENOMEM;
		goto err_free;
	}
	ret = hdx_read_dir(domid, ref, nr_pages, m->refs);
	if (ret)
		goto err_free;
	ret = gnttab_alloc_pages(nr_pages, m->pages);
	if (ret)
		goto err_free;
	ret = hdx_map_pages(domid, m->refs, nr_pages, rw, m->pages,
			    m->handles);
	if (ret)
		goto err_free_pages;

	hyper_dmabuf_backend_count_mapped_pages(nr_pages);
	out->handle = m;
	out->pages = m->pages;
	out->nr_pages = nr_pages;
	return 0;

err_free_pages:
	gnttab_free_pages(nr_pages, m->pages);
err_free:
	hdx_mapping_free(m);
	return ret;
}

/**
 * hdx_unmap() - undo hdx_map()
 * @domid: exporting domain
 * @handle: &hyper_dmabuf_mapping.handle
 */
void hdx_unmap(u32 domid, void *handle)
{
	struct hdx_mapping *m = handle;

	WARN_ON_ONCE(m->vaddr);
	hdx_unmap_pages(m->nr, m->rw, m->pages, m->handles);
	gnttab_free_pages(m->nr, m->pages);
	hyper_dmabuf_backend_count_mapped_pages(-(int)m->nr);
	hdx_mapping_free(m);
}

/* ---- importer: PV mappings through page-table entries --------------------- */

static int hdx_collect_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct hdx_pte_list *l = data;

	if (l->n == l->max)
		return -EINVAL;
	l->ptes[l->n++] = arbitrary_virt_to_machine(pte).maddr;
	return 0;
}

static void hdx_unmap_ptes(unsigned int n, const u64 *ptes,
			   grant_handle_t *handles)
{
	struct gnttab_unmap_grant_ref ops[HDX_UNMAP_BATCH];
	unsigned int i, j, k = 0;

	for (i = 0; i < n; i++) {
		if (handles[i] != INVALID_GRANT_HANDLE) {
			gnttab_set_unmap_op(&ops[k++], ptes[i],
					    GNTMAP_host_map | GNTMAP_contains_pte,
					    handles[i]);
			handles[i] = INVALID_GRANT_HANDLE;
		}
		if (k == HDX_UNMAP_BATCH || (k && i + 1 == n)) {
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

static int hdx_map_ptes(u32 domid, const grant_ref_t *refs, unsigned int n,
			u32 flags, const u64 *ptes, grant_handle_t *handles)
{
	struct gnttab_map_grant_ref *ops;
	unsigned int off, cnt, i;
	int ret = 0;

	for (i = 0; i < n; i++)
		handles[i] = INVALID_GRANT_HANDLE;
	ops = kcalloc(min_t(unsigned int, n, HDX_BATCH), sizeof(*ops),
		      GFP_KERNEL);
	if (!ops)
		return -ENOMEM;
	for (off = 0; off < n && !ret; off += cnt) {
		cnt = min_t(unsigned int, n - off, HDX_BATCH);
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
		hdx_unmap_ptes(n, ptes, handles);
	return ret;
}

static void hdx_vma_free(struct kref *kref)
{
	struct hdx_vma *v = container_of(kref, struct hdx_vma, kref);

	mmu_interval_notifier_remove(&v->notifier);
	/* munmap and exit invalidate the range first; this is a fallback. */
	if (v->mapped)
		hdx_unmap_ptes(v->n, v->ptes, v->handles);
	kvfree(v->ptes);
	kvfree(v->handles);
	kfree(v);
}

static bool hdx_vma_invalidate(struct mmu_interval_notifier *mn,
			       const struct mmu_notifier_range *range,
			       unsigned long cur_seq)
{
	struct hdx_vma *v = container_of(mn, struct hdx_vma, notifier);

	if (!mmu_notifier_range_blockable(range))
		return false;
	mutex_lock(&v->lock);
	mmu_interval_set_seq(mn, cur_seq);
	/*
	 * Xen must clear the grant PTEs before the kernel zaps or moves
	 * them.  The whole mapping goes: it cannot be split (may_split).
	 */
	if (v->mapped) {
		hdx_unmap_ptes(v->n, v->ptes, v->handles);
		v->mapped = false;
	}
	mutex_unlock(&v->lock);
	return true;
}

static const struct mmu_interval_notifier_ops hdx_vma_mn_ops = {
	.invalidate = hdx_vma_invalidate,
};

static void hdx_vma_open(struct vm_area_struct *vma)
{
	struct hdx_vma *v = vma->vm_private_data;

	kref_get(&v->kref);
}

static void hdx_vma_close(struct vm_area_struct *vma)
{
	struct hdx_vma *v = vma->vm_private_data;

	kref_put(&v->kref, hdx_vma_free);
}

static int hdx_vma_may_split(struct vm_area_struct *vma, unsigned long addr)
{
	return -EINVAL;
}

static int hdx_vma_mremap(struct vm_area_struct *vma)
{
	return -EINVAL;
}

static const struct vm_operations_struct hdx_vm_ops = {
	.open = hdx_vma_open,
	.close = hdx_vma_close,
	.may_split = hdx_vma_may_split,
	.mremap = hdx_vma_mremap,
};

/**
 * hdx_mmap() - map an imported buffer into a process
 * @handle: &hyper_dmabuf_mapping.handle
 * @vma: the new vma, of the import's dma-buf file
 *
 * In a PV domain the mapping must be shared (-EINVAL otherwise), cannot be
 * split or moved, and is not inherited by a child process.
 *
 * Return: 0 or a negative error code.
 */
int hdx_mmap(void *handle, struct vm_area_struct *vma)
{
	struct hdx_mapping *m = handle;
	unsigned long n = vma_pages(vma);
	u32 flags = GNTMAP_host_map | GNTMAP_application_map |
		    GNTMAP_contains_pte;
	struct hdx_pte_list list;
	struct hdx_vma *v;
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

	v = kzalloc(sizeof(*v), GFP_KERNEL);
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

	vma->vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP |
			 VM_DONTCOPY;
	if (flags & GNTMAP_readonly)
		vma->vm_flags &= ~VM_MAYWRITE;
	ret = mmu_interval_notifier_insert_locked(&v->notifier, vma->vm_mm,
						  vma->vm_start,
						  n << PAGE_SHIFT,
						  &hdx_vma_mn_ops);
	if (ret)
		goto err_free;
	list.ptes = v->ptes;
	list.n = 0;
	list.max = n;
	ret = apply_to_page_range(vma->vm_mm, vma->vm_start, n << PAGE_SHIFT,
				  hdx_collect_pte, &list);
	if (!ret && list.n != n)
		ret = -EINVAL;
	/*
	 * Nothing can invalidate the range before this returns: mmap_lock
	 * is held for writing and the PTEs are not reclaimable.
	 */
	if (!ret)
		ret = hdx_map_ptes(m->domid, m->refs + vma->vm_pgoff, n, flags,
				   v->ptes, v->handles);
	if (ret)
		goto err_remove;
	v->mapped = true;
	vma->vm_private_data = v;
	vma->vm_ops = &hdx_vm_ops;
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
static void *hdx_vmap_locked(struct hdx_mapping *m)
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
	if (hdx_map_ptes(m->domid, m->refs, m->nr, flags, m->vmap_ptes,
			 m->vmap_handles))
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
 * hdx_vmap() - map an imported buffer into the kernel
 * @handle: &hyper_dmabuf_mapping.handle
 * @map: receives the address
 *
 * Every local dma-buf of an import shares one kernel mapping, counted.  In
 * a PV domain the area is first mapped to the zero page, then Xen replaces
 * each entry with the grant mapping.
 *
 * Return: 0 or -ENOMEM.
 */
int hdx_vmap(void *handle, struct iosys_map *map)
{
	struct hdx_mapping *m = handle;
	int ret = 0;

	mutex_lock(&m->vmap_lock);
	if (!m->vmap_count)
		m->vaddr = hdx_vmap_locked(m);
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
 * hdx_vunmap() - undo hdx_vmap()
 * @handle: &hyper_dmabuf_mapping.handle
 * @map: the mapping
 */
void hdx_vunmap(void *handle, struct iosys_map *map)
{
	struct hdx_mapping *m = handle;

	mutex_lock(&m->vmap_lock);
	if (WARN_ON_ONCE(!m->vmap_count) || --m->vmap_count)
		goto out_unlock;
	if (xen_pv_domain()) {
		/* Xen clears the entries; vunmap() then finds them empty. */
		hdx_unmap_ptes(m->nr, m->vmap_ptes, m->vmap_handles);
		kvfree(m->vmap_ptes);
		kvfree(m->vmap_handles);
	}
	vunmap(m->vaddr);
	m->vaddr = NULL;
out_unlock:
	mutex_unlock(&m->vmap_lock);
}
