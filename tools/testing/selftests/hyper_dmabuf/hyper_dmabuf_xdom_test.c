// SPDX-License-Identifier: GPL-2.0
/*
 * hyper_dmabuf_xdom_test - dma-bufs that cross domains
 *
 * One program in three roles:
 *
 *   serve [NAME]  a servant (every domU): carries out the commands that
 *                 arrive as the private data of buffers exported to it,
 *                 until "done".  One test, servant.serve.  Skips when not
 *                 running under Xen or without a hypervisor backend.
 *   orchestrate   (dom0) drives the servants of HYPER_DMABUF_XDOM_PEERS,
 *                 one test per case (xdom.DIR_PRODUCER_SIZE...).
 *   loopback      both roles in one domain: two servant processes (lo1,
 *                 lo2) and the orchestrator talk through
 *                 HYPER_DMABUF_DOMID_SELF; needs no hypervisor.
 *
 * Without an argument the role is orchestrate in dom0 (control_d in
 * /proc/xen/capabilities) and serve elsewhere.
 *
 * Environment:
 *   HYPER_DMABUF_XDOM_PEERS   "name:domid:type ..." (orchestrate), e.g.
 *                             "pv1:1234:pv pv2:77:pv"; none: skip
 *   HYPER_DMABUF_XDOM_WAIT    seconds to wait for the other side (servant:
 *                             for the orchestrator, and then between two
 *                             commands; orchestrator: for each servant's
 *                             first answer); default 240
 *   HYPER_DMABUF_XDOM_EXPECT_HIGH_DOMID=1  a peer must have domid >= 256
 *   HYPER_DMABUF_XDOM_NAME    own name (default: orchestrator "dom0",
 *                             servant none: it takes any command)
 *   HYPER_DMABUF_XDOM_SHORT=1 skip the long figures of dom0's own side
 *                             (forged messages, allocation failure, grant
 *                             budget, stress): the lab's second boot
 *
 * Protocol.  Every message is the private data of an export: text
 *
 *   HDX1 sid=SID seq=N from=NAME to=NAME cmd=CMD [key=value ...] ck=CK
 *
 * SID is the sender's session (hex), N its sequence number (increasing
 * within the session), CK the FNV-1a 32 hash (hex) of everything before
 * " ck=", so that a receiver knows the private data arrived byte-exact.
 * Each node has one mailbox: a small dma-buf that it re-exports to the
 * peer's domain for each message (the peer gets HYPER_DMABUF_EVENT_F_UPDATE
 * events); the "check" command instead travels with the buffer to check.
 * Replies are cmd=reply with rs=SID re=N of the command, st=ok|fail|skip,
 * why=REASON on failure, and go to the domain that exported the command.
 * A receiver ignores messages for other names, its own, and commands older
 * than the last one of the same sender and session; a repeated command is
 * not carried out again, its reply is re-sent.  Senders re-announce a
 * command (same text) every second (hello) or every 5 s (others) until the
 * reply comes: events reach only files that are open, and a reader that
 * falls behind the event log loses the oldest ones.
 *
 * Commands (sizes in bytes, seeds hex, HID is "ID.KEY" in hex; its
 * exporter is the domain the command came from):
 *   hello                       reply dom=LOCAL_DOMID
 *   done                        reply served= verified= failed=; the
 *                               servant then exits
 *   check size= seed= rw= wseed= [hold=1]
 *                               the carrying buffer: check the announced
 *                               size (size rounded up to pages), query it
 *                               (type, size, exporter, flags, private data
 *                               equal to the event's), refuse O_RDWR of a
 *                               read-only export (EACCES), import, mmap,
 *                               verify every byte, if rw write pattern
 *                               wseed over the first size bytes, release
 *                               (or hold the import and mapping)
 *   send prod=udmabuf|heap|vgem|any size= seed= rw= wseed= dst=DOMID
 *        dn=NAME [pad=N]        make a buffer, fill it, export it to dst
 *                               with a check (private data padded to N
 *                               bytes), wait for the reply, if rw verify
 *                               the importer's writes, unexport; reply
 *                               fill= rt= wb= (ms) and the check's reply
 *   verify hid= / release hid=  re-check / drop a held import
 *   probe hid= expect=ERRNO wait=MS
 *                               import until the result is expect (0:
 *                               success) or MS ms have passed
 *   flood seed=                 export 4 KiB buffers to the sender until
 *                               an export fails; reply n= (exports made)
 *                               base= (exported_ids before) err= old=HID
 *   reuse seed=                 unexport the last flood buffer, export a
 *                               new one (pattern seed) that must take its
 *                               slot with a new key; reply new=HID same=
 *                               newkey=
 *   unflood                     unexport the flood; reply ids= base=
 *   forge k=KIND [lb=HID]       a hostile peer (test hook inject): send
 *                               the sender a forged message of KIND (see
 *                               fkinds[]); reply fid=HID for a forged
 *                               export; "forge k=clean hid=HID" withdraws
 *                               it and frees the forged directory pages
 *
 * Exports that wait for their fences (the xdom.*_pending_then_* cases):
 * the data buffer is a udmabuf with a pending sw_sync write fence, its
 * private data "hdxpend seed=SEED len=LEN" (not a message); LEN is the
 * buffer's size, SEED the pattern it was filled with before the export.
 * Importer side:
 *   pwatch                      open an event file (before the export),
 *                               note the counters
 *   ppend hid= size=LEN seed= wseed=
 *                               while pending: NONBLOCK import EAGAIN,
 *                               import with a 300 ms timeout ETIMEDOUT
 *                               after >= 250 ms, query IMPORTED with
 *                               PENDING_IDLE, size LEN, no private data,
 *                               no event for it yet; start a blocking
 *                               import (a child) and see it asleep in it
 *   pget hid= seed= wseed=      after the signal: the event (no
 *                               F_UPDATE, the private data), the blocked
 *                               import got pattern(wseed), a new import
 *                               too
 *   pgone hid=                  after the unexport: the blocked import
 *                               woke with ENOENT, imports and the query
 *                               fail with ENOENT, no event
 *   pdone hid= gone=0|1         gone: still no event, still ENOENT (the
 *                               fence signalled meanwhile); close, the
 *                               counters are back
 * Exporter side (to the sender of the command):
 *   pexp size= seed=            make and fill the buffer, add the fence,
 *                               export: < 1 s, query PENDING_IDLE,
 *                               pending_idle + 1; reply hid= ms=
 *   psig hid= wseed=            write pattern(wseed), signal the fence:
 *                               PENDING_IDLE and pending_idle clear
 *   punexp hid=                 unexport, the fence still pending
 *   pclose hid=                 unexport, signal, close; counters back
 *   preset                      forget both sides (after a failure)
 *
 * Buffers: producers allocate whole pages, so a buffer of size S is
 * exported with S rounded up to pages.  The exporter fills all of it with
 * pattern(seed); the importer verifies all of it; a read-write importer
 * overwrites the first S bytes with pattern(wseed), and the exporter then
 * checks both parts.  pattern(seed) gives every 8-byte word a value unique
 * within the buffer, so that misplaced pages are found too.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/memfd.h>	/* before sys/mman.h: no MFD_* redefinition */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <linux/dma-buf.h>
#include <linux/hyper_dmabuf.h>
#include <xen/gntalloc.h>

#include "../kselftest_harness.h"
#include "hyper_dmabuf_helpers.h"

#define DEV_PATH	"/dev/hyper_dmabuf"
#define MAGIC		"HDX1 "
#define NAME_LEN	16
#define TEXT_LEN	256	/* room to detect messages that are too long */
#define MAX_PEERS	8
#define MAX_REQS	8
#define MAX_HOLDS	4
#define MAX_FLOOD	(HYPER_DMABUF_MAX_IDS + 8)
#define TIMEOUT_S	3600	/* harness guard: our own waits are bounded */
#define REPLY_S		150	/* longest wait for the reply to a command */
#define RESEND_S	5	/* re-announce an unanswered command */
#define SETTLE_S	30	/* counters back to their baseline */
#define GREETED_S	30	/* hello to a servant that answered before */
#define KiB		1024UL
#define MiB		(1024 * KiB)

enum role { ROLE_SERVE, ROLE_ORCH, ROLE_LOOP };
enum st { ST_OK, ST_FAIL, ST_SKIP };

struct peer {
	char name[NAME_LEN];
	__u32 domid;
	char type[16];
};

/* Shared by the harness and its test processes (a MAP_SHARED page). */
static const char * const ctr_names[] = {
	"exported_ids", "imported", "grants_in_use", "mapped_pages",
	"pending_idle", "fences_held",
};

#define NR_CTRS	ARRAY_SIZE(ctr_names)
#define CTR_PENDING_IDLE	4	/* index of "pending_idle" */

struct ctrs {
	int v[NR_CTRS];
};

struct shared {
	__u32 seq;
	int greeted[MAX_PEERS];
	int absent[MAX_PEERS];
	bool have_idle;		/* idle: counters before the first case */
	struct ctrs idle;
};

static struct {
	enum role role;
	bool loopback;
	int wait_s;
	char name[NAME_LEN];
	__u32 sid;
	__u32 domid;		/* local domain id, as the driver reports it */
	struct peer peers[MAX_PEERS];
	int npeers;
	const char *skip;	/* why every test of this run skips */
	struct shared *sh;
	pid_t servants[2];
} cfg;

/* ---- small helpers ------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ms_since(double t0)
{
	return (int)((now_s() - t0) * 1000);
}

static size_t round_page(size_t size)
{
	return (size + PAGE - 1) & ~(PAGE - 1);
}

/* A diagnostic line, valid TAP ("# ..."); flushed: tests end in _exit(). */
static void say(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	if (cfg.role == ROLE_LOOP && cfg.name[0] && strcmp(cfg.name, "orch"))
		printf("[%s] ", cfg.name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* The Xen backend's view of its channels, to explain a missing answer. */
static void say_channels(void)
{
	char line[256];
	FILE *f;

	f = fopen("/sys/kernel/debug/hyper_dmabuf_xen/channels", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		say("channels: %s", line);
	}
	fclose(f);
}

/* Seeds differ between processes (the harness forks one per test). */
static __u32 new_seed(void)
{
	static pid_t pid;
	static __u32 x;

	if (pid != getpid()) {
		pid = getpid();
		x = cfg.sid ^ (__u32)pid * 2654435761U ^ (__u32)(now_s() * 1e6);
	}
	x = x * 1664525U + 1013904223U;
	return x;
}

/* ---- the byte pattern --------------------------------------------------- */

/* Word @i of pattern(@seed): a bijection of @i, so unique in a buffer. */
static __u64 pat_word(__u32 seed, __u64 i)
{
	__u64 w = (i ^ ((__u64)seed << 32)) * 0x9e3779b97f4a7c15ULL;

	return w ^ (w >> 29);
}

static unsigned char pat_byte(__u32 seed, size_t off)
{
	__u64 w = pat_word(seed, off / 8);
	unsigned char b[8];

	memcpy(b, &w, sizeof(b));
	return b[off % 8];
}

/* Write bytes [@from, @to) of pattern(@seed) into the mapping @p. */
static void pat_fill(void *p, size_t from, size_t to, __u32 seed)
{
	unsigned char *c = p;
	size_t o = from;

	for (; o < to && o % 8; o++)
		c[o] = pat_byte(seed, o);
	for (; o + 8 <= to; o += 8)
		*(__u64 *)(c + o) = pat_word(seed, o / 8);
	for (; o < to; o++)
		c[o] = pat_byte(seed, o);
}

/* First offset in [@from, @to) of @p not holding pattern(@seed), or @to. */
static size_t pat_check(const void *p, size_t from, size_t to, __u32 seed)
{
	const unsigned char *c = p;
	size_t o = from;

	for (; o < to && o % 8; o++)
		if (c[o] != pat_byte(seed, o))
			return o;
	for (; o + 8 <= to; o += 8)
		if (*(const __u64 *)(c + o) != pat_word(seed, o / 8))
			break;
	for (; o < to; o++)
		if (c[o] != pat_byte(seed, o))
			return o;
	return to;
}

/* Fill a whole dma-buf of @len bytes with pattern(@seed); 0 or -errno. */
static int buf_fill(int buf, size_t len, __u32 seed)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, buf, 0);

	if (p == MAP_FAILED)
		return -errno;
	pat_fill(p, 0, len, seed);
	munmap(p, len);
	return 0;
}

/* ---- messages ----------------------------------------------------------- */

struct msg {
	struct hyper_dmabuf_event ev;
	char text[TEXT_LEN];
	bool ck_ok;
};

/* Copy the value of " @key=" in @text into @val; false if absent. */
static bool field(const char *text, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key), n;
	const char *p = text;

	for (;;) {
		p = strstr(p, key);
		if (!p)
			return false;
		if (p > text && p[-1] == ' ' && p[klen] == '=')
			break;
		p += klen;
	}
	p += klen + 1;
	n = strcspn(p, " ");
	if (n >= len)
		return false;
	memcpy(val, p, n);
	val[n] = 0;
	return true;
}

static unsigned long long num(const char *text, const char *key, int base,
			      unsigned long long def)
{
	char v[32];

	return field(text, key, v, sizeof(v)) ? strtoull(v, NULL, base) : def;
}

static bool is(const char *text, const char *key, const char *val)
{
	char v[NAME_LEN];

	return field(text, key, v, sizeof(v)) && !strcmp(v, val);
}

static __u32 fnv1a32(const char *p, size_t len)
{
	__u32 h = 2166136261U;

	while (len--)
		h = (h ^ (unsigned char)*p++) * 16777619U;
	return h;
}

static void msg_add(char *text, const char *fmt, ...)
{
	size_t len = strlen(text);
	va_list ap;

	if (len + 2 >= TEXT_LEN)
		return;
	text[len++] = ' ';
	va_start(ap, fmt);
	vsnprintf(text + len, TEXT_LEN - len, fmt, ap);
	va_end(ap);
}

/* Pad @text to @pad_to bytes (0: do not) and append the checksum. */
static int msg_seal(char *text, size_t pad_to)
{
	const size_t ck_len = strlen(" ck=12345678");
	size_t len = strlen(text);

	if (pad_to > HYPER_DMABUF_MAX_PRIV)
		pad_to = HYPER_DMABUF_MAX_PRIV;
	if (pad_to && len + strlen(" pad=x") + ck_len <= pad_to) {
		len += snprintf(text + len, TEXT_LEN - len, " pad=");
		while (len + ck_len < pad_to) {
			text[len] = 'a' + len % 26;
			len++;
		}
		text[len] = 0;
	}
	if (len + ck_len > HYPER_DMABUF_MAX_PRIV)
		return -E2BIG;
	snprintf(text + len, TEXT_LEN - len, " ck=%08x", fnv1a32(text, len));
	return 0;
}

static bool msg_ck_ok(const char *text)
{
	const char *p = strstr(text, " ck=");

	return p && strlen(p) == strlen(" ck=12345678") &&
	       strtoul(p + 4, NULL, 16) == fnv1a32(text, p - text);
}

static void hid_str(const struct hyper_dmabuf_id *h, char *s, size_t len)
{
	snprintf(s, len, "%x.%08x%08x%08x", h->id, h->key[0], h->key[1],
		 h->key[2]);
}

static bool hid_parse(const char *text, const char *key, __u32 domid,
		      struct hyper_dmabuf_id *h)
{
	char v[48];

	memset(h, 0, sizeof(*h));
	h->exporter_domid = domid;
	return field(text, key, v, sizeof(v)) &&
	       sscanf(v, "%x.%8x%8x%8x", &h->id, &h->key[0], &h->key[1],
		      &h->key[2]) == 4;
}

/* The domain byte of an id must be the exporter's; NULL if it is. */
static const char *hid_bad(const struct hyper_dmabuf_id *h)
{
	if (h->id >> HYPER_DMABUF_ID_DOMID_SHIFT != (h->exporter_domid & 0xff))
		return "id_domain_byte";
	if ((h->id & HYPER_DMABUF_ID_SLOT_MASK) >= HYPER_DMABUF_MAX_IDS)
		return "id_slot";
	return NULL;
}

/* ---- driver calls ------------------------------------------------------- */

static int hd_send(int dev, int buf, __u32 domid, __u32 flags,
		   const char *text, struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_export arg = {
		.fd = buf,
		.remote_domid = domid,
		.flags = flags,
		.priv_size = text ? strlen(text) : 0,
		.priv_ptr = (uintptr_t)text,
	};

	if (ioctl(dev, HYPER_DMABUF_IOCTL_EXPORT, &arg))
		return -errno;
	if (hid)
		*hid = arg.hid;
	return 0;
}

static int hd_import(int dev, const struct hyper_dmabuf_id *hid, int mode)
{
	struct hyper_dmabuf_import arg = {
		.hid = *hid,
		.fd_flags = mode | O_CLOEXEC,
		.timeout_ms = 10000,
	};

	if (ioctl(dev, HYPER_DMABUF_IOCTL_IMPORT, &arg))
		return -errno;
	return arg.fd;
}

/* A new dma-buf of @len bytes from @prod; -1 with *@skip set if none. */
static int produce(const char *prod, size_t len, const char **skip)
{
	__u32 handle;
	int vgem, fd;

	*skip = NULL;
	if (!strcmp(prod, "udmabuf")) {
		if (access(UDMABUF_PATH, F_OK))
			*skip = "no_udmabuf";
		return *skip ? -1 : udmabuf_alloc(len);
	}
	if (!strcmp(prod, "heap")) {
		if (access(HEAP_PATH, F_OK))
			*skip = "no_system_heap";
		return *skip ? -1 : heap_alloc(len);
	}
	if (!strcmp(prod, "vgem")) {
		/* See vgem_cpu_access_hangs(): would hang, not fail. */
		if (vgem_cpu_access_hangs()) {
			*skip = "vgem_cpu_writes_hang_in_a_pv_domU";
			return -1;
		}
		vgem = vgem_open();
		if (vgem < 0) {
			*skip = "no_vgem";
			return -1;
		}
		fd = vgem_alloc(vgem, len, &handle);
		close(vgem);
		return fd;
	}
	if (!strcmp(prod, "any"))
		return buf_alloc(len);
	*skip = "unknown_producer";
	return -1;
}

/* Whether domain @domid exists: 1 yes, 0 no, -1 cannot tell. */
static int domain_alive(__u32 domid)
{
	char cmd[64];
	int ret;

	if (cfg.loopback || cfg.role != ROLE_ORCH)
		return -1;
	snprintf(cmd, sizeof(cmd), "xl domname %u >/dev/null 2>&1", domid);
	ret = system(cmd);
	if (ret == -1 || !WIFEXITED(ret) || WEXITSTATUS(ret) == 127)
		return -1;
	return WEXITSTATUS(ret) == 0;
}

/* ---- counters ----------------------------------------------------------- */

static void ctrs_read(struct ctrs *c)
{
	unsigned int i;

	for (i = 0; i < NR_CTRS; i++)
		c->v[i] = hd_counter(ctr_names[i]);
}

static void ctrs_str(const struct ctrs *c, char *s, size_t len)
{
	unsigned int i;
	size_t n = 0;

	for (i = 0; i < NR_CTRS && n < len; i++)
		n += snprintf(s + n, len - n, "%s%s=%d", i ? " " : "",
			      ctr_names[i], c->v[i]);
}

/* Wait up to SETTLE_S for the counters to equal @base; true if they do. */
static bool ctrs_settle(const struct ctrs *base, struct ctrs *now)
{
	double end = now_s() + SETTLE_S;

	for (;;) {
		ctrs_read(now);
		if (!memcmp(base, now, sizeof(*now)))
			return true;
		if (now_s() > end)
			return false;
		usleep(50 * 1000);
	}
}

/* Wait up to SETTLE_S for the counter @name to equal @want; its value. */
static int counter_settle(const char *name, int want)
{
	double end = now_s() + SETTLE_S;
	int v;

	for (;;) {
		v = hd_counter(name);
		if (v == want || now_s() > end)
			return v;
		usleep(50 * 1000);
	}
}

/* ---- a node: one open /dev/hyper_dmabuf speaking the protocol ----------- */

struct req {			/* the last command of one sender */
	char from[NAME_LEN];
	__u32 sid;
	__u32 seq;
	__u32 domid;
	char reply[TEXT_LEN];
};

struct hold {			/* an import kept by check hold=1 */
	struct hyper_dmabuf_id hid;
	int fd;
	void *map;
	size_t len;
	__u32 seed;
};

/* The importer's side of an export that waits for its fence. */
struct pend_imp {
	int watch;		/* opened before the export: its events */
	pid_t child;		/* a blocking import, or 0 */
	int res;		/* the child's struct child_res comes here */
	struct hyper_dmabuf_id hid;
	size_t len;
	struct ctrs base;
};

/* The exporter's side. */
struct pend_exp {
	int buf;
	int tl;			/* the sw_sync timeline of the fence */
	struct hyper_dmabuf_id hid;
	size_t len;
	bool exported, signalled, unexported;
	struct ctrs base;
};

struct node {
	int dev;
	int mbox;		/* the dma-buf every message is exported with */
	__u32 sid;
	__u32 *seq;
	__u32 own_seq;
	const char *name;
	bool any_to;		/* no name of our own: every message is ours */
	struct req reqs[MAX_REQS];
	unsigned int next_req;
	struct hold holds[MAX_HOLDS];
	struct hyper_dmabuf_id *flood;
	int nflood;
	int flood_base;
	unsigned int served, verified, failed, checks;
	char last_check[TEXT_LEN];	/* the last check served, and */
	char last_reply[TEXT_LEN];	/* its reply's fields */
	struct pend_imp pi;
	struct pend_exp pe;
	bool done;
};

/* A command: @text exported with @buf through @dev to @domid. */
struct cmd {
	int dev;
	int buf;
	__u32 flags;
	__u32 domid;
	__u32 seq;
	char text[TEXT_LEN];
	struct hyper_dmabuf_id hid;	/* out: the export */
};

static int node_init(struct node *n, const char *name, __u32 *seq, __u32 sid)
{
	static char own[NAME_LEN];
	int i;

	memset(n, 0, sizeof(*n));
	n->dev = -1;
	n->mbox = -1;
	for (i = 0; i < MAX_HOLDS; i++)
		n->holds[i].fd = -1;
	n->pi.watch = -1;
	n->pi.res = -1;
	n->pe.buf = -1;
	n->pe.tl = -1;
	n->seq = seq;
	n->sid = sid;
	n->any_to = !name[0];
	if (n->any_to) {
		snprintf(own, sizeof(own), "d%u", cfg.domid);
		name = own;
	}
	n->name = name;
	n->mbox = buf_alloc(PAGE);
	if (n->mbox < 0)
		return -ENOMEM;
	n->dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (n->dev < 0) {
		i = -errno;
		close(n->mbox);
		n->mbox = -1;
		return i;
	}
	return 0;
}

static void pend_reset(struct node *n);

static void node_fini(struct node *n)
{
	int i;

	if (n->mbox < 0)
		return;		/* node_init() did not get that far */
	pend_reset(n);
	for (i = 0; i < MAX_HOLDS; i++) {
		if (n->holds[i].fd < 0)
			continue;
		munmap(n->holds[i].map, n->holds[i].len);
		close(n->holds[i].fd);
	}
	free(n->flood);
	if (n->dev >= 0)
		close(n->dev);
	if (n->mbox >= 0)
		close(n->mbox);
}

static void msg_head(struct node *n, char *text, const char *to,
		     const char *cmd, __u32 *seq)
{
	*seq = __atomic_add_fetch(n->seq, 1, __ATOMIC_SEQ_CST);
	snprintf(text, TEXT_LEN, MAGIC "sid=%x seq=%u from=%s to=%s cmd=%s",
		 n->sid, *seq, n->name, to, cmd);
}

/* (Re-)announce command @c; 0 or -errno. */
static int cmd_send(struct node *n, struct cmd *c)
{
	return hd_send(c->dev, c->buf, c->domid, c->flags, c->text, &c->hid);
}

/* A command through our mailbox, text to be completed by the caller. */
static void cmd_init(struct node *n, struct cmd *c, __u32 domid,
		     const char *to, const char *cmd)
{
	memset(c, 0, sizeof(*c));
	c->dev = n->dev;
	c->buf = n->mbox;
	c->domid = domid;
	msg_head(n, c->text, to, cmd, &c->seq);
}

/*
 * Wait until @deadline for the next message addressed to this node: a
 * NEW_IMPORT event whose private data is a message of ours, to our name.
 */
static bool next_msg(struct node *n, struct msg *m, double deadline)
{
	struct pollfd p = { .fd = n->dev, .events = POLLIN };
	char to[NAME_LEN];
	double left;
	ssize_t len;

	for (;;) {
		left = deadline - now_s();
		if (left <= 0)
			return false;
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		len = read(n->dev, &m->ev, sizeof(m->ev));
		if (len != sizeof(m->ev)) {
			say("read() of an event: %zd, %s", len, strerror(errno));
			usleep(100 * 1000);
			continue;
		}
		if (m->ev.type == HYPER_DMABUF_EVENT_OVERFLOW)
			continue;	/* what was lost is re-announced */
		if (m->ev.type != HYPER_DMABUF_EVENT_NEW_IMPORT ||
		    m->ev.priv_size > HYPER_DMABUF_MAX_PRIV)
			continue;
		memcpy(m->text, m->ev.priv, m->ev.priv_size);
		m->text[m->ev.priv_size] = 0;
		if (strncmp(m->text, MAGIC, strlen(MAGIC)))
			continue;
		if (num(m->text, "sid", 16, 0) == n->sid)
			continue;	/* ours (loopback) */
		if (!n->any_to &&
		    (!field(m->text, "to", to, sizeof(to)) ||
		     strcmp(to, n->name)))
			continue;
		m->ck_ok = msg_ck_ok(m->text) &&
			   strlen(m->text) == m->ev.priv_size;
		return true;
	}
}

static void serve_msg(struct node *n, struct msg *m, bool nested);

/*
 * Announce command @c and wait for its reply (into @rep), re-announcing it
 * every @resend_s seconds; commands that come meanwhile are served (only
 * checks: see serve_msg()).  1: reply, 0: none within @timeout_s,
 * -ESRCH: the peer's domain is gone, other negative: the export failed.
 */
static int request(struct node *n, struct cmd *c, int resend_s, int timeout_s,
		   struct msg *rep)
{
	double end = now_s() + timeout_s, next = 0, until;
	int ret;

	for (;;) {
		if (now_s() >= next) {
			ret = cmd_send(n, c);
			/*
			 * The channel is not up until the peer's driver is;
			 * a peer that died (an emulator fault) never brings
			 * it up: no use waiting until the end for it.
			 */
			if (ret == -ETIMEDOUT && now_s() < end) {
				if (!domain_alive(c->domid))
					return -ESRCH;
				next = now_s() + resend_s;
				continue;
			}
			if (ret)
				return ret;
			if (next && !domain_alive(c->domid))
				return -ESRCH;
			next = now_s() + resend_s;
		}
		until = next < end ? next : end;
		if (!next_msg(n, rep, until)) {
			if (now_s() >= end)
				return 0;
			continue;
		}
		if (!is(rep->text, "cmd", "reply")) {
			serve_msg(n, rep, true);
			continue;
		}
		if (num(rep->text, "rs", 16, 0) != n->sid ||
		    num(rep->text, "re", 10, 0) != c->seq)
			continue;	/* stale */
		if (!cfg.loopback && rep->ev.hid.exporter_domid != c->domid) {
			say("reply to seq %u from domain %u, not %u: %s",
			    c->seq, rep->ev.hid.exporter_domid, c->domid,
			    rep->text);
			continue;
		}
		return 1;
	}
}

static enum st reply_st(const struct msg *rep)
{
	if (!rep->ck_ok)
		return ST_FAIL;
	if (is(rep->text, "st", "ok"))
		return ST_OK;
	return is(rep->text, "st", "skip") ? ST_SKIP : ST_FAIL;
}

/* ---- serving commands --------------------------------------------------- */

/* NULL if a query of the announced buffer agrees with the event. */
static const char *query_bad(struct node *n, const struct msg *m)
{
	unsigned char priv[HYPER_DMABUF_MAX_PRIV];
	struct hyper_dmabuf_query q = {
		.hid = m->ev.hid,
		.priv_ptr = (uintptr_t)priv,
		.priv_buf_size = sizeof(priv),
	};

	if (ioctl(n->dev, HYPER_DMABUF_IOCTL_QUERY, &q))
		return "query_failed";
	/* In one domain the export is found first. */
	if (q.type != HYPER_DMABUF_TYPE_IMPORTED &&
	    !(cfg.loopback && q.type == HYPER_DMABUF_TYPE_EXPORTED))
		return "query_type";
	if (q.size != m->ev.size)
		return "query_size";
	if (q.exporter_domid != m->ev.hid.exporter_domid)
		return "query_exporter";
	if (!cfg.loopback && q.importer_domid != cfg.domid)
		return "query_importer";
	if (q.flags != m->ev.export_flags)
		return "query_flags";
	if (q.priv_size != m->ev.priv_size ||
	    memcmp(priv, m->ev.priv, m->ev.priv_size))
		return "query_priv";
	return NULL;
}

static struct hold *hold_find(struct node *n, const struct hyper_dmabuf_id *h)
{
	int i;

	for (i = 0; i < MAX_HOLDS; i++)
		if (n->holds[i].fd >= 0 && n->holds[i].hid.id == h->id &&
		    !memcmp(n->holds[i].hid.key, h->key, sizeof(h->key)))
			return &n->holds[i];
	return NULL;
}

/*
 * What the kernel sees of an import: the Xen backend's debugfs check hook
 * vmaps it (FNV-1a 64 of every byte) and maps it for a device (bytes of
 * the sg_table).  Returns NULL when both match @p, else why not.  Without
 * the Xen backend there is nothing to ask.
 */
static const char *kernel_view_bad(int fd, const void *p, size_t len)
{
	static char why[96];
	unsigned long long hash = 0xcbf29ce484222325ULL, khash;
	const unsigned char *b = p;
	size_t i, ksize, ksg;
	char buf[128], num[16];
	int c, r;

	c = open("/sys/kernel/debug/hyper_dmabuf_xen/check", O_RDWR);
	if (c < 0)
		return access("/sys/module/hyper_dmabuf_xen", F_OK) ?
		       NULL : "no_check_hook";
	snprintf(num, sizeof(num), "%d", fd);
	if (write(c, num, strlen(num)) < 0) {
		snprintf(why, sizeof(why), "kernel_check err=%d", errno);
		close(c);
		return why;
	}
	r = read(c, buf, sizeof(buf) - 1);
	close(c);
	if (r <= 0)
		return "kernel_check_read";
	buf[r] = 0;
	if (sscanf(buf, "size=%zu fnv1a64=%llx sg_bytes=%zu", &ksize, &khash,
		   &ksg) != 3)
		return "kernel_check_format";
	for (i = 0; i < len; i++)
		hash = (hash ^ b[i]) * 0x100000001b3ULL;
	if (ksize != len || ksg != len || khash != hash) {
		snprintf(why, sizeof(why), "kernel_view size=%zu sg=%zu %s",
			 ksize, ksg, khash != hash ? "vmap_differs" : "");
		return why;
	}
	return NULL;
}

/*
 * Let go of an import while a page of it is still referenced, as an
 * O_DIRECT transfer does: vmsplice() the first page of the mapping @p into
 * a pipe, unmap and close the import, then read the page from the pipe.
 * The backend must keep the page mapped, and its content, until the pipe
 * lets go.  A PV importer maps foreign frames without struct pages the
 * kernel could pin (VM_PFNMAP): vmsplice() fails there, and *@pinned says
 * so.  Returns NULL, or why the check failed; the import is closed.
 */
static const char *pin_release(void *p, size_t len, int fd, size_t size,
			       __u32 seed, bool *pinned)
{
	static unsigned char page[4096];
	size_t n = size < sizeof(page) ? size : sizeof(page);
	struct iovec iov = { .iov_base = p, .iov_len = sizeof(page) };
	const char *why = NULL;
	int pfd[2];
	ssize_t r;

	*pinned = false;
	if (pipe(pfd)) {
		munmap(p, len);
		close(fd);
		return "pipe";
	}
	r = vmsplice(pfd[1], &iov, 1, 0);
	*pinned = r == (ssize_t)sizeof(page);
	munmap(p, len);
	close(fd);
	if (*pinned) {
		/* The release has run when close() returned; give it time. */
		usleep(100000);
		r = read(pfd[0], page, sizeof(page));
		if (r != (ssize_t)sizeof(page))
			why = "pinned_read";
		else if (pat_check(page, 0, n, seed) != n)
			why = "pinned_page_lost_at_release";
	} else if (r >= 0 || errno != EFAULT) {
		why = "vmsplice";
	}
	close(pfd[0]);
	close(pfd[1]);
	return why;
}

static void do_check(struct node *n, struct msg *m, char *out)
{
	size_t size = num(m->text, "size", 10, 0), len = round_page(size), off;
	__u32 seed = num(m->text, "seed", 16, 0);
	__u32 wseed = num(m->text, "wseed", 16, 0);
	bool rw = num(m->text, "rw", 10, 0), hold = num(m->text, "hold", 10, 0);
	struct hyper_dmabuf_id *hid = &m->ev.hid;
	struct dma_buf_sync sync;
	struct hold *h = NULL;
	bool pinned = false;
	double t0 = now_s();
	const char *why;
	int fd, i;
	void *p;

	n->checks++;
	snprintf(n->last_check, TEXT_LEN, "%s", m->text);
	if (!size || m->ev.size != len) {
		sprintf(out, "st=fail why=size got=%llu", m->ev.size);
		return;
	}
	if (rw != !!(m->ev.export_flags & HYPER_DMABUF_EXPORT_RDWR)) {
		sprintf(out, "st=fail why=flags got=%u", m->ev.export_flags);
		return;
	}
	why = hid_bad(hid);
	if (!why)
		why = query_bad(n, m);
	if (why) {
		sprintf(out, "st=fail why=%s", why);
		return;
	}
	if (hold) {
		for (i = 0; i < MAX_HOLDS && !h; i++)
			if (n->holds[i].fd < 0)
				h = &n->holds[i];
		if (!h) {
			sprintf(out, "st=fail why=too_many_holds");
			return;
		}
	}
	if (!rw) {
		fd = hd_import(n->dev, hid, O_RDWR);
		if (fd >= 0)
			close(fd);
		if (fd != -EACCES) {
			sprintf(out, "st=fail why=rdwr_import_of_read_only err=%d",
				-fd);
			return;
		}
	}
	fd = hd_import(n->dev, hid, rw ? O_RDWR : O_RDONLY);
	if (fd < 0) {
		sprintf(out, "st=fail why=import err=%d", -fd);
		return;
	}
	p = mmap(NULL, len, PROT_READ | (rw ? PROT_WRITE : 0), MAP_SHARED, fd,
		 0);
	if (p == MAP_FAILED) {
		sprintf(out, "st=fail why=mmap err=%d", errno);
		close(fd);
		return;
	}
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
	if (ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync))
		why = "sync_start";
	off = pat_check(p, 0, len, seed);
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	if (!why && ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync))
		why = "sync_end";
	if (!why && off == len)
		why = kernel_view_bad(fd, p, len);
	/* A read-only import never becomes writable. */
	if (!why && !rw && mprotect(p, len, PROT_READ | PROT_WRITE) == 0)
		why = "read_only_import_became_writable";
	if (!why && !rw && mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
				fd, 0) != MAP_FAILED)
		why = "read_only_import_mapped_writable";
	if (off != len || why) {
		if (off != len)
			sprintf(out, "st=fail why=data off=%zu", off);
		else
			sprintf(out, "st=fail why=%s", why);
		munmap(p, len);
		close(fd);
		return;
	}
	if (rw)
		pat_fill(p, 0, size, wseed);
	if (h) {
		h->hid = *hid;
		h->fd = fd;
		h->map = p;
		h->len = len;
		h->seed = seed;
	} else {
		why = pin_release(p, len, fd, size, rw ? wseed : seed,
				  &pinned);
		if (why) {
			sprintf(out, "st=fail why=%s", why);
			return;
		}
	}
	n->verified++;
	sprintf(out, "st=ok vt=%d pinned=%d", ms_since(t0), pinned);
}

/* Re-check a held import through its mapping and through a new one. */
static void do_verify(struct node *n, struct msg *m, char *out)
{
	struct hyper_dmabuf_id hid;
	struct hold *h;
	size_t off;
	void *p;

	if (!hid_parse(m->text, "hid", m->ev.hid.exporter_domid, &hid)) {
		sprintf(out, "st=fail why=bad_hid");
		return;
	}
	h = hold_find(n, &hid);
	if (!h) {
		sprintf(out, "st=fail why=not_held");
		return;
	}
	off = pat_check(h->map, 0, h->len, h->seed);
	if (off != h->len) {
		sprintf(out, "st=fail why=data off=%zu", off);
		return;
	}
	p = mmap(NULL, h->len, PROT_READ, MAP_SHARED, h->fd, 0);
	if (p == MAP_FAILED) {
		sprintf(out, "st=fail why=mmap err=%d", errno);
		return;
	}
	off = pat_check(p, 0, h->len, h->seed);
	munmap(p, h->len);
	if (off != h->len) {
		sprintf(out, "st=fail why=data_new_map off=%zu", off);
		return;
	}
	n->verified++;
	sprintf(out, "st=ok");
}

/* Servant: one buffer exported to the asker and kept, for its imports. */
static struct {
	struct hyper_dmabuf_id hid;
	int buf;
} offered = { .buf = -1 };

static void do_offer(struct node *n, struct msg *m, char *out)
{
	size_t size = num(m->text, "size", 10, 0);
	__u32 seed = num(m->text, "seed", 16, 0);
	char s[48];
	int err;

	if (offered.buf >= 0 || !size || size % PAGE || size > 64 * MiB) {
		sprintf(out, "st=fail why=offer_args");
		return;
	}
	offered.buf = buf_alloc(size);
	if (offered.buf < 0 || buf_fill(offered.buf, size, seed)) {
		sprintf(out, "st=fail why=alloc");
		goto out_close;
	}
	err = -hd_send(n->dev, offered.buf, m->ev.hid.exporter_domid, 0, NULL,
		       &offered.hid);
	if (err) {
		sprintf(out, "st=fail why=export err=%d", err);
		goto out_close;
	}
	hid_str(&offered.hid, s, sizeof(s));
	sprintf(out, "st=ok hid=%s", s);
	return;
out_close:
	if (offered.buf >= 0)
		close(offered.buf);
	offered.buf = -1;
}

static void do_unoffer(struct node *n, char *out)
{
	int err;

	if (offered.buf < 0) {
		sprintf(out, "st=fail why=nothing_offered");
		return;
	}
	err = -hd_unexport(n->dev, &offered.hid);
	close(offered.buf);
	offered.buf = -1;
	sprintf(out, "st=%s err=%d", err ? "fail" : "ok", err);
}

static void do_release(struct node *n, struct msg *m, char *out)
{
	struct hyper_dmabuf_id hid;
	struct hold *h;

	if (!hid_parse(m->text, "hid", m->ev.hid.exporter_domid, &hid)) {
		sprintf(out, "st=fail why=bad_hid");
		return;
	}
	h = hold_find(n, &hid);
	if (!h) {
		sprintf(out, "st=fail why=not_held");
		return;
	}
	munmap(h->map, h->len);
	close(h->fd);
	h->fd = -1;
	sprintf(out, "st=ok");
}

static void do_probe(struct node *n, struct msg *m, char *out)
{
	int expect = num(m->text, "expect", 10, 0);
	int wait = num(m->text, "wait", 10, 5000);
	struct hyper_dmabuf_id hid;
	double t0 = now_s();
	int fd, err, first = -1;

	if (!hid_parse(m->text, "hid", m->ev.hid.exporter_domid, &hid)) {
		sprintf(out, "st=fail why=bad_hid");
		return;
	}
	for (;;) {
		fd = hd_import(n->dev, &hid, O_RDONLY);
		err = fd < 0 ? -fd : 0;
		if (fd >= 0)
			close(fd);
		if (first < 0)
			first = err;
		if (err == expect) {
			sprintf(out, "st=ok err=%d first=%d ms=%d", err, first,
				ms_since(t0));
			return;
		}
		if (ms_since(t0) > wait)
			break;
		usleep(50 * 1000);
	}
	sprintf(out, "st=fail why=probe err=%d first=%d", err, first);
}

static void do_send(struct node *n, struct msg *m, char *out);
static void do_forge(struct node *n, struct msg *m, char *out);

static void do_flood(struct node *n, struct msg *m, char *out)
{
	__u32 dst = m->ev.hid.exporter_domid;
	char old[48] = "none";
	int i, buf, err = 0;

	if (!n->flood)
		n->flood = calloc(MAX_FLOOD, sizeof(*n->flood));
	if (!n->flood || n->nflood) {
		sprintf(out, "st=fail why=flood_state");
		return;
	}
	n->flood_base = hd_counter("exported_ids");
	for (i = 0; i < MAX_FLOOD; i++) {
		buf = buf_alloc(PAGE);
		if (buf < 0) {
			err = ENOMEM;
			break;
		}
		/* The export keeps its own reference to the buffer. */
		err = -hd_send(n->dev, buf, dst, 0, NULL, &n->flood[i]);
		close(buf);
		if (err)
			break;
	}
	n->nflood = i;
	if (i)
		hid_str(&n->flood[i - 1], old, sizeof(old));
	sprintf(out, "st=%s n=%d base=%d err=%d old=%s",
		err == ENOSPC && i ? "ok" : "fail", i, n->flood_base, err, old);
}

static void do_reuse(struct node *n, struct msg *m, char *out)
{
	__u32 dst = m->ev.hid.exporter_domid;
	__u32 seed = num(m->text, "seed", 16, 0);
	struct hyper_dmabuf_id old, new;
	double end = now_s() + SETTLE_S;
	char s[48];
	int buf, ret;
	bool same, newkey;

	if (!n->nflood) {
		sprintf(out, "st=fail why=no_flood");
		return;
	}
	old = n->flood[n->nflood - 1];
	ret = -hd_unexport(n->dev, &old);
	if (ret) {
		sprintf(out, "st=fail why=unexport err=%d", ret);
		return;
	}
	n->nflood--;
	buf = buf_alloc(PAGE);
	if (buf < 0 || buf_fill(buf, PAGE, seed)) {
		sprintf(out, "st=fail why=alloc");
		goto out;
	}
	/* The slot is free once the peer has dropped the announcement. */
	do {
		ret = hd_send(n->dev, buf, dst, 0, NULL, &new);
		if (ret != -ENOSPC)
			break;
		usleep(50 * 1000);
	} while (now_s() < end);
	if (ret) {
		sprintf(out, "st=fail why=export err=%d", -ret);
		goto out;
	}
	n->flood[n->nflood++] = new;
	same = new.id == old.id;
	newkey = memcmp(new.key, old.key, sizeof(new.key));
	hid_str(&new, s, sizeof(s));
	sprintf(out, "st=%s new=%s same=%d newkey=%d",
		same && newkey ? "ok" : "fail", s, same, newkey);
out:
	if (buf >= 0)
		close(buf);
}

/*
 * A hostile peer's event storm: signal both event channels to the
 * requester n times, as fast as this domain can (test hook evflood).
 */
static void do_evflood(struct node *n, struct msg *m, char *out)
{
	unsigned long count = num(m->text, "n", 10, 0);
	double t0 = now_s();
	char cmd[40];
	int fd, len;

	fd = open("/sys/kernel/debug/hyper_dmabuf_xen/evflood", O_WRONLY);
	if (fd < 0) {
		sprintf(out, "st=skip why=no_evflood_hook err=%d", errno);
		return;
	}
	len = snprintf(cmd, sizeof(cmd), "%u %lu", m->ev.hid.exporter_domid,
		       count);
	if (write(fd, cmd, len) != len)
		sprintf(out, "st=fail why=evflood err=%d", errno);
	else
		sprintf(out, "st=ok ms=%d", ms_since(t0));
	close(fd);
}

static void do_unflood(struct node *n, char *out)
{
	int i, ret, bad = 0, ids;

	for (i = 0; i < n->nflood; i++) {
		ret = hd_unexport(n->dev, &n->flood[i]);
		if (ret && !bad)
			bad = -ret;
	}
	n->nflood = 0;
	ids = counter_settle("exported_ids", n->flood_base);
	sprintf(out, "st=%s ids=%d base=%d err=%d",
		ids == n->flood_base && !bad ? "ok" : "fail", ids,
		n->flood_base, bad);
}

/* ---- exports waiting for their fences ----------------------------------- */

#define PEND_SIZE	(MiB + 123)	/* exported as 1 MiB + 4 KiB */
#define PEND_EVENT_S	20	/* longest wait for the announcement */
#define PEND_CHILD_S	10	/* ... for the blocked import to return */
#define PEND_TIMEOUT_MS	300	/* import timeout while pending */
#define PEND_MIN_MS	250	/* it must not return earlier */
#define PEND_MAX_MS	3000	/* nor much later */
#define GUARD_S		5	/* an import that must not block: EINTR */
#define OUT_LEN		84	/* reply fields: a message <= 192 bytes */

/* What the blocking import in a child got. */
struct child_res {
	int err;		/* 0 or errno */
	int ms;			/* time in the ioctl */
	long long off;		/* first wrong byte (len: none), -1 */
	int old;		/* the bytes are those of the export's time */
};

static void outf(char *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, OUT_LEN, fmt, ap);
	va_end(ap);
}

/* The name of an errno (0 or a negative return: see res_name()). */
static const char *ename(int err)
{
	static char s[4][16];
	static int k;

	switch (err) {
	case 0: return "0";
	case EAGAIN: return "EAGAIN";
	case ETIMEDOUT: return "ETIMEDOUT";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EINVAL: return "EINVAL";
	case EACCES: return "EACCES";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case EBADMSG: return "EBADMSG";
	case ENODEV: return "ENODEV";
	case ENOMEM: return "ENOMEM";
	case ENOSPC: return "ENOSPC";
	case ENOTTY: return "ENOTTY";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case ECONNRESET: return "ECONNRESET";
	}
	k = (k + 1) % 4;
	snprintf(s[k], sizeof(s[k]), "errno%d", err);
	return s[k];
}

/* An import's result: "fd" (it worked) or the errno's name. */
static const char *res_name(int ret)
{
	return ret >= 0 ? "fd" : ename(-ret);
}

static bool hid_eq(const struct hyper_dmabuf_id *a,
		   const struct hyper_dmabuf_id *b)
{
	return a->id == b->id && a->exporter_domid == b->exporter_domid &&
	       !memcmp(a->key, b->key, sizeof(a->key));
}

static void pend_priv(char *priv, size_t len, __u32 seed, size_t blen)
{
	snprintf(priv, len, "hdxpend seed=%x len=%zu", seed, blen);
}

/* The counters that differ from @base, "name=now/base ..." */
static void ctrs_diff(const struct ctrs *base, const struct ctrs *now,
		      char *s, size_t len)
{
	unsigned int i;
	size_t n = 0;

	s[0] = 0;
	for (i = 0; i < NR_CTRS && n < len; i++)
		if (base->v[i] != now->v[i])
			n += snprintf(s + n, len - n, "%s%s=%d/%d",
				      n ? " " : "", ctr_names[i], now->v[i],
				      base->v[i]);
}

static void on_alarm(int sig)
{
	(void)sig;
}

/*
 * One read-only HYPER_DMABUF_IOCTL_IMPORT with @flags and @timeout_ms,
 * interrupted (EINTR) after @guard_s seconds so that an import that should
 * not block cannot hang the test.  The new fd or -errno; *@ms: time taken.
 */
static int pimport(int dev, const struct hyper_dmabuf_id *hid, __u32 flags,
		   __u32 timeout_ms, int guard_s, int *ms)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct hyper_dmabuf_import arg = {
		.hid = *hid,
		.fd_flags = O_RDONLY | O_CLOEXEC,
		.flags = flags,
		.timeout_ms = timeout_ms,
	};
	double t0;
	int ret, err;

	sigemptyset(&sa.sa_mask);	/* no SA_RESTART */
	sigaction(SIGALRM, &sa, &old);
	alarm(guard_s);
	t0 = now_s();
	ret = ioctl(dev, HYPER_DMABUF_IOCTL_IMPORT, &arg);
	err = errno;
	if (ms)
		*ms = ms_since(t0);
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	return ret ? -err : arg.fd;
}

/* Query @hid: 0 or -errno. */
static int pquery(int dev, const struct hyper_dmabuf_id *hid,
		  struct hyper_dmabuf_query *q)
{
	memset(q, 0, sizeof(*q));
	q->hid = *hid;
	return ioctl(dev, HYPER_DMABUF_IOCTL_QUERY, q) ? -errno : 0;
}

/*
 * Read the events of @watch (opened O_NONBLOCK) until one for @hid, for
 * at most @wait_ms (0: only those queued now).  1: one for @hid is in
 * *@ev, 0: none, -errno: read() failed.  An overflow sets *@ovf.
 */
static int watch_for(int watch, const struct hyper_dmabuf_id *hid,
		     int wait_ms, struct hyper_dmabuf_event *ev, bool *ovf)
{
	struct pollfd p = { .fd = watch, .events = POLLIN };
	double end = now_s() + wait_ms / 1000.0;
	ssize_t len;
	int left;

	for (;;) {
		len = read(watch, ev, sizeof(*ev));
		if (len == sizeof(*ev)) {
			if (ev->type == HYPER_DMABUF_EVENT_OVERFLOW)
				*ovf = true;
			else if (hid_eq(&ev->hid, hid))
				return 1;
			continue;
		}
		if (len >= 0)
			return -EIO;
		if (errno != EAGAIN)
			return -errno;
		left = (int)((end - now_s()) * 1000);
		if (left <= 0)
			return 0;
		poll(&p, 1, left);
	}
}

/* Whether process @pid sleeps in ioctl(), as far as /proc tells. */
static bool sleeps_in_ioctl(pid_t pid)
{
	char path[48], buf[512], *p, *end;
	size_t len;
	long nr;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	p = strrchr(buf, ')');
	if (!p || p[1] != ' ' || p[2] != 'S')
		return false;
	/* Which system call: "running", or its number and arguments. */
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;	/* no such file: sleeping will do */
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p)
		return true;
	nr = strtol(buf, &end, 10);
	if (end == buf)
		return false;
	return nr == SYS_ioctl;
}

/*
 * A child that imports @hid blocking (no flags, no timeout) through @dev,
 * checks pattern(@wseed) over @len bytes (else whether they are those of
 * pattern(@seed)) and reports a struct child_res.
 */
static int child_start(struct pend_imp *p, int dev,
		       const struct hyper_dmabuf_id *hid, size_t len,
		       __u32 seed, __u32 wseed)
{
	int fds[2], fd, err;
	double t0;
	pid_t pid;
	void *m;

	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (!pid) {
		struct hyper_dmabuf_import arg = {
			.hid = *hid,
			.fd_flags = O_RDONLY | O_CLOEXEC,
		};
		struct child_res r = { .off = -1 };

		close(fds[0]);
		t0 = now_s();
		fd = ioctl(dev, HYPER_DMABUF_IOCTL_IMPORT, &arg) ? -1 : arg.fd;
		r.err = fd < 0 ? errno : 0;
		r.ms = ms_since(t0);
		if (fd >= 0) {
			m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
			if (m != MAP_FAILED) {
				r.off = pat_check(m, 0, len, wseed);
				r.old = r.off != (long long)len &&
					pat_check(m, 0, len, seed) == len;
				munmap(m, len);
			}
			close(fd);
		}
		_exit(write(fds[1], &r, sizeof(r)) != sizeof(r));
	}
	close(fds[1]);
	p->child = pid;
	p->res = fds[0];
	return 0;
}

/* The child's result within @wait_ms: 0, or -ETIMEDOUT (then killed). */
static int child_result(struct pend_imp *p, int wait_ms, struct child_res *r)
{
	struct pollfd pf = { .fd = p->res, .events = POLLIN };
	int ret = -ETIMEDOUT;

	if (p->child <= 0)
		return -ECHILD;
	if (poll(&pf, 1, wait_ms) > 0)
		ret = read(p->res, r, sizeof(*r)) == sizeof(*r) ? 0 : -EIO;
	if (ret)
		kill(p->child, SIGKILL);
	waitpid(p->child, NULL, 0);
	p->child = 0;
	close(p->res);
	p->res = -1;
	return ret;
}

static void pend_imp_reset(struct pend_imp *p)
{
	struct child_res r;

	if (p->child > 0)
		child_result(p, 0, &r);
	if (p->watch >= 0)
		close(p->watch);
	p->watch = -1;
}

/*
 * An import of @hid (see pimport()) that must fail with @err: true, or
 * false with "why=@what" in @out.  *@ms: the time taken.
 */
static bool pimport_fails(int dev, const struct hyper_dmabuf_id *hid,
			  __u32 flags, __u32 timeout_ms, int guard_s,
			  int err, const char *what, int *ms, char *out)
{
	int fd;

	fd = pimport(dev, hid, flags, timeout_ms, guard_s, ms);
	if (fd >= 0)
		close(fd);
	if (fd == -err)
		return true;
	outf(out, "st=fail why=%s exp=%s got=%s ms=%d", what, ename(err),
	     res_name(fd), *ms);
	return false;
}

/*
 * No event for @hid is queued on @watch, nor an overflow: true, or false
 * with "why=@what" (an event for @hid came) or the read error in @out.
 */
static bool no_event(int watch, const struct hyper_dmabuf_id *hid,
		     const char *what, char *out)
{
	struct hyper_dmabuf_event ev;
	bool ovf = false;
	int ret;

	ret = watch_for(watch, hid, 0, &ev, &ovf);
	if (ret > 0)
		outf(out, "st=fail why=%s flags=%#x", what, ev.event_flags);
	else if (ret)
		outf(out, "st=fail why=event_read err=%s", ename(-ret));
	else if (ovf)
		outf(out, "st=fail why=event_overflow");
	return !ret && !ovf;
}

/* Importer: a child left asleep in the import of @hid is there. */
static bool pend_blocked(struct pend_imp *p, const struct hyper_dmabuf_id *hid,
			 char *out)
{
	if (p->watch >= 0 && p->child && hid_eq(hid, &p->hid))
		return true;
	outf(out, "st=fail why=no_ppend");
	return false;
}

/*
 * The blocked import's result within PEND_CHILD_S: errno @err (0: an fd)
 * is expected.  True, or false with the failure in @out.
 */
static bool pend_woke(struct pend_imp *p, int err, struct child_res *r,
		      char *out)
{
	if (child_result(p, PEND_CHILD_S * 1000, r)) {
		if (err)
			outf(out, "st=fail why=blocked_import exp=%s got=asleep_%ds",
			     ename(err), PEND_CHILD_S);
		else
			outf(out, "st=fail why=blocked_import_still_asleep_%ds",
			     PEND_CHILD_S);
		return false;
	}
	if (r->err == err)
		return true;
	outf(out, "st=fail why=blocked_import exp=%s got=%s ms=%d",
	     err ? ename(err) : "fd", r->err ? ename(r->err) : "fd", r->ms);
	return false;
}

/* The counters are back at @base, else the difference in @out. */
static void ctrs_back(const struct ctrs *base, char *out)
{
	struct ctrs now;
	char d[OUT_LEN];

	if (!ctrs_settle(base, &now)) {
		ctrs_diff(base, &now, d, sizeof(d));
		outf(out, "st=fail why=counters now/before: %s", d);
	}
}

/* Exporter: an export that still waits for its fence is there. */
static bool pend_exported(const struct pend_exp *e, char *out)
{
	if (e->exported && !e->signalled && !e->unexported)
		return true;
	outf(out, "st=fail why=no_pending_export");
	return false;
}

/* Unexport (unless done), signal the fence (unless done), close. */
static int pend_exp_close(struct node *n)
{
	struct pend_exp *e = &n->pe;
	__u32 one = 1;
	int ret = 0;

	if (e->exported && !e->unexported) {
		ret = hd_unexport(n->dev, &e->hid);
		e->unexported = true;
	}
	if (e->tl >= 0 && !e->signalled &&
	    ioctl(e->tl, SW_SYNC_IOC_INC, &one) && !ret)
		ret = -errno;
	e->signalled = true;
	if (e->tl >= 0)
		close(e->tl);
	if (e->buf >= 0)
		close(e->buf);
	e->tl = -1;
	e->buf = -1;
	e->exported = false;
	return ret;
}

static void pend_reset(struct node *n)
{
	pend_imp_reset(&n->pi);
	pend_exp_close(n);
}

/* Importer: watch the events from before the export on. */
static void pend_watch(struct node *n, char *out)
{
	struct pend_imp *p = &n->pi;

	pend_imp_reset(p);
	ctrs_read(&p->base);
	p->watch = open(DEV_PATH, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (p->watch < 0)
		outf(out, "st=fail why=open err=%s", ename(errno));
	else
		outf(out, "st=ok");
}

/*
 * Importer, while the export of @hid (@len bytes, pattern(@seed) at the
 * time) waits for its fence: see it pending, then leave a child asleep in
 * a blocking import that is to get pattern(@wseed).
 */
static void pend_probe(struct node *n, const struct hyper_dmabuf_id *hid,
		       size_t len, __u32 seed, __u32 wseed, char *out)
{
	__u32 type = cfg.loopback ? HYPER_DMABUF_TYPE_EXPORTED :
				    HYPER_DMABUF_TYPE_IMPORTED;
	struct pend_imp *p = &n->pi;
	struct hyper_dmabuf_query q;
	struct child_res r = { .off = -1 };
	struct pollfd pf;
	int ms, to_ms, ret;
	double end;

	if (p->watch < 0 || p->child) {
		outf(out, "st=fail why=no_pwatch");
		return;
	}
	p->hid = *hid;
	p->len = len;
	/* The pending notice went out before the message with the id. */
	if (!pimport_fails(n->dev, hid, HYPER_DMABUF_IMPORT_NONBLOCK, 0,
			   GUARD_S, EAGAIN, "nonblock_import", &ms, out) ||
	    !pimport_fails(n->dev, hid, 0, PEND_TIMEOUT_MS,
			   PEND_TIMEOUT_MS / 1000 + GUARD_S, ETIMEDOUT,
			   "timed_import", &to_ms, out))
		return;
	if (to_ms < PEND_MIN_MS || to_ms > PEND_MAX_MS) {
		outf(out, "st=fail why=timed_import_ms exp=%d..%d got=%d",
		     PEND_MIN_MS, PEND_MAX_MS, to_ms);
		return;
	}
	ret = pquery(n->dev, hid, &q);
	if (ret) {
		outf(out, "st=fail why=query exp=0 got=%s", ename(-ret));
		return;
	}
	/* In one domain the export is found first. */
	if (q.type != type || !(q.state & HYPER_DMABUF_QUERY_F_PENDING_IDLE) ||
	    q.size != len || q.exporter_domid != hid->exporter_domid ||
	    (!cfg.loopback && q.priv_size)) {
		outf(out,
		     "st=fail why=query exp=%u/%#x/%zu/0 got=type/state/size/priv=%u/%#x/%llu/%u",
		     type, HYPER_DMABUF_QUERY_F_PENDING_IDLE, len, q.type,
		     q.state, q.size, q.priv_size);
		return;
	}
	if (!no_event(p->watch, hid, "event_while_pending", out))
		return;
	/* A blocking import now sleeps until the announcement. */
	ret = child_start(p, n->dev, hid, len, seed, wseed);
	if (ret) {
		outf(out, "st=fail why=fork err=%s", ename(-ret));
		return;
	}
	pf.fd = p->res;
	pf.events = POLLIN;
	end = now_s() + 3;
	for (;;) {
		if (poll(&pf, 1, 0) > 0) {
			ret = child_result(p, 0, &r);
			outf(out, "st=fail why=blocking_import exp=asleep got=%s ms=%d",
			     ret ? ename(-ret) : r.err ? ename(r.err) : "fd",
			     r.ms);
			return;
		}
		if (sleeps_in_ioctl(p->child))
			break;
		if (now_s() > end) {
			outf(out, "st=fail why=blocking_import_not_asleep_3s");
			return;
		}
		usleep(10 * 1000);
	}
	outf(out, "st=ok to_ms=%d state=%#x", to_ms, q.state);
}

/*
 * Importer, after the fence signalled: the announcement (pattern(@seed)
 * before the export, its private data), then pattern(@wseed) for the
 * blocked import and for a new one.
 */
static void pend_get(struct node *n, const struct hyper_dmabuf_id *hid,
		     __u32 seed, __u32 wseed, char *out)
{
	struct pend_imp *p = &n->pi;
	size_t len = p->len, off;
	char priv[HYPER_DMABUF_MAX_PRIV];
	struct hyper_dmabuf_event ev;
	struct hyper_dmabuf_query q;
	struct dma_buf_sync sync;
	struct child_res r;
	const char *why = NULL;
	bool ovf = false, old;
	int fd, ret, ev_ms;
	double t0 = now_s();
	void *m;

	if (!pend_blocked(p, hid, out))
		return;
	ret = watch_for(p->watch, hid, PEND_EVENT_S * 1000, &ev, &ovf);
	ev_ms = ms_since(t0);
	if (ret <= 0) {
		outf(out, "st=fail why=no_event_in_%ds err=%s overflow=%d",
		     PEND_EVENT_S, ename(-ret), ovf);
		return;
	}
	pend_priv(priv, sizeof(priv), seed, len);
	if (ev.type != HYPER_DMABUF_EVENT_NEW_IMPORT ||
	    (ev.event_flags & HYPER_DMABUF_EVENT_F_UPDATE) ||
	    ev.size != len || ev.export_flags) {
		outf(out,
		     "st=fail why=event exp=1/0/%zu/0 got=type/flags/size/xflags=%u/%#x/%llu/%#x",
		     len, ev.type, ev.event_flags, ev.size, ev.export_flags);
		return;
	}
	if (ev.priv_size != strlen(priv) ||
	    memcmp(ev.priv, priv, ev.priv_size)) {
		outf(out, "st=fail why=event_priv exp_size=%zu got_size=%u",
		     strlen(priv), ev.priv_size);
		return;
	}
	if (!pend_woke(p, 0, &r, out))
		return;
	if (r.off != (long long)len) {
		outf(out, "st=fail why=blocked_import_data off=%lld exp=final_pattern got=%s",
		     r.off, r.off < 0 ? "no_mmap" :
		     r.old ? "pattern_at_export" : "other_bytes");
		return;
	}
	/* Announced: even a non-blocking import works now. */
	fd = pimport(n->dev, hid, HYPER_DMABUF_IMPORT_NONBLOCK, 0, GUARD_S,
		     NULL);
	if (fd < 0) {
		outf(out, "st=fail why=import exp=fd got=%s", ename(-fd));
		return;
	}
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		outf(out, "st=fail why=mmap err=%s", ename(errno));
		close(fd);
		return;
	}
	sync.flags = DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ;
	if (ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync))
		why = "sync_start";
	off = pat_check(m, 0, len, wseed);
	/* Which bytes instead: those of the time of the export? */
	old = off != len && pat_check(m, 0, len, seed) == len;
	sync.flags = DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ;
	if (!why && ioctl(fd, DMA_BUF_IOCTL_SYNC, &sync))
		why = "sync_end";
	munmap(m, len);
	close(fd);
	if (off != len) {
		outf(out, "st=fail why=data off=%zu exp=final_pattern got=%s",
		     off, old ? "pattern_at_export" : "other_bytes");
		return;
	}
	if (why) {
		outf(out, "st=fail why=%s err=%s", why, ename(errno));
		return;
	}
	ret = pquery(n->dev, hid, &q);
	if (ret || (q.state & HYPER_DMABUF_QUERY_F_PENDING_IDLE) ||
	    q.priv_size != strlen(priv)) {
		outf(out, "st=fail why=query_announced err=%s state=%#x priv=%u",
		     ename(-ret), q.state, q.priv_size);
		return;
	}
	outf(out, "st=ok ev_ms=%d blk_ms=%d", ev_ms, r.ms);
}

/* No event for @hid, imports and the query fail with ENOENT. */
static void pend_absent(struct node *n, const struct hyper_dmabuf_id *hid,
			char *out)
{
	struct hyper_dmabuf_query q;
	int ms, ret;

	if (!pimport_fails(n->dev, hid, HYPER_DMABUF_IMPORT_NONBLOCK, 0,
			   GUARD_S, ENOENT, "nonblock_import", &ms, out) ||
	    !pimport_fails(n->dev, hid, 0, 1000, 1 + GUARD_S, ENOENT,
			   "timed_import", &ms, out))
		return;
	ret = pquery(n->dev, hid, &q);
	if (ret != -ENOENT) {
		outf(out, "st=fail why=query exp=ENOENT got=%s state=%#x",
		     ename(-ret), q.state);
		return;
	}
	if (no_event(n->pi.watch, hid, "event_for_withdrawn", out))
		outf(out, "st=ok");
}

/* Importer, after the unexport of a buffer still waiting for its fence. */
static void pend_gone(struct node *n, const struct hyper_dmabuf_id *hid,
		      char *out)
{
	struct pend_imp *p = &n->pi;
	struct child_res r;

	if (!pend_blocked(p, hid, out) || !pend_woke(p, ENOENT, &r, out))
		return;
	pend_absent(n, hid, out);
	if (!strncmp(out, "st=ok", 5))
		outf(out, "st=ok blk_ms=%d", r.ms);
}

/*
 * Importer, the end: @gone, the buffer was withdrawn before its fence
 * signalled, and it signalled since: still no event, still ENOENT.
 * Closes, and the counters must be back.
 */
static void pend_done(struct node *n, const struct hyper_dmabuf_id *hid,
		      bool gone, char *out)
{
	struct pend_imp *p = &n->pi;

	if (p->watch < 0 || !hid_eq(hid, &p->hid)) {
		outf(out, "st=fail why=no_ppend");
		pend_imp_reset(p);
		return;
	}
	outf(out, "st=ok");
	if (gone) {
		usleep(300 * 1000);	/* a wrong announcement: on its way */
		pend_absent(n, hid, out);
	}
	pend_imp_reset(p);
	if (!strncmp(out, "st=ok", 5))
		ctrs_back(&p->base, out);
}

/*
 * Exporter: a buffer of @prod of @size bytes (rounded up to pages) filled
 * with pattern(@seed), given a pending sw_sync fence and exported to @dst.
 */
static void pend_export(struct node *n, __u32 dst, const char *prod,
			size_t size, __u32 seed, char *out)
{
	struct pend_exp *e = &n->pe;
	struct pollfd pf = { .events = POLLIN };
	char priv[HYPER_DMABUF_MAX_PRIV], s[48];
	struct hyper_dmabuf_query q;
	const char *skip;
	int ret, ms, v;
	double t0;

	pend_exp_close(n);
	memset(e, 0, sizeof(*e));
	e->buf = -1;
	e->tl = -1;
	ctrs_read(&e->base);
	e->len = round_page(size);
	e->buf = produce(prod, e->len, &skip);
	if (e->buf < 0) {
		if (skip)
			outf(out, "st=skip why=%s", skip);
		else
			outf(out, "st=fail why=%s_alloc", prod);
		return;
	}
	ret = buf_fill(e->buf, e->len, seed);
	if (ret) {
		outf(out, "st=fail why=fill err=%s", ename(-ret));
		return;
	}
	e->tl = swsync_pending(e->buf);
	if (e->tl < 0) {
		outf(out, "st=%s why=sw_sync err=%s",
		     e->tl == -ENOENT ? "skip" : "fail", ename(-e->tl));
		e->tl = -1;
		return;
	}
	/* dma-buf poll: POLLIN once the write fences have signalled. */
	pf.fd = e->buf;
	if (poll(&pf, 1, 0) != 0) {
		outf(out, "st=fail why=fence_not_pending");
		return;
	}
	pend_priv(priv, sizeof(priv), seed, e->len);
	t0 = now_s();
	ret = hd_send(n->dev, e->buf, dst, 0, priv, &e->hid);
	ms = ms_since(t0);
	if (ret) {
		outf(out, "st=fail why=export err=%s ms=%d", ename(-ret), ms);
		return;
	}
	e->exported = true;
	if (ms >= 1000) {
		outf(out, "st=fail why=export_slow exp=<1000ms got=%dms", ms);
		return;
	}
	ret = pquery(n->dev, &e->hid, &q);
	if (ret || q.type != HYPER_DMABUF_TYPE_EXPORTED ||
	    !(q.state & HYPER_DMABUF_QUERY_F_PENDING_IDLE)) {
		outf(out, "st=fail why=exporter_query exp=0/%u/%#x got=%s/%u/%#x",
		     HYPER_DMABUF_TYPE_EXPORTED,
		     HYPER_DMABUF_QUERY_F_PENDING_IDLE, ename(-ret), q.type,
		     q.state);
		return;
	}
	v = hd_counter("pending_idle");
	if (e->base.v[CTR_PENDING_IDLE] >= 0 &&
	    v != e->base.v[CTR_PENDING_IDLE] + 1) {
		outf(out, "st=fail why=pending_idle exp=%d got=%d",
		     e->base.v[CTR_PENDING_IDLE] + 1, v);
		return;
	}
	hid_str(&e->hid, s, sizeof(s));
	outf(out, "st=ok hid=%s ms=%d", s, ms);
}

/* Exporter: finish "the writer's work" (pattern(@wseed)), signal. */
static void pend_signal(struct node *n, __u32 wseed, char *out)
{
	struct pend_exp *e = &n->pe;
	struct hyper_dmabuf_query q;
	double t0, end;
	__u32 one = 1;
	int ret, v;

	if (!pend_exported(e, out))
		return;
	/* No DMA_BUF_IOCTL_SYNC: it would wait for the fence. */
	ret = buf_fill(e->buf, e->len, wseed);
	if (ret) {
		outf(out, "st=fail why=fill err=%s", ename(-ret));
		return;
	}
	t0 = now_s();
	if (ioctl(e->tl, SW_SYNC_IOC_INC, &one)) {
		outf(out, "st=fail why=sw_sync_inc err=%s", ename(errno));
		return;
	}
	e->signalled = true;
	end = t0 + SETTLE_S;
	for (;;) {
		ret = pquery(n->dev, &e->hid, &q);
		if (ret || !(q.state & HYPER_DMABUF_QUERY_F_PENDING_IDLE))
			break;
		if (now_s() > end)
			break;
		usleep(10 * 1000);
	}
	if (ret || (q.state & HYPER_DMABUF_QUERY_F_PENDING_IDLE)) {
		outf(out, "st=fail why=exporter_query_after_signal exp=0/0 got=%s/%#x",
		     ename(-ret), q.state);
		return;
	}
	v = counter_settle("pending_idle", e->base.v[CTR_PENDING_IDLE]);
	if (v != e->base.v[CTR_PENDING_IDLE]) {
		outf(out, "st=fail why=pending_idle_after_signal exp=%d got=%d",
		     e->base.v[CTR_PENDING_IDLE], v);
		return;
	}
	outf(out, "st=ok ms=%d", ms_since(t0));
}

/* Exporter: withdraw the export while its fence is still pending. */
static void pend_unexport(struct node *n, char *out)
{
	struct pend_exp *e = &n->pe;
	int ret;

	if (!pend_exported(e, out))
		return;
	ret = hd_unexport(n->dev, &e->hid);
	e->unexported = true;
	if (ret)
		outf(out, "st=fail why=unexport exp=0 got=%s", ename(-ret));
	else
		outf(out, "st=ok");
}

/* Exporter, the end: close everything; @settle: the counters are back. */
static void pend_close(struct node *n, bool settle, char *out)
{
	struct pend_exp *e = &n->pe;
	int ret;

	if (!e->exported) {
		outf(out, "st=fail why=no_export");
		return;
	}
	ret = pend_exp_close(n);
	if (ret) {
		outf(out, "st=fail why=close err=%s", ename(-ret));
		return;
	}
	outf(out, "st=ok");
	if (settle)
		ctrs_back(&e->base, out);
}

/* Serve the commands above; false if @cmd is none of them. */
static bool pend_serve(struct node *n, struct msg *m, const char *cmd,
		       char *out)
{
	__u32 from = m->ev.hid.exporter_domid;
	size_t size = num(m->text, "size", 10, 0);
	__u32 seed = num(m->text, "seed", 16, 0);
	__u32 wseed = num(m->text, "wseed", 16, 0);
	char prod[16] = "udmabuf";
	struct hyper_dmabuf_id hid;
	bool imp = !strcmp(cmd, "ppend") || !strcmp(cmd, "pget") ||
		   !strcmp(cmd, "pgone") || !strcmp(cmd, "pdone");
	bool exp = !strcmp(cmd, "psig") || !strcmp(cmd, "punexp") ||
		   !strcmp(cmd, "pclose");

	if (!strcmp(cmd, "pwatch")) {
		pend_watch(n, out);
		return true;
	}
	if (!strcmp(cmd, "pexp")) {
		field(m->text, "prod", prod, sizeof(prod));
		if (size)
			pend_export(n, from, prod, size, seed, out);
		else
			outf(out, "st=fail why=bad_pexp");
		return true;
	}
	if (!strcmp(cmd, "preset")) {
		pend_reset(n);
		outf(out, "st=ok");
		return true;
	}
	if (!imp && !exp)
		return false;
	/* Importer: the buffer is the sender's; exporter: it is ours. */
	if (!hid_parse(m->text, "hid", imp ? from : n->pe.hid.exporter_domid,
		       &hid)) {
		outf(out, "st=fail why=bad_hid");
		return true;
	}
	if (exp && (!n->pe.exported || !hid_eq(&hid, &n->pe.hid))) {
		outf(out, "st=fail why=not_our_export");
		return true;
	}
	if (!strcmp(cmd, "ppend"))
		pend_probe(n, &hid, size, seed, wseed, out);
	else if (!strcmp(cmd, "pget"))
		pend_get(n, &hid, seed, wseed, out);
	else if (!strcmp(cmd, "pgone"))
		pend_gone(n, &hid, out);
	else if (!strcmp(cmd, "pdone"))
		pend_done(n, &hid, num(m->text, "gone", 10, 0), out);
	else if (!strcmp(cmd, "psig"))
		pend_signal(n, wseed, out);
	else if (!strcmp(cmd, "punexp"))
		pend_unexport(n, out);
	else
		pend_close(n, true, out);
	return true;
}

static struct req *req_find(struct node *n, const char *from, __u32 sid)
{
	struct req *r;
	int i;

	for (i = 0; i < MAX_REQS; i++) {
		r = &n->reqs[i];
		if (r->sid == sid && !strcmp(r->from, from))
			return r;
	}
	r = &n->reqs[n->next_req++ % MAX_REQS];
	memset(r, 0, sizeof(*r));
	snprintf(r->from, sizeof(r->from), "%s", from);
	r->sid = sid;
	return r;
}

static void send_reply(struct node *n, struct req *r, const char *fields)
{
	char *t = r->reply;
	__u32 seq;
	int ret;

	msg_head(n, t, r->from, "reply", &seq);
	msg_add(t, "rs=%x re=%u %s", r->sid, r->seq, fields);
	if (msg_seal(t, 0)) {
		msg_head(n, t, r->from, "reply", &seq);
		msg_add(t, "rs=%x re=%u st=fail why=reply_too_long", r->sid,
			r->seq);
		msg_seal(t, 0);
	}
	ret = hd_send(n->dev, n->mbox, r->domid, 0, t, NULL);
	if (ret)
		say("reply to %s (domain %u): %s", r->from, r->domid,
		    strerror(-ret));
}

/*
 * Carry out the command in @m and reply.  A command seen before is not
 * carried out again, its reply is re-sent; older ones are ignored.
 * @nested: we are waiting for a reply of our own (request()): only checks
 * are served now, the sender re-announces other commands later.
 */
static void serve_msg(struct node *n, struct msg *m, bool nested)
{
	char cmd[16], from[NAME_LEN], out[TEXT_LEN] = "";
	__u32 sid, seq;
	struct req *r;
	double t0;

	if (!field(m->text, "cmd", cmd, sizeof(cmd)) || !strcmp(cmd, "reply"))
		return;		/* a stale reply */
	if (!field(m->text, "from", from, sizeof(from)))
		return;
	sid = num(m->text, "sid", 16, 0);
	seq = num(m->text, "seq", 10, 0);
	r = req_find(n, from, sid);
	if (r->seq && seq < r->seq)
		return;
	if (r->seq == seq) {
		if (r->reply[0])
			hd_send(n->dev, n->mbox, r->domid, 0, r->reply, NULL);
		return;
	}
	if (nested && strcmp(cmd, "check"))
		return;
	r->seq = seq;
	r->domid = m->ev.hid.exporter_domid;
	r->reply[0] = 0;
	n->served++;
	t0 = now_s();
	if (!m->ck_ok)
		sprintf(out, "st=fail why=checksum");
	else if (!strcmp(cmd, "hello"))
		sprintf(out, "st=ok dom=%u", cfg.domid);
	else if (!strcmp(cmd, "check"))
		do_check(n, m, out);
	else if (!strcmp(cmd, "send"))
		do_send(n, m, out);
	else if (!strcmp(cmd, "verify"))
		do_verify(n, m, out);
	else if (!strcmp(cmd, "release"))
		do_release(n, m, out);
	else if (!strcmp(cmd, "probe"))
		do_probe(n, m, out);
	else if (!strcmp(cmd, "flood"))
		do_flood(n, m, out);
	else if (!strcmp(cmd, "reuse"))
		do_reuse(n, m, out);
	else if (!strcmp(cmd, "unflood"))
		do_unflood(n, out);
	else if (!strcmp(cmd, "evflood"))
		do_evflood(n, m, out);
	else if (!strcmp(cmd, "forge"))
		do_forge(n, m, out);
	else if (!strcmp(cmd, "offer"))
		do_offer(n, m, out);
	else if (!strcmp(cmd, "unoffer"))
		do_unoffer(n, out);
	else if (!strcmp(cmd, "done"))
		n->done = true;
	else if (!pend_serve(n, m, cmd, out))
		sprintf(out, "st=fail why=unknown_command");
	if (!strncmp(out, "st=fail", 7))
		n->failed++;
	if (n->done)
		sprintf(out, "st=%s served=%u verified=%u failed=%u",
			n->failed ? "fail" : "ok", n->served, n->verified,
			n->failed);
	if (!strcmp(cmd, "check"))
		snprintf(n->last_reply, TEXT_LEN, "%s", out);
	if (cfg.role != ROLE_ORCH || strncmp(out, "st=ok", 5))
		say("%s seq %u from %s (domain %u): %s [%.2f s]", cmd, seq,
		    from, r->domid, out, now_s() - t0);
	send_reply(n, r, out);
}

/* ---- moving a buffer ---------------------------------------------------- */

struct xres {
	enum st st;
	char why[TEXT_LEN];
	char peer[TEXT_LEN];	/* the importer's reply */
	int fill_ms, rt_ms, wb_ms;
};

/*
 * Make a buffer of @size bytes with @prod, fill it with pattern(@seed),
 * export it to @dst (node @dn) with a check command, wait for the reply,
 * if @rw verify the importer's pattern(@wseed), unexport.  @keep: the
 * importer holds its import and the export stays (until our file closes).
 */
static void xfer(struct node *n, const char *prod, size_t size, __u32 seed,
		 bool rw, __u32 wseed, __u32 dst, const char *dn, size_t pad,
		 bool keep, struct xres *r)
{
	size_t len = round_page(size), off;
	const char *skip;
	struct cmd c;
	struct msg rep;
	double t0;
	int ret;
	void *p;

	memset(r, 0, sizeof(*r));
	r->st = ST_FAIL;
	memset(&c, 0, sizeof(c));
	c.buf = produce(prod, len, &skip);
	if (c.buf < 0) {
		r->st = skip ? ST_SKIP : ST_FAIL;
		snprintf(r->why, TEXT_LEN, "%s", skip ? skip : "alloc_failed");
		return;
	}
	t0 = now_s();
	ret = buf_fill(c.buf, len, seed);
	r->fill_ms = ms_since(t0);
	if (ret) {
		snprintf(r->why, TEXT_LEN, "mmap_err_%d", -ret);
		goto out;
	}
	c.dev = n->dev;
	c.flags = rw ? HYPER_DMABUF_EXPORT_RDWR : 0;
	c.domid = dst;
	msg_head(n, c.text, dn, "check", &c.seq);
	msg_add(c.text, "size=%zu seed=%x rw=%d wseed=%x hold=%d", size, seed,
		rw, wseed, keep);
	if (msg_seal(c.text, pad)) {
		snprintf(r->why, TEXT_LEN, "message_too_long");
		goto out;
	}
	t0 = now_s();
	ret = request(n, &c, RESEND_S, REPLY_S, &rep);
	r->rt_ms = ms_since(t0);
	if (ret < 0) {
		snprintf(r->why, TEXT_LEN, "export_err_%d", -ret);
		goto unexport;	/* the first announcement may have worked */
	}
	if (!ret) {
		snprintf(r->why, TEXT_LEN, "no_reply_in_%d_s", REPLY_S);
		goto unexport;
	}
	snprintf(r->peer, TEXT_LEN, "%s", rep.text);
	if (reply_st(&rep) != ST_OK) {
		snprintf(r->why, TEXT_LEN, "importer");
		goto unexport;
	}
	if (rw) {
		t0 = now_s();
		p = mmap(NULL, len, PROT_READ, MAP_SHARED, c.buf, 0);
		if (p == MAP_FAILED) {
			snprintf(r->why, TEXT_LEN, "mmap_err_%d", errno);
			goto unexport;
		}
		off = pat_check(p, 0, size, wseed);
		if (off == size)
			off = pat_check(p, size, len, seed);
		munmap(p, len);
		r->wb_ms = ms_since(t0);
		if (off != len) {
			snprintf(r->why, TEXT_LEN, "writeback_off_%zu", off);
			goto unexport;
		}
	}
	r->st = ST_OK;
	if (keep)
		goto out;	/* the export keeps its own buffer reference */
unexport:
	ret = hd_unexport(n->dev, &c.hid);
	if (ret && r->st == ST_OK) {
		r->st = ST_FAIL;
		snprintf(r->why, TEXT_LEN, "unexport_err_%d", -ret);
	}
out:
	close(c.buf);
}

static void do_send(struct node *n, struct msg *m, char *out)
{
	size_t size = num(m->text, "size", 10, 0);
	char prod[16] = "", dn[NAME_LEN] = "";
	char pst[8] = "-", pwhy[40] = "-", poff[24] = "-";
	__u32 dst = num(m->text, "dst", 10, m->ev.hid.exporter_domid);
	struct xres r;

	field(m->text, "prod", prod, sizeof(prod));
	field(m->text, "dn", dn, sizeof(dn));
	if (!size || !dn[0]) {
		sprintf(out, "st=fail why=bad_send");
		return;
	}
	xfer(n, prod, size, num(m->text, "seed", 16, 0),
	     num(m->text, "rw", 10, 0), num(m->text, "wseed", 16, 0), dst, dn,
	     num(m->text, "pad", 10, 0), num(m->text, "keep", 10, 0), &r);
	if (r.st == ST_OK) {
		sprintf(out, "st=ok fill=%d rt=%d wb=%d vt=%llu", r.fill_ms,
			r.rt_ms, r.wb_ms, num(r.peer, "vt", 10, 0));
		return;
	}
	/* The importer's verdict: peer st, why and offset. */
	field(r.peer, "st", pst, sizeof(pst));
	field(r.peer, "why", pwhy, sizeof(pwhy));
	field(r.peer, "off", poff, sizeof(poff));
	snprintf(out, 100, "st=%s why=%.40s pst=%s pwhy=%s poff=%s",
		 r.st == ST_SKIP ? "skip" : "fail", r.why, pst, pwhy, poff);
}

/* ---- the servant -------------------------------------------------------- */

/* Serve until "done"; false if no command came for cfg.wait_s seconds. */
static bool serve(struct node *n)
{
	double deadline = now_s() + cfg.wait_s;
	unsigned int before;
	struct msg m;

	say("%s serving in domain %u, waiting up to %d s for commands",
	    n->name, cfg.domid, cfg.wait_s);
	while (!n->done) {
		if (!next_msg(n, &m, deadline))
			return false;
		before = n->served;
		serve_msg(n, &m, false);
		if (n->served != before)
			deadline = now_s() + cfg.wait_s;
	}
	/* Answer a re-announced "done" whose reply got lost, then go. */
	deadline = now_s() + 2;
	while (next_msg(n, &m, deadline))
		serve_msg(n, &m, false);
	return true;
}

FIXTURE(servant) {
	struct node n;
	__u32 seq;
};

FIXTURE_SETUP(servant)
{
	self->n.mbox = -1;
	if (cfg.skip)
		SKIP(return, "%s", cfg.skip);
	ASSERT_EQ(0, node_init(&self->n, cfg.name, &self->seq, cfg.sid));
}

FIXTURE_TEARDOWN(servant)
{
	node_fini(&self->n);
}

TEST_F_TIMEOUT(servant, serve, TIMEOUT_S)
{
	bool done;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	done = serve(&self->n);
	if (!done)
		say_channels();
	say("served %u commands, verified %u buffers, %u failed",
	    self->n.served, self->n.verified, self->n.failed);
	EXPECT_TRUE(done) {
		TH_LOG("%s for %d s", self->n.served ?
		       "no command from the orchestrator" : "no orchestrator",
		       cfg.wait_s);
	}
	EXPECT_EQ(0, self->n.failed);
}

/* ---- the orchestrator --------------------------------------------------- */

struct orch {
	struct node n;
	bool up[MAX_PEERS];
	const char *gone[MAX_PEERS];	/* why a peer is not there */
	struct hyper_dmabuf_id mbox[MAX_PEERS];	/* each servant's mailbox */
	__u32 dom[MAX_PEERS];		/* domain each servant reports */
	struct ctrs base;
	int skipped;
	char skip_why[TEXT_LEN];
};

FIXTURE(xdom) {
	struct orch o;
};

/* Say hello to every servant, wait for their answers. */
static void greet(struct orch *o)
{
	struct shared *sh = cfg.sh;
	struct cmd c[MAX_PEERS];
	double t0 = now_s(), end, next = 0, alive_at = t0 + 5;
	int i, left, ret, wait = GREETED_S;
	struct msg m;

	for (i = 0; i < cfg.npeers; i++) {
		if (sh->absent[i])
			continue;
		if (!sh->greeted[i])
			wait = cfg.wait_s;
		cmd_init(&o->n, &c[i], cfg.peers[i].domid,
			 cfg.peers[i].name, "hello");
		msg_seal(c[i].text, 0);
	}
	end = t0 + wait;
	for (;;) {
		left = 0;
		for (i = 0; i < cfg.npeers; i++)
			left += !sh->absent[i] && !o->up[i];
		if (!left || now_s() >= end)
			break;
		if (now_s() >= next) {
			for (i = 0; i < cfg.npeers; i++) {
				if (sh->absent[i] || o->up[i])
					continue;
				ret = cmd_send(&o->n, &c[i]);
				if (ret && !next)
					say("hello to %s (domain %u): %s",
					    cfg.peers[i].name,
					    cfg.peers[i].domid, strerror(-ret));
				/*
				 * A domain that died (e.g. killed by the
				 * emulator) is not waited for.
				 */
				if (now_s() >= alive_at &&
				    !domain_alive(cfg.peers[i].domid)) {
					say("%s (domain %u) is gone",
					    cfg.peers[i].name,
					    cfg.peers[i].domid);
					sh->absent[i] = 2;
				}
			}
			if (now_s() >= alive_at)
				alive_at = now_s() + 5;
			next = now_s() + 1;
		}
		if (!next_msg(&o->n, &m, next < end ? next : end))
			continue;
		if (!is(m.text, "cmd", "reply") ||
		    num(m.text, "rs", 16, 0) != o->n.sid) {
			serve_msg(&o->n, &m, true);
			continue;
		}
		for (i = 0; i < cfg.npeers; i++) {
			if (o->up[i] || sh->absent[i] ||
			    num(m.text, "re", 10, 0) != c[i].seq)
				continue;
			o->up[i] = true;
			o->mbox[i] = m.ev.hid;
			o->dom[i] = num(m.text, "dom", 10, ~0U);
			if (!sh->greeted[i])
				say("%s (domain %u) answered after %.1f s",
				    cfg.peers[i].name, cfg.peers[i].domid,
				    now_s() - t0);
			sh->greeted[i] = 1;
		}
	}
	for (i = 0; i < cfg.npeers; i++) {
		if (o->up[i])
			continue;
		if (!sh->absent[i]) {
			say("%s (domain %u) did not answer hello within %d s",
			    cfg.peers[i].name, cfg.peers[i].domid, wait);
			say_channels();
			sh->absent[i] = domain_alive(cfg.peers[i].domid) ? 1 : 2;
		}
		o->gone[i] = sh->absent[i] == 2 ?
			"its domain is gone" : "it did not answer hello";
	}
}

/*
 * Counters before the first case, with nothing of ours shared.  Each case
 * starts from there: grants of the previous case's buffers (its mailbox
 * too) end only once the peer has unmapped them, and a baseline taken
 * before that would see them end during the next case.
 */
static void wait_idle(struct __test_metadata *_metadata)
{
	struct ctrs idle, now;
	char a[160], b[160];

	if (!cfg.sh->have_idle) {
		ctrs_read(&cfg.sh->idle);
		cfg.sh->have_idle = true;
		return;
	}
	idle = cfg.sh->idle;
	if (!ctrs_settle(&idle, &now)) {
		ctrs_str(&idle, a, sizeof(a));
		ctrs_str(&now, b, sizeof(b));
		ASSERT_TRUE(false) TH_LOG("not idle: before the first case %s; now %s",
					  a, b);
	}
}

FIXTURE_SETUP(xdom)
{
	struct orch *o = &self->o;

	o->n.mbox = -1;
	if (cfg.skip)
		SKIP(return, "%s", cfg.skip);
	wait_idle(_metadata);
	ASSERT_EQ(0, node_init(&o->n, cfg.name, &cfg.sh->seq, cfg.sid));
	greet(o);
	ctrs_read(&o->base);
}

FIXTURE_TEARDOWN(xdom)
{
	node_fini(&self->o.n);
}

/*
 * A peer failed: if its domain is gone (it died, e.g. by an emulator
 * fault that the lab reports on its own), count a skip, else a failure.
 */
static bool peer_died(struct orch *o, int i)
{
	if (domain_alive(cfg.peers[i].domid))
		return false;
	cfg.sh->absent[i] = 2;
	o->skipped++;
	snprintf(o->skip_why, TEXT_LEN, "the domain of %s died",
		 cfg.peers[i].name);
	return true;
}

/* Send command @cmd with @fields to servant @i and wait for its reply. */
static int ask(struct orch *o, int i, struct msg *rep,
	       const char *cmd, const char *fmt, ...)
{
	char fields[TEXT_LEN];
	struct cmd c;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);
	cmd_init(&o->n, &c, cfg.peers[i].domid, cfg.peers[i].name, cmd);
	if (fields[0])
		msg_add(c.text, "%s", fields);
	if (msg_seal(c.text, 0))
		return -E2BIG;
	ret = request(&o->n, &c, RESEND_S, REPLY_S + 30, rep);
	if (ret != 1)
		say("%s to %s: %s", cmd, cfg.peers[i].name,
		    ret ? strerror(-ret) : "no reply");
	return ret;
}

/* Fail on a peer that is not there (skip if it died); true if it is. */
static bool peer_up(struct __test_metadata *_metadata,
		    struct orch *o, int i)
{
	if (o->up[i])
		return true;
	if (cfg.sh->absent[i] == 2) {
		o->skipped++;
		snprintf(o->skip_why, TEXT_LEN, "%s: %s", cfg.peers[i].name,
			 o->gone[i]);
		return false;
	}
	EXPECT_TRUE(o->up[i])
		TH_LOG("%s (domain %u): %s", cfg.peers[i].name,
		       cfg.peers[i].domid, o->gone[i]);
	return false;
}

/* After the case: all peers skipped is a skip; counters are back. */
static void finish(struct __test_metadata *_metadata,
		   struct orch *o, int ran)
{
	struct ctrs now;
	char a[160], b[160];

	if (!ctrs_settle(&o->base, &now)) {
		ctrs_str(&o->base, a, sizeof(a));
		ctrs_str(&now, b, sizeof(b));
		EXPECT_TRUE(false) TH_LOG("counters before: %s; after: %s", a, b);
	}
	if (!ran && o->skipped && _metadata->exit_code == KSFT_PASS)
		SKIP(return, "%s", o->skip_why);
}

enum dir { D2U, U2D, U2U };
static const char * const dir_names[] = { "d2u", "u2d", "u2u" };

static void report(enum dir d, const char *prod, size_t size, bool rw,
		   const char *from, const char *to, const char *times)
{
	say("%s %s %zu bytes%s %s->%s: %s", dir_names[d], prod, size,
	    rw ? " rw" : "", from, to, times);
}

/* dom0 exports a buffer to each servant, which checks it. */
static int d2u(struct __test_metadata *_metadata, struct orch *o,
	       int i, const char *prod, size_t size, bool rw, size_t pad)
{
	char times[TEXT_LEN];
	struct xres r;

	xfer(&o->n, prod, size, new_seed(), rw, new_seed(),
	     cfg.peers[i].domid, cfg.peers[i].name, pad, false, &r);
	if (r.st == ST_SKIP) {
		o->skipped++;
		snprintf(o->skip_why, TEXT_LEN, "%s", r.why);
		return 0;
	}
	if (r.st != ST_OK && peer_died(o, i))
		return 0;
	/* No return inside an EXPECT handler: it would leave it armed. */
	if (r.st != ST_OK) {
		TH_LOG("%s -> %s: %s; importer: %s", cfg.name,
		       cfg.peers[i].name, r.why, r.peer);
		EXPECT_EQ(ST_OK, r.st);
		return 0;
	}
	snprintf(times, sizeof(times),
		 "fill %d ms, round trip %d ms (importer check %llu ms), writeback check %d ms%s",
		 r.fill_ms, r.rt_ms, num(r.peer, "vt", 10, 0), r.wb_ms,
		 num(r.peer, "pinned", 10, 0) ?
		 ", a page pinned across the release read back" : "");
	report(D2U, prod, size, rw, cfg.name, cfg.peers[i].name, times);
	return 1;
}

/*
 * Servant @i exports a buffer to @to (dom0 itself when @to < 0), which
 * checks it; for dom0 the check is served here, inside ask().
 */
static int u2x(struct __test_metadata *_metadata, struct orch *o,
	       int i, int to, const char *prod, size_t size, bool rw,
	       size_t pad)
{
	const char *dn = to < 0 ? cfg.name : cfg.peers[to].name;
	__u32 dst = to < 0 ? cfg.domid : cfg.peers[to].domid;
	unsigned int checks = o->n.checks;
	__u32 seed = new_seed(), wseed = new_seed();
	char why[64] = "";
	struct msg rep;
	double t0 = now_s();
	int ret;

	ret = ask(o, i, &rep, "send",
		  "prod=%s size=%zu seed=%x rw=%d wseed=%x dst=%u dn=%s pad=%zu",
		  prod, size, seed, rw, wseed, dst, dn, pad);
	if (ret == 1 && reply_st(&rep) == ST_SKIP) {
		field(rep.text, "why", why, sizeof(why));
		o->skipped++;
		snprintf(o->skip_why, TEXT_LEN, "%s: %s",
			 cfg.peers[i].name, why);
		return 0;
	}
	if ((ret != 1 || reply_st(&rep) != ST_OK) &&
	    (peer_died(o, i) || (to >= 0 && peer_died(o, to))))
		return 0;
	if (ret != 1) {
		TH_LOG("%s: no reply from %s", dir_names[to < 0 ? U2D : U2U],
		       cfg.peers[i].name);
		EXPECT_EQ(1, ret);
		return 0;
	}
	if (reply_st(&rep) != ST_OK) {
		TH_LOG("%s -> %s: %s", cfg.peers[i].name, dn, rep.text);
		EXPECT_EQ(ST_OK, reply_st(&rep));
		return 0;
	}
	if (to < 0) {
		/* dom0 checked the buffer: the right one, and correct. */
		EXPECT_EQ(checks + 1, o->n.checks);
		EXPECT_EQ(size, num(o->n.last_check, "size", 10, 0));
		EXPECT_EQ(seed, num(o->n.last_check, "seed", 16, 0));
		EXPECT_EQ(0, strncmp(o->n.last_reply, "st=ok", 5))
			TH_LOG("%s's check: %s", cfg.name, o->n.last_reply);
	}
	snprintf(why, sizeof(why), "fill %llu ms, round trip %llu ms",
		 num(rep.text, "fill", 10, 0), num(rep.text, "rt", 10, 0));
	report(to < 0 ? U2D : U2U, prod, size, rw, cfg.peers[i].name, dn, why);
	say("  total %.2f s", now_s() - t0);
	return 1;
}

static void data_case(struct __test_metadata *_metadata,
		      struct orch *o, enum dir d, const char *prod,
		      size_t size, bool rw)
{
	int i, ran = 0;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	if (d == U2U) {
		if (cfg.npeers < 2)
			SKIP(return, "u2u needs two domUs in HYPER_DMABUF_XDOM_PEERS");
		if (peer_up(_metadata, o, 0) && peer_up(_metadata, o, 1))
			ran += u2x(_metadata, o, 0, 1, prod, size, rw, 0);
		finish(_metadata, o, ran);
		return;
	}
	for (i = 0; i < cfg.npeers; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		if (d == D2U)
			ran += d2u(_metadata, o, i, prod, size, rw, 0);
		else
			ran += u2x(_metadata, o, i, -1, prod, size, rw, 0);
	}
	finish(_metadata, o, ran);
}

/* Every servant answered hello from its own domain, ids name it. */
TEST_F_TIMEOUT(xdom, hello_domids, TIMEOUT_S)
{
	struct orch *o = &self->o;
	bool want_high = getenv("HYPER_DMABUF_XDOM_EXPECT_HIGH_DOMID") &&
		!strcmp(getenv("HYPER_DMABUF_XDOM_EXPECT_HIGH_DOMID"), "1");
	int i, high = 0;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	for (i = 0; i < cfg.npeers; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		say("%s: %s domain %u, mailbox id 0x%08x from domain %u",
		    cfg.peers[i].name, cfg.peers[i].type, o->dom[i],
		    o->mbox[i].id, o->mbox[i].exporter_domid);
		EXPECT_EQ(NULL, hid_bad(&o->mbox[i]));
		EXPECT_EQ(o->mbox[i].exporter_domid & 0xff,
			  o->mbox[i].id >> HYPER_DMABUF_ID_DOMID_SHIFT);
		if (cfg.loopback)
			continue;
		EXPECT_EQ(cfg.peers[i].domid, o->dom[i]);
		EXPECT_EQ(cfg.peers[i].domid, o->mbox[i].exporter_domid);
		high += cfg.peers[i].domid >= 256;
	}
	if (want_high)
		EXPECT_LT(0, high) TH_LOG("no peer with a domid >= 256");
	finish(_metadata, o, 1);
}

/*
 * The matrix: every size in every direction, every producer in every
 * direction, read-write at least once per direction.  dom0's exports of
 * multi-page segments (udmabuf 8M, heap 33M) are read-write: what the
 * importer writes must be in the exporter's own pages.  (The other
 * direction, the exporter writing after sharing, is *_written_after_share
 * below.)  1M123 is 1 MiB + 123 bytes, exported as 1 MiB + 4 KiB.
 */
TEST_F_TIMEOUT(xdom, d2u_heap_4K_rw, TIMEOUT_S)
{
	data_case(_metadata, &self->o, D2U, "heap", 4 * KiB, true);
}

TEST_F_TIMEOUT(xdom, d2u_vgem_1M123_rw, TIMEOUT_S)
{
	data_case(_metadata, &self->o, D2U, "vgem", MiB + 123, true);
}

TEST_F_TIMEOUT(xdom, d2u_udmabuf_8M_rw, TIMEOUT_S)
{
	data_case(_metadata, &self->o, D2U, "udmabuf", 8 * MiB, true);
}

TEST_F_TIMEOUT(xdom, d2u_heap_33M_rw, TIMEOUT_S)
{
	data_case(_metadata, &self->o, D2U, "heap", 33 * MiB, true);
}

TEST_F_TIMEOUT(xdom, d2u_udmabuf_64M, TIMEOUT_S)
{
	data_case(_metadata, &self->o, D2U, "udmabuf", 64 * MiB, false);
}

TEST_F_TIMEOUT(xdom, u2d_udmabuf_4K, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2D, "udmabuf", 4 * KiB, false);
}

TEST_F_TIMEOUT(xdom, u2d_heap_1M123_rw, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2D, "heap", MiB + 123, true);
}

TEST_F_TIMEOUT(xdom, u2d_udmabuf_8M, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2D, "udmabuf", 8 * MiB, false);
}

TEST_F_TIMEOUT(xdom, u2d_heap_33M, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2D, "heap", 33 * MiB, false);
}

TEST_F_TIMEOUT(xdom, u2d_udmabuf_64M, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2D, "udmabuf", 64 * MiB, false);
}

/* Skips in a PV domU: see vgem_cpu_access_hangs(). */
TEST_F_TIMEOUT(xdom, u2d_vgem_1M123_rw, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2D, "vgem", MiB + 123, true);
}

TEST_F_TIMEOUT(xdom, u2u_heap_4K, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2U, "heap", 4 * KiB, false);
}

TEST_F_TIMEOUT(xdom, u2u_udmabuf_1M123, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2U, "udmabuf", MiB + 123, false);
}

TEST_F_TIMEOUT(xdom, u2u_heap_8M_rw, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2U, "heap", 8 * MiB, true);
}

TEST_F_TIMEOUT(xdom, u2u_udmabuf_33M, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2U, "udmabuf", 33 * MiB, false);
}

TEST_F_TIMEOUT(xdom, u2u_heap_64M, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2U, "heap", 64 * MiB, false);
}

TEST_F_TIMEOUT(xdom, u2u_vgem_1M123_rw, TIMEOUT_S)
{
	data_case(_metadata, &self->o, U2U, "vgem", MiB + 123, true);
}

/*
 * Private data of the largest size arrives byte-exact, and the importer's
 * query agrees with the event (both checked by every check command; here
 * with 192 bytes, both ways).
 */
TEST_F_TIMEOUT(xdom, query_priv_192, TIMEOUT_S)
{
	struct orch *o = &self->o;
	unsigned int checks;
	int i, ran = 0;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	for (i = 0; i < cfg.npeers; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		ran += d2u(_metadata, o, i, "any", 4 * KiB, false,
			   HYPER_DMABUF_MAX_PRIV);
		checks = o->n.checks;
		ran += u2x(_metadata, o, i, -1, "any", 4 * KiB, false,
			   HYPER_DMABUF_MAX_PRIV);
		if (o->n.checks != checks) {
			EXPECT_EQ(HYPER_DMABUF_MAX_PRIV,
				  strlen(o->n.last_check));
		}
	}
	finish(_metadata, o, ran);
}

/* Servant @i imports @hid until the result is @expect (errno, 0: works). */
static int probe_import(struct __test_metadata *_metadata, struct orch *o,
			int i, const struct hyper_dmabuf_id *hid, int expect)
{
	struct msg rep;
	char s[48];

	hid_str(hid, s, sizeof(s));
	if (ask(o, i, &rep, "probe", "hid=%s expect=%d wait=%d", s, expect,
		SETTLE_S * 1000) != 1) {
		EXPECT_TRUE(false) TH_LOG("no reply to probe");
		return 0;
	}
	if (reply_st(&rep) != ST_OK) {
		TH_LOG("import by %s: %s, expected %s", cfg.peers[i].name,
		       rep.text, expect ? strerror(expect) : "success");
		EXPECT_EQ(ST_OK, reply_st(&rep));
		return 0;
	}
	return 1;
}

/*
 * The importer keeps reading the right bytes after the exporter unexports,
 * new imports fail with ENOENT, and the id is released (exported_ids back
 * to its baseline) only when the importer lets go.
 */
/*
 * Whether dma-buf core's debugfs lists the dma-buf of inode @ino: 1 or 0,
 * -1 if it cannot be read.
 */
static int dmabuf_alive(unsigned long long ino)
{
	FILE *f = fopen("/sys/kernel/debug/dma_buf/bufinfo", "r");
	unsigned long long i;
	char line[256];
	int found = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %*s %llu", &i) == 1 &&
		    i == ino)
			found = 1;
	fclose(f);
	return found;
}

/* Wait up to SETTLE_S for the dma-buf of inode @ino to be freed. */
static int dmabuf_freed(unsigned long long ino)
{
	double t0 = now_s();
	int alive;

	while ((alive = dmabuf_alive(ino)) == 1 && now_s() - t0 < SETTLE_S)
		usleep(100000);
	return alive == 0;
}

TEST_F_TIMEOUT(xdom, d2u_unexport_while_imported, TIMEOUT_S)
{
	struct orch *o = &self->o;
	struct hyper_dmabuf_query q;
	int i, ran = 0, ids;
	struct stat st;
	struct msg rep;
	struct cmd c;
	char s[48];

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	for (i = 0; i < cfg.npeers; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		cmd_init(&o->n, &c, cfg.peers[i].domid, cfg.peers[i].name,
			 "check");
		c.buf = buf_alloc(MiB);
		ASSERT_LE(0, c.buf);
		msg_add(c.text, "size=%lu seed=%x rw=0 wseed=0 hold=1", MiB,
			new_seed());
		ASSERT_EQ(0, msg_seal(c.text, 0));
		ASSERT_EQ(0, buf_fill(c.buf, MiB, num(c.text, "seed", 16, 0)));
		ASSERT_EQ(1, request(&o->n, &c, RESEND_S, REPLY_S, &rep));
		ASSERT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		/* The exporter lets go of its buffer: no fd, no mapping. */
		ASSERT_EQ(0, fstat(c.buf, &st));
		close(c.buf);
		ids = hd_counter("exported_ids");

		ASSERT_EQ(0, hd_unexport(o->n.dev, &c.hid));
		memset(&q, 0, sizeof(q));
		q.hid = c.hid;
		EXPECT_EQ(0, ioctl(o->n.dev, HYPER_DMABUF_IOCTL_QUERY, &q));
		EXPECT_EQ(1, q.unexport_pending);
		probe_import(_metadata, o, i, &c.hid, ENOENT);
		hid_str(&c.hid, s, sizeof(s));
		EXPECT_EQ(1, ask(o, i, &rep, "verify", "hid=%s", s));
		EXPECT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		/*
		 * Still imported: the id is not released, and the exporter's
		 * memory (its dma-buf) stays while the peer maps it.
		 */
		EXPECT_EQ(ids, hd_counter("exported_ids"));
		EXPECT_EQ(1, dmabuf_alive(st.st_ino));
		EXPECT_EQ(1, ask(o, i, &rep, "release", "hid=%s", s));
		EXPECT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		if (ids >= 0) {
			EXPECT_EQ(ids - 1, counter_settle("exported_ids",
							  ids - 1));
		}
		/* Once the peer has unmapped, not a page longer. */
		EXPECT_TRUE(dmabuf_freed(st.st_ino));
		ran++;
	}
	finish(_metadata, o, ran);
}

/* Closing the exporting file unexports: the importer's imports fail. */
TEST_F_TIMEOUT(xdom, d2u_close_fd_unexports, TIMEOUT_S)
{
	struct orch *o = &self->o;
	int i, ran = 0, dev2;
	struct msg rep;
	struct cmd c;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	for (i = 0; i < cfg.npeers; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, dev2);
		cmd_init(&o->n, &c, cfg.peers[i].domid, cfg.peers[i].name,
			 "check");
		c.dev = dev2;
		c.buf = buf_alloc(64 * KiB);
		ASSERT_LE(0, c.buf);
		msg_add(c.text, "size=%lu seed=%x rw=0 wseed=0", 64 * KiB,
			new_seed());
		ASSERT_EQ(0, msg_seal(c.text, 0));
		ASSERT_EQ(0, buf_fill(c.buf, 64 * KiB,
				      num(c.text, "seed", 16, 0)));
		ASSERT_EQ(1, request(&o->n, &c, RESEND_S, REPLY_S, &rep));
		ASSERT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		close(c.buf);
		close(dev2);
		ran += probe_import(_metadata, o, i, &c.hid, ENOENT);
	}
	finish(_metadata, o, ran);
}

/*
 * A domain's own limit: 1000 live ids (the servant's mailbox counts), the
 * next export fails with ENOSPC; a freed slot is reused with a new key,
 * and the old id and key no longer import at the importer (ENOENT).
 */
/* Events of this domain's channel to @domid: handled and spurious. */
static bool chan_events(__u32 domid, unsigned long ev[4])
{
	FILE *f = fopen("/sys/kernel/debug/hyper_dmabuf_xen/channels", "r");
	char line[512], *p;
	unsigned int peer;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		p = strstr(line, " events rx ");
		if (sscanf(line, "peer %u", &peer) != 1 || peer != domid || !p)
			continue;
		found = sscanf(p, " events rx %lu/%lu tx %lu/%lu", &ev[0],
			       &ev[1], &ev[2], &ev[3]) == 4;
	}
	fclose(f);
	return found;
}

/* Busy and total jiffies of all CPUs, from /proc/stat. */
static void cpu_jiffies(unsigned long long *busy, unsigned long long *total)
{
	unsigned long long v[8] = { };
	FILE *f = fopen("/proc/stat", "r");
	int i;

	*busy = *total = 0;
	if (!f)
		return;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
		   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
		for (i = 0; i < 8; i++)
			*total += v[i];
		*busy = *total - v[3] - v[4];	/* idle, iowait */
	}
	fclose(f);
}

/* Export @buf to this domain, import it, close, unexport: failed steps. */
static int loopback_share(int dev, int buf, const char *priv)
{
	struct hyper_dmabuf_id hid;
	int fd, bad = 0;

	if (hd_send(dev, buf, HYPER_DMABUF_DOMID_SELF, 0, priv, &hid))
		return 1;
	fd = hd_import(dev, &hid, O_RDONLY);
	if (fd >= 0)
		close(fd);
	else
		bad++;
	if (hd_unexport(dev, &hid))
		bad++;
	return bad;
}

/* Loopback export, import and close every 10 ms; the slowest, in ms. */
static void flood_prober(int stop, int res)
{
	int dev, buf, worst = 0, n = 0, bad = 0;
	double t0;
	char c;

	dev = open("/dev/hyper_dmabuf", O_RDWR);
	buf = buf_alloc(PAGE);
	while (dev >= 0 && buf >= 0 && read(stop, &c, 1) < 0) {
		t0 = now_s();
		bad += loopback_share(dev, buf, "p");
		if (ms_since(t0) > worst)
			worst = ms_since(t0);
		n++;
		usleep(10000);
	}
	dprintf(res, "%d %d %d\n", worst, n, dev < 0 || buf < 0 ? -1 : bad);
	_exit(0);
}

/*
 * A peer signals both event channels as fast as it can (a hostile peer
 * with the evflood test hook).  This domain's handlers mark the events
 * that brought nothing as spurious, so that the late EOI holds the next
 * one back (the kernel delays it by a jiffy): the rate of events handled
 * here stays bounded whatever the peer's rate.  Meanwhile this domain
 * keeps sharing (loopback every 10 ms, and the request to the flooding
 * peer itself).  The CPU time it spent is reported.  The flood is short
 * (20,000 per port: a fraction of a second from a PV domU, seconds from a
 * PVH one): it takes the flooding domain's only vCPU, and that domain's
 * own tests run meanwhile.
 */
#define EVFLOOD_N		20000
#define EVFLOOD_MAX_RATE	1000	/* events handled per second */
#define EVFLOOD_MAX_MS		1000

TEST_F_TIMEOUT(xdom, u2d_event_flood, TIMEOUT_S)
{
	unsigned long long busy0, total0, busy1, total1;
	unsigned long ev0[4], ev1[4], handled, spurious, rate, ms;
	int i, stop[2], res[2], worst = -1, n = 0, bad = -1, ran = 0;
	struct orch *o = &self->o;
	struct msg rep;
	FILE *f;
	pid_t pid;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	for (i = 0; i < cfg.npeers && !ran; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		ASSERT_TRUE(chan_events(cfg.peers[i].domid, ev0))
			TH_LOG("no event counters for domain %u",
			       cfg.peers[i].domid);
		ASSERT_EQ(0, pipe(stop));
		ASSERT_EQ(0, pipe(res));
		ASSERT_EQ(0, fcntl(stop[0], F_SETFL, O_NONBLOCK));
		cpu_jiffies(&busy0, &total0);
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			close(stop[1]);
			close(res[0]);
			flood_prober(stop[0], res[1]);
		}
		close(stop[0]);
		close(res[1]);
		ASSERT_EQ(1, ask(o, i, &rep, "evflood", "n=%d", EVFLOOD_N));
		cpu_jiffies(&busy1, &total1);
		ASSERT_EQ(1, write(stop[1], "x", 1));
		f = fdopen(res[0], "r");
		ASSERT_NE(NULL, f);
		EXPECT_EQ(3, fscanf(f, "%d %d %d", &worst, &n, &bad));
		fclose(f);
		close(stop[1]);
		waitpid(pid, NULL, 0);
		if (reply_st(&rep) == ST_SKIP) {
			o->skipped++;
			snprintf(o->skip_why, TEXT_LEN, "%s", rep.text);
			break;
		}
		EXPECT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		ASSERT_TRUE(chan_events(cfg.peers[i].domid, ev1));
		handled = ev1[0] - ev0[0] + ev1[2] - ev0[2];
		spurious = ev1[1] - ev0[1] + ev1[3] - ev0[3];
		ms = num(rep.text, "ms", 10, 0);
		rate = handled * 1000 / (ms ? ms : 1);
		say("%s signalled %d times on each of 2 ports in %lu ms",
		    cfg.peers[i].name, EVFLOOD_N, ms);
		say("handled here: %lu events (%lu/s, %lu spurious); CPU %.0f %% (%llu jiffies)",
		    handled, rate, spurious,
		    total1 > total0 ? 100.0 * (busy1 - busy0) /
				      (total1 - total0) : 0.0,
		    total1 - total0);
		say("meanwhile a loopback share every 10 ms: %d done, slowest %d ms",
		    n, worst);
		EXPECT_LE(rate, EVFLOOD_MAX_RATE);
		EXPECT_LT(0, spurious);
		EXPECT_EQ(0, bad);
		EXPECT_LT(0, n);
		EXPECT_LE(worst, EVFLOOD_MAX_MS);
		ran++;
	}
	finish(_metadata, o, ran);
}

/* Messages queued here for @domid (debugfs msgs_out), -1 if unknown. */
static int msgs_queued(__u32 domid)
{
	FILE *f = fopen(DEBUGFS_DIR "msgs_out", "r");
	unsigned int d, q;
	char line[128];
	int ret = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "domain %u queued %u", &d, &q) == 2 &&
		    d == domid)
			ret = q;
	fclose(f);
	return ret;
}

/*
 * A peer that stops draining its channel (paused with xl: dom0 only)
 * holds up only its own messages.  Meanwhile dom0 keeps exporting to it
 * and sharing with itself, and every call returns at once; exports to the
 * paused peer are refused with EAGAIN once 64 messages wait for it, and
 * closing the file withdraws the rest without waiting.  Once the peer
 * runs again, everything queued goes out.
 */
#define PAUSED_EXPORTS	80
/*
 * Each call returns within 100 ms in the KUnit test of the same thing
 * (hyper_dmabuf_test_peer_stalled); here dom0 is emulated (TCG) and shares
 * its two vCPUs with both guests, and a call was seen taking 101 ms, and
 * 377 ms with a compiler running beside the lab.  Before the queues, each
 * export to the paused domain took 10 s.
 */
#define PAUSED_MAX_MS	500
#define PAUSED_CLOSE_MAX_MS	1000

TEST_F_TIMEOUT(xdom, d2u_peer_paused, TIMEOUT_S)
{
	int i, k, dev2, b, err, ok, again, other, worst, q, closing;
	int ran = 0;
	struct orch *o = &self->o;
	char cmd[NAME_LEN + 16];
	double t0;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	if (cfg.domid != 0)
		SKIP(return, "pausing a domain takes dom0");
	for (i = 0; i < cfg.npeers && !ran; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, dev2);
		snprintf(cmd, sizeof(cmd), "xl pause %s", cfg.peers[i].name);
		ASSERT_EQ(0, system(cmd));
		ok = 0;
		again = 0;
		other = 0;
		worst = 0;
		for (k = 0; k < PAUSED_EXPORTS; k++) {
			b = buf_alloc(PAGE);
			if (b < 0) {
				other++;
				break;
			}
			t0 = now_s();
			err = -hd_send(dev2, b, cfg.peers[i].domid, 0, "x",
				       NULL);
			worst = ms_since(t0) > worst ? ms_since(t0) : worst;
			if (!err)
				ok++;
			else if (err == EAGAIN)
				again++;
			else
				other++;
			/* Sharing with itself goes on as usual. */
			t0 = now_s();
			other += loopback_share(dev2, b, "y");
			worst = ms_since(t0) > worst ? ms_since(t0) : worst;
			close(b);
		}
		q = msgs_queued(cfg.peers[i].domid);
		/* One close withdraws them all: bounded, not per call. */
		t0 = now_s();
		close(dev2);
		closing = ms_since(t0);
		snprintf(cmd, sizeof(cmd), "xl unpause %s", cfg.peers[i].name);
		ASSERT_EQ(0, system(cmd));
		say("%s paused: %d exports to it queued, %d refused (EAGAIN), %d other errors",
		    cfg.peers[i].name, ok, again, other);
		say("%d messages waited for it; slowest call %d ms", q, worst);
		say("the close that withdrew them all: %d ms", closing);
		/* Everything queued goes out once it runs again. */
		t0 = now_s();
		while (msgs_queued(cfg.peers[i].domid) > 0 &&
		       now_s() - t0 < SETTLE_S)
			usleep(100000);
		EXPECT_EQ(0, msgs_queued(cfg.peers[i].domid));
		EXPECT_EQ(0, other);
		EXPECT_EQ(PAUSED_EXPORTS, ok + again);
		EXPECT_LT(0, again);
		EXPECT_LE(64, q);
		EXPECT_LE(worst, PAUSED_MAX_MS);
		EXPECT_LE(closing, PAUSED_CLOSE_MAX_MS);
		ran++;
	}
	finish(_metadata, o, ran);
}

/*
 * The grant budget: dom0 exports to a domU until hyper_dmabuf holds all
 * the grant references it may (three quarters of the grant table), then a
 * gntalloc user (standing for the domain's block and network frontends)
 * still gets grants.  The buffers are udmabufs of one memfd: they cost
 * grants, not memory.  Before the budget, the exports took the whole
 * table and gntalloc got nothing.
 */
#define BUDGET_CHUNK	(32 << 20)
#define BUDGET_GNTALLOC	512
#define BUDGET_MAX_EXPORTS	64

/* A udmabuf of the first @size bytes of @memfd, or -1. */
static int udmabuf_of(int memfd, size_t size)
{
	struct udmabuf_create create = {
		.memfd = memfd,
		.size = size,
	};
	int dev = open(UDMABUF_PATH, O_RDWR | O_CLOEXEC), buf;

	if (dev < 0)
		return -1;
	buf = ioctl(dev, UDMABUF_CREATE, &create);
	close(dev);
	return buf;
}

/* Export the first @size bytes of @memfd to @domid: 0 or an errno. */
static int budget_export(int dev, int memfd, size_t size, __u32 domid)
{
	struct hyper_dmabuf_export arg = { .remote_domid = domid };
	int err = 0;

	arg.fd = udmabuf_of(memfd, size);
	if (arg.fd < 0)
		return errno;
	if (ioctl(dev, HYPER_DMABUF_IOCTL_EXPORT, &arg))
		err = errno;
	close(arg.fd);
	return err;
}

/* gntalloc: @n grants of pages of ours to @domid; 0 or -errno. */
static int gntalloc_try(__u32 domid, unsigned int n)
{
	struct ioctl_gntalloc_dealloc_gref dealloc = { .count = n };
	struct ioctl_gntalloc_alloc_gref *alloc;
	int fd, err = 0;

	fd = open("/dev/xen/gntalloc", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	alloc = calloc(1, sizeof(*alloc) + n * sizeof(alloc->gref_ids[0]));
	if (!alloc) {
		close(fd);
		return -ENOMEM;
	}
	alloc->domid = domid;
	alloc->count = n;
	if (ioctl(fd, IOCTL_GNTALLOC_ALLOC_GREF, alloc)) {
		err = -errno;
	} else {
		dealloc.index = alloc->index;
		if (ioctl(fd, IOCTL_GNTALLOC_DEALLOC_GREF, &dealloc))
			err = -errno;
	}
	free(alloc);
	close(fd);
	return err;
}

TEST_F_TIMEOUT(xdom, d2u_grant_budget, TIMEOUT_S)
{
	static const size_t sizes[] = { BUDGET_CHUNK, 4 << 20, 256 << 10,
					PAGE };
	int i, s, err, dev2, memfd, exports = 0, held, budget, ran = 0;
	struct orch *o = &self->o;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	if (getenv("HYPER_DMABUF_XDOM_SHORT"))
		SKIP(return, "runs in the lab's all-PV boot only (HYPER_DMABUF_XDOM_SHORT)");
	if (access("/dev/xen/gntalloc", R_OK | W_OK))
		SKIP(return, "no /dev/xen/gntalloc");
	memfd = syscall(__NR_memfd_create, "hyper_dmabuf-budget",
			MFD_ALLOW_SEALING);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, BUDGET_CHUNK));
	ASSERT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK));
	for (i = 0; i < cfg.npeers && !ran; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		/* Our grants to the peer alone: it has nothing of ours. */
		ASSERT_EQ(0, gntalloc_try(cfg.peers[i].domid, BUDGET_GNTALLOC));
		dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, dev2);
		/* Large buffers while they fit, then smaller ones. */
		err = 0;
		for (s = 0; s < ARRAY_SIZE(sizes); s++) {
			while (exports < BUDGET_MAX_EXPORTS * (s + 1)) {
				err = budget_export(dev2, memfd, sizes[s],
						    cfg.peers[i].domid);
				if (err)
					break;
				exports++;
			}
			if (err != ENOSPC)
				break;
		}
		held = hd_counter("grants_in_use");
		budget = read_int("/sys/module/hyper_dmabuf_xen/parameters/grant_budget");
		say("%d exports to %s hold %d grants (budget %d), then %s",
		    exports, cfg.peers[i].name, held, budget, strerror(err));
		/* The budget, not the table, refused the last page. */
		EXPECT_EQ(ENOSPC, err);
		EXPECT_LT(0, budget);
		EXPECT_LE(held, budget);
		EXPECT_LE(budget - 2, held);
		/* The domain's other grant users still get theirs. */
		EXPECT_EQ(0, gntalloc_try(cfg.peers[i].domid, BUDGET_GNTALLOC));
		close(dev2);
		ran++;
	}
	close(memfd);
	finish(_metadata, o, ran);
}

/*
 * Allocation failure, one call site at a time.  failslab and
 * fail_page_alloc are limited by their stack filter to calls made on
 * behalf of the driver (a frame of hyper_dmabuf or hyper_dmabuf_xen on
 * the stack), and this thread's fail-nth fails the nth such call: 1, 2,
 * ... until an export (to a domU) or an import (of a domU's buffer) runs
 * to its end without reaching the nth.  Each failed call must give a clean
 * error (or a call that copes with it and succeeds), leave the counters at
 * their baseline, and a normal share must then succeed.
 */
#define FI_MAX_SITES	400
#define FI_SIZE		(256 * KiB)

static int fi_write(const char *attr, const char *file, const char *val)
{
	char path[128];
	int fd, ret = 0;

	snprintf(path, sizeof(path), "/sys/kernel/debug/%s/%s", attr, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/*
 * The text of the driver's two modules, from kallsyms: [*@start, *@end).
 * False (with @why) if it cannot be found or another module lies inside.
 */
static bool fi_range(unsigned long *start, unsigned long *end, char *why)
{
	unsigned long a, lo = ~0UL, hi = 0;
	char line[256], name[128], mod[64], type;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f) {
		sprintf(why, "no /proc/kallsyms");
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx %c %127s [%63[^]]]", &a, &type, name,
			   mod) != 4 || (type != 't' && type != 'T') || !a)
			continue;
		if (strcmp(mod, "hyper_dmabuf") &&
		    strcmp(mod, "hyper_dmabuf_xen"))
			continue;
		lo = a < lo ? a : lo;
		hi = a > hi ? a : hi;
	}
	fclose(f);
	if (lo >= hi) {
		sprintf(why, "no module text in /proc/kallsyms");
		return false;
	}
	/* Past the start of the last function: its length at most. */
	*start = lo;
	*end = hi + 64 * KiB;
	f = fopen("/proc/modules", "r");
	if (!f) {
		sprintf(why, "no /proc/modules");
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %*s %*s %*s %*s %lx", mod, &a) != 2 ||
		    !strcmp(mod, "hyper_dmabuf") ||
		    !strcmp(mod, "hyper_dmabuf_xen"))
			continue;
		if (a >= *start && a < *end) {
			sprintf(why, "module %s lies between ours", mod);
			fclose(f);
			return false;
		}
	}
	fclose(f);
	return true;
}

/*
 * The text of the kernel function @fn: [*@start, *@end), up to the next
 * text symbol in kallsyms.  False if it is not found.
 */
static bool fi_func(const char *fn, unsigned long *start, unsigned long *end)
{
	unsigned long a, next = ~0UL;
	char line[256], name[128], type;
	FILE *f = fopen("/proc/kallsyms", "r");

	*start = 0;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c %127s", &a, &type, name) == 3 &&
		    (type == 't' || type == 'T') && !strcmp(name, fn))
			*start = a;
	rewind(f);
	while (*start && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx %c", &a, &type) == 2 &&
		    (type == 't' || type == 'T') && a > *start && a < next)
			next = a;
	fclose(f);
	*end = next;
	return *start && next != ~0UL;
}

/* Set up both fault attributes for fail-nth; NULL or why not. */
static const char *fi_setup(char *why)
{
	static const char * const attrs[] = { "failslab", "fail_page_alloc" };
	unsigned long start, end, rstart, rend;
	char val[32];
	unsigned int i;

	if (access("/proc/thread-self/fail-nth", W_OK))
		return "no fail-nth (CONFIG_FAULT_INJECTION_DEBUG_FS)";
	if (access("/sys/kernel/debug/fail_page_alloc/require-start", W_OK))
		return "no fail_page_alloc stack filter";
	if (!fi_range(&start, &end, why))
		return why;
	/*
	 * dma_buf_vmap() WARNs on any failure of its exporter's vmap (the
	 * dma-buf core's choice): calls under it are not failed.
	 */
	if (!fi_func("dma_buf_vmap", &rstart, &rend))
		return "dma_buf_vmap not in /proc/kallsyms";
	for (i = 0; i < ARRAY_SIZE(attrs); i++) {
		/* First the range: no window where everything matches. */
		snprintf(val, sizeof(val), "%lu", end);
		if (fi_write(attrs[i], "require-end", val))
			return "cannot set require-end";
		snprintf(val, sizeof(val), "%lu", start);
		if (fi_write(attrs[i], "require-start", val))
			return "cannot set require-start";
		snprintf(val, sizeof(val), "%lu", rend);
		if (fi_write(attrs[i], "reject-end", val))
			return "cannot set reject-end";
		snprintf(val, sizeof(val), "%lu", rstart);
		if (fi_write(attrs[i], "reject-start", val) ||
		    fi_write(attrs[i], "stacktrace-depth", "32") ||
		    fi_write(attrs[i], "probability", "0") ||
		    fi_write(attrs[i], "verbose", "0") ||
		    fi_write(attrs[i], "ignore-gfp-wait", "N"))
			return "cannot set the fault attributes";
	}
	if (fi_write("fail_page_alloc", "ignore-gfp-highmem", "N") ||
	    fi_write("fail_page_alloc", "min-order", "0"))
		return "cannot set fail_page_alloc";
	return NULL;
}

static void fi_arm(int nth)
{
	char val[16];
	int fd = open("/proc/thread-self/fail-nth", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	snprintf(val, sizeof(val), "%d", nth);
	if (write(fd, val, strlen(val)) < 0)
		say("fail-nth: %s", strerror(errno));
	close(fd);
}

/* Disarm; true if the armed failure was injected. */
static bool fi_disarm(void)
{
	int fd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	char val[16] = "";
	bool fired;

	if (fd < 0)
		return false;
	fired = read(fd, val, sizeof(val) - 1) > 0 && atoi(val) == 0;
	if (write(fd, "0", 1) < 0)
		fired = false;
	close(fd);
	return fired;
}

/* What an injected allocation failure may give: ENOMEM, or success. */
static bool fi_clean(int err)
{
	return !err || err == ENOMEM;
}

TEST_F_TIMEOUT(xdom, alloc_failure, TIMEOUT_S)
{
	int i, nth, b, fd, err, exp_sites = 0, imp_sites = 0, ran = 0;
	int exp_err = 0, imp_err = 0, bad = 0;
	struct hyper_dmabuf_id hid, mine;
	struct orch *o = &self->o;
	char why[96], s[48];
	const char *skip;
	struct ctrs base, now;
	__u32 seed;
	struct msg rep;
	void *p;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	if (getenv("HYPER_DMABUF_XDOM_SHORT"))
		SKIP(return, "runs in the lab's all-PV boot only (HYPER_DMABUF_XDOM_SHORT)");
	skip = fi_setup(why);
	if (skip)
		SKIP(return, "%s", skip);
	for (i = 0; i < cfg.npeers && !ran; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		ctrs_read(&base);
		/* Export to the domU. */
		for (nth = 1; nth <= FI_MAX_SITES; nth++) {
			b = buf_alloc(FI_SIZE);
			ASSERT_LE(0, b);
			fi_arm(nth);
			err = -hd_send(o->n.dev, b, cfg.peers[i].domid, 0, "fi",
				       &hid);
			if (!fi_disarm()) {
				/* Past the last site: a normal export. */
				EXPECT_EQ(0, err);
				if (!err)
					EXPECT_EQ(0, hd_unexport(o->n.dev, &hid));
				close(b);
				break;
			}
			exp_sites++;
			if (!fi_clean(err)) {
				say("export, site %d: %s", nth, strerror(err));
				bad++;
			}
			exp_err += !!err;
			if (!err)
				EXPECT_EQ(0, hd_unexport(o->n.dev, &hid));
			/* Then a normal export. */
			EXPECT_EQ(0, hd_send(o->n.dev, b, cfg.peers[i].domid,
					     0, "fi", &hid));
			EXPECT_EQ(0, hd_unexport(o->n.dev, &hid));
			close(b);
			if (!ctrs_settle(&base, &now)) {
				ctrs_str(&now, s, sizeof(s));
				ASSERT_TRUE(false) TH_LOG("export, site %d: left %s",
							  nth, s);
			}
		}
		/* Import of the domU's buffer. */
		seed = new_seed();
		ASSERT_EQ(1, ask(o, i, &rep, "offer", "size=%lu seed=%x",
				 FI_SIZE, seed));
		ASSERT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		ASSERT_TRUE(hid_parse(rep.text, "hid", cfg.peers[i].domid,
				      &mine));
		ctrs_read(&base);
		for (nth = 1; nth <= FI_MAX_SITES; nth++) {
			fi_arm(nth);
			fd = hd_import(o->n.dev, &mine, O_RDONLY);
			err = fd < 0 ? -fd : 0;
			if (!fi_disarm()) {
				/* Past the last site: a normal import. */
				ASSERT_LE(0, fd) TH_LOG("import: %s",
							strerror(err));
				p = mmap(NULL, FI_SIZE, PROT_READ, MAP_SHARED,
					 fd, 0);
				ASSERT_NE(MAP_FAILED, p);
				EXPECT_EQ(FI_SIZE, pat_check(p, 0, FI_SIZE,
							     seed));
				munmap(p, FI_SIZE);
				close(fd);
				break;
			}
			imp_sites++;
			if (!fi_clean(err)) {
				say("import, site %d: %s", nth, strerror(err));
				bad++;
			}
			imp_err += !!err;
			if (fd >= 0)
				close(fd);
			/* Then a normal import. */
			fd = hd_import(o->n.dev, &mine, O_RDONLY);
			EXPECT_LE(0, fd) TH_LOG("import after site %d: %s",
						nth, strerror(-fd));
			if (fd >= 0)
				close(fd);
			if (!ctrs_settle(&base, &now)) {
				ctrs_str(&now, s, sizeof(s));
				ASSERT_TRUE(false) TH_LOG("import, site %d: left %s",
							  nth, s);
			}
		}
		EXPECT_EQ(1, ask(o, i, &rep, "unoffer", ""));
		EXPECT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		hid_str(&mine, s, sizeof(s));
		say("allocation sites failed: export to %s %d (%d errors)",
		    cfg.peers[i].name, exp_sites, exp_err);
		say("allocation sites failed: import from %s %d (%d errors)",
		    cfg.peers[i].name, imp_sites, imp_err);
		say("allocation sites failed in all: %d", exp_sites + imp_sites);
		EXPECT_EQ(0, bad);
		EXPECT_LT(0, exp_sites);
		EXPECT_LT(0, imp_sites);
		EXPECT_GT(FI_MAX_SITES, nth);
		ran++;
	}
	finish(_metadata, o, ran);
}

/*
 * Stress across two domains: STRESS_PROCS processes in dom0 each export
 * buffers of random size (one to 16 pages of one memfd) to a domU, import
 * the domU's buffer, let it go and unexport, in a loop, and now and then
 * close their device file instead of unexporting.  Every message of the
 * exchange crosses the Xen channel (EXPORT, UNEXPORT, IMPORTED, RELEASED
 * and their ACKs) and every import maps the domU's grants.  The 100,000
 * cycles of the issue run in KUnit (hyper_dmabuf_test_link_stress); here,
 * under TCG, the run is bounded in time and reports cycles per second.
 */
#define STRESS_PROCS	4
#define STRESS_S	45
#define STRESS_OFFER	(64 * KiB)

struct stress_res {
	unsigned int cycles, again, errors, first_err;
};

static void stress_proc(__u32 domid, const struct hyper_dmabuf_id *mine,
			int memfd, unsigned int seed, struct stress_res *res)
{
	int dev = open(DEV_PATH, O_RDWR | O_CLOEXEC), b, fd, err;
	double end = now_s() + STRESS_S;
	struct hyper_dmabuf_id hid;

	while (dev >= 0 && now_s() < end) {
		seed = seed * 1103515245 + 12345;
		b = udmabuf_of(memfd, ((seed >> 8) % 16 + 1) * PAGE);
		if (b < 0) {
			err = errno;
			goto fail;
		}
		err = -hd_send(dev, b, domid, 0, NULL, &hid);
		close(b);
		if (err == EAGAIN) {
			res->again++;
			usleep(1000);
			continue;
		}
		if (err)
			goto fail;
		fd = hd_import(dev, mine, O_RDONLY);
		if (fd == -EAGAIN)
			res->again++;
		if (fd < 0 && fd != -EAGAIN) {
			err = -fd;
			goto fail;
		}
		if (fd >= 0)
			close(fd);
		err = 0;
		if (seed % 50 == 0) {
			/* Closing the file withdraws its exports. */
			close(dev);
			dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
		} else {
			err = -hd_unexport(dev, &hid);
		}
		if (err)
			goto fail;
		res->cycles++;
		continue;
fail:
		if (!res->errors++)
			res->first_err = err;
	}
	if (dev >= 0)
		close(dev);
}

TEST_F_TIMEOUT(xdom, d2u_u2d_stress, TIMEOUT_S)
{
	struct stress_res *res, sum = { 0 };
	struct hyper_dmabuf_id mine;
	int i, k, memfd, ran = 0;
	struct orch *o = &self->o;
	struct ctrs base, now;
	char a[160], b[160];
	struct msg rep;
	pid_t pid;
	double t0;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	if (getenv("HYPER_DMABUF_XDOM_SHORT"))
		SKIP(return, "runs in the lab's all-PV boot only (HYPER_DMABUF_XDOM_SHORT)");
	res = mmap(NULL, STRESS_PROCS * sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	memfd = syscall(__NR_memfd_create, "hyper_dmabuf-stress",
			MFD_ALLOW_SEALING);
	ASSERT_LE(0, memfd);
	ASSERT_EQ(0, ftruncate(memfd, 16 * PAGE));
	ASSERT_EQ(0, fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK));
	for (i = 0; i < cfg.npeers && !ran; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		ASSERT_EQ(1, ask(o, i, &rep, "offer", "size=%lu seed=%x",
				 STRESS_OFFER, new_seed()));
		ASSERT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		ASSERT_TRUE(hid_parse(rep.text, "hid", cfg.peers[i].domid,
				      &mine));
		ctrs_read(&base);
		memset(res, 0, STRESS_PROCS * sizeof(*res));
		t0 = now_s();
		for (k = 0; k < STRESS_PROCS; k++) {
			pid = fork();
			ASSERT_LE(0, pid);
			if (!pid) {
				stress_proc(cfg.peers[i].domid, &mine, memfd,
					    new_seed(), &res[k]);
				_exit(0);
			}
		}
		for (k = 0; k < STRESS_PROCS; k++)
			wait(NULL);
		t0 = now_s() - t0;
		for (k = 0; k < STRESS_PROCS; k++) {
			sum.cycles += res[k].cycles;
			sum.again += res[k].again;
			sum.errors += res[k].errors;
			if (res[k].errors && !sum.first_err)
				sum.first_err = res[k].first_err;
		}
		say("stress with %s: %u cycles on %d processes in %.1f s: %.0f cycles/s",
		    cfg.peers[i].name, sum.cycles, STRESS_PROCS, t0,
		    sum.cycles / t0);
		say("  %u EAGAIN, %u errors (first %s)", sum.again,
		    sum.errors, strerror(sum.first_err));
		EXPECT_EQ(0, sum.errors);
		EXPECT_LT(0, sum.cycles);
		if (!ctrs_settle(&base, &now)) {
			ctrs_str(&base, a, sizeof(a));
			ctrs_str(&now, b, sizeof(b));
			EXPECT_TRUE(false) TH_LOG("before %s, after %s", a, b);
		}
		EXPECT_EQ(1, ask(o, i, &rep, "unoffer", ""));
		ran++;
	}
	close(memfd);
	munmap(res, STRESS_PROCS * sizeof(*res));
	finish(_metadata, o, ran);
}

TEST_F_TIMEOUT(xdom, u2d_flood_ids, TIMEOUT_S)
{
	struct orch *o = &self->o;
	struct hyper_dmabuf_id old, new;
	int i, fd, n, base, err, ran = 0;
	__u32 seed, dom;
	struct msg rep;
	double t0;
	void *p;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	for (i = 0; i < cfg.npeers; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		t0 = now_s();
		ASSERT_EQ(1, ask(o, i, &rep, "flood", ""));
		dom = rep.ev.hid.exporter_domid;
		n = num(rep.text, "n", 10, 0);
		base = num(rep.text, "base", 10, -1);
		err = num(rep.text, "err", 10, 0);
		say("%s: %d exports beside %d live ids, then %s (%.1f s)",
		    cfg.peers[i].name, n, base, strerror(err), now_s() - t0);
		EXPECT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		EXPECT_EQ(ENOSPC, err);
		if (base >= 0)
			EXPECT_EQ(HYPER_DMABUF_MAX_IDS, base + n);
		ASSERT_TRUE(hid_parse(rep.text, "old", dom, &old));

		seed = new_seed();
		ASSERT_EQ(1, ask(o, i, &rep, "reuse", "seed=%x", seed));
		EXPECT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		ASSERT_TRUE(hid_parse(rep.text, "new", dom, &new));
		EXPECT_EQ(old.id, new.id);
		EXPECT_NE(0, memcmp(old.key, new.key, sizeof(old.key)));

		/* The old id with its old key: never again, ENOENT. */
		t0 = now_s();
		do {
			fd = hd_import(o->n.dev, &old, O_RDONLY);
			if (fd >= 0)
				close(fd);
		} while (fd < 0 && fd != -ENOENT && now_s() - t0 < SETTLE_S);
		EXPECT_EQ(-ENOENT, fd);
		fd = hd_import(o->n.dev, &new, O_RDONLY);
		EXPECT_LE(0, fd) TH_LOG("import of the new id: %s",
					strerror(-fd));
		if (fd >= 0) {
			p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
			EXPECT_NE(MAP_FAILED, p);
			if (p != MAP_FAILED) {
				EXPECT_EQ(PAGE, pat_check(p, 0, PAGE, seed));
				munmap(p, PAGE);
			}
			close(fd);
		}

		ASSERT_EQ(1, ask(o, i, &rep, "unflood", ""));
		EXPECT_EQ(ST_OK, reply_st(&rep)) TH_LOG("%s", rep.text);
		ran++;
	}
	finish(_metadata, o, ran);
}

/*
 * Servant @i carries out @cmd with the fields @fmt.  1: st=ok, 0: it
 * failed (reported), -1: a skip (counted) or its domain died, -2: no reply.
 */
static int pend_ask(struct __test_metadata *_metadata, struct orch *o,
		    int i, struct msg *rep, const char *cmd,
		    const char *fmt, ...)
{
	char fields[TEXT_LEN], why[64] = "";
	const char *st;
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(fields, sizeof(fields), fmt, ap);
	va_end(ap);
	ret = ask(o, i, rep, cmd, "%s", fields);
	if (ret != 1) {
		if (peer_died(o, i))
			return -1;
		EXPECT_EQ(1, ret) TH_LOG("%s %s: no reply from %s", cmd,
					 fields, cfg.peers[i].name);
		return -2;
	}
	st = strstr(rep->text, " st=");
	st = st ? st + 1 : rep->text;
	switch (reply_st(rep)) {
	case ST_OK:
		return 1;
	case ST_SKIP:
		field(rep->text, "why", why, sizeof(why));
		o->skipped++;
		snprintf(o->skip_why, TEXT_LEN, "%s: %s", cfg.peers[i].name,
			 why);
		return -1;
	default:
		EXPECT_EQ(ST_OK, reply_st(rep))
			TH_LOG("%s %s: %s replied %s", cmd, fields,
			       cfg.peers[i].name, st);
		return 0;
	}
}

/* A step done here: 1 ok, 0 failed (reported), -1 skip (counted). */
static int pend_local(struct __test_metadata *_metadata, struct orch *o,
		      const char *step, const char *out)
{
	if (!strncmp(out, "st=ok", 5))
		return 1;
	if (!strncmp(out, "st=skip", 7)) {
		o->skipped++;
		snprintf(o->skip_why, TEXT_LEN, "%s: %s", cfg.name, out);
		return -1;
	}
	EXPECT_TRUE(false) TH_LOG("%s (in %s): %s", step, cfg.name, out);
	return 0;
}

/*
 * A buffer exported with a pending fence, between dom0 and the first
 * servant of the plan in direction @d (D2U: dom0 exports); then the fence
 * signals, or (@unexport) the export is withdrawn before it does.  The
 * importer's steps run in the servant (d2u) or here (u2d), and so do the
 * exporter's the other way round: the same functions either way.
 */
static void pending_case(struct __test_metadata *_metadata, struct orch *o,
			 enum dir d, bool unexport, const char *prod,
			 size_t size)
{
	const int i = 0;
	const char *pn = cfg.peers[i].name;
	__u32 seed = new_seed(), wseed = new_seed();
	size_t len = round_page(size);
	long long exp_ms = -1, to_ms = -1, ev_ms = -1, blk_ms = -1;
	struct hyper_dmabuf_id hid;
	char out[TEXT_LEN], times[TEXT_LEN], s[48];
	struct msg rep;
	int ok = 1, ran = 0;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	if (!peer_up(_metadata, o, i)) {
		finish(_metadata, o, 0);
		return;
	}
	if (d == D2U) {
		ok = pend_ask(_metadata, o, i, &rep, "pwatch", "");
		if (ok != 1)
			goto out;
		pend_export(&o->n, cfg.peers[i].domid, prod, size, seed, out);
		ok = pend_local(_metadata, o,
				"export with a pending fence", out);
		if (ok != 1)
			goto out;
		exp_ms = num(out, "ms", 10, -1);
		hid = o->n.pe.hid;
		hid_str(&hid, s, sizeof(s));
		ok = pend_ask(_metadata, o, i, &rep, "ppend",
			      "hid=%s size=%zu seed=%x wseed=%x", s, len, seed,
			      wseed);
		if (ok != 1)
			goto out;
		to_ms = num(rep.text, "to_ms", 10, -1);
		if (unexport)
			pend_unexport(&o->n, out);
		else
			pend_signal(&o->n, wseed, out);
		ok = pend_local(_metadata, o, unexport ?
				"unexport while pending" : "signal the fence",
				out);
		if (ok != 1)
			goto out;
		if (unexport)
			ok = pend_ask(_metadata, o, i, &rep, "pgone",
				      "hid=%s", s);
		else
			ok = pend_ask(_metadata, o, i, &rep, "pget",
				      "hid=%s seed=%x wseed=%x", s, seed,
				      wseed);
		if (ok != 1)
			goto out;
		/* No ev_ms= after an unexport: it stays -1. */
		ev_ms = num(rep.text, "ev_ms", 10, -1);
		blk_ms = num(rep.text, "blk_ms", 10, -1);
		pend_close(&o->n, false, out);
		ok = pend_local(_metadata, o, unexport ?
				"signal the fence and close" :
				"unexport and close", out);
		if (ok != 1)
			goto out;
		ok = pend_ask(_metadata, o, i, &rep, "pdone",
			      "hid=%s gone=%d", s, unexport);
		if (ok != 1)
			goto out;
	} else {
		pend_watch(&o->n, out);
		ok = pend_local(_metadata, o, "open an event file", out);
		if (ok != 1)
			goto out;
		ok = pend_ask(_metadata, o, i, &rep, "pexp",
			      "prod=%s size=%zu seed=%x", prod, size, seed);
		if (ok != 1)
			goto out;
		exp_ms = num(rep.text, "ms", 10, -1);
		ok = hid_parse(rep.text, "hid", rep.ev.hid.exporter_domid,
			       &hid);
		if (!ok) {
			EXPECT_TRUE(ok) TH_LOG("no hid= in %s", rep.text);
			goto out;
		}
		hid_str(&hid, s, sizeof(s));
		pend_probe(&o->n, &hid, len, seed, wseed, out);
		ok = pend_local(_metadata, o, "import while pending", out);
		if (ok != 1)
			goto out;
		to_ms = num(out, "to_ms", 10, -1);
		if (unexport)
			ok = pend_ask(_metadata, o, i, &rep, "punexp",
				      "hid=%s", s);
		else
			ok = pend_ask(_metadata, o, i, &rep, "psig",
				      "hid=%s wseed=%x", s, wseed);
		if (ok != 1)
			goto out;
		if (unexport)
			pend_gone(&o->n, &hid, out);
		else
			pend_get(&o->n, &hid, seed, wseed, out);
		ok = pend_local(_metadata, o, unexport ?
				"import after the unexport" :
				"import after the signal", out);
		if (ok != 1)
			goto out;
		ev_ms = num(out, "ev_ms", 10, -1);
		blk_ms = num(out, "blk_ms", 10, -1);
		ok = pend_ask(_metadata, o, i, &rep, "pclose", "hid=%s", s);
		if (ok != 1)
			goto out;
		pend_done(&o->n, &hid, unexport, out);
		ok = pend_local(_metadata, o, unexport ?
				"after the fence signalled" : "close", out);
		if (ok != 1)
			goto out;
	}
	snprintf(times, sizeof(times),
		 "export %lld ms, timed import %lld ms, event %lld ms, blocked import %lld ms",
		 exp_ms, to_ms, ev_ms, blk_ms);
	say("%s %s %zu bytes %s->%s pending then %s: %s", dir_names[d], prod,
	    size, d == D2U ? cfg.name : pn, d == D2U ? pn : cfg.name,
	    unexport ? "unexport" : "signal", times);
	ran = 1;
out:
	/* Leave nothing behind on either side (a blocked child, a fence). */
	pend_reset(&o->n);
	if (!ran && ok != -2 && cfg.sh->absent[i] != 2)
		ask(o, i, &rep, "preset", "");
	finish(_metadata, o, ran);
}

/*
 * The buffer (a udmabuf filled with a pattern) has a pending sw_sync
 * fence when it is exported: EXPORT returns within 1 s, the exporter's
 * query says PENDING_IDLE.  The importer, told the id: NONBLOCK import
 * EAGAIN, import with a 300 ms timeout ETIMEDOUT after >= 250 ms, query
 * IMPORTED, PENDING_IDLE, the size, no private data, no NEW_IMPORT event;
 * a blocking import is left asleep.  The exporter then writes a second
 * pattern and signals: PENDING_IDLE clears, the importer gets the event
 * (no F_UPDATE, the private data), the blocked import returns the buffer,
 * a new import too, both with the second pattern.  Counters come back.
 */
TEST_F_TIMEOUT(xdom, d2u_pending_then_signal, TIMEOUT_S)
{
	pending_case(_metadata, &self->o, D2U, false, "udmabuf", PEND_SIZE);
}

TEST_F_TIMEOUT(xdom, u2d_pending_then_signal, TIMEOUT_S)
{
	pending_case(_metadata, &self->o, U2D, false, "udmabuf", PEND_SIZE);
}

/*
 * Written after sharing: the same case on a 33 MiB system-heap buffer,
 * whose segments span many pages (what swiotlb-xen would bounce in a PV
 * domain).  Its pages are granted at export; the second pattern is then
 * written through the exporter's own mapping, and the importer must read
 * it: grants of a bounce copy would show the first pattern.
 */
TEST_F_TIMEOUT(xdom, d2u_heap_33M_written_after_share, TIMEOUT_S)
{
	pending_case(_metadata, &self->o, D2U, false, "heap", 33 * MiB);
}

TEST_F_TIMEOUT(xdom, u2d_heap_33M_written_after_share, TIMEOUT_S)
{
	pending_case(_metadata, &self->o, U2D, false, "heap", 33 * MiB);
}

/*
 * As above up to the blocked import; then the exporter unexports with the
 * fence still pending: the blocked import wakes with ENOENT, NONBLOCK and
 * timed imports and the query fail with ENOENT, no event.  The fence then
 * signals: still no event, still ENOENT.  Counters come back on both sides.
 */
TEST_F_TIMEOUT(xdom, d2u_pending_then_unexport, TIMEOUT_S)
{
	pending_case(_metadata, &self->o, D2U, true, "udmabuf", PEND_SIZE);
}

TEST_F_TIMEOUT(xdom, u2d_pending_then_unexport, TIMEOUT_S)
{
	pending_case(_metadata, &self->o, U2D, true, "udmabuf", PEND_SIZE);
}

/* ---- a hostile peer: forged messages ------------------------------------ */

/*
 * A servant forges what it sends with the test hook debugfs
 * hyper_dmabuf_xen/inject (CONFIG_HYPER_DMABUF_DEBUG): raw ring slots, raw
 * ring indices, raw page directories.  The wire format is a Xen protocol,
 * not uapi: this is a local copy of struct hyper_dmabuf_msg_wire and of
 * the directory page of include/xen/interface/io/hyper_dmabuf.h, little
 * endian.
 */
#define INJECT_PATH	"/sys/kernel/debug/hyper_dmabuf_xen/inject"
#define RING_ERRORS_PATH "/sys/kernel/debug/hyper_dmabuf_xen/ring_errors"

struct fwire {
	__u16 version;
	__u16 op;
	__u32 size;
	__u32 sender_domid;
	__u32 id;
	__u32 exporter_domid;
	__u32 key[3];
	__u32 flags;
	__u32 priv_size;
	__u64 buf_size;
	__u64 ref;
	__u64 reserved;
	__u8 priv[HYPER_DMABUF_MAX_PRIV];
};

/* enum hyper_dmabuf_msg_op */
enum {
	FOP_EXPORT = 1,
	FOP_UNEXPORT,
	FOP_IMPORTED,
	FOP_RELEASED,
	FOP_ACK,
	FOP_PENDING,
	FOP_MAX,
};

#define FW_VERSION	1
#define FW_MAX_BUF	(1024 * MiB)	/* HYPER_DMABUF_MAX_BUF_SIZE */
#define DIR_MAGIC	0x52444448U	/* HYPER_DMABUF_DIR_MAGIC */
#define DIR_REFS	((PAGE - 16) / 4)	/* HYPER_DMABUF_DIR_REFS: 1020 */
#define UNOWNED_REF	0x7ffffff0U	/* far beyond any grant table */
#define OTHER_DOMID	0x7fefU		/* a domain that is neither side */
#define FORGE_SLOT	900		/* forged ids: slots 900 + kind */
#define FLOOD_SLOTS	5000		/* > the victim's backlog of 1024 */
#define FORGE_WAIT_S	10

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LE16(x)	__builtin_bswap16(x)
#define LE32(x)	__builtin_bswap32(x)
#define LE64(x)	__builtin_bswap64(x)
#else
#define LE16(x)	(x)
#define LE32(x)	(x)
#define LE64(x)	(x)
#endif

/* Names of enum hyper_dmabuf_drop_reason, as in msgs_dropped. */
static const char * const drop_names[] = {
	"len", "version", "size", "op", "sender", "domid", "id", "flags",
	"priv", "bufsize", "reserved", "key", "state", "nomem", "repeat",
};

#define NR_DROPS	ARRAY_SIZE(drop_names)

enum fk_type {
	FK_DROP,	/* one message, dropped and counted for a reason */
	FK_FLOOD,	/* FLOOD_SLOTS of them, back to back */
	FK_RING,	/* a ring index out of range: the channel resets */
	FK_DIR,		/* an export with a forged page directory */
};

/* What the servant does before it forges (FP_LOOPBACK: dom0 does). */
#define FP_REAL		0x01	/* a real export of its own to dom0 */
#define FP_REAL_GONE	0x02	/* ... unexported again */
#define FP_IMPORT	0x04	/* imports dom0's mailbox, holds it */
#define FP_IMPORT_DONE	0x08	/* ... and lets it go again */
#define FP_LOOPBACK	0x10	/* dom0 exports a buffer to itself */

enum fk {
	K_VERSION_0, K_VERSION_2, K_GARBAGE, K_SIZE_SHORT, K_SIZE_HUGE,
	K_OP_ZERO, K_OP_MAX, K_OP_FFFF, K_SENDER_VICTIM, K_SENDER_OTHER,
	K_ID_BYTE, K_EXPORTER_RESERVED, K_EXPORT_AS_VICTIM, K_RELEASED_OWN,
	K_SLOT_1000, K_SLOT_MAX, K_FLAGS_EXPORT, K_FLAGS_RELEASE, K_PRIV_193,
	K_PRIV_HUGE, K_PRIV_TAIL, K_PRIV_UNEXPORT, K_BUF_ZERO, K_BUF_UNALIGNED,
	K_BUF_OVER, K_BUF_WRAP, K_BUF_UNEXPORT, K_RESERVED, K_REF_PENDING,
	K_UNEXPORT_RANDOM, K_UNEXPORT_WRONG_KEY, K_ACK_BAD_OP,
	K_EXPORT_OTHER_SIZE, K_EXPORT_OTHER_REF, K_PENDING_KNOWN,
	K_UNEXPORT_REPLAY, K_RELEASE_NEVER, K_RELEASE_WRONG_KEY,
	K_IMPORTED_WRONG_KEY, K_RELEASE_UNKNOWN, K_ACK_UNKNOWN,
	K_RELEASE_REPLAY, K_IMPORTED_REPEAT, K_RELEASE_LOOPBACK, K_FLOOD,
	K_PROD_PLUS9, K_PROD_MINUS1, K_PROD_FAR, K_CONS_AHEAD, K_CONS_BEHIND,
	K_DIR_REF_ZERO, K_DIR_REF_64, K_DIR_REF_UNOWNED, K_DIR_ELSEWHERE,
	K_DIR_MAGIC, K_DIR_COUNT_SHORT, K_DIR_COUNT_HUGE, K_DIR_LOOP_SELF,
	K_DIR_LOOP_LONG, K_DIR_NEXT_MISSING, K_DIR_NEXT_UNOWNED,
	K_DIR_REFS_UNOWNED, K_DIR_REFS_PARTLY, K_DIR_RO_AS_RW,
	NR_FKINDS
};

struct fkind {
	const char *name;
	enum fk_type type;
	unsigned int prep;
	const char *reason;	/* FK_DROP, FK_FLOOD: the counter that rises */
	int err;		/* FK_DIR: errno of dom0's import */
};

static const struct fkind fkinds[NR_FKINDS] = {
	/* version, size, operation */
	[K_VERSION_0] = { "version_0", FK_DROP, 0, "version" },
	[K_VERSION_2] = { "version_2", FK_DROP, 0, "version" },
	[K_GARBAGE] = { "random_bytes", FK_DROP, 0, "version" },
	[K_SIZE_SHORT] = { "size_255", FK_DROP, 0, "size" },
	[K_SIZE_HUGE] = { "size_u32_max", FK_DROP, 0, "size" },
	[K_OP_ZERO] = { "op_0", FK_DROP, 0, "op" },
	[K_OP_MAX] = { "op_max", FK_DROP, 0, "op" },
	[K_OP_FFFF] = { "op_ffff", FK_DROP, 0, "op" },
	/* who speaks, whose buffer */
	[K_SENDER_VICTIM] = { "sender_is_dom0", FK_DROP, 0, "sender" },
	[K_SENDER_OTHER] = { "sender_other_domu", FK_DROP, 0, "sender" },
	[K_ID_BYTE] = { "id_domain_byte", FK_DROP, 0, "domid" },
	[K_EXPORTER_RESERVED] = { "exporter_domid_self", FK_DROP, 0, "domid" },
	[K_EXPORT_AS_VICTIM] = { "export_of_dom0_id", FK_DROP, 0, "domid" },
	[K_RELEASED_OWN] = { "release_of_own_id", FK_DROP, 0, "domid" },
	[K_SLOT_1000] = { "id_slot_1000", FK_DROP, 0, "id" },
	[K_SLOT_MAX] = { "id_slot_max", FK_DROP, 0, "id" },
	[K_FLAGS_EXPORT] = { "flags_unknown", FK_DROP, 0, "flags" },
	[K_FLAGS_RELEASE] = { "flags_on_ack_of_unexport", FK_DROP, 0, "flags" },
	/* private data, sizes */
	[K_PRIV_193] = { "priv_size_193", FK_DROP, 0, "priv" },
	[K_PRIV_HUGE] = { "priv_size_u32_max", FK_DROP, 0, "priv" },
	[K_PRIV_TAIL] = { "priv_beyond_size", FK_DROP, 0, "priv" },
	[K_PRIV_UNEXPORT] = { "priv_on_unexport", FK_DROP, 0, "priv" },
	[K_BUF_ZERO] = { "buf_size_0", FK_DROP, 0, "bufsize" },
	[K_BUF_UNALIGNED] = { "buf_size_unaligned", FK_DROP, 0, "bufsize" },
	[K_BUF_OVER] = { "buf_size_1G_plus_page", FK_DROP, 0, "bufsize" },
	[K_BUF_WRAP] = { "buf_size_pages_wrap", FK_DROP, 0, "bufsize" },
	[K_BUF_UNEXPORT] = { "buf_size_on_unexport", FK_DROP, 0, "bufsize" },
	[K_RESERVED] = { "reserved_set", FK_DROP, 0, "reserved" },
	[K_REF_PENDING] = { "ref_on_pending", FK_DROP, 0, "reserved" },
	/* ids and keys against the victim's tables */
	[K_UNEXPORT_RANDOM] = { "unexport_random_id", FK_DROP, 0, "key" },
	[K_UNEXPORT_WRONG_KEY] = { "unexport_wrong_key", FK_DROP, FP_REAL,
				   "key" },
	[K_ACK_BAD_OP] = { "ack_of_export", FK_DROP, 0, "flags" },
	[K_EXPORT_OTHER_SIZE] = { "reexport_other_size", FK_DROP, FP_REAL,
				  "state" },
	[K_EXPORT_OTHER_REF] = { "reexport_other_ref", FK_DROP, FP_REAL,
				 "state" },
	[K_PENDING_KNOWN] = { "pending_of_announced", FK_DROP, FP_REAL,
			      "state" },
	[K_UNEXPORT_REPLAY] = { "unexport_replayed", FK_DROP,
				FP_REAL | FP_REAL_GONE, "key" },
	[K_RELEASE_NEVER] = { "release_never_imported", FK_DROP, 0, "state" },
	[K_RELEASE_WRONG_KEY] = { "release_wrong_key", FK_DROP, 0, "key" },
	[K_IMPORTED_WRONG_KEY] = { "imported_wrong_key", FK_DROP, 0, "key" },
	[K_RELEASE_UNKNOWN] = { "release_random_id", FK_DROP, 0, "key" },
	[K_ACK_UNKNOWN] = { "ack_random_id", FK_DROP, 0, "state" },
	[K_RELEASE_REPLAY] = { "release_replayed", FK_DROP,
			       FP_IMPORT | FP_IMPORT_DONE, "state" },
	[K_IMPORTED_REPEAT] = { "imported_repeated", FK_DROP, 0, "repeat" },
	[K_RELEASE_LOOPBACK] = { "release_of_loopback", FK_DROP, FP_LOOPBACK,
				 "state" },
	/* faster than the consumer */
	[K_FLOOD] = { "flood_5000", FK_FLOOD, 0, "key" },
	/* ring indices */
	[K_PROD_PLUS9] = { "ring_prod_cons_plus_9", FK_RING },
	[K_PROD_MINUS1] = { "ring_prod_cons_minus_1", FK_RING },
	[K_PROD_FAR] = { "ring_prod_2G", FK_RING },
	[K_CONS_AHEAD] = { "ring_cons_prod_plus_1", FK_RING },
	[K_CONS_BEHIND] = { "ring_cons_prod_minus_9", FK_RING },
	/* page directories */
	[K_DIR_REF_ZERO] = { "dir_ref_0", FK_DIR, 0, NULL, EBADMSG },
	[K_DIR_REF_64] = { "dir_ref_above_u32", FK_DIR, 0, NULL, EBADMSG },
	[K_DIR_REF_UNOWNED] = { "dir_ref_not_granted", FK_DIR, 0, NULL, EIO },
	[K_DIR_ELSEWHERE] = { "dir_granted_elsewhere", FK_DIR, 0, NULL, EIO },
	[K_DIR_MAGIC] = { "dir_bad_magic", FK_DIR, 0, NULL, EBADMSG },
	[K_DIR_COUNT_SHORT] = { "dir_count_short", FK_DIR, 0, NULL, EBADMSG },
	[K_DIR_COUNT_HUGE] = { "dir_count_u32_max", FK_DIR, 0, NULL, EBADMSG },
	[K_DIR_LOOP_SELF] = { "dir_loop_1_page", FK_DIR, 0, NULL, EBADMSG },
	[K_DIR_LOOP_LONG] = { "dir_loop_2040_pages", FK_DIR, 0, NULL,
			      EBADMSG },
	[K_DIR_NEXT_MISSING] = { "dir_next_missing", FK_DIR, 0, NULL,
				 EBADMSG },
	[K_DIR_NEXT_UNOWNED] = { "dir_next_not_granted", FK_DIR, 0, NULL,
				 EIO },
	[K_DIR_REFS_UNOWNED] = { "dir_refs_not_granted", FK_DIR, 0, NULL,
				 EIO },
	[K_DIR_REFS_PARTLY] = { "dir_refs_half_granted", FK_DIR, 0, NULL,
				EIO },
	[K_DIR_RO_AS_RW] = { "dir_ro_grant_mapped_rw", FK_DIR, 0, NULL, EIO },
};

static int fkind_find(const char *name)
{
	int k;

	for (k = 0; k < NR_FKINDS; k++)
		if (!strcmp(fkinds[k].name, name))
			return k;
	return -1;
}

static int drop_index(const char *name)
{
	unsigned int i;

	for (i = 0; i < NR_DROPS; i++)
		if (!strcmp(drop_names[i], name))
			return i;
	return -1;
}

/* ---- the forger (servant side) ---- */

struct fctx {
	int hook;			/* the inject file */
	__u32 self, peer;		/* the servant, dom0 (the victim) */
	struct hyper_dmabuf_id vhid;	/* dom0's export to us (its mailbox) */
	struct hyper_dmabuf_id real;	/* FP_REAL: ours to dom0 */
	struct hyper_dmabuf_id lb;	/* FP_LOOPBACK: dom0's to itself */
	struct hyper_dmabuf_id fid;	/* a forged id of ours */
	__u64 ref, size;		/* FK_DIR: what the export names */
	__u32 flags;
};

static struct hyper_dmabuf_id forged_id(__u32 domid, __u32 slot)
{
	struct hyper_dmabuf_id h = {
		.id = (domid & 0xff) << HYPER_DMABUF_ID_DOMID_SHIFT | slot,
		.exporter_domid = domid,
		.key = { new_seed(), new_seed(), new_seed() },
	};

	return h;
}

/* A valid message @op about @h from @sender, in CPU byte order. */
static void fw_msg(struct fwire *w, __u16 op, __u32 sender,
		   const struct hyper_dmabuf_id *h)
{
	memset(w, 0, sizeof(*w));
	w->version = FW_VERSION;
	w->op = op;
	w->size = sizeof(*w);
	w->sender_domid = sender;
	w->id = h->id;
	w->exporter_domid = h->exporter_domid;
	memcpy(w->key, h->key, sizeof(w->key));
	if (op == FOP_EXPORT || op == FOP_PENDING)
		w->buf_size = PAGE;
	if (op == FOP_EXPORT)
		w->ref = UNOWNED_REF;
}

static void fw_le(struct fwire *w)
{
	int i;

	/* A message fills a ring slot: a negative array size if not. */
	(void)sizeof(char[sizeof(*w) == 256 ? 1 : -1]);

	w->version = LE16(w->version);
	w->op = LE16(w->op);
	w->size = LE32(w->size);
	w->sender_domid = LE32(w->sender_domid);
	w->id = LE32(w->id);
	w->exporter_domid = LE32(w->exporter_domid);
	for (i = 0; i < 3; i++)
		w->key[i] = LE32(w->key[i]);
	w->flags = LE32(w->flags);
	w->priv_size = LE32(w->priv_size);
	w->buf_size = LE64(w->buf_size);
	w->ref = LE64(w->ref);
	w->reserved = LE64(w->reserved);
}

/* The forged message of kind @k (FK_DROP, FK_FLOOD), CPU byte order. */
static void forge_msg(int k, const struct fctx *c, struct fwire *w)
{
	struct hyper_dmabuf_id h;
	unsigned int i;

	fw_msg(w, FOP_EXPORT, c->self, &c->fid);
	switch (k) {
	case K_VERSION_0:
		w->version = 0;
		break;
	case K_VERSION_2:
		w->version = 2;
		break;
	case K_GARBAGE:
		for (i = 0; i < sizeof(*w); i += 4) {
			__u32 r = new_seed();

			memcpy((char *)w + i, &r, 4);
		}
		w->version = 0xbe00 | (new_seed() & 0xff);
		break;
	case K_SIZE_SHORT:
		w->size = 255;
		break;
	case K_SIZE_HUGE:
		w->size = 0xffffffffU;
		break;
	case K_OP_ZERO:
		w->op = 0;
		break;
	case K_OP_MAX:
		w->op = FOP_MAX;
		break;
	case K_OP_FFFF:
		w->op = 0xffff;
		break;
	case K_SENDER_VICTIM:
		w->sender_domid = c->peer;
		break;
	case K_SENDER_OTHER:
		w->sender_domid = c->self + 1;
		break;
	case K_ID_BYTE:
		w->id = ((c->self + 1) & 0xff) << HYPER_DMABUF_ID_DOMID_SHIFT |
			FORGE_SLOT;
		break;
	case K_EXPORTER_RESERVED:
		w->exporter_domid = HYPER_DMABUF_DOMID_SELF;
		w->id = (HYPER_DMABUF_DOMID_SELF & 0xff) <<
			HYPER_DMABUF_ID_DOMID_SHIFT | FORGE_SLOT;
		break;
	case K_EXPORT_AS_VICTIM:
		h = forged_id(c->peer, FORGE_SLOT + k);
		fw_msg(w, FOP_EXPORT, c->self, &h);
		break;
	case K_RELEASED_OWN:
		fw_msg(w, FOP_RELEASED, c->self, &c->fid);
		break;
	case K_SLOT_1000:
		w->id = (c->self & 0xff) << HYPER_DMABUF_ID_DOMID_SHIFT |
			HYPER_DMABUF_MAX_IDS;
		break;
	case K_SLOT_MAX:
		w->id |= HYPER_DMABUF_ID_SLOT_MASK;
		break;
	case K_FLAGS_EXPORT:
		w->flags = HYPER_DMABUF_EXPORT_VALID_FLAGS + 1;
		break;
	case K_FLAGS_RELEASE:
		/* Only an ACK of a RELEASED names a mapping. */
		fw_msg(w, FOP_ACK, c->self, &c->vhid);
		w->flags = FOP_UNEXPORT | 1 << 8;
		break;
	case K_PRIV_193:
		w->priv_size = HYPER_DMABUF_MAX_PRIV + 1;
		break;
	case K_PRIV_HUGE:
		w->priv_size = 0xffffffffU;
		break;
	case K_PRIV_TAIL:
		w->priv_size = 4;
		memcpy(w->priv, "abcd", 4);
		w->priv[HYPER_DMABUF_MAX_PRIV - 1] = 'x';
		break;
	case K_PRIV_UNEXPORT:
		fw_msg(w, FOP_UNEXPORT, c->self, &c->fid);
		w->priv_size = 1;
		w->priv[0] = 'x';
		break;
	case K_BUF_ZERO:
		w->buf_size = 0;
		break;
	case K_BUF_UNALIGNED:
		w->buf_size = PAGE + 1;
		break;
	case K_BUF_OVER:
		w->buf_size = FW_MAX_BUF + PAGE;
		break;
	case K_BUF_WRAP:
		/* Page aligned; 2^52 pages: wraps an unsigned int count. */
		w->buf_size = 0ULL - PAGE;
		break;
	case K_BUF_UNEXPORT:
		fw_msg(w, FOP_UNEXPORT, c->self, &c->fid);
		w->buf_size = PAGE;
		break;
	case K_RESERVED:
		w->reserved = 1;
		break;
	case K_REF_PENDING:
		fw_msg(w, FOP_PENDING, c->self, &c->fid);
		w->ref = 5;
		break;
	case K_UNEXPORT_RANDOM:
	case K_FLOOD:
		fw_msg(w, FOP_UNEXPORT, c->self, &c->fid);
		break;
	case K_UNEXPORT_WRONG_KEY:
		fw_msg(w, FOP_UNEXPORT, c->self, &c->real);
		w->key[1] ^= 1;
		break;
	case K_ACK_BAD_OP:
		/* Only UNEXPORT and RELEASED are acknowledged. */
		fw_msg(w, FOP_ACK, c->self, &c->vhid);
		w->flags = FOP_EXPORT;
		break;
	case K_EXPORT_OTHER_SIZE:
		fw_msg(w, FOP_EXPORT, c->self, &c->real);
		w->buf_size = 2 * PAGE;
		break;
	case K_EXPORT_OTHER_REF:
		fw_msg(w, FOP_EXPORT, c->self, &c->real);
		break;
	case K_PENDING_KNOWN:
		fw_msg(w, FOP_PENDING, c->self, &c->real);
		break;
	case K_UNEXPORT_REPLAY:
		fw_msg(w, FOP_UNEXPORT, c->self, &c->real);
		break;
	case K_RELEASE_NEVER:
	case K_RELEASE_REPLAY:
		fw_msg(w, FOP_RELEASED, c->self, &c->vhid);
		break;
	case K_RELEASE_WRONG_KEY:
		fw_msg(w, FOP_RELEASED, c->self, &c->vhid);
		w->key[0] ^= 1;
		break;
	case K_IMPORTED_WRONG_KEY:
		fw_msg(w, FOP_IMPORTED, c->self, &c->vhid);
		w->key[0] ^= 1;
		break;
	case K_RELEASE_UNKNOWN:
		h = forged_id(c->peer, FORGE_SLOT + k);
		fw_msg(w, FOP_RELEASED, c->self, &h);
		break;
	case K_ACK_UNKNOWN:
		/* An ACK of an UNEXPORT dom0 never sent. */
		h = forged_id(c->peer, FORGE_SLOT + k);
		fw_msg(w, FOP_ACK, c->self, &h);
		w->flags = FOP_UNEXPORT;
		break;
	case K_IMPORTED_REPEAT:
		/* Mapping 0x5eed, twice (see forge_repeat()). */
		fw_msg(w, FOP_IMPORTED, c->self, &c->vhid);
		w->flags = 0x5eed;
		break;
	case K_RELEASE_LOOPBACK:
		fw_msg(w, FOP_RELEASED, c->self, &c->lb);
		break;
	}
}

/* One command to the hook: @head, then @len raw bytes; 0 or -errno. */
static int inject(int hook, const char *head, const void *data, size_t len)
{
	static char buf[64 + PAGE];
	size_t h = strlen(head);

	if (h > 64 || len > PAGE)
		return -EINVAL;
	memcpy(buf, head, h);
	if (len)
		memcpy(buf + h, data, len);
	if (write(hook, buf, h + len) != (ssize_t)(h + len))
		return -errno;
	return 0;
}

static int inject_slots(const struct fctx *c, unsigned int n,
			struct fwire *w)
{
	char head[64];

	fw_le(w);
	snprintf(head, sizeof(head), "slot %u %u\n", c->peer, n);
	return inject(c->hook, head, w, sizeof(*w));
}

/* A forged directory page granted to @domid: its grant ref, or 0. */
static __u32 inject_dir(const struct fctx *c, __u32 domid, const __u32 *p,
			size_t len)
{
	char head[64], text[32];
	unsigned int ref;
	ssize_t r;

	snprintf(head, sizeof(head), "dir %u\n", domid);
	if (inject(c->hook, head, p, len))
		return 0;
	r = pread(c->hook, text, sizeof(text) - 1, 0);
	if (r <= 0)
		return 0;
	text[r] = 0;
	return sscanf(text, "ref %u", &ref) == 1 ? ref : 0;
}

static int inject_fill(const struct fctx *c, __u32 ref, const __u32 *p,
		       size_t len)
{
	char head[64];

	snprintf(head, sizeof(head), "fill %u\n", ref);
	return inject(c->hook, head, p, len);
}

/*
 * The page directory of kind @k: pages granted through the hook, and the
 * reference, size and flags the forged export names.  0 or -errno.
 */
static int forge_dir(int k, struct fctx *c)
{
	static __u32 d[PAGE / 4];
	size_t len = 16;
	__u32 self;

	memset(d, 0, sizeof(d));
	d[0] = LE32(DIR_MAGIC);
	d[1] = LE32(1);
	d[4] = LE32(UNOWNED_REF);
	c->size = PAGE;
	c->flags = 0;
	c->ref = 0;
	switch (k) {
	case K_DIR_REF_ZERO:
		return 0;
	case K_DIR_REF_64:
		c->ref = 1ULL << 32 | 1;
		return 0;
	case K_DIR_REF_UNOWNED:
		c->ref = UNOWNED_REF;
		return 0;
	case K_DIR_ELSEWHERE:
		c->ref = inject_dir(c, OTHER_DOMID, d, 20);
		return c->ref ? 0 : -EIO;
	case K_DIR_MAGIC:
		d[0] = LE32(DIR_MAGIC ^ 0x01010101U);
		len = 20;
		break;
	case K_DIR_COUNT_SHORT:
		c->size = 2 * PAGE;
		d[5] = LE32(UNOWNED_REF + 1);
		len = 24;
		break;
	case K_DIR_COUNT_HUGE:
		d[1] = LE32(0xffffffffU);
		len = PAGE;
		break;
	case K_DIR_NEXT_MISSING:
	case K_DIR_NEXT_UNOWNED:
		/* Two directory pages needed, the first names no valid next. */
		c->size = (DIR_REFS + 1) * PAGE;
		d[1] = LE32(DIR_REFS);
		d[2] = LE32(k == K_DIR_NEXT_MISSING ? 0 : UNOWNED_REF + 1);
		len = PAGE;
		break;
	case K_DIR_REFS_UNOWNED:
		c->size = 2 * PAGE;
		d[1] = LE32(2);
		d[5] = LE32(UNOWNED_REF + 1);
		len = 24;
		break;
	}
	switch (k) {
	case K_DIR_LOOP_SELF:
	case K_DIR_LOOP_LONG:
	case K_DIR_REFS_PARTLY:
	case K_DIR_RO_AS_RW:
		/* Pages that name their own grant: made, then filled. */
		self = inject_dir(c, c->peer, d, 0);
		if (!self)
			return -EIO;
		if (k == K_DIR_LOOP_SELF) {
			d[2] = LE32(self);
			len = 20;
		} else if (k == K_DIR_LOOP_LONG) {
			c->size = 2 * DIR_REFS * PAGE;
			d[1] = LE32(DIR_REFS);
			d[2] = LE32(self);
			len = PAGE;
		} else if (k == K_DIR_REFS_PARTLY) {
			c->size = 2 * PAGE;
			d[1] = LE32(2);
			d[4] = LE32(self);
			d[5] = LE32(UNOWNED_REF);
			len = 24;
		} else {
			/* Read-only grant, RDWR export: mapped writable. */
			c->flags = HYPER_DMABUF_EXPORT_RDWR;
			d[4] = LE32(self);
			len = 20;
		}
		c->ref = self;
		return inject_fill(c, self, d, len);
	}
	c->ref = inject_dir(c, c->peer, d, len);
	return c->ref ? 0 : -EIO;
}

/*
 * This domain's channel to @domid in the backend's debugfs: connected,
 * with *@prod its producer index; false if not.
 */
static bool chan_connected(__u32 domid, unsigned int *prod)
{
	FILE *f = fopen("/sys/kernel/debug/hyper_dmabuf_xen/channels", "r");
	char line[512], state[16];
	unsigned int peer, p = 0;
	bool up = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "peer %u %15s tx_prod %u", &peer, state,
			   &p) == 3 && peer == domid) {
			up = !strcmp(state, "connected");
			*prod = p;
		}
	fclose(f);
	return up;
}

/* Wait until nothing is queued here for @domid: forged slots come after. */
static void queue_drained(__u32 domid)
{
	double end = now_s() + FORGE_WAIT_S;

	while (msgs_queued(domid) > 0 && now_s() < end)
		usleep(10 * 1000);
}

/*
 * forge k=KIND [lb=HID]: send one forged message of KIND (a flood: many)
 * to the sender of the command, dom0; reply fid=HID for a forged export.
 * forge k=clean hid=HID: withdraw that export (a valid UNEXPORT) and free
 * the forged directory pages.
 */
static void do_forge(struct node *n, struct msg *m, char *out)
{
	int k, fd = -1, buf, ret = 0, ms = 0;
	unsigned int prod, prod0 = 0;
	struct fctx c = { .hook = -1 };
	bool real = false;
	const struct fkind *fk;
	char name[32], s[48];
	struct fwire w;
	double t0;

	if (!field(m->text, "k", name, sizeof(name))) {
		sprintf(out, "st=fail why=no_kind");
		return;
	}
	c.hook = open(INJECT_PATH, O_RDWR | O_CLOEXEC);
	if (c.hook < 0) {
		sprintf(out, "st=skip why=no_inject_hook err=%d", errno);
		return;
	}
	c.self = cfg.domid;
	c.peer = m->ev.hid.exporter_domid;
	c.vhid = m->ev.hid;
	if (!strcmp(name, "clean")) {
		if (!hid_parse(m->text, "hid", c.self, &c.fid)) {
			sprintf(out, "st=fail why=bad_hid");
			goto out;
		}
		fw_msg(&w, FOP_UNEXPORT, c.self, &c.fid);
		ret = inject_slots(&c, 1, &w);
		if (!ret)
			ret = inject(c.hook, "dirfree", NULL, 0);
		sprintf(out, "st=%s err=%d", ret ? "fail" : "ok", -ret);
		goto out;
	}
	k = fkind_find(name);
	if (k < 0) {
		sprintf(out, "st=fail why=unknown_kind");
		goto out;
	}
	fk = &fkinds[k];
	c.fid = forged_id(c.self, FORGE_SLOT + k);

	/* What the kind needs first, sent before the forgery. */
	if (fk->prep & FP_REAL) {
		buf = buf_alloc(PAGE);
		ret = buf < 0 ? -ENOMEM :
		      hd_send(n->dev, buf, c.peer, 0, NULL, &c.real);
		if (buf >= 0)
			close(buf);
		real = !ret;
		if (real && fk->prep & FP_REAL_GONE) {
			ret = hd_unexport(n->dev, &c.real);
			real = !!ret;
		}
	}
	if (!ret && fk->prep & FP_IMPORT) {
		fd = hd_import(n->dev, &c.vhid, O_RDONLY);
		ret = fd < 0 ? fd : 0;
		if (fd >= 0 && fk->prep & FP_IMPORT_DONE) {
			close(fd);
			fd = -1;
		}
	}
	if (!ret && fk->prep & FP_LOOPBACK &&
	    !hid_parse(m->text, "lb", c.peer, &c.lb))
		ret = -EINVAL;
	if (ret) {
		sprintf(out, "st=fail why=prepare err=%d", -ret);
		goto out_undo;
	}
	queue_drained(c.peer);

	t0 = now_s();
	switch (fk->type) {
	case FK_DROP:
	case FK_FLOOD:
		forge_msg(k, &c, &w);
		ret = inject_slots(&c, fk->type == FK_FLOOD ? FLOOD_SLOTS :
				   k == K_IMPORTED_REPEAT ? 2 : 1, &w);
		/*
		 * The first IMPORTED was counted, the repeat dropped: the
		 * RELEASED of that mapping leaves dom0 as it was.
		 */
		if (!ret && k == K_IMPORTED_REPEAT) {
			w.op = FOP_RELEASED;
			ret = inject_slots(&c, 1, &w);
		}
		break;
	case FK_RING:
		snprintf(s, sizeof(s), "%s %u %s",
			 k < K_CONS_AHEAD ? "prod" : "cons", c.peer,
			 k == K_PROD_PLUS9 ? "+9" : k == K_PROD_MINUS1 ? "-1" :
			 k == K_PROD_FAR ? "0x80000000" :
			 k == K_CONS_AHEAD ? "+1" : "-9");
		ret = inject(c.hook, s, NULL, 0);
		/*
		 * dom0 resets the channel, and ours follows (prod only): a
		 * reply sent before would be refused by our own ring.
		 */
		if (ret || k >= K_CONS_AHEAD || !chan_connected(c.peer, &prod0))
			break;
		while (chan_connected(c.peer, &prod) && prod == prod0 &&
		       ms_since(t0) < FORGE_WAIT_S * 1000)
			usleep(10 * 1000);
		break;
	case FK_DIR:
		ret = forge_dir(k, &c);
		if (!ret) {
			fw_msg(&w, FOP_EXPORT, c.self, &c.fid);
			w.ref = c.ref;
			w.buf_size = c.size;
			w.flags = c.flags;
			ret = inject_slots(&c, 1, &w);
		}
		if (ret)
			inject(c.hook, "dirfree", NULL, 0);
		break;
	}
	ms = ms_since(t0);
	hid_str(&c.fid, s, sizeof(s));
	if (ret)
		sprintf(out, "st=fail why=inject err=%d", -ret);
	else if (fk->type == FK_DIR)
		sprintf(out, "st=ok fid=%s", s);
	else
		sprintf(out, "st=ok ms=%d", ms);
out_undo:
	if (fd >= 0)
		close(fd);
	if (real)
		hd_unexport(n->dev, &c.real);
out:
	close(c.hook);
}

/* ---- the victim (dom0 side) ---- */

struct drops {
	int total;
	int v[NR_DROPS];
};

/* dom0's msgs_dropped; false if it cannot be read. */
static bool drops_read(struct drops *d)
{
	FILE *f = fopen(DEBUGFS_DIR "msgs_dropped", "r");
	char line[64], name[32];
	int v, i, got = 0;

	memset(d, 0, sizeof(*d));
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%31s %d", name, &v) != 2)
			continue;
		i = drop_index(name);
		if (!strcmp(name, "total"))
			d->total = v;
		else if (i >= 0)
			d->v[i] = v;
		got += !strcmp(name, "total") || i >= 0;
	}
	fclose(f);
	return got == NR_DROPS + 1;
}

static int ring_errors(void)
{
	FILE *f = fopen(RING_ERRORS_PATH, "r");
	int n = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

/* The counters that differ from @base, "name+N ..." */
static void drops_diff(const struct drops *base, const struct drops *now,
		       char *s, size_t len)
{
	unsigned int i;
	size_t n = 0;

	s[0] = 0;
	if (base->total != now->total)
		n += snprintf(s, len, "total%+d", now->total - base->total);
	for (i = 0; i < NR_DROPS && n < len; i++)
		if (base->v[i] != now->v[i])
			n += snprintf(s + n, len - n, " %s%+d", drop_names[i],
				      now->v[i] - base->v[i]);
}

/*
 * Wait up to FORGE_WAIT_S for the drops to reach @want (the messages are
 * handled in order, before the reply that followed them: at once, as a
 * rule), then a little more: nothing else may come.
 */
static bool drops_settle(const struct drops *want, struct drops *now)
{
	double end = now_s() + FORGE_WAIT_S;

	while (drops_read(now) && now->total < want->total && now_s() < end)
		usleep(20 * 1000);
	usleep(100 * 1000);
	drops_read(now);
	return !memcmp(want, now, sizeof(*now));
}

static bool ring_errors_settle(int want)
{
	double end = now_s() + FORGE_WAIT_S;

	while (ring_errors() < want && now_s() < end)
		usleep(20 * 1000);
	usleep(100 * 1000);
	return ring_errors() == want;
}

/*
 * Kind @k from servant @i: 1 as expected, 0 not (reported), -1 skipped
 * (no hook in the servant's kernel).
 */
static int forge_case(struct __test_metadata *_metadata, struct orch *o,
		      int i, int k)
{
	const struct fkind *fk = &fkinds[k];
	int ret, fd, ok = 1, lbbuf = -1, res[2], stop[2], re0 = ring_errors();
	int worst = -1, pn = 0, pbad = -1, trig;
	struct hyper_dmabuf_id lb, fid;
	struct hyper_dmabuf_query q;
	char lbs[64] = "", s[48], d[160];
	struct drops d0, want, now;
	struct msg rep;
	pid_t pid = 0;
	double t0;
	FILE *f;

	drops_read(&d0);
	want = d0;
	if (fk->prep & FP_LOOPBACK) {
		lbbuf = buf_alloc(PAGE);
		ASSERT_LE(0, lbbuf);
		ASSERT_EQ(0, hd_send(o->n.dev, lbbuf, HYPER_DMABUF_DOMID_SELF,
				     0, NULL, &lb));
		hid_str(&lb, s, sizeof(s));
		snprintf(lbs, sizeof(lbs), " lb=%s", s);
	}
	if (fk->type == FK_FLOOD) {
		/* dom0 keeps sharing meanwhile: a loopback share every 10 ms. */
		ASSERT_EQ(0, pipe(stop));
		ASSERT_EQ(0, pipe(res));
		ASSERT_EQ(0, fcntl(stop[0], F_SETFL, O_NONBLOCK));
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid) {
			close(stop[1]);
			close(res[0]);
			flood_prober(stop[0], res[1]);
		}
		close(stop[0]);
		close(res[1]);
	}
	ret = ask(o, i, &rep, "forge", "k=%s%s", fk->name, lbs);
	if (pid) {
		ASSERT_EQ(1, write(stop[1], "x", 1));
		f = fdopen(res[0], "r");
		ASSERT_NE(NULL, f);
		EXPECT_EQ(3, fscanf(f, "%d %d %d", &worst, &pn, &pbad));
		fclose(f);
		close(stop[1]);
		waitpid(pid, NULL, 0);
	}
	if (lbbuf >= 0) {
		EXPECT_EQ(0, hd_unexport(o->n.dev, &lb));
		close(lbbuf);
	}
	if (ret != 1) {
		TH_LOG("%s: no reply to forge", fk->name);
		EXPECT_EQ(1, ret);
		return 0;
	}
	if (reply_st(&rep) == ST_SKIP)
		return -1;
	if (reply_st(&rep) != ST_OK) {
		TH_LOG("%s: %s", fk->name, rep.text);
		EXPECT_EQ(ST_OK, reply_st(&rep));
		return 0;
	}

	switch (fk->type) {
	case FK_DROP:
	case FK_FLOOD:
		want.v[drop_index(fk->reason)] +=
			fk->type == FK_FLOOD ? FLOOD_SLOTS : 1;
		want.total += fk->type == FK_FLOOD ? FLOOD_SLOTS : 1;
		break;
	case FK_RING:
		if (k >= K_CONS_AHEAD) {
			/* dom0 sees the consumer index when it next sends. */
			trig = buf_alloc(PAGE);
			ASSERT_LE(0, trig);
			EXPECT_EQ(0, hd_send(o->n.dev, trig, cfg.peers[i].domid,
					     0, NULL, NULL));
			close(trig);
		}
		if (!ring_errors_settle(re0 + 1)) {
			TH_LOG("%s: ring_errors %d, was %d", fk->name,
			       ring_errors(), re0);
			ok = 0;
		}
		break;
	case FK_DIR:
		ASSERT_TRUE(hid_parse(rep.text, "fid", cfg.peers[i].domid,
				      &fid));
		fd = hd_import(o->n.dev, &fid,
			       k == K_DIR_RO_AS_RW ? O_RDWR : O_RDONLY);
		if (fd != -fk->err) {
			TH_LOG("%s: import gave %s, expected %s", fk->name,
			       res_name(fd), ename(fk->err));
			ok = 0;
		}
		if (fd >= 0)
			close(fd);
		/* The forged export withdrawn: a valid message, no drop. */
		hid_str(&fid, s, sizeof(s));
		if (ask(o, i, &rep, "forge", "k=clean hid=%s", s) != 1 ||
		    reply_st(&rep) != ST_OK) {
			TH_LOG("%s: clean: %s", fk->name, rep.text);
			ok = 0;
		}
		memset(&q, 0, sizeof(q));
		q.hid = fid;
		if (!ioctl(o->n.dev, HYPER_DMABUF_IOCTL_QUERY, &q) ||
		    errno != ENOENT) {
			TH_LOG("%s: still known after the unexport", fk->name);
			ok = 0;
		}
		break;
	}
	if (!drops_settle(&want, &now)) {
		drops_diff(&d0, &now, d, sizeof(d));
		TH_LOG("%s: msgs_dropped changed by: %s; expected %s+%d",
		       fk->name, d[0] ? d : "nothing",
		       fk->reason ? fk->reason : "nothing",
		       want.total - d0.total);
		ok = 0;
	}
	if (fk->type != FK_RING && ring_errors() != re0) {
		TH_LOG("%s: ring_errors %d, was %d", fk->name, ring_errors(),
		       re0);
		ok = 0;
	}
	if (pid) {
		say("%s: %d messages in %llu ms; %d loopback shares, slowest %d ms, %d failed",
		    fk->name, FLOOD_SLOTS, num(rep.text, "ms", 10, 0), pn,
		    worst, pbad);
		EXPECT_EQ(0, pbad);
		EXPECT_LT(0, pn);
		EXPECT_LE(worst, EVFLOOD_MAX_MS);
	}
	/*
	 * dom0 acknowledges every well-formed UNEXPORT and RELEASED, forged
	 * or not: let those ACKs go out before the honest share, whose
	 * export would find the queue full after a flood.
	 */
	t0 = now_s();
	while (msgs_queued(cfg.peers[i].domid) > 0 &&
	       now_s() - t0 < FORGE_WAIT_S)
		usleep(20 * 1000);
	EXPECT_EQ(1, ok) TH_LOG("forged kind %s", fk->name);
	return ok;
}

/*
 * A hostile peer: a servant forges messages of many kinds with the inject
 * test hook, and dom0 must drop and count each one, by its reason (or, for
 * a forged page directory, fail the import with the documented error),
 * never map, leak or reveal anything, and keep serving the same servant:
 * an honest share from it after each kind, and the counters back to their
 * baseline.  Ring indices out of range reset the channel (ring_errors
 * counts them), which comes up again for the honest share.
 */
TEST_F_TIMEOUT(xdom, u2d_forged_messages, TIMEOUT_S)
{
	int i, k, r, ran = 0, bad = 0, kinds[4] = { 0 };
	struct orch *o = &self->o;
	struct ctrs now;
	char a[160], b[160];

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	if (getenv("HYPER_DMABUF_XDOM_SHORT"))
		SKIP(return, "runs in the lab's all-PV boot only (HYPER_DMABUF_XDOM_SHORT)");
	if (cfg.loopback)
		SKIP(return, "forging takes the Xen backend's inject hook");
	for (k = 0; k < NR_FKINDS; k++)
		kinds[fkinds[k].type]++;
	say("%d kinds of forged input: %d messages, %d floods, %d ring indices, %d directories",
	    NR_FKINDS, kinds[FK_DROP], kinds[FK_FLOOD], kinds[FK_RING],
	    kinds[FK_DIR]);
	EXPECT_LE(25, NR_FKINDS);
	for (i = 0; i < cfg.npeers && !ran; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		for (k = 0; k < NR_FKINDS; k++) {
			r = forge_case(_metadata, o, i, k);
			if (r < 0) {
				o->skipped++;
				snprintf(o->skip_why, TEXT_LEN,
					 "%s: no inject hook (CONFIG_HYPER_DMABUF_DEBUG)",
					 cfg.peers[i].name);
				break;
			}
			bad += !r;
			/* The honest peer is still served, nothing is left. */
			if (u2x(_metadata, o, i, -1, "any", 4 * KiB, false,
				0) != 1) {
				TH_LOG("honest share after %s failed",
				       fkinds[k].name);
				bad++;
			}
			if (!ctrs_settle(&o->base, &now)) {
				ctrs_str(&o->base, a, sizeof(a));
				ctrs_str(&now, b, sizeof(b));
				TH_LOG("after %s: counters before %s; now %s",
				       fkinds[k].name, a, b);
				EXPECT_TRUE(false);
				bad++;
			}
		}
		if (k < NR_FKINDS)
			break;
		say("%s: %d kinds forged, %d not handled as expected",
		    cfg.peers[i].name, NR_FKINDS, bad);
		EXPECT_EQ(0, bad);
		ran++;
	}
	finish(_metadata, o, ran);
}

/* Last: tell every servant to finish; none may have failed a check. */
TEST_F_TIMEOUT(xdom, done, TIMEOUT_S)
{
	struct orch *o = &self->o;
	struct msg rep;
	int i, ran = 0;

	if (_metadata->exit_code == KSFT_SKIP)
		return;
	for (i = 0; i < cfg.npeers; i++) {
		if (!peer_up(_metadata, o, i))
			continue;
		if (ask(o, i, &rep, "done", "") != 1) {
			EXPECT_TRUE(false) TH_LOG("%s did not answer done",
						  cfg.peers[i].name);
			continue;
		}
		say("%s: %s", cfg.peers[i].name, rep.text);
		EXPECT_EQ(ST_OK, reply_st(&rep));
		EXPECT_EQ(0, num(rep.text, "failed", 10, 1));
		ran++;
	}
	finish(_metadata, o, ran);
}

/* ---- main --------------------------------------------------------------- */

static bool file_has(const char *path, const char *word)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return strstr(buf, word);
}

/* The local domain id the driver reports (SELF: no backend), or -errno. */
static long local_domid(void)
{
	struct hyper_dmabuf_id hid;
	int dev, buf, ret;

	dev = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	buf = buf_alloc(PAGE);
	if (buf < 0) {
		close(dev);
		return -ENODEV;
	}
	ret = hd_send(dev, buf, HYPER_DMABUF_DOMID_SELF, 0, NULL, &hid);
	if (!ret)
		hd_unexport(dev, &hid);
	close(buf);
	close(dev);
	return ret ? ret : (long)hid.exporter_domid;
}

static int parse_peers(const char *s)
{
	char list[512], *tok, *save, *p, *end;
	struct peer *pe;

	snprintf(list, sizeof(list), "%s", s ? s : "");
	for (tok = strtok_r(list, " \t\n,", &save); tok;
	     tok = strtok_r(NULL, " \t\n,", &save)) {
		if (cfg.npeers == MAX_PEERS)
			return -1;
		pe = &cfg.peers[cfg.npeers++];
		p = strchr(tok, ':');
		if (!p)
			return -1;
		*p++ = 0;
		snprintf(pe->name, sizeof(pe->name), "%s", tok);
		pe->domid = strtoul(p, &end, 0);
		if (end == p)
			return -1;
		snprintf(pe->type, sizeof(pe->type), "%s",
			 *end == ':' ? end + 1 : "?");
	}
	return 0;
}

static const char *setup(void)
{
	static char why[128];
	long domid;

	if (access(DEV_PATH, F_OK))
		return DEV_PATH " missing (is hyper_dmabuf loaded?)";
	if (!cfg.loopback && access("/proc/xen/capabilities", F_OK) &&
	    !file_has("/sys/hypervisor/type", "xen"))
		return "not running under Xen";
	domid = local_domid();
	if (domid < 0) {
		snprintf(why, sizeof(why), "cannot export a probe buffer: %s",
			 strerror(-domid));
		return why;
	}
	cfg.domid = domid;
	if (!cfg.loopback && domid == HYPER_DMABUF_DOMID_SELF)
		return "no hypervisor backend registered (is hyper_dmabuf_xen loaded?)";
	if (cfg.role == ROLE_ORCH && !cfg.npeers)
		return "no peers: HYPER_DMABUF_XDOM_PEERS is empty";
	return NULL;
}

static void stop_servants(void)
{
	int i;

	for (i = 0; i < 2; i++)
		if (cfg.servants[i] > 0)
			kill(cfg.servants[i], SIGTERM);
}

/* loopback: two servants in processes of their own. */
static int start_servants(void)
{
	static const char * const names[] = { "lo1", "lo2" };
	struct node n;
	__u32 seq = 0;
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(cfg.peers[i].name, NAME_LEN, "%s", names[i]);
		cfg.peers[i].domid = HYPER_DMABUF_DOMID_SELF;
		snprintf(cfg.peers[i].type, sizeof(cfg.peers[i].type), "loop");
		fflush(stdout);
		cfg.servants[i] = fork();
		if (cfg.servants[i] < 0)
			return -errno;
		if (cfg.servants[i])
			continue;
		snprintf(cfg.name, NAME_LEN, "%s", names[i]);
		cfg.sid = new_seed();
		if (node_init(&n, cfg.name, &seq, cfg.sid))
			_exit(1);
		i = serve(&n) && !n.failed;
		node_fini(&n);
		_exit(!i);
	}
	cfg.npeers = 2;
	atexit(stop_servants);
	return 0;
}

/* Wait for the reply to @c; ok: it came and says st=ok. */
static bool victim_req(struct node *n, struct cmd *c, int resend_s,
		       int timeout_s, const char *what)
{
	struct msg rep;
	int ret;

	if (msg_seal(c->text, 0))
		return false;
	ret = request(n, c, resend_s, timeout_s, &rep);
	if (ret == 1 && reply_st(&rep) == ST_OK)
		return true;
	say("%s: %s", what, ret == 1 ? rep.text :
	    ret ? strerror(-ret) : "no reply");
	return false;
}

/*
 * victim NAME DOMID (hyper_dmabuf_peer_death.sh, in dom0): share buffers
 * both ways with the servant of domain DOMID, each side holding imports
 * mapped, one of dom0's exports already unexported; "xl destroy NAME";
 * then dom0 lets go of its side and its counters must come back to what
 * they were before.  Exit status 0 pass, 1 fail, 4 skip.
 */
/*
 * The start of every victim: dom0's baseline in @base, its node @n and
 * the hello of domain @domid.  Return: 0, 1 if the victim did not answer
 * (@n is set up: go through node_fini()), or -KSFT_SKIP or -KSFT_FAIL.
 */
static int victim_start(const char *name, __u32 domid, struct ctrs *base,
			struct node *n, __u32 *seq)
{
	struct cmd c;

	cfg.role = ROLE_ORCH;
	cfg.npeers = 1;
	snprintf(cfg.peers[0].name, NAME_LEN, "%s", name);
	cfg.peers[0].domid = domid;
	cfg.skip = setup();
	if (cfg.skip) {
		say("SKIP: %s", cfg.skip);
		return -KSFT_SKIP;
	}
	ctrs_read(base);
	if (node_init(n, "dom0", seq, cfg.sid))
		return -KSFT_FAIL;
	cmd_init(n, &c, domid, "*", "hello");
	if (!victim_req(n, &c, 1, cfg.wait_s, "hello"))
		return 1;
	say("%s (domain %u) answered", name, domid);
	return 0;
}

static int victim_shares(const char *name, __u32 domid)
{
	struct ctrs base, held, now;
	char cmd[128], a[160], b[160];
	struct hyper_dmabuf_id first, fhid;
	int k, ret, bufs[2] = { -1, -1 }, fbuf = -1, timeline = -1;
	bool ok = false;
	struct node n;
	struct cmd c;
	__u32 seq = 0;

	ret = victim_start(name, domid, &base, &n, &seq);
	if (ret < 0)
		return -ret;
	if (ret)
		goto out;
	for (k = 0; k < 2; k++) {
		/* dom0 -> victim, held mapped there (read-only, read-write) */
		cmd_init(&n, &c, domid, "*", "check");
		c.flags = k ? HYPER_DMABUF_EXPORT_RDWR : 0;
		bufs[k] = buf_alloc(MiB);
		c.buf = bufs[k];
		if (c.buf < 0 || buf_fill(c.buf, MiB, 0x5eed + k))
			goto out;
		msg_add(c.text, "size=%lu seed=%x rw=%d wseed=%x hold=1", MiB,
			0x5eed + k, k, 0x5eed);
		if (!victim_req(&n, &c, RESEND_S, REPLY_S, "hold"))
			goto out;
		if (!k)
			first = c.hid;
		/* victim -> dom0, held mapped here (served in request()) */
		cmd_init(&n, &c, domid, "*", "send");
		msg_add(c.text,
			"prod=any size=%lu seed=%x rw=%d wseed=%x dst=%u dn=dom0 keep=1",
			MiB, 0xd1e + k, k, 0xd1e, cfg.domid);
		if (!victim_req(&n, &c, RESEND_S, REPLY_S, "keep"))
			goto out;
	}
	/* Still waiting for its fence when the victim dies: never announced. */
	fbuf = buf_alloc(MiB);
	timeline = fbuf < 0 ? fbuf : swsync_pending(fbuf);
	if (timeline < 0) {
		say("sw_sync fence: %s", strerror(-timeline));
		goto out;
	}
	ret = hd_send(n.dev, fbuf, domid, 0, "fence pending", &fhid);
	if (ret || hd_counter("pending_idle") != base.v[CTR_PENDING_IDLE] + 1) {
		say("export with a pending fence: %s, pending_idle %d",
		    strerror(-ret), hd_counter("pending_idle"));
		goto out;
	}
	/* Withdrawn while the victim still maps it: pending until it lets go. */
	ret = hd_unexport(n.dev, &first);
	if (ret) {
		say("unexport: %s", strerror(-ret));
		goto out;
	}
	ctrs_read(&held);
	ctrs_str(&held, a, sizeof(a));
	say("sharing with %s: %s", name, a);
	snprintf(cmd, sizeof(cmd), "xl destroy %s", name);
	ret = system(cmd);
	if (ret) {
		say("'%s' failed: %d", cmd, ret);
		goto out;
	}
	say("destroyed %s", name);
	ok = true;
out:
	node_fini(&n);
	for (k = 0; k < 2; k++)
		if (bufs[k] >= 0)
			close(bufs[k]);
	if (ok && !ctrs_settle(&base, &now)) {
		ok = false;
		ctrs_str(&base, a, sizeof(a));
		ctrs_str(&now, b, sizeof(b));
		say("counters before: %s; %d s after the death: %s", a,
		    SETTLE_S, b);
	}
	/* Signals the fence: the withdrawn export must stay unannounced. */
	if (timeline >= 0)
		close(timeline);
	if (fbuf >= 0)
		close(fbuf);
	if (ok && hd_counter("pending_idle") != base.v[CTR_PENDING_IDLE]) {
		say("pending_idle %d after the fence signalled, %d before",
		    hd_counter("pending_idle"), base.v[CTR_PENDING_IDLE]);
		ok = false;
	}
	say("%s", ok ? "ok" : "failed");
	return ok ? KSFT_PASS : KSFT_FAIL;
}

/* Destroy domain @name after @ms, from a child process: its pid, or -1. */
static pid_t destroy_later(const char *name, int ms)
{
	char cmd[128];
	pid_t pid;

	snprintf(cmd, sizeof(cmd), "xl destroy %s", name);
	pid = fork();
	if (pid)
		return pid;
	usleep(ms * 1000);
	_exit(system(cmd) ? 1 : 0);
}

static bool wait_destroy(pid_t pid, const char *name)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status)) {
		say("xl destroy %s failed", name);
		return false;
	}
	say("destroyed %s", name);
	return true;
}

#define DEATH_EXPORT_SIZE	(16 * MiB)
#define DEATH_MAP_SIZE		(64 * MiB)
#define DEATH_LOOP_S		60

/*
 * The other destroy points.  Each starts with the victim's hello, makes
 * the domain die at its point, then checks that dom0's counters come back
 * to their baseline once dom0 has let go of its side:
 *   exporting  dom0 exports 16 MiB buffers to it, one after the other,
 *              and the domain is destroyed in the middle of one;
 *   announced  dom0 exported a buffer to it and it exported one to dom0,
 *              both announced, neither imported;
 *   mapping    dom0 imports (maps) its 64 MiB buffer again and again, and
 *              the domain is destroyed in the middle of a map of the
 *              buffer's page directory and pages.
 */
static int victim_point(const char *name, __u32 domid, const char *point)
{
	int dev2 = -1, memfd = -1, b, err = 0, fd, done = 0, ret;
	struct hyper_dmabuf_id hid, mine;
	struct ctrs base, now;
	char a[160], bb[160];
	__u32 seq = 0;
	pid_t killer = -1;
	bool ok = false;
	struct msg rep;
	struct node n;
	struct cmd c;
	double t0;

	ret = victim_start(name, domid, &base, &n, &seq);
	if (ret < 0)
		return -ret;
	if (ret)
		goto out;
	dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	if (dev2 < 0)
		goto out;

	if (!strcmp(point, "exporting")) {
		memfd = syscall(__NR_memfd_create, "hyper_dmabuf-death",
				MFD_ALLOW_SEALING);
		if (memfd < 0 || ftruncate(memfd, DEATH_EXPORT_SIZE) ||
		    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK))
			goto out;
		killer = destroy_later(name, 2000);
		t0 = now_s();
		while (!err && now_s() - t0 < DEATH_LOOP_S) {
			err = budget_export(dev2, memfd, DEATH_EXPORT_SIZE,
					    domid);
			done += !err;
			/* Keep within the budget: drop what was shared. */
			if (!err && done % 2 == 0) {
				close(dev2);
				dev2 = open(DEV_PATH, O_RDWR | O_CLOEXEC);
				if (dev2 < 0)
					goto out;
			}
		}
		say("%d exports of 16 MiB, then: %s", done, strerror(err));
		if (!wait_destroy(killer, name) || !done || !err)
			goto out;
	} else if (!strcmp(point, "announced")) {
		b = buf_alloc(MiB);
		err = b < 0 ? ENOMEM : -hd_send(dev2, b, domid, 0, "x", &hid);
		if (b >= 0)
			close(b);
		if (err) {
			say("export: %s", strerror(err));
			goto out;
		}
		cmd_init(&n, &c, domid, "*", "offer");
		msg_add(c.text, "size=%lu seed=%x", MiB, 0xdead);
		if (!victim_req(&n, &c, RESEND_S, REPLY_S, "offer"))
			goto out;
		killer = destroy_later(name, 0);
		if (!wait_destroy(killer, name))
			goto out;
	} else if (!strcmp(point, "mapping")) {
		cmd_init(&n, &c, domid, "*", "offer");
		msg_add(c.text, "size=%lu seed=%x", DEATH_MAP_SIZE, 0xdead);
		if (msg_seal(c.text, 0) ||
		    request(&n, &c, RESEND_S, REPLY_S, &rep) != 1 ||
		    reply_st(&rep) != ST_OK ||
		    !hid_parse(rep.text, "hid", domid, &mine)) {
			say("offer: no answer");
			goto out;
		}
		killer = destroy_later(name, 1500);
		t0 = now_s();
		while (!err && now_s() - t0 < DEATH_LOOP_S) {
			fd = hd_import(dev2, &mine, O_RDONLY);
			err = fd < 0 ? -fd : 0;
			if (fd >= 0) {
				done++;
				close(fd);
			}
		}
		say("%d maps of 64 MiB, then: %s", done, strerror(err));
		if (!wait_destroy(killer, name) || !done || !err)
			goto out;
	} else {
		say("unknown destroy point %s", point);
		goto out;
	}
	ok = true;
out:
	node_fini(&n);
	if (dev2 >= 0)
		close(dev2);
	if (memfd >= 0)
		close(memfd);
	if (ok && !ctrs_settle(&base, &now)) {
		ok = false;
		ctrs_str(&base, a, sizeof(a));
		ctrs_str(&now, bb, sizeof(bb));
		say("counters before: %s; %d s after the death: %s", a,
		    SETTLE_S, bb);
	}
	say("%s", ok ? "ok" : "failed");
	return ok ? KSFT_PASS : KSFT_FAIL;
}

static int victim(const char *name, __u32 domid, const char *point)
{
	if (!point || !strcmp(point, "shares"))
		return victim_shares(name, domid);
	return victim_point(name, domid, point);
}

static void usage(void)
{
	fprintf(stderr,
		"Usage: hyper_dmabuf_xdom_test [serve [NAME] | orchestrate | loopback]\n"
		"       hyper_dmabuf_xdom_test victim NAME DOMID [shares|exporting|announced|mapping]\n"
		"Without an argument: orchestrate in dom0, serve elsewhere.\n");
}

int main(int argc, char **argv)
{
	char *filter[4];
	const char *mode = argc > 1 ? argv[1] : NULL, *env;

	if (!mode) {
		cfg.role = file_has("/proc/xen/capabilities", "control_d") ?
			   ROLE_ORCH : ROLE_SERVE;
	} else if (!strcmp(mode, "serve")) {
		cfg.role = ROLE_SERVE;
	} else if (!strcmp(mode, "orchestrate")) {
		cfg.role = ROLE_ORCH;
	} else if (!strcmp(mode, "loopback")) {
		cfg.role = ROLE_LOOP;
	} else if (!strcmp(mode, "victim") && (argc == 4 || argc == 5)) {
		cfg.role = ROLE_ORCH;
	} else {
		usage();
		return 2;
	}
	cfg.loopback = cfg.role == ROLE_LOOP;
	env = getenv("HYPER_DMABUF_XDOM_WAIT");
	cfg.wait_s = env ? atoi(env) : 240;
	if (cfg.wait_s <= 0)
		cfg.wait_s = 240;
	env = getenv("HYPER_DMABUF_XDOM_NAME");
	if (cfg.role == ROLE_SERVE && argc > 2)
		env = argv[2];
	snprintf(cfg.name, NAME_LEN, "%s", env ? env :
		 cfg.role == ROLE_ORCH ? "dom0" :
		 cfg.role == ROLE_LOOP ? "orch" : "");
	cfg.sid = new_seed();
	if (mode && !strcmp(mode, "victim"))
		return victim(argv[2], strtoul(argv[3], NULL, 0),
			      argc == 5 ? argv[4] : NULL);
	if (cfg.role == ROLE_ORCH &&
	    parse_peers(getenv("HYPER_DMABUF_XDOM_PEERS"))) {
		fprintf(stderr, "bad HYPER_DMABUF_XDOM_PEERS: want \"name:domid:type ...\"\n");
		return 2;
	}
	cfg.sh = mmap(NULL, sizeof(*cfg.sh), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cfg.sh == MAP_FAILED)
		return 1;
	memset(cfg.sh, 0, sizeof(*cfg.sh));
	cfg.skip = setup();
	if (cfg.loopback && !cfg.skip && start_servants())
		cfg.skip = "cannot start the servants";
	if (cfg.loopback)
		cfg.role = ROLE_ORCH;
	/* Only the tests of one fixture run: the harness's own filter. */
	filter[0] = argv[0];
	filter[1] = "-f";
	filter[2] = cfg.role == ROLE_SERVE ? "servant" : "xdom";
	filter[3] = NULL;
	return test_harness_run(3, filter);
}
