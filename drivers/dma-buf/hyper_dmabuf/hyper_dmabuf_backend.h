/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hyper_dmabuf: interface between the core and a hypervisor backend
 */
#ifndef _HYPER_DMABUF_BACKEND_H
#define _HYPER_DMABUF_BACKEND_H

#include <linux/bits.h>
#include <linux/types.h>

/* Largest buffer a message can announce: 1 GiB. */
#define HYPER_DMABUF_MAX_BUF_SIZE	BIT_ULL(30)

struct dentry;
struct dma_buf;
struct iosys_map;
struct module;
struct page;
struct vm_area_struct;

/**
 * DOC: Backend operations
 *
 * The core never talks to a hypervisor itself.  A backend module fills a
 * &struct hyper_dmabuf_backend_ops and registers it with
 * hyper_dmabuf_register_backend(); one backend at most is registered at a
 * time.  Without a backend a process may export only to its own domain
 * (loopback), which the selftests use.  The operations fall into three
 * groups:
 *
 * - the local domain id (&hyper_dmabuf_backend_ops.get_domid) and a
 *   message channel to each peer domain (``init_channel``,
 *   ``fini_channel``, ``wait_channel``, ``send``): the core encodes and
 *   decodes the messages, the backend only carries them, in order, and
 *   hands each message it receives to hyper_dmabuf_backend_rx();
 * - sharing the pages of a local dma-buf with a peer (``share``,
 *   ``unshare``) and mapping the pages a peer shared (``map``, ``unmap``),
 *   with ``mmap``, ``vmap`` and ``vunmap`` where foreign pages cannot be
 *   used as ordinary pages (Xen PV);
 * - what the backend tells the core: messages received
 *   (hyper_dmabuf_backend_rx()) and the loss of a peer
 *   (hyper_dmabuf_backend_peer_gone(), see `Peer death`_);
 * - where the backend puts counters of its own: the core's debugfs
 *   directory (hyper_dmabuf_backend_debugfs()), as the Xen backend does
 *   with its grants in use and its mapped pages.
 *
 * The core holds a reference on the backend's module for each remote
 * export and each buffer announced by another domain, so a backend
 * unregisters (hyper_dmabuf_unregister_backend()) from its module exit,
 * when none are left.  Which callbacks are called with the core's mutex
 * held, and which may wait for another domain, is described with
 * &struct hyper_dmabuf_backend_ops below and in `Locking`_.
 *
 * The Xen backend (``CONFIG_HYPER_DMABUF_XEN``, module
 * ``hyper_dmabuf_xen``) grants the pages through Xen grant tables and
 * carries the messages over two one-page rings per pair of domains, set
 * up through xenstore: see `Xen protocol`_.
 */

/**
 * DOC: Grants
 *
 * The memory of a buffer never depends on a message.  The exporter's
 * backend ends a grant only once the peer has unmapped it (a grant still
 * mapped is retried until it is not), and holds the dma-buf until then;
 * the grant counts against the domain's grant budget until it has ended.
 * This is why &hyper_dmabuf_backend_ops.unshare cannot fail.  So the
 * exporter may forget a buffer early (a lost ``IMPORTED``, a reset
 * channel) without the importer losing its pages, and an importer that
 * never unmaps costs the exporter its grants, not its ids.
 */

/**
 * struct hyper_dmabuf_share - result of sharing a buffer with a domain
 * @handle: opaque backend handle, given back to
 *	&hyper_dmabuf_backend_ops.unshare
 * @ref: reference the peer needs to map the pages (for Xen: the grant
 *	reference of the page directory), sent in the export announce message
 */
struct hyper_dmabuf_share {
	void *handle;
	u64 ref;
};

/**
 * struct hyper_dmabuf_mapping - a peer's buffer mapped into this domain
 * @handle: opaque backend handle, given back to
 *	&hyper_dmabuf_backend_ops.unmap
 * @pages: array of @nr_pages pages backing the mapping, owned by the
 *	backend until unmap; the core wraps them in a local dma-buf
 * @nr_pages: number of pages
 * @max_segment: largest scatterlist segment, in bytes, that the local
 *	dma-buf may give its importers (0: no limit); a backend whose pages
 *	are not contiguous in bus addresses sets %PAGE_SIZE
 */
struct hyper_dmabuf_mapping {
	void *handle;
	struct page **pages;
	unsigned int nr_pages;
	unsigned int max_segment;
};

/**
 * struct hyper_dmabuf_backend_ops - hypervisor services used by the core
 *
 * @owner: module implementing the backend; the core holds a reference
 *	while any buffer shared with or mapped from another domain exists
 * @get_domid: return the local domain id
 * @init_channel: set up (or take a reference on) the message channel to
 *	@domid; called before anything is shared with or sent to @domid
 * @fini_channel: drop the reference taken by @init_channel
 * @wait_channel: optional; bring the channel to @domid up and wait,
 *	bounded, until the peer answers.  Called without the core's mutex
 *	before an export, so that a slow or absent peer does not stall
 *	other users of the core; returns the errors @init_channel would
 * @share: grant @domid access to the pages of @dmabuf (read-only unless
 *	@rw), fill @out
 * @unshare: revoke the sharing described by @handle; may not fail (the
 *	backend defers the revocation itself while the peer still maps it)
 * @map: map the @nr_pages pages referenced by @ref that @domid shared,
 *	fill @out
 * @unmap: undo @map
 * @send: send the @len byte message @msg to @domid; messages are encoded
 *	and decoded by the core, the backend only transports them.  Called
 *	without the core's mutex, from one work item per peer, so it may
 *	wait, bounded, for room; -ETIMEDOUT (or -EAGAIN, -ENOMEM) makes the
 *	core try again later, any other error drops the message.  It may
 *	be running until hyper_dmabuf_unregister_backend() returns, so the
 *	transport must outlive that call
 * @mmap: optional; map a mapping made by @map into @vma.  Needed where
 *	foreign pages cannot be placed in page tables as ordinary pages
 *	(Xen PV); without it the core inserts &hyper_dmabuf_mapping.pages
 * @vmap: optional; map a mapping made by @map into the kernel, for the
 *	same reason as @mmap; it may be called more than once for a mapping,
 *	and each call is undone by one @vunmap
 * @vunmap: undo @vmap
 *
 * The core never talks to a hypervisor except through this table.  All
 * callbacks are called in process context and may sleep.  The core calls
 * all of them but @send, @mmap, @vmap and @vunmap with its own mutex held,
 * so they must not wait for another domain (@wait_channel, called without
 * it, is the place for that); @mmap, @vmap and @vunmap come from the
 * dma-buf ops of an import (under the buffer's reservation lock or
 * mmap_lock) while the import, and so its mapping, exists.  A callback
 * must not call back into the core except hyper_dmabuf_backend_rx() from
 * another context.
 */
struct hyper_dmabuf_backend_ops {
	struct module *owner;
	u32 (*get_domid)(void);
	int (*init_channel)(u32 domid);
	void (*fini_channel)(u32 domid);
	int (*wait_channel)(u32 domid);
	int (*share)(u32 domid, struct dma_buf *dmabuf, bool rw,
		     struct hyper_dmabuf_share *out);
	void (*unshare)(u32 domid, void *handle);
	int (*map)(u32 domid, u64 ref, unsigned int nr_pages, bool rw,
		   struct hyper_dmabuf_mapping *out);
	void (*unmap)(u32 domid, void *handle);
	int (*send)(u32 domid, const void *msg, size_t len);
	int (*mmap)(void *handle, struct vm_area_struct *vma);
	int (*vmap)(void *handle, struct iosys_map *map);
	void (*vunmap)(void *handle, struct iosys_map *map);
};

int hyper_dmabuf_register_backend(const struct hyper_dmabuf_backend_ops *ops);
void hyper_dmabuf_unregister_backend(const struct hyper_dmabuf_backend_ops *ops);
void hyper_dmabuf_backend_rx(u32 sender_domid, const void *msg, size_t len);
void hyper_dmabuf_backend_peer_gone(u32 domid);
struct dentry *hyper_dmabuf_backend_debugfs(void);

#endif /* _HYPER_DMABUF_BACKEND_H */
