// SPDX-License-Identifier: GPL-2.0
/*
 * Argument checking of the /dev/hyper_dmabuf ioctls, in one domain.
 *
 * bad_args: a table of bad calls, each with the errno the uapi header
 * (include/uapi/linux/hyper_dmabuf.h) documents for it, and a few control
 * calls that must succeed: unknown numbers, wrong magic and direction,
 * sizes below the first version of a structure (-EINVAL) and above the
 * current one with a non-zero tail (-E2BIG; zero tails are controls),
 * NULL, unmapped, kernel, read-only and guard-page straddling argument
 * pointers (-EFAULT), then per command every checked member: bad file
 * descriptors, unknown flags, private data sizes and pointers, read-only
 * dma-bufs, reserved and absent remote domains, unknown, stale and
 * mismatched ids, padding, fd flags, the import timeout and NONBLOCK on a
 * buffer whose fences are pending (sw_sync), unexport delays, ANY_FILE
 * without CAP_SYS_ADMIN (in a child that dropped it), query and list
 * output pointers.  Where the errno depends on the hypervisor backend
 * (none, Xen dom0, Xen domU) each case names one per environment.  Every
 * case also checks that the call left nothing behind: the debugfs
 * counters return to their baseline, no file descriptor is left open, and
 * an export made by the case's setup is still alive and unchanged after a
 * failed call.
 *
 * random_args: 100000 ioctls (HD_IOCTL_ITERS sets another count) with
 * random commands (mostly the five real ones) and random arguments, in
 * part made valid field by field so that the calls get past the argument
 * checks.  The seed is printed and can be set with HD_IOCTL_SEED.  Every
 * result must be success or an errno the uapi documents, and where the
 * outcome follows from the argument alone (unknown command, short size,
 * bad pointer, non-zero tail, unknown flags, padding) exactly the expected
 * one.  Remote domains are restricted to ones that fail at once, imports
 * never wait without a short timeout, unexport delays are short; exports
 * made are unexported, imported fds closed, and the counters must return
 * to their baseline.
 *
 * The tests need the debugfs counters of the driver (they skip without
 * them) and assume no other user of hyper_dmabuf in this domain changes
 * them while they run.
 */
#define _GNU_SOURCE
/* Before <sys/mman.h>, which defines the MFD_* flags only if unset. */
#include <linux/memfd.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/hyper_dmabuf.h>

#include "../kselftest_harness.h"
#include "hyper_dmabuf_helpers.h"

#define DEV_PATH	"/dev/hyper_dmabuf"
#define MAGIC		HYPER_DMABUF_IOC_MAGIC
#define RW		(_IOC_READ | _IOC_WRITE)
#define CMD(dir, nr, size)	_IOC(dir, MAGIC, nr, size)

#define NR_EXPORT	_IOC_NR(HYPER_DMABUF_IOCTL_EXPORT)
#define NR_IMPORT	_IOC_NR(HYPER_DMABUF_IOCTL_IMPORT)
#define NR_UNEXPORT	_IOC_NR(HYPER_DMABUF_IOCTL_UNEXPORT)
#define NR_QUERY	_IOC_NR(HYPER_DMABUF_IOCTL_QUERY)
#define NR_LIST		_IOC_NR(HYPER_DMABUF_IOCTL_LIST)
#define NR_CMDS		5

/* Reserved Xen domain ids (xen/include/public/xen.h). */
#define XEN_DOMID_FIRST_RESERVED	0x7FF0U
#define XEN_DOMID_IO			0x7FF1U
#define XEN_DOMID_XEN			0x7FF2U
#define XEN_DOMID_INVALID		0x7FF4U
#define XEN_DOMID_IDLE			0x7FFFU
/* Below the reserved ids, and no domain has it. */
#define DOMID_ABSENT			0x7FEFU

#define ARG_PAGES	5		/* > _IOC_SIZEMASK bytes */
#define SCRATCH_PAGES	6		/* >= HYPER_DMABUF_MAX_IDS ids */
#define SETTLE_MS	2000
#define SETUP_SKIP	1
/* The top page: never a user address. */
#define KERNEL_PTR	((void *)(~(uintptr_t)0 & ~(uintptr_t)(PAGE - 1)))

/* ---- environment ---------------------------------------------------- */

enum { ENV_NONE, ENV_DOM0, ENV_DOMU, NR_ENVS };

static const char * const env_names[NR_ENVS] = {
	"no hypervisor backend", "Xen dom0", "Xen domU",
};

static const char * const ctr_names[] = {
	"exported_ids", "imported", "grants_in_use", "mapped_pages",
	"pending_idle", "fences_held",
};

#define NR_CTRS	ARRAY_SIZE(ctr_names)

/* Counters of the Xen backend, there while hyper_dmabuf_xen is loaded. */
static bool ctr_of_xen(unsigned int i)
{
	return !strcmp(ctr_names[i], "grants_in_use") ||
	       !strcmp(ctr_names[i], "mapped_pages");
}

struct ctrs {
	int v[NR_CTRS];
};

static void ctrs_read(struct ctrs *c)
{
	unsigned int i;

	for (i = 0; i < NR_CTRS; i++)
		c->v[i] = hd_counter(ctr_names[i]);
}

static const char *ctrs_str(const struct ctrs *c)
{
	static char s[2][160];
	static int which;
	unsigned int i;
	size_t n = 0;
	char *p;

	which ^= 1;
	p = s[which];
	p[0] = 0;
	for (i = 0; i < NR_CTRS && n < sizeof(s[0]); i++)
		n += snprintf(p + n, sizeof(s[0]) - n, "%s%s=%d", i ? " " : "",
			      ctr_names[i], c->v[i]);
	return p;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait up to SETTLE_MS for the counters to equal @base; true if they do. */
static bool ctrs_settle(const struct ctrs *base, struct ctrs *now)
{
	double end = now_s() + SETTLE_MS / 1000.0;

	for (;;) {
		ctrs_read(now);
		if (!memcmp(base, now, sizeof(*now)))
			return true;
		if (now_s() > end)
			return false;
		usleep(20 * 1000);
	}
}

/* The number the next open file descriptor gets. */
static int lowest_free_fd(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
	return fd;
}

static bool unmapped(void *p)
{
	return msync(p, PAGE, MS_ASYNC) && errno == ENOMEM;
}

static int export_self(int dev, int buf, __u32 flags, const void *priv,
		       __u32 len, struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_export arg = {
		.fd = buf,
		.remote_domid = SELF,
		.flags = flags,
		.priv_size = len,
		.priv_ptr = (uintptr_t)priv,
	};

	if (ioctl(dev, HYPER_DMABUF_IOCTL_EXPORT, &arg))
		return -errno;
	*hid = arg.hid;
	return 0;
}

static int import_fd(int dev, const struct hyper_dmabuf_id *hid,
		     __u32 fd_flags)
{
	struct hyper_dmabuf_import arg = { .hid = *hid, .fd_flags = fd_flags };

	if (ioctl(dev, HYPER_DMABUF_IOCTL_IMPORT, &arg))
		return -errno;
	return arg.fd;
}

static int query(int dev, const struct hyper_dmabuf_id *hid,
		 struct hyper_dmabuf_query *q)
{
	memset(q, 0, sizeof(*q));
	q->hid = *hid;
	return ioctl(dev, HYPER_DMABUF_IOCTL_QUERY, q) ? -errno : 0;
}

/* After a call that succeeded: drop what it made (export or import fd). */
static void undo_success(int dev, unsigned int cmd, void *argp)
{
	unsigned int usize = _IOC_SIZE(cmd);

	if (_IOC_TYPE(cmd) != MAGIC || !(_IOC_DIR(cmd) & _IOC_READ))
		return;
	if (_IOC_NR(cmd) == NR_EXPORT &&
	    usize >= sizeof(struct hyper_dmabuf_export))
		hd_unexport(dev, &((struct hyper_dmabuf_export *)argp)->hid);
	if (_IOC_NR(cmd) == NR_IMPORT &&
	    usize >= offsetof(struct hyper_dmabuf_import, flags))
		close(((struct hyper_dmabuf_import *)argp)->fd);
}

struct env {
	int dev;
	int buf;		/* read-write dma-buf of BUF_SIZE bytes */
	__u32 domid;		/* local domain id as the driver reports it */
	int kind;		/* ENV_* */
	bool cap;		/* CAP_SYS_ADMIN in the effective set */
	unsigned char *area;	/* ARG_PAGES pages for arguments, then: */
	unsigned char *guard;	/* a PROT_NONE page */
	unsigned char *ro;	/* a page, read-only while a call uses it */
	unsigned char *scratch;	/* private data, id arrays */
	void *hole;		/* an unmapped page */
};

FIXTURE(hdi) {
	struct env e;
};

FIXTURE_SETUP(hdi)
{
	struct env *e = &self->e;
	struct hyper_dmabuf_id hid;
	char caps[64] = "";
	struct ctrs c;
	bool dom0, xen;
	unsigned int i;
	FILE *f;
	void *p;

	e->buf = -1;
	e->dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (e->dev < 0)
		SKIP(return, "%s not available: %s", DEV_PATH, strerror(errno));
	ctrs_read(&c);
	/* The Xen backend is live (its own debugfs folder exists). */
	xen = !access("/sys/kernel/debug/hyper_dmabuf_xen", F_OK);
	for (i = 0; i < NR_CTRS; i++)
		if (c.v[i] < 0 && (xen || !ctr_of_xen(i)))
			SKIP(return, "cannot read %s%s: is debugfs mounted?",
			     DEBUGFS_DIR, ctr_names[i]);
	e->buf = buf_alloc(BUF_SIZE);
	if (e->buf < 0)
		SKIP(return, "no dma-buf source (system heap or udmabuf)");

	p = mmap(NULL, (ARG_PAGES + 1) * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	e->area = p;
	e->guard = e->area + ARG_PAGES * PAGE;
	ASSERT_EQ(0, mprotect(e->guard, PAGE, PROT_NONE));
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	e->ro = p;
	p = mmap(NULL, SCRATCH_PAGES * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	e->scratch = p;
	p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p, PAGE));
	e->hole = p;

	/* The exporter domid of a loopback export is the local domain's. */
	ASSERT_EQ(0, export_self(e->dev, e->buf, 0, NULL, 0, &hid));
	ASSERT_EQ(0, hd_unexport(e->dev, &hid));
	e->domid = hid.exporter_domid;
	/* The Xen backend reports 0 in dom0 only; domUs have other ids. */
	e->kind = e->domid == SELF ? ENV_NONE :
		  e->domid == 0 ? ENV_DOM0 : ENV_DOMU;
	e->cap = cap_sys_admin();
	f = fopen("/proc/xen/capabilities", "r");
	if (f) {
		if (!fgets(caps, sizeof(caps), f))
			caps[0] = 0;
		fclose(f);
	}
	ksft_print_msg("local domain %u: %s (hyper_dmabuf_xen %s, %s)\n",
		       e->domid, env_names[e->kind],
		       access("/sys/module/hyper_dmabuf_xen", F_OK) ?
		       "not loaded" : "loaded",
		       strstr(caps, "control_d") ? "control_d" :
		       "no control_d");
	dom0 = e->kind == ENV_DOM0;
	if (!strstr(caps, "control_d") == dom0)
		ksft_print_msg("warning: domain id and %s disagree\n",
			       "/proc/xen/capabilities");
}

FIXTURE_TEARDOWN(hdi)
{
	struct env *e = &self->e;

	if (e->scratch)
		munmap(e->scratch, SCRATCH_PAGES * PAGE);
	if (e->ro)
		munmap(e->ro, PAGE);
	if (e->area)
		munmap(e->area, (ARG_PAGES + 1) * PAGE);
	if (e->buf >= 0)
		close(e->buf);
	if (e->dev >= 0)
		close(e->dev);
}

/* ---- the table -------------------------------------------------------- */

/* Where the argument is passed (struct hd_case.flags & A_WHERE). */
#define A_NULL		0x1U		/* NULL */
#define A_HOLE		0x2U		/* an unmapped page */
#define A_KERNEL	0x3U		/* a kernel address */
#define A_RO		0x4U		/* a copy in a read-only page */
#define A_STRADDLE	0x5U		/* 16 bytes before the guard page */
#define A_END		0x6U		/* all but the last 8 bytes mapped */
#define A_WHERE		0x7U
#define A_TAIL		0x10U		/* last byte of the size non-zero */
#define A_UNPRIV	0x20U		/* call without CAP_SYS_ADMIN */
#define A_DOC_BACKEND	0x40U		/* ->doc only with a backend */

#define EXPORT		HYPER_DMABUF_IOCTL_EXPORT
#define IMPORT		HYPER_DMABUF_IOCTL_IMPORT
#define UNEXPORT	HYPER_DMABUF_IOCTL_UNEXPORT
#define QUERY		HYPER_DMABUF_IOCTL_QUERY
#define LIST		HYPER_DMABUF_IOCTL_LIST
#define NONBLOCK	HYPER_DMABUF_IMPORT_NONBLOCK
#define ANY_FILE	HYPER_DMABUF_UNEXPORT_ANY_FILE
#define T_EXP		HYPER_DMABUF_TYPE_EXPORTED
#define T_IMP		HYPER_DMABUF_TYPE_IMPORTED
#define REMOTE_BAD	E3(ENODEV, EINVAL, EINVAL)
#define DOC_NOT_DMABUF	"-EBADF (not a dma-buf fd)"
#define DOC_RESERVED	"no -EINVAL for a reserved remote domain id"
#define DOC_WRONLY	"fd_flags other than O_RDONLY or O_RDWR are -EINVAL"

struct hd_case;

/* State of one case, from its setup to its teardown. */
struct ctx {
	struct env *e;
	const struct hd_case *t;
	void *argp;			/* what the call got */
	struct hyper_dmabuf_id hid;	/* export made by the setup */
	struct hyper_dmabuf_id hid2;	/* a second one */
	int hid_dev;			/* file that made them */
	bool have_hid, have_hid2;
	bool hid_alive;		/* a failed call must leave it as it was */
	__u32 busy;			/* imports of it made by the setup */
	__u32 priv_len;			/* its private data */
	int fds[4];			/* closed by the teardown, last first */
	int nfds;
	int want_fd_flags;		/* checks of a successful import */
};

struct hd_case {
	const char *name;
	unsigned int cmd;
	int (*setup)(struct ctx *c, __u64 p);
	__u64 p;
	int err[NR_ENVS];	/* expected errno, 0 for a control */
	unsigned int flags;	/* A_* */
	const char *(*check)(struct ctx *c);
	const char *doc;	/* where the uapi says otherwise */
};

#define E(x)		{ [0 ... NR_ENVS - 1] = (x) }
#define E3(a, b, c)	{ a, b, c }

#define PRIV_LEN	16
static const char priv16[PRIV_LEN + 1] = "0123456789abcdef";

#define ARG(c, type)	((type *)(c)->e->area)

static int ctx_fd(struct ctx *c, int fd)
{
	if (fd >= 0 && c->nfds < (int)ARRAY_SIZE(c->fds))
		c->fds[c->nfds++] = fd;
	return fd;
}

/* The export every id setup starts from: e->buf to SELF, 16 bytes priv. */
static int ctx_export(struct ctx *c, int dev, int buf, __u32 flags)
{
	int ret = export_self(dev, buf, flags, priv16, PRIV_LEN, &c->hid);

	if (ret)
		return ret;
	c->hid_dev = dev;
	c->have_hid = true;
	c->hid_alive = true;
	c->priv_len = PRIV_LEN;
	return 0;
}

/* A second export, of another buffer, through the same file. */
static int ctx_export2(struct ctx *c)
{
	int buf = ctx_fd(c, buf_alloc(BUF_SIZE));
	int ret;

	if (buf < 0)
		return -ENOMEM;
	ret = export_self(c->hid_dev, buf, 0, NULL, 0, &c->hid2);
	c->have_hid2 = !ret;
	return ret;
}

static void ctx_teardown(struct ctx *c)
{
	if (c->have_hid2)
		hd_unexport(c->hid_dev, &c->hid2);
	if (c->have_hid)
		hd_unexport(c->hid_dev, &c->hid);
	while (c->nfds)
		close(c->fds[--c->nfds]);
}

/* How an id setup spoils the id of its export. */
enum {
	HID_OK, HID_UNKNOWN_SLOT, HID_SLOT_1000, HID_WRONG_KEY, HID_ZERO_KEY,
	HID_WRONG_DOMID, HID_DOMID_BYTE, HID_PAD, HID_STALE,
};

/* An export, and in @hid its id spoiled as @how says. */
static int ctx_hid(struct ctx *c, int how, __u32 flags,
		   struct hyper_dmabuf_id *hid)
{
	int ret = ctx_export(c, c->e->dev, c->e->buf, flags);

	if (ret)
		return ret;
	*hid = c->hid;
	switch (how) {
	case HID_UNKNOWN_SLOT:
		hid->id |= HYPER_DMABUF_ID_SLOT_MASK;
		break;
	case HID_SLOT_1000:
		hid->id = (hid->id & ~HYPER_DMABUF_ID_SLOT_MASK) |
			  HYPER_DMABUF_MAX_IDS;
		break;
	case HID_WRONG_KEY:
		hid->key[0] ^= 1;
		break;
	case HID_ZERO_KEY:
		memset(hid->key, 0, sizeof(hid->key));
		break;
	case HID_WRONG_DOMID:
		hid->exporter_domid += 256;
		break;
	case HID_DOMID_BYTE:
		hid->id ^= 1U << HYPER_DMABUF_ID_DOMID_SHIFT;
		break;
	case HID_PAD:
		hid->pad = 1;
		break;
	case HID_STALE:
		ret = hd_unexport(c->hid_dev, &c->hid);
		c->have_hid = false;
		c->hid_alive = false;
		break;
	}
	return ret;
}

static int s_zero(struct ctx *c __always_unused,
		  __u64 p __always_unused)
{
	return 0;
}

/* A valid export of e->buf to SELF with flags @p. */
static int s_export(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_export *a = ARG(c, struct hyper_dmabuf_export);

	a->fd = c->e->buf;
	a->remote_domid = SELF;
	a->flags = p;
	return 0;
}

/* The out member filled with garbage: ignored. */
static int s_export_garbage(struct ctx *c, __u64 p __always_unused)
{
	struct hyper_dmabuf_export *a = ARG(c, struct hyper_dmabuf_export);

	s_export(c, 0);
	memset(&a->hid, 0xff, sizeof(a->hid));
	return 0;
}

enum {
	FD_MINUS1, FD_CLOSED, FD_INT_MAX, FD_O_PATH, FD_DEV, FD_PIPE, FD_MEMFD,
};

static int s_export_fd(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_export *a = ARG(c, struct hyper_dmabuf_export);
	int fds[2], fd = -1;

	s_export(c, 0);
	switch (p) {
	case FD_MINUS1:
		break;
	case FD_CLOSED:
		fd = dup(c->e->buf);
		if (fd < 0)
			return -errno;
		close(fd);
		break;
	case FD_INT_MAX:
		fd = INT_MAX;
		break;
	case FD_O_PATH:
		fd = ctx_fd(c, open(DEV_PATH, O_PATH | O_CLOEXEC));
		if (fd < 0)
			return -errno;
		break;
	case FD_DEV:
		fd = c->e->dev;
		break;
	case FD_PIPE:
		if (pipe2(fds, O_CLOEXEC))
			return -errno;
		ctx_fd(c, fds[0]);
		fd = ctx_fd(c, fds[1]);
		break;
	case FD_MEMFD:
		fd = ctx_fd(c, syscall(__NR_memfd_create, "hd-ioctl-test",
				       MFD_CLOEXEC));
		if (fd < 0 || ftruncate(fd, BUF_SIZE))
			return -errno;
		break;
	}
	a->fd = fd;
	return 0;
}

#define P_OWN	0x100000000ULL	/* the local domain id */

static int s_export_domid(struct ctx *c, __u64 p)
{
	s_export(c, 0);
	ARG(c, struct hyper_dmabuf_export)->remote_domid =
		p == P_OWN ? c->e->domid : (__u32)p;
	return 0;
}

enum {
	EP_OVERSIZE, EP_SIZE_MAX, EP_NULL, EP_HOLE, EP_STRADDLE, EP_KERNEL,
	EP_NULL_SIZE0, EP_MAX,
};

static int s_export_priv(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_export *a = ARG(c, struct hyper_dmabuf_export);
	struct env *e = c->e;

	s_export(c, 0);
	memset(e->scratch, 0x3c, PAGE);
	a->priv_ptr = (uintptr_t)e->scratch;
	a->priv_size = 16;
	switch (p) {
	case EP_OVERSIZE:
		a->priv_size = HYPER_DMABUF_MAX_PRIV + 1;
		break;
	case EP_SIZE_MAX:
		a->priv_size = ~0U;
		break;
	case EP_NULL:
		a->priv_ptr = 0;
		break;
	case EP_HOLE:
		a->priv_ptr = (uintptr_t)e->hole;
		break;
	case EP_STRADDLE:
		a->priv_ptr = (uintptr_t)(e->guard - 8);
		break;
	case EP_KERNEL:
		a->priv_ptr = (uintptr_t)KERNEL_PTR;
		break;
	case EP_NULL_SIZE0:
		a->priv_ptr = 0;
		a->priv_size = 0;
		break;
	case EP_MAX:
		a->priv_size = HYPER_DMABUF_MAX_PRIV;
		c->priv_len = HYPER_DMABUF_MAX_PRIV;
		break;
	}
	return 0;
}

/* RDWR export of a read-only dma-buf: a read-only loopback import. */
static int s_export_ro_dmabuf(struct ctx *c, __u64 p __always_unused)
{
	int ret = ctx_export(c, c->e->dev, c->e->buf, 0);
	int fd;

	if (ret)
		return ret;
	fd = ctx_fd(c, import_fd(c->e->dev, &c->hid, O_RDONLY | O_CLOEXEC));
	if (fd < 0)
		return fd;
	c->busy = 1;
	s_export(c, HYPER_DMABUF_EXPORT_RDWR);
	ARG(c, struct hyper_dmabuf_export)->fd = fd;
	return 0;
}

/* The same buffer again to the same domain, with other flags. */
static int s_export_other_flags(struct ctx *c, __u64 p __always_unused)
{
	int ret = ctx_export(c, c->e->dev, c->e->buf, 0);

	s_export(c, HYPER_DMABUF_EXPORT_RDWR);
	return ret;
}

#define P_RDWR_EXPORT	0x100000000ULL

/* Import of an id spoiled as @p says. */
static int s_import_hid(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_import *a = ARG(c, struct hyper_dmabuf_import);

	a->fd_flags = O_RDONLY | O_CLOEXEC;
	c->want_fd_flags = a->fd_flags;
	return ctx_hid(c, p, 0, &a->hid);
}

/* Import with fd flags @p, of a read-write export if P_RDWR_EXPORT. */
static int s_import_fd_flags(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_import *a = ARG(c, struct hyper_dmabuf_import);

	a->fd_flags = (__u32)p;
	c->want_fd_flags = a->fd_flags;
	return ctx_hid(c, HID_OK, p & P_RDWR_EXPORT ?
		       HYPER_DMABUF_EXPORT_RDWR : 0, &a->hid);
}

/* Import with flags @p and timeout @p >> 32. */
static int s_import_flags(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_import *a = ARG(c, struct hyper_dmabuf_import);
	int ret = s_import_hid(c, HID_OK);

	a->flags = (__u32)p;
	a->timeout_ms = p >> 32;
	return ret;
}

/* The out member filled with garbage: ignored. */
static int s_import_garbage(struct ctx *c, __u64 p __always_unused)
{
	int ret = s_import_hid(c, HID_OK);

	ARG(c, struct hyper_dmabuf_import)->fd = 12345;
	return ret;
}

/* Unexported, but still imported (so its id stays). */
static int s_import_unexported(struct ctx *c, __u64 p __always_unused)
{
	int ret = s_import_hid(c, HID_OK);

	if (ret)
		return ret;
	if (ctx_fd(c, import_fd(c->e->dev, &c->hid, O_RDONLY)) < 0)
		return -EIO;
	c->hid_alive = false;
	return hd_unexport(c->e->dev, &c->hid);
}

/*
 * An export whose buffer has a pending sw_sync write fence, and an import
 * with flags @p and timeout @p >> 32.  The fence signals when the timeline
 * is closed, after the teardown unexported the buffer.
 */
static int s_import_pending(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_import *a = ARG(c, struct hyper_dmabuf_import);
	int buf, tl, ret;

	buf = ctx_fd(c, buf_alloc(BUF_SIZE));
	if (buf < 0)
		return -ENOMEM;
	tl = swsync_pending(buf);
	if (tl < 0) {
		ksft_print_msg("%s: no pending fence: %s (CONFIG_SW_SYNC, debugfs)\n",
			       c->t->name, strerror(-tl));
		return SETUP_SKIP;
	}
	ctx_fd(c, tl);
	ret = ctx_export(c, c->e->dev, buf, 0);
	a->hid = c->hid;
	a->fd_flags = O_RDONLY | O_CLOEXEC;
	a->flags = (__u32)p;
	a->timeout_ms = p >> 32;
	return ret;
}

static int s_unexport_hid(struct ctx *c, __u64 p)
{
	return ctx_hid(c, p, 0, &ARG(c, struct hyper_dmabuf_unexport)->hid);
}

static int s_unexport_flags(struct ctx *c, __u64 p)
{
	ARG(c, struct hyper_dmabuf_unexport)->flags = p;
	return s_unexport_hid(c, HID_OK);
}

static int s_unexport_delay(struct ctx *c, __u64 p)
{
	ARG(c, struct hyper_dmabuf_unexport)->delay_ms = p;
	return s_unexport_hid(c, HID_OK);
}

/* The id of an export made by another file, flags @p. */
static int s_unexport_other_file(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_unexport *a = ARG(c, struct hyper_dmabuf_unexport);
	int dev2, ret;

	if ((p & ANY_FILE) && !(c->t->flags & A_UNPRIV) && !c->e->cap) {
		ksft_print_msg("%s: needs CAP_SYS_ADMIN\n", c->t->name);
		return SETUP_SKIP;
	}
	dev2 = ctx_fd(c, open(DEV_PATH, O_RDWR | O_CLOEXEC));
	if (dev2 < 0)
		return -errno;
	ret = ctx_export(c, dev2, c->e->buf, 0);
	a->hid = c->hid;
	a->flags = p;
	return ret;
}

/* ANY_FILE with the id spoiled as @p says; needs CAP_SYS_ADMIN. */
static int s_unexport_any_hid(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_unexport *a = ARG(c, struct hyper_dmabuf_unexport);

	if (!c->e->cap) {
		ksft_print_msg("%s: needs CAP_SYS_ADMIN\n", c->t->name);
		return SETUP_SKIP;
	}
	a->flags = HYPER_DMABUF_UNEXPORT_ANY_FILE;
	return ctx_hid(c, p, 0, &a->hid);
}

static int s_query_hid(struct ctx *c, __u64 p)
{
	return ctx_hid(c, p, 0, &ARG(c, struct hyper_dmabuf_query)->hid);
}

static int s_query_pad(struct ctx *c, __u64 p)
{
	ARG(c, struct hyper_dmabuf_query)->pad = p;
	return s_query_hid(c, HID_OK);
}

/* The out members filled with garbage: ignored. */
static int s_query_garbage(struct ctx *c, __u64 p __always_unused)
{
	struct hyper_dmabuf_query *a = ARG(c, struct hyper_dmabuf_query);

	memset(&a->type, 0xff,
	       sizeof(*a) - offsetof(struct hyper_dmabuf_query, type));
	return s_query_hid(c, HID_OK);
}

enum {
	QP_RO, QP_HOLE, QP_STRADDLE, QP_KERNEL, QP_FITS, QP_NULL, QP_RO_SIZE0,
};

/* Where the 16 bytes of private data go. */
static int s_query_priv(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_query *a = ARG(c, struct hyper_dmabuf_query);
	struct env *e = c->e;

	a->priv_buf_size = 16;
	switch (p) {
	case QP_RO:
		a->priv_ptr = (uintptr_t)e->ro;
		break;
	case QP_HOLE:
		a->priv_ptr = (uintptr_t)e->hole;
		break;
	case QP_STRADDLE:
		a->priv_ptr = (uintptr_t)(e->guard - 4);
		break;
	case QP_KERNEL:
		a->priv_ptr = (uintptr_t)KERNEL_PTR;
		break;
	case QP_FITS:
		/* Only priv_buf_size bytes are written: they fit. */
		a->priv_ptr = (uintptr_t)(e->guard - 4);
		a->priv_buf_size = 4;
		break;
	case QP_NULL:
		a->priv_ptr = 0;
		break;
	case QP_RO_SIZE0:
		a->priv_ptr = (uintptr_t)e->ro;
		a->priv_buf_size = 0;
		break;
	}
	if (p == QP_RO || p == QP_RO_SIZE0)
		mprotect(e->ro, PAGE, PROT_READ);
	return s_query_hid(c, HID_OK);
}

/* List of type @p into the scratch page; one export exists. */
static int s_list(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_list *a = ARG(c, struct hyper_dmabuf_list);

	a->hids_ptr = (uintptr_t)c->e->scratch;
	a->type = p;
	a->count = 4;
	return ctx_export(c, c->e->dev, c->e->buf, 0);
}

static int s_list_pad(struct ctx *c, __u64 p)
{
	int ret = s_list(c, HYPER_DMABUF_TYPE_EXPORTED);

	ARG(c, struct hyper_dmabuf_list)->pad = p;
	return ret;
}

enum {
	LH_RO, LH_HOLE, LH_NULL, LH_KERNEL, LH_STRADDLE, LH_NULL_COUNT0,
	LH_FITS, LH_IMPORTED_COUNT0,
};

/* Where the ids go; two exports exist. */
static int s_list_hids(struct ctx *c, __u64 p)
{
	struct hyper_dmabuf_list *a = ARG(c, struct hyper_dmabuf_list);
	struct env *e = c->e;
	int ret = s_list(c, HYPER_DMABUF_TYPE_EXPORTED);

	if (!ret)
		ret = ctx_export2(c);
	switch (p) {
	case LH_RO:
		a->hids_ptr = (uintptr_t)e->ro;
		mprotect(e->ro, PAGE, PROT_READ);
		break;
	case LH_HOLE:
		a->hids_ptr = (uintptr_t)e->hole;
		break;
	case LH_NULL:
		a->hids_ptr = 0;
		break;
	case LH_KERNEL:
		a->hids_ptr = (uintptr_t)KERNEL_PTR;
		break;
	case LH_STRADDLE:
		/* Room for one id before the guard page: two are due. */
		a->hids_ptr = (uintptr_t)(e->guard -
					  sizeof(struct hyper_dmabuf_id));
		a->count = 2;
		break;
	case LH_NULL_COUNT0:
		a->hids_ptr = 0;
		a->count = 0;
		break;
	case LH_FITS:
		a->hids_ptr = (uintptr_t)(e->guard -
					  sizeof(struct hyper_dmabuf_id));
		a->count = 1;
		break;
	case LH_IMPORTED_COUNT0:
		a->hids_ptr = 0;
		a->count = 0;
		a->type = HYPER_DMABUF_TYPE_IMPORTED;
		break;
	}
	return ret;
}

/* ---- checks of what a call returned (NULL: fine) ---------------------- */

static const char *chk_export_made(struct ctx *c)
{
	struct hyper_dmabuf_export *a = c->argp;
	struct hyper_dmabuf_query q;
	__u32 domid = c->e->domid;

	if (a->hid.pad || a->hid.exporter_domid != domid ||
	    a->hid.id >> HYPER_DMABUF_ID_DOMID_SHIFT != (domid & 0xff) ||
	    (a->hid.id & HYPER_DMABUF_ID_SLOT_MASK) >= HYPER_DMABUF_MAX_IDS)
		return "malformed id returned";
	if (query(c->e->dev, &a->hid, &q))
		return "the id returned cannot be queried";
	if (q.type != HYPER_DMABUF_TYPE_EXPORTED || q.size != BUF_SIZE ||
	    q.flags != a->flags || q.priv_size != a->priv_size ||
	    q.importer_domid != a->remote_domid)
		return "the export is not the one asked for";
	return NULL;
}

static const char *chk_import_fd(struct ctx *c)
{
	struct hyper_dmabuf_import *a = c->argp;
	int fl = fcntl(a->fd, F_GETFL), fdfl = fcntl(a->fd, F_GETFD);

	if (fl < 0 || fdfl < 0)
		return "no file descriptor returned";
	if ((fl & O_ACCMODE) != (c->want_fd_flags & O_ACCMODE))
		return "wrong access mode";
	if (!(fdfl & FD_CLOEXEC) != !(c->want_fd_flags & O_CLOEXEC))
		return "wrong close-on-exec flag";
	return NULL;
}

/* The id can no longer be imported (unexported, maybe after a delay). */
static const char *chk_unexported(struct ctx *c)
{
	struct hyper_dmabuf_query q;
	int ret = query(c->e->dev, &c->hid, &q), fd;

	if (ret != -ENOENT && (ret || !q.unexport_pending))
		return "still exported";
	fd = import_fd(c->e->dev, &c->hid, O_RDONLY);
	if (fd >= 0) {
		close(fd);
		return "still importable";
	}
	return fd == -ENOENT ? NULL : "import not -ENOENT";
}

static const char *chk_query(struct ctx *c)
{
	struct hyper_dmabuf_query *a = c->argp;

	if (a->type != HYPER_DMABUF_TYPE_EXPORTED || a->flags ||
	    a->exporter_domid != c->e->domid || a->importer_domid != SELF ||
	    a->size != BUF_SIZE || a->busy != c->busy ||
	    a->unexport_pending || a->priv_size != c->priv_len || a->state)
		return "wrong description";
	return NULL;
}

static const char *chk_query_fits(struct ctx *c)
{
	if (memcmp(c->e->guard - 4, priv16, 4))
		return "the first 4 bytes of private data not written";
	return chk_query(c);
}

static const char *chk_list(struct ctx *c)
{
	struct hyper_dmabuf_list *a = c->argp;
	const struct hyper_dmabuf_id *h = (void *)(uintptr_t)a->hids_ptr;
	__u32 i;

	if (a->total < 1u + c->have_hid2 || a->count > a->total ||
	    a->count > 4)
		return "wrong count or total";
	for (i = 0; i < a->count; i++)
		if (h[i].pad || h[i].exporter_domid != c->e->domid)
			return "malformed id listed";
	return NULL;
}

static const char *chk_list_count0(struct ctx *c)
{
	struct hyper_dmabuf_list *a = c->argp;

	if (a->count || a->total < 2)
		return "wrong count or total";
	return NULL;
}

static const char *chk_list_imported0(struct ctx *c)
{
	struct hyper_dmabuf_list *a = c->argp;

	/* Loopback exports are not imports; the total is whatever it is. */
	return a->count ? "wrong count" : NULL;
}

static const char *chk_list_one(struct ctx *c)
{
	struct hyper_dmabuf_list *a = c->argp;

	if (a->count != 1 || a->total < 2)
		return "wrong count or total";
	return chk_list(c);
}

static const char *chk_pending(struct ctx *c)
{
	struct hyper_dmabuf_query q;

	if (query(c->e->dev, &c->hid, &q) ||
	    !(q.state & HYPER_DMABUF_QUERY_F_PENDING_IDLE))
		return "the export is not waiting for its fence";
	return NULL;
}

/* A case: name, command, setup, its parameter, expected errnos, extras. */
#define C(n, c, s, prm, e, ...) \
	{ .name = n, .cmd = c, .setup = s, .p = prm, .err = e, __VA_ARGS__ }

static const struct hd_case cases[] = {
	/* Unknown commands. */
	C("nr_5", CMD(RW, 5, 48), s_export, 0, E(ENOTTY)),
	C("nr_5_no_dir", CMD(_IOC_NONE, 5, 0), s_zero, 0, E(ENOTTY)),
	C("nr_0x3f", CMD(RW, 0x3f, 80), s_zero, 0, E(ENOTTY)),
	C("nr_0xff", CMD(RW, 0xff, 24), s_zero, 0, E(ENOTTY)),
	C("nr_0x80_write", CMD(_IOC_WRITE, 0x80, 32), s_zero, 0, E(ENOTTY)),
	C("cmd_0", 0, s_zero, 0, E(ENOTTY)),
	C("magic_x_export", _IOWR('x', 0, struct hyper_dmabuf_export), s_export,
	  0, E(ENOTTY)),
	C("magic_b8_export", _IOWR(0xB8, 0, struct hyper_dmabuf_export),
	  s_export, 0, E(ENOTTY)),
	C("magic_ba_import", _IOWR(0xBA, 1, struct hyper_dmabuf_import),
	  s_import_hid, HID_OK, E(ENOTTY)),
	C("magic_0_query", _IOWR(0, 3, struct hyper_dmabuf_query), s_query_hid,
	  HID_OK, E(ENOTTY)),
	/* Right number, wrong direction. */
	C("export_dir_write", _IOW(MAGIC, 0, struct hyper_dmabuf_export),
	  s_export, 0, E(ENOTTY)),
	C("export_dir_read", _IOR(MAGIC, 0, struct hyper_dmabuf_export),
	  s_export, 0, E(ENOTTY)),
	C("export_dir_none", CMD(_IOC_NONE, 0, 48), s_export, 0, E(ENOTTY)),
	C("import_dir_write", _IOW(MAGIC, 1, struct hyper_dmabuf_import),
	  s_import_hid, HID_OK, E(ENOTTY)),
	C("import_dir_none", CMD(_IOC_NONE, 1, 40), s_import_hid, HID_OK,
	  E(ENOTTY)),
	C("unexport_dir_rw", _IOWR(MAGIC, 2, struct hyper_dmabuf_unexport),
	  s_unexport_hid, HID_OK, E(ENOTTY)),
	C("unexport_dir_read", _IOR(MAGIC, 2, struct hyper_dmabuf_unexport),
	  s_unexport_hid, HID_OK, E(ENOTTY)),
	C("query_dir_write", _IOW(MAGIC, 3, struct hyper_dmabuf_query),
	  s_query_hid, HID_OK, E(ENOTTY)),
	C("query_dir_read", _IOR(MAGIC, 3, struct hyper_dmabuf_query),
	  s_query_hid, HID_OK, E(ENOTTY)),
	C("list_dir_read", _IOR(MAGIC, 4, struct hyper_dmabuf_list), s_list,
	  T_EXP, E(ENOTTY)),
	C("list_dir_none", CMD(_IOC_NONE, 4, 0), s_list, T_EXP, E(ENOTTY)),

	/* Smaller than the first version. */
	C("export_size_47", CMD(RW, 0, 47), s_export, 0, E(EINVAL)),
	C("export_size_0", CMD(RW, 0, 0), s_export, 0, E(EINVAL)),
	C("import_size_31", CMD(RW, 1, 31), s_import_hid, HID_OK, E(EINVAL)),
	C("unexport_size_31", CMD(_IOC_WRITE, 2, 31), s_unexport_hid, HID_OK,
	  E(EINVAL)),
	C("query_size_79", CMD(RW, 3, 79), s_query_hid, HID_OK, E(EINVAL)),
	C("query_size_16", CMD(RW, 3, 16), s_query_hid, HID_OK, E(EINVAL)),
	C("list_size_23", CMD(RW, 4, 23), s_list, T_EXP, E(EINVAL)),
	/* Larger, with a non-zero tail. */
	C("export_tail_nonzero", CMD(RW, 0, 56), s_export, 0, E(E2BIG),
	  .flags = A_TAIL),
	C("import_tail_nonzero", CMD(RW, 1, 48), s_import_hid, HID_OK, E(E2BIG),
	  .flags = A_TAIL),
	C("unexport_tail_nonzero", CMD(_IOC_WRITE, 2, 40), s_unexport_hid,
	  HID_OK, E(E2BIG), .flags = A_TAIL),
	C("query_tail_nonzero", CMD(RW, 3, 88), s_query_hid, HID_OK, E(E2BIG),
	  .flags = A_TAIL),
	C("list_tail_nonzero", CMD(RW, 4, 32), s_list, T_EXP, E(E2BIG),
	  .flags = A_TAIL),
	C("query_tail_nonzero_max_size", CMD(RW, 3, _IOC_SIZEMASK), s_query_hid,
	  HID_OK, E(E2BIG), .flags = A_TAIL),
	C("query_tail_unreadable", CMD(RW, 3, 96), s_query_hid, HID_OK,
	  E(EFAULT), .flags = A_END),
	/* Controls: older and newer structures. */
	C("export_tail_zero", CMD(RW, 0, 56), s_export, 0, E(0),
	  .check = chk_export_made),
	C("import_size_ver0", CMD(RW, 1, 32), s_import_hid, HID_OK, E(0),
	  .check = chk_import_fd),
	C("import_size_36", CMD(RW, 1, 36), s_import_hid, HID_OK, E(0),
	  .check = chk_import_fd),
	C("import_tail_zero", CMD(RW, 1, 48), s_import_hid, HID_OK, E(0),
	  .check = chk_import_fd),
	C("unexport_tail_zero", CMD(_IOC_WRITE, 2, 40), s_unexport_hid, HID_OK,
	  E(0), .check = chk_unexported),
	C("query_tail_zero", CMD(RW, 3, 88), s_query_hid, HID_OK, E(0),
	  .check = chk_query),
	C("list_tail_zero", CMD(RW, 4, 32), s_list, T_EXP, E(0),
	  .check = chk_list),

	/* Argument pointers. */
	C("export_arg_null", EXPORT, s_export, 0, E(EFAULT), .flags = A_NULL),
	C("import_arg_null", IMPORT, s_import_hid, HID_OK, E(EFAULT),
	  .flags = A_NULL),
	C("unexport_arg_null", UNEXPORT, s_unexport_hid, HID_OK, E(EFAULT),
	  .flags = A_NULL),
	C("query_arg_null", QUERY, s_query_hid, HID_OK, E(EFAULT),
	  .flags = A_NULL),
	C("list_arg_null", LIST, s_list, T_EXP, E(EFAULT), .flags = A_NULL),
	C("export_arg_unmapped", EXPORT, s_export, 0, E(EFAULT),
	  .flags = A_HOLE),
	C("import_arg_unmapped", IMPORT, s_import_hid, HID_OK, E(EFAULT),
	  .flags = A_HOLE),
	C("unexport_arg_unmapped", UNEXPORT, s_unexport_hid, HID_OK, E(EFAULT),
	  .flags = A_HOLE),
	C("query_arg_unmapped", QUERY, s_query_hid, HID_OK, E(EFAULT),
	  .flags = A_HOLE),
	C("list_arg_unmapped", LIST, s_list, T_EXP, E(EFAULT), .flags = A_HOLE),
	C("export_arg_kernel", EXPORT, s_export, 0, E(EFAULT),
	  .flags = A_KERNEL),
	C("unexport_arg_kernel", UNEXPORT, s_unexport_hid, HID_OK, E(EFAULT),
	  .flags = A_KERNEL),
	C("export_arg_straddles_guard", EXPORT, s_export, 0, E(EFAULT),
	  .flags = A_STRADDLE),
	C("import_arg_straddles_guard", IMPORT, s_import_hid, HID_OK, E(EFAULT),
	  .flags = A_STRADDLE),
	/* Read-only: the call is made, its result cannot be written back. */
	C("export_arg_readonly", EXPORT, s_export, 0, E(EFAULT), .flags = A_RO),
	C("import_arg_readonly", IMPORT, s_import_hid, HID_OK, E(EFAULT),
	  .flags = A_RO),
	C("query_arg_readonly", QUERY, s_query_hid, HID_OK, E(EFAULT),
	  .flags = A_RO),
	C("list_arg_readonly", LIST, s_list, T_EXP, E(EFAULT), .flags = A_RO),
	/* Control: UNEXPORT writes nothing back. */
	C("unexport_arg_readonly", UNEXPORT, s_unexport_hid, HID_OK, E(0),
	  .flags = A_RO, .check = chk_unexported),

	/* EXPORT */
	C("export_fd_minus1", EXPORT, s_export_fd, FD_MINUS1, E(EBADF)),
	C("export_fd_closed", EXPORT, s_export_fd, FD_CLOSED, E(EBADF)),
	C("export_fd_int_max", EXPORT, s_export_fd, FD_INT_MAX, E(EBADF)),
	C("export_fd_o_path", EXPORT, s_export_fd, FD_O_PATH, E(EBADF)),
	C("export_fd_not_dmabuf_device", EXPORT, s_export_fd, FD_DEV, E(EINVAL),
	  .doc = DOC_NOT_DMABUF),
	C("export_fd_not_dmabuf_pipe", EXPORT, s_export_fd, FD_PIPE, E(EINVAL),
	  .doc = DOC_NOT_DMABUF),
	C("export_fd_not_dmabuf_memfd", EXPORT, s_export_fd, FD_MEMFD,
	  E(EINVAL), .doc = DOC_NOT_DMABUF),
	C("export_flags_bit1", EXPORT, s_export, 1U << 1, E(EINVAL)),
	C("export_flags_bit2", EXPORT, s_export, 1U << 2, E(EINVAL)),
	C("export_flags_bit3", EXPORT, s_export, 1U << 3, E(EINVAL)),
	C("export_flags_bit8", EXPORT, s_export, 1U << 8, E(EINVAL)),
	C("export_flags_bit16", EXPORT, s_export, 1U << 16, E(EINVAL)),
	C("export_flags_bit24", EXPORT, s_export, 1U << 24, E(EINVAL)),
	C("export_flags_bit30", EXPORT, s_export, 1U << 30, E(EINVAL)),
	C("export_flags_bit31", EXPORT, s_export, 1U << 31, E(EINVAL)),
	C("export_flags_all", EXPORT, s_export, ~0U, E(EINVAL)),
	C("export_flags_rdwr_bit1", EXPORT, s_export,
	  HYPER_DMABUF_EXPORT_RDWR | 2, E(EINVAL)),
	C("export_priv_size_193", EXPORT, s_export_priv, EP_OVERSIZE,
	  E(EINVAL)),
	C("export_priv_size_u32_max", EXPORT, s_export_priv, EP_SIZE_MAX,
	  E(EINVAL)),
	C("export_priv_null", EXPORT, s_export_priv, EP_NULL, E(EFAULT)),
	C("export_priv_unmapped", EXPORT, s_export_priv, EP_HOLE, E(EFAULT)),
	C("export_priv_straddles_guard", EXPORT, s_export_priv, EP_STRADDLE,
	  E(EFAULT)),
	C("export_priv_kernel", EXPORT, s_export_priv, EP_KERNEL, E(EFAULT)),
	C("export_rdwr_readonly_dmabuf", EXPORT, s_export_ro_dmabuf, 0,
	  E(EACCES)),
	C("export_again_other_flags", EXPORT, s_export_other_flags, 0,
	  E(EINVAL)),
	C("export_domid_io", EXPORT, s_export_domid, XEN_DOMID_IO, REMOTE_BAD,
	  .flags = A_DOC_BACKEND, .doc = DOC_RESERVED),
	C("export_domid_xen", EXPORT, s_export_domid, XEN_DOMID_XEN, REMOTE_BAD,
	  .flags = A_DOC_BACKEND, .doc = DOC_RESERVED),
	C("export_domid_invalid", EXPORT, s_export_domid, XEN_DOMID_INVALID,
	  REMOTE_BAD, .flags = A_DOC_BACKEND, .doc = DOC_RESERVED),
	C("export_domid_idle", EXPORT, s_export_domid, XEN_DOMID_IDLE,
	  REMOTE_BAD, .flags = A_DOC_BACKEND, .doc = DOC_RESERVED),
	C("export_domid_0xffff", EXPORT, s_export_domid, 0xFFFF, REMOTE_BAD,
	  .flags = A_DOC_BACKEND, .doc = DOC_RESERVED),
	C("export_domid_0x10000", EXPORT, s_export_domid, 0x10000, REMOTE_BAD,
	  .flags = A_DOC_BACKEND, .doc = DOC_RESERVED),
	C("export_domid_self_plus_0x10000", EXPORT, s_export_domid,
	  SELF + 0x10000, REMOTE_BAD, .flags = A_DOC_BACKEND,
	  .doc = DOC_RESERVED),
	C("export_domid_u32_max", EXPORT, s_export_domid, ~0U, REMOTE_BAD,
	  .flags = A_DOC_BACKEND, .doc = DOC_RESERVED),
	C("export_domid_absent", EXPORT, s_export_domid, DOMID_ABSENT,
	  E3(ENODEV, ESRCH, EACCES)),
	/* Controls. */
	C("export_priv_null_size0", EXPORT, s_export_priv, EP_NULL_SIZE0, E(0),
	  .check = chk_export_made),
	C("export_priv_max", EXPORT, s_export_priv, EP_MAX, E(0),
	  .check = chk_export_made),
	C("export_domid_own", EXPORT, s_export_domid, P_OWN, E(0),
	  .check = chk_export_made),
	C("export_hid_garbage", EXPORT, s_export_garbage, 0, E(0),
	  .check = chk_export_made),

	/* IMPORT */
	C("import_unknown_slot", IMPORT, s_import_hid, HID_UNKNOWN_SLOT,
	  E(ENOENT)),
	C("import_slot_1000", IMPORT, s_import_hid, HID_SLOT_1000, E(ENOENT)),
	C("import_wrong_key", IMPORT, s_import_hid, HID_WRONG_KEY, E(ENOENT)),
	C("import_zero_key", IMPORT, s_import_hid, HID_ZERO_KEY, E(ENOENT)),
	C("import_wrong_exporter_domid", IMPORT, s_import_hid, HID_WRONG_DOMID,
	  E(ENOENT)),
	C("import_id_domid_byte_mismatch", IMPORT, s_import_hid, HID_DOMID_BYTE,
	  E(ENOENT)),
	C("import_hid_pad", IMPORT, s_import_hid, HID_PAD, E(EINVAL)),
	C("import_stale_id", IMPORT, s_import_hid, HID_STALE, E(ENOENT)),
	C("import_unexported_still_imported", IMPORT, s_import_unexported, 0,
	  E(ENOENT)),
	C("import_fd_flags_append", IMPORT, s_import_fd_flags, O_APPEND,
	  E(EINVAL)),
	C("import_fd_flags_nonblock", IMPORT, s_import_fd_flags, O_NONBLOCK,
	  E(EINVAL)),
	C("import_fd_flags_accmode", IMPORT, s_import_fd_flags, O_ACCMODE,
	  E(EINVAL)),
	C("import_fd_flags_trunc", IMPORT, s_import_fd_flags, O_TRUNC,
	  E(EINVAL)),
	C("import_fd_flags_path", IMPORT, s_import_fd_flags, O_PATH, E(EINVAL)),
	C("import_fd_flags_bit31", IMPORT, s_import_fd_flags, 1U << 31,
	  E(EINVAL)),
	C("import_fd_flags_rdwr_append_rdwr_export", IMPORT, s_import_fd_flags,
	  P_RDWR_EXPORT | O_RDWR | O_APPEND, E(EINVAL)),
	C("import_wronly_readonly_export", IMPORT, s_import_fd_flags, O_WRONLY,
	  E(EACCES)),
	C("import_rdwr_readonly_export", IMPORT, s_import_fd_flags, O_RDWR,
	  E(EACCES)),
	C("import_rdwr_cloexec_readonly_export", IMPORT, s_import_fd_flags,
	  O_RDWR | O_CLOEXEC, E(EACCES)),
	C("import_flags_bit1", IMPORT, s_import_flags, 2, E(EINVAL)),
	C("import_flags_bit31", IMPORT, s_import_flags, 1U << 31, E(EINVAL)),
	C("import_flags_nonblock_bit1", IMPORT, s_import_flags, NONBLOCK | 2,
	  E(EINVAL)),
	C("import_pending_nonblock", IMPORT, s_import_pending, NONBLOCK,
	  E(EAGAIN), .check = chk_pending),
	C("import_pending_timeout_30ms", IMPORT, s_import_pending, 30ULL << 32,
	  E(ETIMEDOUT), .check = chk_pending),
	C("import_pending_nonblock_timeout", IMPORT, s_import_pending,
	  NONBLOCK | 30ULL << 32, E(EAGAIN), .check = chk_pending),
	/* Controls. */
	C("import_cloexec", IMPORT, s_import_fd_flags, O_RDONLY | O_CLOEXEC,
	  E(0), .check = chk_import_fd),
	C("import_rdwr_rdwr_export", IMPORT, s_import_fd_flags,
	  P_RDWR_EXPORT | O_RDWR, E(0), .check = chk_import_fd),
	C("import_wronly_rdwr_export", IMPORT, s_import_fd_flags,
	  P_RDWR_EXPORT | O_WRONLY, E(0), .check = chk_import_fd,
	  .doc = DOC_WRONLY),
	C("import_timeout_idle", IMPORT, s_import_flags, 30ULL << 32, E(0),
	  .check = chk_import_fd),
	C("import_nonblock_idle", IMPORT, s_import_flags, NONBLOCK, E(0),
	  .check = chk_import_fd),
	C("import_fd_garbage", IMPORT, s_import_garbage, 0, E(0),
	  .check = chk_import_fd),

	/* UNEXPORT */
	C("unexport_unknown_slot", UNEXPORT, s_unexport_hid, HID_UNKNOWN_SLOT,
	  E(ENOENT)),
	C("unexport_wrong_key", UNEXPORT, s_unexport_hid, HID_WRONG_KEY,
	  E(ENOENT)),
	C("unexport_wrong_exporter_domid", UNEXPORT, s_unexport_hid,
	  HID_WRONG_DOMID, E(ENOENT)),
	C("unexport_id_domid_byte_mismatch", UNEXPORT, s_unexport_hid,
	  HID_DOMID_BYTE, E(ENOENT)),
	C("unexport_hid_pad", UNEXPORT, s_unexport_hid, HID_PAD, E(EINVAL)),
	C("unexport_twice", UNEXPORT, s_unexport_hid, HID_STALE, E(ENOENT)),
	C("unexport_flags_bit1", UNEXPORT, s_unexport_flags, 2, E(EINVAL)),
	C("unexport_flags_any_file_bit31", UNEXPORT, s_unexport_flags,
	  ANY_FILE | 1U << 31, E(EINVAL)),
	C("unexport_delay_over_max", UNEXPORT, s_unexport_delay,
	  HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS + 1, E(EINVAL)),
	C("unexport_delay_u32_max", UNEXPORT, s_unexport_delay, ~0U, E(EINVAL)),
	C("unexport_other_file", UNEXPORT, s_unexport_other_file, 0, E(ENOENT)),
	C("unexport_any_file_unprivileged", UNEXPORT, s_unexport_flags,
	  ANY_FILE, E(EPERM), .flags = A_UNPRIV),
	C("unexport_any_file_other_unprivileged", UNEXPORT,
	  s_unexport_other_file, ANY_FILE, E(EPERM), .flags = A_UNPRIV),
	C("unexport_any_file_wrong_key", UNEXPORT, s_unexport_any_hid,
	  HID_WRONG_KEY, E(ENOENT)),
	C("unexport_any_file_stale", UNEXPORT, s_unexport_any_hid, HID_STALE,
	  E(ENOENT)),
	/* Controls. */
	C("unexport_delay_1ms", UNEXPORT, s_unexport_delay, 1, E(0),
	  .check = chk_unexported),
	C("unexport_any_file_other", UNEXPORT, s_unexport_other_file, ANY_FILE,
	  E(0), .check = chk_unexported),

	/* QUERY */
	C("query_unknown_slot", QUERY, s_query_hid, HID_UNKNOWN_SLOT,
	  E(ENOENT)),
	C("query_wrong_key", QUERY, s_query_hid, HID_WRONG_KEY, E(ENOENT)),
	C("query_wrong_exporter_domid", QUERY, s_query_hid, HID_WRONG_DOMID,
	  E(ENOENT)),
	C("query_id_domid_byte_mismatch", QUERY, s_query_hid, HID_DOMID_BYTE,
	  E(ENOENT)),
	C("query_stale_id", QUERY, s_query_hid, HID_STALE, E(ENOENT)),
	C("query_pad", QUERY, s_query_pad, 1, E(EINVAL)),
	C("query_pad_bit31", QUERY, s_query_pad, 1U << 31, E(EINVAL)),
	C("query_hid_pad", QUERY, s_query_hid, HID_PAD, E(EINVAL)),
	C("query_priv_readonly", QUERY, s_query_priv, QP_RO, E(EFAULT)),
	C("query_priv_unmapped", QUERY, s_query_priv, QP_HOLE, E(EFAULT)),
	C("query_priv_straddles_guard", QUERY, s_query_priv, QP_STRADDLE,
	  E(EFAULT)),
	C("query_priv_kernel", QUERY, s_query_priv, QP_KERNEL, E(EFAULT)),
	/* Controls. */
	C("query_priv_size_fits_before_guard", QUERY, s_query_priv, QP_FITS,
	  E(0), .check = chk_query_fits),
	C("query_priv_null", QUERY, s_query_priv, QP_NULL, E(0),
	  .check = chk_query),
	C("query_priv_readonly_size0", QUERY, s_query_priv, QP_RO_SIZE0, E(0),
	  .check = chk_query),
	C("query_out_garbage", QUERY, s_query_garbage, 0, E(0),
	  .check = chk_query),

	/* LIST */
	C("list_type_0", LIST, s_list, 0, E(EINVAL)),
	C("list_type_3", LIST, s_list, 3, E(EINVAL)),
	C("list_type_u32_max", LIST, s_list, ~0U, E(EINVAL)),
	C("list_pad", LIST, s_list_pad, 1, E(EINVAL)),
	C("list_pad_bit31", LIST, s_list_pad, 1U << 31, E(EINVAL)),
	C("list_hids_readonly", LIST, s_list_hids, LH_RO, E(EFAULT)),
	C("list_hids_unmapped", LIST, s_list_hids, LH_HOLE, E(EFAULT)),
	C("list_hids_null_count4", LIST, s_list_hids, LH_NULL, E(EFAULT)),
	C("list_hids_kernel", LIST, s_list_hids, LH_KERNEL, E(EFAULT)),
	C("list_hids_straddle_guard", LIST, s_list_hids, LH_STRADDLE,
	  E(EFAULT)),
	/* Controls. */
	C("list_hids_null_count0", LIST, s_list_hids, LH_NULL_COUNT0, E(0),
	  .check = chk_list_count0),
	C("list_hids_fit_before_guard", LIST, s_list_hids, LH_FITS, E(0),
	  .check = chk_list_one),
	C("list_imported_null_count0", LIST, s_list_hids, LH_IMPORTED_COUNT0,
	  E(0), .check = chk_list_imported0),
};

/* Where the call gets its argument: the setup filled e->area. */
static void *place_arg(struct env *e, unsigned int flags, unsigned int usize)
{
	unsigned char *p;

	switch (flags & A_WHERE) {
	case A_NULL:
		return NULL;
	case A_HOLE:
		return e->hole;
	case A_KERNEL:
		return KERNEL_PTR;
	case A_RO:
		memcpy(e->ro, e->area, usize);
		mprotect(e->ro, PAGE, PROT_READ);
		return e->ro;
	case A_STRADDLE:
		p = e->guard - 16;
		memmove(p, e->area, 16);
		return p;
	case A_END:
		p = e->guard - (usize - 8);
		memmove(p, e->area, usize - 8);
		return p;
	}
	return e->area;
}

/* The call in a child without CAP_SYS_ADMIN: 0 or its errno. */
static int call_unprivileged(int dev, unsigned int cmd, void *argp)
{
	int status, err = 0;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return 1000;
	if (!pid) {
		if (set_cap_sys_admin(false) || cap_sys_admin())
			_exit(255);
		if (ioctl(dev, cmd, argp))
			err = errno;
		else
			undo_success(dev, cmd, argp);
		_exit(err);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1001;
	return WEXITSTATUS(status);
}

static const char *errname(int err)
{
	static char s[4][32];
	static int which;

	if (!err)
		return "success";
	which = (which + 1) % 4;
	snprintf(s[which], sizeof(s[0]), "%s (%d)", strerror(err), err);
	return s[which];
}

/* Run one case; *skipped counts those whose setup cannot be made here. */
static void run_case(struct __test_metadata *_metadata, struct env *e,
		     const struct hd_case *t, struct ctrs *base, int *skipped)
{
	struct ctx c = { .e = e, .t = t, .hid_dev = e->dev };
	unsigned int usize = _IOC_SIZE(t->cmd);
	int want = t->err[e->kind], got = -1, fd0, ret;
	const char *why;
	struct ctrs now;

	fd0 = lowest_free_fd();
	memset(e->area, 0, ARG_PAGES * PAGE);
	memset(e->scratch, 0, SCRATCH_PAGES * PAGE);
	ret = t->setup(&c, t->p);
	if (ret == SETUP_SKIP) {
		(*skipped)++;
		goto out;
	}
	EXPECT_EQ(0, ret) TH_LOG("%s: setup failed: %s", t->name,
				 strerror(-ret));
	if (ret)
		goto out;
	if (t->flags & A_TAIL)
		e->area[usize - 1] = 0x5a;
	c.argp = place_arg(e, t->flags, usize);

	if (t->flags & A_UNPRIV)
		got = call_unprivileged(e->dev, t->cmd, c.argp);
	else
		got = ioctl(e->dev, t->cmd, c.argp) ? errno : 0;

	EXPECT_EQ(want, got) TH_LOG("%s: %s, expected %s", t->name,
				    errname(got), errname(want));
	if (t->doc && got == want &&
	    (e->kind != ENV_NONE || !(t->flags & A_DOC_BACKEND)))
		ksft_print_msg("%s: %s; uapi: %s\n", t->name, errname(got),
			       t->doc);
	if (t->check && got == want) {
		why = t->check(&c);
		EXPECT_EQ(NULL, why) TH_LOG("%s: %s", t->name, why);
	}
	if (!got && !(t->flags & A_UNPRIV))
		undo_success(e->dev, t->cmd, c.argp);
	/* A failed call changes nothing of the setup's export. */
	if (want && c.hid_alive) {
		struct hyper_dmabuf_query q;

		ret = query(e->dev, &c.hid, &q);
		EXPECT_EQ(0, ret) TH_LOG("%s: the export is gone", t->name);
		if (!ret)
			EXPECT_TRUE(!q.unexport_pending && q.busy == c.busy &&
				    q.priv_size == c.priv_len)
				TH_LOG("%s: the export changed", t->name);
	}
out:
	mprotect(e->ro, PAGE, PROT_READ | PROT_WRITE);
	ctx_teardown(&c);
	EXPECT_TRUE(ctrs_settle(base, &now))
		TH_LOG("%s: counters %s, baseline %s", t->name,
		       ctrs_str(&now), ctrs_str(base));
	/* Judge the next case by its own doing only. */
	*base = now;
	EXPECT_EQ(fd0, lowest_free_fd())
		TH_LOG("%s: a file descriptor was left open", t->name);
}

TEST_F_TIMEOUT(hdi, bad_args, 180)
{
	struct env *e = &self->e;
	int i, bad = 0, skipped = 0;
	struct ctrs base;

	ASSERT_TRUE(unmapped(e->hole));
	for (i = 0; i < (int)ARRAY_SIZE(cases); i++)
		bad += cases[i].err[0] || cases[i].err[1] || cases[i].err[2];
	ksft_print_msg("%d table cases: %d bad calls, %d controls\n",
		       (int)ARRAY_SIZE(cases), bad,
		       (int)ARRAY_SIZE(cases) - bad);
	ASSERT_LE(60, bad);

	ctrs_read(&base);
	for (i = 0; i < (int)ARRAY_SIZE(cases); i++)
		run_case(_metadata, e, &cases[i], &base, &skipped);
	EXPECT_TRUE(unmapped(e->hole));
	if (skipped)
		ksft_print_msg("%d of them could not be set up here\n",
			       skipped);
}

/* ---- random arguments ------------------------------------------------ */

#define LOOP_ITERS	100000
#define LOOP_DEEP_PCT	30	/* iterations that get valid members */
#define LOOP_DEEP_S	25	/* ... while the loop is younger than this */
#define MAX_LIVE	32
#define NR_STALE	8
#define NR_BAD_LOGGED	10
#define PRED_ANY	1	/* success or a documented error */
#define PRED_ERR	2	/* a documented error */

static const unsigned int real_cmds[NR_CMDS] = {
	HYPER_DMABUF_IOCTL_EXPORT, HYPER_DMABUF_IOCTL_IMPORT,
	HYPER_DMABUF_IOCTL_UNEXPORT, HYPER_DMABUF_IOCTL_QUERY,
	HYPER_DMABUF_IOCTL_LIST,
};

/* Size of the first version of each structure, as the driver takes it. */
static const unsigned int min_sizes[NR_CMDS] = { 48, 32, 32, 80, 24 };

/* Every errno include/uapi/linux/hyper_dmabuf.h documents. */
static const int doc_errnos[] = {
	EINVAL, ENOTTY, E2BIG, EFAULT, EBADF, ENOENT, EACCES, ENOSPC, EDQUOT,
	ENODEV, ESRCH, EOPNOTSUPP, EFBIG, ETIMEDOUT, ECONNRESET, EAGAIN, EIO,
	EBADMSG, EINTR, EPERM,
};

static bool documented(int err)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(doc_errnos); i++)
		if (doc_errnos[i] == err)
			return true;
	return false;
}

enum { W_AREA, W_NULL, W_HOLE, W_KERNEL, W_STRADDLE, W_RO };

struct loop {
	struct env *e;
	__u64 rng;
	int dev;		/* file of the loop's exports */
	int pool_dev;		/* file of the export behind ro_buf */
	struct hyper_dmabuf_id pool_hid;
	int bufs[2];		/* read-write dma-bufs */
	int ro_buf;		/* read-only dma-buf: a loopback import */
	struct hyper_dmabuf_id live[MAX_LIVE];
	int nlive;
	struct hyper_dmabuf_id stale[NR_STALE];
	int nstale;
	unsigned long calls[NR_CMDS], ok[NR_CMDS], deep, efault, early;
	unsigned long bad;
};

/* splitmix64 */
static __u64 rnd64(struct loop *l)
{
	__u64 z = (l->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u32 rn(struct loop *l, __u32 n)
{
	return n ? rnd64(l) % n : 0;
}

static bool hid_eq(const struct hyper_dmabuf_id *a,
		   const struct hyper_dmabuf_id *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static int live_find(struct loop *l, const struct hyper_dmabuf_id *hid)
{
	int i;

	for (i = 0; i < l->nlive; i++)
		if (hid_eq(&l->live[i], hid))
			return i;
	return -1;
}

static void live_drop(struct loop *l, int i)
{
	l->stale[rn(l, NR_STALE)] = l->live[i];
	if (l->nstale < NR_STALE)
		l->nstale++;
	l->live[i] = l->live[--l->nlive];
}

/* An id to put into an argument: live, stale, spoiled or random. */
static void pick_hid(struct loop *l, struct hyper_dmabuf_id *hid)
{
	switch (rn(l, 8)) {
	case 0: case 1: case 2: case 3: case 4:
		if (l->nlive)
			*hid = l->live[rn(l, l->nlive)];
		break;
	case 5:
		if (l->nstale)
			*hid = l->stale[rn(l, l->nstale)];
		break;
	case 6:
		if (l->nlive) {
			*hid = l->live[rn(l, l->nlive)];
			((__u32 *)hid)[rn(l, 6)] ^= 1U << rn(l, 32);
		}
		break;
	}
}

/*
 * A user pointer the kernel may be given: scratch memory, or one it cannot
 * access (wholly or in part).  Never a random address: a write through it
 * could hit this process's memory.
 */
static __u64 pick_ptr(struct loop *l)
{
	struct env *e = l->e;

	switch (rn(l, 16)) {
	case 0:
		return 0;
	case 1:
		return (uintptr_t)e->hole;
	case 2:
		return (uintptr_t)KERNEL_PTR;
	case 3:
		return rnd64(l) | 1ULL << 63;
	case 4:
		return (uintptr_t)(e->guard - 8);
	case 5:
		return (uintptr_t)e->ro;
	}
	return (uintptr_t)e->scratch;
}

/* Whether @len bytes at @ptr can be read. */
static bool readable(struct loop *l, __u64 ptr, __u64 len)
{
	struct env *e = l->e;
	uintptr_t p = ptr;

	if (!len)
		return true;
	if (ptr != p)
		return false;
	if (p >= (uintptr_t)e->area && p + len <= (uintptr_t)e->guard)
		return true;
	if (p >= (uintptr_t)e->ro && p + len <= (uintptr_t)e->ro + PAGE)
		return true;
	return p >= (uintptr_t)e->scratch &&
	       p + len <= (uintptr_t)e->scratch + SCRATCH_PAGES * PAGE;
}

static __u32 pick_bad_domid(struct loop *l)
{
	static const __u32 bad[] = {
		XEN_DOMID_IO, XEN_DOMID_XEN, XEN_DOMID_INVALID, XEN_DOMID_IDLE,
		0xFFFF, 0x10000, SELF + 0x10000, DOMID_ABSENT,
	};

	if (rn(l, 4))
		return bad[rn(l, ARRAY_SIZE(bad))];
	return (__u32)rnd64(l) | 0x10000;
}

/* Valid members, each with a high probability, to get past the checks. */
static void sprinkle(struct loop *l, int nr, void *arg)
{
	struct env *e = l->e;

	switch (nr) {
	case NR_EXPORT: {
		struct hyper_dmabuf_export *a = arg;
		static const int choice[] = { 0, 0, 0, 0, 1, 2, 3, 4 };
		int fds[] = { l->bufs[0], l->bufs[1], l->ro_buf, e->dev, -1 };

		if (rn(l, 8))
			a->fd = fds[choice[rn(l, 8)]];
		if (rn(l, 8)) {
			__u32 r = rn(l, 4);

			a->remote_domid = r < 2 ? SELF : r == 2 ? e->domid :
					  pick_bad_domid(l);
		}
		if (rn(l, 8))
			a->flags = rn(l, 3) ? 0 : HYPER_DMABUF_EXPORT_RDWR;
		if (rn(l, 8))
			a->priv_size = rn(l, HYPER_DMABUF_MAX_PRIV + 8);
		a->priv_ptr = rn(l, 8) ? (uintptr_t)e->scratch : pick_ptr(l);
		break;
	}
	case NR_IMPORT: {
		struct hyper_dmabuf_import *a = arg;
		static const __u32 fl[] = {
			O_RDONLY, O_RDONLY, O_RDONLY | O_CLOEXEC, O_RDWR,
			O_RDWR | O_CLOEXEC, O_WRONLY, O_RDONLY | O_APPEND,
		};

		if (rn(l, 8))
			pick_hid(l, &a->hid);
		if (rn(l, 8))
			a->hid.pad = 0;
		if (rn(l, 8))
			a->fd_flags = fl[rn(l, ARRAY_SIZE(fl))];
		if (rn(l, 8))
			a->flags = rn(l, 2) ? 0 : NONBLOCK;
		if (rn(l, 2))
			a->timeout_ms = rn(l, 4) ? 0 : 1 + rn(l, 10);
		break;
	}
	case NR_UNEXPORT: {
		struct hyper_dmabuf_unexport *a = arg;

		if (rn(l, 8))
			pick_hid(l, &a->hid);
		if (rn(l, 8))
			a->hid.pad = 0;
		if (rn(l, 8))
			a->delay_ms = rn(l, 4) ? 0 :
				      HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS + 1;
		if (rn(l, 8))
			a->flags = rn(l, 4) ? 0 : ANY_FILE;
		break;
	}
	case NR_QUERY: {
		struct hyper_dmabuf_query *a = arg;

		if (rn(l, 8))
			pick_hid(l, &a->hid);
		if (rn(l, 8))
			a->hid.pad = 0;
		if (rn(l, 8))
			a->pad = 0;
		if (rn(l, 2))
			a->priv_buf_size = rn(l, 2 * HYPER_DMABUF_MAX_PRIV);
		break;
	}
	case NR_LIST: {
		struct hyper_dmabuf_list *a = arg;

		if (rn(l, 8))
			a->type = 1 + rn(l, 2);
		if (rn(l, 8))
			a->pad = 0;
		if (rn(l, 8))
			a->count = rn(l, 4) ? rn(l, 8) :
				   rn(l, HYPER_DMABUF_MAX_IDS + 100);
		break;
	}
	}
}

/*
 * What every call gets, random or not: no remote domain that could make
 * the export wait for a channel, no import that waits without a short
 * timeout (the first version of the structure has none, but only ids of
 * the loop's own exports can match, and they never wait for fences), no
 * long unexport delay, and known pointers only.  @usize: bytes the kernel
 * sees; the rest reads as zero.
 */
static void sanitize(struct loop *l, int nr, void *arg, unsigned int usize)
{
	struct env *e = l->e;

	switch (nr) {
	case NR_EXPORT: {
		struct hyper_dmabuf_export *a = arg;

		if (a->remote_domid != SELF && a->remote_domid != e->domid &&
		    a->remote_domid < XEN_DOMID_FIRST_RESERVED &&
		    a->remote_domid != DOMID_ABSENT)
			a->remote_domid = pick_bad_domid(l);
		if (!readable(l, a->priv_ptr, 1) && a->priv_ptr != 0)
			a->priv_ptr = pick_ptr(l);
		break;
	}
	case NR_IMPORT: {
		struct hyper_dmabuf_import *a = arg;
		bool timeout = usize >= sizeof(*a) && a->timeout_ms &&
			       a->timeout_ms <= 20;

		if (usize > offsetof(struct hyper_dmabuf_import, flags) &&
		    !(a->flags & NONBLOCK) && !timeout)
			a->flags |= NONBLOCK;
		break;
	}
	case NR_UNEXPORT: {
		struct hyper_dmabuf_unexport *a = arg;

		if (a->delay_ms <= HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS)
			a->delay_ms %= 6;
		break;
	}
	case NR_QUERY:
		((struct hyper_dmabuf_query *)arg)->priv_ptr = pick_ptr(l);
		break;
	case NR_LIST:
		((struct hyper_dmabuf_list *)arg)->hids_ptr = pick_ptr(l);
		break;
	}
}

/*
 * The error (-errno) that follows from the command and the argument
 * alone, or PRED_ANY / PRED_ERR.  @k: the structure as the kernel sees
 * it; @tail: offset of a non-zero byte beyond it, or 0; @mapped: bytes
 * readable at the argument pointer for W_STRADDLE.  The tail is checked
 * first, word by word: a non-zero byte before the guard page is found
 * before the fault.
 */
static int predict(struct loop *l, unsigned int cmd, int where,
		   unsigned int tail, unsigned int mapped, const void *k)
{
	unsigned int nr = _IOC_NR(cmd), usize = _IOC_SIZE(cmd);

	if (nr >= NR_CMDS || _IOC_DIR(cmd) != _IOC_DIR(real_cmds[nr]))
		return -ENOTTY;
	if (usize < min_sizes[nr])
		return -EINVAL;
	if (tail && (where == W_AREA || where == W_RO ||
		     (where == W_STRADDLE && tail < mapped)))
		return -E2BIG;
	if (where != W_AREA && where != W_RO)
		return -EFAULT;
	switch (nr) {
	case NR_EXPORT: {
		const struct hyper_dmabuf_export *a = k;

		if (a->flags & ~HYPER_DMABUF_EXPORT_VALID_FLAGS ||
		    a->priv_size > HYPER_DMABUF_MAX_PRIV)
			return -EINVAL;
		if (!readable(l, a->priv_ptr, a->priv_size))
			return -EFAULT;
		break;
	}
	case NR_IMPORT: {
		const struct hyper_dmabuf_import *a = k;

		if (a->fd_flags & ~(O_CLOEXEC | O_ACCMODE) ||
		    (a->fd_flags & O_ACCMODE) == O_ACCMODE || a->hid.pad ||
		    a->flags & ~HYPER_DMABUF_IMPORT_VALID_FLAGS)
			return -EINVAL;
		break;
	}
	case NR_UNEXPORT: {
		const struct hyper_dmabuf_unexport *a = k;

		if (a->flags & ~HYPER_DMABUF_UNEXPORT_VALID_FLAGS)
			return -EINVAL;
		if (a->flags & ANY_FILE && !l->e->cap)
			return -EPERM;
		if (a->delay_ms > HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS ||
		    a->hid.pad)
			return -EINVAL;
		break;
	}
	case NR_QUERY: {
		const struct hyper_dmabuf_query *a = k;

		if (a->pad || a->hid.pad)
			return -EINVAL;
		break;
	}
	case NR_LIST: {
		const struct hyper_dmabuf_list *a = k;

		if (a->pad || (a->type != T_EXP && a->type != T_IMP))
			return -EINVAL;
		break;
	}
	}
	return where == W_RO && (_IOC_DIR(cmd) & _IOC_READ) ? PRED_ERR :
							       PRED_ANY;
}

/* @got, @want: 0 or -errno, or PRED_* for @want. */
static void loop_bad(struct loop *l, unsigned long i, unsigned int cmd,
		     const char *what, int got, int want)
{
	if (l->bad++ < NR_BAD_LOGGED)
		ksft_print_msg("iteration %lu: cmd %#x: %s: %s, expected %s\n",
			       i, cmd, what, errname(-got),
			       want == PRED_ANY ? "any documented result" :
			       want == PRED_ERR ? "a documented error" :
			       errname(-want));
}

/* Book-keeping after a call that succeeded. */
static void loop_success(struct loop *l, unsigned long i, unsigned int cmd,
			 void *argp, __u32 in_count)
{
	struct env *e = l->e;
	int nr = _IOC_NR(cmd), j, ret;

	l->ok[nr]++;
	switch (nr) {
	case NR_EXPORT: {
		struct hyper_dmabuf_export *a = argp;

		if (a->hid.pad || a->hid.exporter_domid != e->domid)
			loop_bad(l, i, cmd, "malformed id", 0, PRED_ERR);
		if (live_find(l, &a->hid) >= 0)
			break;
		if (l->nlive == MAX_LIVE) {
			j = rn(l, MAX_LIVE);
			ret = hd_unexport(l->dev, &l->live[j]);
			if (ret)
				loop_bad(l, i, cmd, "unexport of a live id",
					 ret, 0);
			live_drop(l, j);
		}
		l->live[l->nlive++] = a->hid;
		break;
	}
	case NR_IMPORT: {
		struct hyper_dmabuf_import *a = argp;

		if (close(a->fd))
			loop_bad(l, i, cmd, "import fd", -errno, 0);
		break;
	}
	case NR_UNEXPORT: {
		struct hyper_dmabuf_unexport *a = argp;

		j = live_find(l, &a->hid);
		if (j < 0)
			loop_bad(l, i, cmd, "unexported an id not ours", 0,
				 -ENOENT);
		else
			live_drop(l, j);
		break;
	}
	case NR_QUERY: {
		struct hyper_dmabuf_query *a = argp;

		if (a->type != T_EXP || a->exporter_domid != e->domid ||
		    !a->size)
			loop_bad(l, i, cmd, "query of an export", 0, PRED_ERR);
		break;
	}
	case NR_LIST: {
		struct hyper_dmabuf_list *a = argp;

		if (a->count > in_count || a->count > a->total)
			loop_bad(l, i, cmd, "list count", 0, PRED_ERR);
		break;
	}
	}
}

static void loop_iter(struct loop *l, unsigned long i, bool deep)
{
	unsigned int cmd, usize, ksize = 0, n, nr, off, tail = 0, mapped = 0;
	int eff = -1, where = W_AREA, want, got;
	struct env *e = l->e;
	__u32 in_count = 0;
	void *argp;

	if (rn(l, 16) < 14) {
		nr = rn(l, NR_CMDS);
		cmd = real_cmds[nr];
		usize = _IOC_SIZE(cmd);
		if (!rn(l, 8)) {
			switch (rn(l, 4)) {
			case 0:
				usize = rn(l, min_sizes[nr]);
				break;
			case 1:
				usize = min_sizes[nr] +
					rn(l, usize - min_sizes[nr] + 1);
				break;
			case 2:
				usize += 1 + rn(l, 64);
				break;
			default:
				usize = rn(l, _IOC_SIZEMASK + 1);
			}
		}
		cmd = _IOC(_IOC_DIR(cmd), MAGIC, nr, usize);
	} else {
		nr = rn(l, 2) ? rn(l, 8) : rn(l, 256);
		usize = rn(l, 2) ? rn(l, 128) : rn(l, _IOC_SIZEMASK + 1);
		cmd = _IOC(rn(l, 4), MAGIC, nr, usize);
	}
	if (nr < NR_CMDS && _IOC_DIR(cmd) == _IOC_DIR(real_cmds[nr]) &&
	    usize >= min_sizes[nr]) {
		eff = nr;
		ksize = _IOC_SIZE(real_cmds[nr]);
	}

	/* Random bytes for the structure; a tail zero or not. */
	n = eff >= 0 ? (usize < ksize ? usize : ksize) :
		       (usize < 128 ? usize : 128);
	memset(e->area, 0, usize > ksize ? usize : ksize);
	for (off = 0; off < n; off += 8) {
		__u64 r = rnd64(l);

		memcpy(e->area + off, &r, n - off < 8 ? n - off : 8);
	}
	if (eff >= 0) {
		if (usize > ksize && rn(l, 2)) {
			tail = ksize + rn(l, usize - ksize);
			e->area[tail] = 1 + rn(l, 255);
		}
		if (deep) {
			sprinkle(l, eff, e->area);
			l->deep++;
		}
		sanitize(l, eff, e->area, usize);
		/* Beyond the user's size the kernel sees zeros. */
		if (usize < ksize)
			memset(e->area + usize, 0, ksize - usize);
		if (eff == NR_LIST)
			in_count = ((struct hyper_dmabuf_list *)e->area)->count;
	}

	switch (rn(l, 32)) {
	case 0:
		where = W_NULL;
		argp = NULL;
		break;
	case 1:
		where = W_HOLE;
		argp = e->hole;
		break;
	case 2:
		where = W_KERNEL;
		argp = KERNEL_PTR;
		break;
	case 3:
		/* The first half mapped, the rest in the guard page. */
		where = W_STRADDLE;
		mapped = usize / 2 ? usize / 2 : 1;
		argp = e->guard - mapped;
		memmove(argp, e->area, mapped);
		break;
	case 4:
		argp = e->area;
		if (usize > PAGE)
			break;
		where = W_RO;
		memcpy(e->ro, e->area, usize);
		mprotect(e->ro, PAGE, PROT_READ);
		argp = e->ro;
		break;
	default:
		argp = e->area;
	}

	want = predict(l, cmd, where, tail, mapped, e->area);
	got = ioctl(l->dev, cmd, argp) ? -errno : 0;
	if (where == W_RO)
		mprotect(e->ro, PAGE, PROT_READ | PROT_WRITE);
	if (eff >= 0)
		l->calls[eff]++;
	else
		l->early++;
	l->efault += got == -EFAULT;

	if (want <= 0 ? got != want :
	    got ? !documented(-got) : want == PRED_ERR)
		loop_bad(l, i, cmd, "result", got, want);
	else if (!got)
		loop_success(l, i, cmd, argp, in_count);
}

static unsigned long loop_iters(void)
{
	const char *s = getenv("HD_IOCTL_ITERS");
	unsigned long n;
	char *end;

	if (!s || !*s)
		return LOOP_ITERS;
	errno = 0;
	n = strtoul(s, &end, 0);
	if (errno || *end || !n) {
		ksft_print_msg("HD_IOCTL_ITERS=%s is not a count: %d\n", s,
			       LOOP_ITERS);
		return LOOP_ITERS;
	}
	return n;
}

static __u64 loop_seed(void)
{
	const char *s = getenv("HD_IOCTL_SEED");
	char *end;
	__u64 seed;

	if (!s || !*s)
		return 0x68645f696f63746cULL;	/* "hd_ioctl" */
	errno = 0;
	seed = strtoull(s, &end, 0);
	if (errno || *end) {
		ksft_print_msg("HD_IOCTL_SEED=%s is not a number: default seed\n",
			       s);
		return 0x68645f696f63746cULL;
	}
	return seed;
}

TEST_F_TIMEOUT(hdi, random_args, 300)
{
	struct env *e = &self->e;
	struct loop l = { .e = e, .pool_dev = -1, .ro_buf = -1 };
	struct ctrs base, now;
	bool deep_off = false;
	unsigned long i, iters = loop_iters();
	double start;
	int j, fd0;

	ASSERT_TRUE(unmapped(e->hole));
	l.rng = loop_seed();
	ksft_print_msg("seed %#llx (HD_IOCTL_SEED), %lu iterations %s\n",
		       (unsigned long long)l.rng, iters, "(HD_IOCTL_ITERS)");
	fd0 = lowest_free_fd();
	ctrs_read(&base);

	l.dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, l.dev);
	l.pool_dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, l.pool_dev);
	l.bufs[0] = e->buf;
	l.bufs[1] = buf_alloc(PAGE);
	ASSERT_LE(0, l.bufs[1]);
	ASSERT_EQ(0, export_self(l.pool_dev, e->buf, 0, NULL, 0, &l.pool_hid));
	l.ro_buf = import_fd(l.pool_dev, &l.pool_hid, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, l.ro_buf);

	start = now_s();
	for (i = 0; i < iters; i++) {
		bool deep = rn(&l, 100) < LOOP_DEEP_PCT;

		/* Under emulation: past the budget, fast failures only. */
		if (!deep_off && !(i % 1024) && now_s() - start > LOOP_DEEP_S) {
			deep_off = true;
			ksft_print_msg("%d s, %lu iterations: %s\n",
				       LOOP_DEEP_S, i,
				       "no valid members from now on");
		}
		loop_iter(&l, i, deep && !deep_off);
	}
	ksft_print_msg("%lu iterations in %.1f s: %lu with valid members\n",
		       iters, now_s() - start, l.deep);
	ksft_print_msg("  %lu unknown or short commands, %lu EFAULT\n",
		       l.early, l.efault);
	for (j = 0; j < NR_CMDS; j++)
		ksft_print_msg("  cmd %d: %lu calls, %lu succeeded\n", j,
			       l.calls[j], l.ok[j]);
	EXPECT_EQ(0UL, l.bad) TH_LOG("%lu unexpected results", l.bad);

	for (j = 0; j < l.nlive; j++)
		EXPECT_EQ(0, hd_unexport(l.dev, &l.live[j]))
			TH_LOG("export %d of the loop", j);
	close(l.dev);
	close(l.ro_buf);
	EXPECT_EQ(0, hd_unexport(l.pool_dev, &l.pool_hid));
	close(l.pool_dev);
	close(l.bufs[1]);
	EXPECT_TRUE(ctrs_settle(&base, &now))
		TH_LOG("counters %s, baseline %s", ctrs_str(&now),
		       ctrs_str(&base));
	EXPECT_EQ(fd0, lowest_free_fd());
	EXPECT_TRUE(unmapped(e->hole));
}

TEST_HARNESS_MAIN
