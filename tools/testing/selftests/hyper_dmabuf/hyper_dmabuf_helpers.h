/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the hyper_dmabuf selftests: real dma-bufs from the
 * system dma-heap and from udmabuf.
 */
#ifndef HYPER_DMABUF_HELPERS_H
#define HYPER_DMABUF_HELPERS_H

#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/dma-heap.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>

#define HEAP_PATH	"/dev/dma_heap/system"
#define UDMABUF_PATH	"/dev/udmabuf"

static inline int heap_alloc(size_t size)
{
	struct dma_heap_allocation_data data = {
		.len = size,
		.fd_flags = O_RDWR | O_CLOEXEC,
	};
	int heap, ret;

	heap = open(HEAP_PATH, O_RDONLY | O_CLOEXEC);
	if (heap < 0)
		return -1;
	ret = ioctl(heap, DMA_HEAP_IOCTL_ALLOC, &data);
	close(heap);
	return ret < 0 ? -1 : (int)data.fd;
}

static inline int udmabuf_alloc(size_t size)
{
	struct udmabuf_create create = { .size = size };
	int dev, memfd, buf = -1;

	dev = open(UDMABUF_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -1;
	memfd = syscall(__NR_memfd_create, "hyper_dmabuf-selftest",
			MFD_ALLOW_SEALING);
	if (memfd < 0)
		goto out_close_dev;
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0 ||
	    ftruncate(memfd, size) < 0)
		goto out_close_memfd;
	create.memfd = memfd;
	buf = ioctl(dev, UDMABUF_CREATE, &create);
out_close_memfd:
	close(memfd);
out_close_dev:
	close(dev);
	return buf;
}

/* Any dma-buf: the system heap if present, else udmabuf. */
static inline int buf_alloc(size_t size)
{
	int fd = heap_alloc(size);

	return fd >= 0 ? fd : udmabuf_alloc(size);
}

#endif /* HYPER_DMABUF_HELPERS_H */
