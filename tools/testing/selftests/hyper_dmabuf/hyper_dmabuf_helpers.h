/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the hyper_dmabuf selftests: real dma-bufs from the
 * system dma-heap and from udmabuf, sw_sync fences, capabilities, debugfs
 * counters, byte patterns.  Those the tool and the demo use as well (vgem
 * buffers, CPU access syncs, FNV-1a 64, writes that survive EINTR) are in
 * tools/hyper_dmabuf/hyper_dmabuf_utils.h, included here.
 *
 * Include it before <sys/mman.h>: it includes linux/memfd.h, whose MFD_*
 * glibc's sys/mman.h then leaves alone.
 */
#ifndef HYPER_DMABUF_HELPERS_H
#define HYPER_DMABUF_HELPERS_H

/* tools/hyper_dmabuf (the Makefile adds it to the include path) */
#include "hyper_dmabuf_utils.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/hyper_dmabuf.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>

#define HEAP_PATH	"/dev/dma_heap/system"
#define SW_SYNC_PATH	"/sys/kernel/debug/sync/sw_sync"
#define DEBUGFS_DIR	"/sys/kernel/debug/hyper_dmabuf/"
#define SELF		HYPER_DMABUF_DOMID_SELF
#define BUF_SIZE	(4 * PAGE)

/* From drivers/dma-buf/sw_sync.c, as in tools/testing/selftests/sync. */
struct sw_sync_create_fence_data {
	__u32 value;
	char name[32];
	__s32 fence;
};

#define SW_SYNC_IOC_MAGIC		'W'
#define SW_SYNC_IOC_CREATE_FENCE	_IOWR(SW_SYNC_IOC_MAGIC, 0, \
					      struct sw_sync_create_fence_data)
#define SW_SYNC_IOC_INC			_IOW(SW_SYNC_IOC_MAGIC, 1, __u32)

/*
 * Give @buf a pending write fence from a new sw_sync timeline; closing the
 * returned timeline fd signals it.  Returns the fd or -errno.
 */
static inline int swsync_pending(int buf)
{
	struct dma_buf_import_sync_file imp = { .flags = DMA_BUF_SYNC_WRITE };
	struct sw_sync_create_fence_data data = { .value = 1 };
	int tl, err;

	tl = open(SW_SYNC_PATH, O_RDWR | O_CLOEXEC);
	if (tl < 0)
		return -errno;
	if (ioctl(tl, SW_SYNC_IOC_CREATE_FENCE, &data))
		goto err;
	imp.fd = data.fence;
	if (ioctl(buf, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, &imp)) {
		close(data.fence);
		goto err;
	}
	close(data.fence);
	return tl;
err:
	err = -errno;
	close(tl);
	return err;
}

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

/* Whether CAP_SYS_ADMIN is in the effective set. */
static inline bool cap_sys_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[0].effective & (1U << CAP_SYS_ADMIN);
}

/* Drop CAP_SYS_ADMIN from, or put it back into, the effective set. */
static inline int set_cap_sys_admin(bool on)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	if (on)
		data[0].effective |= 1U << CAP_SYS_ADMIN;
	else
		data[0].effective &= ~(1U << CAP_SYS_ADMIN);
	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

/* The number a file of sysfs or debugfs starts with, or -1. */
static inline int read_int(const char *path)
{
	FILE *f = fopen(path, "r");
	int n;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

/* A debugfs counter of the driver, or -1 if it cannot be read. */
static inline int hd_counter(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), DEBUGFS_DIR "%s", name);
	return read_int(path);
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
