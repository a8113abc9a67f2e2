// SPDX-License-Identifier: GPL-2.0-only
/*
 * KUnit tests for the hyper_dmabuf Xen backend's helpers
 *
 * Included at the end of hyper_dmabuf_xen_shm.c, whose static functions
 * they test, with CONFIG_HYPER_DMABUF_KUNIT_TEST.  They need no Xen
 * domain: built in, they run at boot in any kernel with the Xen backend,
 * for instance in QEMU with a kunitconfig that sets CONFIG_KUNIT,
 * CONFIG_HYPERVISOR_GUEST, CONFIG_PARAVIRT, CONFIG_XEN,
 * CONFIG_DMA_SHARED_BUFFER, CONFIG_HYPER_DMABUF, CONFIG_HYPER_DMABUF_XEN
 * and CONFIG_HYPER_DMABUF_KUNIT_TEST:
 *
 *   tools/testing/kunit/kunit.py run --arch=x86_64 --kunitconfig=FILE \
 *	hyper_dmabuf_xen
 *
 * (The suite of the core, hyper_dmabuf_test.c, runs under UML without
 * Xen.)
 */
#include <kunit/test.h>

/*
 * A mapped table is granted page by page from its DMA addresses: segments
 * must be page aligned and cover the buffer exactly.  No struct page is
 * needed, so none is referenced.
 */
static void hyper_dmabuf_xen_test_sgt_check(struct kunit *test)
{
	struct scatterlist *sg;
	struct sg_table sgt;

	KUNIT_ASSERT_EQ(test, sg_alloc_table(&sgt, 2, GFP_KERNEL), 0);
	/* Two segments: one page, then two pages. */
	sg = sgt.sgl;
	sg_dma_address(sg) = 0x100000;
	sg_dma_len(sg) = PAGE_SIZE;
	sg = sg_next(sg);
	sg_dma_address(sg) = 0x200000;
	sg_dma_len(sg) = 2 * PAGE_SIZE;
	sgt.nents = 2;

	KUNIT_EXPECT_EQ(test, hyper_dmabuf_xen_sgt_check(&sgt, 3), 0);
	/* A table that does not cover the buffer exactly. */
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_xen_sgt_check(&sgt, 4),
			-EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_xen_sgt_check(&sgt, 2),
			-EOPNOTSUPP);
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_xen_sgt_check(&sgt, 0),
			-EOPNOTSUPP);
	/* An address inside a page. */
	sg_dma_address(sg) = 0x200000 + 64;
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_xen_sgt_check(&sgt, 3),
			-EOPNOTSUPP);
	/* A length that ends inside a page. */
	sg_dma_address(sg) = 0x200000;
	sg_dma_len(sg) = PAGE_SIZE + 64;
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_xen_sgt_check(&sgt, 3),
			-EOPNOTSUPP);
	/* An empty segment. */
	sg_dma_len(sg) = 0;
	KUNIT_EXPECT_EQ(test, hyper_dmabuf_xen_sgt_check(&sgt, 1),
			-EOPNOTSUPP);

	sg_free_table(&sgt);
}

static struct kunit_case hyper_dmabuf_xen_test_cases[] = {
	KUNIT_CASE(hyper_dmabuf_xen_test_sgt_check),
	{}
};

static struct kunit_suite hyper_dmabuf_xen_test_suite = {
	.name = "hyper_dmabuf_xen",
	.test_cases = hyper_dmabuf_xen_test_cases,
};

kunit_test_suite(hyper_dmabuf_xen_test_suite);
