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

static const struct hyper_dmabuf_backend_ops hdx_ops = {
	.owner = THIS_MODULE,
	.get_domid = hdx_get_domid,
	.init_channel = hdx_init_channel,
	.fini_channel = hdx_fini_channel,
	.wait_channel = hdx_wait_channel,
	.share = hdx_share,
	.unshare = hdx_unshare,
	.map = hdx_map,
	.unmap = hdx_unmap,
	.send = hdx_send,
	.mmap = hdx_mmap,
	.vmap = hdx_vmap,
	.vunmap = hdx_vunmap,
};

static int __init hdx_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct hyper_dmabuf_ring) > PAGE_SIZE);
	BUILD_BUG_ON(PAGE_SIZE != XEN_PAGE_SIZE);
	if (!xen_domain())
		return -ENODEV;
	ret = hdx_shm_init();
	if (ret)
		return ret;
	ret = hdx_chan_init();
	if (ret)
		goto err_shm;
	ret = hyper_dmabuf_register_backend(&hdx_ops);
	if (ret)
		goto err_chan;
	ret = hdx_chan_start();
	if (ret)
		goto err_unregister;
	return 0;

err_unregister:
	hyper_dmabuf_unregister_backend(&hdx_ops);
err_chan:
	hdx_chan_exit();
err_shm:
	hdx_shm_exit();
	return ret;
}
module_init(hdx_init);

static void __exit hdx_exit(void)
{
	/* The core's send works end before the channels go. */
	hyper_dmabuf_unregister_backend(&hdx_ops);
	hdx_chan_exit();
	hdx_shm_exit();
}
module_exit(hdx_exit);

MODULE_DESCRIPTION("hyper_dmabuf Xen backend: share dma-bufs between Xen domains");
MODULE_LICENSE("GPL");
MODULE_IMPORT_NS("DMA_BUF");
