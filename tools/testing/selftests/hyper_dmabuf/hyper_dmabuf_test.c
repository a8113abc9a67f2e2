// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of /dev/hyper_dmabuf in a single domain (loopback exports).
 *
 * Buffers come from the system dma-heap, or from udmabuf when there is no
 * heap.  The tests assume no other user holds hyper_dmabuf ids while they
 * run, except where they read the debugfs counter to find the baseline.
 */
#define _GNU_SOURCE
/* Before <sys/mman.h>, which defines the MFD_* flags only if unset. */
#include <linux/memfd.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/dma-heap.h>
#include <linux/hyper_dmabuf.h>
#include <linux/udmabuf.h>

#include "../kselftest_harness.h"
#include "hyper_dmabuf_helpers.h"

#define DEV_PATH	"/dev/hyper_dmabuf"

/* Live ids of this domain from debugfs, or 0 if debugfs is unavailable. */
static int live_ids(void)
{
	int n = hd_counter("exported_ids");

	return n < 0 ? 0 : n;
}

static int hd_export(int dev, int buf, __u32 domid, __u32 flags,
		     const void *priv, __u32 priv_size,
		     struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_export arg = {
		.fd = buf,
		.remote_domid = domid,
		.flags = flags,
		.priv_size = priv_size,
		.priv_ptr = (uintptr_t)priv,
	};

	if (ioctl(dev, HYPER_DMABUF_IOCTL_EXPORT, &arg))
		return -errno;
	if (hid)
		*hid = arg.hid;
	return 0;
}

static int hd_import(int dev, const struct hyper_dmabuf_id *hid, __u32 flags)
{
	struct hyper_dmabuf_import arg = { .hid = *hid, .fd_flags = flags };

	if (ioctl(dev, HYPER_DMABUF_IOCTL_IMPORT, &arg))
		return -errno;
	return arg.fd;
}

static int hd_query(int dev, const struct hyper_dmabuf_id *hid,
		    struct hyper_dmabuf_query *q, void *priv, __u32 priv_len)
{
	memset(q, 0, sizeof(*q));
	q->hid = *hid;
	q->priv_ptr = (uintptr_t)priv;
	q->priv_buf_size = priv_len;
	return ioctl(dev, HYPER_DMABUF_IOCTL_QUERY, q) ? -errno : 0;
}

static int hd_unexport_flags(int dev, const struct hyper_dmabuf_id *hid,
			     __u32 delay_ms, __u32 flags)
{
	struct hyper_dmabuf_unexport arg = {
		.hid = *hid,
		.delay_ms = delay_ms,
		.flags = flags,
	};

	return ioctl(dev, HYPER_DMABUF_IOCTL_UNEXPORT, &arg) ? -errno : 0;
}

/* LIST: *count is the capacity of @hids in, the entries written out. */
static int hd_list(int dev, __u32 type, struct hyper_dmabuf_id *hids,
		   __u32 *count, __u32 *total)
{
	struct hyper_dmabuf_list arg = {
		.hids_ptr = (uintptr_t)hids,
		.type = type,
		.count = *count,
	};

	if (ioctl(dev, HYPER_DMABUF_IOCTL_LIST, &arg))
		return -errno;
	*count = arg.count;
	*total = arg.total;
	return 0;
}

static bool hid_eq(const struct hyper_dmabuf_id *a,
		   const struct hyper_dmabuf_id *b)
{
	return a->id == b->id && a->exporter_domid == b->exporter_domid &&
	       !memcmp(a->key, b->key, sizeof(a->key));
}

/* How often @hid is among the @n ids at @hids. */
static int hid_count(const struct hyper_dmabuf_id *hids, __u32 n,
		     const struct hyper_dmabuf_id *hid)
{
	int found = 0;
	__u32 i;

	for (i = 0; i < n; i++)
		found += hid_eq(&hids[i], hid);
	return found;
}

/* How often @hid is listed as a buffer of @type, or -errno. */
static int listed(int dev, __u32 type, const struct hyper_dmabuf_id *hid)
{
	static struct hyper_dmabuf_id hids[HYPER_DMABUF_MAX_IDS];
	__u32 count = HYPER_DMABUF_MAX_IDS, total;
	int ret = hd_list(dev, type, hids, &count, &total);

	return ret ? ret : hid_count(hids, count, hid);
}

static void drain_events(int dev)
{
	struct hyper_dmabuf_event ev[8];
	int fl = fcntl(dev, F_GETFL);

	fcntl(dev, F_SETFL, fl | O_NONBLOCK);
	while (read(dev, ev, sizeof(ev)) > 0)
		;
	fcntl(dev, F_SETFL, fl);
}

FIXTURE(hd) {
	int dev;
	int buf;
};

FIXTURE_SETUP(hd)
{
	self->buf = -1;
	self->dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (self->dev < 0)
		SKIP(return, "%s not available: %s", DEV_PATH, strerror(errno));
	self->buf = buf_alloc(BUF_SIZE);
	if (self->buf < 0)
		SKIP(return, "no dma-buf source (system heap or udmabuf)");
}

FIXTURE_TEARDOWN(hd)
{
	if (self->buf >= 0)
		close(self->buf);
	if (self->dev >= 0)
		close(self->dev);
}

TEST_F(hd, unknown_ioctl)
{
	char arg[256] = { 0 };

	EXPECT_EQ(-1, ioctl(self->dev, _IOWR(HYPER_DMABUF_IOC_MAGIC, 0x3f,
					     struct hyper_dmabuf_query), arg));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->dev, _IOWR('x', 0,
					     struct hyper_dmabuf_query), arg));
	EXPECT_EQ(ENOTTY, errno);
	/* Right number, wrong direction. */
	EXPECT_EQ(-1, ioctl(self->dev, _IOR(HYPER_DMABUF_IOC_MAGIC, 0x2,
					    struct hyper_dmabuf_unexport), arg));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->dev, _IOW(HYPER_DMABUF_IOC_MAGIC, 0x4,
					    struct hyper_dmabuf_list), arg));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(hd, nonzero_flags_and_pad)
{
	struct hyper_dmabuf_unexport un = { 0 };
	struct hyper_dmabuf_query q;
	struct hyper_dmabuf_id hid;

	EXPECT_EQ(-EINVAL, hd_export(self->dev, self->buf, SELF, 0x80,
				     NULL, 0, NULL));
	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0, &hid));
	EXPECT_EQ(0, hid.pad);

	/* Unknown unexport flags, alone or with a known one. */
	un.hid = hid;
	un.flags = 0x2;
	EXPECT_EQ(-1, ioctl(self->dev, HYPER_DMABUF_IOCTL_UNEXPORT, &un));
	EXPECT_EQ(EINVAL, errno);
	un.flags = HYPER_DMABUF_UNEXPORT_ANY_FILE | 0x80000000U;
	EXPECT_EQ(-1, ioctl(self->dev, HYPER_DMABUF_IOCTL_UNEXPORT, &un));
	EXPECT_EQ(EINVAL, errno);
	un.flags = 0;
	un.delay_ms = HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS + 1;
	EXPECT_EQ(-1, ioctl(self->dev, HYPER_DMABUF_IOCTL_UNEXPORT, &un));
	EXPECT_EQ(EINVAL, errno);
	/* None of them unexported anything. */
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(0, q.unexport_pending);

	memset(&q, 0, sizeof(q));
	q.hid = hid;
	q.pad = 1;
	EXPECT_EQ(-1, ioctl(self->dev, HYPER_DMABUF_IOCTL_QUERY, &q));
	EXPECT_EQ(EINVAL, errno);

	EXPECT_EQ(-EINVAL, hd_import(self->dev, &hid, O_RDONLY | O_APPEND));
	hid.pad = 1;
	EXPECT_EQ(-EINVAL, hd_import(self->dev, &hid, O_RDONLY));
	hid.pad = 0;
	EXPECT_EQ(0, hd_unexport(self->dev, &hid));
}

TEST_F(hd, struct_sizes)
{
	struct {
		struct hyper_dmabuf_query q;
		__u64 tail;
	} big;
	struct hyper_dmabuf_id hid;
	unsigned long cmd;

	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0, &hid));
	cmd = _IOC(_IOC_READ | _IOC_WRITE, HYPER_DMABUF_IOC_MAGIC, 0x3,
		   sizeof(big));
	memset(&big, 0, sizeof(big));
	big.q.hid = hid;
	/* A newer, larger struct is fine while the extra bytes are zero. */
	EXPECT_EQ(0, ioctl(self->dev, cmd, &big));
	EXPECT_EQ(BUF_SIZE, big.q.size);
	big.tail = 1;
	EXPECT_EQ(-1, ioctl(self->dev, cmd, &big));
	EXPECT_EQ(E2BIG, errno);
	/* Smaller than the first version is refused. */
	cmd = _IOC(_IOC_READ | _IOC_WRITE, HYPER_DMABUF_IOC_MAGIC, 0x3, 16);
	EXPECT_EQ(-1, ioctl(self->dev, cmd, &big));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(hd, bad_fd)
{
	int fd = dup(self->buf);

	close(fd);
	EXPECT_EQ(-EBADF, hd_export(self->dev, -1, SELF, 0, NULL, 0, NULL));
	EXPECT_EQ(-EBADF, hd_export(self->dev, fd, SELF, 0, NULL, 0, NULL));
	/* Not a dma-buf. */
	EXPECT_EQ(-EINVAL, hd_export(self->dev, self->dev, SELF, 0, NULL, 0,
				     NULL));
}

TEST_F(hd, priv_bounds)
{
	unsigned char priv[HYPER_DMABUF_MAX_PRIV + 1];
	struct hyper_dmabuf_id hid;

	memset(priv, 7, sizeof(priv));
	EXPECT_EQ(-EINVAL, hd_export(self->dev, self->buf, SELF, 0, priv,
				     HYPER_DMABUF_MAX_PRIV + 1, NULL));
	EXPECT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, priv, 0, &hid));
	EXPECT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, priv,
			       HYPER_DMABUF_MAX_PRIV, &hid));
}

TEST_F(hd, remote_unreachable)
{
	struct stat st;
	bool xen = !stat("/sys/module/hyper_dmabuf_xen", &st);
	/* DOMID_XEN (0x7FF2) is reserved: never a peer. */
	int ret = hd_export(self->dev, self->buf, 0x7FF2, 0, NULL, 0, NULL);

	/* Without a backend no remote domain is reachable. */
	EXPECT_EQ(xen ? -EINVAL : -ENODEV, ret);
}

static void loopback_mmap(struct __test_metadata *_metadata, int dev, int buf)
{
	struct hyper_dmabuf_id hid;
	void *src, *dst;
	int imp;

	src = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
	ASSERT_NE(MAP_FAILED, src);
	fill(src, BUF_SIZE, 3);
	ASSERT_EQ(0, hd_export(dev, buf, SELF, 0, NULL, 0, &hid));
	imp = hd_import(dev, &hid, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(imp, 0);
	dst = mmap(NULL, BUF_SIZE, PROT_READ, MAP_SHARED, imp, 0);
	ASSERT_NE(MAP_FAILED, dst);
	EXPECT_EQ(BUF_SIZE, first_mismatch(dst, BUF_SIZE, 3));
	/* A read-only import cannot be mapped for writing. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
				   MAP_SHARED, imp, 0));
	munmap(dst, BUF_SIZE);
	munmap(src, BUF_SIZE);
	close(imp);
}

TEST_F(hd, loopback_mmap_heap)
{
	int buf = heap_alloc(BUF_SIZE);

	if (buf < 0)
		SKIP(return, "no system dma-heap");
	loopback_mmap(_metadata, self->dev, buf);
	close(buf);
}

TEST_F(hd, loopback_mmap_udmabuf)
{
	int buf = udmabuf_alloc(BUF_SIZE);

	if (buf < 0)
		SKIP(return, "no udmabuf");
	loopback_mmap(_metadata, self->dev, buf);
	close(buf);
}

TEST_F(hd, rdwr_export)
{
	struct hyper_dmabuf_id hid;
	void *src, *dst;
	int imp;

	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF,
			       HYPER_DMABUF_EXPORT_RDWR, NULL, 0, &hid));
	imp = hd_import(self->dev, &hid, O_RDWR);
	ASSERT_GE(imp, 0);
	dst = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, imp, 0);
	ASSERT_NE(MAP_FAILED, dst);
	fill(dst, BUF_SIZE, 9);
	src = mmap(NULL, BUF_SIZE, PROT_READ, MAP_SHARED, self->buf, 0);
	ASSERT_NE(MAP_FAILED, src);
	EXPECT_EQ(BUF_SIZE, first_mismatch(src, BUF_SIZE, 9));
	munmap(src, BUF_SIZE);
	munmap(dst, BUF_SIZE);
	close(imp);
}

TEST_F(hd, readonly_export)
{
	struct hyper_dmabuf_id hid;
	int imp;

	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0, &hid));
	EXPECT_EQ(-EACCES, hd_import(self->dev, &hid, O_RDWR));
	EXPECT_EQ(-EACCES, hd_import(self->dev, &hid, O_WRONLY));
	imp = hd_import(self->dev, &hid, O_RDONLY);
	EXPECT_GE(imp, 0);
	close(imp);
}

/* 1000 buffers and exports: slow in an emulated PVH guest, beyond 30 s. */
TEST_F_TIMEOUT(hd, max_ids, 300)
{
	int i, n, buf, base = live_ids();
	struct hyper_dmabuf_id hid;

	n = HYPER_DMABUF_MAX_IDS - base;
	ASSERT_GT(n, 0);
	for (i = 0; i < n; i++) {
		buf = buf_alloc(PAGE);
		ASSERT_GE(buf, 0);
		/* The export keeps its own reference to the buffer. */
		ASSERT_EQ(0, hd_export(self->dev, buf, SELF, 0, NULL, 0,
				       &hid)) TH_LOG("export %d", i);
		close(buf);
	}
	EXPECT_EQ(-ENOSPC, hd_export(self->dev, self->buf, SELF, 0, NULL, 0,
				     &hid));
	/* Closing the device unexports all of them. */
	close(self->dev);
	self->dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->dev, 0);
	EXPECT_EQ(base, live_ids());
	EXPECT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0, &hid));
}

TEST_F(hd, id_reuse_new_key)
{
	struct hyper_dmabuf_id a, b;
	struct hyper_dmabuf_query q;
	int buf2 = buf_alloc(BUF_SIZE);

	ASSERT_GE(buf2, 0);
	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0, &a));
	ASSERT_EQ(0, hd_unexport(self->dev, &a));
	ASSERT_EQ(0, hd_export(self->dev, buf2, SELF, 0, NULL, 0, &b));
	EXPECT_EQ(a.id, b.id);
	EXPECT_EQ(a.exporter_domid, b.exporter_domid);
	EXPECT_NE(0, memcmp(a.key, b.key, sizeof(a.key)));
	/* The stale id and key open nothing. */
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &a, &q, NULL, 0));
	EXPECT_EQ(-ENOENT, hd_import(self->dev, &a, O_RDONLY));
	EXPECT_EQ(-ENOENT, hd_unexport(self->dev, &a));
	EXPECT_EQ(0, hd_query(self->dev, &b, &q, NULL, 0));
	close(buf2);
}

TEST_F(hd, wrong_key_or_domain)
{
	struct hyper_dmabuf_id hid = {}, bad;
	struct hyper_dmabuf_query q;

	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0, &hid));
	bad = hid;
	bad.key[1] ^= 1;
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &bad, &q, NULL, 0));
	EXPECT_EQ(-ENOENT, hd_import(self->dev, &bad, O_RDONLY));
	bad = hid;
	bad.exporter_domid += 256;
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &bad, &q, NULL, 0));
	EXPECT_EQ(-ENOENT, hd_import(self->dev, &bad, O_RDONLY));
}

TEST_F(hd, fast_path_reexport)
{
	struct hyper_dmabuf_id a, b;
	struct hyper_dmabuf_query q;
	char priv[16] = { 0 };
	int base = live_ids();

	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, "first", 6, &a));
	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, "second", 7,
			       &b));
	EXPECT_EQ(0, memcmp(&a, &b, sizeof(a)));
	EXPECT_EQ(base + 1, live_ids());
	ASSERT_EQ(0, hd_query(self->dev, &a, &q, priv, sizeof(priv)));
	EXPECT_EQ(7, q.priv_size);
	EXPECT_STREQ("second", priv);
	/* Different flags for the same buffer and domain are refused. */
	EXPECT_EQ(-EINVAL, hd_export(self->dev, self->buf, SELF,
				     HYPER_DMABUF_EXPORT_RDWR, NULL, 0, &b));
}

TEST_F(hd, query_fields)
{
	struct hyper_dmabuf_id hid;
	struct hyper_dmabuf_query q;
	char priv[HYPER_DMABUF_MAX_PRIV];
	int imp;

	memset(priv, 0, sizeof(priv));
	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF,
			       HYPER_DMABUF_EXPORT_RDWR, "0123456789", 10,
			       &hid));
	EXPECT_EQ(hid.exporter_domid & 0xff, hid.id >> 24);
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, priv, 4));
	EXPECT_EQ(HYPER_DMABUF_TYPE_EXPORTED, q.type);
	EXPECT_EQ(HYPER_DMABUF_EXPORT_RDWR, q.flags);
	EXPECT_EQ(hid.exporter_domid, q.exporter_domid);
	EXPECT_EQ(SELF, q.importer_domid);
	EXPECT_EQ(BUF_SIZE, q.size);
	EXPECT_EQ(0, q.busy);
	EXPECT_EQ(0, q.unexport_pending);
	EXPECT_EQ(10, q.priv_size);
	/* Only priv_buf_size bytes are copied. */
	EXPECT_EQ(0, memcmp(priv, "0123", 4));
	EXPECT_EQ(0, priv[4]);

	imp = hd_import(self->dev, &hid, O_RDONLY);
	ASSERT_GE(imp, 0);
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(1, q.busy);
	close(imp);
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(0, q.busy);
}

TEST_F(hd, unexport_while_imported)
{
	struct hyper_dmabuf_id hid, again = { 0 };
	struct hyper_dmabuf_query q;
	void *src, *dst;
	int imp, base = live_ids();

	src = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		   self->buf, 0);
	ASSERT_NE(MAP_FAILED, src);
	fill(src, BUF_SIZE, 5);
	munmap(src, BUF_SIZE);

	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0, &hid));
	imp = hd_import(self->dev, &hid, O_RDONLY);
	ASSERT_GE(imp, 0);
	/* The exporter lets go of its buffer entirely. */
	close(self->buf);
	self->buf = -1;
	ASSERT_EQ(0, hd_unexport(self->dev, &hid));

	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(1, q.unexport_pending);
	EXPECT_EQ(1, q.busy);
	EXPECT_EQ(-ENOENT, hd_import(self->dev, &hid, O_RDONLY));
	EXPECT_EQ(-ENOENT, hd_unexport(self->dev, &hid));
	EXPECT_EQ(base + 1, live_ids());

	dst = mmap(NULL, BUF_SIZE, PROT_READ, MAP_SHARED, imp, 0);
	ASSERT_NE(MAP_FAILED, dst);
	EXPECT_EQ(BUF_SIZE, first_mismatch(dst, BUF_SIZE, 5));
	close(imp);
	/*
	 * Closing the last import fd releases the import and its id; a
	 * mapping of a loopback import references the original buffer and
	 * stays valid.
	 */
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(BUF_SIZE, first_mismatch(dst, BUF_SIZE, 5));
	munmap(dst, BUF_SIZE);

	EXPECT_EQ(base, live_ids());
	self->buf = buf_alloc(BUF_SIZE);
	ASSERT_GE(self->buf, 0);
	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0,
			       &again));
	EXPECT_EQ(hid.id, again.id);
}

/*
 * Wait for a delayed unexport of 100 ms to take effect: under emulation a
 * loaded domain may run the delayed work late, so give it 10 s.
 */
static int query_until_gone(int dev, const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_query q;
	int i, ret = 0;

	for (i = 0; i < 200; i++) {
		usleep(50 * 1000);
		ret = hd_query(dev, hid, &q, NULL, 0);
		if (ret)
			break;
	}
	return ret;
}

TEST_F(hd, delayed_unexport)
{
	struct hyper_dmabuf_unexport un = { .delay_ms = 100 };
	struct hyper_dmabuf_query q;
	int base = live_ids();

	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0,
			       &un.hid));
	ASSERT_EQ(0, ioctl(self->dev, HYPER_DMABUF_IOCTL_UNEXPORT, &un));
	ASSERT_EQ(0, hd_query(self->dev, &un.hid, &q, NULL, 0));
	EXPECT_EQ(1, q.unexport_pending);
	EXPECT_EQ(-ENOENT, hd_import(self->dev, &un.hid, O_RDONLY));
	EXPECT_EQ(-ENOENT, query_until_gone(self->dev, &un.hid));
	EXPECT_EQ(base, live_ids());
}

TEST_F(hd, close_unexports_all)
{
	struct hyper_dmabuf_id hid[3];
	struct hyper_dmabuf_query q;
	int dev2, i, imp, base = live_ids();

	dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(dev2, 0);
	for (i = 0; i < 3; i++) {
		int buf = buf_alloc(BUF_SIZE);

		ASSERT_GE(buf, 0);
		ASSERT_EQ(0, hd_export(dev2, buf, SELF, 0, NULL, 0, &hid[i]));
		close(buf);
	}
	/* Another file cannot unexport them. */
	EXPECT_EQ(-ENOENT, hd_unexport(self->dev, &hid[0]));
	imp = hd_import(self->dev, &hid[1], O_RDONLY);
	ASSERT_GE(imp, 0);
	EXPECT_EQ(base + 3, live_ids());
	close(dev2);

	EXPECT_EQ(-ENOENT, hd_query(self->dev, &hid[0], &q, NULL, 0));
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &hid[2], &q, NULL, 0));
	ASSERT_EQ(0, hd_query(self->dev, &hid[1], &q, NULL, 0));
	EXPECT_EQ(1, q.unexport_pending);
	close(imp);
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &hid[1], &q, NULL, 0));
	EXPECT_EQ(base, live_ids());
}

TEST_F(hd, unexport_other_file)
{
	struct hyper_dmabuf_id hid, bad, again;
	struct hyper_dmabuf_query q;
	int dev2, buf2, base = live_ids();

	if (!cap_sys_admin())
		SKIP(return, "HYPER_DMABUF_UNEXPORT_ANY_FILE needs CAP_SYS_ADMIN");
	dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(dev2, 0);
	ASSERT_EQ(0, hd_export(dev2, self->buf, SELF, 0, NULL, 0, &hid));

	/* Without the flag another file cannot, and changes nothing. */
	EXPECT_EQ(-ENOENT, hd_unexport_flags(self->dev, &hid, 0, 0));
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(0, q.unexport_pending);
	EXPECT_EQ(1, listed(self->dev, HYPER_DMABUF_TYPE_EXPORTED, &hid));

	/* With the flag the full name is needed. */
	bad = hid;
	bad.key[2] ^= 0x80000000U;
	EXPECT_EQ(-ENOENT, hd_unexport_flags(self->dev, &bad, 0,
					     HYPER_DMABUF_UNEXPORT_ANY_FILE));
	bad = hid;
	bad.exporter_domid += 256;
	EXPECT_EQ(-ENOENT, hd_unexport_flags(self->dev, &bad, 0,
					     HYPER_DMABUF_UNEXPORT_ANY_FILE));
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(0, q.unexport_pending);

	ASSERT_EQ(0, hd_unexport_flags(self->dev, &hid, 0,
				       HYPER_DMABUF_UNEXPORT_ANY_FILE));
	/* Not imported: gone at once, for everybody. */
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(-ENOENT, hd_query(dev2, &hid, &q, NULL, 0));
	EXPECT_EQ(0, listed(self->dev, HYPER_DMABUF_TYPE_EXPORTED, &hid));
	EXPECT_EQ(-ENOENT, hd_import(self->dev, &hid, O_RDONLY));
	EXPECT_EQ(-ENOENT, hd_unexport(dev2, &hid));
	EXPECT_EQ(-ENOENT, hd_unexport_flags(self->dev, &hid, 0,
					     HYPER_DMABUF_UNEXPORT_ANY_FILE));
	EXPECT_EQ(base, live_ids());

	/* Its slot is the next one handed out, with a new key. */
	buf2 = buf_alloc(BUF_SIZE);
	ASSERT_GE(buf2, 0);
	ASSERT_EQ(0, hd_export(dev2, buf2, SELF, 0, NULL, 0, &again));
	close(buf2);
	EXPECT_EQ(hid.id, again.id);
	EXPECT_EQ(hid.exporter_domid, again.exporter_domid);
	EXPECT_NE(0, memcmp(hid.key, again.key, sizeof(hid.key)));
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(0, hd_query(self->dev, &again, &q, NULL, 0));
	EXPECT_EQ(1, listed(self->dev, HYPER_DMABUF_TYPE_EXPORTED, &again));
	/* The owner still owns the new export; closing it ends it. */
	close(dev2);
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &again, &q, NULL, 0));
	EXPECT_EQ(base, live_ids());
}

TEST_F(hd, unexport_other_file_imported)
{
	struct hyper_dmabuf_id hid;
	struct hyper_dmabuf_query q;
	int dev2, imp, base = live_ids();

	if (!cap_sys_admin())
		SKIP(return, "HYPER_DMABUF_UNEXPORT_ANY_FILE needs CAP_SYS_ADMIN");
	dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(dev2, 0);
	ASSERT_EQ(0, hd_export(dev2, self->buf, SELF, 0, NULL, 0, &hid));
	imp = hd_import(self->dev, &hid, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(imp, 0);

	ASSERT_EQ(0, hd_unexport_flags(self->dev, &hid, 0,
				       HYPER_DMABUF_UNEXPORT_ANY_FILE));
	/* Imported: still there, pending, listed, no longer importable. */
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(1, q.unexport_pending);
	EXPECT_EQ(1, q.busy);
	EXPECT_EQ(1, listed(self->dev, HYPER_DMABUF_TYPE_EXPORTED, &hid));
	EXPECT_EQ(-ENOENT, hd_import(self->dev, &hid, O_RDONLY));
	EXPECT_EQ(-ENOENT, hd_unexport_flags(self->dev, &hid, 0,
					     HYPER_DMABUF_UNEXPORT_ANY_FILE));
	EXPECT_EQ(-ENOENT, hd_unexport(dev2, &hid));
	EXPECT_EQ(base + 1, live_ids());
	/* Its former owner closing changes nothing. */
	close(dev2);
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(1, q.unexport_pending);
	/* The last import releases it. */
	close(imp);
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(0, listed(self->dev, HYPER_DMABUF_TYPE_EXPORTED, &hid));
	EXPECT_EQ(base, live_ids());
}

TEST_F(hd, unexport_other_file_delayed)
{
	struct hyper_dmabuf_id hid;
	struct hyper_dmabuf_query q;
	int dev2, base = live_ids();

	if (!cap_sys_admin())
		SKIP(return, "HYPER_DMABUF_UNEXPORT_ANY_FILE needs CAP_SYS_ADMIN");
	dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(dev2, 0);
	ASSERT_EQ(0, hd_export(dev2, self->buf, SELF, 0, NULL, 0, &hid));
	ASSERT_EQ(0, hd_unexport_flags(self->dev, &hid, 100,
				       HYPER_DMABUF_UNEXPORT_ANY_FILE));
	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(1, q.unexport_pending);
	EXPECT_EQ(1, listed(self->dev, HYPER_DMABUF_TYPE_EXPORTED, &hid));
	EXPECT_EQ(-ENOENT, hd_import(self->dev, &hid, O_RDONLY));
	EXPECT_EQ(-ENOENT, query_until_gone(self->dev, &hid));
	EXPECT_EQ(0, listed(self->dev, HYPER_DMABUF_TYPE_EXPORTED, &hid));
	EXPECT_EQ(base, live_ids());
	close(dev2);
}

TEST_F(hd, unexport_any_file_needs_cap_sys_admin)
{
	struct hyper_dmabuf_id hid, own;
	struct hyper_dmabuf_query q;
	int dev2, buf2;

	if (!cap_sys_admin())
		SKIP(return, "cannot drop CAP_SYS_ADMIN without having it");
	dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(dev2, 0);
	buf2 = buf_alloc(BUF_SIZE);
	ASSERT_GE(buf2, 0);
	ASSERT_EQ(0, hd_export(dev2, self->buf, SELF, 0, NULL, 0, &hid));
	ASSERT_EQ(0, hd_export(dev2, buf2, SELF, 0, NULL, 0, &own));
	close(buf2);

	ASSERT_EQ(0, set_cap_sys_admin(false));
	ASSERT_FALSE(cap_sys_admin());
	EXPECT_EQ(-EPERM, hd_unexport_flags(self->dev, &hid, 0,
					    HYPER_DMABUF_UNEXPORT_ANY_FILE));
	EXPECT_EQ(-ENOENT, hd_unexport_flags(self->dev, &hid, 0, 0));
	/* The owner needs no privilege for its own exports. */
	EXPECT_EQ(0, hd_unexport(dev2, &own));
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &own, &q, NULL, 0));
	ASSERT_EQ(0, set_cap_sys_admin(true));

	ASSERT_EQ(0, hd_query(self->dev, &hid, &q, NULL, 0));
	EXPECT_EQ(0, q.unexport_pending);
	EXPECT_EQ(0, hd_unexport_flags(self->dev, &hid, 0,
				       HYPER_DMABUF_UNEXPORT_ANY_FILE));
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &hid, &q, NULL, 0));
	close(dev2);
}

TEST_F(hd, list_exported)
{
	struct hyper_dmabuf_list bad_pad = {
		.type = HYPER_DMABUF_TYPE_EXPORTED,
		.count = 10,
		.pad = 1,
	};
	struct hyper_dmabuf_id mine[4], got[16];
	__u32 count, total = 0, base = 0, i;
	long page = sysconf(_SC_PAGESIZE);
	struct hyper_dmabuf_query q;
	int dev[2], j;
	void *ro, *hole;

	/* Exports of other users of this domain, normally none. */
	count = 0;
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, NULL,
			     &count, &base));
	EXPECT_EQ(0, count);
	ASSERT_LE(base + 4, 10) TH_LOG("%u exports of other users", base);

	/* Two files with two exports each. */
	for (i = 0; i < 2; i++) {
		dev[i] = open(DEV_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_GE(dev[i], 0);
		for (j = 0; j < 2; j++) {
			int buf = buf_alloc(BUF_SIZE);

			ASSERT_GE(buf, 0);
			ASSERT_EQ(0, hd_export(dev[i], buf, SELF, 0, NULL, 0,
					       &mine[i * 2 + j]));
			close(buf);
		}
	}

	/* Capacity 0 and no array: only the total. */
	count = 0;
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, NULL,
			     &count, &total));
	EXPECT_EQ(0, count);
	EXPECT_EQ(base + 4, total);

	/* Capacity 2: two valid entries, nothing written beyond them. */
	memset(got, 0xa5, sizeof(got));
	count = 2;
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, got,
			     &count, &total));
	ASSERT_EQ(2, count);
	EXPECT_EQ(base + 4, total);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, hd_query(self->dev, &got[i], &q, NULL, 0));
		EXPECT_EQ(HYPER_DMABUF_TYPE_EXPORTED, q.type);
	}
	for (i = 2; i < ARRAY_SIZE(got); i++)
		EXPECT_EQ(0xa5a5a5a5U, got[i].id) TH_LOG("entry %u", i);

	/* Capacity 10: all of them, each of ours exactly once. */
	memset(got, 0xa5, sizeof(got));
	count = 10;
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, got,
			     &count, &total));
	ASSERT_EQ(base + 4, count);
	EXPECT_EQ(base + 4, total);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(1, hid_count(got, count, &mine[i])) TH_LOG("export %u", i);
	for (i = 0; i < count; i++)
		EXPECT_EQ(0, got[i].pad);
	EXPECT_EQ(0xa5a5a5a5U, got[count].id);

	/* Bad type or padding. */
	count = 10;
	EXPECT_EQ(-EINVAL, hd_list(self->dev, 0, got, &count, &total));
	count = 10;
	EXPECT_EQ(-EINVAL, hd_list(self->dev, 3, got, &count, &total));
	bad_pad.hids_ptr = (uintptr_t)got;
	EXPECT_EQ(-1, ioctl(self->dev, HYPER_DMABUF_IOCTL_LIST, &bad_pad));
	EXPECT_EQ(EINVAL, errno);

	/* An array that cannot be written. */
	ro = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	hole = mmap(NULL, page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, hole);
	munmap(hole, page);
	count = 4;
	EXPECT_EQ(-EFAULT, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, ro,
				   &count, &total));
	count = 4;
	EXPECT_EQ(-EFAULT, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, hole,
				   &count, &total));
	count = 4;
	EXPECT_EQ(-EFAULT, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, NULL,
				   &count, &total));
	munmap(ro, page);

	/* Closing one file leaves the other's two. */
	close(dev[0]);
	count = 10;
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, got,
			     &count, &total));
	EXPECT_EQ(base + 2, total);
	ASSERT_EQ(base + 2, count);
	EXPECT_EQ(0, hid_count(got, count, &mine[0]));
	EXPECT_EQ(0, hid_count(got, count, &mine[1]));
	EXPECT_EQ(1, hid_count(got, count, &mine[2]));
	EXPECT_EQ(1, hid_count(got, count, &mine[3]));
	EXPECT_EQ(-ENOENT, hd_query(self->dev, &mine[0], &q, NULL, 0));

	/* Loopback exports are not imports. */
	count = 10;
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_IMPORTED, got,
			     &count, &total));
	EXPECT_EQ(0, count);
	EXPECT_EQ(0, total);
	close(dev[1]);
	count = 10;
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_EXPORTED, got,
			     &count, &total));
	EXPECT_EQ(base, total);
}

TEST_F(hd, list_imported_single_domain)
{
	struct hyper_dmabuf_id hid, got[4];
	__u32 count = 0, total = 1;
	int imp;

	/* No other domain announces anything while these tests run. */
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_IMPORTED, NULL,
			     &count, &total));
	EXPECT_EQ(0, count);
	EXPECT_EQ(0, total);

	/* Not even a loopback export that is imported here. */
	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, NULL, 0, &hid));
	imp = hd_import(self->dev, &hid, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(imp, 0);
	count = ARRAY_SIZE(got);
	total = 1;
	ASSERT_EQ(0, hd_list(self->dev, HYPER_DMABUF_TYPE_IMPORTED, got,
			     &count, &total));
	EXPECT_EQ(0, count);
	EXPECT_EQ(0, total);
	EXPECT_EQ(1, listed(self->dev, HYPER_DMABUF_TYPE_EXPORTED, &hid));
	close(imp);
}

TEST_F(hd, events)
{
	struct hyper_dmabuf_event ev;
	struct pollfd pfd = { .events = POLLIN };
	struct hyper_dmabuf_id hid;
	int listener;

	listener = open(DEV_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_GE(listener, 0);
	EXPECT_EQ(-1, read(listener, &ev, sizeof(ev)));
	EXPECT_EQ(EAGAIN, errno);
	pfd.fd = listener;
	EXPECT_EQ(0, poll(&pfd, 1, 0));

	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, "hello", 5,
			       &hid));
	ASSERT_EQ(1, poll(&pfd, 1, 1000));
	EXPECT_TRUE(pfd.revents & POLLIN);
	/* Too small a buffer for one event. */
	EXPECT_EQ(-1, read(listener, &ev, sizeof(ev) - 1));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(sizeof(ev), read(listener, &ev, sizeof(ev)));
	EXPECT_EQ(HYPER_DMABUF_EVENT_NEW_IMPORT, ev.type);
	EXPECT_EQ(0, ev.event_flags);
	EXPECT_EQ(0, memcmp(&ev.hid, &hid, sizeof(hid)));
	EXPECT_EQ(BUF_SIZE, ev.size);
	EXPECT_EQ(5, ev.priv_size);
	EXPECT_EQ(0, memcmp(ev.priv, "hello", 5));

	/* A private data update is announced too. */
	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, "bye", 3, &hid));
	ASSERT_EQ(sizeof(ev), read(listener, &ev, sizeof(ev)));
	EXPECT_EQ(HYPER_DMABUF_EVENT_F_UPDATE, ev.event_flags);
	EXPECT_EQ(3, ev.priv_size);
	EXPECT_EQ(-1, read(listener, &ev, sizeof(ev)));
	close(listener);
}

/*
 * What a second process without CAP_SYS_ADMIN learns of a buffer that
 * another process exported: that it exists, but neither its key nor its
 * private data (events, LIST); the key opens it once its owner hands it
 * on.  Runs in a child; returns the number of failed checks.
 */
static int unprivileged_view(int ready, int keys)
{
	struct hyper_dmabuf_event ev = { };
	struct pollfd pfd = { .events = POLLIN };
	struct hyper_dmabuf_id hid, listed[4];
	static const __u32 zero[3];
	__u32 i, n = 4, total;
	int dev, fd, k, bad = 0;
	bool seen = false;

	if (set_cap_sys_admin(false) || cap_sys_admin())
		return 100;
	dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return 101;
	if (write(ready, "r", 1) != 1)
		return 102;
	/* The owner exported it; it hands the key on (here, at once). */
	if (read(keys, &hid, sizeof(hid)) != sizeof(hid))
		return 103;
	/* Events tell of buffers, without their key or private data. */
	pfd.fd = dev;
	for (k = 0; k < HYPER_DMABUF_EVENT_QUEUE_LEN && !seen; k++) {
		if (poll(&pfd, 1, 5000) != 1 ||
		    read(dev, &ev, sizeof(ev)) != sizeof(ev))
			return 104;
		if (ev.type != HYPER_DMABUF_EVENT_NEW_IMPORT)
			continue;
		seen = ev.hid.id == hid.id;
		bad += memcmp(ev.hid.key, zero, sizeof(zero)) != 0;
		bad += ev.priv_size != 0;
		for (i = 0; i < sizeof(ev.priv); i++)
			bad += ev.priv[i] != 0;
	}
	bad += !seen;
	/* Nor does LIST give keys. */
	if (hd_list(dev, HYPER_DMABUF_TYPE_EXPORTED, listed, &n, &total) ||
	    n < 1)
		bad++;
	for (i = 0; i < n; i++)
		bad += memcmp(listed[i].key, zero, sizeof(zero)) != 0;
	/* The name alone opens nothing. */
	fd = hd_import(dev, &ev.hid, O_RDONLY);
	bad += fd != -ENOENT;
	if (fd >= 0)
		close(fd);
	/* The key does. */
	fd = hd_import(dev, &hid, O_RDONLY);
	bad += fd < 0;
	if (fd >= 0)
		close(fd);
	close(dev);
	return bad;
}

TEST_F(hd, keys_stay_with_their_owner)
{
	struct hyper_dmabuf_event ev;
	struct hyper_dmabuf_id hid;
	int ready[2], keys[2], status;
	char c;
	pid_t pid;

	if (!cap_sys_admin())
		SKIP(return, "cannot drop CAP_SYS_ADMIN without having it");
	drain_events(self->dev);
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(keys));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(self->dev);
		_exit(unprivileged_view(ready[1], keys[0]));
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	ASSERT_EQ(0, hd_export(self->dev, self->buf, SELF, 0, "secret", 6,
			       &hid));
	/* The administrator's file gets key and private data. */
	ASSERT_EQ(sizeof(ev), read(self->dev, &ev, sizeof(ev)));
	EXPECT_EQ(0, memcmp(&ev.hid, &hid, sizeof(hid)));
	EXPECT_EQ(6, ev.priv_size);
	EXPECT_EQ(0, memcmp(ev.priv, "secret", 6));
	ASSERT_EQ(sizeof(hid), write(keys[1], &hid, sizeof(hid)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("the unprivileged process saw what it should not (or failed: 100+)");
	EXPECT_EQ(0, hd_unexport(self->dev, &hid));
	close(ready[0]);
	close(ready[1]);
	close(keys[0]);
	close(keys[1]);
}

/*
 * The files a user opened without CAP_SYS_ADMIN hold at most the user's
 * share of ids, together: opening the device again gains nothing.
 */
TEST_F(hd, export_quota_unprivileged)
{
	int dev, dev2, buf, i, err = 0, base = hd_counter("exported_ids");

	if (!cap_sys_admin())
		SKIP(return, "cannot drop CAP_SYS_ADMIN without having it");
	ASSERT_EQ(0, set_cap_sys_admin(false));
	dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_EQ(0, set_cap_sys_admin(true));
	ASSERT_LE(0, dev);
	ASSERT_LE(0, dev2);
	for (i = 0; i <= HYPER_DMABUF_MAX_IDS_PER_USER && !err; i++) {
		buf = buf_alloc(4096);
		ASSERT_LE(0, buf);
		err = hd_export(dev, buf, SELF, 0, NULL, 0, NULL);
		close(buf);
	}
	EXPECT_EQ(-EDQUOT, err);
	EXPECT_EQ(HYPER_DMABUF_MAX_IDS_PER_USER + 1, i);
	buf = buf_alloc(4096);
	ASSERT_LE(0, buf);
	EXPECT_EQ(-EDQUOT, hd_export(dev2, buf, SELF, 0, NULL, 0, NULL));
	if (base >= 0)
		EXPECT_EQ(base + HYPER_DMABUF_MAX_IDS_PER_USER, live_ids());
	/* Closing the first file gives its share back to the user. */
	close(dev);
	if (base >= 0)
		EXPECT_EQ(base, live_ids());
	EXPECT_EQ(0, hd_export(dev2, buf, SELF, 0, NULL, 0, NULL));
	close(buf);
	close(dev2);
	if (base >= 0)
		EXPECT_EQ(base, live_ids());
}

TEST_F(hd, event_overflow)
{
	struct hyper_dmabuf_event ev[16];
	int listener, exporter, i, n, events = 0, lost = 0, overflows = 0;
	const int total = HYPER_DMABUF_EVENT_QUEUE_LEN + 6;
	struct hyper_dmabuf_id hid;
	ssize_t len;

	listener = open(DEV_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	exporter = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(listener, 0);
	ASSERT_GE(exporter, 0);
	if (live_ids() + total > HYPER_DMABUF_MAX_IDS)
		SKIP(return, "not enough free ids");
	for (i = 0; i < total; i++) {
		int buf = buf_alloc(PAGE);

		ASSERT_GE(buf, 0);
		ASSERT_EQ(0, hd_export(exporter, buf, SELF, 0, NULL, 0, &hid));
		close(buf);
	}
	while ((len = read(listener, ev, sizeof(ev))) > 0) {
		for (n = 0; n < len / (ssize_t)sizeof(ev[0]); n++) {
			if (ev[n].type == HYPER_DMABUF_EVENT_OVERFLOW) {
				overflows++;
				lost += ev[n].lost;
			} else {
				events++;
			}
		}
	}
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(1, overflows);
	EXPECT_EQ(HYPER_DMABUF_EVENT_QUEUE_LEN, events);
	EXPECT_EQ(total, events + lost);
	close(exporter);
	close(listener);
	drain_events(self->dev);
}

int main(int argc, char **argv)
{
	struct rlimit rl;

	/* max_ids keeps one dma-buf fd at a time, but be generous. */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < 4096 &&
	    rl.rlim_max >= 4096) {
		rl.rlim_cur = 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return test_harness_run(argc, argv);
}
