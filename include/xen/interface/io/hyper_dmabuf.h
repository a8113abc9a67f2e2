/* SPDX-License-Identifier: MIT */
/*
 * hyper_dmabuf: the protocol between two Xen domains that share dma-bufs
 *
 * The DOC sections below describe it.
 * Documentation/driver-api/hyper_dmabuf.rst brings them together with the
 * rest of the driver's documentation, where the exchange of messages and
 * its state machine are described too.
 */
#ifndef __XEN_PUBLIC_IO_HYPER_DMABUF_H__
#define __XEN_PUBLIC_IO_HYPER_DMABUF_H__

#include <linux/build_bug.h>
#include <linux/types.h>

/**
 * DOC: Protocol between Xen domains
 *
 * A domain exports a buffer (a dma-buf) to another domain by granting the
 * other domain its pages, and announces it with a message; the other
 * domain maps the granted pages and turns them into a local dma-buf.  Any
 * two domains may share: dom0 and a domU, or two domUs that dom0 allowed
 * to see each other.  Both sides run the same code: there is no frontend
 * or backend, each domain exports and imports.
 *
 * All multi-byte fields are little-endian, the byte order of every
 * architecture Xen supports.
 */

/**
 * DOC: Channels and xenstore
 *
 * A pair of domains talks over two rings of one page each, one per
 * direction.  A ring belongs to its sender, which grants it to the peer
 * together with an unbound event channel and publishes both in xenstore
 * as its offer.  The pair's directory is::
 *
 *   /local/domain/<host>/data/hyper_dmabuf/pair/<other>
 *
 * in the home of the domU of the pair, <host> (of the domU with the lower
 * domid for two domUs), where that domU can write and dom0 can read and
 * write.  In it, the node named after a domain's own domid holds that
 * domain's offer::
 *
 *   <pair dir>/<own domid> = "1 <gref> <port> <nonce>"
 *
 * the version of the channel (1), the grant reference of the sender's
 * ring page, its unbound event channel, and a 64-bit random nonce in hex
 * that tells a restarted peer from the old one; or "" once withdrawn.  A
 * domain that sees its peer's offer maps the peer's ring, binds the event
 * channel and answers with an offer of its own, so that the first export
 * to a domain brings the channel up.  A withdrawn or vanished offer, or
 * one with a new nonce, resets the channel: each side then forgets what it
 * shared with the other.
 *
 * Two domUs cannot see each other's nodes unless dom0 allows the pair: it
 * creates the pair directory in the home of the lower domid, owned by that
 * domain and writable by the other, with the other's offer node already
 * in it, and marks the pair in both homes::
 *
 *   /local/domain/<lo>/data/hyper_dmabuf/pair/<hi>/<hi> = ""
 *   /local/domain/<lo>/data/hyper_dmabuf/allow/<hi> = ""
 *   /local/domain/<hi>/data/hyper_dmabuf/allow/<lo> = ""
 *
 * Why no xenbus device: xenbus devices are pairs of a frontend and a
 * backend that the toolstack creates in xenstore when it builds a domain,
 * one per configured device.  hyper_dmabuf channels are neither: they
 * join any two domains, both of which export and import, they come up on
 * the first export between them and go when both sides are idle, and a
 * domain starts no channel it does not use.  So the driver keeps its
 * nodes in the data area of the domains' homes and uses the xenstore
 * calls directly.
 */

/**
 * DOC: Rings
 *
 * A ring page (&struct hyper_dmabuf_ring) holds %HYPER_DMABUF_RING_SLOTS
 * slots of %HYPER_DMABUF_MSG_SIZE bytes.  Its owner sends: it writes
 * message number n into slot n modulo %HYPER_DMABUF_RING_SLOTS, then
 * advances ``prod`` (free-running, wrapping at 2^32) and notifies the
 * event channel.  The peer consumes: it copies the slot out, validates the
 * copy, then advances ``cons`` and notifies.  A slot is free again once
 * ``cons`` passed it.  ``prod - cons`` greater than
 * %HYPER_DMABUF_RING_SLOTS is a corrupt ring: the channel is reset.
 *
 * Why not the ring macros of ring.h: DEFINE_RING_TYPES builds a
 * request/response ring, where a frontend's request slot is reused for
 * the backend's response.  hyper_dmabuf messages go both ways and none is
 * answered in its slot (an acknowledgment is a message of its own, in
 * the other direction, and may come much later), so each direction is a
 * plain single-producer queue; with the standard ring each side would
 * have to post empty responses to free its slots.
 */

/**
 * DOC: Messages
 *
 * Each ring slot carries one &struct hyper_dmabuf_msg_wire.  Every message
 * carries the buffer's id, its exporter's domain id and its key (the id
 * and key together name one buffer: ids are reused, keys are not).  The
 * exporting domain sends:
 *
 * ``PENDING``
 *   the buffer exists and will be announced once its fences have
 *   signalled (id, key, size and flags only);
 * ``EXPORT``
 *   the buffer can be imported (with the grant reference of the first page
 *   directory page and the private data), or, for a buffer announced
 *   before, new private data;
 * ``UNEXPORT``
 *   the buffer is withdrawn: no new import.
 *
 * The importing domain sends:
 *
 * ``IMPORTED``
 *   it mapped the buffer (once, for all its local users);
 * ``RELEASED``
 *   it unmapped the buffer (its last local user let go).
 *
 * The importer numbers its mappings of a buffer: ``IMPORTED`` and
 * ``RELEASED`` carry the number of the mapping they begin and end, in
 * their flags.
 *
 * ``ACK`` acknowledges an ``UNEXPORT`` (sent by the importer) or a
 * ``RELEASED`` (sent by the exporter); the operation acknowledged is in
 * bits 0-7 of the message's flags (and, for a ``RELEASED``, the low 24
 * bits of its mapping's number in bits 8-31), with the id and key of the
 * message acknowledged.  ``UNEXPORT`` and ``RELEASED`` are sent again
 * until they are acknowledged.
 *
 * A receiver checks every field against what it knows, drops a message
 * that does not fit, and answers every well-formed ``UNEXPORT`` and
 * ``RELEASED`` with an ``ACK``, even one that finds nothing.
 */

/**
 * DOC: Page directory
 *
 * The exporter lists the grant references of a buffer's pages in
 * directory pages (&struct hyper_dmabuf_dir_page) that it grants read-only
 * to the importer; ``EXPORT`` carries the first one's reference in its
 * ``ref`` field, and each directory page names the next.  The importer
 * checks the magic, the counts against the buffer size announced, and that
 * the chain neither loops nor runs past the buffer's pages.
 */

/* ---- messages ------------------------------------------------------------ */

#define HYPER_DMABUF_MSG_VERSION	1

/* Bytes of private data a message carries at most. */
#define HYPER_DMABUF_MSG_PRIV		192

/**
 * enum hyper_dmabuf_msg_op - operations exchanged between domains
 * @HYPER_DMABUF_OP_EXPORT: exporter announces a buffer (or new private data)
 * @HYPER_DMABUF_OP_UNEXPORT: exporter withdraws a buffer
 * @HYPER_DMABUF_OP_IMPORTED: importer mapped the buffer
 * @HYPER_DMABUF_OP_RELEASED: importer dropped its last mapping
 * @HYPER_DMABUF_OP_ACK: acknowledgment of an UNEXPORT or a RELEASED (the
 *	operation in @flags, with its id and key)
 * @HYPER_DMABUF_OP_PENDING: exporter tells of a buffer that it will
 *	announce once its fences signal (id, key, size and flags only)
 * @HYPER_DMABUF_OP_MAX: number of operations
 */
enum hyper_dmabuf_msg_op {
	HYPER_DMABUF_OP_EXPORT = 1,
	HYPER_DMABUF_OP_UNEXPORT,
	HYPER_DMABUF_OP_IMPORTED,
	HYPER_DMABUF_OP_RELEASED,
	HYPER_DMABUF_OP_ACK,
	HYPER_DMABUF_OP_PENDING,
	HYPER_DMABUF_OP_MAX,
};

/**
 * struct hyper_dmabuf_msg_wire - one message, as carried in a ring slot
 * @version: %HYPER_DMABUF_MSG_VERSION
 * @op: &enum hyper_dmabuf_msg_op
 * @size: sizeof(struct hyper_dmabuf_msg_wire)
 * @sender_domid: domain sending the message
 * @id: buffer id; its top byte is the low byte of the exporter's domid
 * @exporter_domid: exporter of the buffer
 * @key: key of the buffer: ids are reused, keys are not
 * @flags: export flags (EXPORT and PENDING: bit 0 read-write), the
 *	sequence number of the importer's mapping (IMPORTED and RELEASED),
 *	the operation acknowledged in bits 0-7 and, for a RELEASED, the low
 *	24 bits of its sequence number in bits 8-31 (ACK), else zero
 * @priv_size: bytes of @priv in use (EXPORT only, else zero)
 * @buf_size: buffer size in bytes, page aligned (EXPORT and PENDING, else
 *	zero)
 * @ref: grant reference of the first page directory page (EXPORT only,
 *	else zero)
 * @reserved: zero
 * @priv: private data of the exporter, zero beyond @priv_size
 */
struct hyper_dmabuf_msg_wire {
	__le16 version;
	__le16 op;
	__le32 size;
	__le32 sender_domid;
	__le32 id;
	__le32 exporter_domid;
	__le32 key[3];
	__le32 flags;
	__le32 priv_size;
	__le64 buf_size;
	__le64 ref;
	__le64 reserved;
	__u8 priv[HYPER_DMABUF_MSG_PRIV];
};

/* ---- rings ------------------------------------------------------------- */

#define HYPER_DMABUF_RING_SLOTS		8
#define HYPER_DMABUF_MSG_SIZE		256

/**
 * struct hyper_dmabuf_ring - layout of a ring page
 * @prod: messages produced; written by the sender only
 * @pad0: keeps @cons on its own cache line
 * @cons: messages consumed; written by the receiver only
 * @pad1: keeps @slot on its own cache lines
 * @slot: messages, slot i % %HYPER_DMABUF_RING_SLOTS holds message i
 */
struct hyper_dmabuf_ring {
	__le32 prod;
	__u8 pad0[60];
	__le32 cons;
	__u8 pad1[60];
	__u8 slot[HYPER_DMABUF_RING_SLOTS][HYPER_DMABUF_MSG_SIZE];
};

static_assert(sizeof(struct hyper_dmabuf_msg_wire) <= HYPER_DMABUF_MSG_SIZE);
static_assert(sizeof(struct hyper_dmabuf_ring) <= 4096);

/* ---- page directory ------------------------------------------------------ */

#define HYPER_DMABUF_DIR_MAGIC		0x52444448	/* "HDDR" */

/* References one directory page of 4096 bytes holds. */
#define HYPER_DMABUF_DIR_REFS		((4096 - 16) / sizeof(__le32))

/**
 * struct hyper_dmabuf_dir_page - layout of one page directory page
 * @magic: %HYPER_DMABUF_DIR_MAGIC
 * @count: references in @refs, at most %HYPER_DMABUF_DIR_REFS
 * @next: grant reference of the next directory page, 0 on the last
 * @pad: zero
 * @refs: grant references of consecutive pages of the buffer
 */
struct hyper_dmabuf_dir_page {
	__le32 magic;
	__le32 count;
	__le32 next;
	__le32 pad;
	__le32 refs[];
};

#endif /* __XEN_PUBLIC_IO_HYPER_DMABUF_H__ */
