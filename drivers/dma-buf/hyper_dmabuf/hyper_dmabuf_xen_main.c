// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: Xen backend
 *
 * Shares dma-bufs with other Xen domains through grant tables, and carries
 * the core's messages over rings set up through xenstore.
 */
#include <linux/module.h>
#include <xen/xen.h>

#include "hyper_dmabuf_xen.h"

static const struct hyper_dmabuf_backend_ops hyper_dmabuf_xen_ops = {
	.owner = THIS_MODULE,
	.get_domid = hyper_dmabuf_xen_get_domid,
	.init_channel = hyper_dmabuf_xen_init_channel,
	.fini_channel = hyper_dmabuf_xen_fini_channel,
	.wait_channel = hyper_dmabuf_xen_wait_channel,
	.share = hyper_dmabuf_xen_share,
	.unshare = hyper_dmabuf_xen_unshare,
	.map = hyper_dmabuf_xen_map,
	.unmap = hyper_dmabuf_xen_unmap,
	.send = hyper_dmabuf_xen_send,
	.mmap = hyper_dmabuf_xen_mmap,
	.vmap = hyper_dmabuf_xen_vmap,
	.vunmap = hyper_dmabuf_xen_vunmap,
};

static int __init hyper_dmabuf_xen_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct hyper_dmabuf_ring) > PAGE_SIZE);
	BUILD_BUG_ON(PAGE_SIZE != XEN_PAGE_SIZE);
	if (!xen_domain())
		return -ENODEV;
	ret = hyper_dmabuf_xen_shm_init();
	if (ret)
		return ret;
	ret = hyper_dmabuf_xen_chan_init();
	if (ret)
		goto err_shm;
	ret = hyper_dmabuf_register_backend(&hyper_dmabuf_xen_ops);
	if (ret)
		goto err_chan;
	ret = hyper_dmabuf_xen_chan_start();
	if (ret)
		goto err_unregister;
	return 0;

err_unregister:
	hyper_dmabuf_unregister_backend(&hyper_dmabuf_xen_ops);
err_chan:
	hyper_dmabuf_xen_chan_exit();
err_shm:
	hyper_dmabuf_xen_shm_exit();
	return ret;
}
module_init(hyper_dmabuf_xen_init);

static void __exit hyper_dmabuf_xen_exit(void)
{
	/* The core's send works end before the channels go. */
	hyper_dmabuf_unregister_backend(&hyper_dmabuf_xen_ops);
	hyper_dmabuf_xen_chan_exit();
	hyper_dmabuf_xen_shm_exit();
}
module_exit(hyper_dmabuf_xen_exit);

MODULE_DESCRIPTION("hyper_dmabuf Xen backend: share dma-bufs between Xen domains");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
