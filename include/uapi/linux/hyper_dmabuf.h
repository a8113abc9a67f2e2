/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hyper_dmabuf: share dma-bufs between virtual machine domains
 *
 * Userspace API of the /dev/hyper_dmabuf misc device.
 */
#ifndef _UAPI_LINUX_HYPER_DMABUF_H
#define _UAPI_LINUX_HYPER_DMABUF_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * DOC: hyper_dmabuf userspace API
 *
 * A process opens /dev/hyper_dmabuf and uses the file descriptor to export
 * dma-bufs to another domain (HYPER_DMABUF_IOCTL_EXPORT), to import
 * buffers that another domain exported to this one
 * (HYPER_DMABUF_IOCTL_IMPORT), to withdraw an export
 * (HYPER_DMABUF_IOCTL_UNEXPORT), to inspect a buffer
 * (HYPER_DMABUF_IOCTL_QUERY) and to list the buffers of this domain
 * (HYPER_DMABUF_IOCTL_LIST).
 *
 * Every export made through a file descriptor belongs to it: closing the
 * file descriptor unexports all of them.  A buffer that is still imported
 * somewhere stays valid until the last importer releases it; only then is
 * its id returned to the exporter's id stack.
 *
 * A buffer is named by &struct hyper_dmabuf_id.  Ids are recycled, so each
 * allocation of an id comes with a fresh 96-bit random key; a stale id and
 * key pair never opens a newer buffer that reuses the id (-ENOENT).
 *
 * The key is what opens a buffer: whoever has it may import and query it.
 * It goes to the file descriptor that exported the buffer, and to file
 * descriptors opened with CAP_SYS_ADMIN (in the exporting domain through
 * HYPER_DMABUF_IOCTL_LIST, in the importing domain through events and
 * HYPER_DMABUF_IOCTL_LIST): a compositor or broker, which hands it on.  A
 * file descriptor opened without CAP_SYS_ADMIN sees that buffers exist
 * (ids, sizes, flags) but gets neither their key nor their private data.
 * The privilege is that of the opener, as for any file's credentials.
 *
 * All structures have fixed-size members, explicit padding and 64-bit
 * alignment.  Padding, reserved members and unknown flags must be zero,
 * otherwise the ioctl fails with -EINVAL.  Unknown ioctl commands fail with
 * -ENOTTY.  The size encoded in the ioctl command may be smaller than the
 * kernel's structure (older userspace: missing members read as zero) or
 * larger (newer userspace: the extra bytes must be zero, else -E2BIG).
 * A size below the first version of the structure is -EINVAL.  Every
 * ioctl also fails with -EFAULT when its argument cannot be read or
 * written back, and may fail with -ENOMEM.
 *
 * Loopback: the domain id HYPER_DMABUF_DOMID_SELF (or the local domain id
 * reported by the hypervisor backend, when one is loaded) names the local
 * domain.  Exporting to it needs no hypervisor; importing such a buffer in
 * the same domain yields a new dma-buf that forwards every operation to the
 * original one.  Exporting to any other domain without a backend fails
 * with -ENODEV.
 *
 * An mmap() of a loopback import maps the original dma-buf and holds a
 * reference to it, not to the import: the import (and with it the id of
 * an unexported buffer) is released when its last file descriptor is
 * closed, while such a mapping stays valid until munmap().
 *
 * Implicit fences: an export is announced only once the buffer is idle.
 * HYPER_DMABUF_IOCTL_EXPORT collects the fences pending in the buffer's
 * reservation object (kernel and write fences; for an
 * %HYPER_DMABUF_EXPORT_RDWR export also read fences) and returns the id at
 * once, without waiting.  The announcement (the NEW_IMPORT event and
 * importability, in this domain for loopback, in the peer domain for a
 * remote export) follows when the last of those fences signals.  A remote
 * peer is told at once that the id is pending, so that until the first
 * announcement a query reports %HYPER_DMABUF_QUERY_F_PENDING_IDLE on both
 * sides and an import waits (see &struct hyper_dmabuf_import).  A
 * re-export collects the fences pending at that time and is announced
 * again (an update event) when they signal; a peer that already imported
 * the buffer keeps its import meanwhile, while loopback imports wait.  An
 * unexport, or closing the exporting file, while fences are pending
 * cancels the announcement.  The pages of a remote export are shared at
 * export time: waiting for idle orders the exchange between cooperating
 * domains, it does not protect the buffer from a hostile peer.
 */

/**
 * HYPER_DMABUF_MAX_IDS - maximum number of live ids per exporting domain
 *
 * The 1001st simultaneous export fails with -ENOSPC.
 */
#define HYPER_DMABUF_MAX_IDS		1000

/**
 * HYPER_DMABUF_MAX_IDS_PER_USER - exports one user may hold
 *
 * The quota of a user (the effective uid of the opener), shared by all the
 * file descriptors the user opened without CAP_SYS_ADMIN (a quarter of the
 * domain's ids): the exports they hold, not counting unexported buffers
 * that importers still hold.  Beyond it HYPER_DMABUF_IOCTL_EXPORT fails
 * with -EDQUOT.  A file descriptor opened with CAP_SYS_ADMIN has none and
 * draws on none.
 */
#define HYPER_DMABUF_MAX_IDS_PER_USER	250

/**
 * HYPER_DMABUF_MAX_REMOTE_PAGES_PER_USER - pages one user may share with
 * other domains
 *
 * The quota of a user, shared by all the file descriptors the user opened
 * without CAP_SYS_ADMIN, in pages of the buffers they hold exported to
 * other domains (32 MiB with 4 KiB pages): each such page costs the
 * exporting domain a grant reference.  An export that would go beyond it
 * fails with -EDQUOT.  A file descriptor opened with CAP_SYS_ADMIN has
 * none.  Whoever exports, a
 * domain never gives hyper_dmabuf more than three quarters of its grant
 * references (the Xen backend's grant_budget module parameter): beyond
 * that an export to another domain fails with -ENOSPC, so that the
 * domain's other users of grants (block and network frontends) keep the
 * rest.  A reference counts until the peer has unmapped it.
 */
#define HYPER_DMABUF_MAX_REMOTE_PAGES_PER_USER	8192

/**
 * HYPER_DMABUF_MAX_PRIV - maximum size in bytes of per-buffer private data
 */
#define HYPER_DMABUF_MAX_PRIV		192

/**
 * HYPER_DMABUF_DOMID_SELF - domain id naming the local domain (loopback)
 *
 * Same value as DOMID_SELF in the Xen interface.
 */
#define HYPER_DMABUF_DOMID_SELF		0x7FF0

/**
 * HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS - upper bound of
 * &struct hyper_dmabuf_unexport.delay_ms
 */
#define HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS	10000

/**
 * HYPER_DMABUF_EVENT_QUEUE_LEN - events kept for the readers of the device
 *
 * The domain keeps its last %HYPER_DMABUF_EVENT_QUEUE_LEN events once, for
 * every open file.  A file whose reader falls further behind loses its
 * oldest unread events: its next read() returns an
 * %HYPER_DMABUF_EVENT_OVERFLOW event with their number first.
 */
#define HYPER_DMABUF_EVENT_QUEUE_LEN	64

/**
 * HYPER_DMABUF_ID_DOMID_SHIFT - position of the exporter domain byte in an id
 */
#define HYPER_DMABUF_ID_DOMID_SHIFT	24

/**
 * HYPER_DMABUF_ID_SLOT_MASK - bits of an id holding the per-domain slot
 */
#define HYPER_DMABUF_ID_SLOT_MASK	0x00ffffffU

/**
 * struct hyper_dmabuf_id - globally unique name of a shared buffer
 * @id: bits 31..24: low 8 bits of the exporter's domain id;
 *	bits 23..0: slot in the exporter's id stack (0..999)
 * @exporter_domid: full domain id of the exporter
 * @key: 96-bit random key, renewed every time the id is allocated
 * @pad: must be zero
 */
struct hyper_dmabuf_id {
	__u32 id;
	__u32 exporter_domid;
	__u32 key[3];
	__u32 pad;
};

/**
 * HYPER_DMABUF_EXPORT_RDWR - importers may map the buffer for writing
 *
 * Without this flag an export is read-only and imports requesting O_RDWR
 * or O_WRONLY fail with -EACCES.
 */
#define HYPER_DMABUF_EXPORT_RDWR	0x1U

/**
 * HYPER_DMABUF_EXPORT_VALID_FLAGS - all flags accepted by
 * HYPER_DMABUF_IOCTL_EXPORT
 */
#define HYPER_DMABUF_EXPORT_VALID_FLAGS	HYPER_DMABUF_EXPORT_RDWR

/**
 * struct hyper_dmabuf_export - argument of HYPER_DMABUF_IOCTL_EXPORT
 * @fd: in: dma-buf file descriptor to export
 * @remote_domid: in: domain allowed to import the buffer
 * @flags: in: HYPER_DMABUF_EXPORT_* flags
 * @priv_size: in: bytes of private data at @priv_ptr,
 *	at most %HYPER_DMABUF_MAX_PRIV
 * @priv_ptr: in: user pointer to private data passed to the importer
 * @hid: out: id of the export
 *
 * Exporting the same dma-buf to the same domain again through the same
 * file descriptor, with the same flags, only replaces the private data and
 * returns the existing id (no new sharing is set up).  Different flags for
 * such a re-export fail with -EINVAL.  A read-only dma-buf cannot be
 * exported with %HYPER_DMABUF_EXPORT_RDWR (-EACCES).
 */
struct hyper_dmabuf_export {
	__s32 fd;
	__u32 remote_domid;
	__u32 flags;
	__u32 priv_size;
	__u64 priv_ptr;
	struct hyper_dmabuf_id hid;
};

/**
 * HYPER_DMABUF_IMPORT_NONBLOCK - do not wait for a pending announcement
 *
 * An import of a buffer whose export is still waiting for its fences
 * fails with -EAGAIN instead of waiting.
 */
#define HYPER_DMABUF_IMPORT_NONBLOCK	0x1U

/**
 * HYPER_DMABUF_IMPORT_VALID_FLAGS - all flags accepted in
 * &struct hyper_dmabuf_import.flags
 */
#define HYPER_DMABUF_IMPORT_VALID_FLAGS	HYPER_DMABUF_IMPORT_NONBLOCK

/**
 * struct hyper_dmabuf_import - argument of HYPER_DMABUF_IOCTL_IMPORT
 * @hid: in: id of the buffer, as received from the exporter
 * @fd_flags: in: O_CLOEXEC and an access mode: O_RDONLY, or O_WRONLY or
 *	O_RDWR if the export allows writing (-EACCES if it does not); any
 *	other flag is -EINVAL
 * @fd: out: dma-buf file descriptor of the imported buffer
 * @flags: in: HYPER_DMABUF_IMPORT_* flags; unknown flags are -EINVAL
 * @timeout_ms: in: longest time to wait for a pending announcement,
 *	0 to wait without limit; ignored with %HYPER_DMABUF_IMPORT_NONBLOCK
 *
 * An import of a buffer whose fences have not signalled yet waits until
 * the export is announced (or unexported, or its domain goes away:
 * -ENOENT).  For a remote buffer this holds once the exporting domain has
 * sent its pending notice, which it does at export time; before that the
 * id is unknown here (-ENOENT).  Without a timeout the wait lasts as long
 * as the exporter's fences, so importers of remote buffers should set
 * one; the first version of this structure (no timeout) waits without
 * limit too.  The wait is interruptible: -ERESTARTSYS without a timeout,
 * -EINTR with one.  It
 * fails with -ETIMEDOUT after @timeout_ms and with -EAGAIN at once with
 * %HYPER_DMABUF_IMPORT_NONBLOCK.  @flags and @timeout_ms were added in the
 * second version of the structure; older userspace passes the 32-byte
 * first version, which reads as both being zero.
 */
struct hyper_dmabuf_import {
	struct hyper_dmabuf_id hid;
	__u32 fd_flags;
	__s32 fd;
	__u32 flags;
	__u32 timeout_ms;
};

/**
 * HYPER_DMABUF_UNEXPORT_ANY_FILE - unexport a buffer exported through
 * another file descriptor of this domain
 *
 * The caller needs CAP_SYS_ADMIN (-EPERM otherwise) and the full id with
 * its key.  This lets a command-line tool withdraw an export held by a
 * long-running process.
 */
#define HYPER_DMABUF_UNEXPORT_ANY_FILE	0x1U

/**
 * HYPER_DMABUF_UNEXPORT_VALID_FLAGS - all flags accepted in
 * &struct hyper_dmabuf_unexport.flags
 */
#define HYPER_DMABUF_UNEXPORT_VALID_FLAGS	HYPER_DMABUF_UNEXPORT_ANY_FILE

/**
 * struct hyper_dmabuf_unexport - argument of HYPER_DMABUF_IOCTL_UNEXPORT
 * @hid: in: id of an export made through this file descriptor (or, with
 *	%HYPER_DMABUF_UNEXPORT_ANY_FILE, through any file of this domain)
 * @delay_ms: in: time the export is kept at least, even with no importer
 *	left, at most %HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS: an import already
 *	under way in another domain when the ioctl returns then still finds
 *	it
 * @flags: in: HYPER_DMABUF_UNEXPORT_* flags; unknown flags are -EINVAL
 *	(this member was named pad and had to be zero before)
 *
 * The buffer can no longer be imported in this domain once the ioctl
 * returns, nor in the other domain once the withdrawal has reached it
 * (it is sent at once).  Existing imports keep working; the id is released
 * when the last one is closed, and not before the delay is over.
 */
struct hyper_dmabuf_unexport {
	struct hyper_dmabuf_id hid;
	__u32 delay_ms;
	__u32 flags;
};

/**
 * enum hyper_dmabuf_buf_type - kind of buffer reported by a query
 * @HYPER_DMABUF_TYPE_EXPORTED: exported by this domain
 * @HYPER_DMABUF_TYPE_IMPORTED: exported by another domain to this one
 */
enum hyper_dmabuf_buf_type {
	HYPER_DMABUF_TYPE_EXPORTED = 1,
	HYPER_DMABUF_TYPE_IMPORTED = 2,
};

/**
 * HYPER_DMABUF_QUERY_F_PENDING_IDLE - &struct hyper_dmabuf_query.state bit:
 * the export waits for its fences to signal before it is announced
 *
 * Until the announcement, imports wait (or fail with -EAGAIN), in this
 * domain for loopback and in the peer domain for a remote export, and no
 * NEW_IMPORT event is sent.  Reported by the exporter and, for a remote
 * export, by the importing domain.
 */
#define HYPER_DMABUF_QUERY_F_PENDING_IDLE	0x1U

/**
 * struct hyper_dmabuf_query - argument of HYPER_DMABUF_IOCTL_QUERY
 * @hid: in: id of the buffer
 * @priv_ptr: in: user buffer receiving the private data (may be 0)
 * @priv_buf_size: in: size of the buffer at @priv_ptr; at most this many
 *	bytes of private data are copied
 * @pad: in: must be zero
 * @type: out: &enum hyper_dmabuf_buf_type
 * @flags: out: HYPER_DMABUF_EXPORT_* flags of the export
 * @exporter_domid: out: exporting domain
 * @importer_domid: out: domain the buffer was exported to
 * @size: out: buffer size in bytes
 * @busy: out: number of active imports
 * @unexport_pending: out: 1 if the buffer has been unexported but is still
 *	imported (or waiting for its unexport delay)
 * @priv_size: out: full size of the private data
 * @state: out: HYPER_DMABUF_QUERY_F_* bits (this member was named pad2
 *	and always zero before)
 */
struct hyper_dmabuf_query {
	struct hyper_dmabuf_id hid;
	__u64 priv_ptr;
	__u32 priv_buf_size;
	__u32 pad;
	__u32 type;
	__u32 flags;
	__u32 exporter_domid;
	__u32 importer_domid;
	__u64 size;
	__u32 busy;
	__u32 unexport_pending;
	__u32 priv_size;
	__u32 state;
};

/**
 * struct hyper_dmabuf_list - argument of HYPER_DMABUF_IOCTL_LIST
 * @hids_ptr: in: user array of &struct hyper_dmabuf_id receiving the ids
 *	(may be 0 when @count is 0)
 * @type: in: &enum hyper_dmabuf_buf_type: the exports of this domain
 *	(made through any of its files, including unexported ones that are
 *	still imported or within their unexport delay) or the buffers other
 *	domains exported to it (including those still waiting for their
 *	fences, and withdrawn ones that are still imported here)
 * @count: in: number of entries @hids_ptr can hold; out: number of
 *	entries written, at most the value passed in
 * @total: out: number of such buffers, which may exceed @count
 * @pad: in: must be zero
 *
 * The ids come in no particular order and describe one moment; use
 * HYPER_DMABUF_IOCTL_QUERY for the details of each.  To a file
 * descriptor opened without CAP_SYS_ADMIN, the key of an export made
 * through another file descriptor, and of every buffer another domain
 * exported, is returned as zero: the id and exporter domid name it, the
 * key that opens it stays with its owner, its peer and the administrator.
 */
struct hyper_dmabuf_list {
	__u64 hids_ptr;
	__u32 type;
	__u32 count;
	__u32 total;
	__u32 pad;
};

/**
 * enum hyper_dmabuf_event_type - type of &struct hyper_dmabuf_event
 * @HYPER_DMABUF_EVENT_NEW_IMPORT: a buffer was exported to this domain and
 *	can be imported; for loopback exports every open file of the local
 *	domain gets this event, including the exporting one.  A re-export
 *	(private data update) sends it again with
 *	%HYPER_DMABUF_EVENT_F_UPDATE set.  Files opened without
 *	CAP_SYS_ADMIN get it with the key and the private data zeroed.
 * @HYPER_DMABUF_EVENT_OVERFLOW: the reader fell behind by more than
 *	%HYPER_DMABUF_EVENT_QUEUE_LEN events: the
 *	&struct hyper_dmabuf_event.lost oldest unread ones were dropped
 *	before the events that follow (a reader that falls behind again
 *	gets another such event)
 */
enum hyper_dmabuf_event_type {
	HYPER_DMABUF_EVENT_NEW_IMPORT = 1,
	HYPER_DMABUF_EVENT_OVERFLOW = 2,
};

/**
 * HYPER_DMABUF_EVENT_F_UPDATE - event reports new private data for a
 * buffer that was announced before
 */
#define HYPER_DMABUF_EVENT_F_UPDATE	0x1U

/**
 * struct hyper_dmabuf_event - record returned by read() on the device
 * @type: &enum hyper_dmabuf_event_type
 * @event_flags: HYPER_DMABUF_EVENT_F_* flags
 * @hid: id of the buffer (zero for overflow events)
 * @size: size of the buffer in bytes
 * @export_flags: HYPER_DMABUF_EXPORT_* flags of the export
 * @priv_size: bytes of valid data in @priv
 * @lost: number of dropped events (overflow events only)
 * @pad: zero
 * @priv: copy of the exporter's private data
 *
 * read() returns whole records only; a buffer smaller than one record
 * fails with -EINVAL.  A record is consumed only once it was copied: if
 * the buffer cannot be written, read() returns the records copied so far,
 * or -EFAULT if none, and the next read() starts with the record that
 * could not be copied (or with an %HYPER_DMABUF_EVENT_OVERFLOW record if
 * the file fell too far behind meanwhile).  poll() reports EPOLLIN when a
 * record is available.
 */
struct hyper_dmabuf_event {
	__u32 type;
	__u32 event_flags;
	struct hyper_dmabuf_id hid;
	__u64 size;
	__u32 export_flags;
	__u32 priv_size;
	__u32 lost;
	__u32 pad;
	__u8 priv[HYPER_DMABUF_MAX_PRIV];
};

#define HYPER_DMABUF_IOC_MAGIC		0xB9

/**
 * DOC: HYPER_DMABUF_IOCTL_EXPORT - export a dma-buf to a domain
 *
 * Takes &struct hyper_dmabuf_export.  Errors: -EBADF (not an open file
 * descriptor), -EINVAL (a file that is not a dma-buf, bad flags, padding
 * or private size, or a domain id the hypervisor reserves, such as Xen's
 * DOMID_FIRST_RESERVED (0x7FF0) and above other than
 * %HYPER_DMABUF_DOMID_SELF), -ENOSPC (1000 live ids),
 * -EDQUOT (%HYPER_DMABUF_MAX_IDS_PER_USER exports held by the user's file
 * descriptors opened without CAP_SYS_ADMIN, or
 * %HYPER_DMABUF_MAX_REMOTE_PAGES_PER_USER pages they share with other
 * domains), -ENODEV (remote domain and
 * no hypervisor backend), -EACCES (RDWR export of a read-only dma-buf, or,
 * from a domU, a domU that dom0 did not allow sharing with), -ESRCH (from
 * dom0, no such domain), -EOPNOTSUPP (memory that is not RAM with struct
 * pages), -EFBIG (larger than 1 GiB), -ENOSPC (also: the domain's grant
 * budget for hyper_dmabuf, or its grant table, is full), -ETIMEDOUT (the
 * channel to the domain did not come up: no hyper_dmabuf there),
 * -ECONNRESET (the domain went away), -EAGAIN (64 messages are already
 * waiting for the domain: it does not drain its channel; or 512
 * withdrawals and releases wait for its acknowledgment), -EFAULT (the
 * argument cannot be read, or the id cannot be written back: a new export
 * is then withdrawn again, as by an UNEXPORT without delay).  Never waits
 * for the buffer's fences; the announcement follows when they have
 * signalled.
 */
#define HYPER_DMABUF_IOCTL_EXPORT	_IOWR(HYPER_DMABUF_IOC_MAGIC, 0x0, \
					      struct hyper_dmabuf_export)

/**
 * DOC: HYPER_DMABUF_IOCTL_IMPORT - import a buffer exported to this domain
 *
 * Takes &struct hyper_dmabuf_import and returns a new dma-buf fd.  Errors:
 * -ENOENT (unknown id, wrong key or domain, or already unexported),
 * -EACCES (write access to a read-only export), -EINVAL (bad fd flags or
 * import flags), -EIO (the exporter's grants could not be mapped),
 * -EAGAIN (also: 64 messages are already waiting for the exporter, or
 * 512 releases and withdrawals wait for its acknowledgment),
 * -EBADMSG (malformed page directory), -EAGAIN (announcement pending and
 * %HYPER_DMABUF_IMPORT_NONBLOCK), -ETIMEDOUT (announcement still pending
 * after &struct hyper_dmabuf_import.timeout_ms), -EINTR or -ERESTARTSYS
 * (signal while waiting), -EMFILE (no file descriptor left).
 */
#define HYPER_DMABUF_IOCTL_IMPORT	_IOWR(HYPER_DMABUF_IOC_MAGIC, 0x1, \
					      struct hyper_dmabuf_import)

/**
 * DOC: HYPER_DMABUF_IOCTL_UNEXPORT - withdraw an export
 *
 * Takes &struct hyper_dmabuf_unexport.  Only the file descriptor that made
 * the export can unexport it (-ENOENT otherwise), unless
 * %HYPER_DMABUF_UNEXPORT_ANY_FILE is set (-EPERM without CAP_SYS_ADMIN).
 * Errors: -ENOENT (unknown id, wrong key or domain, already unexported, or
 * another file's export), -EPERM, -EINVAL (bad flags or padding, or a
 * delay beyond %HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS).
 */
#define HYPER_DMABUF_IOCTL_UNEXPORT	_IOW(HYPER_DMABUF_IOC_MAGIC, 0x2, \
					     struct hyper_dmabuf_unexport)

/**
 * DOC: HYPER_DMABUF_IOCTL_QUERY - describe an exported or imported buffer
 *
 * Takes &struct hyper_dmabuf_query.  Exports are searched first, then
 * buffers announced to this domain.  Errors: -ENOENT (unknown id, wrong key
 * or domain), -EINVAL (padding), -EFAULT (also: @priv_ptr not writable for
 * the private data to write).
 */
#define HYPER_DMABUF_IOCTL_QUERY	_IOWR(HYPER_DMABUF_IOC_MAGIC, 0x3, \
					      struct hyper_dmabuf_query)

/**
 * DOC: HYPER_DMABUF_IOCTL_LIST - list the ids of exported or imported buffers
 *
 * Takes &struct hyper_dmabuf_list.  Errors: -EINVAL (bad type or padding),
 * -EFAULT (@hids_ptr not writable for the entries to write).
 */
#define HYPER_DMABUF_IOCTL_LIST		_IOWR(HYPER_DMABUF_IOC_MAGIC, 0x4, \
					      struct hyper_dmabuf_list)

#endif /* _UAPI_LINUX_HYPER_DMABUF_H */
