/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the hyper_dmabuf selftests: real dma-bufs from the
 * system dma-heap and from udmabuf.
 */
#ifndef HYPER_DMABUF_HELPERS_H
#define HYPER_DMABUF_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/dma-heap.h>
#include <linux/hyper_dmabuf.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>

#define HEAP_PATH	"/dev/dma_heap/system"
#define UDMABUF_PATH	"/dev/udmabuf"
#define DEBUGFS_DIR	"/sys/kernel/debug/hyper_dmabuf/"
#define SELF		HYPER_DMABUF_DOMID_SELF
#define PAGE		4096UL
#define BUF_SIZE	(4 * PAGE)

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

static inline int hd_unexport(int dev, const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_unexport arg = { .hid = *hid };

	return ioctl(dev, HYPER_DMABUF_IOCTL_UNEXPORT, &arg) ? -errno : 0;
}

/* A debugfs counter of the driver, or -1 if it cannot be read. */
static inline int hd_counter(const char *name)
{
	char path[128];
	FILE *f;
	int n;

	snprintf(path, sizeof(path), DEBUGFS_DIR "%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

/* A byte pattern that differs between offsets and between seeds. */
static inline void fill(void *p, size_t size, unsigned char seed)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < size; i++)
		c[i] = (unsigned char)(i * 31 + seed);
}

/* Offset of the first byte that is not the pattern, or @size. */
static inline size_t first_mismatch(const void *p, size_t size,
				    unsigned char seed)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < size; i++)
		if (c[i] != (unsigned char)(i * 31 + seed))
			return i;
	return size;
}

#endif /* HYPER_DMABUF_HELPERS_H */
