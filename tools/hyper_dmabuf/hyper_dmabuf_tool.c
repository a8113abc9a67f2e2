// SPDX-License-Identifier: GPL-2.0
/*
 * hyper_dmabuf_tool - command line front end of /dev/hyper_dmabuf
 *
 * Exports dma-bufs (made from a file, a udmabuf or the system dma-heap) to
 * a domain, imports, queries, lists, unexports and watches shared buffers.
 * Needs nothing but libc: "make -C tools/hyper_dmabuf LDFLAGS=-static"
 * builds it for test scripts in a busybox initramfs.  Run
 * "hyper_dmabuf_tool --help" for the usage.
 *
 * Exit status: 0 success, 1 operation failed, 2 bad usage, 3 not supported
 * by the driver (a driver older than this tool: list, unexport).
 */
#define _GNU_SOURCE
/* First: it includes linux/memfd.h, which glibc's sys/mman.h tolerates. */
#include "hyper_dmabuf_utils.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/hyper_dmabuf.h>
#include <linux/udmabuf.h>

#define HD_DEV		"/dev/hyper_dmabuf"
#define UDMABUF_DEV	"/dev/udmabuf"
#define HEAP_DEV	"/dev/dma_heap/system"
#define HD_DEBUGFS	"/sys/kernel/debug/hyper_dmabuf"

#define EXIT_OK		0
#define EXIT_FAIL	1
#define EXIT_USAGE	2
#define EXIT_UNSUPP	3

#define STR_(x)		#x
#define STR(x)		STR_(x)

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Largest buffer the tool creates; the kernel may refuse smaller ones. */
#define MAX_BUF_SIZE	0x10000000000ULL	/* 1 TiB */

static int verbose;

/* ---- usage -------------------------------------------------------------- */

static const char usage_main[] =
"Usage: hyper_dmabuf_tool [-v] [-h|--help] COMMAND [ARGS...]\n"
"\n"
"Share dma-bufs between domains through " HD_DEV ".\n"
"\n"
"Commands:\n"
"  export    export a new dma-buf to a domain and hold it\n"
"  import    import a shared buffer and dump its bytes\n"
"  query     print what the driver knows about a buffer\n"
"  list      list the buffers exported by and to this domain\n"
"  watch     print the driver's events (new buffers announced here)\n"
"  unexport  withdraw an export held by any process of this domain (root)\n"
"  stats     print the driver's debugfs counters\n"
"  help      print the usage of a command\n"
"\n"
"Run 'hyper_dmabuf_tool COMMAND --help' for the usage of a command.\n"
"\n"
"A buffer is named by an ID-STRING: the line printed by export (or by\n"
"watch), e.g. 'id=0xf0000000 domid=32752 key=0123456789abcdef01234567';\n"
"keys other than id, domid and key are ignored.  The short form\n"
"ID:DOMID:KEY (e.g. 0xf0000000:32752:0123456789abcdef01234567) works too.\n"
"DOMID is a number or 'self' (" STR(HYPER_DMABUF_DOMID_SELF) ", loopback).\n"
"\n"
"Options:\n"
"  -v, --verbose  more output\n"
"  -h, --help     this help\n"
"\n"
"Exit status: 0 success, 1 operation failed, 2 bad usage,\n"
"3 not supported by the driver (older than this tool).\n";

static const char usage_export[] =
"Usage: hyper_dmabuf_tool export [OPTIONS] DOMID SOURCE\n"
"\n"
"Make a dma-buf and export it to domain DOMID ('self' for loopback).\n"
"SOURCE is one of:\n"
"  --file PATH          copy of the file's bytes in a udmabuf (memfd);\n"
"                       the size is rounded up to a page, the tail is zero\n"
"  --alloc SIZE         new udmabuf of SIZE bytes (rounded up to a page)\n"
"  --heap SIZE          new buffer of the system dma-heap (" HEAP_DEV ")\n"
"SIZE is bytes, with an optional K, M or G suffix (binary), at least 1.\n"
"\n"
"Options:\n"
"  --pattern BYTE       fill an --alloc or --heap buffer with BYTE (default 0)\n"
"  --rdwr               let importers map the buffer for writing\n"
"  --priv TEXT          private data passed to importers (max "
STR(HYPER_DMABUF_MAX_PRIV) " bytes)\n"
"  --priv-file F        private data read from file F\n"
"  --for SECONDS        hold the export for SECONDS, then exit 0\n"
"  --keep SECONDS       same as --for\n"
"  --oneshot            hold the export until stdin reaches end of file\n"
"                       (e.g. the writer of a pipe or fifo closes it), then\n"
"                       exit 0; with stdin at end of file it exits at once\n"
"  --unexport-after MS  after MS milliseconds unexport the buffer with\n"
"                       HYPER_DMABUF_IOCTL_UNEXPORT, print 'unexported ...'\n"
"                       and exit 0 (unless the hold ended before)\n"
"  --unexport-delay MS  delay_ms passed to that ioctl (max "
STR(HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS) ")\n"
"  -v, --verbose        also print slot, id domain byte and remote domain\n"
"  -h, --help           this help\n"
"\n"
"On success one line is printed on stdout, then the tool holds the export:\n"
"  id=0xHEX domid=EXPORTER key=24HEXDIGITS size=BYTES checksum=fnv1a64:HEX\n"
"domid is the exporting domain (part of the buffer's name, not DOMID);\n"
"checksum is the FNV-1a 64 hash of all SIZE bytes of the buffer.\n"
"\n"
"An export lives as long as the file descriptor that made it: when the\n"
"tool exits the buffer is unexported (existing imports stay valid).  By\n"
"default the tool holds the export until SIGINT, SIGTERM or SIGHUP and\n"
"then exits 0.  --for (--keep), --oneshot and --unexport-after end the\n"
"hold earlier.  While holding, the tool queries the buffer every 100 ms:\n"
"when another process has unexported it ('hyper_dmabuf_tool unexport'),\n"
"it prints 'unexported elsewhere ID-STRING' and exits 0.\n";

static const char usage_import[] =
"Usage: hyper_dmabuf_tool import [OPTIONS] ID-STRING\n"
"\n"
"Import a buffer exported to this domain, map it and write its bytes to\n"
"FILE or stdout.  Then print 'size=BYTES checksum=fnv1a64:HEX' (FNV-1a 64\n"
"of all bytes) on stdout, or on stderr when the bytes go to stdout.\n"
"\n"
"Options:\n"
"  --out FILE    write the bytes to FILE instead of stdout\n"
"  --rdwr        import and map for reading and writing (the export must\n"
"                allow it)\n"
"  --fill BYTE   with --rdwr: first fill the whole buffer with BYTE\n"
"  -h, --help    this help\n";

static const char usage_query[] =
"Usage: hyper_dmabuf_tool query ID-STRING\n"
"\n"
"Print every field of HYPER_DMABUF_IOCTL_QUERY, one key=value per line.\n"
"priv is printed as a quoted string, bytes outside printable ASCII as \\xHH.\n";

static const char usage_watch[] =
"Usage: hyper_dmabuf_tool watch [--count N] [--timeout MS]\n"
"\n"
"Print the events of " HD_DEV ", one line each:\n"
"  event=new_import id=... domid=... key=... size=... access=rdonly|rdwr\n"
"    [update=1] priv_size=N priv=\"...\"\n"
"  event=overflow lost=N\n"
"A new_import line can be passed to import and query as ID-STRING.\n"
"Only buffers exported after watch started are reported.  Once the\n"
"device is open 'watch: ready' is printed on stderr.\n"
"\n"
"Options:\n"
"  --count N     exit 0 after N events (exit 1 if --timeout ends first)\n"
"  --timeout MS  stop after MS milliseconds (exit 0 without --count)\n"
"  -h, --help    this help\n";

static const char usage_unexport[] =
"Usage: hyper_dmabuf_tool unexport [--delay MS] ID-STRING\n"
"\n"
"Withdraw an export of this domain, whichever process made it (e.g. a\n"
"'hyper_dmabuf_tool export' holding it): HYPER_DMABUF_IOCTL_UNEXPORT with\n"
"HYPER_DMABUF_UNEXPORT_ANY_FILE.  Needs CAP_SYS_ADMIN (root) and the\n"
"full ID-STRING, key included.  Once the command returns the buffer can\n"
"no longer be imported; existing imports keep working and the id is\n"
"released when the last one is closed.  An exporting hyper_dmabuf_tool\n"
"notices within about 100 ms and exits 0.  On success one line is\n"
"printed on stdout:\n"
"  unexported id=0xHEX domid=EXPORTER key=24HEXDIGITS delay_ms=MS\n"
"\n"
"Options:\n"
"  --delay MS   time importers are given before the export is withdrawn\n"
"               from them (0.." STR(HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS) ", default 0)\n"
"  -h, --help   this help\n"
"\n"
"Exit status: 0 unexported; 1 failed: no such export in this domain (wrong\n"
"id or key, or already unexported; ENOENT) or not root (EPERM); 2 bad\n"
"usage; 3 the driver is too old to unexport another process's export.\n";

static const char usage_list[] =
"Usage: hyper_dmabuf_tool list [--exported | --imported]\n"
"\n"
"List the buffers of this domain (HYPER_DMABUF_IOCTL_LIST) and describe\n"
"each (HYPER_DMABUF_IOCTL_QUERY).\n"
"\n"
"Options:\n"
"  --exported   only the exports of this domain, made by any process,\n"
"               including unexported ones that are still imported\n"
"  --imported   only the buffers other domains exported to this one\n"
"               (loopback exports are listed as exported only)\n"
"  -h, --help   this help\n"
"Without an option both kinds are listed, exported first.\n"
"\n"
"Each kind starts with a header line, 'exported: N buffers' or\n"
"'exported: no buffers' ('imported: ...'), followed by one line per\n"
"buffer (wrapped here):\n"
"  type=exported|imported id=0xHEX domid=EXPORTER key=24HEXDIGITS slot=N\n"
"    id_domid_byte=0xHH exporter_domid=N importer_domid=N size=BYTES\n"
"    access=rdonly|rdwr busy=IMPORTS priv_size=N state=STATE\n"
"STATE is 'ready', or a comma separated list of 'pending-idle' (waiting\n"
"for the buffer's fences before the announcement) and 'unexport-pending'\n"
"(unexported, still imported or within its unexport delay).  A line can\n"
"be passed to import, query and unexport as ID-STRING.  Buffers that go\n"
"away between the list and their query are left out.\n";

static const char usage_stats[] =
"Usage: hyper_dmabuf_tool stats\n"
"\n"
"Print the counters of " HD_DEBUGFS "/ as key=value lines\n"
"(needs debugfs mounted and root).\n";

static const char usage_help[] =
"Usage: hyper_dmabuf_tool help [COMMAND]\n";

static void print_usage(const char *text, bool error)
{
	fputs(text, error ? stderr : stdout);
}

static int usage_error(const char *cmd, const char *text, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	print_usage(text, true);
	return EXIT_USAGE;
}

/* ---- error messages ----------------------------------------------------- */

struct errname {
	int err;
	const char *name;
};

static const struct errname errnames[] = {
	{ EPERM, "EPERM" }, { ENOENT, "ENOENT" }, { EINTR, "EINTR" },
	{ EIO, "EIO" }, { ENXIO, "ENXIO" }, { E2BIG, "E2BIG" },
	{ EBADF, "EBADF" }, { EAGAIN, "EAGAIN" }, { ENOMEM, "ENOMEM" },
	{ EACCES, "EACCES" }, { EFAULT, "EFAULT" }, { EBUSY, "EBUSY" },
	{ EEXIST, "EEXIST" }, { ENODEV, "ENODEV" }, { EINVAL, "EINVAL" },
	{ ENFILE, "ENFILE" }, { EMFILE, "EMFILE" }, { ENOTTY, "ENOTTY" },
	{ EFBIG, "EFBIG" }, { ENOSPC, "ENOSPC" }, { ESPIPE, "ESPIPE" },
	{ EPIPE, "EPIPE" }, { ERANGE, "ERANGE" },
	{ EOVERFLOW, "EOVERFLOW" }, { EOPNOTSUPP, "EOPNOTSUPP" },
	{ ETIMEDOUT, "ETIMEDOUT" }, { ECONNREFUSED, "ECONNREFUSED" },
	{ EHOSTUNREACH, "EHOSTUNREACH" }, { ENOTCONN, "ENOTCONN" },
	{ EPROTO, "EPROTO" }, { EISDIR, "EISDIR" }, { EROFS, "EROFS" },
	{ ESRCH, "ESRCH" }, { ECONNRESET, "ECONNRESET" },
	{ EBADMSG, "EBADMSG" },
};

static const char *errname(int err)
{
	static char buf[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(errnames); i++)
		if (errnames[i].err == err)
			return errnames[i].name;
	snprintf(buf, sizeof(buf), "errno %d", err);
	return buf;
}

/*
 * Explanation of an errno for one operation: printed as
 * "OP: WHAT (ENAME): HINT".
 */
struct errmsg {
	int err;
	const char *what;
	const char *hint;
};

static const struct errmsg common_errs[] = {
	{ ENOTTY, "ioctl not known by the driver",
	  "driver and tool were built from different hyper_dmabuf.h" },
	{ E2BIG, "driver is older than this tool",
	  "the ioctl argument has members the driver does not know" },
	{ EFAULT, "bad address", "bug in hyper_dmabuf_tool" },
	{ ENOMEM, "out of memory", NULL },
	{ EMFILE, "too many open files", NULL },
	{ ENFILE, "too many open files in the system", NULL },
	{ 0, NULL, NULL }
};

static const struct errmsg open_errs[] = {
	{ ENOENT, "no such device",
	  "is the driver loaded? (modprobe hyper_dmabuf)" },
	{ ENODEV, "no such device",
	  "is the driver loaded? (modprobe hyper_dmabuf)" },
	{ ENXIO, "no such device",
	  "is the driver loaded? (modprobe hyper_dmabuf)" },
	{ EACCES, "permission denied", "run as root" },
	{ EPERM, "permission denied", "run as root" },
	{ 0, NULL, NULL }
};

static const struct errmsg export_errs[] = {
	{ EBADF, "not a dma-buf file descriptor", "bug in hyper_dmabuf_tool" },
	{ EINVAL, "invalid argument",
	  "bad flags, padding or priv size, a re-export with other flags, or a reserved DOMID" },
	{ ENOSPC, "no free id or grant",
	  "this domain has " STR(HYPER_DMABUF_MAX_IDS) " live exports, or a full grant table" },
	{ ENODEV, "no hypervisor backend",
	  "without a backend only loopback export to 'self' works" },
	{ EACCES, "export refused",
	  "--rdwr of a read-only dma-buf, or dom0 does not let this domU share with DOMID" },
	{ ESRCH, "no such domain", "DOMID does not exist (checked from dom0)" },
	{ EOPNOTSUPP, "buffer memory cannot be shared",
	  "only RAM with struct pages can be granted to another domain" },
	{ EFBIG, "buffer too large", "at most 1 GiB can be shared" },
	{ ETIMEDOUT, "no answer from the domain",
	  "the channel did not come up: is hyper_dmabuf loaded there?" },
	{ ECONNRESET, "the domain went away", "the channel to it was reset" },
	{ ENOTCONN, "no channel to the domain", "is hyper_dmabuf loaded there?" },
	{ EPROTO, "the channel to the domain failed",
	  "the peer did not follow the protocol; it is being checked" },
	{ EIO, "sharing the buffer failed", "a grant or channel operation of Xen failed" },
	{ 0, NULL, NULL }
};

static const struct errmsg import_errs[] = {
	{ ENOENT, "no such buffer",
	  "wrong id, key or exporter domain, or it was unexported" },
	{ EACCES, "the export is read-only",
	  "import without --rdwr, or export with --rdwr" },
	{ EINVAL, "invalid argument", "bad fd flags or padding" },
	{ EIO, "mapping of the remote buffer failed",
	  "the exporter shared a different number of pages" },
	{ EBADMSG, "malformed page directory",
	  "the exporting domain sent a broken description of the buffer" },
	{ EAGAIN, "the export is not announced yet",
	  "it waits for the buffer's fences to signal" },
	{ ETIMEDOUT, "the export was not announced in time",
	  "it still waits for the buffer's fences" },
	{ EINTR, "interrupted", "a signal arrived while waiting for the announcement" },
	{ ECONNRESET, "the exporting domain went away", "the channel to it was reset" },
	{ ENOTCONN, "no channel to the exporting domain", "it went away" },
	{ EPROTO, "the channel to the exporting domain failed", NULL },
	{ 0, NULL, NULL }
};

/* UNEXPORT of the tool's own export (export --unexport-after) */
static const struct errmsg own_unexport_errs[] = {
	{ ENOENT, "no such export",
	  "it was already unexported (by another process?)" },
	{ EINVAL, "invalid argument",
	  "delay above " STR(HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS) " ms or bad padding" },
	{ 0, NULL, NULL }
};

/* UNEXPORT with HYPER_DMABUF_UNEXPORT_ANY_FILE (the unexport command) */
static const struct errmsg unexport_errs[] = {
	{ ENOENT, "no such export in this domain",
	  "wrong id or key, or already unexported" },
	{ EPERM, "permission denied",
	  "needs CAP_SYS_ADMIN (run as root) to unexport another process's export" },
	{ EINVAL, "not supported by the driver",
	  "it does not know HYPER_DMABUF_UNEXPORT_ANY_FILE (older than this tool)" },
	{ ENOTTY, "not supported by the driver",
	  "it does not know HYPER_DMABUF_IOCTL_UNEXPORT" },
	{ 0, NULL, NULL }
};

static const struct errmsg list_errs[] = {
	{ ENOTTY, "not supported by the driver",
	  "HYPER_DMABUF_IOCTL_LIST needs a newer hyper_dmabuf driver" },
	{ EINVAL, "the driver refused the request",
	  "bad type or padding: driver and tool disagree on struct hyper_dmabuf_list" },
	{ EFAULT, "bad address", "bug in hyper_dmabuf_tool" },
	{ 0, NULL, NULL }
};

static const struct errmsg query_errs[] = {
	{ ENOENT, "no such buffer",
	  "wrong id, key or exporter domain, or it is gone" },
	{ EINVAL, "invalid argument", "bad padding" },
	{ EFAULT, "bad address", "bug in hyper_dmabuf_tool" },
	{ 0, NULL, NULL }
};

static const struct errmsg read_errs[] = {
	{ EINVAL, "read buffer too small",
	  "driver and tool disagree on sizeof(struct hyper_dmabuf_event)" },
	{ 0, NULL, NULL }
};

static const struct errmsg udmabuf_errs[] = {
	{ ENOENT, "no such device", "kernel built without CONFIG_UDMABUF?" },
	{ ENODEV, "no such device", "kernel built without CONFIG_UDMABUF?" },
	{ EACCES, "permission denied", "run as root" },
	{ EINVAL, "udmabuf refused the memfd",
	  "size above udmabuf.size_limit_mb (default 64 MiB), or bad seals" },
	{ 0, NULL, NULL }
};

static const struct errmsg heap_errs[] = {
	{ ENOENT, "no such device",
	  "kernel built without CONFIG_DMABUF_HEAPS_SYSTEM?" },
	{ EACCES, "permission denied", "run as root" },
	{ EINVAL, "the heap refused the allocation", "bad size or flags" },
	{ ENOMEM, "the heap is out of memory", NULL },
	{ 0, NULL, NULL }
};

static const struct errmsg mmap_errs[] = {
	{ EACCES, "permission denied",
	  "the dma-buf was not opened with the access mode of the mapping" },
	{ ENODEV, "the dma-buf cannot be mapped", NULL },
	{ 0, NULL, NULL }
};

static const struct errmsg *find_errmsg(const struct errmsg *tab, int err)
{
	for (; tab && tab->what; tab++)
		if (tab->err == err)
			return tab;
	return NULL;
}

/* Print "OP: WHAT (ENAME): HINT" for err (a positive errno). */
static void report(const char *op, int err, const struct errmsg *tab)
{
	const struct errmsg *m = find_errmsg(tab, err);

	if (!m)
		m = find_errmsg(common_errs, err);
	if (!m) {
		fprintf(stderr, "%s: %s (%s)\n", op, strerror(err),
			errname(err));
		return;
	}
	fprintf(stderr, "%s: %s (%s)%s%s\n", op, m->what, errname(err),
		m->hint ? ": " : "", m->hint ? m->hint : "");
}

static int open_dev(const char *cmd, const char *path, int flags,
		    const struct errmsg *errs)
{
	char op[128];
	int fd;

	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		snprintf(op, sizeof(op), "%s: open %s", cmd, path);
		report(op, errno, errs);
	}
	return fd;
}

/* ---- parsing ------------------------------------------------------------ */

/* Parse an unsigned number (decimal or 0x hex) of at most max. */
static bool parse_u64(const char *s, __u64 max, __u64 *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_u32(const char *s, __u32 max, __u32 *out)
{
	__u64 v;

	if (!parse_u64(s, max, &v))
		return false;
	*out = v;
	return true;
}

/* SIZE: a number with an optional K, M or G suffix (powers of 1024). */
static bool parse_size(const char *s, __u64 *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return false;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	default:
		return false;
	}
	if (*end && end[1])
		return false;
	if (v > (MAX_BUF_SIZE >> shift))
		return false;
	*out = v << shift;
	return true;
}

/* DOMID: "self" or a number up to HYPER_DMABUF_DOMID_SELF. */
static bool parse_domid(const char *s, __u32 *out)
{
	if (s && !strcmp(s, "self")) {
		*out = HYPER_DMABUF_DOMID_SELF;
		return true;
	}
	return parse_u32(s, HYPER_DMABUF_DOMID_SELF, out);
}

static bool parse_key(const char *s, __u32 key[3])
{
	char part[9];
	int i, j;

	if (!strncmp(s, "0x", 2) || !strncmp(s, "0X", 2))
		s += 2;
	if (strlen(s) != 24)
		return false;
	for (i = 0; i < 3; i++) {
		for (j = 0; j < 8; j++) {
			if (!isxdigit((unsigned char)s[i * 8 + j]))
				return false;
			part[j] = s[i * 8 + j];
		}
		part[8] = '\0';
		key[i] = strtoul(part, NULL, 16);
	}
	return true;
}

#define HID_ID		0x1
#define HID_DOMID	0x2
#define HID_KEY		0x4
#define HID_ALL		(HID_ID | HID_DOMID | HID_KEY)

/* "ID:DOMID:KEY" */
static bool parse_hid_short(const char *tok, struct hyper_dmabuf_id *hid)
{
	char buf[128], *domid, *key;

	if (strlen(tok) >= sizeof(buf))
		return false;
	strcpy(buf, tok);
	domid = strchr(buf, ':');
	if (!domid)
		return false;
	*domid++ = '\0';
	key = strchr(domid, ':');
	if (!key)
		return false;
	*key++ = '\0';
	return parse_u32(buf, UINT32_MAX, &hid->id) &&
	       parse_domid(domid, &hid->exporter_domid) &&
	       parse_key(key, hid->key);
}

/*
 * Parse one whitespace separated token of an ID-STRING.  Returns false
 * with *why set on error.
 */
static bool parse_hid_token(const char *tok, size_t len,
			    struct hyper_dmabuf_id *hid, unsigned int *seen,
			    const char **why)
{
	char buf[128];
	const char *val;
	unsigned int bit;
	bool ok;

	if (len >= sizeof(buf)) {
		/* Only long values of unknown keys (priv) get here. */
		if (memchr(tok, '=', len))
			return true;
		*why = "token too long";
		return false;
	}
	memcpy(buf, tok, len);
	buf[len] = '\0';

	val = strchr(buf, '=');
	if (!val) {
		if (*seen) {
			*why = "mixes ID:DOMID:KEY with key=value";
			return false;
		}
		if (!parse_hid_short(buf, hid)) {
			*why = "not ID:DOMID:KEY";
			return false;
		}
		*seen = HID_ALL;
		return true;
	}
	val++;
	if (!strncmp(buf, "id=", 3)) {
		bit = HID_ID;
		ok = parse_u32(val, UINT32_MAX, &hid->id);
	} else if (!strncmp(buf, "domid=", 6)) {
		bit = HID_DOMID;
		ok = parse_domid(val, &hid->exporter_domid);
	} else if (!strncmp(buf, "key=", 4)) {
		bit = HID_KEY;
		ok = parse_key(val, hid->key);
	} else {
		return true;	/* size=, checksum=, priv=... are ignored */
	}
	if (*seen & bit) {
		*why = "a key is given twice";
		return false;
	}
	if (!ok) {
		*why = bit == HID_KEY ? "key= needs 24 hex digits" :
		       bit == HID_ID ? "bad id= value" : "bad domid= value";
		return false;
	}
	*seen |= bit;
	return true;
}

/*
 * Parse ID-STRING arguments: each argument may hold several tokens
 * separated by white space; double quoted parts (priv="a b") are skipped
 * as a whole.
 */
static int parse_hid_args(const char *cmd, const char *usage, int argc,
			  char **argv, struct hyper_dmabuf_id *hid)
{
	const char *why = "missing ID-STRING";
	unsigned int seen = 0;
	int i;

	memset(hid, 0, sizeof(*hid));
	for (i = 0; i < argc; i++) {
		const char *p = argv[i];

		while (*p) {
			const char *start;
			bool quoted = false;

			while (isspace((unsigned char)*p))
				p++;
			if (!*p)
				break;
			start = p;
			while (*p && (quoted || !isspace((unsigned char)*p))) {
				if (quoted && *p == '\\' && p[1])
					p++;
				else if (*p == '"')
					quoted = !quoted;
				p++;
			}
			if (!parse_hid_token(start, p - start, hid, &seen,
					     &why))
				goto err;
		}
	}
	if (seen == HID_ALL)
		return 0;
	if (seen)
		why = "ID-STRING needs id=, domid= and key=";
err:
	return usage_error(cmd, usage, "bad ID-STRING: %s", why);
}

/* ---- helpers ------------------------------------------------------------ */

static void print_hid(FILE *f, const struct hyper_dmabuf_id *hid)
{
	fprintf(f, "id=0x%08x domid=%u key=%08x%08x%08x",
		hid->id, hid->exporter_domid,
		hid->key[0], hid->key[1], hid->key[2]);
}

/* Quoted string; bytes outside printable ASCII as \xHH. */
static void print_escaped(FILE *f, const unsigned char *p, size_t len)
{
	size_t i;

	fputc('"', f);
	for (i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c > 0x7e)
			fprintf(f, "\\x%02x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int flush_stdout(const char *cmd)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		report(cmd, errno ? errno : EIO, NULL);
		return -1;
	}
	return 0;
}

static __s64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__s64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Size of a dma-buf (dma-bufs support SEEK_END). */
static __s64 dmabuf_size(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);

	if (size < 0)
		return -1;
	lseek(fd, 0, SEEK_SET);
	return size;
}

/* ---- export ------------------------------------------------------------- */

enum src_kind {
	SRC_NONE,
	SRC_FILE,
	SRC_ALLOC,
	SRC_HEAP,
};

struct export_opts {
	__u32 domid;
	bool rdwr;
	enum src_kind src;
	const char *path;
	__u64 size;
	bool have_pattern;
	unsigned char pattern;
	unsigned char priv[HYPER_DMABUF_MAX_PRIV];
	__u32 priv_size;
	__s64 keep_ms;		/* --for, --keep; -1: no limit */
	bool oneshot;
	__s64 unexport_after_ms;	/* -1: never */
	__u32 unexport_delay_ms;
};

/* Open an input file of export, with a message on failure. */
static int open_input(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fprintf(stderr, "export: cannot open %s: %s (%s)\n", path,
			strerror(errno), errname(errno));
	return fd;
}

/* read() that retries on EINTR, with a message on failure. */
static ssize_t read_input(int fd, void *buf, size_t len, const char *path)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fprintf(stderr, "export: cannot read %s: %s (%s)\n", path,
			strerror(errno), errname(errno));
	return n;
}

/* Copy the file into a memfd; returns the memfd and the data size. */
static int file_to_memfd(const char *path, int memfd, __u64 *len)
{
	unsigned char buf[65536];
	__u64 total = 0;
	int fd;

	fd = open_input(path);
	if (fd < 0)
		return -1;
	for (;;) {
		ssize_t n = read_input(fd, buf, sizeof(buf), path);

		if (n < 0) {
			close(fd);
			return -1;
		}
		if (!n)
			break;
		if (total + n > MAX_BUF_SIZE) {
			fprintf(stderr, "export: %s is too big\n", path);
			close(fd);
			return -1;
		}
		if (write_all(memfd, buf, n)) {
			report("export: write to memfd", errno, NULL);
			close(fd);
			return -1;
		}
		total += n;
	}
	close(fd);
	*len = total;
	return 0;
}

/* udmabuf from a sealed memfd, holding a copy of the file or zeros. */
static int make_udmabuf(const struct export_opts *o, __u64 page,
			__u64 *size)
{
	struct udmabuf_create create = { 0 };
	__u64 len = o->size;
	int memfd, devfd, fd;

	memfd = memfd_create("hyper_dmabuf_tool", MFD_ALLOW_SEALING |
			     MFD_CLOEXEC);
	if (memfd < 0) {
		report("export: memfd_create", errno, NULL);
		return -1;
	}
	if (o->src == SRC_FILE) {
		if (file_to_memfd(o->path, memfd, &len))
			goto err_memfd;
		if (!len) {
			fprintf(stderr, "export: %s is empty: a dma-buf needs at least one byte\n",
				o->path);
			goto err_memfd;
		}
	}
	*size = (len + page - 1) / page * page;
	if (ftruncate(memfd, *size)) {
		report("export: ftruncate memfd", errno, NULL);
		goto err_memfd;
	}
	if (fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		report("export: seal memfd", errno, NULL);
		goto err_memfd;
	}
	devfd = open_dev("export", UDMABUF_DEV, O_RDWR, udmabuf_errs);
	if (devfd < 0)
		goto err_memfd;
	create.memfd = memfd;
	create.flags = UDMABUF_FLAGS_CLOEXEC;
	create.offset = 0;
	create.size = *size;
	fd = ioctl(devfd, UDMABUF_CREATE, &create);
	if (fd < 0)
		report("export: UDMABUF_CREATE", errno, udmabuf_errs);
	close(devfd);
	close(memfd);
	return fd;

err_memfd:
	close(memfd);
	return -1;
}

static int make_heap_buf(__u64 size)
{
	struct dma_heap_allocation_data data = {
		.len = size,
		.fd_flags = O_RDWR | O_CLOEXEC,
	};
	int devfd, ret;

	devfd = open(HEAP_DEV, O_RDONLY | O_CLOEXEC);
	if (devfd < 0) {
		report("export: open " HEAP_DEV, errno, heap_errs);
		return -1;
	}
	ret = ioctl(devfd, DMA_HEAP_IOCTL_ALLOC, &data);
	if (ret < 0)
		report("export: DMA_HEAP_IOCTL_ALLOC", errno, heap_errs);
	close(devfd);
	return ret < 0 ? -1 : (int)data.fd;
}

/* Fill the buffer with the pattern if asked and hash its bytes. */
static int prepare_buf(int fd, __u64 size, const struct export_opts *o,
		       __u64 *sum)
{
	__u64 dir = DMA_BUF_SYNC_READ;
	unsigned char *p;

	if (o->have_pattern)
		dir = DMA_BUF_SYNC_RW;
	p = mmap(NULL, size, PROT_READ | (o->have_pattern ? PROT_WRITE : 0),
		 MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		report("export: mmap dma-buf", errno, mmap_errs);
		return -1;
	}
	if (dmabuf_sync(fd, DMA_BUF_SYNC_START | dir)) {
		report("export: DMA_BUF_IOCTL_SYNC start", errno, NULL);
		munmap(p, size);
		return -1;
	}
	if (o->have_pattern)
		memset(p, o->pattern, size);
	*sum = fnv1a64(p, size);
	if (dmabuf_sync(fd, DMA_BUF_SYNC_END | dir))
		report("export: DMA_BUF_IOCTL_SYNC end", errno, NULL);
	munmap(p, size);
	return 0;
}

static int do_unexport(int devfd, const struct hyper_dmabuf_id *hid,
		       __u32 delay_ms)
{
	struct hyper_dmabuf_unexport un = {
		.hid = *hid,
		.delay_ms = delay_ms,
	};

	if (ioctl(devfd, HYPER_DMABUF_IOCTL_UNEXPORT, &un)) {
		report("export: unexport", errno, own_unexport_errs);
		return EXIT_FAIL;
	}
	printf("unexported ");
	print_hid(stdout, hid);
	printf(" delay_ms=%u\n", delay_ms);
	return flush_stdout("export") ? EXIT_FAIL : EXIT_OK;
}

/* How often a held export is checked for an unexport by another process. */
#define EXPORT_POLL_MS	100

/*
 * Was the held export withdrawn by another process (the unexport command)?
 * Returns 1 if so, 0 if not, -1 if the query failed for another reason.
 */
static int export_gone(int devfd, const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_query q = { .hid = *hid };

	if (ioctl(devfd, HYPER_DMABUF_IOCTL_QUERY, &q)) {
		if (errno == ENOENT)
			return 1;
		if (errno == EINTR)
			return 0;
		report("export: query of the held export", errno, query_errs);
		return -1;
	}
	return q.unexport_pending ? 1 : 0;
}

/*
 * Hold the export until a signal, the end of --for, the end of stdin
 * (--oneshot), the --unexport-after time, or an unexport by another
 * process.
 */
static int hold_export(int devfd, int sigfd, const struct hyper_dmabuf_id *hid,
		       const struct export_opts *o)
{
	__s64 start = now_ms(), next_check = EXPORT_POLL_MS;
	bool stdin_open = o->oneshot, watch_gone = true;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = sigfd, .events = POLLIN },
			{ .fd = STDIN_FILENO, .events = POLLIN },
		};
		__s64 left = -1, t = now_ms() - start;
		int ret;

		if (o->unexport_after_ms >= 0 && t >= o->unexport_after_ms)
			return do_unexport(devfd, hid, o->unexport_delay_ms);
		if (o->keep_ms >= 0 && t >= o->keep_ms) {
			if (verbose)
				fprintf(stderr, "export: --for time is over, unexporting\n");
			return EXIT_OK;
		}
		if (watch_gone && t >= next_check) {
			ret = export_gone(devfd, hid);
			if (ret > 0) {
				printf("unexported elsewhere ");
				print_hid(stdout, hid);
				printf("\n");
				return flush_stdout("export") ? EXIT_FAIL : EXIT_OK;
			}
			if (ret < 0) {
				fprintf(stderr,
					"export: cannot tell any more whether another process unexports the buffer; holding it until the hold ends\n");
				watch_gone = false;
			}
			next_check = t + EXPORT_POLL_MS;
		}
		/* Time to the next deadline. */
		if (o->keep_ms >= 0)
			left = o->keep_ms - t;
		if (o->unexport_after_ms >= 0 &&
		    (left < 0 || o->unexport_after_ms - t < left))
			left = o->unexport_after_ms - t;
		if (watch_gone && (left < 0 || next_check - t < left))
			left = next_check - t;

		ret = poll(pfd, stdin_open ? 2 : 1,
			   left < 0 ? -1 : left > INT_MAX ? INT_MAX : (int)left);
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			report("export: poll", errno, NULL);
			return EXIT_FAIL;
		}
		if (pfd[0].revents) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si) &&
			    verbose)
				fprintf(stderr, "export: %s, unexporting\n",
					strsignal(si.ssi_signo));
			return EXIT_OK;
		}
		if (stdin_open && pfd[1].revents) {
			char buf[4096];
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				if (verbose)
					fprintf(stderr, "export: end of stdin, unexporting\n");
				return EXIT_OK;
			}
			/* Data on stdin is ignored. */
		}
	}
}

static int read_priv_file(const char *path, struct export_opts *o)
{
	unsigned char buf[HYPER_DMABUF_MAX_PRIV + 1];
	size_t total = 0;
	int fd;

	fd = open_input(path);
	if (fd < 0)
		return -1;
	while (total < sizeof(buf)) {
		ssize_t n = read_input(fd, buf + total, sizeof(buf) - total,
				       path);

		if (n < 0) {
			close(fd);
			return -1;
		}
		if (!n)
			break;
		total += n;
	}
	close(fd);
	if (total > HYPER_DMABUF_MAX_PRIV)
		return -2;
	memcpy(o->priv, buf, total);
	o->priv_size = total;
	return 0;
}

enum {
	OPT_RDWR = 256,
	OPT_PRIV,
	OPT_PRIV_FILE,
	OPT_KEEP,
	OPT_FOR,
	OPT_ONESHOT,
	OPT_FILE,
	OPT_ALLOC,
	OPT_HEAP,
	OPT_PATTERN,
	OPT_UNEXPORT_AFTER,
	OPT_UNEXPORT_DELAY,
	OPT_OUT,
	OPT_FILL,
	OPT_COUNT,
	OPT_TIMEOUT,
	OPT_DELAY,
	OPT_EXPORTED,
	OPT_IMPORTED,
};

static int set_source(struct export_opts *o, enum src_kind kind,
		      const char *arg)
{
	if (o->src != SRC_NONE)
		return usage_error("export", usage_export,
				   "give exactly one of --file, --alloc, --heap");
	o->src = kind;
	if (kind == SRC_FILE) {
		o->path = arg;
		return 0;
	}
	if (!parse_size(arg, &o->size))
		return usage_error("export", usage_export,
				   "bad SIZE '%s'", arg);
	if (!o->size)
		return usage_error("export", usage_export,
				   "SIZE must be at least 1 byte: a dma-buf cannot be empty");
	return 0;
}

static int cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rdwr", no_argument, NULL, OPT_RDWR },
		{ "priv", required_argument, NULL, OPT_PRIV },
		{ "priv-file", required_argument, NULL, OPT_PRIV_FILE },
		{ "keep", required_argument, NULL, OPT_KEEP },
		{ "for", required_argument, NULL, OPT_FOR },
		{ "oneshot", no_argument, NULL, OPT_ONESHOT },
		{ "file", required_argument, NULL, OPT_FILE },
		{ "alloc", required_argument, NULL, OPT_ALLOC },
		{ "heap", required_argument, NULL, OPT_HEAP },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "unexport-after", required_argument, NULL, OPT_UNEXPORT_AFTER },
		{ "unexport-delay", required_argument, NULL, OPT_UNEXPORT_DELAY },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct export_opts o = {
		.keep_ms = -1,
		.unexport_after_ms = -1,
	};
	struct hyper_dmabuf_export ex = { 0 };
	bool have_priv = false;
	__u64 page, size, sum, v;
	__s64 bufsize;
	int c, ret, bufd, devfd, sigfd;
	sigset_t mask;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case OPT_RDWR:
			o.rdwr = true;
			break;
		case OPT_PRIV:
		case OPT_PRIV_FILE:
			if (have_priv)
				return usage_error("export", usage_export,
						   "give --priv or --priv-file once");
			have_priv = true;
			if (c == OPT_PRIV) {
				if (strlen(optarg) > HYPER_DMABUF_MAX_PRIV)
					return usage_error("export", usage_export,
							   "--priv TEXT longer than %d bytes",
							   HYPER_DMABUF_MAX_PRIV);
				o.priv_size = strlen(optarg);
				memcpy(o.priv, optarg, o.priv_size);
				break;
			}
			ret = read_priv_file(optarg, &o);
			if (ret == -2)
				return usage_error("export", usage_export,
						   "--priv-file %s longer than %d bytes",
						   optarg, HYPER_DMABUF_MAX_PRIV);
			if (ret)
				return EXIT_FAIL;
			break;
		case OPT_KEEP:
		case OPT_FOR:
			if (!parse_u64(optarg, INT64_MAX / 1000, &v))
				return usage_error("export", usage_export,
						   "bad --%s SECONDS '%s'",
						   c == OPT_FOR ? "for" : "keep",
						   optarg);
			o.keep_ms = v * 1000;
			break;
		case OPT_ONESHOT:
			o.oneshot = true;
			break;
		case OPT_FILE:
		case OPT_ALLOC:
		case OPT_HEAP:
			ret = set_source(&o, c == OPT_FILE ? SRC_FILE :
					 c == OPT_ALLOC ? SRC_ALLOC : SRC_HEAP,
					 optarg);
			if (ret)
				return ret;
			break;
		case OPT_PATTERN:
			if (!parse_u64(optarg, 255, &v))
				return usage_error("export", usage_export,
						   "bad --pattern BYTE '%s' (0..255)",
						   optarg);
			o.pattern = v;
			o.have_pattern = true;
			break;
		case OPT_UNEXPORT_AFTER:
			if (!parse_u64(optarg, INT32_MAX, &v))
				return usage_error("export", usage_export,
						   "bad --unexport-after MS '%s'",
						   optarg);
			o.unexport_after_ms = v;
			break;
		case OPT_UNEXPORT_DELAY:
			if (!parse_u32(optarg, HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS,
				       &o.unexport_delay_ms))
				return usage_error("export", usage_export,
						   "bad --unexport-delay MS '%s' (0..%d)",
						   optarg,
						   HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS);
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			print_usage(usage_export, false);
			return EXIT_OK;
		default:
			print_usage(usage_export, true);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return usage_error("export", usage_export, "missing DOMID");
	if (argc - optind > 1)
		return usage_error("export", usage_export,
				   "unexpected argument '%s'", argv[optind + 1]);
	if (!parse_domid(argv[optind], &o.domid))
		return usage_error("export", usage_export,
				   "bad DOMID '%s': use 'self' or a number 0..%d",
				   argv[optind], HYPER_DMABUF_DOMID_SELF);
	if (o.src == SRC_NONE)
		return usage_error("export", usage_export,
				   "missing --file PATH, --alloc SIZE or --heap SIZE");
	if (o.have_pattern && o.src == SRC_FILE)
		return usage_error("export", usage_export,
				   "--pattern does not go with --file");
	if (o.unexport_delay_ms && o.unexport_after_ms < 0)
		return usage_error("export", usage_export,
				   "--unexport-delay needs --unexport-after");
	if (o.keep_ms >= 0 && o.oneshot)
		return usage_error("export", usage_export,
				   "give --for (--keep) or --oneshot, not both");

	devfd = open_dev("export", HD_DEV, O_RDWR, open_errs);
	if (devfd < 0)
		return EXIT_FAIL;

	/*
	 * Signals that end the hold are read from a signalfd.  They may be
	 * ignored (background jobs of a shell ignore SIGINT): restore the
	 * default, or they would be discarded instead of queued.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sigfd < 0) {
		report("export: signalfd", errno, NULL);
		return EXIT_FAIL;
	}

	page = sysconf(_SC_PAGESIZE);
	if (o.src == SRC_HEAP) {
		size = (o.size + page - 1) / page * page;
		bufd = make_heap_buf(size);
	} else {
		bufd = make_udmabuf(&o, page, &size);
	}
	if (bufd < 0)
		return EXIT_FAIL;
	bufsize = dmabuf_size(bufd);
	if (bufsize > 0)
		size = bufsize;
	if (prepare_buf(bufd, size, &o, &sum))
		return EXIT_FAIL;

	ex.fd = bufd;
	ex.remote_domid = o.domid;
	ex.flags = o.rdwr ? HYPER_DMABUF_EXPORT_RDWR : 0;
	ex.priv_size = o.priv_size;
	ex.priv_ptr = (uintptr_t)o.priv;
	if (ioctl(devfd, HYPER_DMABUF_IOCTL_EXPORT, &ex)) {
		report("export", errno, export_errs);
		return EXIT_FAIL;
	}
	/* The export holds its own reference to the dma-buf. */
	close(bufd);

	print_hid(stdout, &ex.hid);
	printf(" size=%llu checksum=fnv1a64:%016llx", size, sum);
	if (verbose)
		printf(" slot=%u id_domid_byte=0x%02x remote_domid=%u access=%s",
		       ex.hid.id & HYPER_DMABUF_ID_SLOT_MASK,
		       ex.hid.id >> HYPER_DMABUF_ID_DOMID_SHIFT, o.domid,
		       o.rdwr ? "rdwr" : "rdonly");
	printf("\n");
	if (flush_stdout("export"))
		return EXIT_FAIL;

	ret = hold_export(devfd, sigfd, &ex.hid, &o);
	/* Closing the device unexports whatever is left. */
	close(devfd);
	return ret;
}

/* ---- import ------------------------------------------------------------- */

static int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rdwr", no_argument, NULL, OPT_RDWR },
		{ "out", required_argument, NULL, OPT_OUT },
		{ "fill", required_argument, NULL, OPT_FILL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct hyper_dmabuf_import im = { 0 };
	const char *out = NULL;
	bool rdwr = false, fill = false;
	unsigned char fill_byte = 0;
	__u64 v, sum, dir;
	int c, ret, devfd, outfd;
	__s64 size;
	unsigned char *p;
	FILE *rep;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_RDWR:
			rdwr = true;
			break;
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_FILL:
			if (!parse_u64(optarg, 255, &v))
				return usage_error("import", usage_import,
						   "bad --fill BYTE '%s' (0..255)",
						   optarg);
			fill = true;
			fill_byte = v;
			break;
		case 'h':
			print_usage(usage_import, false);
			return EXIT_OK;
		default:
			print_usage(usage_import, true);
			return EXIT_USAGE;
		}
	}
	if (fill && !rdwr)
		return usage_error("import", usage_import,
				   "--fill needs --rdwr");
	ret = parse_hid_args("import", usage_import, argc - optind,
			     argv + optind, &im.hid);
	if (ret)
		return ret;

	devfd = open_dev("import", HD_DEV, O_RDWR, open_errs);
	if (devfd < 0)
		return EXIT_FAIL;
	im.fd_flags = O_CLOEXEC | (rdwr ? O_RDWR : O_RDONLY);
	if (ioctl(devfd, HYPER_DMABUF_IOCTL_IMPORT, &im)) {
		report("import", errno, import_errs);
		return EXIT_FAIL;
	}
	/* The import is a dma-buf of its own; the device is not needed. */
	close(devfd);

	size = dmabuf_size(im.fd);
	if (size <= 0) {
		report("import: size of the dma-buf", size ? errno : EINVAL,
		       NULL);
		return EXIT_FAIL;
	}
	p = mmap(NULL, size, PROT_READ | (rdwr ? PROT_WRITE : 0), MAP_SHARED,
		 im.fd, 0);
	if (p == MAP_FAILED) {
		report("import: mmap", errno, mmap_errs);
		return EXIT_FAIL;
	}
	dir = rdwr ? DMA_BUF_SYNC_RW : DMA_BUF_SYNC_READ;
	if (dmabuf_sync(im.fd, DMA_BUF_SYNC_START | dir)) {
		report("import: DMA_BUF_IOCTL_SYNC start", errno, NULL);
		return EXIT_FAIL;
	}
	if (fill)
		memset(p, fill_byte, size);
	sum = fnv1a64(p, size);

	ret = EXIT_OK;
	if (out) {
		outfd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			     0644);
		if (outfd < 0) {
			fprintf(stderr, "import: cannot create %s: %s (%s)\n",
				out, strerror(errno), errname(errno));
			ret = EXIT_FAIL;
		}
	} else {
		outfd = STDOUT_FILENO;
	}
	if (outfd >= 0 && write_all(outfd, p, size)) {
		fprintf(stderr, "import: cannot write %s: %s (%s)\n",
			out ? out : "stdout", strerror(errno), errname(errno));
		ret = EXIT_FAIL;
	}
	if (out && outfd >= 0 && close(outfd)) {
		fprintf(stderr, "import: cannot write %s: %s (%s)\n", out,
			strerror(errno), errname(errno));
		ret = EXIT_FAIL;
	}
	if (dmabuf_sync(im.fd, DMA_BUF_SYNC_END | dir))
		report("import: DMA_BUF_IOCTL_SYNC end", errno, NULL);
	munmap(p, size);
	close(im.fd);
	if (ret)
		return ret;

	rep = out ? stdout : stderr;
	fprintf(rep, "size=%lld checksum=fnv1a64:%016llx\n",
		size, sum);
	if (out && flush_stdout("import"))
		return EXIT_FAIL;
	return EXIT_OK;
}

/* ---- query -------------------------------------------------------------- */

static int cmd_query(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	unsigned char priv[HYPER_DMABUF_MAX_PRIV];
	struct hyper_dmabuf_query q = { 0 };
	const char *type;
	int c, ret, devfd;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_usage(usage_query, false);
			return EXIT_OK;
		default:
			print_usage(usage_query, true);
			return EXIT_USAGE;
		}
	}
	ret = parse_hid_args("query", usage_query, argc - optind,
			     argv + optind, &q.hid);
	if (ret)
		return ret;

	devfd = open_dev("query", HD_DEV, O_RDWR, open_errs);
	if (devfd < 0)
		return EXIT_FAIL;
	q.priv_ptr = (uintptr_t)priv;
	q.priv_buf_size = sizeof(priv);
	if (ioctl(devfd, HYPER_DMABUF_IOCTL_QUERY, &q)) {
		report("query", errno, query_errs);
		return EXIT_FAIL;
	}
	close(devfd);

	switch (q.type) {
	case HYPER_DMABUF_TYPE_EXPORTED:
		type = "exported";
		break;
	case HYPER_DMABUF_TYPE_IMPORTED:
		type = "imported";
		break;
	default:
		type = "unknown";
		break;
	}
	printf("id=0x%08x\n", q.hid.id);
	printf("slot=%u\n", q.hid.id & HYPER_DMABUF_ID_SLOT_MASK);
	printf("id_domid_byte=0x%02x\n",
	       q.hid.id >> HYPER_DMABUF_ID_DOMID_SHIFT);
	printf("key=%08x%08x%08x\n",
	       q.hid.key[0], q.hid.key[1], q.hid.key[2]);
	printf("type=%s\n", type);
	printf("type_raw=%u\n", q.type);
	printf("flags=0x%x\n", q.flags);
	printf("access=%s\n", q.flags & HYPER_DMABUF_EXPORT_RDWR ?
	       "rdwr" : "rdonly");
	printf("exporter_domid=%u\n", q.exporter_domid);
	printf("importer_domid=%u\n", q.importer_domid);
	printf("size=%llu\n", (__u64)q.size);
	printf("busy=%u\n", q.busy);
	printf("unexport_pending=%u\n", q.unexport_pending);
	printf("priv_size=%u\n", q.priv_size);
	printf("priv=");
	print_escaped(stdout, priv, q.priv_size < sizeof(priv) ?
		      q.priv_size : sizeof(priv));
	printf("\n");
	return flush_stdout("query") ? EXIT_FAIL : EXIT_OK;
}

/* ---- watch -------------------------------------------------------------- */

static void print_event(const struct hyper_dmabuf_event *ev)
{
	__u32 len;

	switch (ev->type) {
	case HYPER_DMABUF_EVENT_NEW_IMPORT:
		printf("event=new_import ");
		print_hid(stdout, &ev->hid);
		printf(" size=%llu access=%s", (__u64)ev->size,
		       ev->export_flags & HYPER_DMABUF_EXPORT_RDWR ?
		       "rdwr" : "rdonly");
		if (ev->event_flags & HYPER_DMABUF_EVENT_F_UPDATE)
			printf(" update=1");
		len = ev->priv_size < HYPER_DMABUF_MAX_PRIV ?
		      ev->priv_size : HYPER_DMABUF_MAX_PRIV;
		printf(" priv_size=%u priv=", ev->priv_size);
		print_escaped(stdout, ev->priv, len);
		printf("\n");
		break;
	case HYPER_DMABUF_EVENT_OVERFLOW:
		printf("event=overflow lost=%u\n", ev->lost);
		fprintf(stderr,
			"watch: %u events were lost: the driver queues at most %d per open file\n",
			ev->lost, HYPER_DMABUF_EVENT_QUEUE_LEN);
		break;
	default:
		printf("event=unknown type=%u flags=0x%x\n",
		       ev->type, ev->event_flags);
		break;
	}
}

static int cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct hyper_dmabuf_event ev[16];
	__s64 timeout_ms = -1, start;
	__u64 count = 0, seen = 0, v;
	int c, devfd;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_COUNT:
			if (!parse_u64(optarg, UINT64_MAX, &count) || !count)
				return usage_error("watch", usage_watch,
						   "bad --count N '%s' (at least 1)",
						   optarg);
			break;
		case OPT_TIMEOUT:
			if (!parse_u64(optarg, INT32_MAX, &v))
				return usage_error("watch", usage_watch,
						   "bad --timeout MS '%s'", optarg);
			timeout_ms = v;
			break;
		case 'h':
			print_usage(usage_watch, false);
			return EXIT_OK;
		default:
			print_usage(usage_watch, true);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("watch", usage_watch,
				   "unexpected argument '%s'", argv[optind]);

	devfd = open_dev("watch", HD_DEV, O_RDONLY | O_NONBLOCK, open_errs);
	if (devfd < 0)
		return EXIT_FAIL;
	fprintf(stderr, "watch: ready\n");
	start = now_ms();

	while (!count || seen < count) {
		struct pollfd pfd = { .fd = devfd, .events = POLLIN };
		int timeout = -1, ret;
		ssize_t n, i;

		if (timeout_ms >= 0) {
			__s64 left = timeout_ms - (now_ms() - start);

			timeout = left < 0 ? 0 : (int)left;
		}
		ret = timeout ? poll(&pfd, 1, timeout) : 0;
		if (ret < 0) {
			if (errno == EINTR)
				continue;
			report("watch: poll", errno, NULL);
			return EXIT_FAIL;
		}
		if (!ret) {
			if (!count)
				return EXIT_OK;
			fprintf(stderr,
				"watch: timeout after %lld ms, saw %llu of %llu events\n",
				timeout_ms, seen, count);
			return EXIT_FAIL;
		}
		if (pfd.revents & (POLLERR | POLLNVAL)) {
			fprintf(stderr, "watch: poll reported an error on " HD_DEV "\n");
			return EXIT_FAIL;
		}
		n = read(devfd, ev, sizeof(ev));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			report("watch: read", errno, read_errs);
			return EXIT_FAIL;
		}
		if (!n) {
			fprintf(stderr, "watch: unexpected end of file on " HD_DEV "\n");
			return EXIT_FAIL;
		}
		if (n % sizeof(ev[0])) {
			fprintf(stderr,
				"watch: read returned %zd bytes, not a multiple of %zu: driver and tool disagree on struct hyper_dmabuf_event\n",
				n, sizeof(ev[0]));
			return EXIT_FAIL;
		}
		for (i = 0; i < n / (ssize_t)sizeof(ev[0]); i++) {
			if (count && seen >= count)
				break;	/* the rest is lost, as documented */
			print_event(&ev[i]);
			seen++;
		}
		if (flush_stdout("watch"))
			return EXIT_FAIL;
	}
	close(devfd);
	return EXIT_OK;
}

/* ---- unexport, list, stats ---------------------------------------------- */

static int cmd_unexport(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "delay", required_argument, NULL, OPT_DELAY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct hyper_dmabuf_unexport un = { 0 };
	__u32 delay = 0;
	int c, ret, err, devfd;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_DELAY:
			if (!parse_u32(optarg, HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS,
				       &delay))
				return usage_error("unexport", usage_unexport,
						   "bad --delay MS '%s' (0..%d)",
						   optarg,
						   HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS);
			break;
		case 'h':
			print_usage(usage_unexport, false);
			return EXIT_OK;
		default:
			print_usage(usage_unexport, true);
			return EXIT_USAGE;
		}
	}
	ret = parse_hid_args("unexport", usage_unexport, argc - optind,
			     argv + optind, &un.hid);
	if (ret)
		return ret;

	/*
	 * A file descriptor of our own: the export belongs to another one,
	 * hence HYPER_DMABUF_UNEXPORT_ANY_FILE.
	 */
	devfd = open_dev("unexport", HD_DEV, O_RDWR, open_errs);
	if (devfd < 0)
		return EXIT_FAIL;
	un.delay_ms = delay;
	un.flags = HYPER_DMABUF_UNEXPORT_ANY_FILE;
	ret = ioctl(devfd, HYPER_DMABUF_IOCTL_UNEXPORT, &un);
	err = errno;
	close(devfd);
	if (ret) {
		report("unexport", err, unexport_errs);
		/*
		 * The delay was checked above and the padding is zero: EINVAL
		 * means a driver that does not know the flag.
		 */
		return err == EINVAL || err == ENOTTY ? EXIT_UNSUPP : EXIT_FAIL;
	}
	printf("unexported ");
	print_hid(stdout, &un.hid);
	printf(" delay_ms=%u\n", un.delay_ms);
	return flush_stdout("unexport") ? EXIT_FAIL : EXIT_OK;
}

static int no_args(const char *cmd, const char *usage, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			print_usage(usage, false);
			return -1;
		default:
			print_usage(usage, true);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error(cmd, usage, "unexpected argument '%s'",
				   argv[optind]);
	return 0;
}

/* Rounds of HYPER_DMABUF_IOCTL_LIST before a list that keeps growing is cut. */
#define LIST_TRIES	8

/*
 * All ids of one type: *hids (malloc()ed, NULL if none) gets *n of them.
 * Returns 0 or -errno.  The first call only counts them.
 */
static int list_ids(int devfd, __u32 type, struct hyper_dmabuf_id **hids,
		    __u32 *n)
{
	struct hyper_dmabuf_id *buf = NULL;
	__u32 cap = 0;
	int i, err;

	for (i = 0; ; i++) {
		struct hyper_dmabuf_list l = {
			.hids_ptr = (uintptr_t)buf,
			.type = type,
			.count = cap,
		};

		if (ioctl(devfd, HYPER_DMABUF_IOCTL_LIST, &l)) {
			err = -errno;
			free(buf);
			return err;
		}
		if (l.total <= cap || i + 1 >= LIST_TRIES) {
			if (l.total > cap)
				fprintf(stderr,
					"list: the number of buffers keeps growing, showing %u of %u\n",
					l.count, l.total);
			*hids = buf;
			*n = l.count < cap ? l.count : cap;
			return 0;
		}
		/* Some room for buffers that appear meanwhile. */
		free(buf);
		cap = l.total + 16;
		buf = calloc(cap, sizeof(*buf));
		if (!buf)
			return -ENOMEM;
	}
}

static const char *type_name(__u32 type)
{
	switch (type) {
	case HYPER_DMABUF_TYPE_EXPORTED:
		return "exported";
	case HYPER_DMABUF_TYPE_IMPORTED:
		return "imported";
	default:
		return "unknown";
	}
}

/* One line of list (see usage_list). */
static void print_list_line(const struct hyper_dmabuf_query *q)
{
	__u32 state = q->state & ~HYPER_DMABUF_QUERY_F_PENDING_IDLE;
	const char *sep = "";

	printf("type=%s ", type_name(q->type));
	print_hid(stdout, &q->hid);
	printf(" slot=%u id_domid_byte=0x%02x exporter_domid=%u importer_domid=%u",
	       q->hid.id & HYPER_DMABUF_ID_SLOT_MASK,
	       q->hid.id >> HYPER_DMABUF_ID_DOMID_SHIFT,
	       q->exporter_domid, q->importer_domid);
	printf(" size=%llu access=%s busy=%u priv_size=%u state=",
	       (__u64)q->size,
	       q->flags & HYPER_DMABUF_EXPORT_RDWR ? "rdwr" : "rdonly",
	       q->busy, q->priv_size);
	if (q->state & HYPER_DMABUF_QUERY_F_PENDING_IDLE) {
		printf("pending-idle");
		sep = ",";
	}
	if (q->unexport_pending) {
		printf("%sunexport-pending", sep);
		sep = ",";
	}
	if (state)
		printf("%s0x%x", sep, state);	/* bits newer than the tool */
	else if (!*sep)
		printf("ready");
	printf("\n");
}

/* List the buffers of one type; returns an exit status. */
static int list_type(int devfd, __u32 type)
{
	struct hyper_dmabuf_query *qs = NULL;
	struct hyper_dmabuf_id *hids = NULL;
	int ret = EXIT_OK, err;
	__u32 n = 0, i, shown = 0;
	char op[96];

	snprintf(op, sizeof(op), "list --%s", type_name(type));
	err = -list_ids(devfd, type, &hids, &n);
	if (err) {
		report(op, err, list_errs);
		return err == ENOTTY ? EXIT_UNSUPP : EXIT_FAIL;
	}
	if (n) {
		qs = calloc(n, sizeof(*qs));
		if (!qs) {
			report(op, ENOMEM, NULL);
			free(hids);
			return EXIT_FAIL;
		}
	}
	/* Query all first, so that the header counts what is shown. */
	for (i = 0; i < n; i++) {
		struct hyper_dmabuf_query *q = &qs[shown];

		memset(q, 0, sizeof(*q));
		q->hid = hids[i];
		if (!ioctl(devfd, HYPER_DMABUF_IOCTL_QUERY, q)) {
			shown++;
			continue;
		}
		err = errno;
		if (err == ENOENT)
			continue;	/* gone since the list */
		snprintf(op, sizeof(op), "list: query of id=0x%08x domid=%u",
			 hids[i].id, hids[i].exporter_domid);
		report(op, err, query_errs);
		ret = EXIT_FAIL;
	}
	if (shown)
		printf("%s: %u buffer%s\n", type_name(type), shown,
		       shown == 1 ? "" : "s");
	else
		printf("%s: no buffers\n", type_name(type));
	for (i = 0; i < shown; i++)
		print_list_line(&qs[i]);
	free(qs);
	free(hids);
	return ret;
}

static int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "exported", no_argument, NULL, OPT_EXPORTED },
		{ "imported", no_argument, NULL, OPT_IMPORTED },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool exported = false, imported = false;
	int c, ret, devfd;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_EXPORTED:
			exported = true;
			break;
		case OPT_IMPORTED:
			imported = true;
			break;
		case 'h':
			print_usage(usage_list, false);
			return EXIT_OK;
		default:
			print_usage(usage_list, true);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("list", usage_list,
				   "unexpected argument '%s'", argv[optind]);
	if (!exported && !imported) {
		exported = true;
		imported = true;
	}

	devfd = open_dev("list", HD_DEV, O_RDWR, open_errs);
	if (devfd < 0)
		return EXIT_FAIL;
	ret = exported ? list_type(devfd, HYPER_DMABUF_TYPE_EXPORTED) : EXIT_OK;
	if (imported && ret != EXIT_UNSUPP) {
		int r = list_type(devfd, HYPER_DMABUF_TYPE_IMPORTED);

		if (r != EXIT_OK)
			ret = r;
	}
	close(devfd);
	if (flush_stdout("list"))
		return EXIT_FAIL;
	return ret;
}

static int cmd_stats(int argc, char **argv)
{
	static const char * const files[] = {
		"exported_ids", "imported", "grants_in_use", "mapped_pages",
		"msgs_dropped",
	};
	int ret = no_args("stats", usage_stats, argc, argv);
	char path[256], line[256];
	bool any = false;
	size_t i;

	if (ret)
		return ret < 0 ? EXIT_OK : ret;
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		FILE *f;

		snprintf(path, sizeof(path), HD_DEBUGFS "/%s", files[i]);
		f = fopen(path, "re");
		if (!f) {
			fprintf(stderr, "stats: cannot read %s: %s (%s)\n",
				path, strerror(errno), errname(errno));
			continue;
		}
		while (fgets(line, sizeof(line), f)) {
			char *val, *sp;

			line[strcspn(line, "\n")] = '\0';
			sp = strchr(line, ' ');
			val = sp ? sp + 1 : line;
			if (!*val)
				continue;
			if (sp) {
				*sp = '\0';
				printf("%s_%s=%s\n", files[i], line, val);
			} else {
				printf("%s=%s\n", files[i], val);
			}
			any = true;
		}
		fclose(f);
	}
	if (!any) {
		fprintf(stderr,
			"stats: no counters: is debugfs mounted (mount -t debugfs none /sys/kernel/debug) and the driver loaded?\n");
		return EXIT_FAIL;
	}
	return flush_stdout("stats") ? EXIT_FAIL : EXIT_OK;
}

/* ---- main --------------------------------------------------------------- */

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
};

static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
	{ "export", cmd_export, usage_export },
	{ "import", cmd_import, usage_import },
	{ "query", cmd_query, usage_query },
	{ "watch", cmd_watch, usage_watch },
	{ "unexport", cmd_unexport, usage_unexport },
	{ "list", cmd_list, usage_list },
	{ "stats", cmd_stats, usage_stats },
	{ "help", cmd_help, usage_help },
};

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int cmd_help(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2) {
		print_usage(usage_main, false);
		return EXIT_OK;
	}
	if (argc > 2)
		return usage_error("help", usage_help,
				   "unexpected argument '%s'", argv[2]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return usage_error("help", usage_main,
				   "unknown command '%s'", argv[1]);
	print_usage(cmd->usage, false);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *cmd;
	int c;

	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			verbose++;
			break;
		case 'h':
			print_usage(usage_main, false);
			return EXIT_OK;
		default:
			print_usage(usage_main, true);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "hyper_dmabuf_tool: missing COMMAND\n");
		print_usage(usage_main, true);
		return EXIT_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fprintf(stderr, "hyper_dmabuf_tool: unknown command '%s'\n",
			argv[optind]);
		print_usage(usage_main, true);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0;	/* restart getopt for the command's options */
	return cmd->fn(argc, argv);
}
