/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the hyper_dmabuf selftests, the tool and the demo:
 * real dma-bufs from the system dma-heap, from udmabuf and from vgem; CPU
 * access syncs, FNV-1a 64, writes that survive EINTR.
 *
 * Include it before <sys/mman.h>: it includes linux/memfd.h, whose MFD_*
 * glibc's sys/mman.h then leaves alone.
 */
#ifndef HYPER_DMABUF_HELPERS_H
#define HYPER_DMABUF_HELPERS_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <linux/capability.h>
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/hyper_dmabuf.h>
#include <linux/memfd.h>
#include <linux/udmabuf.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define HEAP_PATH	"/dev/dma_heap/system"
#define UDMABUF_PATH	"/dev/udmabuf"
#define SW_SYNC_PATH	"/sys/kernel/debug/sync/sw_sync"
#define DEBUGFS_DIR	"/sys/kernel/debug/hyper_dmabuf/"
#define SELF		HYPER_DMABUF_DOMID_SELF
#define PAGE		4096UL
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

/* A file descriptor of the vgem DRM device, or -1. */
static inline int vgem_open(void)
{
	char name[16], path[64];
	int i, fd;

	for (i = 0; i < 16; i++) {
		struct drm_version v = {
			.name = name,
			.name_len = sizeof(name) - 1,
		};

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(name, 0, sizeof(name));
		if (!ioctl(fd, DRM_IOCTL_VERSION, &v) && !strcmp(name, "vgem"))
			return fd;
		close(fd);
	}
	return -1;
}

/*
 * A vgem dumb buffer of @size bytes (a multiple of PAGE) as a read-write
 * dma-buf fd, or -1.  The dma-buf keeps the buffer alive after the GEM
 * handle (*@handle) or the vgem file are closed.
 */
static inline int vgem_alloc(int vgem, size_t size, __u32 *handle)
{
	struct drm_mode_create_dumb create = {
		.width = PAGE / 4,
		.height = size / PAGE,
		.bpp = 32,
	};
	struct drm_prime_handle prime = { .flags = DRM_CLOEXEC | DRM_RDWR };

	if (ioctl(vgem, DRM_IOCTL_MODE_CREATE_DUMB, &create))
		return -1;
	prime.handle = create.handle;
	if (ioctl(vgem, DRM_IOCTL_PRIME_HANDLE_TO_FD, &prime))
		return -1;
	*handle = create.handle;
	return prime.fd;
}

/*
 * In a Xen PV domU of Linux 6.1, a CPU write through an mmap of a vgem
 * buffer never completed (the fault was retried forever), before
 * hyper_dmabuf was involved at all.  Whether it still does is probed once,
 * in a child that is killed if its write has not completed within 5 s:
 * tests touch vgem buffers with the CPU only where this works.
 */
static inline bool vgem_cpu_access_hangs(void)
{
	static int hangs = -1;
	char type[16] = "", caps[64] = "";
	int status, i;
	pid_t pid;
	FILE *f;

	if (hangs >= 0)
		return hangs;
	f = fopen("/sys/hypervisor/guest_type", "r");
	if (f) {
		if (!fgets(type, sizeof(type), f))
			type[0] = 0;
		fclose(f);
	}
	f = fopen("/proc/xen/capabilities", "r");
	if (f) {
		if (!fgets(caps, sizeof(caps), f))
			caps[0] = 0;
		fclose(f);
	}
	/* "PV\n", not "PVH\n": only PV domUs ever showed it. */
	hangs = 0;
	if (strcmp(type, "PV\n") || strstr(caps, "control_d"))
		return hangs;
	pid = fork();
	if (pid == 0) {
		int vgem = vgem_open(), fd;
		__u32 handle;
		char *p;

		fd = vgem >= 0 ? vgem_alloc(vgem, PAGE, &handle) : -1;
		if (fd < 0)
			_exit(2);
		p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			_exit(2);
		p[0] = 1;
		_exit(p[0] == 1 ? 0 : 3);
	}
	if (pid < 0)
		return hangs;
	for (i = 0; i < 50; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return hangs;
		usleep(100000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	hangs = 1;
	fprintf(stderr, "# vgem: a CPU write through an mmap did not complete in 5 s\n");
	return hangs;
}

static inline int hd_unexport(int dev, const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_unexport arg = { .hid = *hid };

	return ioctl(dev, HYPER_DMABUF_IOCTL_UNEXPORT, &arg) ? -errno : 0;
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

/* FNV-1a 64 of @len bytes at @p. */
static inline __u64 fnv1a64(const void *p, size_t len)
{
	const unsigned char *c = p;
	__u64 h = 0xcbf29ce484222325ULL;	/* offset basis */

	while (len--) {
		h ^= *c++;
		h *= 0x100000001b3ULL;		/* FNV prime */
	}
	return h;
}

/* DMA_BUF_IOCTL_SYNC with @flags, retried on EINTR and EAGAIN. */
static inline int dmabuf_sync(int fd, __u64 flags)
{
	struct dma_buf_sync sync = { .flags = flags };
	int ret;

	do {
		ret = ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync);
	} while (ret && (errno == EINTR || errno == EAGAIN));
	return ret;
}

/* Writes all @len bytes at @buf to @fd: 0, or -1 with errno. */
static inline int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
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
