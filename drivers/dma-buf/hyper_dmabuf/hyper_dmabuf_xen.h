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
#define HDX_BATCH	256

/*
 * The ring page, its messages and the page directory are laid out as
 * <xen/interface/io/hyper_dmabuf.h> describes.
 */

/* hyper_dmabuf_xen_shm.c */
int hdx_shm_init(void);
void hdx_shm_exit(void);
#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
void hdx_shm_debugfs(struct dentry *dir);
#else
static inline void hdx_shm_debugfs(struct dentry *dir)
{
}
#endif
int hdx_share(u32 domid, struct dma_buf *dmabuf, bool rw,
	      struct hyper_dmabuf_share *out);
void hdx_unshare(u32 domid, void *handle);
int hdx_map(u32 domid, u64 ref, unsigned int nr_pages, bool rw,
	    struct hyper_dmabuf_mapping *out);
void hdx_unmap(u32 domid, void *handle);
int hdx_mmap(void *handle, struct vm_area_struct *vma);
int hdx_vmap(void *handle, struct iosys_map *map);
void hdx_vunmap(void *handle, struct iosys_map *map);

int hdx_map_pages(u32 domid, const grant_ref_t *refs, unsigned int n,
		  bool rw, struct page **pages, grant_handle_t *handles);
void hdx_unmap_pages(unsigned int n, bool rw, struct page **pages,
		     grant_handle_t *handles);

/* hyper_dmabuf_xen_debug.c: forged page directories of the test hook */
#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
int hdx_forge_dir(u32 domid, const void *data, size_t len);
int hdx_forge_fill(u32 ref, const void *data, size_t len);
u32 hdx_forge_last(void);
void hdx_forge_free(void);
#else
static inline void hdx_forge_free(void)
{
}
#endif

/* hyper_dmabuf_xen_chan.c */
int hdx_chan_init(void);
int hdx_chan_start(void);
void hdx_chan_exit(void);
u32 hdx_get_domid(void);
int hdx_init_channel(u32 domid);
void hdx_fini_channel(u32 domid);
int hdx_wait_channel(u32 domid);
int hdx_send(u32 domid, const void *msg, size_t len);

#endif /* _HYPER_DMABUF_XEN_H */
