// SPDX-License-Identifier: GPL-2.0
/*
 * hyper_dmabuf_demo - share a rendered picture between two Xen domains
 *
 * The project's one-command demo, also run by the test suite.  A domU draws
 * a picture into a dma-buf and exports it to dom0 with HYPER_DMABUF; dom0
 * imports it (zero-copy: it maps the domU's pages), checks the bytes
 * against the checksum the domU put in the private data and saves them.
 * The reverse direction, dom0 -> domU, carries the acknowledgments:
 *
 *   dom0: receive --from D --out DIR       domU D: render --to 0 --self D
 *   open /dev/hyper_dmabuf, "READY"
 *                                          draw frame 1 into a dma-buf,
 *                                          priv = "HDDEMO1 frame=1 ... fnv="
 *                     <--- NEW_IMPORT ---  EXPORT to dom0, "SENT"
 *   IMPORT, mmap, FNV-1a 64, compare,
 *   save DIR/frame-1.raw and .info
 *   EXPORT a 64 KiB ack buffer,
 *   priv = "HDDEMO-ACK frame=1 ..."  --- NEW_IMPORT --->
 *   wait until QUERY reports busy > 0      IMPORT the ack, check its FNV,
 *   UNEXPORT the ack, "FRAME"              hold it 300 ms, "REVERSE"
 *                                          draw frame 2 on the same buffer,
 *                                          EXPORT it again through the same
 *             <--- NEW_IMPORT + F_UPDATE ---  fd: same id, new priv, "SENT"
 *   ... as for frame 1 ...                 ... as for frame 1 ...
 *   "RECEIVED frames=N verdict=match"      UNEXPORT, "DONE frames=N"
 *
 * Output (stdout, line-buffered, one record per line; the test suite checks
 * the verdicts):
 *   HDDEMO READY
 *   HDDEMO SENT frame=N id=0xID size=BYTES fnv=HEX16 t_render_ms=T
 *     t_export_ms=T
 *   HDDEMO FRAME n=N id=0xID slot=SLOT domid_byte=0xBB exporter=DOMID
 *     size=BYTES w=W h=H fnv_announced=HEX16 fnv_read=HEX16
 *     verdict=match|MISMATCH update=0|1 t_event_ms=T t_import_ms=T
 *     t_map_ms=T t_verify_ms=T t_save_ms=T t_ack_ms=T
 *   HDDEMO RECEIVED frames=N verdict=match|MISMATCH
 *   HDDEMO REVERSE frame=K from=DOMID id=0xID bytes=LEN fnv=HEX16
 *     verdict=match|MISMATCH
 *   HDDEMO DONE frames=N
 *   HDDEMO WARN reason
 *   HDDEMO FAIL step=STEP reason
 * (the SENT and FRAME records are single lines; times in ms, 1 decimal).
 *
 * Pixels are XRGB8888 little-endian (DRM "XR24"), stride = width * 4.
 * Checksums are FNV-1a 64 over exactly width * height * 4 bytes.
 *
 * A hidden developer command renders a frame into a plain file, to look at
 * the picture without any device:
 *   hyper_dmabuf_demo render-file --self 7 --frame 1 --out /tmp/x.raw
 *     [--frames N] [--width W] [--height H]
 * It prints "HDDEMO RENDERED frame=N w=W h=H fnv=HEX16 out=FILE".
 *
 * Needs nothing but libc: "make -C tools/hyper_dmabuf LDFLAGS=-static"
 * builds it for a busybox initramfs.
 * Exit status: 0 success, 1 failure, 2 bad usage.
 */
#define _GNU_SOURCE
/* First: it includes linux/memfd.h, which glibc's sys/mman.h tolerates. */
#include "hyper_dmabuf_utils.h"

#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/udmabuf.h>

#define DEMO_DEV	"/dev/hyper_dmabuf"

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2

#define MAX_DIM		4096
#define MAX_FRAMES	100
#define MAX_TIMEOUT_S	86400
#define ACK_BYTES	65536
#define ACK_HOLD_MS	300
#define BUSY_POLL_MS	5
#define MAX_ACK_BYTES	(64UL << 20)
#define MAX_BUF_BYTES	(1024ULL * 1024 * 1024)	/* the driver's limit */

#define FRAME_MAGIC	"HDDEMO1 "
#define ACK_MAGIC	"HDDEMO-ACK "
/* What follows FRAME_MAGIC in the private data of a frame. */
#define FRAME_FIELDS	"frame=%d frames=%lu w=%lu h=%lu stride=%lu fmt=XR24 fnv=%016llx domid=%lu"

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
/*
 * printf format checking.  Userspace has no __printf() (compiler_attributes.h)
 * and checkpatch asks for it when format(printf) is spelt out as an attribute.
 */
#define ATTRIBUTE(x)		__attribute__((x))
#define PRINTF_FMT(f, a)	ATTRIBUTE(format(printf, f, a))

/* ---- small utilities ---------------------------------------------------- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void sleep_ms(double ms)
{
	struct timespec ts;

	if (ms <= 0)
		return;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)((ms - ts.tv_sec * 1000.0) * 1e6);
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* Milliseconds left until @deadline, at least 1 (a timeout of 0 is "none"). */
static __u32 ms_left(double deadline)
{
	double left = deadline - now_ms();

	if (left < 1)
		return 1;
	return left > UINT32_MAX ? UINT32_MAX : (__u32)left;
}

/* Prints "HDDEMO FAIL step=STEP reason"; the caller exits 1. */
static PRINTF_FMT(2, 3) void fail(const char *step, const char *fmt, ...)
{
	va_list ap;

	printf("HDDEMO FAIL step=%s ", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Prints "HDDEMO WARN reason" and goes on. */
static PRINTF_FMT(1, 2) void warning(const char *fmt, ...)
{
	va_list ap;

	printf("HDDEMO WARN ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Writes @len bytes to a new file @path; -1 with errno on failure. */
static int save_file(const char *path, const void *buf, size_t len)
{
	int fd, err;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write_all(fd, buf, len)) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return close(fd);
}

static size_t page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);

	return p > 0 ? (size_t)p : 4096;
}

static size_t round_up_page(size_t n)
{
	size_t p = page_size();

	return (n + p - 1) / p * p;
}

/* A udmabuf of @size bytes (a page multiple); -1 with *@what and errno. */
static int make_udmabuf(size_t size, const char **what)
{
	struct udmabuf_create create = { .size = size };
	int dev, memfd, buf, err;

	*what = "open " UDMABUF_PATH;
	dev = open(UDMABUF_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -1;
	*what = "memfd_create";
	memfd = syscall(__NR_memfd_create, "hyper_dmabuf-demo", MFD_ALLOW_SEALING);
	if (memfd < 0)
		goto err_dev;
	*what = "seal and size the memfd";
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0 || ftruncate(memfd, size) < 0)
		goto err_memfd;
	*what = "UDMABUF_CREATE";
	create.memfd = memfd;
	buf = ioctl(dev, UDMABUF_CREATE, &create);
	if (buf < 0)
		goto err_memfd;
	close(memfd);
	close(dev);
	return buf;

err_memfd:
	err = errno;
	close(memfd);
	errno = err;
err_dev:
	err = errno;
	close(dev);
	errno = err;
	return -1;
}

/* A hint for the errors of HYPER_DMABUF_IOCTL_EXPORT, or "". */
static const char *export_hint(int err)
{
	switch (err) {
	case ENODEV:
		return " (no hypervisor backend loaded)";
	case ETIMEDOUT:
		return " (the channel to the domain did not come up: no hyper_dmabuf there?)";
	case EACCES:
		return " (dom0 did not allow this domain to share with that one)";
	case ESRCH:
		return " (no such domain)";
	case ECONNRESET:
		return " (the domain went away)";
	default:
		return "";
	}
}

static int open_dev(void)
{
	int dev = open(DEMO_DEV, O_RDWR | O_CLOEXEC);

	if (dev < 0)
		fail("open", "cannot open " DEMO_DEV ": %s", strerror(errno));
	return dev;
}

/* ---- command line parsing ----------------------------------------------- */

/* A decimal number in @min..@max, digits only. */
static bool parse_num(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	unsigned long v = 0;
	const char *c;

	if (!*s || strlen(s) > 10)
		return false;
	for (c = s; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (*c - '0');
	}
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* A domain id: a number up to DOMID_SELF, or "self" (loopback). */
static bool parse_domid(const char *s, unsigned long *out)
{
	if (!strcmp(s, "self")) {
		*out = HYPER_DMABUF_DOMID_SELF;
		return true;
	}
	return parse_num(s, 0, HYPER_DMABUF_DOMID_SELF, out);
}

static PRINTF_FMT(3, 4) int usage_error(const char *cmd, const char *usage,
					 const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hyper_dmabuf_demo %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", usage);
	return EXIT_USAGE;
}

/* ---- private data parsing (never trust the peer) ------------------------ */

struct field {
	const char *key;
	char val[24];
	bool seen;
};

/*
 * Copies the private data of @ev into @text as a C string.  False if it is
 * not printable ASCII up to an optional terminating NUL.
 */
static bool priv_text(const struct hyper_dmabuf_event *ev,
		      char text[HYPER_DMABUF_MAX_PRIV + 1])
{
	__u32 n = ev->priv_size, i;

	if (n > HYPER_DMABUF_MAX_PRIV)
		return false;
	memcpy(text, ev->priv, n);
	text[n] = 0;
	for (i = 0; i < n && text[i]; i++)
		if (text[i] < 0x20 || text[i] > 0x7e)
			return false;
	return true;
}

/*
 * Parses "MAGIC key=value key=value ..." (single spaces) into @f.  Unknown
 * keys are ignored; missing, repeated, empty or too long values are not.
 * On failure writes the reason to @why.
 */
static bool parse_fields(const char *text, const char *magic, struct field *f,
			 size_t nf, char *why, size_t whylen)
{
	const char *p = text + strlen(magic);
	size_t i;

	for (i = 0; i < nf; i++)
		f[i].seen = false;
	while (*p) {
		const char *end = strchr(p, ' '), *eq;
		size_t len, klen;

		len = end ? (size_t)(end - p) : strlen(p);
		eq = memchr(p, '=', len);
		if (!eq) {
			snprintf(why, whylen, "token without '=' at offset %zu",
				 (size_t)(p - text));
			return false;
		}
		klen = eq - p;
		for (i = 0; i < nf; i++) {
			struct field *fi = &f[i];
			size_t vlen = len - klen - 1;

			if (strlen(fi->key) != klen || memcmp(fi->key, p, klen))
				continue;
			if (fi->seen) {
				snprintf(why, whylen, "key %s repeated", fi->key);
				return false;
			}
			if (!vlen || vlen >= sizeof(fi->val)) {
				snprintf(why, whylen, "bad length %zu of %s", vlen, fi->key);
				return false;
			}
			memcpy(fi->val, eq + 1, vlen);
			fi->val[vlen] = 0;
			fi->seen = true;
		}
		p += len;
		if (*p)
			p++;
	}
	for (i = 0; i < nf; i++) {
		if (!f[i].seen) {
			snprintf(why, whylen, "key %s missing", f[i].key);
			return false;
		}
	}
	return true;
}

/* Exactly 16 hexadecimal digits. */
static bool parse_hex64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 16; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v << 4 | (c - 'A' + 10);
		else
			return false;
	}
	if (s[16])
		return false;
	*out = v;
	return true;
}

/* ---- events ------------------------------------------------------------- */

struct evq {
	struct hyper_dmabuf_event ev[8];
	int n, i;
};

/*
 * The next event of @dev, waiting at most until @deadline.  1: got one,
 * 0: timed out, -1: error (errno set).
 */
static int next_event(int dev, struct evq *q, double deadline,
		      struct hyper_dmabuf_event *out)
{
	while (q->i >= q->n) {
		struct pollfd pfd = { .fd = dev, .events = POLLIN };
		double left = deadline - now_ms();
		ssize_t n;
		int ret;

		if (left <= 0)
			return 0;
		ret = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left + 1);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (!ret)
			continue;
		if (!(pfd.revents & POLLIN)) {
			errno = EIO;
			return -1;
		}
		n = read(dev, q->ev, sizeof(q->ev));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (!n || n % sizeof(q->ev[0])) {
			/* The driver and this program disagree on the record. */
			errno = EPROTO;
			return -1;
		}
		q->n = n / sizeof(q->ev[0]);
		q->i = 0;
	}
	*out = q->ev[q->i++];
	return 1;
}

/* ---- drawing ------------------------------------------------------------ */

struct canvas {
	unsigned char *p;
	int w, h;
	size_t stride;
};

/* Fills [x0, x1) x [y0, y1), clipped to the canvas, with 0xRRGGBB. */
static void fill_rect(const struct canvas *c, int x0, int y0, int x1, int y1,
		      uint32_t rgb)
{
	unsigned char px[4] = { rgb & 0xff, rgb >> 8 & 0xff, rgb >> 16 & 0xff, 0xff };
	int x, y;

	if (x0 < 0)
		x0 = 0;
	if (y0 < 0)
		y0 = 0;
	if (x1 > c->w)
		x1 = c->w;
	if (y1 > c->h)
		y1 = c->h;
	for (y = y0; y < y1; y++) {
		unsigned char *row = c->p + y * c->stride;

		for (x = x0; x < x1; x++)
			memcpy(row + 4 * x, px, 4);
	}
}

static void fill_circle(const struct canvas *c, int cx, int cy, int r, uint32_t rgb)
{
	int dy;

	for (dy = -r; dy <= r; dy++) {
		int dx = 0;

		while ((dx + 1) * (dx + 1) + dy * dy <= r * r)
			dx++;
		fill_rect(c, cx - dx, cy + dy, cx + dx + 1, cy + dy + 1, rgb);
	}
}

/* A filled isosceles triangle: apex (cx, top), base [xl, xr) at @base. */
static void fill_roof(const struct canvas *c, int xl, int xr, int top, int base,
		      uint32_t rgb)
{
	int cx = (xl + xr) / 2, y;

	if (base <= top)
		return;
	for (y = top; y < base; y++) {
		int half = (int)((long)(cx - xl) * (y - top + 1) / (base - top));

		fill_rect(c, cx - half, y, cx + half + 1, y + 1, rgb);
	}
}

static uint32_t mix(uint32_t a, uint32_t b, int num, int den)
{
	uint32_t out = 0;
	int shift;

	if (den <= 0)
		return a;
	for (shift = 0; shift < 24; shift += 8) {
		int ca = a >> shift & 0xff, cb = b >> shift & 0xff;

		out |= (uint32_t)(ca + (cb - ca) * num / den) << shift;
	}
	return out;
}

static void gradient(const struct canvas *c, int y0, int y1, uint32_t top,
		     uint32_t bottom)
{
	int y;

	for (y = y0; y < y1; y++)
		fill_rect(c, 0, y, c->w, y + 1, mix(top, bottom, y - y0, y1 - y0 - 1));
}

/*
 * A 5x7 bitmap font: seven rows per glyph, bit 4 is the leftmost column.
 * Upper case letters, digits and the punctuation the demo needs.
 */
static const unsigned char font5x7[128][7] = {
	['A'] = { 0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 },
	['B'] = { 0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e },
	['C'] = { 0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e },
	['D'] = { 0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e },
	['E'] = { 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f },
	['F'] = { 0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10 },
	['G'] = { 0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f },
	['H'] = { 0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11 },
	['I'] = { 0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e },
	['J'] = { 0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c },
	['K'] = { 0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11 },
	['L'] = { 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f },
	['M'] = { 0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11 },
	['N'] = { 0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11 },
	['O'] = { 0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e },
	['P'] = { 0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10 },
	['Q'] = { 0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d },
	['R'] = { 0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11 },
	['S'] = { 0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e },
	['T'] = { 0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04 },
	['U'] = { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e },
	['V'] = { 0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04 },
	['W'] = { 0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a },
	['X'] = { 0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11 },
	['Y'] = { 0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04 },
	['Z'] = { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f },
	['0'] = { 0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e },
	['1'] = { 0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e },
	['2'] = { 0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f },
	['3'] = { 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e },
	['4'] = { 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02 },
	['5'] = { 0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e },
	['6'] = { 0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e },
	['7'] = { 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 },
	['8'] = { 0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e },
	['9'] = { 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c },
	[':'] = { 0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00 },
	['-'] = { 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00 },
	['_'] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f },
	['/'] = { 0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10 },
	['.'] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c },
	['#'] = { 0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a },
	['='] = { 0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00 },
	['?'] = { 0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04 },
};

#define GLYPH_W		5
#define GLYPH_H		7
#define GLYPH_ADV	6	/* one column of spacing */

static const unsigned char *glyph(char ch)
{
	static const unsigned char blank[GLYPH_H];
	unsigned char u = (unsigned char)ch;
	int i;

	if (u >= 'a' && u <= 'z')
		u -= 'a' - 'A';
	if (u == ' ')
		return blank;
	if (u < 128)
		for (i = 0; i < GLYPH_H; i++)
			if (font5x7[u][i])
				return font5x7[u];
	return font5x7['?'];
}

static int text_width(const char *s, int scale)
{
	int n = strlen(s);

	return n ? (n * GLYPH_ADV - 1) * scale : 0;
}

static void draw_text(const struct canvas *c, int x, int y, int scale,
		      const char *s, uint32_t rgb)
{
	for (; *s; s++, x += GLYPH_ADV * scale) {
		const unsigned char *g = glyph(*s);
		int row, col;

		for (row = 0; row < GLYPH_H; row++)
			for (col = 0; col < GLYPH_W; col++)
				if (g[row] & (0x10 >> col))
					fill_rect(c, x + col * scale, y + row * scale,
						  x + (col + 1) * scale,
						  y + (row + 1) * scale, rgb);
	}
}

/* White text with a dark drop shadow, readable on any background. */
static void draw_label(const struct canvas *c, int x, int y, int scale, const char *s)
{
	int off = scale > 1 ? scale / 2 : 1;

	draw_text(c, x + off, y + off, scale, s, 0x101010);
	draw_text(c, x, y, scale, s, 0xffffff);
}

/*
 * The largest scale up to @want at which @s fits in @room pixels; at
 * least 1 (the text is then clipped).
 */
static int fit_scale(const char *s, int want, int room)
{
	int scale = want < 1 ? 1 : want;

	while (scale > 1 && text_width(s, scale) > room)
		scale--;
	return scale;
}

/* Look of a frame: frames cycle through day, sunset, night and dawn. */
struct scene {
	uint32_t sky_top, sky_bottom, ground_top, ground_bottom;
	uint32_t sun, halo, border, window;
	int sun_x, sun_y, sun_r;	/* per mille of width, height, height */
	bool stars;
};

static const struct scene scenes[] = {
	{ 0x1a4f9c, 0x9fd6ff, 0x4caf50, 0x1f6324,
	  0xffd21f, 0xfff2a8, 0xffffff, 0xbfe6ff, 840, 250, 100, false },
	{ 0x2a1858, 0xff8a3d, 0x3b7a32, 0x163d14,
	  0xff5a1f, 0xffb070, 0xffd21f, 0xffe27a, 720, 760, 120, false },
	{ 0x04071a, 0x1c2a5c, 0x1d4a20, 0x0a200c,
	  0xf2f0dc, 0x3a4a80, 0x9fb4ff, 0xffd95a, 860, 180, 80, true },
	{ 0x4a6fb5, 0xffc29e, 0x56a84e, 0x245f22,
	  0xffb030, 0xffe0a0, 0xff9ad0, 0xffe9b0, 920, 620, 110, false },
};

/*
 * Draws frame @frame of @frames for domain @self: a small landscape (sky,
 * sun, house, tree, colour bars) with four lines of text.  Only the pixels
 * inside the canvas are touched.
 */
static void render_frame(const struct canvas *c, unsigned long self, int frame,
			 int frames, const struct timespec *when)
{
	const struct scene *s = &scenes[(frame - 1) % ARRAY_SIZE(scenes)];
	static const uint32_t bars[] = {
		0xff0000, 0x00ff00, 0x0000ff, 0x00ffff,
		0xff00ff, 0xffff00, 0xffffff, 0x000000,
	};
	int w = c->w, h = c->h, u = (w * 360 < h * 640 ? w * 1000 / 640 : h * 1000 / 360);
	int horizon = h * 80 / 100, margin, bw, x, y, i, scale, room, bar;
	char line[4][48];
	struct tm tm;

#define X(pm)	((int)((long)w * (pm) / 1000))
#define Y(pm)	((int)((long)h * (pm) / 1000))
#define U(px)	((int)((long)u * (px) / 1000))

	/* Sky and ground. */
	gradient(c, 0, horizon, s->sky_top, s->sky_bottom);
	if (s->stars) {
		uint32_t r = 0x9e3779b9U ^ frame;

		for (i = 0; i < 90; i++) {
			int sz = U(2) > 1 ? U(2) : 1;

			r ^= r << 13;
			r ^= r >> 17;
			r ^= r << 5;
			x = r % (unsigned int)w;
			y = (r >> 12) % (unsigned int)(horizon > 1 ? horizon : 1);
			fill_rect(c, x, y, x + sz, y + sz, 0xe8e8ff);
		}
	}
	fill_circle(c, X(s->sun_x), Y(s->sun_y), Y(s->sun_r) * 4 / 3, s->halo);
	fill_circle(c, X(s->sun_x), Y(s->sun_y), Y(s->sun_r), s->sun);
	gradient(c, horizon, h, s->ground_top, s->ground_bottom);

	/* A house: walls, roof, door and two windows with crossbars. */
	fill_rect(c, X(80), Y(620), X(280), Y(860), 0xe3cfa4);
	fill_roof(c, X(60), X(300), Y(500), Y(620), 0xb3362d);
	fill_rect(c, X(160), Y(720), X(200), Y(860), 0x6b3e1f);
	for (i = 0; i < 2; i++) {
		int x0 = X(i ? 215 : 105), x1 = X(i ? 255 : 145);
		int y0 = Y(660), y1 = Y(740), t = U(2) > 1 ? U(2) : 1;

		fill_rect(c, x0, y0, x1, y1, s->window);
		fill_rect(c, (x0 + x1 - t) / 2, y0, (x0 + x1 + t) / 2, y1, 0x4a2a12);
		fill_rect(c, x0, (y0 + y1 - t) / 2, x1, (y0 + y1 + t) / 2, 0x4a2a12);
	}

	/* A tree. */
	fill_rect(c, X(400), Y(660), X(430), Y(880), 0x7a4a22);
	fill_circle(c, X(415) - Y(50), Y(650), Y(60), 0x27742f);
	fill_circle(c, X(415) + Y(50), Y(650), Y(60), 0x27742f);
	fill_circle(c, X(415), Y(590), Y(85), 0x2e8b3a);

	/* Colour bars in the ground, framed in white. */
	bar = X(42) > 1 ? X(42) : 1;
	x = X(580);
	y = Y(870);
	fill_rect(c, x - U(2), y - U(2), x + 8 * bar + U(2), Y(940) + U(2), 0xffffff);
	for (i = 0; i < (int)ARRAY_SIZE(bars); i++)
		fill_rect(c, x + i * bar, y, x + (i + 1) * bar, Y(940), bars[i]);

	/* Border. */
	bw = U(6) > 2 ? U(6) : 2;
	fill_rect(c, 0, 0, w, bw, s->border);
	fill_rect(c, 0, h - bw, w, h, s->border);
	fill_rect(c, 0, 0, bw, h, s->border);
	fill_rect(c, w - bw, 0, w, h, s->border);

	/* Text, top left, over the sky. */
	gmtime_r(&when->tv_sec, &tm);
	snprintf(line[0], sizeof(line[0]), "HYPER_DMABUF");
	snprintf(line[1], sizeof(line[1]), "FROM DOMU %lu", self);
	snprintf(line[2], sizeof(line[2]), "FRAME %d OF %d", frame, frames);
	strftime(line[3], sizeof(line[3]), "%Y-%m-%d %H:%M:%S UTC", &tm);
	margin = bw + U(14);
	room = w - 2 * margin;
	y = bw + U(12);
	for (i = 0; i < 4; i++) {
		static const int want[4] = { 6, 4, 4, 3 };

		scale = fit_scale(line[i], (u * want[i] + 500) / 1000, room);
		draw_label(c, margin, y, scale, line[i]);
		y += GLYPH_H * scale + 3 * scale;
	}
#undef X
#undef Y
#undef U
}

/* Draws a frame and returns the FNV-1a 64 of its w * h * 4 bytes. */
static uint64_t draw_and_hash(unsigned char *p, int w, int h, unsigned long self,
			      int frame, int frames)
{
	struct canvas c = { .p = p, .w = w, .h = h, .stride = (size_t)w * 4 };
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	render_frame(&c, self, frame, frames, &now);
	return fnv1a64(p, (size_t)w * h * 4);
}

/* ---- render (domU) ------------------------------------------------------ */

static const char usage_render[] =
"Usage: hyper_dmabuf_demo render --to DOMID --self DOMID [OPTIONS]\n"
"\n"
"Draw a picture into a dma-buf and export it to domain --to (dom0, running\n"
"'hyper_dmabuf_demo receive'); for every further frame wait for dom0's\n"
"acknowledgment of the previous one, draw on the same buffer and export it\n"
"again (same id, new private data).  Each acknowledgment is a buffer dom0\n"
"exports back: it is imported and checked (the reverse direction).\n"
"--self is this domain's id, shown in the picture and the private data.\n"
"\n"
"Options:\n"
"  --producer udmabuf|vgem  where the dma-buf comes from (default udmabuf;\n"
"                           vgem is refused in a PV domU, where CPU writes\n"
"                           to it hang)\n"
"  --width W, --height H    picture size, 1..4096 (default 640x360)\n"
"  --frames N               frames to send, 1..100 (default 2)\n"
"  --timeout S              give up after S seconds (default 60)\n"
"  -h, --help               this help\n"
"\n"
"Prints 'HDDEMO SENT ...' per frame, 'HDDEMO REVERSE ...' per\n"
"acknowledgment and 'HDDEMO DONE frames=N', or 'HDDEMO FAIL step=...'.\n"
"Exit status: 0 success, 1 failure, 2 bad usage.\n";

struct render_opts {
	unsigned long to, self, w, h, frames, timeout;
	bool vgem;
};

/* A dma-buf of @size bytes from the chosen producer; -1 after a FAIL line. */
static int make_frame_buffer(const struct render_opts *o, size_t size)
{
	const char *what;
	__u32 handle;
	int vgem, buf;

	if (!o->vgem) {
		buf = make_udmabuf(size, &what);
		if (buf < 0)
			fail("alloc", "udmabuf of %zu bytes: %s: %s", size, what,
			     strerror(errno));
		return buf;
	}
	if (vgem_cpu_access_hangs()) {
		fail("alloc", "%s (the page fault is retried forever); use --producer udmabuf",
		     "vgem buffers cannot be written by the CPU in a Xen PV domU");
		return -1;
	}
	vgem = vgem_open();
	if (vgem < 0) {
		fail("alloc", "no DRM device of driver vgem in /dev/dri (modprobe vgem)");
		return -1;
	}
	buf = vgem_alloc(vgem, size, &handle);
	if (buf < 0)
		fail("alloc", "vgem dumb buffer of %zu bytes: %s", size, strerror(errno));
	close(vgem);	/* the dma-buf keeps the buffer */
	return buf;
}

/*
 * Waits for dom0's acknowledgment of frame @frame, imports and checks it.
 * 0 when it is fine, -1 after a FAIL line.
 */
static int wait_ack(int dev, struct evq *q, const struct render_opts *o, int frame,
		    double deadline)
{
	struct field f[] = {
		{ .key = "frame" }, { .key = "verdict" },
		{ .key = "fnv" }, { .key = "bytes" },
	};
	char step[32], text[HYPER_DMABUF_MAX_PRIV + 1], why[96];
	struct hyper_dmabuf_event ev;
	unsigned long k, bytes;
	bool ack_match;
	uint64_t want;

	snprintf(step, sizeof(step), "wait-ack-%d", frame);
	for (;;) {
		struct hyper_dmabuf_import im = { .fd_flags = O_RDONLY | O_CLOEXEC };
		double t_import, left;
		uint64_t got;
		void *map;
		off_t size;
		int ret;

		ret = next_event(dev, q, deadline, &ev);
		if (ret < 0) {
			fail(step, "reading events of " DEMO_DEV ": %s", strerror(errno));
			return -1;
		}
		if (!ret) {
			fail(step, "no acknowledgment of frame %d from domain %lu within %lu s",
			     frame, o->to, o->timeout);
			return -1;
		}
		if (ev.type == HYPER_DMABUF_EVENT_OVERFLOW) {
			warning("event queue overflow lost=%u", ev.lost);
			continue;
		}
		if (ev.type != HYPER_DMABUF_EVENT_NEW_IMPORT ||
		    ev.hid.exporter_domid != o->to || !priv_text(&ev, text) ||
		    strncmp(text, ACK_MAGIC, strlen(ACK_MAGIC)))
			continue;

		snprintf(step, sizeof(step), "ack-%d", frame);
		if (!parse_fields(text, ACK_MAGIC, f, ARRAY_SIZE(f), why, sizeof(why))) {
			fail(step, "malformed acknowledgment from domain %lu: %s", o->to, why);
			return -1;
		}
		if (!parse_num(f[0].val, 1, MAX_FRAMES, &k) ||
		    (strcmp(f[1].val, "match") && strcmp(f[1].val, "MISMATCH")) ||
		    !parse_hex64(f[2].val, &want) ||
		    !parse_num(f[3].val, 1, MAX_ACK_BYTES, &bytes) || bytes > ev.size) {
			fail(step, "acknowledgment from domain %lu has bad values (%s > size %llu)",
			     o->to, "frame, verdict, fnv or bytes", (unsigned long long)ev.size);
			return -1;
		}
		if ((int)k < frame) {
			warning("ignoring a repeated acknowledgment of frame %lu", k);
			continue;
		}
		if ((int)k != frame) {
			fail(step, "expected the acknowledgment of frame %d, got frame %lu",
			     frame, k);
			return -1;
		}
		ack_match = !strcmp(f[1].val, "match");

		snprintf(step, sizeof(step), "reverse-import-%d", frame);
		im.hid = ev.hid;
		im.timeout_ms = ms_left(deadline);
		if (ioctl(dev, HYPER_DMABUF_IOCTL_IMPORT, &im)) {
			fail(step, "HYPER_DMABUF_IOCTL_IMPORT of id 0x%08x: %s", ev.hid.id,
			     strerror(errno));
			return -1;
		}
		t_import = now_ms();
		size = lseek(im.fd, 0, SEEK_END);
		if (size < 0)
			size = ev.size;
		if ((uint64_t)size < bytes) {
			fail(step, "imported buffer has %lld bytes, the acknowledgment claims %lu",
			     (long long)size, bytes);
			close(im.fd);
			return -1;
		}
		map = mmap(NULL, size, PROT_READ, MAP_SHARED, im.fd, 0);
		if (map == MAP_FAILED) {
			fail(step, "mmap of the imported acknowledgment: %s", strerror(errno));
			close(im.fd);
			return -1;
		}
		if (dmabuf_sync(im.fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ)) {
			fail(step, "DMA_BUF_IOCTL_SYNC start: %s", strerror(errno));
			munmap(map, size);
			close(im.fd);
			return -1;
		}
		got = fnv1a64(map, bytes);
		dmabuf_sync(im.fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
		/* dom0 waits for the import to show in its busy count. */
		left = t_import + ACK_HOLD_MS - now_ms();
		sleep_ms(left);
		munmap(map, size);
		close(im.fd);

		printf("HDDEMO REVERSE frame=%d from=%u id=0x%08x bytes=%lu", frame,
		       ev.hid.exporter_domid, ev.hid.id, bytes);
		printf(" fnv=%016llx verdict=%s\n", (unsigned long long)got,
		       got == want ? "match" : "MISMATCH");
		if (got != want) {
			snprintf(step, sizeof(step), "reverse-verify-%d", frame);
			fail(step, "acknowledgment bytes hash to %016llx, announced %016llx",
			     (unsigned long long)got, (unsigned long long)want);
			return -1;
		}
		if (!ack_match) {
			snprintf(step, sizeof(step), "ack-%d", frame);
			fail(step, "domain %lu reports verdict=MISMATCH for frame %d", o->to,
			     frame);
			return -1;
		}
		return 0;
	}
}

static int cmd_render(int argc, char **argv)
{
	enum { OPT_TO = 256, OPT_SELF, OPT_PRODUCER, OPT_WIDTH, OPT_HEIGHT,
	       OPT_FRAMES, OPT_TIMEOUT };
	static const struct option opts[] = {
		{ "to", required_argument, NULL, OPT_TO },
		{ "self", required_argument, NULL, OPT_SELF },
		{ "producer", required_argument, NULL, OPT_PRODUCER },
		{ "width", required_argument, NULL, OPT_WIDTH },
		{ "height", required_argument, NULL, OPT_HEIGHT },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct render_opts o = { .w = 640, .h = 360, .frames = 2, .timeout = 60 };
	struct hyper_dmabuf_id first = { 0 };
	bool have_to = false, have_self = false;
	size_t bytes, size;
	double deadline;
	struct evq q = { .n = 0 };
	unsigned char *map;
	int c, dev, buf, frame;
	char step[32];

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_TO:
			if (!parse_domid(optarg, &o.to))
				return usage_error("render", usage_render, "bad --to '%s'", optarg);
			have_to = true;
			break;
		case OPT_SELF:
			if (!parse_domid(optarg, &o.self))
				return usage_error("render", usage_render, "bad --self '%s'",
						   optarg);
			have_self = true;
			break;
		case OPT_PRODUCER:
			if (strcmp(optarg, "udmabuf") && strcmp(optarg, "vgem"))
				return usage_error("render", usage_render,
						   "bad --producer '%s' (udmabuf or vgem)", optarg);
			o.vgem = !strcmp(optarg, "vgem");
			break;
		case OPT_WIDTH:
		case OPT_HEIGHT:
			if (!parse_num(optarg, 1, MAX_DIM, c == OPT_WIDTH ? &o.w : &o.h))
				return usage_error("render", usage_render,
						   "bad --%s '%s' (1..%d)",
						   c == OPT_WIDTH ? "width" : "height", optarg,
						   MAX_DIM);
			break;
		case OPT_FRAMES:
			if (!parse_num(optarg, 1, MAX_FRAMES, &o.frames))
				return usage_error("render", usage_render,
						   "bad --frames '%s' (1..%d)", optarg, MAX_FRAMES);
			break;
		case OPT_TIMEOUT:
			if (!parse_num(optarg, 1, MAX_TIMEOUT_S, &o.timeout))
				return usage_error("render", usage_render,
						   "bad --timeout '%s' (1..%d seconds)", optarg,
						   MAX_TIMEOUT_S);
			break;
		case 'h':
			fputs(usage_render, stdout);
			return EXIT_OK;
		default:
			fputs(usage_render, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("render", usage_render, "unexpected argument '%s'",
				   argv[optind]);
	if (!have_to || !have_self)
		return usage_error("render", usage_render, "--to and --self are required");

	deadline = now_ms() + o.timeout * 1000.0;
	bytes = (size_t)o.w * o.h * 4;
	size = round_up_page(bytes);

	dev = open_dev();
	if (dev < 0)
		return EXIT_FAIL;
	buf = make_frame_buffer(&o, size);
	if (buf < 0)
		return EXIT_FAIL;
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
	if (map == MAP_FAILED) {
		fail("mmap", "mmap of the %zu byte dma-buf: %s", size, strerror(errno));
		return EXIT_FAIL;
	}

	for (frame = 1; frame <= (int)o.frames; frame++) {
		struct hyper_dmabuf_export ex = { .fd = buf, .remote_domid = o.to };
		char priv[HYPER_DMABUF_MAX_PRIV];
		double t0, t_render, t_export;
		uint64_t fnv;
		int len;

		if (frame > 1 && wait_ack(dev, &q, &o, frame - 1, deadline))
			return EXIT_FAIL;

		snprintf(step, sizeof(step), "render-%d", frame);
		t0 = now_ms();
		if (dmabuf_sync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW)) {
			fail(step, "DMA_BUF_IOCTL_SYNC start: %s", strerror(errno));
			return EXIT_FAIL;
		}
		fnv = draw_and_hash(map, o.w, o.h, o.self, frame, o.frames);
		if (dmabuf_sync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW)) {
			fail(step, "DMA_BUF_IOCTL_SYNC end: %s", strerror(errno));
			return EXIT_FAIL;
		}
		t_render = now_ms() - t0;

		len = snprintf(priv, sizeof(priv), FRAME_MAGIC FRAME_FIELDS, frame, o.frames,
			       o.w, o.h, o.w * 4, (unsigned long long)fnv, o.self);
		if (len < 0 || len >= (int)sizeof(priv)) {
			fail(step, "private data longer than %d bytes", HYPER_DMABUF_MAX_PRIV - 1);
			return EXIT_FAIL;
		}

		snprintf(step, sizeof(step), "%s-%d", frame > 1 ? "reexport" : "export", frame);
		ex.priv_size = len + 1;
		ex.priv_ptr = (uintptr_t)priv;
		t0 = now_ms();
		if (ioctl(dev, HYPER_DMABUF_IOCTL_EXPORT, &ex)) {
			int err = errno;

			fail(step, "HYPER_DMABUF_IOCTL_EXPORT to domain %lu: %s%s", o.to,
			     strerror(err), export_hint(err));
			return EXIT_FAIL;
		}
		t_export = now_ms() - t0;
		if (frame == 1) {
			first = ex.hid;
			if (ex.hid.exporter_domid != o.self) {
				fail(step, "--self is %lu but the driver names this domain %u",
				     o.self, ex.hid.exporter_domid);
				return EXIT_FAIL;
			}
		} else if (memcmp(&ex.hid, &first, sizeof(first))) {
			fail(step, "re-export returned id 0x%08x, not the fast path's 0x%08x",
			     ex.hid.id, first.id);
			return EXIT_FAIL;
		}
		printf("HDDEMO SENT frame=%d id=0x%08x size=%zu fnv=%016llx", frame, ex.hid.id,
		       size, (unsigned long long)fnv);
		printf(" t_render_ms=%.1f t_export_ms=%.1f\n", t_render, t_export);
	}
	if (wait_ack(dev, &q, &o, o.frames, deadline))
		return EXIT_FAIL;

	if (hd_unexport(dev, &first)) {
		fail("unexport", "HYPER_DMABUF_IOCTL_UNEXPORT of id 0x%08x: %s", first.id,
		     strerror(errno));
		return EXIT_FAIL;
	}
	munmap(map, size);
	close(buf);
	close(dev);
	printf("HDDEMO DONE frames=%lu\n", o.frames);
	return EXIT_OK;
}

/* ---- receive (dom0) ----------------------------------------------------- */

static const char usage_receive[] =
"Usage: hyper_dmabuf_demo receive --from DOMID --out DIR [OPTIONS]\n"
"\n"
"Wait for the frames domain --from exports with 'hyper_dmabuf_demo render',\n"
"import each, check it against the checksum in its private data, save it as\n"
"DIR/frame-N.raw (XRGB8888, width * height * 4 bytes) and DIR/frame-N.info,\n"
"and acknowledge it with a 64 KiB buffer exported back to --from.\n"
"Start it before the domU: it prints 'HDDEMO READY' once it listens.\n"
"\n"
"Options:\n"
"  --frames N    frames to receive, 1..100 (default 2)\n"
"  --timeout S   give up S seconds after READY (default 240)\n"
"  -h, --help    this help\n"
"\n"
"Prints 'HDDEMO FRAME ...' per frame and 'HDDEMO RECEIVED frames=N\n"
"verdict=match|MISMATCH', or 'HDDEMO FAIL step=...'.  After a mismatch the\n"
"frame is still saved and acknowledged, then the program stops.\n"
"Exit status: 0 all frames match, 1 mismatch or failure, 2 bad usage.\n";

struct frame_info {
	unsigned long frame, frames, w, h, stride, domid;
	uint64_t fnv;
};

/* Parses and validates an "HDDEMO1 ..." announcement; false with @why. */
static bool parse_frame(const char *text, const struct hyper_dmabuf_event *ev,
			unsigned long frames, struct frame_info *fi, char *why,
			size_t whylen)
{
	struct field f[] = {
		{ .key = "frame" }, { .key = "frames" }, { .key = "w" },
		{ .key = "h" }, { .key = "stride" }, { .key = "fmt" },
		{ .key = "fnv" }, { .key = "domid" },
	};

	if (!parse_fields(text, FRAME_MAGIC, f, ARRAY_SIZE(f), why, whylen))
		return false;
	if (!parse_num(f[1].val, 1, MAX_FRAMES, &fi->frames) || fi->frames != frames) {
		snprintf(why, whylen, "frames=%s, this side expects %lu", f[1].val, frames);
		return false;
	}
	if (!parse_num(f[0].val, 1, frames, &fi->frame)) {
		snprintf(why, whylen, "frame=%s not in 1..%lu", f[0].val, frames);
		return false;
	}
	if (!parse_num(f[2].val, 1, MAX_DIM, &fi->w) ||
	    !parse_num(f[3].val, 1, MAX_DIM, &fi->h)) {
		snprintf(why, whylen, "w=%s h=%s not in 1..%d", f[2].val, f[3].val, MAX_DIM);
		return false;
	}
	if (!parse_num(f[4].val, 1, 4 * MAX_DIM, &fi->stride) || fi->stride != fi->w * 4) {
		snprintf(why, whylen, "stride=%s is not w*4=%lu", f[4].val, fi->w * 4);
		return false;
	}
	if (strcmp(f[5].val, "XR24")) {
		snprintf(why, whylen, "fmt=%s is not XR24", f[5].val);
		return false;
	}
	if (!parse_hex64(f[6].val, &fi->fnv)) {
		snprintf(why, whylen, "fnv=%s is not 16 hex digits", f[6].val);
		return false;
	}
	if (!parse_domid(f[7].val, &fi->domid) || fi->domid != ev->hid.exporter_domid) {
		snprintf(why, whylen, "domid=%s is not the exporter %u", f[7].val,
			 ev->hid.exporter_domid);
		return false;
	}
	if ((uint64_t)fi->w * fi->h * 4 > ev->size || ev->size > MAX_BUF_BYTES) {
		snprintf(why, whylen, "w*h*4=%lu does not fit the %llu byte buffer",
			 fi->w * fi->h * 4, (unsigned long long)ev->size);
		return false;
	}
	return true;
}

/* Fills the acknowledgment of frame @n: a header line, then xorshift32. */
static void fill_ack(unsigned char *p, size_t len, int n, bool match)
{
	uint32_t r = 0x48444d4fU ^ (uint32_t)n * 0x9e3779b9U ^ (match ? 0 : 0xa5a5a5a5U);
	size_t i = 0;
	int hdr;

	hdr = snprintf((char *)p, len, "HDDEMO-ACK frame=%d verdict=%s\n", n,
		       match ? "match" : "MISMATCH");
	if (hdr > 0)
		i = (size_t)hdr < len ? (size_t)hdr : len;
	for (; i < len; i++) {
		r ^= r << 13;
		r ^= r >> 17;
		r ^= r << 5;
		p[i] = (unsigned char)(r >> 11);
	}
}

/*
 * Exports the acknowledgment of frame @n to @to, waits until @to has
 * imported it and unexports it.  0 or -1 after a FAIL line.
 */
static int send_ack(int dev, unsigned long to, int n, bool match, double deadline,
		    unsigned long timeout, double *t_ack_done)
{
	struct hyper_dmabuf_export ex = { .remote_domid = to };
	char step[32], priv[HYPER_DMABUF_MAX_PRIV];
	const char *what;
	unsigned char *p;
	uint64_t fnv;
	int buf, len;

	snprintf(step, sizeof(step), "ack-%d", n);
	buf = make_udmabuf(ACK_BYTES, &what);
	if (buf < 0) {
		fail(step, "udmabuf of %d bytes: %s: %s", ACK_BYTES, what, strerror(errno));
		return -1;
	}
	p = mmap(NULL, ACK_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);
	if (p == MAP_FAILED) {
		fail(step, "mmap of the acknowledgment buffer: %s", strerror(errno));
		close(buf);
		return -1;
	}
	if (dmabuf_sync(buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW)) {
		fail(step, "DMA_BUF_IOCTL_SYNC start: %s", strerror(errno));
		munmap(p, ACK_BYTES);
		close(buf);
		return -1;
	}
	fill_ack(p, ACK_BYTES, n, match);
	fnv = fnv1a64(p, ACK_BYTES);
	dmabuf_sync(buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
	munmap(p, ACK_BYTES);

	len = snprintf(priv, sizeof(priv), ACK_MAGIC "frame=%d verdict=%s fnv=%016llx bytes=%d",
		       n, match ? "match" : "MISMATCH", (unsigned long long)fnv, ACK_BYTES);
	ex.fd = buf;
	ex.priv_size = len + 1;
	ex.priv_ptr = (uintptr_t)priv;
	if (ioctl(dev, HYPER_DMABUF_IOCTL_EXPORT, &ex)) {
		int err = errno;

		fail(step, "HYPER_DMABUF_IOCTL_EXPORT to domain %lu: %s%s", to, strerror(err),
		     export_hint(err));
		close(buf);
		return -1;
	}
	*t_ack_done = now_ms();

	/* Unexport only once the peer holds an import (busy > 0). */
	for (;;) {
		struct hyper_dmabuf_query qu = { .hid = ex.hid };

		if (ioctl(dev, HYPER_DMABUF_IOCTL_QUERY, &qu)) {
			fail(step, "HYPER_DMABUF_IOCTL_QUERY of id 0x%08x: %s", ex.hid.id,
			     strerror(errno));
			close(buf);
			return -1;
		}
		if (qu.busy > 0)
			break;
		if (now_ms() >= deadline)
			goto out_late;
		sleep_ms(BUSY_POLL_MS);
	}
	if (hd_unexport(dev, &ex.hid)) {
		fail(step, "HYPER_DMABUF_IOCTL_UNEXPORT of id 0x%08x: %s", ex.hid.id,
		     strerror(errno));
		close(buf);
		return -1;
	}
	/* The import keeps the buffer alive; this reference is not needed. */
	close(buf);
	return 0;

out_late:
	fail(step, "domain %lu did not import the acknowledgment of frame %d within %lu s",
	     to, n, timeout);
	close(buf);
	return -1;
}

/*
 * Imports, checks and saves frame @n announced by @ev.  Sets *@match.
 * 0 or -1 after a FAIL line.
 */
static int take_frame(int dev, const struct hyper_dmabuf_event *ev,
		      const struct frame_info *fi, const char *dir, int n,
		      double deadline, bool *match, uint64_t *got, double t[4])
{
	struct hyper_dmabuf_import im = {
		.hid = ev->hid,
		.fd_flags = O_RDONLY | O_CLOEXEC,
		.timeout_ms = ms_left(deadline),
	};
	size_t bytes = fi->w * fi->h * 4;
	char step[32], path[PATH_MAX], info[256];
	unsigned char *map;
	double t0;
	off_t size;
	int ret = -1, len;

	snprintf(step, sizeof(step), "import-%d", n);
	t0 = now_ms();
	if (ioctl(dev, HYPER_DMABUF_IOCTL_IMPORT, &im)) {
		fail(step, "HYPER_DMABUF_IOCTL_IMPORT of id 0x%08x from domain %u: %s",
		     ev->hid.id, ev->hid.exporter_domid, strerror(errno));
		return -1;
	}
	t[0] = now_ms() - t0;

	snprintf(step, sizeof(step), "map-%d", n);
	t0 = now_ms();
	size = lseek(im.fd, 0, SEEK_END);
	if (size < 0)
		size = ev->size;
	if ((uint64_t)size < bytes) {
		fail(step, "imported buffer has %lld bytes, less than w*h*4=%zu",
		     (long long)size, bytes);
		goto out_close;
	}
	map = mmap(NULL, size, PROT_READ, MAP_SHARED, im.fd, 0);
	if (map == MAP_FAILED) {
		fail(step, "mmap of the imported frame: %s", strerror(errno));
		goto out_close;
	}
	t[1] = now_ms() - t0;

	snprintf(step, sizeof(step), "verify-%d", n);
	t0 = now_ms();
	if (dmabuf_sync(im.fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ)) {
		fail(step, "DMA_BUF_IOCTL_SYNC start: %s", strerror(errno));
		goto out_unmap;
	}
	*got = fnv1a64(map, bytes);
	*match = *got == fi->fnv;
	t[2] = now_ms() - t0;

	/* Saved inside the same CPU access window as the checksum. */
	snprintf(step, sizeof(step), "save-%d", n);
	t0 = now_ms();
	snprintf(path, sizeof(path), "%s/frame-%d.raw", dir, n);
	if (save_file(path, map, bytes)) {
		fail(step, "writing %s: %s", path, strerror(errno));
		goto out_end;
	}
	/* Well within info[], even with 20-digit numbers. */
	len = snprintf(info, sizeof(info), "w=%lu h=%lu stride=%lu fmt=XR24 fnv=%016llx",
		       fi->w, fi->h, fi->stride, (unsigned long long)*got);
	len += snprintf(info + len, sizeof(info) - len, " verdict=%s id=0x%08x exporter=%u\n",
			*match ? "match" : "MISMATCH", ev->hid.id, ev->hid.exporter_domid);
	snprintf(path, sizeof(path), "%s/frame-%d.info", dir, n);
	if (save_file(path, info, len)) {
		fail(step, "writing %s: %s", path, strerror(errno));
		goto out_end;
	}
	ret = 0;
out_end:
	dmabuf_sync(im.fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
	t[3] = now_ms() - t0;
out_unmap:
	munmap(map, size);
out_close:
	close(im.fd);
	return ret;
}

static int cmd_receive(int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_OUT, OPT_FRAMES, OPT_TIMEOUT };
	static const struct option opts[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned long from = 0, frames = 2, timeout = 240;
	double deadline, t_ref;
	const char *dir = NULL;
	bool have_from = false, all_match = true;
	struct evq q = { .n = 0 };
	int c, dev, n, done = 0;
	char step[32];

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_FROM:
			if (!parse_domid(optarg, &from))
				return usage_error("receive", usage_receive, "bad --from '%s'",
						   optarg);
			have_from = true;
			break;
		case OPT_OUT:
			dir = optarg;
			break;
		case OPT_FRAMES:
			if (!parse_num(optarg, 1, MAX_FRAMES, &frames))
				return usage_error("receive", usage_receive,
						   "bad --frames '%s' (1..%d)", optarg, MAX_FRAMES);
			break;
		case OPT_TIMEOUT:
			if (!parse_num(optarg, 1, MAX_TIMEOUT_S, &timeout))
				return usage_error("receive", usage_receive,
						   "bad --timeout '%s' (1..%d seconds)", optarg,
						   MAX_TIMEOUT_S);
			break;
		case 'h':
			fputs(usage_receive, stdout);
			return EXIT_OK;
		default:
			fputs(usage_receive, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("receive", usage_receive, "unexpected argument '%s'",
				   argv[optind]);
	if (!have_from || !dir || !*dir)
		return usage_error("receive", usage_receive, "--from and --out are required");
	if (strlen(dir) > PATH_MAX - 32)
		return usage_error("receive", usage_receive, "--out path too long");

	if (mkdir(dir, 0755) && errno != EEXIST) {
		fail("out-dir", "cannot create %s: %s", dir, strerror(errno));
		return EXIT_FAIL;
	}
	dev = open_dev();
	if (dev < 0)
		return EXIT_FAIL;
	printf("HDDEMO READY\n");
	fflush(stdout);
	t_ref = now_ms();
	deadline = t_ref + timeout * 1000.0;

	for (n = 1; n <= (int)frames; n++) {
		char text[HYPER_DMABUF_MAX_PRIV + 1], why[128];
		struct hyper_dmabuf_event ev;
		struct frame_info fi;
		double t_event, t[4] = { 0 }, t_ack, t_ack_done;
		uint64_t got = 0;
		bool match = false;
		int ret;

		snprintf(step, sizeof(step), "wait-frame-%d", n);
		for (;;) {
			ret = next_event(dev, &q, deadline, &ev);
			if (ret < 0) {
				fail(step, "reading events of " DEMO_DEV ": %s", strerror(errno));
				return EXIT_FAIL;
			}
			if (!ret) {
				fail(step, "no frame from domain %lu within %lu s", from, timeout);
				return EXIT_FAIL;
			}
			if (ev.type == HYPER_DMABUF_EVENT_OVERFLOW) {
				warning("event queue overflow lost=%u", ev.lost);
				continue;
			}
			if (ev.type != HYPER_DMABUF_EVENT_NEW_IMPORT ||
			    ev.hid.exporter_domid != from || !priv_text(&ev, text) ||
			    strncmp(text, FRAME_MAGIC, strlen(FRAME_MAGIC)))
				continue;
			t_event = now_ms() - t_ref;
			if (!parse_frame(text, &ev, frames, &fi, why, sizeof(why))) {
				snprintf(step, sizeof(step), "parse-frame-%d", n);
				fail(step, "bad announcement from domain %lu: %s", from, why);
				return EXIT_FAIL;
			}
			if ((int)fi.frame < n) {
				warning("ignoring a repeated announcement of frame %lu", fi.frame);
				continue;
			}
			if ((int)fi.frame != n) {
				snprintf(step, sizeof(step), "parse-frame-%d", n);
				fail(step, "domain %lu announced frame %lu, expected frame %d",
				     from, fi.frame, n);
				return EXIT_FAIL;
			}
			break;
		}

		if (take_frame(dev, &ev, &fi, dir, n, deadline, &match, &got, t))
			return EXIT_FAIL;

		t_ack = now_ms();
		if (send_ack(dev, from, n, match, deadline, timeout, &t_ack_done))
			return EXIT_FAIL;
		t_ack = now_ms() - t_ack;
		t_ref = t_ack_done;

		/* One line, in pieces. */
		printf("HDDEMO FRAME n=%d id=0x%08x slot=%u domid_byte=0x%02x exporter=%u",
		       n, ev.hid.id, ev.hid.id & HYPER_DMABUF_ID_SLOT_MASK,
		       ev.hid.id >> HYPER_DMABUF_ID_DOMID_SHIFT, ev.hid.exporter_domid);
		printf(" size=%llu w=%lu h=%lu", (unsigned long long)ev.size, fi.w, fi.h);
		printf(" fnv_announced=%016llx fnv_read=%016llx verdict=%s update=%d",
		       (unsigned long long)fi.fnv, (unsigned long long)got,
		       match ? "match" : "MISMATCH",
		       !!(ev.event_flags & HYPER_DMABUF_EVENT_F_UPDATE));
		printf(" t_event_ms=%.1f t_import_ms=%.1f t_map_ms=%.1f", t_event, t[0], t[1]);
		printf(" t_verify_ms=%.1f t_save_ms=%.1f t_ack_ms=%.1f\n", t[2], t[3], t_ack);
		fflush(stdout);
		done = n;
		if (!match) {
			/* The domU stops at a MISMATCH acknowledgment. */
			all_match = false;
			break;
		}
	}
	close(dev);
	printf("HDDEMO RECEIVED frames=%d verdict=%s\n", done,
	       all_match ? "match" : "MISMATCH");
	return all_match ? EXIT_OK : EXIT_FAIL;
}

/* ---- render-file (developer aid, not in the usage) ---------------------- */

static const char usage_render_file[] =
"Usage: hyper_dmabuf_demo render-file --self DOMID --frame N --out FILE\n"
"                                     [--frames N] [--width W] [--height H]\n"
"\n"
"Render one frame into FILE (XRGB8888, width * height * 4 bytes) without\n"
"any device, to look at the picture.\n";

static int cmd_render_file(int argc, char **argv)
{
	enum { OPT_SELF = 256, OPT_FRAME, OPT_FRAMES, OPT_OUT, OPT_WIDTH, OPT_HEIGHT };
	static const struct option opts[] = {
		{ "self", required_argument, NULL, OPT_SELF },
		{ "frame", required_argument, NULL, OPT_FRAME },
		{ "frames", required_argument, NULL, OPT_FRAMES },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "width", required_argument, NULL, OPT_WIDTH },
		{ "height", required_argument, NULL, OPT_HEIGHT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned long self = 0, frame = 1, frames = 2, w = 640, h = 360;
	const char *out = NULL;
	bool have_self = false;
	unsigned char *p;
	uint64_t fnv;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SELF:
			if (!parse_domid(optarg, &self))
				return usage_error("render-file", usage_render_file,
						   "bad --self '%s'", optarg);
			have_self = true;
			break;
		case OPT_FRAME:
		case OPT_FRAMES:
			if (!parse_num(optarg, 1, MAX_FRAMES, c == OPT_FRAME ? &frame : &frames))
				return usage_error("render-file", usage_render_file,
						   "bad frame number '%s'", optarg);
			break;
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_WIDTH:
		case OPT_HEIGHT:
			if (!parse_num(optarg, 1, MAX_DIM, c == OPT_WIDTH ? &w : &h))
				return usage_error("render-file", usage_render_file,
						   "bad size '%s'", optarg);
			break;
		case 'h':
			fputs(usage_render_file, stdout);
			return EXIT_OK;
		default:
			fputs(usage_render_file, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc || !have_self || !out)
		return usage_error("render-file", usage_render_file,
				   "--self, --frame and --out are needed, nothing else");
	if (frame > frames)
		frames = frame;
	p = calloc(w * h, 4);
	if (!p) {
		fail("alloc", "%lu bytes: %s", w * h * 4, strerror(errno));
		return EXIT_FAIL;
	}
	fnv = draw_and_hash(p, w, h, self, frame, frames);
	if (save_file(out, p, w * h * 4)) {
		fail("save", "writing %s: %s", out, strerror(errno));
		free(p);
		return EXIT_FAIL;
	}
	free(p);
	printf("HDDEMO RENDERED frame=%lu w=%lu h=%lu fnv=%016llx out=%s\n", frame, w, h,
	       (unsigned long long)fnv, out);
	return EXIT_OK;
}

/* ---- main --------------------------------------------------------------- */

static const char usage_main[] =
"Usage: hyper_dmabuf_demo render|receive [OPTIONS]\n"
"\n"
"Share a rendered picture between two Xen domains with " DEMO_DEV ".\n"
"  render   (domU) draw frames into a dma-buf and export them to dom0\n"
"  receive  (dom0) import, check and save the frames, acknowledge each\n"
"            with a buffer exported back (the reverse direction)\n"
"\n"
"Run 'hyper_dmabuf_demo COMMAND --help' for the options of a command.\n"
"Exit status: 0 success, 1 failure, 2 bad usage.\n";

int main(int argc, char **argv)
{
	const char *cmd;

	/* Read over a serial console: whole lines, as they happen. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		fputs(usage_main, stdout);
		return EXIT_OK;
	}
	/* Subcommand options start after the subcommand. */
	argc--;
	argv++;
	if (!strcmp(cmd, "render"))
		return cmd_render(argc, argv);
	if (!strcmp(cmd, "receive"))
		return cmd_receive(argc, argv);
	if (!strcmp(cmd, "render-file"))
		return cmd_render_file(argc, argv);
	fprintf(stderr, "hyper_dmabuf_demo: unknown command '%s'\n\n%s", cmd, usage_main);
	return EXIT_USAGE;
}
