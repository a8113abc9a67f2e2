// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the hyper_dmabuf core: id stack, lookup tables, message
 * codec, event log, announcements deferred until fences signal and a
 * small benchmark.  A fake backend stands in for the hypervisor and a
 * minimal fence implementation for a GPU.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/dma-buf.h>
#include <linux/dma-fence.h>
#include <linux/dma-resv.h>
#include <linux/file.h>
#include <linux/fdtable.h>
#include <linux/kthread.h>
#include <linux/ktime.h>
#include <linux/mman.h>
#include <linux/mmzone.h>
#include <linux/random.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "hyper_dmabuf_drv.h"

MODULE_IMPORT_NS("DMA_BUF");

#define TEST_LOCAL_DOMID	3
#define TEST_PEER_DOMID		7
#define TEST_OTHER_DOMID	9

/* ---- fake backend ----------------------------------------------------- */

static struct {
	unsigned int sent;
	unsigned int shared;
	unsigned int channels;
	unsigned int mapped;
	spinlock_t lock; /* the counters and @last, set by the send works */
	int fail_send;
	unsigned int failed;
	u32 other_domid;
	unsigned int sent_other;
	u32 last_domid;
	struct hyper_dmabuf_msg_wire last;
	bool block_send;
	struct completion send_blocked;
	struct completion send_unblock;
} fake;

static u32 fake_get_domid(void)
{
	return TEST_LOCAL_DOMID;
}

static int fake_init_channel(u32 domid)
{
	fake.channels++;
	return 0;
}

static void fake_fini_channel(u32 domid)
{
	fake.channels--;
}

static int fake_share(u32 domid, struct dma_buf *dmabuf, bool rw,
		      struct hyper_dmabuf_share *out)
{
	fake.shared++;
	out->handle = dmabuf;
	out->ref = 0x1234;
	return 0;
}

static void fake_unshare(u32 domid, void *handle)
{
	fake.shared--;
}

static int fake_map(u32 domid, u64 ref, unsigned int nr_pages, bool rw,
		    struct hyper_dmabuf_mapping *out)
{
	unsigned int i;

	out->pages = kcalloc(nr_pages, sizeof(*out->pages), GFP_KERNEL);
	if (!out->pages)
		return -ENOMEM;
	for (i = 0; i < nr_pages; i++) {
		out->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!out->pages[i])
			goto err_free_pages;
	}
	out->nr_pages = nr_pages;
	out->handle = out;
	fake.mapped++;
	return 0;

err_free_pages:
	while (i--)
		__free_page(out->pages[i]);
	kfree(out->pages);
	return -ENOMEM;
}

static void fake_unmap(u32 domid, void *handle)
{
	struct hyper_dmabuf_mapping *map = handle;
	unsigned int i;

	for (i = 0; i < map->nr_pages; i++)
		__free_page(map->pages[i]);
	kfree(map->pages);
	fake.mapped--;
}

static int fake_send(u32 domid, const void *msg, size_t len)
{
	int ret = 0;

	/* Once armed, the next send waits until the test lets it go on. */
	if (domid != fake.other_domid && fake.block_send) {
		fake.block_send = false;
		complete(&fake.send_blocked);
		wait_for_completion(&fake.send_unblock);
	}
	spin_lock(&fake.lock);
	if (domid == fake.other_domid) {
		fake.sent_other++;
	} else if (fake.fail_send) {
		ret = fake.fail_send;
		fake.fail_send = 0;
		fake.failed++;
	} else {
		fake.sent++;
		fake.last_domid = domid;
		memcpy(&fake.last, msg, min(len, sizeof(fake.last)));
	}
	spin_unlock(&fake.lock);
	return ret;
}

/* Messages are sent by the core's works: wait for those queued so far. */
static unsigned int test_sent(struct hyper_dmabuf_core *core)
{
	hyper_dmabuf_core_tx_flush(core);
	return READ_ONCE(fake.sent);
}

static u16 test_last_op(struct hyper_dmabuf_core *core)
{
	hyper_dmabuf_core_tx_flush(core);
	return le16_to_cpu(READ_ONCE(fake.last.op));
}

static const struct hyper_dmabuf_backend_ops fake_ops = {
	.owner = THIS_MODULE,
	.get_domid = fake_get_domid,
	.init_channel = fake_init_channel,
	.fini_channel = fake_fini_channel,
	.share = fake_share,
	.unshare = fake_unshare,
	.map = fake_map,
	.unmap = fake_unmap,
	.send = fake_send,
};

/* ---- a trivial dma-buf to export -------------------------------------- */

static struct sg_table *test_buf_map(struct dma_buf_attachment *attach,
				     enum dma_data_direction dir)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static void test_buf_unmap(struct dma_buf_attachment *attach,
			   struct sg_table *sgt, enum dma_data_direction dir)
{
}

static void test_buf_release(struct dma_buf *dmabuf)
{
}

static const struct dma_buf_ops test_buf_ops = {
	.map_dma_buf = test_buf_map,
	.unmap_dma_buf = test_buf_unmap,
	.release = test_buf_release,
};

static struct dma_buf *test_buf_create_size(struct kunit *test, size_t size)
{
	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);
	struct dma_buf *dmabuf;

	exp_info.ops = &test_buf_ops;
	exp_info.size = size;
	exp_info.flags = O_RDWR;
	exp_info.priv = test;
	dmabuf = dma_buf_export(&exp_info);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, dmabuf);
	return dmabuf;
}

static struct dma_buf *test_buf_create(struct kunit *test)
{
	return test_buf_create_size(test, PAGE_SIZE);
}

/*
 * Tests run in a kthread, where the last fput() is deferred to a work
 * item; flush it so that releases are visible at once.
 */
static void test_put(struct dma_buf *dmabuf)
{
	dma_buf_put(dmabuf);
	flush_delayed_fput();
}

/* An import as the ioctl makes it without flags: waits for a pending one. */
static struct dma_buf *test_import(struct hyper_dmabuf_file *file,
				   const struct hyper_dmabuf_id *hid,
				   u32 fd_flags)
{
	return hyper_dmabuf_import_wait(file, hid, fd_flags, 0, 0);
}

/* ---- fixture ---------------------------------------------------------- */

struct test_ctx {
	struct hyper_dmabuf_core *core;
	struct hyper_dmabuf_file *file;
	struct dma_buf *buf;
};

static int hyper_dmabuf_test_init(struct kunit *test)
{
	struct test_ctx *ctx;

	ctx = kunit_kzalloc(test, sizeof(*ctx), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx);
	ctx->core = kunit_kzalloc(test, sizeof(*ctx->core), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx->core);
	ctx->file = kunit_kzalloc(test, sizeof(*ctx->file), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx->file);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_core_init(ctx->core), 0);
	/* The tests' own file is the administrator's (keys in events). */
	ctx->file->privileged = true;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(ctx->core, ctx->file), 0);
	/* The fake backend never acknowledges: nothing is sent again. */
	ctx->core->ack_timeout = 3600 * HZ;
	memset(&fake, 0, sizeof(fake));
	spin_lock_init(&fake.lock);
	init_completion(&fake.send_blocked);
	init_completion(&fake.send_unblock);
	test->priv = ctx;
	return 0;
}

static void hyper_dmabuf_test_exit(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;

	/* A test that stopped early must not leave a send blocked. */
	fake.block_send = false;
	complete_all(&fake.send_unblock);
	hyper_dmabuf_file_release(ctx->file);
	if (ctx->buf)
		test_put(ctx->buf);
	hyper_dmabuf_core_fini(ctx->core);
}

static struct hyper_dmabuf_id_stack *test_stack(struct kunit *test)
{
	struct hyper_dmabuf_id_stack *stack;

	stack = kunit_kzalloc(test, sizeof(*stack), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, stack);
	hyper_dmabuf_id_stack_init(stack);
	return stack;
}

/* ---- id stack --------------------------------------------------------- */

static void hyper_dmabuf_test_stack_bound(struct kunit *test)
{
	struct hyper_dmabuf_id_stack *stack = test_stack(test);
	struct hyper_dmabuf_id_stack *snap;
	struct hyper_dmabuf_id hid;
	int i;

	for (i = 0; i < HYPER_DMABUF_MAX_IDS; i++) {
		KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 0, &hid), 0);
		KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_slot(hid.id), (u32)i);
	}
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(stack), HYPER_DMABUF_MAX_IDS);

	snap = kunit_kmalloc(test, sizeof(*snap), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, snap);
	memcpy(snap, stack, sizeof(*snap));
	memset(&hid, 0x5a, sizeof(hid));
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_alloc(stack, 0, &hid), -ENOSPC);
	KUNIT_EXPECT_EQ(test, stack->top, snap->top);
	KUNIT_EXPECT_EQ(test, memcmp(stack->free, snap->free,
				     sizeof(stack->free)), 0);
	KUNIT_EXPECT_EQ(test, memcmp(stack->used, snap->used,
				     sizeof(stack->used)), 0);
	KUNIT_EXPECT_EQ(test, hid.id, 0x5a5a5a5aU);
}

static void hyper_dmabuf_test_stack_lifo(struct kunit *test)
{
	struct hyper_dmabuf_id_stack *stack = test_stack(test);
	struct hyper_dmabuf_id a, b, c, r1, r2;

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 1, &a), 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 1, &b), 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 1, &c), 0);

	KUNIT_EXPECT_TRUE(test, hyper_dmabuf_id_release(stack, b.id));
	KUNIT_EXPECT_TRUE(test, hyper_dmabuf_id_release(stack, a.id));
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 1, &r1), 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 1, &r2), 0);
	KUNIT_EXPECT_EQ(test, r1.id, a.id);
	KUNIT_EXPECT_EQ(test, r2.id, b.id);
	/* A reused id gets a fresh key. */
	KUNIT_EXPECT_NE(test, memcmp(r1.key, a.key, sizeof(a.key)), 0);
	KUNIT_EXPECT_NE(test, memcmp(r2.key, b.key, sizeof(b.key)), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(stack), 3U);
}

static void hyper_dmabuf_test_stack_bad_release(struct kunit *test)
{
	struct hyper_dmabuf_id_stack *stack = test_stack(test);
	struct hyper_dmabuf_id a, b;
	u32 top;

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 0, &a), 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 0, &b), 0);
	KUNIT_EXPECT_TRUE(test, hyper_dmabuf_id_release(stack, a.id));
	top = stack->top;

	/* Double release. */
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_id_release(stack, a.id));
	/* Never allocated, in and out of range. */
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_id_release(stack, 500));
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_id_release(stack, 1000));
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_id_release(stack, 0xffffff));
	KUNIT_EXPECT_EQ(test, stack->top, top);
	KUNIT_EXPECT_EQ(test, stack->refused, 4U);

	/* The stack still hands out what it should. */
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 0, &b), 0);
	KUNIT_EXPECT_EQ(test, b.id, a.id);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, 0, &b), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_slot(b.id), 2U);
}

static const u32 test_domids[] = { 0, 255, 256, 32751 };

static void test_domid_desc(const u32 *domid, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "domid %u", *domid);
}

KUNIT_ARRAY_PARAM(test_domid, test_domids, test_domid_desc);

static void hyper_dmabuf_test_domid_encoding(struct kunit *test)
{
	struct hyper_dmabuf_id_stack *stack = test_stack(test);
	const u32 domid = *(const u32 *)test->param_value;
	struct hyper_dmabuf_id hid;

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_id_alloc(stack, domid, &hid), 0);
	KUNIT_EXPECT_EQ(test, hid.id >> 24, domid & 0xff);
	KUNIT_EXPECT_EQ(test, hid.id & 0xffffff, 0U);
	KUNIT_EXPECT_EQ(test, hid.exporter_domid, domid);
	KUNIT_EXPECT_EQ(test, hid.pad, 0U);
	KUNIT_EXPECT_TRUE(test, hyper_dmabuf_id_release(stack, hid.id));
}

struct test_thread {
	struct hyper_dmabuf_id_stack *stack;
	struct completion done;
	unsigned int failures;
	unsigned int seed;
};

static int test_thread_fn(void *data)
{
	struct test_thread *t = data;
	struct hyper_dmabuf_id ids[50];
	unsigned int round, i, n;

	for (round = 0; round < 400; round++) {
		n = 1 + (t->seed + round * 7) % ARRAY_SIZE(ids);
		for (i = 0; i < n; i++)
			if (hyper_dmabuf_id_alloc(t->stack, 1, &ids[i]))
				break;
		n = i;
		while (i--)
			if (!hyper_dmabuf_id_release(t->stack, ids[i].id))
				t->failures++;
		if (!(round % 32))
			cond_resched();
	}
	complete(&t->done);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(1);
	return 0;
}

static void hyper_dmabuf_test_stack_concurrent(struct kunit *test)
{
	struct hyper_dmabuf_id_stack *stack = test_stack(test);
	struct task_struct *tasks[4];
	struct test_thread *threads;
	bool *seen;
	int i;

	threads = kunit_kcalloc(test, ARRAY_SIZE(tasks), sizeof(*threads),
				GFP_KERNEL);
	seen = kunit_kcalloc(test, HYPER_DMABUF_MAX_IDS, sizeof(*seen),
			     GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, threads);
	KUNIT_ASSERT_NOT_NULL(test, seen);

	for (i = 0; i < ARRAY_SIZE(tasks); i++) {
		threads[i].stack = stack;
		threads[i].seed = i * 13;
		init_completion(&threads[i].done);
		tasks[i] = kthread_run(test_thread_fn, &threads[i],
				       "hdmabuf-test/%d", i);
		KUNIT_ASSERT_FALSE(test, IS_ERR(tasks[i]));
	}
	for (i = 0; i < ARRAY_SIZE(tasks); i++) {
		wait_for_completion(&threads[i].done);
		kthread_stop(tasks[i]);
		KUNIT_EXPECT_EQ(test, threads[i].failures, 0U);
	}

	/* Everything came back, each slot exactly once. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(stack), 0U);
	KUNIT_ASSERT_EQ(test, stack->top, (u32)HYPER_DMABUF_MAX_IDS);
	for (i = 0; i < HYPER_DMABUF_MAX_IDS; i++) {
		u32 slot = stack->free[i];

		KUNIT_ASSERT_LT(test, slot, (u32)HYPER_DMABUF_MAX_IDS);
		KUNIT_EXPECT_FALSE(test, seen[slot]);
		KUNIT_EXPECT_FALSE(test, stack->used[slot]);
		seen[slot] = true;
	}
}

/* ---- message codec ---------------------------------------------------- */

static void test_msg_export(struct hyper_dmabuf_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	msg->op = HYPER_DMABUF_OP_EXPORT;
	msg->sender_domid = TEST_PEER_DOMID;
	msg->hid.id = hyper_dmabuf_id_make(TEST_PEER_DOMID, 42);
	msg->hid.exporter_domid = TEST_PEER_DOMID;
	msg->hid.key[0] = 0x11111111;
	msg->hid.key[1] = 0x22222222;
	msg->hid.key[2] = 0x33333333;
	msg->flags = HYPER_DMABUF_EXPORT_RDWR;
	msg->priv_size = 3;
	msg->priv[0] = 1;
	msg->priv[1] = 2;
	msg->priv[2] = 3;
	msg->buf_size = 4 * PAGE_SIZE;
	msg->ref = 0xabcdef;
}

static void hyper_dmabuf_test_msg_roundtrip(struct kunit *test)
{
	enum hyper_dmabuf_drop_reason reason;
	struct hyper_dmabuf_msg_wire wire;
	struct hyper_dmabuf_msg in, out;
	const u8 *raw = (const u8 *)&wire;

	test_msg_export(&in);
	hyper_dmabuf_msg_encode(&in, &wire);
	/* Little endian on the wire whatever the CPU. */
	KUNIT_EXPECT_EQ(test, raw[0], 1);
	KUNIT_EXPECT_EQ(test, raw[1], 0);
	KUNIT_EXPECT_EQ(test, raw[2], HYPER_DMABUF_OP_EXPORT);
	KUNIT_EXPECT_EQ(test, raw[4], 0);
	KUNIT_EXPECT_EQ(test, raw[5], 1);

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_msg_decode(&wire, sizeof(wire),
						      TEST_PEER_DOMID,
						      TEST_LOCAL_DOMID, &out,
						      &reason), 0);
	KUNIT_EXPECT_EQ(test, out.op, in.op);
	KUNIT_EXPECT_EQ(test, out.sender_domid, in.sender_domid);
	KUNIT_EXPECT_EQ(test, memcmp(&out.hid, &in.hid, sizeof(in.hid)), 0);
	KUNIT_EXPECT_EQ(test, out.flags, in.flags);
	KUNIT_EXPECT_EQ(test, out.priv_size, in.priv_size);
	KUNIT_EXPECT_EQ(test, out.buf_size, in.buf_size);
	KUNIT_EXPECT_EQ(test, out.ref, in.ref);
	KUNIT_EXPECT_EQ(test, memcmp(out.priv, in.priv, sizeof(in.priv)), 0);
}

struct test_bad_msg {
	const char *name;
	void (*mangle)(struct hyper_dmabuf_msg_wire *w, size_t *len);
	enum hyper_dmabuf_drop_reason reason;
};

static void bad_len_short(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	*len = sizeof(*w) - 1;
}

static void bad_len_zero(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	*len = 0;
}

static void bad_version(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->version = cpu_to_le16(2);
}

static void bad_size(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->size = cpu_to_le32(sizeof(*w) + 8);
}

static void bad_op_zero(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->op = 0;
}

static void bad_op_unknown(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->op = cpu_to_le16(HYPER_DMABUF_OP_MAX);
}

static void bad_sender(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->sender_domid = cpu_to_le32(TEST_PEER_DOMID + 1);
}

static void bad_id_domid_byte(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->id = cpu_to_le32(hyper_dmabuf_id_make(TEST_PEER_DOMID + 1, 42));
}

static void bad_exporter_not_peer(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	/* Consistent id and exporter, but not the sender's. */
	w->id = cpu_to_le32(hyper_dmabuf_id_make(TEST_PEER_DOMID + 256, 42));
	w->exporter_domid = cpu_to_le32(TEST_PEER_DOMID + 256);
}

static void bad_exporter_reserved(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->id = cpu_to_le32(hyper_dmabuf_id_make(0x7ff0, 42));
	w->exporter_domid = cpu_to_le32(0x7ff0);
}

static void bad_imported_not_ours(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	/* An importer answers about a buffer this domain did not export. */
	w->op = cpu_to_le16(HYPER_DMABUF_OP_IMPORTED);
	w->flags = 0;
	w->priv_size = 0;
	memset(w->priv, 0, sizeof(w->priv));
	w->buf_size = 0;
	w->ref = 0;
}

static void bad_slot(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->id = cpu_to_le32(hyper_dmabuf_id_make(TEST_PEER_DOMID,
						 HYPER_DMABUF_MAX_IDS));
}

static void bad_flags(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->flags = cpu_to_le32(1U << 5);
}

static void bad_flags_on_unexport(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->op = cpu_to_le16(HYPER_DMABUF_OP_UNEXPORT);
	w->flags = cpu_to_le32(HYPER_DMABUF_EXPORT_RDWR);
}

static void bad_priv_size(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->priv_size = cpu_to_le32(HYPER_DMABUF_MAX_PRIV + 1);
}

static void bad_priv_tail(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->priv[HYPER_DMABUF_MAX_PRIV - 1] = 0xff;
}

static void bad_buf_size_zero(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->buf_size = 0;
}

static void bad_buf_size_unaligned(struct hyper_dmabuf_msg_wire *w,
				   size_t *len)
{
	w->buf_size = cpu_to_le64(PAGE_SIZE + 1);
}

static void bad_buf_size_huge(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->buf_size = cpu_to_le64(HYPER_DMABUF_MSG_MAX_SIZE + PAGE_SIZE);
}

static void bad_reserved(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->reserved = cpu_to_le64(1);
}

static void bad_ref_on_unexport(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->op = cpu_to_le16(HYPER_DMABUF_OP_UNEXPORT);
	w->flags = 0;
	w->priv_size = 0;
	memset(w->priv, 0, sizeof(w->priv));
	w->buf_size = 0;
}

/* A PENDING notice carries neither a reference nor private data. */
static void bad_ref_on_pending(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->op = cpu_to_le16(HYPER_DMABUF_OP_PENDING);
	w->priv_size = 0;
	memset(w->priv, 0, sizeof(w->priv));
}

static void bad_priv_on_pending(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	w->op = cpu_to_le16(HYPER_DMABUF_OP_PENDING);
	w->ref = 0;
}

static void bad_size_on_pending(struct hyper_dmabuf_msg_wire *w, size_t *len)
{
	bad_priv_on_pending(w, len);
	w->priv_size = 0;
	memset(w->priv, 0, sizeof(w->priv));
	w->buf_size = 0;
}

static const struct test_bad_msg test_bad_msgs[] = {
	{ "len short", bad_len_short, HYPER_DMABUF_DROP_LEN },
	{ "len zero", bad_len_zero, HYPER_DMABUF_DROP_LEN },
	{ "version", bad_version, HYPER_DMABUF_DROP_VERSION },
	{ "size", bad_size, HYPER_DMABUF_DROP_SIZE },
	{ "op zero", bad_op_zero, HYPER_DMABUF_DROP_OP },
	{ "op unknown", bad_op_unknown, HYPER_DMABUF_DROP_OP },
	{ "sender", bad_sender, HYPER_DMABUF_DROP_SENDER },
	{ "id domid byte", bad_id_domid_byte, HYPER_DMABUF_DROP_DOMID },
	{ "exporter not peer", bad_exporter_not_peer, HYPER_DMABUF_DROP_DOMID },
	{ "exporter reserved", bad_exporter_reserved, HYPER_DMABUF_DROP_DOMID },
	{ "imported not ours", bad_imported_not_ours, HYPER_DMABUF_DROP_DOMID },
	{ "slot", bad_slot, HYPER_DMABUF_DROP_ID },
	{ "flags", bad_flags, HYPER_DMABUF_DROP_FLAGS },
	{ "flags on unexport", bad_flags_on_unexport, HYPER_DMABUF_DROP_FLAGS },
	{ "priv size", bad_priv_size, HYPER_DMABUF_DROP_PRIV },
	{ "priv tail", bad_priv_tail, HYPER_DMABUF_DROP_PRIV },
	{ "buf size zero", bad_buf_size_zero, HYPER_DMABUF_DROP_BUFSIZE },
	{ "buf size unaligned", bad_buf_size_unaligned,
	  HYPER_DMABUF_DROP_BUFSIZE },
	{ "buf size huge", bad_buf_size_huge, HYPER_DMABUF_DROP_BUFSIZE },
	{ "reserved", bad_reserved, HYPER_DMABUF_DROP_RESERVED },
	{ "ref on unexport", bad_ref_on_unexport, HYPER_DMABUF_DROP_RESERVED },
	{ "ref on pending", bad_ref_on_pending, HYPER_DMABUF_DROP_RESERVED },
	{ "priv on pending", bad_priv_on_pending, HYPER_DMABUF_DROP_PRIV },
	{ "size on pending", bad_size_on_pending, HYPER_DMABUF_DROP_BUFSIZE },
};

static void test_bad_msg_desc(const struct test_bad_msg *m, char *desc)
{
	strscpy(desc, m->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(test_bad_msg, test_bad_msgs, test_bad_msg_desc);

static void hyper_dmabuf_test_msg_malformed(struct kunit *test)
{
	const struct test_bad_msg *m = test->param_value;
	struct test_ctx *ctx = test->priv;
	enum hyper_dmabuf_drop_reason reason;
	struct hyper_dmabuf_msg_wire wire;
	struct hyper_dmabuf_msg in, out;
	size_t len = sizeof(wire);
	int i;

	test_msg_export(&in);
	hyper_dmabuf_msg_encode(&in, &wire);
	m->mangle(&wire, &len);

	KUNIT_EXPECT_EQ(test, hyper_dmabuf_msg_decode(&wire, len,
						      TEST_PEER_DOMID,
						      TEST_LOCAL_DOMID, &out,
						      &reason), -EINVAL);
	KUNIT_EXPECT_EQ(test, reason, m->reason);

	/* Through the core: dropped, counted under its reason only. */
	ctx->core->backend = &fake_ops;
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_core_rx(ctx->core, TEST_PEER_DOMID,
						   &wire, len), -EINVAL);
	for (i = 0; i < HYPER_DMABUF_DROP_MAX; i++)
		KUNIT_EXPECT_EQ(test, atomic_read(&ctx->core->drops[i]),
				i == m->reason ? 1 : 0);
	KUNIT_EXPECT_TRUE(test, hash_empty(ctx->core->imports));
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_evq_ready(&ctx->file->evq));
}

/* ---- tables ----------------------------------------------------------- */

static void hyper_dmabuf_test_lookup_exports(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_id hid, bad;
	struct dma_buf *imp;

	core->backend = &fake_ops;
	ctx->buf = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_LOCAL_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hid.exporter_domid, (u32)TEST_LOCAL_DOMID);
	KUNIT_EXPECT_EQ(test, hid.id >> 24, (u32)TEST_LOCAL_DOMID);

	mutex_lock(&core->lock);
	KUNIT_EXPECT_NOT_NULL(test, hyper_dmabuf_exp_lookup(core, &hid));
	bad = hid;
	bad.key[2] ^= 1;
	KUNIT_EXPECT_NULL(test, hyper_dmabuf_exp_lookup(core, &bad));
	bad = hid;
	bad.exporter_domid = TEST_LOCAL_DOMID + 256;
	KUNIT_EXPECT_NULL(test, hyper_dmabuf_exp_lookup(core, &bad));
	bad = hid;
	bad.id = hyper_dmabuf_id_make(TEST_LOCAL_DOMID + 1,
				      hyper_dmabuf_id_slot(hid.id));
	KUNIT_EXPECT_NULL(test, hyper_dmabuf_exp_lookup(core, &bad));
	mutex_unlock(&core->lock);

	bad = hid;
	bad.key[0] ^= 0x80000000;
	imp = test_import(ctx->file, &bad, O_RDONLY);
	KUNIT_EXPECT_EQ(test, PTR_ERR(imp), -ENOENT);
	/* Read-only export refuses a writable import. */
	imp = test_import(ctx->file, &hid, O_RDWR);
	KUNIT_EXPECT_EQ(test, PTR_ERR(imp), -EACCES);

	imp = test_import(ctx->file, &hid, O_RDONLY);
	KUNIT_ASSERT_FALSE(test, IS_ERR(imp));
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_imports), 1);
	/* Unexport while imported: the id stays live until release. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	KUNIT_EXPECT_EQ(test, PTR_ERR(test_import(ctx->file, &hid, O_RDONLY)),
			-ENOENT);
	test_put(imp);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_imports), 0);
}

static void test_rx(struct kunit *test, struct hyper_dmabuf_core *core,
		    u32 op, const struct hyper_dmabuf_id *hid, int expect)
{
	struct hyper_dmabuf_msg_wire wire;
	struct hyper_dmabuf_msg msg = {
		.op = op,
		.sender_domid = TEST_PEER_DOMID,
		.hid = *hid,
	};

	hyper_dmabuf_msg_encode(&msg, &wire);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_core_rx(core, TEST_PEER_DOMID,
						   &wire, sizeof(wire)),
			expect);
}

/* Receive @op for @hid with @flags (an IMPORTED's or RELEASED's mapping). */
static void test_rx_seq(struct kunit *test, struct hyper_dmabuf_core *core,
			u32 op, const struct hyper_dmabuf_id *hid, u32 flags,
			int expect)
{
	struct hyper_dmabuf_msg_wire wire;
	struct hyper_dmabuf_msg msg = {
		.op = op,
		.sender_domid = TEST_PEER_DOMID,
		.hid = *hid,
		.flags = flags,
	};

	hyper_dmabuf_msg_encode(&msg, &wire);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_core_rx(core, TEST_PEER_DOMID,
						   &wire, sizeof(wire)),
			expect);
}

/*
 * A RELEASED ends only the mapping it names: a copy sent again that
 * arrives after the next IMPORTED must not end the new mapping.
 */
static void hyper_dmabuf_test_map_seq(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_query q = { };
	u8 priv[HYPER_DMABUF_MAX_PRIV];
	struct hyper_dmabuf_id hid;

	core->backend = &fake_ops;
	ctx->buf = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	q.hid = hid;
	test_rx_seq(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, 1, 0);
	test_rx_seq(test, core, HYPER_DMABUF_OP_RELEASED, &hid, 1, 0);
	test_rx_seq(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, 2, 0);
	/* The first RELEASED again, late: the second mapping stands. */
	test_rx_seq(test, core, HYPER_DMABUF_OP_RELEASED, &hid, 1, -EINVAL);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_query(core, &q, priv), 0);
	KUNIT_EXPECT_EQ(test, q.busy, 1U);
	/* A third mapping before the second's RELEASED: still one. */
	test_rx_seq(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, 3, 0);
	test_rx_seq(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, 3, -EINVAL);
	test_rx_seq(test, core, HYPER_DMABUF_OP_RELEASED, &hid, 2, -EINVAL);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	test_rx_seq(test, core, HYPER_DMABUF_OP_RELEASED, &hid, 3, 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
}

static void hyper_dmabuf_test_remote_export(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	enum hyper_dmabuf_drop_reason reason;
	struct hyper_dmabuf_msg msg;
	struct hyper_dmabuf_id hid, bad;
	struct hyper_dmabuf_query q = { };
	u8 priv[HYPER_DMABUF_MAX_PRIV];

	ctx->buf = test_buf_create(test);
	/* No backend: remote domains are unreachable. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), -ENODEV);
	core->backend = &fake_ops;

	/* No room for the announcement undoes everything, including the id. */
	core->tx_queue_max = 0;
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), -EAGAIN);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.channels, 0U);
	core->tx_queue_max = HYPER_DMABUF_TX_QUEUE_MAX;

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID,
						  HYPER_DMABUF_EXPORT_RDWR,
						  "abc", 3, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, fake.shared, 1U);
	KUNIT_EXPECT_EQ(test, test_sent(core), 1U);
	KUNIT_EXPECT_EQ(test, fake.last_domid, (u32)TEST_PEER_DOMID);
	/* What the peer receives decodes as an export announce. */
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_msg_decode(&fake.last,
						      sizeof(fake.last),
						      TEST_LOCAL_DOMID,
						      TEST_PEER_DOMID, &msg,
						      &reason), 0);
	KUNIT_EXPECT_EQ(test, msg.op, (u32)HYPER_DMABUF_OP_EXPORT);
	KUNIT_EXPECT_EQ(test, msg.ref, 0x1234ULL);
	KUNIT_EXPECT_EQ(test, msg.priv_size, 3U);

	/* Peer maps it; a wrong key is dropped as such. */
	bad = hid;
	bad.key[1] ^= 4;
	test_rx(test, core, HYPER_DMABUF_OP_IMPORTED, &bad, -EINVAL);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->drops[HYPER_DMABUF_DROP_KEY]),
			1);
	test_rx(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, 0);
	q.hid = hid;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_query(core, &q, priv), 0);
	KUNIT_EXPECT_EQ(test, q.busy, 1U);
	KUNIT_EXPECT_EQ(test, q.type, (u32)HYPER_DMABUF_TYPE_EXPORTED);
	KUNIT_EXPECT_EQ(test, q.importer_domid, (u32)TEST_PEER_DOMID);

	/* Unexport while the peer holds it: UNEXPORT sent, id kept. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_UNEXPORT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_query(core, &q, priv), 0);
	KUNIT_EXPECT_EQ(test, q.unexport_pending, 1U);

	/* The peer's final release returns the id. */
	test_rx(test, core, HYPER_DMABUF_OP_RELEASED, &hid, 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.channels, 0U);
	/* A second release is stale. */
	test_rx(test, core, HYPER_DMABUF_OP_RELEASED, &hid, -EINVAL);
}

/* A peer counts once per export, however often it says IMPORTED. */
static void hyper_dmabuf_test_imported_once(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_query q = { };
	u8 priv[HYPER_DMABUF_MAX_PRIV];
	struct hyper_dmabuf_id hid;
	int i;

	core->backend = &fake_ops;
	ctx->buf = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	test_rx(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, 0);
	/* Repeats neither count nor take references; they are dropped. */
	for (i = 0; i < 3; i++)
		test_rx(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, -EINVAL);
	KUNIT_EXPECT_EQ(test,
			atomic_read(&core->drops[HYPER_DMABUF_DROP_REPEAT]), 3);
	q.hid = hid;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_query(core, &q, priv), 0);
	KUNIT_EXPECT_EQ(test, q.busy, 1U);

	/* Released, then mapped again: counted again. */
	test_rx(test, core, HYPER_DMABUF_OP_RELEASED, &hid, 0);
	test_rx(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_query(core, &q, priv), 0);
	KUNIT_EXPECT_EQ(test, q.busy, 1U);

	/* One release is all it takes to let the unexported buffer go. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	test_rx(test, core, HYPER_DMABUF_OP_RELEASED, &hid, 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
}

struct test_flush {
	struct workqueue_struct *wq;
	struct completion done;
};

static int test_flush_fn(void *data)
{
	struct test_flush *f = data;

	flush_workqueue(f->wq);
	complete(&f->done);
	return 0;
}

/*
 * A delayed unexport belongs to the core: it runs on core->wq, so that
 * tearing the core down waits for it by flushing that queue, without
 * reaching into an export that the work may have freed meanwhile (a
 * flush_delayed_work() of each export did: KASAN saw the work free the
 * export under the flush).
 */
static void hyper_dmabuf_test_unexport_delayed(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_core *core2;
	struct hyper_dmabuf_file *file2;
	struct test_flush f = { .wq = core->wq };
	struct hyper_dmabuf_id hid;
	struct task_struct *t;
	unsigned long done;

	core->backend = &fake_ops;
	ctx->buf = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, test_sent(core), 1U);
	init_completion(&fake.send_blocked);
	init_completion(&fake.send_unblock);
	init_completion(&f.done);
	fake.block_send = true;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 1), 0);
	/* The peer is told at once; the send is held up in the backend. */
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&fake.send_blocked,
							  5 * HZ), 0UL);
	t = kthread_run(test_flush_fn, &f, "hd-test-flush");
	if (IS_ERR(t))
		complete(&fake.send_unblock);
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	/* The unexport's work did not wait for it. */
	done = wait_for_completion_timeout(&f.done, HZ);
	KUNIT_EXPECT_NE(test, done, 0UL);
	complete(&fake.send_unblock);
	if (!done)
		wait_for_completion(&f.done);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_UNEXPORT);
	/* The delay over, its work lets the export go. */
	msleep(50);
	flush_workqueue(core->wq);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);

	/* Delayed unexports still waiting are run by the teardown. */
	core2 = kunit_kzalloc(test, sizeof(*core2), GFP_KERNEL);
	file2 = kunit_kzalloc(test, sizeof(*file2), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, core2);
	KUNIT_ASSERT_NOT_NULL(test, file2);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_core_init(core2), 0);
	file2->privileged = true;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core2, file2), 0);
	core2->backend = &fake_ops;
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(file2, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(file2, &hid,
						    HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS),
			0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(file2, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(file2, &hid,
						    HYPER_DMABUF_MAX_UNEXPORT_DELAY_MS),
			0);
	hyper_dmabuf_file_release(file2);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core2->ids), 2U);
	hyper_dmabuf_core_fini(core2);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core2->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.channels, 0U);
}

/* A lost peer: exports to it are withdrawn, its announcements forgotten. */
static void hyper_dmabuf_test_peer_gone(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_msg_wire wire;
	struct hyper_dmabuf_id hid, hid2;
	struct hyper_dmabuf_imp *imp;
	struct hyper_dmabuf_msg msg;
	struct dma_buf *buf2;
	unsigned int sent;

	core->backend = &fake_ops;
	ctx->buf = test_buf_create(test);
	buf2 = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, buf2,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid2, NULL), 0);
	/* The peer maps the first one, and announces a buffer of its own. */
	test_rx(test, core, HYPER_DMABUF_OP_IMPORTED, &hid, 0);
	test_msg_export(&msg);
	hyper_dmabuf_msg_encode(&msg, &wire);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_core_rx(core, TEST_PEER_DOMID, &wire,
						   sizeof(wire)), 0);
	mutex_lock(&core->lock);
	imp = hyper_dmabuf_imp_lookup(core, &msg.hid);
	mutex_unlock(&core->lock);
	KUNIT_ASSERT_NOT_NULL(test, imp);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 2U);
	KUNIT_EXPECT_EQ(test, fake.shared, 2U);

	sent = test_sent(core);
	hyper_dmabuf_core_peer_gone(core, TEST_PEER_DOMID);
	/* Ids and sharings come back at once, and nothing is sent. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.channels, 0U);
	KUNIT_EXPECT_EQ(test, test_sent(core), sent);
	mutex_lock(&core->lock);
	imp = hyper_dmabuf_imp_lookup(core, &msg.hid);
	mutex_unlock(&core->lock);
	KUNIT_EXPECT_NULL(test, imp);
	/* The owner's handles are gone; late messages are stale. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0),
			-ENOENT);
	test_rx(test, core, HYPER_DMABUF_OP_RELEASED, &hid, -EINVAL);
	/* A new export to the same domain works again. */
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, buf2,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid2, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid2, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	test_put(buf2);
}

static void hyper_dmabuf_test_lookup_imports(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_msg_wire wire;
	struct hyper_dmabuf_event ev;
	struct hyper_dmabuf_msg msg;
	struct hyper_dmabuf_id bad;
	struct dma_buf *dmabuf;

	core->backend = &fake_ops;
	test_msg_export(&msg);
	hyper_dmabuf_msg_encode(&msg, &wire);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_core_rx(core, TEST_PEER_DOMID,
						   &wire, sizeof(wire)), 0);

	/* The announce reached the file as a self-contained event. */
	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(&ctx->file->evq, &ev));
	KUNIT_EXPECT_EQ(test, ev.type, (u32)HYPER_DMABUF_EVENT_NEW_IMPORT);
	KUNIT_EXPECT_EQ(test, ev.size, msg.buf_size);
	KUNIT_EXPECT_EQ(test, ev.priv_size, 3U);
	KUNIT_EXPECT_EQ(test, ev.priv[2], 3);
	KUNIT_EXPECT_EQ(test, memcmp(&ev.hid, &msg.hid, sizeof(ev.hid)), 0);

	mutex_lock(&core->lock);
	KUNIT_EXPECT_NOT_NULL(test, hyper_dmabuf_imp_lookup(core, &msg.hid));
	bad = msg.hid;
	bad.key[0]++;
	KUNIT_EXPECT_NULL(test, hyper_dmabuf_imp_lookup(core, &bad));
	bad = msg.hid;
	bad.exporter_domid += 256;
	KUNIT_EXPECT_NULL(test, hyper_dmabuf_imp_lookup(core, &bad));
	mutex_unlock(&core->lock);

	/* Import maps it and tells the exporter, release undoes both. */
	dmabuf = test_import(ctx->file, &msg.hid, O_RDWR | O_CLOEXEC);
	KUNIT_ASSERT_FALSE(test, IS_ERR(dmabuf));
	KUNIT_EXPECT_EQ(test, fake.mapped, 1U);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_IMPORTED);
	test_rx(test, core, HYPER_DMABUF_OP_UNEXPORT, &msg.hid, 0);
	test_put(dmabuf);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_RELEASED);
	KUNIT_EXPECT_TRUE(test, hash_empty(core->imports));
}

/* ---- announcements deferred until fences signal ------------------------ */

static const char *test_fence_name(struct dma_fence *fence)
{
	return "hyper_dmabuf_test";
}

static const struct dma_fence_ops test_fence_ops = {
	.get_driver_name = test_fence_name,
	.get_timeline_name = test_fence_name,
};

static DEFINE_SPINLOCK(test_fence_lock);

/* Add a new unsignalled fence to @buf; the caller owns a reference. */
static struct dma_fence *test_fence_attach(struct kunit *test,
					   struct dma_buf *buf,
					   enum dma_resv_usage usage)
{
	struct dma_fence *fence;
	int ret;

	fence = kzalloc_obj(*fence, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, fence);
	dma_fence_init(fence, &test_fence_ops, &test_fence_lock,
		       dma_fence_context_alloc(1), 1);
	dma_resv_lock(buf->resv, NULL);
	ret = dma_resv_reserve_fences(buf->resv, 1);
	if (!ret)
		dma_resv_add_fence(buf->resv, fence, usage);
	dma_resv_unlock(buf->resv);
	KUNIT_ASSERT_EQ(test, ret, 0);
	return fence;
}

static void test_fence_done(struct dma_fence *fence)
{
	dma_fence_signal(fence);
	dma_fence_put(fence);
}

/*
 * Wait until no export is pending idle: fence arrays signal from irq_work,
 * so flushing the workqueue once is not enough.
 */
static void test_settle(struct kunit *test, struct hyper_dmabuf_core *core)
{
	int i;

	for (i = 0; i < 1000; i++) {
		flush_workqueue(core->wq);
		if (!atomic_read(&core->nr_pending_idle))
			break;
		usleep_range(1000, 2000);
	}
	flush_workqueue(core->wq);
}

/* Pop all events; return how many, the last one in *@last if not NULL. */
static unsigned int test_drain(struct test_ctx *ctx,
			       struct hyper_dmabuf_event *last)
{
	struct hyper_dmabuf_event ev;
	unsigned int n = 0;

	while (hyper_dmabuf_evq_pop(&ctx->file->evq, &ev)) {
		if (last)
			*last = ev;
		n++;
	}
	return n;
}

static u32 test_query_state(struct kunit *test, struct hyper_dmabuf_core *core,
			    const struct hyper_dmabuf_id *hid)
{
	struct hyper_dmabuf_query q = { .hid = *hid };
	u8 priv[HYPER_DMABUF_MAX_PRIV];

	KUNIT_EXPECT_EQ(test, hyper_dmabuf_query(core, &q, priv), 0);
	return q.state;
}

static void test_expect_idle(struct kunit *test, struct hyper_dmabuf_core *core)
{
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_pending_idle), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_fences_held), 0);
}

static void hyper_dmabuf_test_fence_announce(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_event ev;
	struct hyper_dmabuf_id hid;
	struct dma_fence *fence;
	struct dma_buf *imp;

	ctx->buf = test_buf_create(test);
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  "x", 1, &hid, NULL), 0);
	/* Returned at once; nothing announced, the fence is referenced. */
	flush_workqueue(core->wq);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_pending_idle), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_fences_held), 1);
	KUNIT_EXPECT_EQ(test, test_query_state(test, core, &hid),
			HYPER_DMABUF_QUERY_F_PENDING_IDLE);
	imp = hyper_dmabuf_import_wait(ctx->file, &hid, O_RDONLY,
				       HYPER_DMABUF_IMPORT_NONBLOCK, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(imp), -EAGAIN);
	imp = hyper_dmabuf_import_wait(ctx->file, &hid, O_RDONLY, 0, 10);
	KUNIT_EXPECT_EQ(test, PTR_ERR(imp), -ETIMEDOUT);
	imp = hyper_dmabuf_import_wait(ctx->file, &hid, O_RDONLY, 0x2, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(imp), -EINVAL);

	test_fence_done(fence);
	test_settle(test, core);
	KUNIT_ASSERT_EQ(test, test_drain(ctx, &ev), 1U);
	KUNIT_EXPECT_EQ(test, ev.type, (u32)HYPER_DMABUF_EVENT_NEW_IMPORT);
	KUNIT_EXPECT_EQ(test, ev.event_flags, 0U);
	KUNIT_EXPECT_EQ(test, ev.priv[0], 'x');
	KUNIT_EXPECT_EQ(test, test_query_state(test, core, &hid), 0U);
	test_expect_idle(test, core);
	imp = hyper_dmabuf_import_wait(ctx->file, &hid, O_RDONLY,
				       HYPER_DMABUF_IMPORT_NONBLOCK, 0);
	KUNIT_ASSERT_FALSE(test, IS_ERR(imp));
	test_put(imp);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
}

/* Read fences hold back only exports that importers may write. */
static void hyper_dmabuf_test_fence_usage(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_id hid;
	struct dma_fence *fence;

	ctx->buf = test_buf_create(test);
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_READ);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 1U);
	test_expect_idle(test, core);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF,
						  HYPER_DMABUF_EXPORT_RDWR,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_pending_idle), 1);
	test_fence_done(fence);
	test_settle(test, core);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 1U);
	test_expect_idle(test, core);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
}

/* Unexport or close while pending: callback removed, refs and id back. */
static void hyper_dmabuf_test_fence_cancel(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_id hid;
	struct dma_fence *fence;
	unsigned long irqflags;
	bool no_cb;

	ctx->buf = test_buf_create(test);
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_KERNEL);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_fences_held), 1);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	test_expect_idle(test, core);
	dma_fence_lock_irqsave(fence, irqflags);
	no_cb = list_empty(&fence->cb_list);
	dma_fence_unlock_irqrestore(fence, irqflags);
	KUNIT_EXPECT_TRUE(test, no_cb);

	/* Delayed unexport: cancelled at once too. */
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 5), 0);
	test_expect_idle(test, core);
	msleep(20);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);

	/* Closing the exporting file. */
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	hyper_dmabuf_file_release(ctx->file);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, ctx->file), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	test_expect_idle(test, core);

	/* A late signal announces nothing. */
	test_fence_done(fence);
	flush_workqueue(core->wq);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
}

/* A callback that cannot be added: bounded wait in the work. */
static void hyper_dmabuf_test_fence_fallback(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_id hid;
	struct dma_fence *fence;
	ktime_t t0;

	ctx->buf = test_buf_create(test);
	core->fault_add_cb = -EINVAL;

	/* Signalled during the wait: announced. */
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	msleep(30);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	test_fence_done(fence);
	test_settle(test, core);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 1U);
	test_expect_idle(test, core);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);

	/* Never signalled: announced anyway after the bound. */
	core->fence_fallback_ms = 20;
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	test_settle(test, core);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 1U);
	test_expect_idle(test, core);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);

	/* Unexport during the wait cancels it promptly. */
	core->fence_fallback_ms = HYPER_DMABUF_FENCE_FALLBACK_MS;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	msleep(20);
	t0 = ktime_get();
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_LT(test, ktime_ms_delta(ktime_get(), t0), 1000LL);
	flush_workqueue(core->wq);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	test_expect_idle(test, core);
	test_fence_done(fence);
	core->fault_add_cb = 0;
}

struct test_race {
	struct dma_fence *fence;
	struct completion go;
	struct completion done;
};

static int test_race_signal(void *data)
{
	struct test_race *race = data;

	wait_for_completion(&race->go);
	dma_fence_signal(race->fence);
	complete_all(&race->done);
	return 0;
}

#define TEST_RACE_ROUNDS	200

/* Signal racing with unexport: one announce at most, none after. */
static void hyper_dmabuf_test_fence_race(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	unsigned int i, n, announced = 0;
	struct test_race race;
	struct task_struct *t;
	struct hyper_dmabuf_id hid;

	ctx->buf = test_buf_create(test);
	for (i = 0; i < TEST_RACE_ROUNDS; i++) {
		race.fence = test_fence_attach(test, ctx->buf,
					       DMA_RESV_USAGE_WRITE);
		init_completion(&race.go);
		init_completion(&race.done);
		KUNIT_ASSERT_EQ(test,
				hyper_dmabuf_export(ctx->file, ctx->buf,
						    HYPER_DMABUF_DOMID_SELF,
						    0, NULL, 0, &hid, NULL), 0);
		t = kthread_run(test_race_signal, &race, "hd-race");
		KUNIT_ASSERT_FALSE(test, IS_ERR(t));
		complete(&race.go);
		/*
		 * Vary the interleaving: unexport at once, after yielding,
		 * after a short sleep, or right after the signal (work
		 * queued, not yet run).
		 */
		switch (i % 4) {
		case 1:
			cond_resched();
			break;
		case 2:
			usleep_range(10, 50);
			break;
		case 3:
			wait_for_completion(&race.done);
			break;
		}
		KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid,
							    0), 0);
		n = test_drain(ctx, NULL);
		KUNIT_EXPECT_LE(test, n, 1U);
		announced += n;
		wait_for_completion(&race.done);
		flush_workqueue(core->wq);
		/* Nothing arrives after the unexport returned. */
		KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
		dma_fence_put(race.fence);
		test_expect_idle(test, core);
		KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	}
	kunit_info(test, "%u of %u rounds announced before the unexport\n",
		   announced, TEST_RACE_ROUNDS);
}

/* Re-export after the exporter wrote again waits for the new fences. */
static void hyper_dmabuf_test_fence_reexport(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_event ev;
	struct dma_fence *a, *b;
	struct hyper_dmabuf_id hid, hid2;
	struct dma_buf *imp;

	ctx->buf = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  "1", 1, &hid, NULL), 0);
	KUNIT_ASSERT_EQ(test, test_drain(ctx, &ev), 1U);
	KUNIT_EXPECT_EQ(test, ev.event_flags, 0U);

	a = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  "2", 1, &hid2, NULL), 0);
	KUNIT_EXPECT_EQ(test, hid2.id, hid.id);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	KUNIT_EXPECT_EQ(test, test_query_state(test, core, &hid),
			HYPER_DMABUF_QUERY_F_PENDING_IDLE);
	imp = hyper_dmabuf_import_wait(ctx->file, &hid, O_RDONLY,
				       HYPER_DMABUF_IMPORT_NONBLOCK, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(imp), -EAGAIN);

	/* Written again before the first write finished: waits for both. */
	b = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  "3", 1, &hid2, NULL), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_pending_idle), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_fences_held), 1);
	dma_fence_signal(a);
	msleep(20);
	flush_workqueue(core->wq);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->nr_pending_idle), 1);
	dma_fence_signal(b);
	test_settle(test, core);
	KUNIT_ASSERT_EQ(test, test_drain(ctx, &ev), 1U);
	KUNIT_EXPECT_EQ(test, ev.event_flags, HYPER_DMABUF_EVENT_F_UPDATE);
	KUNIT_EXPECT_EQ(test, ev.priv[0], '3');
	test_expect_idle(test, core);
	dma_fence_put(a);
	dma_fence_put(b);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
}

/* Remote: the EXPORT message waits; an unannounced buffer is not withdrawn. */
static void hyper_dmabuf_test_fence_remote(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_id hid;
	struct dma_fence *fence;

	core->backend = &fake_ops;
	ctx->buf = test_buf_create(test);
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, fake.shared, 1U);
	/* The peer hears of the id at once, as pending: no ref, no priv. */
	KUNIT_EXPECT_EQ(test, test_sent(core), 1U);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_PENDING);
	KUNIT_EXPECT_EQ(test, le64_to_cpu(fake.last.ref), 0ULL);
	KUNIT_EXPECT_EQ(test, le64_to_cpu(fake.last.buf_size),
			(u64)ctx->buf->size);
	test_fence_done(fence);
	test_settle(test, core);
	KUNIT_EXPECT_EQ(test, test_sent(core), 2U);
	KUNIT_EXPECT_EQ(test, test_last_op(core), HYPER_DMABUF_OP_EXPORT);
	KUNIT_EXPECT_EQ(test, le64_to_cpu(fake.last.ref), 0x1234ULL);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, test_sent(core), 3U);

	/* Unexported while pending: the peer is told, nothing announced. */
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_PENDING);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_UNEXPORT);
	test_fence_done(fence);
	flush_workqueue(core->wq);
	KUNIT_EXPECT_EQ(test, test_sent(core), 5U);

	/* A pending notice that cannot be queued fails the export cleanly. */
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	core->tx_queue_max = 0;
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), -EAGAIN);
	core->tx_queue_max = HYPER_DMABUF_TX_QUEUE_MAX;
	test_fence_done(fence);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.channels, 0U);
	test_expect_idle(test, core);
}

static bool test_hid_eq(const struct hyper_dmabuf_id *a,
			const struct hyper_dmabuf_id *b)
{
	return !memcmp(a, b, sizeof(*a));
}

/* Deliver a PENDING notice (or, with @ref, the EXPORT) for @msg's buffer. */
static int test_rx_msg(struct hyper_dmabuf_core *core,
		       struct hyper_dmabuf_msg *msg, u32 op)
{
	struct hyper_dmabuf_msg_wire wire;

	msg->op = op;
	if (op == HYPER_DMABUF_OP_PENDING) {
		msg->priv_size = 0;
		memset(msg->priv, 0, sizeof(msg->priv));
		msg->ref = 0;
	}
	hyper_dmabuf_msg_encode(msg, &wire);
	return hyper_dmabuf_core_rx(core, TEST_PEER_DOMID, &wire, sizeof(wire));
}

/*
 * An import blocked in another thread.  Its timeout must be finite: the
 * test waits for it on every path (test_blocked_end()), so that the thread
 * never outlives the core it sleeps on.
 */
struct test_blocked {
	struct test_ctx *ctx;
	struct hyper_dmabuf_id hid;
	u32 flags;
	u32 timeout_ms;
	struct dma_buf *dmabuf;
	struct completion started;
	struct completion done;
};

static int test_blocked_import(void *data)
{
	struct test_blocked *b = data;

	complete(&b->started);
	b->dmabuf = hyper_dmabuf_import_wait(b->ctx->file, &b->hid, O_RDONLY,
					     b->flags, b->timeout_ms);
	complete(&b->done);
	return 0;
}

static bool test_importer_asleep(struct test_blocked *b)
{
	/* Polled by the test: no barrier needed against the sleeper. */
	return waitqueue_active(&b->ctx->core->fence_wait) &&
	       !completion_done(&b->done);
}

static void test_blocked_start(struct kunit *test, struct test_blocked *b)
{
	struct task_struct *t;
	int i;

	init_completion(&b->started);
	init_completion(&b->done);
	KUNIT_ASSERT_NE(test, b->timeout_ms, 0U);
	t = kthread_run(test_blocked_import, b, "hd-test-import");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	wait_for_completion(&b->started);
	/* Until it sleeps in the import, so that a wake-up is what ends it. */
	for (i = 0; i < 2000 && !test_importer_asleep(b); i++)
		usleep_range(1000, 2000);
	KUNIT_EXPECT_TRUE(test, test_importer_asleep(b));
}

/* Wait for the blocked import to return (bounded by its own timeout). */
static void test_blocked_end(struct test_blocked *b)
{
	wait_for_completion(&b->done);
}

/*
 * Importer side of a buffer announced as pending: no event and no import
 * until the announcement; the announcement wakes a blocked importer.
 */
static void hyper_dmabuf_test_pending_remote(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_query q = { };
	u8 priv[HYPER_DMABUF_MAX_PRIV];
	struct test_blocked b = { .ctx = ctx };
	struct {
		struct hyper_dmabuf_msg msg, announce;
		struct hyper_dmabuf_event ev;
	} *m;
	struct dma_buf *dmabuf;
	unsigned long t0;

	/* Too big for a KASAN kernel's stack frame. */
	m = kunit_kzalloc(test, sizeof(*m), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, m);
	core->backend = &fake_ops;
	test_msg_export(&m->announce);
	m->msg = m->announce;
	KUNIT_ASSERT_EQ(test,
			test_rx_msg(core, &m->msg, HYPER_DMABUF_OP_PENDING), 0);
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	q.hid = m->msg.hid;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_query(core, &q, priv), 0);
	KUNIT_EXPECT_EQ(test, q.type, (u32)HYPER_DMABUF_TYPE_IMPORTED);
	KUNIT_EXPECT_EQ(test, q.state, HYPER_DMABUF_QUERY_F_PENDING_IDLE);
	KUNIT_EXPECT_EQ(test, q.size, m->announce.buf_size);
	KUNIT_EXPECT_EQ(test, q.priv_size, 0U);
	/* A second notice for the same id is a protocol error. */
	KUNIT_EXPECT_EQ(test,
			test_rx_msg(core, &m->msg, HYPER_DMABUF_OP_PENDING),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->drops[HYPER_DMABUF_DROP_STATE]),
			1);

	dmabuf = hyper_dmabuf_import_wait(ctx->file, &m->msg.hid, O_RDONLY,
					  HYPER_DMABUF_IMPORT_NONBLOCK, 0);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dmabuf), -EAGAIN);
	t0 = jiffies;
	dmabuf = hyper_dmabuf_import_wait(ctx->file, &m->msg.hid, O_RDONLY, 0,
					  100);
	KUNIT_EXPECT_EQ(test, PTR_ERR(dmabuf), -ETIMEDOUT);
	KUNIT_EXPECT_GE(test, jiffies_to_msecs(jiffies - t0), 100U);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);

	/* A blocked importer completes when the announcement comes. */
	b.hid = m->msg.hid;
	b.timeout_ms = 5000;
	test_blocked_start(test, &b);
	KUNIT_EXPECT_FALSE(test, completion_done(&b.done));
	/* An announcement with other sizes or flags is refused. */
	m->msg = m->announce;
	m->msg.buf_size += PAGE_SIZE;
	KUNIT_EXPECT_EQ(test,
			test_rx_msg(core, &m->msg, HYPER_DMABUF_OP_EXPORT),
			-EINVAL);
	KUNIT_EXPECT_FALSE(test, completion_done(&b.done));
	m->msg = m->announce;
	t0 = jiffies;
	KUNIT_EXPECT_EQ(test,
			test_rx_msg(core, &m->msg, HYPER_DMABUF_OP_EXPORT), 0);
	test_blocked_end(&b);
	/* Woken by the announcement, not by its timeout. */
	KUNIT_EXPECT_LT(test, jiffies_to_msecs(jiffies - t0), 4000U);
	KUNIT_ASSERT_FALSE(test, IS_ERR(b.dmabuf));
	KUNIT_EXPECT_EQ(test, fake.mapped, 1U);
	/* Its event is the first announcement, not an update. */
	KUNIT_ASSERT_EQ(test, test_drain(ctx, &m->ev), 1U);
	KUNIT_EXPECT_EQ(test, m->ev.event_flags, 0U);
	KUNIT_EXPECT_EQ(test, m->ev.priv_size, 3U);
	KUNIT_EXPECT_TRUE(test, test_hid_eq(&m->ev.hid, &m->msg.hid));
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_query(core, &q, priv), 0);
	KUNIT_EXPECT_EQ(test, q.state, 0U);
	KUNIT_EXPECT_EQ(test, q.priv_size, 3U);
	test_rx(test, core, HYPER_DMABUF_OP_UNEXPORT, &m->msg.hid, 0);
	test_put(b.dmabuf);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);
	KUNIT_EXPECT_TRUE(test, hash_empty(core->imports));
}

/* A pending buffer withdrawn or lost: waiters get -ENOENT, no event. */
static void hyper_dmabuf_test_pending_withdrawn(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct test_blocked b = { .ctx = ctx };
	struct hyper_dmabuf_msg msg;

	core->backend = &fake_ops;
	test_msg_export(&msg);
	KUNIT_ASSERT_EQ(test, test_rx_msg(core, &msg, HYPER_DMABUF_OP_PENDING),
			0);
	b.hid = msg.hid;
	b.timeout_ms = 5000;
	test_blocked_start(test, &b);
	test_rx(test, core, HYPER_DMABUF_OP_UNEXPORT, &msg.hid, 0);
	test_blocked_end(&b);
	KUNIT_EXPECT_EQ(test, PTR_ERR(b.dmabuf), -ENOENT);
	KUNIT_EXPECT_TRUE(test, hash_empty(core->imports));
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);

	/* The peer dies with a buffer pending. */
	KUNIT_ASSERT_EQ(test, test_rx_msg(core, &msg, HYPER_DMABUF_OP_PENDING),
			0);
	test_blocked_start(test, &b);
	hyper_dmabuf_core_peer_gone(core, TEST_PEER_DOMID);
	test_blocked_end(&b);
	KUNIT_EXPECT_EQ(test, PTR_ERR(b.dmabuf), -ENOENT);
	KUNIT_EXPECT_TRUE(test, hash_empty(core->imports));
	KUNIT_EXPECT_EQ(test, test_drain(ctx, NULL), 0U);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);
}

/* LIST sees every file's exports and the remote buffers; any-file unexport. */
static void hyper_dmabuf_test_list_unexport_any(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_file *other;
	struct hyper_dmabuf_id hids[4], a, b;
	struct hyper_dmabuf_msg msg;
	struct dma_buf *imp;
	u32 total;
	int i;

	other = kunit_kzalloc(test, sizeof(*other), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, other);
	other->privileged = true;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, other), 0);
	ctx->buf = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &a, NULL), 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(other, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &b, NULL), 0);

	KUNIT_EXPECT_EQ(test, hyper_dmabuf_list(core, 0, NULL, NULL, 0, &total),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_list(core, 3, NULL, NULL, 0, &total),
			-EINVAL);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_list(core,
						HYPER_DMABUF_TYPE_EXPORTED, NULL,
						NULL, 0, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 2U);
	memset(hids, 0, sizeof(hids));
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_list(core,
						HYPER_DMABUF_TYPE_EXPORTED, NULL,
						hids, 1, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 2U);
	KUNIT_EXPECT_TRUE(test,
			  test_hid_eq(&hids[0], &a) || test_hid_eq(&hids[0], &b));
	KUNIT_EXPECT_EQ(test, hids[1].id, 0U);

	/* Without privilege, only the caller's own exports keep their key. */
	memset(hids, 0, sizeof(hids));
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_list(core,
						HYPER_DMABUF_TYPE_EXPORTED,
						ctx->file, hids, 4, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 2U);
	for (i = 0; i < 2; i++) {
		if (hids[i].id == a.id) {
			KUNIT_EXPECT_TRUE(test, test_hid_eq(&hids[i], &a));
		} else {
			KUNIT_EXPECT_EQ(test, hids[i].id, b.id);
			KUNIT_EXPECT_EQ(test, hids[i].key[0] | hids[i].key[1] |
					hids[i].key[2], 0U);
		}
	}

	/* Another file's export: only with the any-file variant. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &b, 0), -ENOENT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport_any(ctx->file, &b, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport_any(ctx->file, &b, 0),
			-ENOENT);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_list(core,
						HYPER_DMABUF_TYPE_EXPORTED, NULL,
						hids, 4, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 1U);
	KUNIT_EXPECT_TRUE(test, test_hid_eq(&hids[0], &a));

	/* Unexported but still imported: listed, not unexportable again. */
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(other, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &b, NULL), 0);
	imp = test_import(ctx->file, &b, O_RDONLY);
	KUNIT_ASSERT_FALSE(test, IS_ERR(imp));
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(other, &b, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport_any(ctx->file, &b, 0),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 2U);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_list(core,
						HYPER_DMABUF_TYPE_EXPORTED, NULL,
						hids, 4, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 2U);
	test_put(imp);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	hyper_dmabuf_file_release(other);

	/* Remote buffers, pending ones included. */
	core->backend = &fake_ops;
	test_msg_export(&msg);
	KUNIT_ASSERT_EQ(test, test_rx_msg(core, &msg, HYPER_DMABUF_OP_PENDING),
			0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_list(core,
						HYPER_DMABUF_TYPE_IMPORTED, NULL,
						hids, 4, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 1U);
	KUNIT_EXPECT_TRUE(test, test_hid_eq(&hids[0], &msg.hid));
	test_rx(test, core, HYPER_DMABUF_OP_UNEXPORT, &msg.hid, 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_list(core,
						HYPER_DMABUF_TYPE_IMPORTED, NULL,
						hids, 4, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 0U);
}

/* Wait up to 3 s for the fake backend to have sent @op last. */
static bool test_wait_sent(u16 op)
{
	int i;

	for (i = 0; i < 300; i++) {
		if (le16_to_cpu(READ_ONCE(fake.last.op)) == op)
			return true;
		usleep_range(10000, 20000);
	}
	return false;
}

/*
 * An announcement that cannot be queued after a PENDING notice is owed and
 * retried: the peer must not wait for ever.  Withdrawing ends the retries.
 */
static void hyper_dmabuf_test_announce_retry(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_id hid;
	struct dma_fence *fence;
	unsigned int sent;

	core->backend = &fake_ops;
	ctx->buf = test_buf_create(test);
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_PENDING);
	core->tx_queue_max = 0;
	test_fence_done(fence);
	test_settle(test, core);
	/* Still pending idle on this side, as on the peer's. */
	KUNIT_EXPECT_EQ(test, test_query_state(test, core, &hid),
			HYPER_DMABUF_QUERY_F_PENDING_IDLE);
	KUNIT_EXPECT_EQ(test, test_sent(core), 1U);
	core->tx_queue_max = HYPER_DMABUF_TX_QUEUE_MAX;
	KUNIT_EXPECT_TRUE(test, test_wait_sent(HYPER_DMABUF_OP_EXPORT));
	KUNIT_EXPECT_EQ(test, test_sent(core), 2U);
	KUNIT_EXPECT_EQ(test, test_query_state(test, core, &hid), 0U);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);

	/* Owed, then unexported: UNEXPORT, and no announcement after it. */
	fence = test_fence_attach(test, ctx->buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	core->tx_queue_max = 0;
	test_fence_done(fence);
	test_settle(test, core);
	core->tx_queue_max = HYPER_DMABUF_TX_QUEUE_MAX;
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_UNEXPORT);
	sent = test_sent(core);
	msleep(1500);
	KUNIT_EXPECT_EQ(test, test_sent(core), sent);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	test_expect_idle(test, core);
}

/* ---- a peer that stops draining its channel ---------------------------- */

#define TEST_STALL_BUFS		(2 * HYPER_DMABUF_TX_QUEUE_MAX)
#define TEST_STALL_BOUND_NS	(100 * NSEC_PER_MSEC)

struct test_stall_export {
	struct hyper_dmabuf_file *file;
	struct dma_buf *buf;
	struct hyper_dmabuf_id hid;
	int ret;
	struct completion done;
};

static int test_stall_export_fn(void *data)
{
	struct test_stall_export *e = data;

	e->ret = hyper_dmabuf_export(e->file, e->buf, TEST_PEER_DOMID, 0,
				     NULL, 0, &e->hid, NULL);
	complete(&e->done);
	return 0;
}

/* What another process does meanwhile, each call timed. */
struct test_stall_busy {
	struct hyper_dmabuf_file *file;
	struct dma_buf *bufs[TEST_STALL_BUFS];
	unsigned int queued;
	unsigned int refused;
	unsigned int errors;
	s64 max_ns;
	struct completion done;
};

static void test_stall_time(struct test_stall_busy *b, ktime_t start)
{
	b->max_ns = max(b->max_ns, ktime_to_ns(ktime_sub(ktime_get(), start)));
}

static int test_stall_busy_fn(void *data)
{
	struct test_stall_busy *b = data;
	struct hyper_dmabuf_id hid;
	struct dma_buf *imp;
	ktime_t start;
	int i, ret;

	/* Loopback: export, import, release, unexport. */
	start = ktime_get();
	ret = hyper_dmabuf_export(b->file, b->bufs[0], HYPER_DMABUF_DOMID_SELF,
				  0, NULL, 0, &hid, NULL);
	test_stall_time(b, start);
	if (ret) {
		b->errors++;
	} else {
		start = ktime_get();
		imp = hyper_dmabuf_import_wait(b->file, &hid, O_RDONLY, 0, 0);
		test_stall_time(b, start);
		if (IS_ERR(imp))
			b->errors++;
		else
			test_put(imp);
		start = ktime_get();
		if (hyper_dmabuf_unexport(b->file, &hid, 0))
			b->errors++;
		test_stall_time(b, start);
	}
	/* Another peer. */
	start = ktime_get();
	if (hyper_dmabuf_export(b->file, b->bufs[1], TEST_OTHER_DOMID, 0, NULL,
				0, &hid, NULL))
		b->errors++;
	test_stall_time(b, start);
	/* The stalled peer: its queue fills, then exports fail at once. */
	for (i = 2; i < TEST_STALL_BUFS; i++) {
		start = ktime_get();
		ret = hyper_dmabuf_export(b->file, b->bufs[i], TEST_PEER_DOMID,
					  0, NULL, 0, &hid, NULL);
		test_stall_time(b, start);
		if (!ret)
			b->queued++;
		else if (ret == -EAGAIN)
			b->refused++;
		else
			b->errors++;
	}
	/* Closing withdraws all of them. */
	start = ktime_get();
	hyper_dmabuf_file_release(b->file);
	test_stall_time(b, start);
	complete(&b->done);
	return 0;
}

/*
 * A peer that stops draining its channel holds up its own messages, and
 * nothing else: while a send to it is stuck in the backend, the export
 * that queued it has returned, and another process exports, imports and
 * closes, to this domain and to another peer, each call within 100 ms.
 * New work for the stalled peer is refused once its queue is full, and
 * withdrawing is queued beyond that; all of it is sent, in order, once
 * the peer drains again.
 */
static void hyper_dmabuf_test_peer_stalled(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct test_stall_export e = { .file = ctx->file };
	unsigned int i, sent, sent_other;
	unsigned long e_done, b_done;
	struct test_stall_busy *b;
	struct task_struct *t;

	core->backend = &fake_ops;
	fake.other_domid = TEST_OTHER_DOMID;
	ctx->buf = test_buf_create(test);
	e.buf = ctx->buf;
	b = kunit_kzalloc(test, sizeof(*b), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, b);
	b->file = kunit_kzalloc(test, sizeof(*b->file), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, b->file);
	for (i = 0; i < TEST_STALL_BUFS; i++)
		b->bufs[i] = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, b->file), 0);
	init_completion(&b->done);
	init_completion(&e.done);
	init_completion(&fake.send_blocked);
	init_completion(&fake.send_unblock);

	/* The peer stops draining: the first send to it is stuck. */
	fake.block_send = true;
	t = kthread_run(test_stall_export_fn, &e, "hd-test-stall");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	KUNIT_EXPECT_NE(test, wait_for_completion_timeout(&fake.send_blocked,
							  5 * HZ), 0UL);
	e_done = wait_for_completion_timeout(&e.done, HZ / 10);
	KUNIT_EXPECT_NE(test, e_done, 0UL);

	t = kthread_run(test_stall_busy_fn, b, "hd-test-busy");
	if (IS_ERR(t)) {
		complete(&fake.send_unblock);
		if (!e_done)
			wait_for_completion(&e.done);
	}
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	b_done = wait_for_completion_timeout(&b->done, 10 * HZ);
	KUNIT_EXPECT_NE(test, b_done, 0UL);
	/* The other peer got its EXPORT and UNEXPORT meanwhile. */
	for (i = 0; i < 100 && READ_ONCE(fake.sent_other) < 2; i++)
		usleep_range(10000, 20000);
	sent_other = READ_ONCE(fake.sent_other);
	sent = READ_ONCE(fake.sent);
	KUNIT_EXPECT_EQ(test, sent_other, 2U);
	KUNIT_EXPECT_EQ(test, sent, 0U);

	complete(&fake.send_unblock);
	if (!e_done)
		wait_for_completion(&e.done);
	if (!b_done)
		wait_for_completion(&b->done);
	KUNIT_EXPECT_EQ(test, e.ret, 0);
	KUNIT_EXPECT_EQ(test, b->errors, 0U);
	KUNIT_EXPECT_LT(test, b->max_ns, TEST_STALL_BOUND_NS);
	/* One message is in flight: room for HYPER_DMABUF_TX_QUEUE_MAX - 1. */
	KUNIT_EXPECT_EQ(test, b->queued, HYPER_DMABUF_TX_QUEUE_MAX - 1);
	KUNIT_EXPECT_EQ(test, b->refused,
			TEST_STALL_BUFS - 2 - (HYPER_DMABUF_TX_QUEUE_MAX - 1));
	/* The first EXPORT, then each queued EXPORT and its UNEXPORT. */
	KUNIT_EXPECT_EQ(test, test_sent(core),
			1 + 2 * (HYPER_DMABUF_TX_QUEUE_MAX - 1));
	KUNIT_EXPECT_EQ(test, test_last_op(core), HYPER_DMABUF_OP_UNEXPORT);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->tx_dropped), 0);
	/* Only the first export is left; refused ones left nothing. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	KUNIT_EXPECT_EQ(test, fake.shared, 1U);
	KUNIT_EXPECT_EQ(test, fake.channels, 1U);
	for (i = 0; i < TEST_STALL_BUFS; i++)
		test_put(b->bufs[i]);
}

struct test_gone {
	struct hyper_dmabuf_core *core;
	struct completion done;
};

static int test_gone_fn(void *data)
{
	struct test_gone *g = data;

	hyper_dmabuf_core_peer_gone(g->core, TEST_PEER_DOMID);
	complete(&g->done);
	return 0;
}

/*
 * A peer that goes takes its queue with it, and the message that was on
 * its way is waited for: nothing queued for the old peer can reach the
 * next one on the same domid.
 */
static void hyper_dmabuf_test_tx_peer_gone(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct test_gone g = { .core = core };
	struct hyper_dmabuf_id hid;
	struct dma_buf *bufs[3];
	struct task_struct *t;
	unsigned long done;
	int i;

	core->backend = &fake_ops;
	init_completion(&g.done);
	fake.block_send = true;
	for (i = 0; i < 3; i++) {
		bufs[i] = test_buf_create(test);
		KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, bufs[i],
							  TEST_PEER_DOMID, 0,
							  NULL, 0, &hid, NULL),
				0);
	}
	/* The first EXPORT is on its way, two more are queued. */
	KUNIT_ASSERT_NE(test, wait_for_completion_timeout(&fake.send_blocked,
							  5 * HZ), 0UL);
	t = kthread_run(test_gone_fn, &g, "hd-test-gone");
	KUNIT_ASSERT_FALSE(test, IS_ERR(t));
	done = wait_for_completion_timeout(&g.done, HZ / 5);
	KUNIT_EXPECT_EQ(test, done, 0UL);
	complete(&fake.send_unblock);
	if (!done)
		wait_for_completion(&g.done);
	hyper_dmabuf_core_tx_flush(core);
	/* Only the message under way went out; the rest was purged. */
	KUNIT_EXPECT_EQ(test, READ_ONCE(fake.sent), 1U);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->tx_dropped), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	for (i = 0; i < 3; i++)
		test_put(bufs[i]);
}

/*
 * A send that times out is tried again until it goes through; any other
 * error of the backend drops the message and counts it.
 */
static void hyper_dmabuf_test_tx_retry(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_id hid;

	core->backend = &fake_ops;
	ctx->buf = test_buf_create(test);
	fake.fail_send = -ETIMEDOUT;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	/* A second flush runs the retry at once, without its back-off. */
	hyper_dmabuf_core_tx_flush(core);
	KUNIT_EXPECT_EQ(test, test_sent(core), 1U);
	KUNIT_EXPECT_EQ(test, fake.failed, 1U);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->tx_dropped), 0);

	fake.fail_send = -EPROTO;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  TEST_PEER_DOMID, 0, "x", 1,
						  &hid, NULL), 0);
	hyper_dmabuf_core_tx_flush(core);
	KUNIT_EXPECT_EQ(test, test_sent(core), 1U);
	KUNIT_EXPECT_EQ(test, fake.failed, 2U);
	KUNIT_EXPECT_EQ(test, atomic_read(&core->tx_dropped), 1);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	KUNIT_EXPECT_EQ(test, test_last_op(core), HYPER_DMABUF_OP_UNEXPORT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
}

/* ---- permissions and quotas -------------------------------------------- */

/*
 * The key opens a buffer: a file opened without CAP_SYS_ADMIN learns that
 * a buffer exists, but gets neither its key nor its private data, from
 * events or LIST.  The administrator's file gets both.
 */
static void hyper_dmabuf_test_keys_stay(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	static const u32 zero[3];
	struct hyper_dmabuf_file *user;
	struct hyper_dmabuf_event ev;
	struct hyper_dmabuf_id hid, listed;
	u32 total;

	user = kunit_kzalloc(test, sizeof(*user), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, user);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, user), 0);
	ctx->buf = test_buf_create(test);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(ctx->file, ctx->buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  "secret", 6, &hid, NULL), 0);
	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(&ctx->file->evq, &ev));
	KUNIT_EXPECT_EQ(test, memcmp(ev.hid.key, hid.key, sizeof(zero)), 0);
	KUNIT_EXPECT_EQ(test, ev.priv_size, 6U);
	KUNIT_EXPECT_EQ(test, memcmp(ev.priv, "secret", 6), 0);

	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(&user->evq, &ev));
	KUNIT_EXPECT_EQ(test, ev.hid.id, hid.id);
	KUNIT_EXPECT_EQ(test, ev.hid.exporter_domid, hid.exporter_domid);
	KUNIT_EXPECT_EQ(test, memcmp(ev.hid.key, zero, sizeof(zero)), 0);
	KUNIT_EXPECT_EQ(test, ev.priv_size, 0U);
	KUNIT_EXPECT_NULL(test, memchr_inv(ev.priv, 0, sizeof(ev.priv)));

	/* LIST of the exports, as main.c calls it for that file. */
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_list(core,
						HYPER_DMABUF_TYPE_EXPORTED,
						user, &listed, 1, &total), 0);
	KUNIT_EXPECT_EQ(test, total, 1U);
	KUNIT_EXPECT_EQ(test, listed.id, hid.id);
	KUNIT_EXPECT_EQ(test, memcmp(listed.key, zero, sizeof(zero)), 0);
	/* The key, handed on by its owner, opens it. */
	KUNIT_EXPECT_EQ(test, PTR_ERR(test_import(user, &listed, O_RDONLY)),
			-ENOENT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(ctx->file, &hid, 0), 0);
	hyper_dmabuf_file_release(user);
}

/*
 * The files a user opened without CAP_SYS_ADMIN hold at most the user's
 * share of ids together: a second file of the same user gets nothing more,
 * another user has a share of its own.
 */
static void hyper_dmabuf_test_quota(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_file *user, *again, *other;
	struct hyper_dmabuf_id hid, first;
	struct dma_buf **bufs;
	unsigned int i, n = HYPER_DMABUF_MAX_IDS_PER_USER + 1;

	user = kunit_kzalloc(test, sizeof(*user), GFP_KERNEL);
	again = kunit_kzalloc(test, sizeof(*again), GFP_KERNEL);
	other = kunit_kzalloc(test, sizeof(*other), GFP_KERNEL);
	bufs = kunit_kcalloc(test, n, sizeof(*bufs), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, user);
	KUNIT_ASSERT_NOT_NULL(test, again);
	KUNIT_ASSERT_NOT_NULL(test, other);
	KUNIT_ASSERT_NOT_NULL(test, bufs);
	user->uid = KUIDT_INIT(1000);
	again->uid = KUIDT_INIT(1000);
	other->uid = KUIDT_INIT(1001);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, user), 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, again), 0);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, other), 0);
	for (i = 0; i < n; i++)
		bufs[i] = test_buf_create(test);
	for (i = 0; i < HYPER_DMABUF_MAX_IDS_PER_USER; i++)
		KUNIT_ASSERT_EQ(test,
				hyper_dmabuf_export(user, bufs[i],
						    HYPER_DMABUF_DOMID_SELF, 0,
						    NULL, 0, i ? &hid : &first,
						    NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(user, bufs[i],
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL),
			-EDQUOT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids),
			(u32)HYPER_DMABUF_MAX_IDS_PER_USER);
	/* Opening the device again gains the user nothing. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(again, bufs[i],
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL),
			-EDQUOT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids),
			(u32)HYPER_DMABUF_MAX_IDS_PER_USER);
	/*
	 * A re-export is no new export; another user, and the
	 * administrator's file, have shares of their own.
	 */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(user, bufs[0],
						  HYPER_DMABUF_DOMID_SELF, 0,
						  "u", 1, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(other, bufs[i],
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(ctx->file, bufs[i],
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	/* An unexport gives the share back, to any file of the user. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(user, &first, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(again, bufs[i],
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(user, bufs[i],
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), -EDQUOT);
	/* Closing a file gives back what it held, and only that. */
	hyper_dmabuf_file_release(again);
	KUNIT_EXPECT_EQ(test, user->user->nr_exports,
			HYPER_DMABUF_MAX_IDS_PER_USER - 1U);
	/* The user's remaining file, and each export charged to it. */
	KUNIT_EXPECT_EQ(test, user->user->refs,
			1U + HYPER_DMABUF_MAX_IDS_PER_USER - 1U);
	hyper_dmabuf_file_release(user);
	hyper_dmabuf_file_release(other);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	mutex_lock(&core->lock);
	KUNIT_EXPECT_TRUE(test, hash_empty(core->users));
	mutex_unlock(&core->lock);
	for (i = 0; i < n; i++)
		test_put(bufs[i]);
}

/*
 * An unprivileged file shares at most HYPER_DMABUF_MAX_REMOTE_PAGES_PER_USER
 * pages with other domains; loopback exports and privileged files are not
 * counted, and an unexport gives the pages back.
 */
static void hyper_dmabuf_test_remote_page_quota(struct kunit *test)
{
	const size_t max = (size_t)HYPER_DMABUF_MAX_REMOTE_PAGES_PER_USER *
			   PAGE_SIZE;
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct dma_buf *big, *two, *one, *more;
	struct hyper_dmabuf_id hid, big_hid;
	struct hyper_dmabuf_file *user;

	core->backend = &fake_ops;
	user = kunit_kzalloc(test, sizeof(*user), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, user);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, user), 0);
	big = test_buf_create_size(test, max - PAGE_SIZE);
	two = test_buf_create_size(test, 2 * PAGE_SIZE);
	one = test_buf_create(test);
	more = test_buf_create(test);

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(user, big, TEST_PEER_DOMID,
						  0, NULL, 0, &big_hid, NULL),
			0);
	/* One page left: two pages are refused, and nothing is left behind. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(user, two, TEST_PEER_DOMID,
						  0, NULL, 0, &hid, NULL),
			-EDQUOT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(user, one, TEST_PEER_DOMID,
						  0, NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(user, more, TEST_OTHER_DOMID,
						  0, NULL, 0, &hid, NULL),
			-EDQUOT);
	/* Loopback costs no grant, the administrator's file has no quota. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(user, two,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(ctx->file, two,
						  TEST_PEER_DOMID, 0, NULL, 0,
						  &hid, NULL), 0);
	/* An unexport gives its pages back. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(user, &big_hid, 0), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(user, more, TEST_OTHER_DOMID,
						  0, NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, user->user->nr_remote_pages, 2UL);
	hyper_dmabuf_file_release(user);
	test_put(big);
	test_put(two);
	test_put(one);
	test_put(more);
}

/* ---- two cores linked: the protocol end to end ----------------------- */

/*
 * Two cores, A (domain TEST_LOCAL_DOMID) and B (TEST_PEER_DOMID), whose
 * backends deliver each message to the other core as it is sent.  A test
 * can drop the first message of an operation, or hold one back and
 * deliver it later.
 */
static struct {
	struct hyper_dmabuf_core *a, *b;
	spinlock_t lock; /* the members below */
	u32 drop_op, drop_flags;
	unsigned int dropped;
	u32 hold_op;
	bool held;
	u32 held_from;
	struct hyper_dmabuf_msg_wire held_msg;
} link;

static u32 link_a_domid(void)
{
	return TEST_LOCAL_DOMID;
}

static u32 link_b_domid(void)
{
	return TEST_PEER_DOMID;
}

static int link_deliver(u32 from, const void *msg, size_t len)
{
	const struct hyper_dmabuf_msg_wire *w = msg;
	u32 op = le16_to_cpu(w->op), flags = le32_to_cpu(w->flags);

	spin_lock(&link.lock);
	if (link.drop_op == op &&
	    (!link.drop_flags || link.drop_flags == (flags & 0xff))) {
		link.drop_op = 0;
		link.dropped++;
		spin_unlock(&link.lock);
		return 0;
	}
	if (link.hold_op == op && !link.held) {
		link.hold_op = 0;
		link.held = true;
		link.held_from = from;
		memcpy(&link.held_msg, msg, sizeof(link.held_msg));
		spin_unlock(&link.lock);
		return 0;
	}
	spin_unlock(&link.lock);
	hyper_dmabuf_core_rx(from == TEST_LOCAL_DOMID ? link.b : link.a, from,
			     msg, len);
	return 0;
}

static int link_send_a(u32 domid, const void *msg, size_t len)
{
	return link_deliver(TEST_LOCAL_DOMID, msg, len);
}

static int link_send_b(u32 domid, const void *msg, size_t len)
{
	return link_deliver(TEST_PEER_DOMID, msg, len);
}

static const struct hyper_dmabuf_backend_ops link_ops_a = {
	.owner = THIS_MODULE,
	.get_domid = link_a_domid,
	.init_channel = fake_init_channel,
	.fini_channel = fake_fini_channel,
	.share = fake_share,
	.unshare = fake_unshare,
	.map = fake_map,
	.unmap = fake_unmap,
	.send = link_send_a,
};

static const struct hyper_dmabuf_backend_ops link_ops_b = {
	.owner = THIS_MODULE,
	.get_domid = link_b_domid,
	.init_channel = fake_init_channel,
	.fini_channel = fake_fini_channel,
	.share = fake_share,
	.unshare = fake_unshare,
	.map = fake_map,
	.unmap = fake_unmap,
	.send = link_send_b,
};

struct test_link {
	struct hyper_dmabuf_core *a, *b;
	struct hyper_dmabuf_file *fa, *fb;
};

static struct hyper_dmabuf_core *link_core(struct kunit *test,
					   struct hyper_dmabuf_file **file,
					   const struct hyper_dmabuf_backend_ops *ops)
{
	struct hyper_dmabuf_core *core;

	core = kunit_kzalloc(test, sizeof(*core), GFP_KERNEL);
	*file = kunit_kzalloc(test, sizeof(**file), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, core);
	KUNIT_ASSERT_NOT_NULL(test, *file);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_core_init(core), 0);
	(*file)->privileged = true;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_file_open(core, *file), 0);
	core->backend = ops;
	/* Sent again quickly, so that tests see it. */
	core->ack_timeout = HZ / 20 ?: 1;
	return core;
}

static void link_init(struct kunit *test, struct test_link *l)
{
	memset(&link, 0, sizeof(link));
	spin_lock_init(&link.lock);
	l->a = link_core(test, &l->fa, &link_ops_a);
	l->b = link_core(test, &l->fb, &link_ops_b);
	link.a = l->a;
	link.b = l->b;
}

/* Deliver the message held back, as it was sent. */
static void link_release_held(struct test_link *l)
{
	bool held;

	spin_lock(&link.lock);
	held = link.held;
	link.held = false;
	spin_unlock(&link.lock);
	if (held)
		hyper_dmabuf_core_rx(link.held_from == TEST_LOCAL_DOMID ?
				     l->b : l->a, link.held_from,
				     &link.held_msg, sizeof(link.held_msg));
}

/* Nothing queued or waiting for an ACK at @core. */
static bool link_core_quiet(struct hyper_dmabuf_core *core)
{
	struct hyper_dmabuf_peer *peer;
	unsigned long index;
	bool quiet = true;

	hyper_dmabuf_core_tx_flush(core);
	xa_for_each(&core->peers, index, peer) {
		spin_lock(&core->tx_lock);
		quiet &= list_empty(&peer->queue) && list_empty(&peer->unacked) &&
			 !peer->queued;
		spin_unlock(&core->tx_lock);
	}
	return quiet;
}

static unsigned int link_records(struct hyper_dmabuf_core *core)
{
	struct hyper_dmabuf_imp *imp;
	unsigned int n = 0, bkt;

	mutex_lock(&core->lock);
	hash_for_each(core->imports, bkt, imp, node)
		n++;
	mutex_unlock(&core->lock);
	return n;
}

/*
 * Wait (up to 5 s, ACKs and copies sent again included) until both sides
 * are quiet and hold @ids live ids at A and @records import records at B.
 */
static bool link_settle(struct test_link *l, u32 ids, unsigned int records)
{
	unsigned long end = jiffies + 5 * HZ;

	do {
		if (link_core_quiet(l->a) && link_core_quiet(l->b) &&
		    link_core_quiet(l->a) &&
		    hyper_dmabuf_id_live(&l->a->ids) == ids &&
		    link_records(l->b) == records)
			return true;
		msleep(20);
	} while (time_before(jiffies, end));
	return false;
}

static void link_fini(struct test_link *l)
{
	hyper_dmabuf_file_release(l->fa);
	hyper_dmabuf_file_release(l->fb);
	hyper_dmabuf_core_fini(l->a);
	hyper_dmabuf_core_fini(l->b);
}

static struct dma_buf *link_import(struct test_link *l,
				   const struct hyper_dmabuf_id *hid)
{
	return hyper_dmabuf_import_wait(l->fb, hid, O_RDONLY | O_CLOEXEC,
					HYPER_DMABUF_IMPORT_NONBLOCK, 0);
}

/* One buffer's whole life, A to B; then its id serves the next buffer. */
static void link_cycle(struct kunit *test, struct test_link *l,
		       bool expect_import)
{
	struct dma_buf *buf = test_buf_create(test), *imp;
	struct hyper_dmabuf_id hid;

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(l->fa, buf, TEST_PEER_DOMID,
						  HYPER_DMABUF_EXPORT_RDWR,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_TRUE(test, link_settle(l, 1, expect_import));
	imp = link_import(l, &hid);
	if (expect_import) {
		KUNIT_ASSERT_FALSE(test, IS_ERR(imp));
		KUNIT_EXPECT_TRUE(test, link_settle(l, 1, 1));
		test_put(imp);
	} else {
		KUNIT_EXPECT_EQ(test, PTR_ERR(imp), -ENOENT);
	}
	KUNIT_EXPECT_TRUE(test, link_settle(l, 1, expect_import));
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(l->fa, &hid, 0), 0);
	test_put(buf);
}

struct test_drop {
	const char *name;
	u32 op, flags;
};

static const struct test_drop test_drops[] = {
	{ "none", 0, 0 },
	{ "EXPORT", HYPER_DMABUF_OP_EXPORT, 0 },
	{ "IMPORTED", HYPER_DMABUF_OP_IMPORTED, 0 },
	{ "RELEASED", HYPER_DMABUF_OP_RELEASED, 0 },
	{ "UNEXPORT", HYPER_DMABUF_OP_UNEXPORT, 0 },
	{ "ACK of RELEASED", HYPER_DMABUF_OP_ACK, HYPER_DMABUF_OP_RELEASED },
	{ "ACK of UNEXPORT", HYPER_DMABUF_OP_ACK, HYPER_DMABUF_OP_UNEXPORT },
};

static void test_drop_desc(const struct test_drop *d, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "%s dropped", d->name);
}

KUNIT_ARRAY_PARAM(test_drop, test_drops, test_drop_desc);

/*
 * Each message of a buffer's life lost once, in turn: no id, share,
 * mapping or import record is left behind, and the id serves the next
 * buffer, which the importer sees.
 */
static void hyper_dmabuf_test_link_drop_each(struct kunit *test)
{
	const struct test_drop *d = test->param_value;
	struct test_link l;

	link_init(test, &l);
	link.drop_op = d->op;
	link.drop_flags = d->flags;
	link_cycle(test, &l, d->op != HYPER_DMABUF_OP_EXPORT);
	KUNIT_EXPECT_TRUE(test, link_settle(&l, 0, 0));
	KUNIT_EXPECT_EQ(test, link.dropped, d->op ? 1U : 0U);
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);
	/* The same id, reused with a new key, is seen. */
	link_cycle(test, &l, true);
	KUNIT_EXPECT_TRUE(test, link_settle(&l, 0, 0));
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);
	KUNIT_EXPECT_EQ(test, atomic_read(&l.a->tx_unacked), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&l.b->tx_unacked), 0);
	link_fini(&l);
}

/*
 * An UNEXPORT lost for good (never sent again within the test): the
 * importer's stale record must not hide the buffer that reuses the id.
 */
static void hyper_dmabuf_test_link_stale_record(struct kunit *test)
{
	struct dma_buf *buf = test_buf_create(test), *imp;
	struct hyper_dmabuf_id old, hid;
	struct test_link l;

	link_init(test, &l);
	l.a->ack_timeout = 3600 * HZ;
	link.drop_op = HYPER_DMABUF_OP_UNEXPORT;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(l.fa, buf, TEST_PEER_DOMID,
						  0, NULL, 0, &old, NULL), 0);
	hyper_dmabuf_core_tx_flush(l.a);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_unexport(l.fa, &old, 0), 0);
	hyper_dmabuf_core_tx_flush(l.a);
	KUNIT_EXPECT_EQ(test, link.dropped, 1U);
	KUNIT_EXPECT_EQ(test, link_records(l.b), 1U);

	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(l.fa, buf, TEST_PEER_DOMID,
						  0, NULL, 0, &hid, NULL), 0);
	hyper_dmabuf_core_tx_flush(l.a);
	KUNIT_EXPECT_EQ(test, hid.id, old.id);
	imp = link_import(&l, &hid);
	KUNIT_EXPECT_FALSE(test, IS_ERR(imp));
	if (!IS_ERR(imp))
		test_put(imp);
	/* The old key opens nothing. */
	imp = link_import(&l, &old);
	KUNIT_EXPECT_EQ(test, PTR_ERR(imp), -ENOENT);
	KUNIT_EXPECT_EQ(test, link_records(l.b), 1U);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(l.fa, &hid, 0), 0);
	/* The lost UNEXPORT, still owed, goes with the channel. */
	hyper_dmabuf_core_peer_gone(l.a, TEST_PEER_DOMID);
	hyper_dmabuf_core_peer_gone(l.b, TEST_LOCAL_DOMID);
	KUNIT_EXPECT_TRUE(test, link_settle(&l, 0, 0));
	test_put(buf);
	link_fini(&l);
}

/*
 * The importer maps the buffer while the exporter withdraws it: the
 * IMPORTED that arrives after the UNEXPORT still holds the export, which
 * stays until the importer lets go, even past the unexport delay.
 */
static void hyper_dmabuf_test_link_unexport_racing_import(struct kunit *test)
{
	struct dma_buf *buf = test_buf_create(test), *imp;
	struct hyper_dmabuf_id hid;
	struct test_link l;

	link_init(test, &l);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(l.fa, buf, TEST_PEER_DOMID,
						  0, NULL, 0, &hid, NULL), 0);
	KUNIT_ASSERT_TRUE(test, link_settle(&l, 1, 1));
	link.hold_op = HYPER_DMABUF_OP_IMPORTED;
	imp = link_import(&l, &hid);
	KUNIT_ASSERT_FALSE(test, IS_ERR(imp));
	hyper_dmabuf_core_tx_flush(l.b);
	KUNIT_ASSERT_TRUE(test, link.held);
	/* Withdrawn with a delay: the importer is told at once. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(l.fa, &hid, 100), 0);
	hyper_dmabuf_core_tx_flush(l.a);
	KUNIT_EXPECT_EQ(test, PTR_ERR(link_import(&l, &hid)), -ENOENT);
	link_release_held(&l);
	/* Past the delay the export stays: the importer maps it. */
	msleep(300);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&l.a->ids), 1U);
	KUNIT_EXPECT_EQ(test, fake.shared, 1U);
	test_put(imp);
	KUNIT_EXPECT_TRUE(test, link_settle(&l, 0, 0));
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);

	/* Without a delay the export is gone first: nothing is left. */
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(l.fa, buf, TEST_PEER_DOMID,
						  0, NULL, 0, &hid, NULL), 0);
	KUNIT_ASSERT_TRUE(test, link_settle(&l, 1, 1));
	link.hold_op = HYPER_DMABUF_OP_IMPORTED;
	imp = link_import(&l, &hid);
	KUNIT_ASSERT_FALSE(test, IS_ERR(imp));
	hyper_dmabuf_core_tx_flush(l.b);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(l.fa, &hid, 0), 0);
	hyper_dmabuf_core_tx_flush(l.a);
	link_release_held(&l);
	test_put(imp);
	KUNIT_EXPECT_TRUE(test, link_settle(&l, 0, 0));
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);
	test_put(buf);
	link_fini(&l);
}

/* How far a buffer's life goes before the channel is reset. */
enum test_reset_state {
	TEST_RESET_PENDING,	/* exported, PENDING sent */
	TEST_RESET_ANNOUNCED,	/* EXPORT received */
	TEST_RESET_IMPORTED,	/* mapped by B */
	TEST_RESET_RELEASED,	/* unmapped by B, RELEASED on its way */
	TEST_RESET_UNEXPORTED,	/* withdrawn while B maps it */
	TEST_RESET_DELAYED,	/* withdrawn with a delay, B mapped it */
	TEST_RESET_MAX,
};

static const char * const test_reset_names[] = {
	"pending", "announced", "imported", "released", "unexported",
	"delayed unexport",
};

static void test_reset_desc(const int *state, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "reset when %s",
		 test_reset_names[*state]);
}

static const int test_reset_states[] = {
	TEST_RESET_PENDING, TEST_RESET_ANNOUNCED, TEST_RESET_IMPORTED,
	TEST_RESET_RELEASED, TEST_RESET_UNEXPORTED, TEST_RESET_DELAYED,
};

KUNIT_ARRAY_PARAM(test_reset, test_reset_states, test_reset_desc);

/*
 * The channel is reset (both sides see their peer go) in each state of a
 * buffer's life: afterwards nothing of it is left once its local users
 * let go, nothing reaches the new incarnation of the peer, and sharing
 * works again.
 */
static void hyper_dmabuf_test_link_reset(struct kunit *test)
{
	const int state = *(const int *)test->param_value;
	struct dma_buf *buf = test_buf_create(test), *imp = NULL;
	struct dma_fence *fence = NULL;
	struct hyper_dmabuf_id hid;
	struct test_link l;
	bool held;

	link_init(test, &l);
	if (state == TEST_RESET_PENDING)
		fence = test_fence_attach(test, buf, DMA_RESV_USAGE_WRITE);
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_export(l.fa, buf, TEST_PEER_DOMID,
						  0, NULL, 0, &hid, NULL), 0);
	KUNIT_ASSERT_TRUE(test, link_settle(&l, 1, 1));
	if (state >= TEST_RESET_IMPORTED) {
		imp = link_import(&l, &hid);
		KUNIT_ASSERT_FALSE(test, IS_ERR(imp));
		KUNIT_ASSERT_TRUE(test, link_settle(&l, 1, 1));
	}
	if (state == TEST_RESET_RELEASED) {
		link.hold_op = HYPER_DMABUF_OP_RELEASED;
		test_put(imp);
		imp = NULL;
		hyper_dmabuf_core_tx_flush(l.b);
	}
	if (state >= TEST_RESET_UNEXPORTED) {
		u32 delay = state == TEST_RESET_DELAYED ? 1000 : 0;

		KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(l.fa, &hid, delay),
				0);
	}
	hyper_dmabuf_core_tx_flush(l.a);

	/* Both sides see the channel go. */
	hyper_dmabuf_core_peer_gone(l.a, TEST_PEER_DOMID);
	hyper_dmabuf_core_peer_gone(l.b, TEST_LOCAL_DOMID);
	spin_lock(&link.lock);
	held = link.held;
	link.held = false;
	spin_unlock(&link.lock);
	/* What was on its way when the channel went is lost with it. */
	KUNIT_EXPECT_EQ(test, held, state == TEST_RESET_RELEASED);
	if (fence)
		test_fence_done(fence);
	/* Local users keep what they have, without a word to the peer. */
	if (imp)
		test_put(imp);
	KUNIT_EXPECT_TRUE(test, link_settle(&l, 0, 0));
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);
	KUNIT_EXPECT_EQ(test, PTR_ERR(link_import(&l, &hid)), -ENOENT);
	KUNIT_EXPECT_EQ(test, link.dropped, 0U);
	/* The export is gone from its file too: unexporting it fails. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(l.fa, &hid, 0), -ENOENT);

	link_cycle(test, &l, true);
	KUNIT_EXPECT_TRUE(test, link_settle(&l, 0, 0));
	KUNIT_EXPECT_EQ(test, atomic_read(&l.a->drops[HYPER_DMABUF_DROP_KEY]) +
			atomic_read(&l.b->drops[HYPER_DMABUF_DROP_KEY]), 0);
	test_put(buf);
	link_fini(&l);
}

/*
 * Stress, across two cores linked as two domains: TEST_STRESS_THREADS
 * threads each export a buffer of random size from A, import it in B,
 * and let both go in a random order; now and then a thread closes its
 * exporting file instead of unexporting.  Every cycle must succeed, and
 * nothing may be left behind.
 */
#define TEST_STRESS_THREADS	4
#define TEST_STRESS_CYCLES	100000

struct test_stress {
	struct kunit *test;
	struct test_link *l;
	struct completion done;
	atomic_t *left;
	atomic_t *failed;
	unsigned int cycles;
	int first_err;
};

static int test_stress_cycle(struct test_stress *st,
			     struct hyper_dmabuf_file **fa)
{
	struct test_link *l = st->l;
	u32 r = get_random_u32();
	struct dma_buf *buf, *imp;
	struct hyper_dmabuf_id hid;
	unsigned int tries = 0;
	int ret;

	DEFINE_DMA_BUF_EXPORT_INFO(exp_info);

	/* Not test_buf_create(): no assertion outside the test's thread. */
	exp_info.ops = &test_buf_ops;
	exp_info.size = (1 + r % 16) * PAGE_SIZE;
	exp_info.flags = O_RDWR;
	exp_info.priv = st->test;
	buf = dma_buf_export(&exp_info);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	/* -EAGAIN: the queue to the peer is full for now; try again. */
	do {
		ret = hyper_dmabuf_export(*fa, buf, TEST_PEER_DOMID, 0, NULL,
					  0, &hid, NULL);
		if (ret != -EAGAIN || ++tries > 10000)
			break;
		usleep_range(10, 50);
	} while (1);
	if (ret)
		goto out_put;
	/* The announcement travels through A's send work. */
	tries = 0;
	do {
		imp = hyper_dmabuf_import_wait(l->fb, &hid,
					       O_RDONLY | O_CLOEXEC,
					       HYPER_DMABUF_IMPORT_NONBLOCK, 0);
		if (!IS_ERR(imp) || (PTR_ERR(imp) != -ENOENT &&
				     PTR_ERR(imp) != -EAGAIN) ||
		    ++tries > 10000)
			break;
		usleep_range(10, 50);
	} while (1);
	if (IS_ERR(imp)) {
		ret = PTR_ERR(imp);
		hyper_dmabuf_unexport(*fa, &hid, 0);
		goto out_put;
	}
	if (r & 0x100) {
		dma_buf_put(imp);
		imp = NULL;
	}
	if (r % 97 == 0) {
		/* Close the exporting file, open a new one. */
		hyper_dmabuf_file_release(*fa);
		memset(*fa, 0, sizeof(**fa));
		(*fa)->privileged = true;
		ret = hyper_dmabuf_file_open(l->a, *fa);
	} else {
		ret = hyper_dmabuf_unexport(*fa, &hid, 0);
	}
	if (imp)
		dma_buf_put(imp);
out_put:
	dma_buf_put(buf);
	return ret;
}

static int test_stress_fn(void *data)
{
	struct test_stress *st = data;
	struct hyper_dmabuf_file *fa;
	int ret;

	fa = kzalloc_obj(*fa, GFP_KERNEL);
	if (!fa) {
		st->first_err = -ENOMEM;
		atomic_inc(st->failed);
		goto out;
	}
	fa->privileged = true;
	/* A privileged file draws on no quota: nothing can fail. */
	WARN_ON(hyper_dmabuf_file_open(st->l->a, fa));
	while (atomic_dec_if_positive(st->left) >= 0) {
		ret = test_stress_cycle(st, &fa);
		st->cycles++;
		if (ret && !atomic_inc_return(st->failed) - 1)
			st->first_err = ret;
		cond_resched();
	}
	hyper_dmabuf_file_release(fa);
	kfree(fa);
out:
	complete(&st->done);
	return 0;
}

static void hyper_dmabuf_test_link_stress(struct kunit *test)
{
	struct test_stress st[TEST_STRESS_THREADS];
	atomic_t left = ATOMIC_INIT(TEST_STRESS_CYCLES);
	atomic_t failed = ATOMIC_INIT(0);
	unsigned int i, cycles = 0;
	struct task_struct *t;
	struct test_link l;
	int first_err = 0;
	u64 t0, ns;

	link_init(test, &l);
	/* Under load an ACK may take a while: the default wait. */
	l.a->ack_timeout = HYPER_DMABUF_ACK_TIMEOUT;
	l.b->ack_timeout = HYPER_DMABUF_ACK_TIMEOUT;
	t0 = ktime_get_ns();
	for (i = 0; i < TEST_STRESS_THREADS; i++) {
		st[i] = (struct test_stress){
			.test = test, .l = &l, .left = &left, .failed = &failed,
		};
		init_completion(&st[i].done);
		t = kthread_run(test_stress_fn, &st[i], "hd-stress-%u", i);
		if (IS_ERR(t))
			complete(&st[i].done);
	}
	for (i = 0; i < TEST_STRESS_THREADS; i++) {
		wait_for_completion(&st[i].done);
		cycles += st[i].cycles;
		if (st[i].first_err && !first_err)
			first_err = st[i].first_err;
	}
	ns = ktime_get_ns() - t0;
	flush_delayed_fput();
	kunit_info(test, "%u cycles on %u threads in %llu ms: %llu cycles/s, %d failed (first %d)\n",
		   cycles, TEST_STRESS_THREADS, ns / NSEC_PER_MSEC,
		   ns ? (u64)cycles * NSEC_PER_SEC / ns : 0,
		   atomic_read(&failed), first_err);
	KUNIT_EXPECT_EQ(test, cycles, (unsigned int)TEST_STRESS_CYCLES);
	KUNIT_EXPECT_EQ(test, atomic_read(&failed), 0);
	KUNIT_EXPECT_TRUE(test, link_settle(&l, 0, 0));
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.mapped, 0U);
	KUNIT_EXPECT_EQ(test, atomic_read(&l.a->tx_unacked), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&l.b->tx_unacked), 0);
	link_fini(&l);
}

/* ---- private data ----------------------------------------------------- */

static const u32 test_priv_sizes[] = { 0, 1, 192, 193, 4096 };

static void test_priv_desc(const u32 *size, char *desc)
{
	snprintf(desc, KUNIT_PARAM_DESC_SIZE, "priv %u", *size);
}

KUNIT_ARRAY_PARAM(test_priv, test_priv_sizes, test_priv_desc);

static void hyper_dmabuf_test_priv_bounds(struct kunit *test)
{
	const u32 size = *(const u32 *)test->param_value;
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_query q = { };
	struct hyper_dmabuf_id hid;
	u8 *priv, out[HYPER_DMABUF_MAX_PRIV];
	int ret;

	priv = kunit_kmalloc(test, size + 1, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, priv);
	memset(priv, 0xa5, size + 1);
	ctx->buf = test_buf_create(test);
	ret = hyper_dmabuf_export(ctx->file, ctx->buf, HYPER_DMABUF_DOMID_SELF,
				  0, priv, size, &hid, NULL);
	if (size > HYPER_DMABUF_MAX_PRIV) {
		KUNIT_EXPECT_EQ(test, ret, -EINVAL);
		KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&ctx->core->ids), 0U);
		return;
	}
	KUNIT_ASSERT_EQ(test, ret, 0);
	q.hid = hid;
	KUNIT_ASSERT_EQ(test, hyper_dmabuf_query(ctx->core, &q, out), 0);
	KUNIT_EXPECT_EQ(test, q.priv_size, size);
	KUNIT_EXPECT_EQ(test, memcmp(out, priv, size), 0);
}

/* ---- events ----------------------------------------------------------- */

static void test_ev(struct hyper_dmabuf_event *ev, u32 n)
{
	memset(ev, 0, sizeof(*ev));
	ev->type = HYPER_DMABUF_EVENT_NEW_IMPORT;
	ev->hid.id = n;
}

static void test_evlog_fini(void *log)
{
	hyper_dmabuf_evlog_fini(log);
}

static void hyper_dmabuf_test_event_overflow(struct kunit *test)
{
	struct hyper_dmabuf_evlog *log;
	struct hyper_dmabuf_evq *q;
	struct hyper_dmabuf_event ev;
	u32 i;

	log = kunit_kzalloc(test, sizeof(*log), GFP_KERNEL);
	q = kunit_kzalloc(test, sizeof(*q), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, log);
	KUNIT_ASSERT_NOT_NULL(test, q);
	hyper_dmabuf_evlog_init(log);
	/* Before the log is freed, even if an assertion ends the test. */
	KUNIT_ASSERT_EQ(test,
			kunit_add_action_or_reset(test, test_evlog_fini, log),
			0);
	hyper_dmabuf_evq_init(q, log, true);

	for (i = 0; i < HYPER_DMABUF_EVENT_QUEUE_LEN + 6; i++) {
		test_ev(&ev, i);
		hyper_dmabuf_evlog_push(log, &ev);
	}
	/* The reader lost the six oldest: it learns so first. */
	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(q, &ev));
	KUNIT_EXPECT_EQ(test, ev.type, (u32)HYPER_DMABUF_EVENT_OVERFLOW);
	KUNIT_EXPECT_EQ(test, ev.lost, 6U);
	KUNIT_EXPECT_EQ(test, ev.hid.id, 0U);
	/* Read two, then one more event arrives: nothing more is lost. */
	for (i = 6; i < 8; i++) {
		KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(q, &ev));
		KUNIT_EXPECT_EQ(test, ev.hid.id, i);
	}
	test_ev(&ev, 1000);
	hyper_dmabuf_evlog_push(log, &ev);
	for (i = 8; i < HYPER_DMABUF_EVENT_QUEUE_LEN + 6; i++) {
		KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(q, &ev));
		KUNIT_EXPECT_EQ(test, ev.type,
				(u32)HYPER_DMABUF_EVENT_NEW_IMPORT);
		KUNIT_EXPECT_EQ(test, ev.hid.id, i);
	}
	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(q, &ev));
	KUNIT_EXPECT_EQ(test, ev.hid.id, 1000U);
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_evq_ready(q));
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_evq_pop(q, &ev));

	/* A loss while the reader was not looking is reported by itself. */
	for (i = 0; i < 2 * HYPER_DMABUF_EVENT_QUEUE_LEN + 1; i++) {
		test_ev(&ev, i);
		hyper_dmabuf_evlog_push(log, &ev);
	}
	KUNIT_EXPECT_TRUE(test, hyper_dmabuf_evq_ready(q));
	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(q, &ev));
	KUNIT_EXPECT_EQ(test, ev.type, (u32)HYPER_DMABUF_EVENT_OVERFLOW);
	KUNIT_EXPECT_EQ(test, ev.lost, HYPER_DMABUF_EVENT_QUEUE_LEN + 1U);
	for (i = 0; i < HYPER_DMABUF_EVENT_QUEUE_LEN; i++)
		KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(q, &ev));
	KUNIT_EXPECT_EQ(test, ev.hid.id, 2U * HYPER_DMABUF_EVENT_QUEUE_LEN);
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_evq_ready(q));
}

/* ---- user memory ------------------------------------------------------ */

/*
 * Map two pages of user memory for the test thread, the second one
 * read-only, and return the address where they meet: an argument that
 * straddles it can be read whole, but only its first part written.
 */
static unsigned long test_user_edge(struct kunit *test)
{
	unsigned long addr, ro;

	addr = kunit_vm_mmap(test, NULL, 0, 2 * PAGE_SIZE,
			     PROT_READ | PROT_WRITE,
			     MAP_ANONYMOUS | MAP_PRIVATE, 0);
	KUNIT_ASSERT_FALSE(test, !addr || IS_ERR_VALUE(addr));
	ro = kunit_vm_mmap(test, NULL, addr + PAGE_SIZE, PAGE_SIZE, PROT_READ,
			   MAP_ANONYMOUS | MAP_PRIVATE | MAP_FIXED, 0);
	KUNIT_ASSERT_EQ(test, ro, addr + PAGE_SIZE);
	return addr + PAGE_SIZE;
}

/*
 * EXPORT whose result cannot be copied out: -EFAULT, and no export is
 * left that the caller could not name.
 */
static void hyper_dmabuf_test_export_efault(struct kunit *test)
{
	const size_t in = offsetof(struct hyper_dmabuf_export, hid);
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	struct hyper_dmabuf_export arg = { };
	struct hyper_dmabuf_export __user *uarg;
	unsigned long edge = test_user_edge(test);
	int fd;

	ctx->buf = test_buf_create(test);
	get_dma_buf(ctx->buf);
	fd = dma_buf_fd(ctx->buf, O_CLOEXEC);
	if (fd < 0)
		dma_buf_put(ctx->buf);
	KUNIT_ASSERT_GE(test, fd, 0);
	core->backend = &fake_ops;

	/* The input fits the writable page, the hid is read-only. */
	uarg = (void __user *)(edge - in);
	arg.fd = fd;
	arg.remote_domid = HYPER_DMABUF_DOMID_SELF;
	KUNIT_EXPECT_EQ(test, copy_to_user(uarg, &arg, in), 0UL);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_file_ioctl(ctx->file,
						      HYPER_DMABUF_IOCTL_EXPORT,
						      uarg), -EFAULT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_TRUE(test, list_empty(&ctx->file->exports));

	/* Remote: the peer is told to forget it again. */
	arg.remote_domid = TEST_PEER_DOMID;
	KUNIT_EXPECT_EQ(test, copy_to_user(uarg, &arg, in), 0UL);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_file_ioctl(ctx->file,
						      HYPER_DMABUF_IOCTL_EXPORT,
						      uarg), -EFAULT);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 0U);
	KUNIT_EXPECT_TRUE(test, list_empty(&ctx->file->exports));
	KUNIT_EXPECT_EQ(test, fake.shared, 0U);
	KUNIT_EXPECT_EQ(test, fake.channels, 0U);
	KUNIT_EXPECT_EQ(test, test_last_op(core),
			HYPER_DMABUF_OP_UNEXPORT);

	/* A writable argument gets the id of a live export. */
	uarg = (void __user *)(edge - PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, copy_to_user(uarg, &arg, sizeof(arg)), 0UL);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_file_ioctl(ctx->file,
						      HYPER_DMABUF_IOCTL_EXPORT,
						      uarg), 0L);
	KUNIT_EXPECT_EQ(test, copy_from_user(&arg, uarg, sizeof(arg)), 0UL);
	mutex_lock(&core->lock);
	KUNIT_EXPECT_NOT_NULL(test, hyper_dmabuf_exp_lookup(core, &arg.hid));
	mutex_unlock(&core->lock);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(&core->ids), 1U);
	close_fd(fd);
}

/* An event is consumed only once it reached the reader. */
static void hyper_dmabuf_test_read_efault(struct kunit *test)
{
	const size_t sz = sizeof(struct hyper_dmabuf_event);
	struct test_ctx *ctx = test->priv;
	unsigned long edge = test_user_edge(test);
	struct hyper_dmabuf_event ev;
	u32 i;

	for (i = 0; i < 3; i++) {
		test_ev(&ev, i);
		hyper_dmabuf_evlog_push(&ctx->core->events, &ev);
	}
	/* Nothing can be written: nothing is taken. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_file_read(ctx->file,
						     (char __user *)edge, sz,
						     true), (ssize_t)-EFAULT);
	/* Room for two, the second read-only: the first one is read. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_file_read(ctx->file,
						     (char __user *)(edge - sz),
						     2 * sz, true),
			(ssize_t)sz);
	KUNIT_ASSERT_EQ(test, copy_from_user(&ev, (void __user *)(edge - sz),
					     sz), 0UL);
	KUNIT_EXPECT_EQ(test, ev.hid.id, 0U);
	/* The others are still queued, in order. */
	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(&ctx->file->evq, &ev));
	KUNIT_EXPECT_EQ(test, ev.hid.id, 1U);
	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(&ctx->file->evq, &ev));
	KUNIT_EXPECT_EQ(test, ev.hid.id, 2U);
	KUNIT_EXPECT_FALSE(test, hyper_dmabuf_evq_pop(&ctx->file->evq, &ev));

	/*
	 * An event that could not be copied, then overwritten before the
	 * next read: that read reports it lost, then the newer ones.
	 */
	test_ev(&ev, 100);
	hyper_dmabuf_evlog_push(&ctx->core->events, &ev);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_file_read(ctx->file,
						     (char __user *)edge, sz,
						     true), (ssize_t)-EFAULT);
	for (i = 0; i < HYPER_DMABUF_EVENT_QUEUE_LEN; i++) {
		test_ev(&ev, 101 + i);
		hyper_dmabuf_evlog_push(&ctx->core->events, &ev);
	}
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_file_read(ctx->file,
						     (char __user *)(edge - sz),
						     sz, true),
			(ssize_t)sz);
	KUNIT_ASSERT_EQ(test, copy_from_user(&ev, (void __user *)(edge - sz),
					     sz), 0UL);
	KUNIT_EXPECT_EQ(test, ev.type, (u32)HYPER_DMABUF_EVENT_OVERFLOW);
	KUNIT_EXPECT_EQ(test, ev.lost, 1U);
	KUNIT_ASSERT_TRUE(test, hyper_dmabuf_evq_pop(&ctx->file->evq, &ev));
	KUNIT_EXPECT_EQ(test, ev.hid.id, 101U);
}

/* ---- benchmark -------------------------------------------------------- */

#define TEST_BENCH_ROUNDS	9

static int test_cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

static void hyper_dmabuf_test_benchmark(struct kunit *test)
{
	struct hyper_dmabuf_id_stack *stack = test_stack(test);
	u64 t_stack[TEST_BENCH_ROUNDS], t_xa[TEST_BENCH_ROUNDS];
	u64 t_key[TEST_BENCH_ROUNDS];
	struct hyper_dmabuf_id *ids;
	struct xarray xa;
	u32 *xids;
	ktime_t t0;
	int r, i;

	ids = kunit_kcalloc(test, HYPER_DMABUF_MAX_IDS, sizeof(*ids),
			    GFP_KERNEL);
	xids = kunit_kcalloc(test, HYPER_DMABUF_MAX_IDS, sizeof(*xids),
			     GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ids);
	KUNIT_ASSERT_NOT_NULL(test, xids);
	xa_init_flags(&xa, XA_FLAGS_ALLOC);

	for (r = 0; r < TEST_BENCH_ROUNDS; r++) {
		t0 = ktime_get();
		for (i = 0; i < HYPER_DMABUF_MAX_IDS; i++)
			KUNIT_ASSERT_EQ(test,
					hyper_dmabuf_id_alloc(stack, 0, &ids[i]),
					0);
		for (i = 0; i < HYPER_DMABUF_MAX_IDS; i++)
			hyper_dmabuf_id_release(stack, ids[i].id);
		t_stack[r] = ktime_to_ns(ktime_sub(ktime_get(), t0));

		t0 = ktime_get();
		for (i = 0; i < HYPER_DMABUF_MAX_IDS; i++)
			KUNIT_ASSERT_EQ(test,
					xa_alloc(&xa, &xids[i], &ids[i],
						 XA_LIMIT(0, HYPER_DMABUF_MAX_IDS - 1),
						 GFP_KERNEL), 0);
		for (i = 0; i < HYPER_DMABUF_MAX_IDS; i++)
			xa_erase(&xa, xids[i]);
		t_xa[r] = ktime_to_ns(ktime_sub(ktime_get(), t0));

		/* Share of the random keys in the id stack time. */
		t0 = ktime_get();
		for (i = 0; i < HYPER_DMABUF_MAX_IDS; i++)
			get_random_bytes(ids[i].key, sizeof(ids[i].key));
		t_key[r] = ktime_to_ns(ktime_sub(ktime_get(), t0));
	}
	xa_destroy(&xa);

	sort(t_stack, TEST_BENCH_ROUNDS, sizeof(u64), test_cmp_u64, NULL);
	sort(t_xa, TEST_BENCH_ROUNDS, sizeof(u64), test_cmp_u64, NULL);
	sort(t_key, TEST_BENCH_ROUNDS, sizeof(u64), test_cmp_u64, NULL);
	kunit_info(test,
		   "1000 alloc+free, median of %d: id stack %llu ns (of which random keys %llu ns), xa_alloc/xa_erase %llu ns, xa/stack ratio %llu.%02llu\n",
		   TEST_BENCH_ROUNDS, t_stack[TEST_BENCH_ROUNDS / 2],
		   t_key[TEST_BENCH_ROUNDS / 2], t_xa[TEST_BENCH_ROUNDS / 2],
		   div64_u64(t_xa[TEST_BENCH_ROUNDS / 2],
			     max_t(u64, t_stack[TEST_BENCH_ROUNDS / 2], 1)),
		   div64_u64(t_xa[TEST_BENCH_ROUNDS / 2] * 100,
			     max_t(u64, t_stack[TEST_BENCH_ROUNDS / 2], 1)) %
		   100);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_id_live(stack), 0U);
}

/*
 * An event costs the same whatever the number of open files: with 4096
 * idle files open, an export and unexport (one event) take about as long
 * as with none, each file is small, and the last file opened still reads
 * the event.
 */
#define TEST_MANY_FILES		4096
#define TEST_MANY_ROUNDS	9

static u64 test_many_cycle(struct kunit *test, struct hyper_dmabuf_file *file,
			   struct dma_buf *buf)
{
	struct hyper_dmabuf_id hid;
	u64 t0 = ktime_get_ns();

	KUNIT_EXPECT_EQ(test, hyper_dmabuf_export(file, buf,
						  HYPER_DMABUF_DOMID_SELF, 0,
						  NULL, 0, &hid, NULL), 0);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_unexport(file, &hid, 0), 0);
	return ktime_get_ns() - t0;
}

static void hyper_dmabuf_test_events_many_files(struct kunit *test)
{
	struct test_ctx *ctx = test->priv;
	struct hyper_dmabuf_core *core = ctx->core;
	u64 one[TEST_MANY_ROUNDS], many[TEST_MANY_ROUNDS];
	struct hyper_dmabuf_file **files;
	struct hyper_dmabuf_event ev;
	unsigned int i, n = 0;

	/*
	 * A file keeps its place in the event log, not a queue of its own
	 * (which made it 16,240 bytes; the bound leaves room for lockdep).
	 */
	KUNIT_EXPECT_LE(test, sizeof(struct hyper_dmabuf_file), 1024UL);
	ctx->buf = test_buf_create(test);
	files = kvcalloc(TEST_MANY_FILES, sizeof(*files), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, files);
	for (i = 0; i < TEST_MANY_ROUNDS; i++)
		one[i] = test_many_cycle(test, ctx->file, ctx->buf);
	for (; n < TEST_MANY_FILES; n++) {
		files[n] = kzalloc_obj(*files[n], GFP_KERNEL);
		if (!files[n] || hyper_dmabuf_file_open(core, files[n])) {
			kfree(files[n]);
			break;
		}
	}
	KUNIT_EXPECT_EQ(test, n, TEST_MANY_FILES);
	for (i = 0; i < TEST_MANY_ROUNDS; i++)
		many[i] = test_many_cycle(test, ctx->file, ctx->buf);
	if (n) {
		KUNIT_EXPECT_TRUE(test, hyper_dmabuf_evq_pop(&files[n - 1]->evq,
							     &ev));
		KUNIT_EXPECT_EQ(test, ev.type,
				(u32)HYPER_DMABUF_EVENT_NEW_IMPORT);
	}
	while (n--) {
		hyper_dmabuf_file_release(files[n]);
		kfree(files[n]);
	}
	kvfree(files);
	sort(one, TEST_MANY_ROUNDS, sizeof(u64), test_cmp_u64, NULL);
	sort(many, TEST_MANY_ROUNDS, sizeof(u64), test_cmp_u64, NULL);
	kunit_info(test, "export+unexport, median: %llu ns with 1 file, %llu ns with %u more",
		   one[TEST_MANY_ROUNDS / 2], many[TEST_MANY_ROUNDS / 2],
		   TEST_MANY_FILES);
	/* Medians, with room for a loaded machine: the old cost was 2 ms. */
	KUNIT_EXPECT_LE(test, many[TEST_MANY_ROUNDS / 2],
			3 * one[TEST_MANY_ROUNDS / 2] + 500 * NSEC_PER_USEC);
}

static struct kunit_case hyper_dmabuf_test_cases[] = {
	KUNIT_CASE(hyper_dmabuf_test_stack_bound),
	KUNIT_CASE(hyper_dmabuf_test_stack_lifo),
	KUNIT_CASE(hyper_dmabuf_test_stack_bad_release),
	KUNIT_CASE_PARAM(hyper_dmabuf_test_domid_encoding,
			 test_domid_gen_params),
	KUNIT_CASE(hyper_dmabuf_test_stack_concurrent),
	KUNIT_CASE(hyper_dmabuf_test_msg_roundtrip),
	KUNIT_CASE_PARAM(hyper_dmabuf_test_msg_malformed,
			 test_bad_msg_gen_params),
	KUNIT_CASE(hyper_dmabuf_test_lookup_exports),
	KUNIT_CASE(hyper_dmabuf_test_remote_export),
	KUNIT_CASE(hyper_dmabuf_test_imported_once),
	KUNIT_CASE(hyper_dmabuf_test_unexport_delayed),
	KUNIT_CASE(hyper_dmabuf_test_peer_gone),
	KUNIT_CASE(hyper_dmabuf_test_lookup_imports),
	KUNIT_CASE_PARAM(hyper_dmabuf_test_priv_bounds, test_priv_gen_params),
	KUNIT_CASE(hyper_dmabuf_test_event_overflow),
	KUNIT_CASE(hyper_dmabuf_test_read_efault),
	KUNIT_CASE(hyper_dmabuf_test_export_efault),
	KUNIT_CASE(hyper_dmabuf_test_fence_announce),
	KUNIT_CASE(hyper_dmabuf_test_fence_usage),
	KUNIT_CASE(hyper_dmabuf_test_fence_cancel),
	KUNIT_CASE(hyper_dmabuf_test_fence_fallback),
	KUNIT_CASE(hyper_dmabuf_test_fence_race),
	KUNIT_CASE(hyper_dmabuf_test_fence_reexport),
	KUNIT_CASE(hyper_dmabuf_test_fence_remote),
	KUNIT_CASE(hyper_dmabuf_test_pending_remote),
	KUNIT_CASE(hyper_dmabuf_test_pending_withdrawn),
	KUNIT_CASE(hyper_dmabuf_test_announce_retry),
	KUNIT_CASE(hyper_dmabuf_test_peer_stalled),
	KUNIT_CASE(hyper_dmabuf_test_tx_retry),
	KUNIT_CASE(hyper_dmabuf_test_tx_peer_gone),
	KUNIT_CASE(hyper_dmabuf_test_keys_stay),
	KUNIT_CASE(hyper_dmabuf_test_quota),
	KUNIT_CASE(hyper_dmabuf_test_remote_page_quota),
	KUNIT_CASE(hyper_dmabuf_test_events_many_files),
	KUNIT_CASE(hyper_dmabuf_test_map_seq),
	KUNIT_CASE_PARAM(hyper_dmabuf_test_link_drop_each, test_drop_gen_params),
	KUNIT_CASE(hyper_dmabuf_test_link_stale_record),
	KUNIT_CASE(hyper_dmabuf_test_link_unexport_racing_import),
	KUNIT_CASE_PARAM(hyper_dmabuf_test_link_reset, test_reset_gen_params),
	KUNIT_CASE_SLOW(hyper_dmabuf_test_link_stress),
	KUNIT_CASE(hyper_dmabuf_test_list_unexport_any),
	KUNIT_CASE(hyper_dmabuf_test_benchmark),
	{}
};

static struct kunit_suite hyper_dmabuf_test_suite = {
	.name = "hyper_dmabuf",
	.init = hyper_dmabuf_test_init,
	.exit = hyper_dmabuf_test_exit,
	.test_cases = hyper_dmabuf_test_cases,
};

kunit_test_suite(hyper_dmabuf_test_suite);
