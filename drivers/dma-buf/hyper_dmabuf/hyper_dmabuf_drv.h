/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * hyper_dmabuf: internal interfaces of the core
 */
#ifndef _HYPER_DMABUF_DRV_H
#define _HYPER_DMABUF_DRV_H

#include <linux/atomic.h>
#include <linux/bits.h>
#include <linux/dma-fence.h>
#include <linux/hashtable.h>
#include <linux/jiffies.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <uapi/linux/hyper_dmabuf.h>
#include <xen/interface/io/hyper_dmabuf.h>

#include "hyper_dmabuf_backend.h"

struct dma_buf;
struct dentry;

/**
 * DOC: Locking
 *
 * &hyper_dmabuf_core.lock, a mutex, serialises the tables (exports,
 * imports, users), every export's and import's state, the users' quotas
 * and every backend call but ``send`` and the import's ``mmap``, ``vmap``
 * and ``vunmap``.  The rules:
 *
 * - Spinlocks are taken inside the core's mutex, never the other way
 *   round: the id stack's (&hyper_dmabuf_id_stack.lock), the send queues'
 *   (&hyper_dmabuf_core.tx_lock, which also covers the send works'
 *   reading of &hyper_dmabuf_core.backend) and the event log's
 *   (&hyper_dmabuf_evlog.lock).  A file's &hyper_dmabuf_evq.read_lock,
 *   a mutex, is taken before the event log's lock.
 * - Nothing waits for another domain under the core's mutex.  Messages are
 *   queued, never sent under it: each peer's send work
 *   (&hyper_dmabuf_peer.work) calls the backend's ``send`` without it,
 *   holding only &hyper_dmabuf_peer.send_lock (and
 *   &hyper_dmabuf_core.tx_lock, inside it, around the queue).
 *   The backend's ``wait_channel`` is called without it, before an
 *   export; every other callback called with it held must not wait for
 *   another domain.
 * - hyper_dmabuf_core_peer_gone() takes &hyper_dmabuf_peer.send_lock after
 *   dropping the core's mutex, to wait for a send under way.
 * - A dma_buf_put() that may drop the last reference to a buffer we did
 *   not create is always done after dropping the core's mutex, since that
 *   buffer may itself be a hyper_dmabuf import whose release takes it.
 *   For the same reason hyper_dmabuf_exp_put() is called without it: the
 *   final put takes the mutex, frees the id and the sharing under it, and
 *   drops the dma-buf after unlocking.
 * - The works that announce or withdraw an export take the core's mutex
 *   and act only on the state they find under it.  Withdrawing paths
 *   cancel them (hyper_dmabuf_exp_cancel_works()) without the mutex,
 *   before dropping the export's table reference.
 * - Readers of the event log are woken from a work item
 *   (&hyper_dmabuf_evlog.wake_work), so that whoever logs an event, under
 *   the core's mutex, never walks a wait queue that any process may fill
 *   with pollers.
 *
 * Each structure below names the lock of each of its members.
 */

/* Longest wait of the fallback used when a fence callback cannot be added. */
#define HYPER_DMABUF_FENCE_FALLBACK_MS	5000

/* ---- id stack ---------------------------------------------------------- */

/**
 * struct hyper_dmabuf_id_stack - bounded LIFO stack of free id slots
 * @lock: protects all members below
 * @top: number of valid entries in @free
 * @free: free slots; @free[@top - 1] is handed out next
 * @used: per-slot flag, true while the slot is allocated
 * @refused: number of refused (double or bogus) releases
 *
 * Everything is preallocated, so neither allocation nor release ever
 * allocates memory, and release cannot fail.
 */
struct hyper_dmabuf_id_stack {
	spinlock_t lock; /* protects the members below */
	u32 top;
	u32 free[HYPER_DMABUF_MAX_IDS];
	bool used[HYPER_DMABUF_MAX_IDS];
	u32 refused;
};

void hyper_dmabuf_id_stack_init(struct hyper_dmabuf_id_stack *stack);
int hyper_dmabuf_id_alloc(struct hyper_dmabuf_id_stack *stack, u32 domid,
			  struct hyper_dmabuf_id *hid);
bool hyper_dmabuf_id_release(struct hyper_dmabuf_id_stack *stack, u32 id);
u32 hyper_dmabuf_id_live(struct hyper_dmabuf_id_stack *stack);

static inline u32 hyper_dmabuf_id_make(u32 domid, u32 slot)
{
	return ((domid & 0xff) << HYPER_DMABUF_ID_DOMID_SHIFT) |
	       (slot & HYPER_DMABUF_ID_SLOT_MASK);
}

static inline u32 hyper_dmabuf_id_slot(u32 id)
{
	return id & HYPER_DMABUF_ID_SLOT_MASK;
}

static inline u32 hyper_dmabuf_id_domid_byte(u32 id)
{
	return id >> HYPER_DMABUF_ID_DOMID_SHIFT;
}

/* ---- message codec ------------------------------------------------------ */

#define HYPER_DMABUF_MSG_MAX_SIZE	HYPER_DMABUF_MAX_BUF_SIZE

/*
 * The messages between domains (struct hyper_dmabuf_msg_wire, enum
 * hyper_dmabuf_msg_op) are defined with the rest of the protocol in
 * <xen/interface/io/hyper_dmabuf.h>: the only transport is Xen's.
 */
static_assert(HYPER_DMABUF_MSG_PRIV == HYPER_DMABUF_MAX_PRIV);

/**
 * struct hyper_dmabuf_msg - decoded message in CPU byte order
 * @op: &enum hyper_dmabuf_msg_op
 * @sender_domid: sending domain
 * @hid: buffer id, exporter domid and key
 * @flags: export flags
 * @priv_size: bytes of @priv in use
 * @buf_size: buffer size in bytes
 * @ref: backend reference of the shared pages
 * @priv: private data
 */
struct hyper_dmabuf_msg {
	u32 op;
	u32 sender_domid;
	struct hyper_dmabuf_id hid;
	u32 flags;
	u32 priv_size;
	u64 buf_size;
	u64 ref;
	u8 priv[HYPER_DMABUF_MAX_PRIV];
};

/**
 * enum hyper_dmabuf_drop_reason - why a received message was dropped, or
 * %HYPER_DMABUF_ACCEPTED
 * @HYPER_DMABUF_DROP_LEN: transport length is not the wire size
 * @HYPER_DMABUF_DROP_VERSION: unknown version
 * @HYPER_DMABUF_DROP_SIZE: size field is not the wire size
 * @HYPER_DMABUF_DROP_OP: unknown operation
 * @HYPER_DMABUF_DROP_SENDER: sender is not the channel's peer
 * @HYPER_DMABUF_DROP_DOMID: id's domain byte or exporter domid inconsistent
 * @HYPER_DMABUF_DROP_ID: id slot out of range
 * @HYPER_DMABUF_DROP_FLAGS: unknown flags
 * @HYPER_DMABUF_DROP_PRIV: private size too large or data beyond it
 * @HYPER_DMABUF_DROP_BUFSIZE: buffer size zero, unaligned or too large
 * @HYPER_DMABUF_DROP_RESERVED: reserved or unused field not zero
 * @HYPER_DMABUF_DROP_KEY: id unknown or key does not match
 * @HYPER_DMABUF_DROP_STATE: message not valid in the buffer's state
 * @HYPER_DMABUF_DROP_NOMEM: no memory to record the message
 * @HYPER_DMABUF_DROP_REPEAT: IMPORTED from a peer that has the buffer
 *	mapped already
 * @HYPER_DMABUF_DROP_MAX: number of reasons
 * @HYPER_DMABUF_ACCEPTED: not a reason: the message was taken
 */
enum hyper_dmabuf_drop_reason {
	HYPER_DMABUF_DROP_LEN,
	HYPER_DMABUF_DROP_VERSION,
	HYPER_DMABUF_DROP_SIZE,
	HYPER_DMABUF_DROP_OP,
	HYPER_DMABUF_DROP_SENDER,
	HYPER_DMABUF_DROP_DOMID,
	HYPER_DMABUF_DROP_ID,
	HYPER_DMABUF_DROP_FLAGS,
	HYPER_DMABUF_DROP_PRIV,
	HYPER_DMABUF_DROP_BUFSIZE,
	HYPER_DMABUF_DROP_RESERVED,
	HYPER_DMABUF_DROP_KEY,
	HYPER_DMABUF_DROP_STATE,
	HYPER_DMABUF_DROP_NOMEM,
	HYPER_DMABUF_DROP_REPEAT,
	HYPER_DMABUF_DROP_MAX,
	HYPER_DMABUF_ACCEPTED = HYPER_DMABUF_DROP_MAX,
};

extern const char *const hyper_dmabuf_drop_names[HYPER_DMABUF_DROP_MAX];

void hyper_dmabuf_msg_encode(const struct hyper_dmabuf_msg *msg,
			     struct hyper_dmabuf_msg_wire *wire);
int hyper_dmabuf_msg_decode(const void *buf, size_t len, u32 peer_domid,
			    u32 local_domid, struct hyper_dmabuf_msg *msg,
			    enum hyper_dmabuf_drop_reason *reason);

/* ---- events ------------------------------------------------------------ */

/**
 * struct hyper_dmabuf_evlog - the last events, shared by every open file
 * @lock: protects @seq and @ev
 * @wait: readers and pollers wait here
 * @wake_work: wakes @wait, outside the locks of whoever logged an event
 * @seq: events logged so far; event number n is in slot n % length of @ev
 *	until n + length are logged
 * @ev: ring of self-contained event copies
 */
struct hyper_dmabuf_evlog {
	spinlock_t lock; /* protects seq and ev */
	wait_queue_head_t wait;
	struct work_struct wake_work;
	u64 seq;
	struct hyper_dmabuf_event ev[HYPER_DMABUF_EVENT_QUEUE_LEN];
};

/**
 * struct hyper_dmabuf_evq - one open file's place in the event log
 * @read_lock: serialises the file's readers, so that the event a reader
 *	copies is still its next one when it consumes it; taken before the
 *	log's lock
 * @log: the log read
 * @privileged: gets the keys and private data of the events
 * @next: number of the next event to read (written under @read_lock and
 *	the log's lock)
 * @peeked: where @next goes once the peeked event is consumed (under
 *	@read_lock)
 */
struct hyper_dmabuf_evq {
	struct mutex read_lock; /* one reader at a time: peek, copy, consume */
	struct hyper_dmabuf_evlog *log;
	bool privileged;
	u64 next;
	u64 peeked;
};

void hyper_dmabuf_evlog_init(struct hyper_dmabuf_evlog *log);
void hyper_dmabuf_evlog_fini(struct hyper_dmabuf_evlog *log);
void hyper_dmabuf_evlog_push(struct hyper_dmabuf_evlog *log,
			     const struct hyper_dmabuf_event *ev);
void hyper_dmabuf_evq_init(struct hyper_dmabuf_evq *q,
			   struct hyper_dmabuf_evlog *log, bool privileged);
bool hyper_dmabuf_evq_peek(struct hyper_dmabuf_evq *q,
			   struct hyper_dmabuf_event *ev);
void hyper_dmabuf_evq_consume(struct hyper_dmabuf_evq *q);
bool hyper_dmabuf_evq_pop(struct hyper_dmabuf_evq *q,
			  struct hyper_dmabuf_event *ev);
bool hyper_dmabuf_evq_ready(struct hyper_dmabuf_evq *q);

/* ---- outgoing messages -------------------------------------------------- */

/*
 * Messages queued for one peer that new work (an export, a re-export, an
 * import) may add to; a withdrawal (UNEXPORT) or a release (RELEASED) is
 * queued beyond it, into a message allocated in advance, so it cannot fail.
 */
#define HYPER_DMABUF_TX_QUEUE_MAX	64

/* Delays between two tries of a send that timed out. */
#define HYPER_DMABUF_TX_RETRY_MIN	(HZ / 10)
#define HYPER_DMABUF_TX_RETRY_MAX	(5 * HZ)

/*
 * UNEXPORT and RELEASED are acknowledged: unacknowledged, they are sent
 * again after HYPER_DMABUF_ACK_TIMEOUT, then twice that, and so on, at most
 * HYPER_DMABUF_ACK_TRIES times in all.
 */
#define HYPER_DMABUF_ACK_TIMEOUT	HZ
#define HYPER_DMABUF_ACK_TRIES		6
/* Messages kept for their ACK per peer; beyond, the oldest is given up. */
#define HYPER_DMABUF_UNACKED_MAX	1024

/**
 * enum hyper_dmabuf_tx_kind - what bounds a message in a peer's queue
 * @HYPER_DMABUF_TX_NEW: new work (EXPORT, PENDING, IMPORTED): at most
 *	&hyper_dmabuf_core.tx_queue_max queued, beyond that the operation
 *	fails with -EAGAIN
 * @HYPER_DMABUF_TX_ACK: answers to the peer: at most
 *	%HYPER_DMABUF_UNACKED_MAX, as many as it may keep waiting for
 *	theirs; beyond that the ACK is lost and the peer sends its message
 *	again
 * @HYPER_DMABUF_TX_KEPT: UNEXPORT and RELEASED, allocated in advance
 *	with their buffer, and their copies sent again: never refused
 * @HYPER_DMABUF_TX_KINDS: number of kinds
 */
enum hyper_dmabuf_tx_kind {
	HYPER_DMABUF_TX_NEW,
	HYPER_DMABUF_TX_ACK,
	HYPER_DMABUF_TX_KEPT,
	HYPER_DMABUF_TX_KINDS,
};

/**
 * struct hyper_dmabuf_txmsg - a message waiting to be sent
 * @link: entry in &hyper_dmabuf_peer.queue, or in
 *	&hyper_dmabuf_peer.unacked once sent and waiting for its ACK
 * @op: operation of @wire
 * @flags: flags of @wire, to match its ACK
 * @hid: id of @wire, to match its ACK
 * @kind: &enum hyper_dmabuf_tx_kind, what bounds it in the queue
 * @tries: times sent so far (acknowledged operations)
 * @inflight: being sent, and already in &hyper_dmabuf_peer.unacked, so
 *	that an ACK that comes back at once finds it (core tx_lock)
 * @acked: its ACK came while it was being sent: the sender frees it
 *	(core tx_lock)
 * @due: when to send it again if no ACK came (jiffies)
 * @wire: the encoded message
 */
struct hyper_dmabuf_txmsg {
	struct list_head link;
	u32 op;
	u32 flags;
	struct hyper_dmabuf_id hid;
	unsigned int kind;
	unsigned int tries;
	bool inflight;
	bool acked;
	unsigned long due;
	struct hyper_dmabuf_msg_wire wire;
};

/**
 * struct hyper_dmabuf_peer - messages on their way to one domain
 * @core: owning core
 * @domid: the peer
 * @queue: messages in the order they are sent (core tx_lock)
 * @queued: messages in @queue plus the one being sent (core tx_lock)
 * @queued_kind: the same, per &enum hyper_dmabuf_tx_kind (core tx_lock)
 * @nr_unacked: entries of @unacked (core tx_lock)
 * @gen: bumped when @queue is purged, so that a message being sent
 *	meanwhile is not put back (core tx_lock)
 * @delay: delay before the next try after a timed-out send, 0 after a
 *	success (core tx_lock)
 * @unacked: UNEXPORT and RELEASED messages sent and not yet acknowledged,
 *	in the order sent (core tx_lock)
 * @send_lock: held by @work from taking a message off @queue until the
 *	backend's send returned; hyper_dmabuf_core_peer_gone() takes it to
 *	wait for a send under way
 * @work: sends @queue in order on &hyper_dmabuf_core.tx_wq, without the
 *	core's mutex, so that a peer that does not drain its channel holds
 *	up nothing but its own messages (as long as fewer peers than the
 *	workqueue's max_active, 256, are stuck at once)
 *
 * Created under the core's mutex the first time something may be sent to
 * @domid, and freed only with the core.
 */
struct hyper_dmabuf_peer {
	struct hyper_dmabuf_core *core;
	u32 domid;
	struct list_head queue;
	struct list_head unacked;
	unsigned int queued;
	unsigned int queued_kind[HYPER_DMABUF_TX_KINDS];
	unsigned int nr_unacked;
	unsigned int gen;
	unsigned long delay;
	struct mutex send_lock; /* see above */
	struct delayed_work work;
};

/* ---- core --------------------------------------------------------------- */

/**
 * struct hyper_dmabuf_core - state of one hyper_dmabuf instance
 * @lock: protects @backend, @users, @imports, every export's and import's
 *	mutable members and the membership of @exports; taken before the id
 *	stack and event log spinlocks
 * @backend: registered hypervisor backend or NULL
 * @ids: id stack of the local (exporting) domain
 * @exports: exports of this domain, keyed by id slot; entries are added
 *	and removed under @lock, lookups outside @lock are not done
 * @imports: buffers announced by other domains, keyed by exporter domid
 *	and id
 * @users: &struct hyper_dmabuf_user of the users with files open
 *	without CAP_SYS_ADMIN, keyed by uid
 * @events: the events every open file reads
 * @nr_imports: imported (mapped) buffers, for debugfs
 * @drops: dropped messages per &enum hyper_dmabuf_drop_reason
 * @debugfs: debugfs directory or NULL
 * @wq: workqueue of the announcements deferred until fences signal and
 *	of the delayed unexports; hyper_dmabuf_core_fini() flushes it
 * @fence_wait: importers wait here: woken when an export stops waiting
 *	for its fences, and when a buffer announced as pending by another
 *	domain is announced or withdrawn
 * @wait_gen: bumped (core lock) whenever a buffer importers may wait for
 *	is announced or withdrawn
 * @nr_pending_idle: exports waiting for their fences, for debugfs
 * @nr_fences_held: fence references held by the core, for debugfs
 * @fence_fallback_ms: bound of the fallback wait,
 *	%HYPER_DMABUF_FENCE_FALLBACK_MS; tests shorten it
 * @tx_lock: protects the queues of @peers, and the reading of @backend
 *	by their works; taken inside @lock
 * @peers: &struct hyper_dmabuf_peer by domain id (added under @lock)
 * @tx_wq: workqueue of the peers' send works
 * @tx_dropped: messages the backend refused for good (not a timeout)
 * @tx_queue_max: room for new work in each peer's queue,
 *	%HYPER_DMABUF_TX_QUEUE_MAX; tests shorten it
 * @tx_unacked: acknowledged operations given up after
 *	%HYPER_DMABUF_ACK_TRIES sends without an ACK
 * @ack_timeout: first wait for an ACK, %HYPER_DMABUF_ACK_TIMEOUT; tests
 *	shorten it
 * @rx_msg: the message being received (core lock): receiving allocates
 *	nothing but a new import record
 * @fault_add_cb: test hook (%CONFIG_HYPER_DMABUF_DEBUG only): if
 *	non-zero, adding a fence callback fails with this error code
 */
struct hyper_dmabuf_core {
	struct mutex lock; /* see above: tables, users, buffer state */
	const struct hyper_dmabuf_backend_ops *backend;
	struct hyper_dmabuf_id_stack ids;
	struct xarray exports;
	DECLARE_HASHTABLE(imports, 8);
	DECLARE_HASHTABLE(users, 6);
	struct hyper_dmabuf_evlog events;
	atomic_t nr_imports;
	atomic_t drops[HYPER_DMABUF_DROP_MAX];
	struct dentry *debugfs;
	struct workqueue_struct *wq;
	wait_queue_head_t fence_wait;
	unsigned int wait_gen;
	atomic_t nr_pending_idle;
	atomic_t nr_fences_held;
	unsigned int fence_fallback_ms;
	spinlock_t tx_lock; /* see above: peer queues */
	struct xarray peers;
	struct workqueue_struct *tx_wq;
	atomic_t tx_dropped;
	unsigned int tx_queue_max;
	atomic_t tx_unacked;
	unsigned long ack_timeout;
	struct hyper_dmabuf_msg rx_msg;
#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
	int fault_add_cb;
#endif
};

/* Error injected into dma_fence_add_callback(), 0 for none. */
static inline int hyper_dmabuf_fault_add_cb(struct hyper_dmabuf_core *core)
{
#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
	return core->fault_add_cb;
#else
	return 0;
#endif
}

/**
 * struct hyper_dmabuf_user - what the files of one user opened without
 * CAP_SYS_ADMIN hold, for the quotas
 * @node: entry in &hyper_dmabuf_core.users
 * @uid: the user (the effective uid of the opener)
 * @refs: the user's open files, plus the exports charged to the user
 * @nr_exports: exports charged to the user: made by its files, and
 *	charged until their id and grants are free (after an unexport delay,
 *	after the last importer let go), not merely until they are unexported
 * @nr_remote_pages: pages of those exports shared with other domains
 *
 * Everything is protected by the core's lock.
 */
struct hyper_dmabuf_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int refs;
	unsigned int nr_exports;
	unsigned long nr_remote_pages;
};

/**
 * struct hyper_dmabuf_file - state of one open /dev/hyper_dmabuf
 * @core: core instance
 * @privileged: opened with CAP_SYS_ADMIN: gets the keys and private data
 *	of other files' buffers (events, LIST) and has no export quota
 * @uid: effective uid of the opener, set before hyper_dmabuf_file_open()
 * @user: the quotas @uid shares with its other files, NULL if @privileged
 * @exports: exports owned by this file (core lock)
 * @imports: import records created through this file (core lock)
 * @evq: the file's place in the core's event log
 */
struct hyper_dmabuf_file {
	struct hyper_dmabuf_core *core;
	bool privileged;
	kuid_t uid;
	struct hyper_dmabuf_user *user;
	struct list_head exports;
	struct list_head imports;
	struct hyper_dmabuf_evq evq;
};

/**
 * struct hyper_dmabuf_exp - a buffer exported by this domain
 * @kref: one reference for the export table entry plus one per loopback
 *	import dma-buf; the final put releases the id
 * @core: owning core
 * @hid: id, exporter domid and key
 * @remote_domid: domain the buffer was exported to
 * @loopback: @remote_domid is the local domain
 * @flags: HYPER_DMABUF_EXPORT_* flags
 * @dmabuf: exported dma-buf, a reference is held
 * @owner: file that made the export, NULL once unexported (core lock)
 * @user: user charged for the export until it is freed, NULL if made by a
 *	file opened with CAP_SYS_ADMIN (core lock)
 * @owner_link: entry in the owner's export list (core lock)
 * @importers: number of active imports: loopback dma-bufs, or at most
 *	one for the peer of a remote export, however often it says
 *	IMPORTED (core lock)
 * @map_seq: the peer's mapping that @importers counts: the sequence
 *	number its IMPORTED carried; only a RELEASED of that mapping
 *	releases it (core lock)
 * @unexported: unexport requested; the export stays until its last
 *	reference goes (core lock)
 * @share: backend sharing of a remote export
 * @bye: the UNEXPORT message of a remote export, allocated with it so
 *	that withdrawing cannot fail; NULL once queued (core lock)
 * @unexport_work: delayed unexport, queued on &hyper_dmabuf_core.wq; it
 *	holds the table reference while queued
 * @priv_size: size of @priv (core lock)
 * @priv: private data (core lock)
 * @fence: fences the announcement waits for, one reference held; NULL
 *	when nothing is pending (core lock; read locklessly by waiters
 *	only to test for NULL)
 * @fence_cb: callback on @fence, armed while @fence_cb_armed
 * @fence_cb_armed: @fence_cb was added to @fence (core lock)
 * @fence_fallback: adding @fence_cb failed; @fence_work waits for
 *	@fence instead, for a bounded time (core lock)
 * @fence_work: announces the export once @fence has signalled
 * @announced: the export was announced at least once (core lock)
 * @pending_sent: the peer was told of the export as pending (core lock)
 * @announce_work: retries an announcement that could not be sent
 * @announce_delay: while such an announcement is owed, the delay before
 *	the next try, in jiffies; 0 otherwise (core lock)
 * @peer_gone: hyper_dmabuf_core_peer_gone() took this export (core lock)
 * @gone_refs: references hyper_dmabuf_core_peer_gone() drops (core lock)
 * @gone_link: entry in hyper_dmabuf_core_peer_gone()'s list
 */
struct hyper_dmabuf_exp {
	struct kref kref;
	struct hyper_dmabuf_core *core;
	struct hyper_dmabuf_id hid;
	u32 remote_domid;
	bool loopback;
	u32 flags;
	struct dma_buf *dmabuf;
	struct hyper_dmabuf_file *owner;
	struct hyper_dmabuf_user *user;
	struct list_head owner_link;
	unsigned int importers;
	u32 map_seq;
	bool unexported;
	struct hyper_dmabuf_share share;
	struct hyper_dmabuf_txmsg *bye;
	struct delayed_work unexport_work;
	u32 priv_size;
	u8 priv[HYPER_DMABUF_MAX_PRIV];
	struct dma_fence *fence;
	struct dma_fence_cb fence_cb;
	bool fence_cb_armed;
	bool fence_fallback;
	struct work_struct fence_work;
	bool announced;
	bool pending_sent;
	struct delayed_work announce_work;
	unsigned long announce_delay;
	bool peer_gone;
	unsigned int gone_refs;
	struct list_head gone_link;
};

/**
 * struct hyper_dmabuf_imp - a buffer announced by another domain
 * @core: owning core
 * @node: entry in &hyper_dmabuf_core.imports (core lock)
 * @hid: id of the buffer
 * @flags: export flags
 * @size: size in bytes
 * @ref: backend reference of the shared pages
 * @importers: local dma-bufs wrapping the mapping (core lock)
 * @unexported: exporter withdrew the buffer (core lock)
 * @pending: announced as pending: not importable until the exporter's
 *	EXPORT message brings the reference and private data (core lock)
 * @map: backend mapping, valid while @importers > 0 (core lock)
 * @map_seq: sequence number of the current mapping, carried by its
 *	IMPORTED and RELEASED messages (core lock)
 * @bye: the RELEASED message, allocated when the buffer is mapped so
 *	that releasing cannot fail; NULL once queued (core lock)
 * @peer_gone: the exporter went (hyper_dmabuf_core_peer_gone()): nothing is
 *	said to it any more (core lock)
 * @priv_size: size of @priv (core lock)
 * @priv: private data (core lock)
 */
struct hyper_dmabuf_imp {
	struct hyper_dmabuf_core *core;
	struct hlist_node node;
	struct hyper_dmabuf_id hid;
	u32 flags;
	u64 size;
	u64 ref;
	unsigned int importers;
	bool unexported;
	bool pending;
	struct hyper_dmabuf_mapping map;
	u32 map_seq;
	struct hyper_dmabuf_txmsg *bye;
	bool peer_gone;
	u32 priv_size;
	u8 priv[HYPER_DMABUF_MAX_PRIV];
};

int hyper_dmabuf_core_init(struct hyper_dmabuf_core *core);
void hyper_dmabuf_core_fini(struct hyper_dmabuf_core *core);
void hyper_dmabuf_core_set_main(struct hyper_dmabuf_core *core);
void hyper_dmabuf_core_debugfs(struct hyper_dmabuf_core *core,
			       const char *name);
u32 hyper_dmabuf_core_local_domid(struct hyper_dmabuf_core *core);

int hyper_dmabuf_file_open(struct hyper_dmabuf_core *core,
			   struct hyper_dmabuf_file *file);
void hyper_dmabuf_file_release(struct hyper_dmabuf_file *file);
long hyper_dmabuf_file_ioctl(struct hyper_dmabuf_file *file, unsigned int cmd,
			     void __user *uarg);
ssize_t hyper_dmabuf_file_read(struct hyper_dmabuf_file *file,
			       char __user *buf, size_t count, bool nonblock);

int hyper_dmabuf_export(struct hyper_dmabuf_file *file, struct dma_buf *dmabuf,
			u32 remote_domid, u32 flags, const void *priv,
			u32 priv_size, struct hyper_dmabuf_id *hid,
			bool *created);
struct dma_buf *hyper_dmabuf_import_wait(struct hyper_dmabuf_file *file,
					 const struct hyper_dmabuf_id *hid,
					 u32 fd_flags, u32 flags,
					 u32 timeout_ms);
int hyper_dmabuf_unexport(struct hyper_dmabuf_file *file,
			  const struct hyper_dmabuf_id *hid, u32 delay_ms);
int hyper_dmabuf_unexport_any(struct hyper_dmabuf_file *file,
			      const struct hyper_dmabuf_id *hid, u32 delay_ms);
int hyper_dmabuf_query(struct hyper_dmabuf_core *core,
		       struct hyper_dmabuf_query *q, void *priv);
int hyper_dmabuf_list(struct hyper_dmabuf_core *core, u32 type,
		      const struct hyper_dmabuf_file *mine,
		      struct hyper_dmabuf_id *hids, u32 count, u32 *total);
int hyper_dmabuf_core_rx(struct hyper_dmabuf_core *core, u32 sender_domid,
			 const void *buf, size_t len);
void hyper_dmabuf_core_peer_gone(struct hyper_dmabuf_core *core, u32 domid);
void hyper_dmabuf_core_tx_flush(struct hyper_dmabuf_core *core);
struct hyper_dmabuf_exp *
hyper_dmabuf_exp_lookup(struct hyper_dmabuf_core *core,
			const struct hyper_dmabuf_id *hid);
struct hyper_dmabuf_imp *
hyper_dmabuf_imp_lookup(struct hyper_dmabuf_core *core,
			const struct hyper_dmabuf_id *hid);

/* ---- between the files of the core -------------------------------------- */

/**
 * struct hyper_dmabuf_local_buf - local dma-buf created by an import
 * @core: core instance
 * @file: file the import was made through, NULL once it is closed
 *	(core lock)
 * @file_link: entry in the file's import list (core lock)
 * @exp: wrapped loopback export (reference held), or NULL
 * @imp: remote buffer whose mapping is wrapped, or NULL
 */
struct hyper_dmabuf_local_buf {
	struct hyper_dmabuf_core *core;
	struct hyper_dmabuf_file *file;
	struct list_head file_link;
	struct hyper_dmabuf_exp *exp;
	struct hyper_dmabuf_imp *imp;
};

/* Key of the import hashtable: exporter domid and id together. */
static inline u64 hyper_dmabuf_imp_hkey(u32 domid, u32 id)
{
	return ((u64)domid << 32) | id;
}

/* hyper_dmabuf_core.c */
bool hyper_dmabuf_hid_match(const struct hyper_dmabuf_id *a,
			    const struct hyper_dmabuf_id *b);
struct hyper_dmabuf_imp *
hyper_dmabuf_imp_find_current(struct hyper_dmabuf_core *core, u32 domid,
			      u32 id);
void hyper_dmabuf_event_new_import(struct hyper_dmabuf_core *core,
				   const struct hyper_dmabuf_id *hid, u32 flags,
				   u64 size, const u8 *priv, u32 priv_size,
				   bool update);
/* hyper_dmabuf_export.c */
struct hyper_dmabuf_user *
hyper_dmabuf_user_get(struct hyper_dmabuf_core *core, kuid_t uid,
		      struct hyper_dmabuf_user **spare);
void hyper_dmabuf_user_put(struct hyper_dmabuf_core *core,
			   struct hyper_dmabuf_user *user);
void hyper_dmabuf_exp_put(struct hyper_dmabuf_exp *exp);
void hyper_dmabuf_exp_withdraw(struct hyper_dmabuf_exp *exp);
void hyper_dmabuf_exp_detach(struct hyper_dmabuf_exp *exp);
void hyper_dmabuf_wake_importers(struct hyper_dmabuf_core *core);
void hyper_dmabuf_fence_drop(struct hyper_dmabuf_exp *exp);
void hyper_dmabuf_exp_cancel_works(struct hyper_dmabuf_exp *exp);
/* hyper_dmabuf_import.c */
void hyper_dmabuf_imp_free(struct hyper_dmabuf_core *core,
			   struct hyper_dmabuf_imp *imp);
/* hyper_dmabuf_tx.c */
bool hyper_dmabuf_op_acked(u32 op);
u32 hyper_dmabuf_ack_flags(u32 op, u32 flags);
void hyper_dmabuf_peer_purge(struct hyper_dmabuf_peer *peer);
struct hyper_dmabuf_txmsg *hyper_dmabuf_txmsg_alloc(void);
int hyper_dmabuf_send_flags(struct hyper_dmabuf_core *core,
			    u32 domid, u32 op, u32 flags,
			    const struct hyper_dmabuf_id *hid,
			    const struct hyper_dmabuf_exp *exp,
			    struct hyper_dmabuf_txmsg *m);
int hyper_dmabuf_send(struct hyper_dmabuf_core *core, u32 domid,
		      u32 op, const struct hyper_dmabuf_id *hid,
		      const struct hyper_dmabuf_exp *exp,
		      struct hyper_dmabuf_txmsg *m);
void hyper_dmabuf_tx_stop(struct hyper_dmabuf_core *core);

#endif /* _HYPER_DMABUF_DRV_H */
