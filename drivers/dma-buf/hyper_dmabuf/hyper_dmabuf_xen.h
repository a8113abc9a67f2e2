/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hyper_dmabuf: internal interfaces of the Xen backend
 */
#ifndef _HYPER_DMABUF_XEN_H
#define _HYPER_DMABUF_XEN_H

#include <linux/types.h>
#include <xen/grant_table.h>
#include <xen/interface/io/hyper_dmabuf.h>

#include "hyper_dmabuf_backend.h"

struct dentry;
struct dma_buf;
struct iosys_map;
struct vm_area_struct;

/* Grant operations are issued in batches of this many. */
#define HYPER_DMABUF_XEN_BATCH	256

/*
 * The ring page, its messages and the page directory are laid out as
 * <xen/interface/io/hyper_dmabuf.h> describes.
 */

/* hyper_dmabuf_xen_shm.c */
int hyper_dmabuf_xen_shm_init(void);
void hyper_dmabuf_xen_shm_exit(void);
#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
void hyper_dmabuf_xen_shm_debugfs(struct dentry *dir);
#else
static inline void hyper_dmabuf_xen_shm_debugfs(struct dentry *dir)
{
}
#endif
int hyper_dmabuf_xen_share(u32 domid, struct dma_buf *dmabuf, bool rw,
			   struct hyper_dmabuf_share *out);
void hyper_dmabuf_xen_unshare(u32 domid, void *handle);
int hyper_dmabuf_xen_map(u32 domid, u64 ref, unsigned int nr_pages, bool rw,
			 struct hyper_dmabuf_mapping *out);
void hyper_dmabuf_xen_unmap(u32 domid, void *handle);
int hyper_dmabuf_xen_mmap(void *handle, struct vm_area_struct *vma);
int hyper_dmabuf_xen_vmap(void *handle, struct iosys_map *map);
void hyper_dmabuf_xen_vunmap(void *handle, struct iosys_map *map);

int hyper_dmabuf_xen_map_pages(u32 domid, const grant_ref_t *refs,
			       unsigned int n, bool rw, struct page **pages,
			       grant_handle_t *handles);
void hyper_dmabuf_xen_unmap_pages(unsigned int n, bool rw, struct page **pages,
				  grant_handle_t *handles);

/* hyper_dmabuf_xen_debug.c: forged page directories of the test hook */
#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
int hyper_dmabuf_xen_forge_dir(u32 domid, const void *data, size_t len);
int hyper_dmabuf_xen_forge_fill(u32 ref, const void *data, size_t len);
u32 hyper_dmabuf_xen_forge_last(void);
void hyper_dmabuf_xen_forge_free(void);
#else
static inline void hyper_dmabuf_xen_forge_free(void)
{
}
#endif

/* hyper_dmabuf_xen_chan.c */
int hyper_dmabuf_xen_chan_init(void);
int hyper_dmabuf_xen_chan_start(void);
void hyper_dmabuf_xen_chan_exit(void);
u32 hyper_dmabuf_xen_get_domid(void);
int hyper_dmabuf_xen_init_channel(u32 domid);
void hyper_dmabuf_xen_fini_channel(u32 domid);
int hyper_dmabuf_xen_wait_channel(u32 domid);
int hyper_dmabuf_xen_send(u32 domid, const void *msg, size_t len);

#endif /* _HYPER_DMABUF_XEN_H */
