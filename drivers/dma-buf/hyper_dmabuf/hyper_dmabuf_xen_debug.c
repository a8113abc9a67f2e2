// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: Xen backend, forged page directories (test kernels only)
 *
 * Part of the test hook debugfs hyper_dmabuf_xen/inject (see
 * hyper_dmabuf_xen_chan.c), through which this domain plays a hostile
 * peer: pages of arbitrary content granted read-only to another domain,
 * whose references a forged export message then names as its page
 * directory.  Built only with CONFIG_HYPER_DMABUF_DEBUG.
 */
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <xen/grant_table.h>
#include <xen/page.h>

#include "hyper_dmabuf_xen.h"

/* Forged pages alive at once. */
#define HYPER_DMABUF_XEN_FORGE_MAX	64

/**
 * struct hyper_dmabuf_xen_forged - a forged page granted to another domain
 * @link: entry in hyper_dmabuf_xen_forged_list
 * @page: the page
 * @ref: its grant reference
 */
struct hyper_dmabuf_xen_forged {
	struct list_head link;
	struct page *page;
	grant_ref_t ref;
};

static LIST_HEAD(hyper_dmabuf_xen_forged_list);
/* Protects the list, the count and the last reference. */
static DEFINE_MUTEX(hyper_dmabuf_xen_forged_lock);
static unsigned int hyper_dmabuf_xen_forged_nr;
static grant_ref_t hyper_dmabuf_xen_forged_last;

/**
 * hyper_dmabuf_xen_forge_dir() - grant a page of arbitrary content to a domain
 * @domid: domain the page is granted to, read-only
 * @data: content; the rest of the page is zero
 * @len: bytes of @data, at most a page
 *
 * The page and its grant are kept until hyper_dmabuf_xen_forge_free(); its
 * reference is then returned by hyper_dmabuf_xen_forge_last().
 *
 * Return: 0, -EINVAL, -ENOSPC (%HYPER_DMABUF_XEN_FORGE_MAX pages already),
 * -ENOMEM, or an error of the grant table.
 */
int hyper_dmabuf_xen_forge_dir(u32 domid, const void *data, size_t len)
{
	struct hyper_dmabuf_xen_forged *f;
	int ret;

	if (len > PAGE_SIZE || domid >= DOMID_FIRST_RESERVED)
		return -EINVAL;
	f = kzalloc_obj(*f, GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	f->page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!f->page) {
		kfree(f);
		return -ENOMEM;
	}
	memcpy(page_address(f->page), data, len);

	mutex_lock(&hyper_dmabuf_xen_forged_lock);
	ret = -ENOSPC;
	if (hyper_dmabuf_xen_forged_nr >= HYPER_DMABUF_XEN_FORGE_MAX)
		goto err_unlock;
	ret = gnttab_grant_foreign_access(domid, xen_page_to_gfn(f->page), 1);
	if (ret < 0)
		goto err_unlock;
	f->ref = ret;
	list_add_tail(&f->link, &hyper_dmabuf_xen_forged_list);
	hyper_dmabuf_xen_forged_nr++;
	hyper_dmabuf_xen_forged_last = f->ref;
	mutex_unlock(&hyper_dmabuf_xen_forged_lock);
	return 0;

err_unlock:
	mutex_unlock(&hyper_dmabuf_xen_forged_lock);
	__free_page(f->page);
	kfree(f);
	return ret;
}

/**
 * hyper_dmabuf_xen_forge_fill() - replace the content of a forged page
 * @ref: grant reference of the page, from hyper_dmabuf_xen_forge_last()
 * @data: new content; the rest of the page is zero
 * @len: bytes of @data, at most a page
 *
 * Return: 0, -EINVAL, or -ENOENT if no forged page has grant @ref.
 */
int hyper_dmabuf_xen_forge_fill(u32 ref, const void *data, size_t len)
{
	struct hyper_dmabuf_xen_forged *f;
	int ret = -ENOENT;
	u8 *p;

	if (len > PAGE_SIZE)
		return -EINVAL;
	mutex_lock(&hyper_dmabuf_xen_forged_lock);
	list_for_each_entry(f, &hyper_dmabuf_xen_forged_list, link) {
		if (f->ref != ref)
			continue;
		p = page_address(f->page);
		memcpy(p, data, len);
		memset(p + len, 0, PAGE_SIZE - len);
		ret = 0;
		break;
	}
	mutex_unlock(&hyper_dmabuf_xen_forged_lock);
	return ret;
}

/**
 * hyper_dmabuf_xen_forge_last() - grant reference of the forged page made last
 *
 * Return: the reference, or 0 if there is no forged page.
 */
u32 hyper_dmabuf_xen_forge_last(void)
{
	u32 ref;

	mutex_lock(&hyper_dmabuf_xen_forged_lock);
	ref = hyper_dmabuf_xen_forged_last;
	mutex_unlock(&hyper_dmabuf_xen_forged_lock);
	return ref;
}

/**
 * hyper_dmabuf_xen_forge_free() - end the grants of the forged pages, free them
 *
 * A page that the other domain still maps is freed by the grant table
 * once it has let go.
 */
void hyper_dmabuf_xen_forge_free(void)
{
	struct hyper_dmabuf_xen_forged *f, *tmp;

	mutex_lock(&hyper_dmabuf_xen_forged_lock);
	list_for_each_entry_safe(f, tmp, &hyper_dmabuf_xen_forged_list, link) {
		list_del(&f->link);
		gnttab_end_foreign_access(f->ref, f->page);
		kfree(f);
	}
	hyper_dmabuf_xen_forged_nr = 0;
	hyper_dmabuf_xen_forged_last = 0;
	mutex_unlock(&hyper_dmabuf_xen_forged_lock);
}
