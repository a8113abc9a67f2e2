/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of hyper_dmabuf_tool and hyper_dmabuf_demo, which the selftests
 * in tools/testing/selftests/hyper_dmabuf share: vgem buffers, CPU access
 * syncs, FNV-1a 64, writes that survive EINTR.  libc and the kernel's uapi
 * headers only.
 *
 * Include it before <sys/mman.h>: it includes linux/memfd.h, whose MFD_*
 * glibc's sys/mman.h then leaves alone.
 */
#ifndef HYPER_DMABUF_UTILS_H
#define HYPER_DMABUF_UTILS_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <drm/drm.h>
#include <drm/drm_mode.h>
#include <linux/dma-buf.h>
#include <linux/hyper_dmabuf.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define UDMABUF_PATH	"/dev/udmabuf"
#define PAGE		4096UL

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

#endif /* HYPER_DMABUF_UTILS_H */
