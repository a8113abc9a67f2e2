// SPDX-License-Identifier: GPL-2.0
/*
 * hdbench: the cost of sharing a buffer between two Xen domains, measured
 * side by side for hyper_dmabuf, the mainline gntdev-dmabuf path, a copy
 * over libxenvchan and the raw grant-map floor.  Project tooling, not part
 * of the series (tooling/hdlab bench runs it).
 *
 *   hdbench serve           in the domU: offer a libxenvchan to dom0 and
 *                           carry out whatever role dom0 asks for
 *   hdbench run DOMID TYPE  in dom0: connect to the domU, run the plan,
 *                           print "HDBENCH ..." lines on stdout
 *
 * The two domains coordinate over libxenvchan (never over the driver under
 * test).  Every timed interval starts and ends on the same domain's
 * CLOCK_MONOTONIC: an end-to-end share runs from the exporter's call until
 * the importer's "done" message is back at the exporter, so it includes one
 * vchan message, whose round trip is measured in the same run (method
 * "ping").  The first bytes read in every iteration are checked against
 * the exporter's pattern.
 *
 * Environment (dom0): HDBENCH_SIZES (bytes, space separated),
 * HDBENCH_REPS (timed iterations, default 20), HDBENCH_WARM (untimed ones
 * first, default 2), HDBENCH_STREAM_S (seconds per streaming method,
 * default 10; 0 skips streaming), HDBENCH_DIRS ("d2u u2d").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <linux/hyper_dmabuf.h>
#include <linux/udmabuf.h>
#include <libxenvchan.h>
#include <xenstore.h>
#include <xen/sys/gntalloc.h>
#include <xen/sys/gntdev.h>

#define PAGE_SZ		4096UL
#define RING_BYTES	(1024 * 1024)	/* libxenvchan's largest ring */
#define MAX_SAMPLES	256
#define EVENT_WAIT_MS	20000

enum op {
	OP_HELLO = 1, OP_TRIAL, OP_READY, OP_REFS, OP_DONE, OP_CLEAN,
	OP_CLEANED, OP_DATA, OP_RELEASE, OP_PING, OP_PONG, OP_STOP,
	OP_ABORT, OP_END, OP_QUIT,
};

enum method {
	M_HD = 1,	/* hyper_dmabuf: export .. last byte read */
	M_GNTDEV,	/* gntdev-dmabuf refs over vchan, gntdev map */
	M_COPY,		/* the bytes over vchan into a local buffer */
	M_FLOOR,	/* gntdev map + mmap + touch, refs known */
	M_RESHARE,	/* re-export: until the update event is seen */
	M_RELEASE,	/* importer's release until the id is free */
	M_PING,		/* vchan round trip */
	M_S_HD,		/* streaming: re-share + touch per frame */
	M_S_HD_FULL,	/* streaming: a whole hyper_dmabuf share per frame */
	M_S_GNTDEV,	/* streaming: a whole gntdev share per frame */
	M_S_COPY,	/* streaming: 8 MiB over vchan per frame */
};

static const char *const method_name[] = {
	[M_HD] = "hyper_dmabuf", [M_GNTDEV] = "gntdev", [M_COPY] = "copy",
	[M_FLOOR] = "floor", [M_RESHARE] = "reshare", [M_RELEASE] = "release",
	[M_PING] = "ping", [M_S_HD] = "stream-hyper_dmabuf-reshare",
	[M_S_HD_FULL] = "stream-hyper_dmabuf", [M_S_GNTDEV] = "stream-gntdev",
	[M_S_COPY] = "stream-copy",
};

struct msg {
	uint32_t op;
	uint32_t method;
	uint64_t size;
	uint32_t a;		/* TRIAL: role of the receiver; REFS: count */
	uint32_t b;		/* TRIAL: warm-up iterations */
	uint64_t v;		/* DONE: checksum; TRIAL: timed iterations */
};

/* What a side reports at the end of a trial. */
struct end {
	int32_t status;		/* 0 or -errno */
	uint32_t nsamples;
	uint64_t frames;
	uint64_t cpu_jiffies;	/* /proc/stat busy time of the domain */
	uint64_t rusage_us;	/* this process, user + system */
	uint64_t elapsed_ns;
	char what[48];		/* the call that failed */
	uint64_t samples[MAX_SAMPLES];
};

enum role { ROLE_EXPORTER = 1, ROLE_IMPORTER = 2 };

static struct libxenvchan *chan;
static int hd_dev = -1, gnt_dev = -1, gntalloc_dev = -1, udmabuf_dev = -1;
static unsigned int peer_domid;	/* the other domain */
static int got_end;		/* END arrived while a role waited */
static struct end peer_end;
/* Durations of the last export, import and gntdev map ioctls. */
static uint64_t last_import_ns, last_export_ns, last_map_ns;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "hdbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* --- the channel ------------------------------------------------------ */

static int chan_send(const void *p, size_t len)
{
	const char *c = p;

	while (len) {
		int n = libxenvchan_write(chan, c, len);

		if (n < 0)
			return -EPIPE;
		c += n;
		len -= n;
	}
	return 0;
}

static int chan_recv(void *p, size_t len)
{
	char *c = p;

	while (len) {
		int n = libxenvchan_read(chan, c, len);

		if (n < 0)
			return -EPIPE;
		c += n;
		len -= n;
	}
	return 0;
}

static int send_op(uint32_t op, uint64_t v)
{
	struct msg m = { .op = op, .v = v };

	return chan_send(&m, sizeof(m));
}

/*
 * Waits for a message of type @op.  END or ABORT instead ends the role:
 * the peer failed (END is kept for the closing exchange).
 */
static int expect(uint32_t op, struct msg *out)
{
	struct msg m;

	if (chan_recv(&m, sizeof(m)))
		return -EPIPE;
	if (m.op == OP_END) {
		if (chan_recv(&peer_end, sizeof(peer_end)))
			return -EPIPE;
		got_end = 1;
		return -ECANCELED;
	}
	if (m.op == OP_ABORT)
		return -ECANCELED;
	if (m.op != op) {
		fprintf(stderr, "hdbench: expected message %u, got %u\n", op, m.op);
		return -EPROTO;
	}
	if (out)
		*out = m;
	return 0;
}

/* The closing exchange of a trial: both sides send their END. */
static int exchange_end(struct end *mine, struct end *theirs)
{
	struct msg m = { .op = OP_END };

	if (chan_send(&m, sizeof(m)) || chan_send(mine, sizeof(*mine)))
		return -EPIPE;
	while (!got_end) {
		if (chan_recv(&m, sizeof(m)))
			return -EPIPE;
		if (m.op == OP_END) {
			if (chan_recv(&peer_end, sizeof(peer_end)))
				return -EPIPE;
			got_end = 1;
		} else if (m.op == OP_REFS) {
			/* a REFS payload nobody read */
			uint32_t *skip = malloc(m.a * 4UL);

			if (!skip || chan_recv(skip, m.a * 4UL))
				return -EPIPE;
			free(skip);
		}
	}
	got_end = 0;
	*theirs = peer_end;
	return 0;
}

/* --- buffers ---------------------------------------------------------- */

struct buf {
	int memfd, fd;		/* the memfd and its udmabuf */
	size_t size;		/* rounded up to pages */
	unsigned char *map;	/* the memfd mapped */
	uint64_t sum;		/* expected checksum (first byte of each page) */
};

static uint8_t pattern(size_t page, uint64_t tag)
{
	return (uint8_t)(page * 131 + tag * 17 + 1);
}

static int buf_create(struct buf *b, size_t size, uint64_t tag)
{
	struct udmabuf_create c = { 0 };
	size_t i;

	memset(b, 0, sizeof(*b));
	b->size = (size + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
	b->memfd = memfd_create("hdbench", MFD_ALLOW_SEALING);
	if (b->memfd < 0 || ftruncate(b->memfd, b->size) ||
	    fcntl(b->memfd, F_ADD_SEALS, F_SEAL_SHRINK))
		return -errno;
	b->map = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->memfd, 0);
	if (b->map == MAP_FAILED)
		return -errno;
	for (i = 0; i < b->size / PAGE_SZ; i++) {
		b->map[i * PAGE_SZ] = pattern(i, tag);
		b->map[i * PAGE_SZ + 1] = 1;	/* every page allocated */
		b->sum += pattern(i, tag);
	}
	c.memfd = b->memfd;
	c.size = b->size;
	c.flags = UDMABUF_FLAGS_CLOEXEC;
	b->fd = ioctl(udmabuf_dev, UDMABUF_CREATE, &c);
	return b->fd < 0 ? -errno : 0;
}

static void buf_destroy(struct buf *b)
{
	if (b->fd > 0)
		close(b->fd);
	if (b->map && b->map != MAP_FAILED)
		munmap(b->map, b->size);
	if (b->memfd > 0)
		close(b->memfd);
}

/* Reads one byte of every page: what an importer that looks does. */
static uint64_t touch(const volatile unsigned char *p, size_t size)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < size; i += PAGE_SZ)
		sum += p[i];
	return sum;
}

/* --- hyper_dmabuf ----------------------------------------------------- */

static void drain_events(void)
{
	struct hyper_dmabuf_event ev[8];
	int fl = fcntl(hd_dev, F_GETFL);

	fcntl(hd_dev, F_SETFL, fl | O_NONBLOCK);
	while (read(hd_dev, ev, sizeof(ev)) > 0)
		;
	fcntl(hd_dev, F_SETFL, fl);
}

/* Waits for a NEW_IMPORT event of the peer, an update one if @update. */
static int wait_event(int update, struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_event ev;
	uint64_t deadline = now_ns() + EVENT_WAIT_MS * 1000000ULL;
	struct pollfd pfd = { .fd = hd_dev, .events = POLLIN };

	for (;;) {
		int64_t left = (int64_t)(deadline - now_ns()) / 1000000;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -errno;
		if (!(pfd.revents & POLLIN))
			continue;
		if (read(hd_dev, &ev, sizeof(ev)) != sizeof(ev))
			return -errno ? -errno : -EIO;
		if (ev.type != HYPER_DMABUF_EVENT_NEW_IMPORT ||
		    ev.hid.exporter_domid != peer_domid)
			continue;
		if (!!(ev.event_flags & HYPER_DMABUF_EVENT_F_UPDATE) != update)
			continue;
		*hid = ev.hid;
		return 0;
	}
}

static int hd_export(int fd, uint64_t frame, struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_export arg = {
		.fd = fd, .remote_domid = peer_domid,
		.priv_size = sizeof(frame), .priv_ptr = (uintptr_t)&frame,
	};
	uint64_t t0 = now_ns();

	if (ioctl(hd_dev, HYPER_DMABUF_IOCTL_EXPORT, &arg))
		return -errno;
	last_export_ns = now_ns() - t0;
	*hid = arg.hid;
	return 0;
}

static int hd_unexport(const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_unexport arg = { .hid = *hid };

	return ioctl(hd_dev, HYPER_DMABUF_IOCTL_UNEXPORT, &arg) ? -errno : 0;
}

/* 1 while the id lives, 0 once it is free, -errno on another error. */
static int hd_id_lives(const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_query q = { .hid = *hid };

	if (!ioctl(hd_dev, HYPER_DMABUF_IOCTL_QUERY, &q))
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* Polls until the id is free (100 us apart), at most 20 s. */
static int hd_wait_id_free(const struct hyper_dmabuf_id *hid)
{
	struct timespec ts = { 0, 100000 };
	uint64_t deadline = now_ns() + 20000000000ULL;
	int r;

	while ((r = hd_id_lives(hid)) == 1) {
		if (now_ns() > deadline)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
	return r;
}

static int hd_import(const struct hyper_dmabuf_id *hid, size_t size, int *fd,
		     unsigned char **map)
{
	struct hyper_dmabuf_import arg = {
		.hid = *hid, .fd_flags = O_RDONLY | O_CLOEXEC, .timeout_ms = EVENT_WAIT_MS,
	};
	uint64_t t0 = now_ns();

	if (ioctl(hd_dev, HYPER_DMABUF_IOCTL_IMPORT, &arg))
		return -errno;
	last_import_ns = now_ns() - t0;
	*fd = arg.fd;
	*map = mmap(NULL, size, PROT_READ, MAP_SHARED, arg.fd, 0);
	if (*map == MAP_FAILED) {
		int e = -errno;

		close(arg.fd);
		return e;
	}
	return 0;
}

/*
 * A share's grants end once the peer has really unmapped them, which can
 * be a little after the id is free (the exporter retries after 200 ms,
 * 400 ms, ...): between iterations, wait (untimed) until no grant of an
 * earlier share is held, so that each share starts from the same state
 * and a 64 MiB one fits the grant budget.  Returns the milliseconds
 * waited.
 */
static unsigned int hd_wait_grants_idle(void)
{
	struct timespec ts = { 0, 20000000 };
	unsigned int waited = 0;

	for (;;) {
		FILE *f = fopen("/sys/kernel/debug/hyper_dmabuf/grants_in_use", "r");
		int n = -1;

		if (f) {
			if (fscanf(f, "%d", &n) != 1)
				n = -1;
			fclose(f);
		}
		if (n <= 0 || waited >= 30000)
			return waited;
		nanosleep(&ts, NULL);
		waited += 20;
	}
}

/*
 * Streaming importer: waits until an event is ready (0) or the exporter
 * has ended the stream (1: its STOP is waiting on the channel).
 */
static int wait_event_or_stop(void)
{
	struct pollfd pfd = { .fd = hd_dev, .events = POLLIN };

	for (;;) {
		if (libxenvchan_data_ready(chan))
			return 1;
		if (poll(&pfd, 1, 1) > 0)
			return 0;
	}
}

/* --- gntdev ----------------------------------------------------------- */

static int gnt_imp_to_refs(int dmabuf, size_t count, uint32_t *refs)
{
	struct ioctl_gntdev_dmabuf_imp_to_refs *op;
	int ret = 0;

	op = calloc(1, sizeof(*op) + count * sizeof(uint32_t));
	if (!op)
		return -ENOMEM;
	op->fd = dmabuf;
	op->count = count;
	op->domid = peer_domid;
	if (ioctl(gnt_dev, IOCTL_GNTDEV_DMABUF_IMP_TO_REFS, op))
		ret = -errno;
	else
		memcpy(refs, op->refs, count * sizeof(uint32_t));
	free(op);
	return ret;
}

static int gnt_imp_release(int dmabuf)
{
	struct ioctl_gntdev_dmabuf_imp_release op = { .fd = dmabuf };

	return ioctl(gnt_dev, IOCTL_GNTDEV_DMABUF_IMP_RELEASE, &op) ? -errno : 0;
}

/* Maps @count grants of the peer: the mapping and its gntdev index. */
static int gnt_map(const uint32_t *refs, size_t count, uint64_t *index,
		   unsigned char **map)
{
	struct ioctl_gntdev_map_grant_ref *op;
	size_t i;
	int ret = 0;

	op = malloc(sizeof(*op) + count * sizeof(op->refs[0]));
	if (!op)
		return -ENOMEM;
	op->count = count;
	op->pad = 0;
	for (i = 0; i < count; i++) {
		op->refs[i].domid = peer_domid;
		op->refs[i].ref = refs[i];
	}
	last_map_ns = now_ns();
	if (ioctl(gnt_dev, IOCTL_GNTDEV_MAP_GRANT_REF, op)) {
		ret = -errno;
		goto out;
	}
	last_map_ns = now_ns() - last_map_ns;
	*index = op->index;
	*map = mmap(NULL, count * PAGE_SZ, PROT_READ, MAP_SHARED, gnt_dev, op->index);
	if (*map == MAP_FAILED) {
		struct ioctl_gntdev_unmap_grant_ref un = { .index = op->index, .count = count };

		ret = -errno;
		ioctl(gnt_dev, IOCTL_GNTDEV_UNMAP_GRANT_REF, &un);
	}
out:
	free(op);
	return ret;
}

static void gnt_unmap(uint64_t index, size_t count, unsigned char *map)
{
	struct ioctl_gntdev_unmap_grant_ref un = { .index = index, .count = count };

	munmap(map, count * PAGE_SZ);
	ioctl(gnt_dev, IOCTL_GNTDEV_UNMAP_GRANT_REF, &un);
}

/* --- CPU accounting --------------------------------------------------- */

static uint64_t cpu_busy_jiffies(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		v[0] = 0;
	fclose(f);
	/* user nice system [idle] [iowait] irq softirq steal */
	return v[0] + v[1] + v[2] + v[5] + v[6];
}

static uint64_t rusage_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* --- one trial, one role --------------------------------------------- */

struct trial {
	enum method method;
	size_t size;
	unsigned int warm, reps;	/* streaming: reps = seconds */
	struct end *end;
};

#define FAIL(e, call) do { ret = (e); what = (call); goto fail; } while (0)

static void record(struct trial *t, unsigned int iter, uint64_t ns)
{
	if (iter >= t->warm && t->end->nsamples < MAX_SAMPLES)
		t->end->samples[t->end->nsamples++] = ns;
}

static int check_sum(uint64_t got, uint64_t want)
{
	if (got == want)
		return 0;
	fprintf(stderr, "hdbench: checksum %" PRIu64 ", expected %" PRIu64 "\n", got, want);
	return -EILSEQ;
}

/* hyper_dmabuf, re-share and release: the exporter's side. */
static int hd_exporter(struct trial *t)
{
	unsigned int n = t->warm + t->reps, i, j;
	struct hyper_dmabuf_id hid, again;
	const char *what = "";
	struct buf b;
	struct msg m;
	int ret;

	ret = buf_create(&b, t->size, t->method);
	if (ret)
		FAIL(ret, "UDMABUF_CREATE");
	for (i = 0; i < n; i++) {
		uint64_t t0, t1;

		hd_wait_grants_idle();
		ret = expect(OP_READY, NULL);
		if (ret)
			FAIL(ret, "peer");
		t0 = now_ns();
		ret = hd_export(b.fd, i, &hid);
		/*
		 * Without the debugfs counter (a kernel without it), the
		 * grants of the last share may still be ending: try again,
		 * untimed, and say so.
		 */
		for (j = 0; ret == -ENOSPC && j < 200; j++) {
			struct timespec ts = { 0, 50000000 };

			nanosleep(&ts, NULL);
			t0 = now_ns();
			ret = hd_export(b.fd, i, &hid);
		}
		if (j)
			fprintf(stderr, "hdbench: export of %zu bytes: -ENOSPC %u times\n",
				t->size, j);
		if (ret) {
			send_op(OP_ABORT, 0);
			FAIL(ret, "HYPER_DMABUF_IOCTL_EXPORT");
		}
		ret = expect(OP_DONE, &m);
		t1 = now_ns();
		if (ret)
			FAIL(ret, "peer");
		if (t->method == M_HD) {
			record(t, i, t1 - t0);
			if (i >= t->warm)
				fprintf(stderr, "HDBENCH phase exporter %s %zu %u export %" PRIu64
					"\n", method_name[t->method], t->size, i - t->warm,
					last_export_ns);
		}
		ret = check_sum(m.v, b.sum);
		if (ret)
			FAIL(ret, "bytes read by the importer");
		if (t->method == M_RESHARE) {
			t0 = now_ns();
			ret = hd_export(b.fd, i + 1000, &again);
			if (ret) {
				send_op(OP_ABORT, 0);
				FAIL(ret, "HYPER_DMABUF_IOCTL_EXPORT (again)");
			}
			ret = expect(OP_DONE, &m);
			t1 = now_ns();
			if (ret)
				FAIL(ret, "peer");
			record(t, i, t1 - t0);
			if (again.id != hid.id)
				FAIL(-EPROTO, "re-export gave a new id");
		}
		if (t->method == M_RELEASE) {
			ret = hd_unexport(&hid);
			if (ret)
				FAIL(ret, "HYPER_DMABUF_IOCTL_UNEXPORT");
			t0 = now_ns();
			send_op(OP_RELEASE, 0);
			ret = hd_wait_id_free(&hid);
			t1 = now_ns();
			if (ret)
				FAIL(ret, "id free after the release");
			record(t, i, t1 - t0);
			ret = expect(OP_CLEANED, NULL);
			if (ret)
				FAIL(ret, "peer");
			continue;
		}
		send_op(OP_CLEAN, 0);
		ret = expect(OP_CLEANED, NULL);
		if (ret)
			FAIL(ret, "peer");
		ret = hd_unexport(&hid);
		if (ret)
			FAIL(ret, "HYPER_DMABUF_IOCTL_UNEXPORT");
		ret = hd_wait_id_free(&hid);
		if (ret)
			FAIL(ret, "id free after the unexport");
	}
	buf_destroy(&b);
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	buf_destroy(&b);
	return ret;
}

static int hd_importer(struct trial *t)
{
	unsigned int n = t->warm + t->reps, i;
	struct hyper_dmabuf_id hid, upd;
	const char *what = "";
	unsigned char *map;
	uint64_t sum;
	int fd, ret;

	for (i = 0; i < n; i++) {
		drain_events();
		uint64_t t0, t1, t2, t3;

		send_op(OP_READY, 0);
		t0 = now_ns();
		ret = wait_event(0, &hid);
		if (ret) {
			send_op(OP_ABORT, 0);
			FAIL(ret, "NEW_IMPORT event");
		}
		t1 = now_ns();
		ret = hd_import(&hid, t->size, &fd, &map);
		if (ret) {
			send_op(OP_ABORT, 0);
			FAIL(ret, "HYPER_DMABUF_IOCTL_IMPORT + mmap");
		}
		t2 = now_ns();
		sum = touch(map, t->size);
		t3 = now_ns();
		send_op(OP_DONE, sum);
		if (t->method == M_HD && i >= t->warm)
			fprintf(stderr, "HDBENCH phase importer %s %zu %u ready-to-event %" PRIu64
				" import %" PRIu64 " mmap %" PRIu64 " touch %" PRIu64 "\n",
				method_name[t->method], t->size, i - t->warm, t1 - t0,
				last_import_ns, t2 - t1 - last_import_ns, t3 - t2);
		if (t->method == M_RESHARE) {
			ret = wait_event(1, &upd);
			send_op(ret ? OP_ABORT : OP_DONE, 0);
			if (ret)
				FAIL(ret, "update event");
		}
		if (t->method == M_RELEASE)
			ret = expect(OP_RELEASE, NULL);
		else
			ret = expect(OP_CLEAN, NULL);
		munmap(map, t->size);
		close(fd);
		if (ret)
			FAIL(ret, "peer");
		send_op(OP_CLEANED, 0);
	}
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	return ret;
}

/* gntdev-dmabuf: the exporter's side (the floor's is floor_exporter()). */
static int gnt_exporter(struct trial *t)
{
	unsigned int n = t->warm + t->reps, i;
	size_t count = (t->size + PAGE_SZ - 1) / PAGE_SZ;
	const struct msg m = { .op = OP_REFS, .a = count };
	const char *what = "";
	uint32_t *refs;
	struct msg done;
	struct buf b;
	int ret;

	refs = malloc(count * sizeof(*refs));
	ret = buf_create(&b, t->size, t->method);
	if (ret || !refs)
		FAIL(ret ?: -ENOMEM, "UDMABUF_CREATE");
	for (i = 0; i < n; i++) {
		uint64_t t0, t1;

		ret = expect(OP_READY, NULL);
		if (ret)
			FAIL(ret, "peer");
		t0 = now_ns();
		ret = gnt_imp_to_refs(b.fd, count, refs);
		if (ret) {
			send_op(OP_ABORT, 0);
			FAIL(ret, "IOCTL_GNTDEV_DMABUF_IMP_TO_REFS");
		}
		if (i >= t->warm)
			fprintf(stderr, "HDBENCH phase exporter %s %zu %u imp_to_refs %" PRIu64
				"\n", method_name[t->method], t->size, i - t->warm,
				now_ns() - t0);
		if (chan_send(&m, sizeof(m)) || chan_send(refs, count * sizeof(*refs)))
			FAIL(-EPIPE, "vchan");
		ret = expect(OP_DONE, &done);
		t1 = now_ns();
		if (ret) {
			gnt_imp_release(b.fd);
			FAIL(ret, "peer");
		}
		record(t, i, t1 - t0);
		ret = check_sum(done.v, b.sum);
		if (!ret) {
			send_op(OP_CLEAN, 0);
			ret = expect(OP_CLEANED, NULL);
		}
		gnt_imp_release(b.fd);
		if (ret)
			FAIL(ret, "bytes read by the importer");
	}
	free(refs);
	buf_destroy(&b);
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	free(refs);
	buf_destroy(&b);
	return ret;
}

static int gnt_importer(struct trial *t)
{
	unsigned int n = t->warm + t->reps, i, j, inner = 1;
	size_t count = (t->size + PAGE_SZ - 1) / PAGE_SZ;
	const char *what = "";
	uint32_t *refs = NULL;
	unsigned char *map;
	uint64_t index, sum = 0;
	struct msg m;
	int ret;

	if (t->method == M_FLOOR) {
		inner = n;
		n = 1;
	}
	for (i = 0; i < n; i++) {
		send_op(OP_READY, 0);
		ret = expect(OP_REFS, &m);
		if (ret)
			FAIL(ret, "peer");
		if (m.a != count)
			FAIL(-EPROTO, "refs count");
		free(refs);
		refs = malloc(count * sizeof(*refs));
		if (!refs || chan_recv(refs, count * sizeof(*refs)))
			FAIL(-EPIPE, "vchan");
		for (j = 0; j < inner; j++) {
			uint64_t t0 = now_ns(), t1, t2;

			ret = gnt_map(refs, count, &index, &map);
			if (ret) {
				send_op(OP_ABORT, 0);
				FAIL(ret, "IOCTL_GNTDEV_MAP_GRANT_REF + mmap");
			}
			t2 = now_ns();
			sum = touch(map, t->size);
			t1 = now_ns();
			if (t->method == M_FLOOR)
				record(t, j, t1 - t0);
			if ((t->method == M_FLOOR ? j : i) >= t->warm)
				fprintf(stderr, "HDBENCH phase importer %s %zu %u map_ioctl %"
					PRIu64 " mmap %" PRIu64 " touch %" PRIu64 "\n",
					method_name[t->method], t->size,
					(t->method == M_FLOOR ? j : i) - t->warm, last_map_ns,
					t2 - t0 - last_map_ns, t1 - t2);
			if (t->method == M_GNTDEV)
				send_op(OP_DONE, sum);
			gnt_unmap(index, count, map);
		}
		if (t->method == M_FLOOR)
			send_op(OP_DONE, sum);
		ret = expect(OP_CLEAN, NULL);
		if (ret)
			FAIL(ret, "peer");
		send_op(OP_CLEANED, 0);
	}
	free(refs);
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	free(refs);
	return ret;
}

/*
 * The floor: pages granted with gntalloc once, whose references the
 * importer maps again and again (the mapping alone, no sharing scheme).
 * gntalloc rather than gntdev-dmabuf, whose references are wrong in a PV
 * domU (see the README).
 */
static int floor_exporter(struct trial *t)
{
	size_t count = (t->size + PAGE_SZ - 1) / PAGE_SZ, i;
	struct ioctl_gntalloc_dealloc_gref dealloc = { 0 };
	struct msg m = { .op = OP_REFS, .a = count };
	struct ioctl_gntalloc_alloc_gref *op;
	unsigned char *map = MAP_FAILED;
	const char *what = "";
	uint64_t sum = 0;
	int ret;

	op = calloc(1, sizeof(*op) + count * sizeof(uint32_t));
	if (!op)
		return -ENOMEM;
	op->domid = peer_domid;
	op->flags = GNTALLOC_FLAG_WRITABLE;
	op->count = count;
	ret = expect(OP_READY, NULL);
	if (ret)
		FAIL(ret, "peer");
	if (ioctl(gntalloc_dev, IOCTL_GNTALLOC_ALLOC_GREF, op)) {
		send_op(OP_ABORT, 0);
		FAIL(-errno, "IOCTL_GNTALLOC_ALLOC_GREF");
	}
	dealloc.index = op->index;
	dealloc.count = count;
	map = mmap(NULL, count * PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, gntalloc_dev,
		   op->index);
	if (map == MAP_FAILED) {
		send_op(OP_ABORT, 0);
		FAIL(-errno, "mmap of the gntalloc pages");
	}
	for (i = 0; i < count; i++) {
		map[i * PAGE_SZ] = pattern(i, t->method);
		sum += pattern(i, t->method);
	}
	if (chan_send(&m, sizeof(m)) || chan_send(op->gref_ids, count * sizeof(uint32_t)))
		FAIL(-EPIPE, "vchan");
	ret = expect(OP_DONE, &m);
	if (ret)
		FAIL(ret, "peer");
	ret = check_sum(m.v, sum);
	if (ret)
		FAIL(ret, "bytes read by the importer");
	send_op(OP_CLEAN, 0);
	ret = expect(OP_CLEANED, NULL);
	if (ret)
		FAIL(ret, "peer");
	munmap(map, count * PAGE_SZ);
	ioctl(gntalloc_dev, IOCTL_GNTALLOC_DEALLOC_GREF, &dealloc);
	free(op);
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	if (map != MAP_FAILED)
		munmap(map, count * PAGE_SZ);
	if (dealloc.count)
		ioctl(gntalloc_dev, IOCTL_GNTALLOC_DEALLOC_GREF, &dealloc);
	free(op);
	return ret;
}

/* The copy: the exporter's bytes over vchan into the importer's buffer. */
static int copy_exporter(struct trial *t)
{
	unsigned int n = t->warm + t->reps, i;
	const char *what = "";
	struct buf b;
	struct msg m;
	int ret;

	ret = buf_create(&b, t->size, t->method);
	if (ret)
		FAIL(ret, "UDMABUF_CREATE");
	for (i = 0; i < n; i++) {
		uint64_t t0, t1;

		ret = expect(OP_READY, NULL);
		if (ret)
			FAIL(ret, "peer");
		t0 = now_ns();
		send_op(OP_DATA, b.size);
		if (chan_send(b.map, b.size))
			FAIL(-EPIPE, "vchan");
		ret = expect(OP_DONE, &m);
		t1 = now_ns();
		if (ret)
			FAIL(ret, "peer");
		record(t, i, t1 - t0);
		ret = check_sum(m.v, b.sum);
		if (ret)
			FAIL(ret, "bytes read by the importer");
	}
	buf_destroy(&b);
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	buf_destroy(&b);
	return ret;
}

static int copy_importer(struct trial *t)
{
	unsigned int n = t->warm + t->reps, i;
	size_t size = (t->size + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
	const char *what = "";
	unsigned char *dst;
	struct msg m;
	int ret;

	dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		   MAP_POPULATE, -1, 0);
	if (dst == MAP_FAILED)
		return -errno;
	for (i = 0; i < n; i++) {
		send_op(OP_READY, 0);
		ret = expect(OP_DATA, &m);
		if (ret)
			FAIL(ret, "peer");
		if (m.v != size || chan_recv(dst, size))
			FAIL(-EPIPE, "vchan");
		send_op(OP_DONE, touch(dst, size));
	}
	munmap(dst, size);
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	munmap(dst, size);
	return ret;
}

/*
 * Streaming: frames of t->size for t->reps seconds, as fast as each
 * method goes, in lockstep (the exporter waits for each frame's "done").
 */
static int stream_exporter(struct trial *t)
{
	size_t count = (t->size + PAGE_SZ - 1) / PAGE_SZ;
	uint64_t end_at, frames = 0;
	struct hyper_dmabuf_id hid, again;
	const char *what = "";
	uint32_t *refs = NULL;
	struct buf b;
	struct msg m;
	int ret, shared = 0;

	ret = buf_create(&b, t->size, t->method);
	if (ret)
		FAIL(ret, "UDMABUF_CREATE");
	refs = malloc(count * sizeof(*refs));
	if (!refs)
		FAIL(-ENOMEM, "malloc");
	ret = expect(OP_READY, NULL);
	if (ret)
		FAIL(ret, "peer");
	if (t->method == M_S_HD) {
		/* one share up front, then one re-share per frame */
		ret = hd_export(b.fd, 0, &hid);
		if (ret) {
			send_op(OP_ABORT, 0);
			FAIL(ret, "HYPER_DMABUF_IOCTL_EXPORT");
		}
		shared = 1;
		ret = expect(OP_DONE, &m);
		if (ret)
			FAIL(ret, "peer");
	}
	t->end->cpu_jiffies = cpu_busy_jiffies();
	t->end->rusage_us = rusage_us();
	t->end->elapsed_ns = now_ns();
	end_at = t->end->elapsed_ns + t->reps * 1000000000ULL;
	while (now_ns() < end_at) {
		switch (t->method) {
		case M_S_HD:
			ret = hd_export(b.fd, frames + 1, &again);
			if (ret)
				what = "HYPER_DMABUF_IOCTL_EXPORT (again)";
			break;
		case M_S_HD_FULL:
			ret = hd_export(b.fd, frames, &hid);
			if (ret)
				what = "HYPER_DMABUF_IOCTL_EXPORT";
			break;
		case M_S_GNTDEV:
			ret = gnt_imp_to_refs(b.fd, count, refs);
			if (ret) {
				what = "IOCTL_GNTDEV_DMABUF_IMP_TO_REFS";
				break;
			}
			m.op = OP_REFS;
			m.a = count;
			if (chan_send(&m, sizeof(m)) || chan_send(refs, count * 4))
				ret = -EPIPE;
			break;
		default:
			send_op(OP_DATA, b.size);
			if (chan_send(b.map, b.size))
				ret = -EPIPE;
			break;
		}
		if (ret) {
			send_op(OP_ABORT, 0);
			FAIL(ret, what);
		}
		ret = expect(OP_DONE, &m);
		if (ret)
			FAIL(ret, "peer");
		ret = check_sum(m.v, b.sum);
		if (ret)
			FAIL(ret, "bytes read by the importer");
		if (t->method == M_S_HD_FULL) {
			ret = hd_unexport(&hid);
			if (!ret)
				ret = hd_wait_id_free(&hid);
			if (ret)
				FAIL(ret, "unexport and id free");
		}
		if (t->method == M_S_GNTDEV) {
			ret = expect(OP_CLEANED, NULL);
			gnt_imp_release(b.fd);
			if (ret)
				FAIL(ret, "peer");
		}
		frames++;
	}
	t->end->elapsed_ns = now_ns() - t->end->elapsed_ns;
	t->end->cpu_jiffies = cpu_busy_jiffies() - t->end->cpu_jiffies;
	t->end->rusage_us = rusage_us() - t->end->rusage_us;
	t->end->frames = frames;
	send_op(OP_STOP, 0);
	if (shared) {
		ret = expect(OP_CLEANED, NULL);
		hd_unexport(&hid);
		if (!ret)
			ret = hd_wait_id_free(&hid);
		if (ret)
			FAIL(ret, "unexport");
	}
	free(refs);
	buf_destroy(&b);
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	if (shared)
		hd_unexport(&hid);
	free(refs);
	buf_destroy(&b);
	return ret;
}

static int stream_importer(struct trial *t)
{
	size_t count = (t->size + PAGE_SZ - 1) / PAGE_SZ;
	size_t size = count * PAGE_SZ;
	struct hyper_dmabuf_id hid;
	unsigned char *map = NULL, *dst;
	const char *what = "";
	uint32_t *refs = malloc(count * 4);
	uint64_t frames = 0, index;
	int fd = -1, ret = 0;
	struct msg m;

	dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
		   MAP_POPULATE, -1, 0);
	if (dst == MAP_FAILED || !refs)
		FAIL(-ENOMEM, "buffers");
	drain_events();
	send_op(OP_READY, 0);
	if (t->method == M_S_HD) {
		ret = wait_event(0, &hid);
		if (!ret)
			ret = hd_import(&hid, size, &fd, &map);
		if (ret) {
			send_op(OP_ABORT, 0);
			FAIL(ret, "first share");
		}
		send_op(OP_DONE, touch(map, size));
	}
	t->end->cpu_jiffies = cpu_busy_jiffies();
	t->end->rusage_us = rusage_us();
	t->end->elapsed_ns = now_ns();
	for (;;) {
		uint64_t sum = 0;

		switch (t->method) {
		case M_S_HD:
			/* the update event, or the end of the stream */
			if (wait_event_or_stop())
				goto stop;
			ret = wait_event(1, &hid);
			if (ret)
				what = "update event";
			else
				sum = touch(map, size);
			break;
		case M_S_HD_FULL:
			if (wait_event_or_stop())
				goto stop;
			ret = wait_event(0, &hid);
			if (!ret)
				ret = hd_import(&hid, size, &fd, &map);
			if (ret) {
				what = "import";
				break;
			}
			sum = touch(map, size);
			munmap(map, size);
			close(fd);
			map = NULL;
			break;
		case M_S_GNTDEV:
			if (chan_recv(&m, sizeof(m)))
				FAIL(-EPIPE, "vchan");
			if (m.op == OP_STOP)
				goto stopped;
			if (m.op != OP_REFS || m.a != count || chan_recv(refs, count * 4))
				FAIL(-EPROTO, "refs");
			ret = gnt_map(refs, count, &index, &map);
			if (ret) {
				what = "IOCTL_GNTDEV_MAP_GRANT_REF";
				break;
			}
			sum = touch(map, size);
			break;
		default:
			if (chan_recv(&m, sizeof(m)))
				FAIL(-EPIPE, "vchan");
			if (m.op == OP_STOP)
				goto stopped;
			if (m.op != OP_DATA || m.v != size || chan_recv(dst, size))
				FAIL(-EPROTO, "data");
			sum = touch(dst, size);
			break;
		}
		if (ret) {
			send_op(OP_ABORT, 0);
			FAIL(ret, what);
		}
		send_op(OP_DONE, sum);
		if (t->method == M_S_GNTDEV) {
			gnt_unmap(index, count, map);
			map = NULL;
			send_op(OP_CLEANED, 0);
		}
		frames++;
	}
stop:
	ret = expect(OP_STOP, NULL);
	if (ret)
		FAIL(ret, "peer");
stopped:
	t->end->elapsed_ns = now_ns() - t->end->elapsed_ns;
	t->end->cpu_jiffies = cpu_busy_jiffies() - t->end->cpu_jiffies;
	t->end->rusage_us = rusage_us() - t->end->rusage_us;
	t->end->frames = frames;
	if (t->method == M_S_HD) {
		munmap(map, size);
		close(fd);
		send_op(OP_CLEANED, 0);
	}
	munmap(dst, size);
	free(refs);
	return 0;
fail:
	snprintf(t->end->what, sizeof(t->end->what), "%s", what);
	if (dst != MAP_FAILED)
		munmap(dst, size);
	free(refs);
	return ret;
}

static int run_role(struct trial *t, enum role role)
{
	switch (t->method) {
	case M_HD:
	case M_RESHARE:
	case M_RELEASE:
		return role == ROLE_EXPORTER ? hd_exporter(t) : hd_importer(t);
	case M_GNTDEV:
		return role == ROLE_EXPORTER ? gnt_exporter(t) : gnt_importer(t);
	case M_FLOOR:
		return role == ROLE_EXPORTER ? floor_exporter(t) : gnt_importer(t);
	case M_COPY:
		return role == ROLE_EXPORTER ? copy_exporter(t) : copy_importer(t);
	case M_S_HD:
	case M_S_HD_FULL:
	case M_S_GNTDEV:
	case M_S_COPY:
		return role == ROLE_EXPORTER ? stream_exporter(t) : stream_importer(t);
	case M_PING:
		/* the controller times; the servant answers */
		return 0;
	}
	return -EINVAL;
}

/* --- the two programs ------------------------------------------------- */

static void open_devices(void)
{
	hd_dev = open("/dev/hyper_dmabuf", O_RDWR | O_CLOEXEC);
	gnt_dev = open("/dev/xen/gntdev", O_RDWR | O_CLOEXEC);
	gntalloc_dev = open("/dev/xen/gntalloc", O_RDWR | O_CLOEXEC);
	udmabuf_dev = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (hd_dev < 0 || gnt_dev < 0 || gntalloc_dev < 0 || udmabuf_dev < 0)
		die("cannot open /dev/hyper_dmabuf, /dev/xen/gntdev, gntalloc or /dev/udmabuf: %s",
		    strerror(errno));
}

static int serve(void)
{
	struct xs_handle *xs = xs_open(0);
	char path[64], *self;
	unsigned int len;
	struct msg m;

	if (!xs)
		die("xs_open: %s", strerror(errno));
	self = xs_read(xs, XBT_NULL, "domid", &len);
	if (!self)
		die("no domid in xenstore");
	snprintf(path, sizeof(path), "/local/domain/%s/data/hdbench", self);
	peer_domid = 0;
	open_devices();
	chan = libxenvchan_server_init(NULL, 0, path, RING_BYTES, RING_BYTES);
	if (!chan)
		die("libxenvchan_server_init(%s): %s", path, strerror(errno));
	chan->blocking = 1;
	printf("hdbench: serving at %s\n", path);
	fflush(stdout);
	if (expect(OP_HELLO, NULL) || send_op(OP_HELLO, 0))
		die("no hello from dom0");
	for (;;) {
		struct end mine = { 0 }, theirs;
		struct trial t = { 0 };

		if (chan_recv(&m, sizeof(m)))
			die("channel closed");
		if (m.op == OP_QUIT)
			break;
		if (m.op == OP_PING) {
			send_op(OP_PONG, 0);
			continue;
		}
		if (m.op != OP_TRIAL)
			continue;
		t.method = m.method;
		t.size = m.size;
		t.warm = m.b;
		t.reps = m.v;
		t.end = &mine;
		mine.status = run_role(&t, m.a);
		if (exchange_end(&mine, &theirs))
			die("channel closed");
	}
	libxenvchan_close(chan);
	xs_close(xs);
	return 0;
}

static const char *boot = "?", *peer_type = "?";

static void print_trial(const char *dir, const char *importer, struct trial *t,
			const struct end *e, const struct end *other)
{
	unsigned int i;

	if (e->status || other->status) {
		printf("HDBENCH error %s %s %s %s %zu %d %s / %d %s\n", boot, dir, importer,
		       method_name[t->method], t->size, e->status, e->what[0] ? e->what : "-",
		       other->status, other->what[0] ? other->what : "-");
		return;
	}
	for (i = 0; i < e->nsamples; i++)
		printf("HDBENCH sample %s %s %s %s %zu %u %" PRIu64 "\n", boot, dir,
		       importer, method_name[t->method], t->size, i, e->samples[i]);
}

/* One trial: dom0 plays @role, the domU the other one. */
static void trial(const char *dir, enum method method, size_t size, unsigned int warm,
		  unsigned int reps)
{
	enum role mine_role = strcmp(dir, "d2u") ? ROLE_IMPORTER : ROLE_EXPORTER;
	const char *importer = mine_role == ROLE_EXPORTER ? peer_type : "pv-dom0";
	struct msg m = { .op = OP_TRIAL, .method = method, .size = size,
			 .a = mine_role == ROLE_EXPORTER ? ROLE_IMPORTER : ROLE_EXPORTER,
			 .b = warm, .v = reps };
	struct end mine = { 0 }, theirs = { 0 };
	struct trial t = { .method = method, .size = size, .warm = warm, .reps = reps,
			   .end = &mine };
	const struct end *exp, *imp;

	if (chan_send(&m, sizeof(m)))
		die("channel closed");
	mine.status = run_role(&t, mine_role);
	if (exchange_end(&mine, &theirs))
		die("channel closed");
	exp = mine_role == ROLE_EXPORTER ? &mine : &theirs;
	imp = mine_role == ROLE_EXPORTER ? &theirs : &mine;
	if (method >= M_S_HD) {
		if (exp->status || imp->status) {
			print_trial(dir, importer, &t, exp, imp);
			return;
		}
		/* frames, seconds, and each domain's CPU (jiffies are 10 ms) */
		printf("HDBENCH stream %s %s %s %s %zu %" PRIu64 " %" PRIu64 " %" PRIu64
		       " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", boot, dir, importer,
		       method_name[method], size, exp->frames, exp->elapsed_ns,
		       exp->cpu_jiffies * 10000000, exp->rusage_us,
		       imp->cpu_jiffies * 10000000, imp->rusage_us);
		fflush(stdout);
		return;
	}
	print_trial(dir, importer, &t, method == M_FLOOR ? imp : exp,
		    method == M_FLOOR ? exp : imp);
	fflush(stdout);
}

static void ping(unsigned int warm, unsigned int reps)
{
	unsigned int i;

	for (i = 0; i < warm + reps; i++) {
		uint64_t t0 = now_ns();
		struct msg m;

		send_op(OP_PING, 0);
		if (chan_recv(&m, sizeof(m)) || m.op != OP_PONG)
			die("no pong");
		if (i >= warm)
			printf("HDBENCH sample %s both - ping 32 %u %" PRIu64 "\n", boot,
			       i - warm, now_ns() - t0);
	}
}

static unsigned int env_uint(const char *name, unsigned int dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : dflt;
}

static int run(unsigned int domid, const char *type)
{
	static const enum method shares[] = {
		M_HD, M_GNTDEV, M_COPY, M_FLOOR, M_RESHARE, M_RELEASE,
	};
	static const enum method streams[] = { M_S_HD, M_S_HD_FULL, M_S_GNTDEV, M_S_COPY };
	const char *sizes = getenv("HDBENCH_SIZES"), *dirs = getenv("HDBENCH_DIRS");
	unsigned int reps = env_uint("HDBENCH_REPS", 20), warm = env_uint("HDBENCH_WARM", 2);
	unsigned int stream_s = env_uint("HDBENCH_STREAM_S", 10), i;
	char path[64], dirbuf[64], *dir, *save;
	uint64_t t0 = now_ns();

	if (!sizes || !*sizes)
		sizes = "4096 1048576 8294400 33177600 67108864";
	if (!dirs || !*dirs)
		dirs = "d2u u2d";
	if (reps > MAX_SAMPLES)
		reps = MAX_SAMPLES;
	peer_domid = domid;
	peer_type = type;
	boot = getenv("HDBENCH_BOOT") ?: type;
	open_devices();
	snprintf(path, sizeof(path), "/local/domain/%u/data/hdbench", domid);
	/* The domU offers the channel once it has booted. */
	while (!(chan = libxenvchan_client_init(NULL, domid, path))) {
		if (now_ns() - t0 > 300000000000ULL)
			die("no channel at %s after 300 s", path);
		sleep(1);
	}
	chan->blocking = 1;
	if (send_op(OP_HELLO, 0) || expect(OP_HELLO, NULL))
		die("no hello from the domU");
	printf("HDBENCH start %s %u %s reps %u warm %u\n", boot, domid, type, reps, warm);
	ping(warm, reps);
	snprintf(dirbuf, sizeof(dirbuf), "%s", dirs);
	for (dir = strtok_r(dirbuf, " ", &save); dir; dir = strtok_r(NULL, " ", &save)) {
		char sizebuf[256], *s, *save2;

		snprintf(sizebuf, sizeof(sizebuf), "%s", sizes);
		for (s = strtok_r(sizebuf, " ", &save2); s; s = strtok_r(NULL, " ", &save2)) {
			for (i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
				uint64_t t1 = now_ns();

				trial(dir, shares[i], strtoull(s, NULL, 0), warm, reps);
				fprintf(stderr, "hdbench: %s %s %s: %.1f s\n", dir,
					method_name[shares[i]], s, (now_ns() - t1) / 1e9);
			}
		}
		for (i = 0; stream_s && i < sizeof(streams) / sizeof(streams[0]); i++)
			trial(dir, streams[i], 8294400, 0, stream_s);
	}
	send_op(OP_QUIT, 0);
	printf("HDBENCH end %s %.1f\n", boot, (now_ns() - t0) / 1e9);
	fflush(stdout);
	libxenvchan_close(chan);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && !strcmp(argv[1], "serve"))
		return serve();
	if (argc == 4 && !strcmp(argv[1], "run"))
		return run(strtoul(argv[2], NULL, 0), argv[3]);
	fprintf(stderr, "usage: hdbench serve | hdbench run DOMID TYPE\n");
	return 2;
}
