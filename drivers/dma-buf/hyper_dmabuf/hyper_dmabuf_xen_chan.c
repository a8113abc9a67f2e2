// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: Xen backend, message channels between domains
 */

/**
 * DOC: Xen channels
 *
 * Each pair of domains talks over two one-page rings, one per direction.
 * A ring belongs to its sender, which grants it to the peer together with
 * an unbound event channel, and publishes both in xenstore as its "offer":
 * the single node <pairdir>/<own domid> holds "1 <gref> <port> <nonce>",
 * or "" once withdrawn.  The pair directory is
 * /local/domain/<host>/data/hyper_dmabuf/pair/<other>, in the home of the
 * domU of the pair (of the lower domid for two domUs), where its owner can
 * write and dom0 can write and read everything.  A domain that sees the
 * peer's offer answers with its own and maps the peer's ring, so the first
 * export to a domain brings the channel up without any daemon.
 *
 * Two domUs cannot see each other's xenstore nodes unless dom0 allows it;
 * the hyper_dmabuf_allow.sh script does so (see the userspace-api
 * document).
 *
 * Channels are created on demand and freed by a reaper once they are idle
 * (not even offered) and nothing needs them (see
 * hyper_dmabuf_xen_reap_work()): no export uses them (the core pairs
 * hyper_dmabuf_xen_init_channel() with hyper_dmabuf_xen_fini_channel()), no
 * caller holds them (hyper_dmabuf_xen_chan_get() and
 * hyper_dmabuf_xen_chan_hold() with hyper_dmabuf_xen_chan_put()) and no
 * check of them is queued.
 *
 * The nonce tells a restarted peer from the old one.  A withdrawn or
 * vanished offer (module unload, domain death: dom0 clears the offers a
 * dead domain left in other domUs' homes) resets the channel and tells the
 * core, which reclaims what was shared with the peer.  Everything read
 * from xenstore or a ring is validated: a malformed offer is ignored, and
 * ring indices out of range reset the channel; debugfs
 * hyper_dmabuf_xen/ring_errors counts the rings found so, once per
 * connection and direction.
 */
#include <linux/debugfs.h>
#include <linux/interrupt.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <xen/events.h>
#include <xen/grant_table.h>
#include <xen/interface/event_channel.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/xenbus.h>
#include <asm/xen/hypercall.h>

#include "hyper_dmabuf_xen.h"

#define HYPER_DMABUF_XEN_CONNECT_MS	10000
#define HYPER_DMABUF_XEN_SEND_MS	10000
#define HYPER_DMABUF_XEN_RX_BACKLOG	1024
#define HYPER_DMABUF_XEN_PATH_LEN	80

/*
 * Bit of hyper_dmabuf_xen_chan.rx_flags: an event of rx_irq awaits its
 * late EOI.
 */
#define HYPER_DMABUF_XEN_RX_EOI	0

enum hyper_dmabuf_xen_state {
	HYPER_DMABUF_XEN_IDLE,
	HYPER_DMABUF_XEN_OFFERED,
	HYPER_DMABUF_XEN_CONNECTED,
};

struct hyper_dmabuf_xen_offer {
	u32 gref;
	u32 port;
	u64 nonce;
};

struct hyper_dmabuf_xen_rx_msg {
	struct list_head link;
	u8 data[HYPER_DMABUF_MSG_SIZE];
};

struct hyper_dmabuf_xen_chan {
	/* in hyper_dmabuf_xen.chans, under hyper_dmabuf_xen.lock */
	struct list_head link;
	unsigned int users;		/* exports using it (same lock) */
	unsigned int busy;		/* callers using it unlocked (same) */
	u32 peer;
	char my_node[HYPER_DMABUF_XEN_PATH_LEN];
	char peer_node[HYPER_DMABUF_XEN_PATH_LEN];
	bool remote_dir;
	struct xenbus_watch watch;
	bool watching;

	struct mutex lock; /* state and set-up of both rings */
	enum hyper_dmabuf_xen_state state;
	u64 nonce;
	u64 peer_nonce;
	char offer[48];

	struct mutex tx_lock; /* tx, tx_prod; taken inside lock */
	struct page *tx_page;
	struct hyper_dmabuf_ring *tx;
	grant_ref_t tx_gref;
	int tx_irq;
	u32 tx_prod;
	u32 tx_irq_cons;		/* tx_irq handler only */
	bool tx_broken;			/* the peer corrupted tx->cons */
	unsigned long tx_events;	/* tx_irq handler only */
	unsigned long tx_spurious;	/* tx_irq handler only */

	struct page *rx_page;
	grant_handle_t rx_handle;
	struct hyper_dmabuf_ring *rx;
	int rx_irq;
	u32 rx_cons;
	unsigned long rx_flags;		/* HYPER_DMABUF_XEN_RX_EOI */
	bool rx_broken;			/* lock: counted in ring_errors */
	unsigned long rx_events;	/* rx_irq handler only */
	unsigned long rx_spurious;	/* lock */

	spinlock_t rx_lock; /* rx_list, rx_backlog, rx_throttled */
	struct list_head rx_list;
	unsigned int rx_backlog;
	bool rx_throttled;		/* drain stopped: backlog full */

	struct work_struct check_work;
	struct work_struct drain_work;
	struct work_struct deliver_work;
	wait_queue_head_t wq;
};

static struct {
	struct mutex lock; /* chans, and each channel's link, users and busy */
	struct list_head chans;
	struct work_struct reap_work;
	u32 self;
	bool privileged;
	char home[HYPER_DMABUF_XEN_PATH_LEN];
	struct workqueue_struct *ctl_wq;
	struct workqueue_struct *rx_wq;
	struct xenbus_watch watch;
	bool watching;
	bool stopping;
	struct dentry *debugfs;
	atomic_t ring_errors;
} hyper_dmabuf_xen;

u32 hyper_dmabuf_xen_get_domid(void)
{
	return hyper_dmabuf_xen.self;
}

/* ---- xenstore ------------------------------------------------------------ */

static u32 hyper_dmabuf_xen_host(u32 a, u32 b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return min(a, b);
}

static int hyper_dmabuf_xen_read_offer(struct hyper_dmabuf_xen_chan *chan,
				       struct hyper_dmabuf_xen_offer *off)
{
	unsigned int version;
	char tail;
	char *val;
	int ret = -EBADMSG;

	val = xenbus_read(XBT_NIL, chan->peer_node, "", NULL);
	if (IS_ERR(val))
		return -ENOENT;
	if (!*val)
		ret = -ENOENT;
	else if (sscanf(val, "%u %u %u %llx%c", &version, &off->gref,
			&off->port, &off->nonce, &tail) == 4 &&
		 version == 1 && off->gref && off->port)
		ret = 0;
	kfree(val);
	return ret;
}

static void hyper_dmabuf_xen_withdraw_offer(struct hyper_dmabuf_xen_chan *chan)
{
	/* Written empty, not removed: see the allow script's permissions. */
	xenbus_write(XBT_NIL, chan->my_node, "", "");
}

/* ---- rings ---------------------------------------------------------------- */

/* The slot of message number @n in @ring. */
static u8 *hyper_dmabuf_xen_slot(struct hyper_dmabuf_ring *ring, u32 n)
{
	return ring->slot[n % HYPER_DMABUF_RING_SLOTS];
}

/*
 * Both ports are bound with late EOI: Xen delivers no further event on a
 * port until its EOI, and an EOI marked spurious (an event that brought
 * nothing) makes Xen hold the next one back for a growing delay.  A peer
 * that signals in a loop is throttled that way (XSA-332).
 */
static irqreturn_t hyper_dmabuf_xen_tx_irq(int irq, void *dev_id)
{
	struct hyper_dmabuf_xen_chan *chan = dev_id;
	u32 cons = le32_to_cpu(READ_ONCE(chan->tx->cons));
	unsigned int flags = 0;

	/* The peer tells that it consumed: spurious unless it did. */
	WRITE_ONCE(chan->tx_events, chan->tx_events + 1);
	if (cons == chan->tx_irq_cons) {
		flags = XEN_EOI_FLAG_SPURIOUS;
		WRITE_ONCE(chan->tx_spurious, chan->tx_spurious + 1);
	}
	chan->tx_irq_cons = cons;
	wake_up_all(&chan->wq);
	xen_irq_lateeoi(irq, flags);
	return IRQ_HANDLED;
}

static irqreturn_t hyper_dmabuf_xen_rx_irq(int irq, void *dev_id)
{
	struct hyper_dmabuf_xen_chan *chan = dev_id;

	/*
	 * hyper_dmabuf_xen_drain_work() gives the EOI once it has looked at
	 * the ring.
	 */
	WRITE_ONCE(chan->rx_events, chan->rx_events + 1);
	set_bit(HYPER_DMABUF_XEN_RX_EOI, &chan->rx_flags);
	queue_work(hyper_dmabuf_xen.rx_wq, &chan->drain_work);
	return IRQ_HANDLED;
}

static void hyper_dmabuf_xen_close_port(evtchn_port_t port)
{
	struct evtchn_close close = { .port = port };

	HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
}

/* Bind @port to @handler; the port is closed if that fails. */
static int hyper_dmabuf_xen_bind_port(evtchn_port_t port,
				      irq_handler_t handler, const char *name,
				      struct hyper_dmabuf_xen_chan *chan)
{
	int irq;

	irq = bind_evtchn_to_irqhandler_lateeoi(port, handler, 0, name, chan);
	if (irq < 0)
		hyper_dmabuf_xen_close_port(port);
	return irq;
}

/* Count a ring found out of range, once until the channel is reset. */
static void hyper_dmabuf_xen_ring_error(bool *counted)
{
	if (!*counted)
		atomic_inc(&hyper_dmabuf_xen.ring_errors);
	WRITE_ONCE(*counted, true);
}

/* Tear down both rings and withdraw the offer; chan->lock held. */
static void hyper_dmabuf_xen_chan_reset(struct hyper_dmabuf_xen_chan *chan)
{
	struct hyper_dmabuf_xen_rx_msg *m, *tmp;
	LIST_HEAD(purge);

	lockdep_assert_held(&chan->lock);
	WRITE_ONCE(chan->state, HYPER_DMABUF_XEN_IDLE);
	wake_up_all(&chan->wq);

	mutex_lock(&chan->tx_lock);
	if (chan->tx_irq > 0)
		unbind_from_irqhandler(chan->tx_irq, chan);
	chan->tx_irq = 0;
	if (chan->tx_page) {
		hyper_dmabuf_xen_withdraw_offer(chan);
		gnttab_end_foreign_access(chan->tx_gref, chan->tx_page);
	}
	chan->tx_page = NULL;
	chan->tx = NULL;
	mutex_unlock(&chan->tx_lock);

	if (chan->rx_irq > 0)
		unbind_from_irqhandler(chan->rx_irq, chan);
	chan->rx_irq = 0;
	if (chan->rx_page) {
		hyper_dmabuf_xen_unmap_pages(1, true, &chan->rx_page,
					     &chan->rx_handle);
		gnttab_free_pages(1, &chan->rx_page);
	}
	chan->rx_page = NULL;
	chan->rx = NULL;
	chan->rx_broken = false;

	clear_bit(HYPER_DMABUF_XEN_RX_EOI, &chan->rx_flags);
	spin_lock(&chan->rx_lock);
	list_splice_init(&chan->rx_list, &purge);
	chan->rx_backlog = 0;
	chan->rx_throttled = false;
	spin_unlock(&chan->rx_lock);
	list_for_each_entry_safe(m, tmp, &purge, link)
		kfree(m);
}

/* Publish this domain's ring; chan->lock held, state IDLE. */
static int hyper_dmabuf_xen_chan_offer(struct hyper_dmabuf_xen_chan *chan)
{
	struct evtchn_alloc_unbound alloc = {
		.dom = DOMID_SELF,
		.remote_dom = chan->peer,
	};
	struct page *page;
	int ret;

	page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!page)
		return -ENOMEM;
	ret = gnttab_grant_foreign_access(chan->peer, xen_page_to_gfn(page), 0);
	if (ret < 0) {
		__free_page(page);
		return ret;
	}
	mutex_lock(&chan->tx_lock);
	chan->tx_gref = ret;
	chan->tx_page = page;
	chan->tx = page_address(page);
	chan->tx_prod = 0;
	chan->tx_irq_cons = 0;
	chan->tx_broken = false;
	mutex_unlock(&chan->tx_lock);

	ret = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &alloc);
	if (ret)
		goto err_reset;
	ret = hyper_dmabuf_xen_bind_port(alloc.port, hyper_dmabuf_xen_tx_irq,
					 "hyper_dmabuf-tx", chan);
	if (ret < 0)
		goto err_reset;
	chan->tx_irq = ret;
	chan->nonce = get_random_u64();
	snprintf(chan->offer, sizeof(chan->offer), "1 %u %u %llx",
		 chan->tx_gref, alloc.port, chan->nonce);
	ret = xenbus_write(XBT_NIL, chan->my_node, "", chan->offer);
	if (ret)
		goto err_reset;
	WRITE_ONCE(chan->state, HYPER_DMABUF_XEN_OFFERED);
	return 0;

err_reset:
	hyper_dmabuf_xen_chan_reset(chan);
	return ret;
}

/*
 * Map the peer's ring; chan->lock held, state OFFERED.  On failure the
 * caller's hyper_dmabuf_xen_chan_reset() undoes whatever was set up.
 */
static int
hyper_dmabuf_xen_chan_connect(struct hyper_dmabuf_xen_chan *chan,
			      const struct hyper_dmabuf_xen_offer *off)
{
	struct evtchn_bind_interdomain bind = {
		.remote_dom = chan->peer,
		.remote_port = off->port,
	};
	grant_ref_t gref = off->gref;
	struct page *page;
	u32 prod;
	int ret;

	ret = gnttab_alloc_pages(1, &page);
	if (ret)
		return ret;
	chan->rx_page = page;
	ret = hyper_dmabuf_xen_map_pages(chan->peer, &gref, 1, true,
					 &chan->rx_page, &chan->rx_handle);
	if (ret)
		return ret;
	chan->rx = page_address(chan->rx_page);
	chan->rx_cons = le32_to_cpu(READ_ONCE(chan->rx->cons));
	prod = le32_to_cpu(READ_ONCE(chan->rx->prod));
	if (prod - chan->rx_cons > HYPER_DMABUF_RING_SLOTS)
		return -EBADMSG;

	ret = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &bind);
	if (ret)
		return ret;
	ret = hyper_dmabuf_xen_bind_port(bind.local_port,
					 hyper_dmabuf_xen_rx_irq,
					 "hyper_dmabuf-rx", chan);
	if (ret < 0)
		return ret;
	chan->rx_irq = ret;
	chan->peer_nonce = off->nonce;
	WRITE_ONCE(chan->state, HYPER_DMABUF_XEN_CONNECTED);
	queue_work(hyper_dmabuf_xen.rx_wq, &chan->drain_work);
	return 0;
}

static void hyper_dmabuf_xen_drain_work(struct work_struct *work)
{
	struct hyper_dmabuf_xen_chan *chan =
		container_of(work, struct hyper_dmabuf_xen_chan, drain_work);
	bool broken = false, more = false, full = false;
	struct hyper_dmabuf_xen_rx_msg *m;
	u32 prod, start;

	mutex_lock(&chan->lock);
	if (chan->state != HYPER_DMABUF_XEN_CONNECTED) {
		/* Unbound: no EOI is owed any more. */
		clear_bit(HYPER_DMABUF_XEN_RX_EOI, &chan->rx_flags);
		goto out_unlock;
	}
	start = chan->rx_cons;
	prod = le32_to_cpu(READ_ONCE(chan->rx->prod));
	/* Read the slots only after the index that covers them. */
	virt_rmb();
	if (prod - chan->rx_cons > HYPER_DMABUF_RING_SLOTS) {
		/* The reset unbinds the port; never leave it masked. */
		broken = true;
		hyper_dmabuf_xen_ring_error(&chan->rx_broken);
		if (test_and_clear_bit(HYPER_DMABUF_XEN_RX_EOI,
				       &chan->rx_flags))
			xen_irq_lateeoi(chan->rx_irq, XEN_EOI_FLAG_SPURIOUS);
		goto out_unlock;
	}
	while (chan->rx_cons != prod) {
		/*
		 * Backpressure: with the backlog full, stop until
		 * hyper_dmabuf_xen_deliver_work() has emptied it, and keep
		 * the event's EOI until then, so that the peer's signals wait
		 * too.
		 */
		spin_lock(&chan->rx_lock);
		full = chan->rx_backlog >= HYPER_DMABUF_XEN_RX_BACKLOG;
		if (full)
			chan->rx_throttled = true;
		spin_unlock(&chan->rx_lock);
		if (full)
			break;
		m = kmalloc_obj(*m, GFP_KERNEL);
		if (!m) {
			more = true;
			break;
		}
		memcpy(m->data, hyper_dmabuf_xen_slot(chan->rx, chan->rx_cons),
		       HYPER_DMABUF_MSG_SIZE);
		chan->rx_cons++;
		spin_lock(&chan->rx_lock);
		list_add_tail(&m->link, &chan->rx_list);
		chan->rx_backlog++;
		spin_unlock(&chan->rx_lock);
	}
	if (chan->rx_cons != start) {
		/* The slots are copied before the sender may reuse them. */
		virt_mb();
		WRITE_ONCE(chan->rx->cons, cpu_to_le32(chan->rx_cons));
		notify_remote_via_irq(chan->rx_irq);
		queue_work(hyper_dmabuf_xen.rx_wq, &chan->deliver_work);
	}
	/*
	 * Messages that arrive after this EOI raise an event of their own;
	 * an event that brought nothing is spurious.
	 */
	if (!full &&
	    test_and_clear_bit(HYPER_DMABUF_XEN_RX_EOI, &chan->rx_flags)) {
		if (chan->rx_cons == start)
			WRITE_ONCE(chan->rx_spurious, chan->rx_spurious + 1);
		xen_irq_lateeoi(chan->rx_irq, chan->rx_cons == start ?
				XEN_EOI_FLAG_SPURIOUS : 0);
	}
out_unlock:
	mutex_unlock(&chan->lock);
	if (broken) {
		pr_warn_ratelimited("hyper_dmabuf_xen: domain %u: ring indices out of range, resetting the channel\n",
				    chan->peer);
		queue_work(hyper_dmabuf_xen.ctl_wq, &chan->check_work);
	}
	if (more && !broken)
		queue_work(hyper_dmabuf_xen.rx_wq, &chan->drain_work);
}

static void hyper_dmabuf_xen_deliver_work(struct work_struct *work)
{
	struct hyper_dmabuf_xen_chan *chan =
		container_of(work, struct hyper_dmabuf_xen_chan, deliver_work);
	bool resume = false;
	struct hyper_dmabuf_xen_rx_msg *m;

	for (;;) {
		spin_lock(&chan->rx_lock);
		m = list_first_entry_or_null(&chan->rx_list,
					     struct hyper_dmabuf_xen_rx_msg,
					     link);
		if (m) {
			list_del(&m->link);
			chan->rx_backlog--;
		} else {
			/* Caught up: a drain stopped on a full backlog goes on. */
			resume = chan->rx_throttled;
			chan->rx_throttled = false;
		}
		spin_unlock(&chan->rx_lock);
		if (!m)
			break;
		hyper_dmabuf_backend_rx(chan->peer, m->data,
					HYPER_DMABUF_MSG_SIZE);
		kfree(m);
	}
	if (resume)
		queue_work(hyper_dmabuf_xen.rx_wq, &chan->drain_work);
}

/* ---- channel state ---------------------------------------------------------- */

/*
 * Have the reaper look at @chan if nothing needs it any more;
 * hyper_dmabuf_xen.lock held.
 */
static void hyper_dmabuf_xen_chan_unused(struct hyper_dmabuf_xen_chan *chan)
{
	lockdep_assert_held(&hyper_dmabuf_xen.lock);
	if (!chan->users && !chan->busy && !hyper_dmabuf_xen.stopping &&
	    READ_ONCE(chan->state) == HYPER_DMABUF_XEN_IDLE)
		queue_work(hyper_dmabuf_xen.ctl_wq,
			   &hyper_dmabuf_xen.reap_work);
}

static void hyper_dmabuf_xen_chan_watch_cb(struct xenbus_watch *watch,
					   const char *path, const char *token)
{
	struct hyper_dmabuf_xen_chan *chan =
		container_of(watch, struct hyper_dmabuf_xen_chan, watch);

	queue_work(hyper_dmabuf_xen.ctl_wq, &chan->check_work);
}

static void hyper_dmabuf_xen_check_work(struct work_struct *work)
{
	struct hyper_dmabuf_xen_chan *chan =
		container_of(work, struct hyper_dmabuf_xen_chan, check_work);
	struct hyper_dmabuf_xen_offer off;
	bool gone = false;
	bool broken, idle;
	int ret;

	mutex_lock(&chan->lock);
	if (hyper_dmabuf_xen.stopping)
		goto out_unlock;
	if (chan->remote_dir && !chan->watching) {
		chan->watch.node = chan->peer_node;
		chan->watch.callback = hyper_dmabuf_xen_chan_watch_cb;
		chan->watching = !register_xenbus_watch(&chan->watch);
	}
	ret = hyper_dmabuf_xen_read_offer(chan, &off);
	broken = chan->state == HYPER_DMABUF_XEN_CONNECTED &&
		 le32_to_cpu(READ_ONCE(chan->rx->prod)) - chan->rx_cons >
		 HYPER_DMABUF_RING_SLOTS;
	if (broken)
		hyper_dmabuf_xen_ring_error(&chan->rx_broken);
	broken |= chan->state == HYPER_DMABUF_XEN_CONNECTED &&
		  READ_ONCE(chan->tx_broken);
	if (chan->state == HYPER_DMABUF_XEN_CONNECTED &&
	    (ret || off.nonce != chan->peer_nonce || broken)) {
		hyper_dmabuf_xen_chan_reset(chan);
		gone = true;
	}
	/* A new peer is answered only once the old one is forgotten. */
	if (!gone && !ret && !broken &&
	    chan->state != HYPER_DMABUF_XEN_CONNECTED) {
		if (chan->state == HYPER_DMABUF_XEN_IDLE)
			ret = hyper_dmabuf_xen_chan_offer(chan);
		if (!ret)
			ret = hyper_dmabuf_xen_chan_connect(chan, &off);
		if (ret) {
			pr_warn_ratelimited("hyper_dmabuf_xen: domain %u: cannot connect: %d\n",
					    chan->peer, ret);
			hyper_dmabuf_xen_chan_reset(chan);
		}
	}
out_unlock:
	idle = chan->state == HYPER_DMABUF_XEN_IDLE;
	mutex_unlock(&chan->lock);
	wake_up_all(&chan->wq);
	if (gone) {
		/* Messages of the old connection are not delivered late. */
		flush_work(&chan->deliver_work);
		hyper_dmabuf_backend_peer_gone(chan->peer);
		queue_work(hyper_dmabuf_xen.ctl_wq, &chan->check_work);
	}
	if (idle) {
		mutex_lock(&hyper_dmabuf_xen.lock);
		hyper_dmabuf_xen_chan_unused(chan);
		mutex_unlock(&hyper_dmabuf_xen.lock);
	}
}

static struct hyper_dmabuf_xen_chan *hyper_dmabuf_xen_chan_find(u32 peer)
{
	struct hyper_dmabuf_xen_chan *chan;

	lockdep_assert_held(&hyper_dmabuf_xen.lock);
	list_for_each_entry(chan, &hyper_dmabuf_xen.chans, link)
		if (chan->peer == peer)
			return chan;
	return NULL;
}

/* The channel to @peer, held for use outside hyper_dmabuf_xen.lock, or NULL */
static struct hyper_dmabuf_xen_chan *hyper_dmabuf_xen_chan_hold(u32 peer)
{
	struct hyper_dmabuf_xen_chan *chan;

	mutex_lock(&hyper_dmabuf_xen.lock);
	chan = hyper_dmabuf_xen_chan_find(peer);
	if (chan)
		chan->busy++;
	mutex_unlock(&hyper_dmabuf_xen.lock);
	return chan;
}

/* End a use begun by hyper_dmabuf_xen_chan_hold() or _chan_get(). */
static void hyper_dmabuf_xen_chan_put(struct hyper_dmabuf_xen_chan *chan)
{
	mutex_lock(&hyper_dmabuf_xen.lock);
	chan->busy--;
	hyper_dmabuf_xen_chan_unused(chan);
	mutex_unlock(&hyper_dmabuf_xen.lock);
}

/*
 * A domU learns of the offers of a peer whose pair directory lives in the
 * peer's home only through the channel's own watch: that channel is kept
 * while the directory exists, that is while dom0 allows the pair and the
 * peer lives.
 */
static bool hyper_dmabuf_xen_chan_needed(struct hyper_dmabuf_xen_chan *chan)
{
	char dir[HYPER_DMABUF_XEN_PATH_LEN], node[16];
	void *val;

	if (!chan->remote_dir)
		return false;
	snprintf(dir, sizeof(dir), "/local/domain/%u/data/hyper_dmabuf/pair",
		 chan->peer);
	snprintf(node, sizeof(node), "%u", hyper_dmabuf_xen.self);
	/* Only a directory known to be gone (not an error) lets it go. */
	val = xenbus_read(XBT_NIL, dir, node, NULL);
	if (IS_ERR(val))
		return PTR_ERR(val) != -ENOENT;
	kfree(val);
	return true;
}

/*
 * Free the channels that are down and that nothing needs.  The reaper runs
 * on the ordered hyper_dmabuf_xen.ctl_wq, so no check of a channel runs
 * meanwhile, and every other state change of a channel happens while
 * someone holds it (busy): a channel that is idle, unused and unheld here
 * stays so.  Once it is off the list nobody finds it; its watch is removed
 * and its works are cancelled before it is freed.
 */
static void hyper_dmabuf_xen_reap_work(struct work_struct *work)
{
	struct hyper_dmabuf_xen_chan *chan, *tmp;
	LIST_HEAD(dead);

	mutex_lock(&hyper_dmabuf_xen.lock);
	list_for_each_entry_safe(chan, tmp, &hyper_dmabuf_xen.chans, link) {
		if (hyper_dmabuf_xen.stopping || chan->users || chan->busy ||
		    READ_ONCE(chan->state) != HYPER_DMABUF_XEN_IDLE ||
		    work_pending(&chan->check_work) ||
		    hyper_dmabuf_xen_chan_needed(chan))
			continue;
		list_move(&chan->link, &dead);
	}
	mutex_unlock(&hyper_dmabuf_xen.lock);

	list_for_each_entry_safe(chan, tmp, &dead, link) {
		/*
		 * Outside hyper_dmabuf_xen.lock: watch callbacks may be
		 * waiting for it.
		 */
		if (chan->watching)
			unregister_xenbus_watch(&chan->watch);
		/*
		 * The drain and the delivery queue each other and may queue a
		 * check: disable both, then cancel the check.
		 */
		disable_work_sync(&chan->drain_work);
		disable_work_sync(&chan->deliver_work);
		cancel_work_sync(&chan->check_work);
		list_del(&chan->link);
		kfree(chan);
	}
}

/*
 * Find or create the channel to @peer and hold it
 * (hyper_dmabuf_xen_chan_put() ends that); returns NULL without memory or
 * while the module stops.
 */
static struct hyper_dmabuf_xen_chan *hyper_dmabuf_xen_chan_get(u32 peer)
{
	u32 host = hyper_dmabuf_xen_host(hyper_dmabuf_xen.self, peer);
	struct hyper_dmabuf_xen_chan *chan;
	u32 other;

	mutex_lock(&hyper_dmabuf_xen.lock);
	chan = hyper_dmabuf_xen_chan_find(peer);
	if (chan || hyper_dmabuf_xen.stopping)
		goto out_unlock;
	chan = kzalloc_obj(*chan, GFP_KERNEL);
	if (!chan)
		goto out_unlock;
	chan->peer = peer;
	other = host == peer ? hyper_dmabuf_xen.self : peer;
	snprintf(chan->my_node, sizeof(chan->my_node),
		 "/local/domain/%u/data/hyper_dmabuf/pair/%u/%u", host, other,
		 hyper_dmabuf_xen.self);
	snprintf(chan->peer_node, sizeof(chan->peer_node),
		 "/local/domain/%u/data/hyper_dmabuf/pair/%u/%u", host, other,
		 peer);
	chan->remote_dir = host == peer && !hyper_dmabuf_xen.privileged;
	mutex_init(&chan->lock);
	mutex_init(&chan->tx_lock);
	spin_lock_init(&chan->rx_lock);
	INIT_LIST_HEAD(&chan->rx_list);
	INIT_WORK(&chan->check_work, hyper_dmabuf_xen_check_work);
	INIT_WORK(&chan->drain_work, hyper_dmabuf_xen_drain_work);
	INIT_WORK(&chan->deliver_work, hyper_dmabuf_xen_deliver_work);
	init_waitqueue_head(&chan->wq);
	list_add(&chan->link, &hyper_dmabuf_xen.chans);
out_unlock:
	if (chan)
		chan->busy++;
	mutex_unlock(&hyper_dmabuf_xen.lock);
	return chan;
}

static void hyper_dmabuf_xen_chan_lookup(u32 peer, bool create)
{
	struct hyper_dmabuf_xen_chan *chan;

	if (peer == hyper_dmabuf_xen.self || peer >= DOMID_FIRST_RESERVED)
		return;
	if (create)
		chan = hyper_dmabuf_xen_chan_get(peer);
	else
		chan = hyper_dmabuf_xen_chan_hold(peer);
	if (!chan)
		return;
	queue_work(hyper_dmabuf_xen.ctl_wq, &chan->check_work);
	hyper_dmabuf_xen_chan_put(chan);
}

/*
 * Wait, bounded, for the peer to answer the offer.  Every second the offer
 * is written again, which fires the peer's watch once more, and both sides
 * look at xenstore again: a peer whose driver came up in between, or that
 * missed an event, still connects.
 */
static int hyper_dmabuf_xen_wait_connected(struct hyper_dmabuf_xen_chan *chan)
{
	unsigned long end = jiffies +
			    msecs_to_jiffies(HYPER_DMABUF_XEN_CONNECT_MS);

	for (;;) {
		if (wait_event_timeout(chan->wq,
				       READ_ONCE(chan->state) !=
				       HYPER_DMABUF_XEN_OFFERED,
				       HZ))
			return 0;
		if (time_after(jiffies, end))
			return -ETIMEDOUT;
		mutex_lock(&chan->lock);
		if (chan->state == HYPER_DMABUF_XEN_OFFERED)
			xenbus_write(XBT_NIL, chan->my_node, "", chan->offer);
		mutex_unlock(&chan->lock);
		queue_work(hyper_dmabuf_xen.ctl_wq, &chan->check_work);
	}
}

/*
 * Whether @dir/@node exists in xenstore: 1 or 0, or a negative error code
 * when xenstore could not tell (no memory, no connection), which
 * xenbus_exists() would take for absence.
 */
static int hyper_dmabuf_xen_xs_exists(const char *dir, const char *node)
{
	unsigned int n;
	char **d;

	d = xenbus_directory(XBT_NIL, dir, node, &n);
	if (!IS_ERR(d)) {
		kfree(d);
		return 1;
	}
	return PTR_ERR(d) == -ENOENT ? 0 : PTR_ERR(d);
}

/*
 * Checks and offer of hyper_dmabuf_xen_init_channel(); returns the channel,
 * held (see hyper_dmabuf_xen_chan_put()), or an ERR_PTR.
 */
static struct hyper_dmabuf_xen_chan *
hyper_dmabuf_xen_chan_start_offer(u32 domid)
{
	char node[16], allow[HYPER_DMABUF_XEN_PATH_LEN + sizeof("/allow")];
	struct hyper_dmabuf_xen_chan *chan;
	int ret = 0;

	if (domid >= DOMID_FIRST_RESERVED || domid == hyper_dmabuf_xen.self)
		return ERR_PTR(-EINVAL);
	snprintf(node, sizeof(node), "%u", domid);
	if (hyper_dmabuf_xen.privileged) {
		ret = hyper_dmabuf_xen_xs_exists("/local/domain", node);
		if (ret <= 0)
			return ERR_PTR(ret ?: -ESRCH);
		ret = 0;
	}
	if (!hyper_dmabuf_xen.privileged && domid) {
		snprintf(allow, sizeof(allow), "%s/allow",
			 hyper_dmabuf_xen.home);
		ret = hyper_dmabuf_xen_xs_exists(allow, node);
		if (ret <= 0)
			return ERR_PTR(ret ?: -EACCES);
		ret = 0;
	}
	chan = hyper_dmabuf_xen_chan_get(domid);
	if (!chan)
		return ERR_PTR(-ENOMEM);
	mutex_lock(&chan->lock);
	if (chan->state == HYPER_DMABUF_XEN_IDLE)
		ret = hyper_dmabuf_xen_chan_offer(chan);
	mutex_unlock(&chan->lock);
	/* The peer may have offered already. */
	queue_work(hyper_dmabuf_xen.ctl_wq, &chan->check_work);
	if (ret) {
		hyper_dmabuf_xen_chan_put(chan);
		return ERR_PTR(ret);
	}
	return chan;
}

/**
 * hyper_dmabuf_xen_init_channel() - make sure a channel to @domid is coming
 * up
 * @domid: peer domain
 *
 * On success the channel is kept until the matching
 * hyper_dmabuf_xen_fini_channel().
 *
 * Return: 0, -EINVAL for a reserved domid, -ESRCH (dom0) if no such domain
 * exists, -EACCES (domU) if dom0 did not allow sharing with that domU,
 * -ENOMEM, or an error from xenstore or Xen.
 */
int hyper_dmabuf_xen_init_channel(u32 domid)
{
	struct hyper_dmabuf_xen_chan *chan;

	chan = hyper_dmabuf_xen_chan_start_offer(domid);
	if (IS_ERR(chan))
		return PTR_ERR(chan);
	mutex_lock(&hyper_dmabuf_xen.lock);
	chan->users++;
	chan->busy--;
	mutex_unlock(&hyper_dmabuf_xen.lock);
	return 0;
}

/**
 * hyper_dmabuf_xen_wait_channel() - bring the channel to @domid up and wait
 * for it
 * @domid: peer domain
 *
 * Return: 0 once connected, an error of hyper_dmabuf_xen_init_channel(), or
 * -ETIMEDOUT if the peer did not answer.
 */
int hyper_dmabuf_xen_wait_channel(u32 domid)
{
	struct hyper_dmabuf_xen_chan *chan;
	int ret;

	chan = hyper_dmabuf_xen_chan_start_offer(domid);
	if (IS_ERR(chan))
		return PTR_ERR(chan);
	ret = hyper_dmabuf_xen_wait_connected(chan);
	hyper_dmabuf_xen_chan_put(chan);
	return ret;
}

/**
 * hyper_dmabuf_xen_fini_channel() - undo hyper_dmabuf_xen_init_channel()
 * @domid: peer domain
 *
 * A channel that is up stays up, for the peer's exports too, until the
 * peer goes or the module is unloaded.  A channel that is idle (neither
 * offered nor connected) and that no export uses any more is freed by the
 * reaper.  An offer the peer never answered stays published until the
 * module is unloaded (known limit), so it is ready when the peer's driver
 * comes.
 */
void hyper_dmabuf_xen_fini_channel(u32 domid)
{
	struct hyper_dmabuf_xen_chan *chan;

	mutex_lock(&hyper_dmabuf_xen.lock);
	chan = hyper_dmabuf_xen_chan_find(domid);
	if (!WARN_ON_ONCE(!chan || !chan->users)) {
		chan->users--;
		hyper_dmabuf_xen_chan_unused(chan);
	}
	mutex_unlock(&hyper_dmabuf_xen.lock);
}

static bool hyper_dmabuf_xen_tx_ready(struct hyper_dmabuf_xen_chan *chan)
{
	if (READ_ONCE(chan->state) != HYPER_DMABUF_XEN_CONNECTED)
		return true;
	return chan->tx_prod - le32_to_cpu(READ_ONCE(chan->tx->cons)) !=
	       HYPER_DMABUF_RING_SLOTS;
}

/**
 * hyper_dmabuf_xen_send() - send a message to a domain
 * @domid: peer domain
 * @msg: message
 * @len: %HYPER_DMABUF_MSG_SIZE
 *
 * Called by the core's send work of @domid, never under the core's mutex.
 * Waits, bounded, for room in the ring of a connected channel; a channel
 * that is not connected (hyper_dmabuf_xen_wait_channel() brings it up
 * before anything is shared) fails at once.
 *
 * Return: 0, -EAGAIN while the channel is offered again (it is coming
 * up), -ENOTCONN without a channel, -ETIMEDOUT if the peer did not make
 * room, -ECONNRESET if the channel went down, -EPROTO if the peer
 * corrupted the ring (the channel is then reset).
 */
int hyper_dmabuf_xen_send(u32 domid, const void *msg, size_t len)
{
	long timeout = msecs_to_jiffies(HYPER_DMABUF_XEN_SEND_MS);
	struct hyper_dmabuf_xen_chan *chan;
	u32 cons, used;
	int ret;

	if (len != HYPER_DMABUF_MSG_SIZE)
		return -EINVAL;
	chan = hyper_dmabuf_xen_chan_hold(domid);
	if (!chan)
		return -ENOTCONN;
	/* Coming up again (the core tries later) or gone (dropped). */
	switch (READ_ONCE(chan->state)) {
	case HYPER_DMABUF_XEN_CONNECTED:
		break;
	case HYPER_DMABUF_XEN_OFFERED:
		ret = -EAGAIN;
		goto out_put;
	default:
		ret = -ENOTCONN;
		goto out_put;
	}

	mutex_lock(&chan->tx_lock);
	for (;;) {
		if (READ_ONCE(chan->state) != HYPER_DMABUF_XEN_CONNECTED ||
		    !chan->tx) {
			ret = -ECONNRESET;
			break;
		}
		cons = le32_to_cpu(READ_ONCE(chan->tx->cons));
		used = chan->tx_prod - cons;
		if (used > HYPER_DMABUF_RING_SLOTS) {
			hyper_dmabuf_xen_ring_error(&chan->tx_broken);
			queue_work(hyper_dmabuf_xen.ctl_wq, &chan->check_work);
			ret = -EPROTO;
			break;
		}
		if (used < HYPER_DMABUF_RING_SLOTS) {
			/* The receiver is done with the slot before reuse. */
			virt_mb();
			memcpy(hyper_dmabuf_xen_slot(chan->tx, chan->tx_prod),
			       msg, HYPER_DMABUF_MSG_SIZE);
			/* The slot is written before the index covers it. */
			virt_wmb();
			chan->tx_prod++;
			WRITE_ONCE(chan->tx->prod, cpu_to_le32(chan->tx_prod));
			notify_remote_via_irq(chan->tx_irq);
			ret = 0;
			break;
		}
		if (!wait_event_timeout(chan->wq,
					hyper_dmabuf_xen_tx_ready(chan),
					timeout)) {
			ret = -ETIMEDOUT;
			break;
		}
	}
	mutex_unlock(&chan->tx_lock);
out_put:
	hyper_dmabuf_xen_chan_put(chan);
	return ret;
}

/* ---- watches ------------------------------------------------------------- */

static void hyper_dmabuf_xen_janitor(u32 dead)
{
	char node[16], dir[HYPER_DMABUF_XEN_PATH_LEN];
	unsigned int n, i;
	char **doms;
	u32 host;

	snprintf(node, sizeof(node), "%u", dead);
	/* Only a domain xenstore says is gone: not on an error. */
	if (hyper_dmabuf_xen_xs_exists("/local/domain", node))
		return;
	doms = xenbus_directory(XBT_NIL, "/local/domain", "", &n);
	if (IS_ERR(doms))
		return;
	for (i = 0; i < n; i++) {
		if (kstrtou32(doms[i], 10, &host) || !host || host == dead)
			continue;
		snprintf(dir, sizeof(dir),
			 "/local/domain/%u/data/hyper_dmabuf/pair/%u", host,
			 dead);
		if (xenbus_exists(XBT_NIL, dir, node))
			xenbus_write(XBT_NIL, dir, node, "");
	}
	kfree(doms);
}

struct hyper_dmabuf_xen_janitor_work {
	struct work_struct work;
	u32 dead;
};

static void hyper_dmabuf_xen_janitor_work(struct work_struct *work)
{
	struct hyper_dmabuf_xen_janitor_work *jw =
		container_of(work, typeof(*jw), work);

	if (!READ_ONCE(hyper_dmabuf_xen.stopping))
		hyper_dmabuf_xen_janitor(jw->dead);
	kfree(jw);
}

/* dom0 watches /local/domain: offers to it and domains going away. */
static void hyper_dmabuf_xen_dom0_watch_cb(struct xenbus_watch *watch,
					   const char *path, const char *token)
{
	struct hyper_dmabuf_xen_janitor_work *jw;
	unsigned int domid, peer, owner;
	int n = 0;

	if (sscanf(path, "/local/domain/%u%n", &domid, &n) != 1 || !domid)
		return;
	if (!path[n]) {
		/* A domain came or went: its channel and its offers. */
		hyper_dmabuf_xen_chan_lookup(domid, false);
		jw = kzalloc_obj(*jw, GFP_KERNEL);
		if (jw) {
			INIT_WORK(&jw->work, hyper_dmabuf_xen_janitor_work);
			jw->dead = domid;
			queue_work(hyper_dmabuf_xen.ctl_wq, &jw->work);
		}
		return;
	}
	if (sscanf(path + n, "/data/hyper_dmabuf/pair/%u/%u", &peer,
		   &owner) == 2 && peer == 0 && owner == domid)
		hyper_dmabuf_xen_chan_lookup(domid, true);
}

/* A domU watches its own hyper_dmabuf directory. */
static void hyper_dmabuf_xen_domu_watch_cb(struct xenbus_watch *watch,
					   const char *path, const char *token)
{
	size_t len = strlen(hyper_dmabuf_xen.home);
	unsigned int peer;

	if (strncmp(path, hyper_dmabuf_xen.home, len))
		return;
	if (sscanf(path + len, "/pair/%u", &peer) == 1 ||
	    sscanf(path + len, "/allow/%u", &peer) == 1)
		hyper_dmabuf_xen_chan_lookup(peer, true);
}

/* ---- set-up ---------------------------------------------------------------- */

/**
 * hyper_dmabuf_xen_chan_init() - learn the local domid and prepare the work
 * queues
 *
 * Return: 0 or a negative error code.
 */
int hyper_dmabuf_xen_chan_init(void)
{
	unsigned int domid = 0;
	char *val;

	mutex_init(&hyper_dmabuf_xen.lock);
	INIT_LIST_HEAD(&hyper_dmabuf_xen.chans);
	INIT_WORK(&hyper_dmabuf_xen.reap_work, hyper_dmabuf_xen_reap_work);
	hyper_dmabuf_xen.privileged = xen_initial_domain();
	if (!hyper_dmabuf_xen.privileged) {
		val = xenbus_read(XBT_NIL, "domid", "", NULL);
		if (IS_ERR(val))
			return PTR_ERR(val);
		if (kstrtouint(val, 10, &domid) || !domid ||
		    domid >= DOMID_FIRST_RESERVED) {
			kfree(val);
			return -EINVAL;
		}
		kfree(val);
	}
	hyper_dmabuf_xen.self = domid;
	snprintf(hyper_dmabuf_xen.home, sizeof(hyper_dmabuf_xen.home),
		 "/local/domain/%u/data/hyper_dmabuf", domid);
	hyper_dmabuf_xen.ctl_wq =
		alloc_ordered_workqueue("hyper_dmabuf_xen_ctl", 0);
	hyper_dmabuf_xen.rx_wq =
		alloc_workqueue("hyper_dmabuf_xen_rx", WQ_UNBOUND, 0);
	if (!hyper_dmabuf_xen.ctl_wq || !hyper_dmabuf_xen.rx_wq) {
		if (hyper_dmabuf_xen.ctl_wq)
			destroy_workqueue(hyper_dmabuf_xen.ctl_wq);
		if (hyper_dmabuf_xen.rx_wq)
			destroy_workqueue(hyper_dmabuf_xen.rx_wq);
		return -ENOMEM;
	}
	return 0;
}

#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
/*
 * Test hook, debugfs hyper_dmabuf_xen/evflood (test kernels only): write
 * "DOMID COUNT" to signal both event channels of the connected channel to
 * DOMID COUNT times each, as fast as this domain can: a hostile peer, for
 * the test of the late-EOI throttling in the peer.
 */
static ssize_t hyper_dmabuf_xen_evflood_write(struct file *file,
					      const char __user *ubuf,
					      size_t count, loff_t *ppos)
{
	unsigned int domid, n, i;
	struct hyper_dmabuf_xen_chan *chan;
	char buf[32];
	int ret = 0;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = 0;
	if (sscanf(buf, "%u %u", &domid, &n) != 2 || n > 100000000)
		return -EINVAL;
	chan = hyper_dmabuf_xen_chan_hold(domid);
	if (!chan)
		return -ENOENT;
	mutex_lock(&chan->lock);
	if (chan->state != HYPER_DMABUF_XEN_CONNECTED)
		ret = -ENOTCONN;
	for (i = 0; !ret && i < n; i++) {
		notify_remote_via_irq(chan->tx_irq);
		notify_remote_via_irq(chan->rx_irq);
		if (i % 1024)
			continue;
		if (fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	mutex_unlock(&chan->lock);
	hyper_dmabuf_xen_chan_put(chan);
	return ret ?: count;
}

static const struct file_operations hyper_dmabuf_xen_evflood_fops = {
	.owner = THIS_MODULE,
	.write = hyper_dmabuf_xen_evflood_write,
	.llseek = noop_llseek,
};

/*
 * Test hook, debugfs hyper_dmabuf_xen/inject (test kernels only): this
 * domain plays a hostile peer that forges what it sends.  Each write is
 * one command, a line of text followed, for some, by raw bytes:
 *
 *   "slot DOMID [N]\n" BYTES  BYTES (at most 256, zero-filled to 256) go
 *                             into N (default 1) slots of the ring to
 *                             DOMID as they are, through
 *                             hyper_dmabuf_xen_send(): the same lock,
 *                             wait for room and notification as every
 *                             message (the ring carries no length: the
 *                             peer always receives 256 bytes)
 *   "prod DOMID V"            the producer index of the ring to DOMID
 *                             becomes V, or, if V has a sign, the peer's
 *                             consumer index plus V; the peer is notified
 *   "cons DOMID V"            the consumer index this domain writes in
 *                             DOMID's ring becomes V, or, if V has a
 *                             sign, DOMID's producer index plus V; DOMID
 *                             sees it when it next sends
 *   "dir DOMID\n" BYTES       a new page holding BYTES (at most a page,
 *                             zero-filled), granted read-only to DOMID;
 *                             a read of this file gives "ref REF" of the
 *                             last one (see hyper_dmabuf_xen_debug.c)
 *   "fill REF\n" BYTES        new content for that page of grant REF
 *   "dirfree"                 end the grants of those pages, free them
 *                             (unloading the module does too)
 *
 * Only this domain's side is touched: everything the peer checks is left
 * to it.  Indices out of range make the peer reset the channel, which
 * withdraws its offer; that resets this side too (else its own next send
 * finds the ring out of range and resets it), and the next export brings
 * the channel up again.  An index within range makes the peer read the
 * slots as they are: stale messages come again.
 */
#define HYPER_DMABUF_XEN_INJECT_HEAD		64
#define HYPER_DMABUF_XEN_INJECT_MAX_SLOTS	100000

static int hyper_dmabuf_xen_inject_slots(u32 domid, unsigned int n,
					 const void *data, size_t len)
{
	u8 msg[HYPER_DMABUF_MSG_SIZE] = {};
	unsigned int i;
	int ret = 0;

	if (!n || n > HYPER_DMABUF_XEN_INJECT_MAX_SLOTS || len > sizeof(msg))
		return -EINVAL;
	memcpy(msg, data, len);
	for (i = 0; !ret && i < n; i++) {
		ret = hyper_dmabuf_xen_send(domid, msg, sizeof(msg));
		if (!ret && fatal_signal_pending(current))
			ret = -EINTR;
		cond_resched();
	}
	return ret;
}

static int hyper_dmabuf_xen_inject_index(u32 domid, bool prod, const char *arg)
{
	bool rel = arg[0] == '+' || arg[0] == '-';
	struct hyper_dmabuf_xen_chan *chan;
	int ret = 0;
	s32 delta;
	u32 val;

	if (rel ? kstrtos32(arg, 0, &delta) : kstrtou32(arg, 0, &val))
		return -EINVAL;
	chan = hyper_dmabuf_xen_chan_hold(domid);
	if (!chan)
		return -ENOENT;
	if (prod) {
		mutex_lock(&chan->tx_lock);
		if (READ_ONCE(chan->state) != HYPER_DMABUF_XEN_CONNECTED ||
		    !chan->tx) {
			ret = -ENOTCONN;
		} else {
			if (rel)
				val = le32_to_cpu(READ_ONCE(chan->tx->cons)) +
				      delta;
			/* Our own sends go on from there, as after V sends. */
			chan->tx_prod = val;
			WRITE_ONCE(chan->tx->prod, cpu_to_le32(val));
			notify_remote_via_irq(chan->tx_irq);
		}
		mutex_unlock(&chan->tx_lock);
	} else {
		mutex_lock(&chan->lock);
		if (chan->state != HYPER_DMABUF_XEN_CONNECTED) {
			ret = -ENOTCONN;
		} else {
			if (rel)
				val = le32_to_cpu(READ_ONCE(chan->rx->prod)) +
				      delta;
			WRITE_ONCE(chan->rx->cons, cpu_to_le32(val));
			notify_remote_via_irq(chan->rx_irq);
		}
		mutex_unlock(&chan->lock);
	}
	hyper_dmabuf_xen_chan_put(chan);
	return ret;
}

static ssize_t hyper_dmabuf_xen_inject_write(struct file *file,
					     const char __user *ubuf,
					     size_t count, loff_t *ppos)
{
	char head[HYPER_DMABUF_XEN_INJECT_HEAD], arg[16];
	unsigned int domid, n = 1;
	size_t hlen, dlen;
	const char *data;
	char *buf, *nl;
	int ret;

	if (!count || count > HYPER_DMABUF_XEN_INJECT_HEAD + PAGE_SIZE)
		return -EINVAL;
	buf = memdup_user(ubuf, count);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	nl = memchr(buf, '\n',
		    min_t(size_t, count, HYPER_DMABUF_XEN_INJECT_HEAD));
	hlen = nl ? nl - buf : count;
	data = nl ? nl + 1 : buf + count;
	dlen = buf + count - data;
	ret = -EINVAL;
	if (hlen >= HYPER_DMABUF_XEN_INJECT_HEAD)
		goto out_free;
	memcpy(head, buf, hlen);
	head[hlen] = 0;
	ret = 0;
	if (!strcmp(head, "dirfree"))
		hyper_dmabuf_xen_forge_free();
	else if (sscanf(head, "slot %u %u", &domid, &n) >= 1)
		ret = hyper_dmabuf_xen_inject_slots(domid, n, data, dlen);
	else if (sscanf(head, "prod %u %15s", &domid, arg) == 2)
		ret = hyper_dmabuf_xen_inject_index(domid, true, arg);
	else if (sscanf(head, "cons %u %15s", &domid, arg) == 2)
		ret = hyper_dmabuf_xen_inject_index(domid, false, arg);
	else if (sscanf(head, "dir %u", &domid) == 1)
		ret = hyper_dmabuf_xen_forge_dir(domid, data, dlen);
	else if (sscanf(head, "fill %u", &n) == 1)
		ret = hyper_dmabuf_xen_forge_fill(n, data, dlen);
	else
		ret = -EINVAL;
out_free:
	kfree(buf);
	return ret ?: count;
}

static ssize_t hyper_dmabuf_xen_inject_read(struct file *file,
					    char __user *ubuf,
					    size_t count, loff_t *ppos)
{
	char text[24];
	int len;

	len = scnprintf(text, sizeof(text), "ref %u\n",
			hyper_dmabuf_xen_forge_last());
	return simple_read_from_buffer(ubuf, count, ppos, text, len);
}

static const struct file_operations hyper_dmabuf_xen_inject_fops = {
	.owner = THIS_MODULE,
	.write = hyper_dmabuf_xen_inject_write,
	.read = hyper_dmabuf_xen_inject_read,
	.llseek = default_llseek,
};
#endif

static int hyper_dmabuf_xen_channels_show(struct seq_file *s, void *unused)
{
	static const char *const names[] = {
		[HYPER_DMABUF_XEN_IDLE] = "idle",
		[HYPER_DMABUF_XEN_OFFERED] = "offered",
		[HYPER_DMABUF_XEN_CONNECTED] = "connected",
	};
	struct hyper_dmabuf_xen_chan *chan;

	seq_printf(s, "self %u\n", hyper_dmabuf_xen.self);
	mutex_lock(&hyper_dmabuf_xen.lock);
	list_for_each_entry(chan, &hyper_dmabuf_xen.chans, link)
		seq_printf(s, "peer %u %s tx_prod %u rx_cons %u offer %s events rx %lu/%lu tx %lu/%lu\n",
			   chan->peer, names[READ_ONCE(chan->state)],
			   READ_ONCE(chan->tx_prod), READ_ONCE(chan->rx_cons),
			   chan->my_node, READ_ONCE(chan->rx_events),
			   READ_ONCE(chan->rx_spurious),
			   READ_ONCE(chan->tx_events),
			   READ_ONCE(chan->tx_spurious));
	mutex_unlock(&hyper_dmabuf_xen.lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hyper_dmabuf_xen_channels);

/* Channels to peers that offered or were allowed before the module loaded. */
static void hyper_dmabuf_xen_scan(const char *dir, const char *node)
{
	unsigned int n, i;
	char **peers;
	u32 peer;

	peers = xenbus_directory(XBT_NIL, dir, node, &n);
	if (IS_ERR(peers))
		return;
	for (i = 0; i < n; i++)
		if (!kstrtou32(peers[i], 10, &peer))
			hyper_dmabuf_xen_chan_lookup(peer, true);
	kfree(peers);
}

static void hyper_dmabuf_xen_dom0_scan(void)
{
	char dir[HYPER_DMABUF_XEN_PATH_LEN];
	unsigned int n, i;
	char **doms;
	u32 domid;

	doms = xenbus_directory(XBT_NIL, "/local/domain", "", &n);
	if (IS_ERR(doms))
		return;
	for (i = 0; i < n; i++) {
		if (kstrtou32(doms[i], 10, &domid) || !domid)
			continue;
		snprintf(dir, sizeof(dir),
			 "/local/domain/%u/data/hyper_dmabuf/pair/0", domid);
		if (xenbus_exists(XBT_NIL, dir, doms[i]))
			hyper_dmabuf_xen_chan_lookup(domid, true);
	}
	kfree(doms);
}

/**
 * hyper_dmabuf_xen_chan_start() - start watching xenstore for peers
 *
 * Return: 0 or a negative error code.
 */
int hyper_dmabuf_xen_chan_start(void)
{
	struct xenbus_watch *watch = &hyper_dmabuf_xen.watch;
	struct dentry *dir;
	int ret;

	if (hyper_dmabuf_xen.privileged) {
		watch->node = "/local/domain";
		watch->callback = hyper_dmabuf_xen_dom0_watch_cb;
	} else {
		watch->node = hyper_dmabuf_xen.home;
		watch->callback = hyper_dmabuf_xen_domu_watch_cb;
	}
	dir = debugfs_create_dir("hyper_dmabuf_xen", NULL);
	hyper_dmabuf_xen.debugfs = dir;
	debugfs_create_file("channels", 0400, dir, NULL,
			    &hyper_dmabuf_xen_channels_fops);
#if IS_ENABLED(CONFIG_HYPER_DMABUF_DEBUG)
	debugfs_create_file("evflood", 0200, dir, NULL,
			    &hyper_dmabuf_xen_evflood_fops);
	debugfs_create_file("inject", 0600, dir, NULL,
			    &hyper_dmabuf_xen_inject_fops);
#endif
	debugfs_create_atomic_t("ring_errors", 0400, dir,
				&hyper_dmabuf_xen.ring_errors);
	hyper_dmabuf_xen_shm_debugfs(dir);
	ret = register_xenbus_watch(watch);
	hyper_dmabuf_xen.watching = !ret;
	if (ret)
		return ret;
	if (hyper_dmabuf_xen.privileged) {
		hyper_dmabuf_xen_dom0_scan();
	} else {
		hyper_dmabuf_xen_scan(hyper_dmabuf_xen.home, "allow");
		hyper_dmabuf_xen_scan(hyper_dmabuf_xen.home, "pair");
	}
	return 0;
}

/**
 * hyper_dmabuf_xen_chan_exit() - withdraw every offer and free the channels
 */
void hyper_dmabuf_xen_chan_exit(void)
{
	struct hyper_dmabuf_xen_chan *chan, *tmp;

	debugfs_remove_recursive(hyper_dmabuf_xen.debugfs);
	hyper_dmabuf_xen_forge_free();
	mutex_lock(&hyper_dmabuf_xen.lock);
	WRITE_ONCE(hyper_dmabuf_xen.stopping, true);
	mutex_unlock(&hyper_dmabuf_xen.lock);
	if (hyper_dmabuf_xen.watching)
		unregister_xenbus_watch(&hyper_dmabuf_xen.watch);
	/*
	 * Checks that began before stopping may still register a watch; a
	 * reaper that began may still be freeing channels it took.
	 */
	flush_workqueue(hyper_dmabuf_xen.ctl_wq);
	cancel_work_sync(&hyper_dmabuf_xen.reap_work);
	list_for_each_entry(chan, &hyper_dmabuf_xen.chans, link)
		if (chan->watching)
			unregister_xenbus_watch(&chan->watch);

	list_for_each_entry_safe(chan, tmp, &hyper_dmabuf_xen.chans, link) {
		bool connected;

		mutex_lock(&chan->lock);
		connected = chan->state == HYPER_DMABUF_XEN_CONNECTED;
		hyper_dmabuf_xen_chan_reset(chan);
		mutex_unlock(&chan->lock);
		/* They queue each other: disable both before freeing. */
		disable_work_sync(&chan->drain_work);
		disable_work_sync(&chan->deliver_work);
		cancel_work_sync(&chan->check_work);
		if (connected)
			hyper_dmabuf_backend_peer_gone(chan->peer);
		list_del(&chan->link);
		kfree(chan);
	}
	destroy_workqueue(hyper_dmabuf_xen.rx_wq);
	destroy_workqueue(hyper_dmabuf_xen.ctl_wq);
}
