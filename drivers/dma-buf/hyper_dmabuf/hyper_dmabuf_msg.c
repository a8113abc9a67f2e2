// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: codec of the messages exchanged between domains
 *
 * Messages have a fixed size and a fixed little-endian layout
 * (struct hyper_dmabuf_msg_wire).
 */
#include <linux/build_bug.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/string.h>

#include "hyper_dmabuf_drv.h"

/**
 * DOC: Hostile peers
 *
 * Another domain is not trusted.  Everything read from a ring or a page
 * directory is validated once, copied, and checked against the receiver's
 * own tables: the decoder (hyper_dmabuf_msg_decode()) trusts nothing and
 * checks every field, then hyper_dmabuf_core_rx() checks the message
 * against the state of the buffer it names.  A message that does not fit
 * (bad size, version, operation, sender, domain byte, id, flags, private
 * size, buffer size or reserved field; an unknown id or key; a message
 * that does not fit the buffer's state) is dropped and counted per reason
 * (&enum hyper_dmabuf_drop_reason) in debugfs ``msgs_dropped``.  A peer
 * can make the receiver send at most one ``ACK`` per message it sends,
 * within the bounded send queue.
 */

/* Highest domain id that names a real domain (DOMID_FIRST_RESERVED - 1). */
#define HYPER_DMABUF_MAX_DOMID	0x7FEF

static_assert(sizeof(struct hyper_dmabuf_msg_wire) == 256);

const char *const hyper_dmabuf_drop_names[HYPER_DMABUF_DROP_MAX] = {
	[HYPER_DMABUF_DROP_LEN] = "len",
	[HYPER_DMABUF_DROP_VERSION] = "version",
	[HYPER_DMABUF_DROP_SIZE] = "size",
	[HYPER_DMABUF_DROP_OP] = "op",
	[HYPER_DMABUF_DROP_SENDER] = "sender",
	[HYPER_DMABUF_DROP_DOMID] = "domid",
	[HYPER_DMABUF_DROP_ID] = "id",
	[HYPER_DMABUF_DROP_FLAGS] = "flags",
	[HYPER_DMABUF_DROP_PRIV] = "priv",
	[HYPER_DMABUF_DROP_BUFSIZE] = "bufsize",
	[HYPER_DMABUF_DROP_RESERVED] = "reserved",
	[HYPER_DMABUF_DROP_KEY] = "key",
	[HYPER_DMABUF_DROP_STATE] = "state",
	[HYPER_DMABUF_DROP_NOMEM] = "nomem",
	[HYPER_DMABUF_DROP_REPEAT] = "repeat",
};

/**
 * hyper_dmabuf_msg_encode() - convert a message to its wire format
 * @msg: message in CPU byte order
 * @wire: filled with the wire format, including version and size
 */
void hyper_dmabuf_msg_encode(const struct hyper_dmabuf_msg *msg,
			     struct hyper_dmabuf_msg_wire *wire)
{
	u32 priv_size = min_t(u32, msg->priv_size, HYPER_DMABUF_MAX_PRIV);
	int i;

	memset(wire, 0, sizeof(*wire));
	wire->version = cpu_to_le16(HYPER_DMABUF_MSG_VERSION);
	wire->op = cpu_to_le16(msg->op);
	wire->size = cpu_to_le32(sizeof(*wire));
	wire->sender_domid = cpu_to_le32(msg->sender_domid);
	wire->id = cpu_to_le32(msg->hid.id);
	wire->exporter_domid = cpu_to_le32(msg->hid.exporter_domid);
	for (i = 0; i < ARRAY_SIZE(wire->key); i++)
		wire->key[i] = cpu_to_le32(msg->hid.key[i]);
	wire->flags = cpu_to_le32(msg->flags);
	wire->priv_size = cpu_to_le32(priv_size);
	wire->buf_size = cpu_to_le64(msg->buf_size);
	wire->ref = cpu_to_le64(msg->ref);
	memcpy(wire->priv, msg->priv, priv_size);
}

static enum hyper_dmabuf_drop_reason
hyper_dmabuf_msg_check(const struct hyper_dmabuf_msg_wire *wire, u32 peer,
		       u32 local, struct hyper_dmabuf_msg *msg)
{
	bool exp, desc;
	int i;

	if (le16_to_cpu(wire->version) != HYPER_DMABUF_MSG_VERSION)
		return HYPER_DMABUF_DROP_VERSION;
	if (le32_to_cpu(wire->size) != sizeof(*wire))
		return HYPER_DMABUF_DROP_SIZE;

	msg->op = le16_to_cpu(wire->op);
	if (msg->op < HYPER_DMABUF_OP_EXPORT || msg->op >= HYPER_DMABUF_OP_MAX)
		return HYPER_DMABUF_DROP_OP;
	exp = msg->op == HYPER_DMABUF_OP_EXPORT;
	/* A pending notice describes the buffer, without ref or priv. */
	desc = exp || msg->op == HYPER_DMABUF_OP_PENDING;

	msg->sender_domid = le32_to_cpu(wire->sender_domid);
	if (msg->sender_domid != peer)
		return HYPER_DMABUF_DROP_SENDER;

	msg->hid.id = le32_to_cpu(wire->id);
	msg->hid.exporter_domid = le32_to_cpu(wire->exporter_domid);
	msg->hid.pad = 0;
	for (i = 0; i < ARRAY_SIZE(wire->key); i++)
		msg->hid.key[i] = le32_to_cpu(wire->key[i]);
	if (msg->hid.exporter_domid > HYPER_DMABUF_MAX_DOMID ||
	    hyper_dmabuf_id_domid_byte(msg->hid.id) !=
	    (msg->hid.exporter_domid & 0xff))
		return HYPER_DMABUF_DROP_DOMID;
	msg->flags = le32_to_cpu(wire->flags);
	if (msg->op == HYPER_DMABUF_OP_ACK) {
		/* The operation acknowledged, and a RELEASED's mapping. */
		if (msg->flags != HYPER_DMABUF_OP_UNEXPORT &&
		    (msg->flags & 0xff) != HYPER_DMABUF_OP_RELEASED)
			return HYPER_DMABUF_DROP_FLAGS;
	} else if (msg->op != HYPER_DMABUF_OP_IMPORTED &&
		   msg->op != HYPER_DMABUF_OP_RELEASED &&
		   msg->flags & ~(desc ? HYPER_DMABUF_EXPORT_VALID_FLAGS : 0)) {
		/* IMPORTED and RELEASED number the mapping: any value. */
		return HYPER_DMABUF_DROP_FLAGS;
	}
	/*
	 * Exporters announce and withdraw (and acknowledge releases),
	 * importers answer (and acknowledge withdrawals).
	 */
	if (desc || msg->op == HYPER_DMABUF_OP_UNEXPORT ||
	    (msg->op == HYPER_DMABUF_OP_ACK &&
	     (msg->flags & 0xff) == HYPER_DMABUF_OP_RELEASED)) {
		if (msg->hid.exporter_domid != peer)
			return HYPER_DMABUF_DROP_DOMID;
	} else if (msg->hid.exporter_domid != local) {
		return HYPER_DMABUF_DROP_DOMID;
	}
	if (hyper_dmabuf_id_slot(msg->hid.id) >= HYPER_DMABUF_MAX_IDS)
		return HYPER_DMABUF_DROP_ID;

	msg->priv_size = le32_to_cpu(wire->priv_size);
	if (msg->priv_size > (exp ? HYPER_DMABUF_MAX_PRIV : 0) ||
	    memchr_inv(wire->priv + msg->priv_size, 0,
		       HYPER_DMABUF_MAX_PRIV - msg->priv_size))
		return HYPER_DMABUF_DROP_PRIV;
	memcpy(msg->priv, wire->priv, HYPER_DMABUF_MAX_PRIV);

	msg->buf_size = le64_to_cpu(wire->buf_size);
	if (desc ? (!msg->buf_size || !PAGE_ALIGNED(msg->buf_size) ||
		    msg->buf_size > HYPER_DMABUF_MSG_MAX_SIZE) :
		   msg->buf_size)
		return HYPER_DMABUF_DROP_BUFSIZE;

	msg->ref = le64_to_cpu(wire->ref);
	if ((!exp && msg->ref) || wire->reserved)
		return HYPER_DMABUF_DROP_RESERVED;

	return HYPER_DMABUF_ACCEPTED;
}

/**
 * hyper_dmabuf_msg_decode() - validate and convert a received message
 * @buf: received bytes
 * @len: number of bytes received
 * @peer_domid: domain at the other end of the channel the message came on
 * @local_domid: this domain
 * @msg: filled with the decoded message
 * @reason: set to the reason of a failure, to %HYPER_DMABUF_ACCEPTED on
 *	success
 *
 * Checks the length, version, size, operation, that the sender is the
 * channel's peer, that the id's domain byte matches the exporter domid and
 * the exporter is the peer (EXPORT, PENDING, UNEXPORT, ACK of a RELEASED)
 * or this domain (IMPORTED, RELEASED, ACK of an UNEXPORT), the id slot,
 * flags (IMPORTED, RELEASED: a mapping's number; ACK: the operation
 * acknowledged), private data size and
 * padding (none in PENDING), buffer size and reserved fields.  Keys are
 * checked by the caller against its tables.
 *
 * Return: 0, or -EINVAL with @reason set.
 */
int hyper_dmabuf_msg_decode(const void *buf, size_t len, u32 peer_domid,
			    u32 local_domid, struct hyper_dmabuf_msg *msg,
			    enum hyper_dmabuf_drop_reason *reason)
{
	if (len != sizeof(struct hyper_dmabuf_msg_wire)) {
		*reason = HYPER_DMABUF_DROP_LEN;
		return -EINVAL;
	}
	*reason = hyper_dmabuf_msg_check(buf, peer_domid, local_domid, msg);
	return *reason == HYPER_DMABUF_ACCEPTED ? 0 : -EINVAL;
}
