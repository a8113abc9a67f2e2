// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: bounded LIFO stack of buffer ids
 *
 * An id names a buffer across domains: the top byte holds the low 8 bits
 * of the exporter's domain id, the low 24 bits a slot of the exporter's
 * stack.  At most HYPER_DMABUF_MAX_IDS slots are live at once.  Released
 * slots are reused last-in first-out, each time with a fresh random key.
 */
#include <linux/bug.h>
#include <linux/printk.h>
#include <linux/random.h>
#include <linux/spinlock.h>

#include "hyper_dmabuf_drv.h"

/**
 * hyper_dmabuf_id_stack_init() - fill a stack with all slots
 * @stack: stack to initialise
 *
 * Slot 0 is handed out first.
 */
void hyper_dmabuf_id_stack_init(struct hyper_dmabuf_id_stack *stack)
{
	u32 i;

	spin_lock_init(&stack->lock);
	for (i = 0; i < HYPER_DMABUF_MAX_IDS; i++) {
		stack->free[i] = HYPER_DMABUF_MAX_IDS - 1 - i;
		stack->used[i] = false;
	}
	stack->top = HYPER_DMABUF_MAX_IDS;
	stack->refused = 0;
}

/**
 * hyper_dmabuf_id_alloc() - allocate an id and a fresh key
 * @stack: stack of the exporting domain
 * @domid: exporting domain, encoded into the id's top byte
 * @hid: filled with id, exporter domid and a new random key
 *
 * Return: 0, or -ENOSPC if all ids are live (the stack is left unchanged).
 */
int hyper_dmabuf_id_alloc(struct hyper_dmabuf_id_stack *stack, u32 domid,
			  struct hyper_dmabuf_id *hid)
{
	u32 slot;

	spin_lock(&stack->lock);
	if (!stack->top) {
		spin_unlock(&stack->lock);
		return -ENOSPC;
	}
	slot = stack->free[--stack->top];
	stack->used[slot] = true;
	spin_unlock(&stack->lock);

	hid->id = hyper_dmabuf_id_make(domid, slot);
	hid->exporter_domid = domid;
	hid->pad = 0;
	get_random_bytes(hid->key, sizeof(hid->key));
	return 0;
}

/**
 * hyper_dmabuf_id_release() - return an id to the stack
 * @stack: stack the id was allocated from
 * @id: id to release
 *
 * Never allocates and cannot fail for a live id.  Releasing an id that is
 * not live (double release, or never allocated) is refused with a warning
 * and leaves the stack untouched.
 *
 * Return: true if the id was released, false if refused.
 */
bool hyper_dmabuf_id_release(struct hyper_dmabuf_id_stack *stack, u32 id)
{
	u32 slot = hyper_dmabuf_id_slot(id);

	spin_lock(&stack->lock);
	if (slot >= HYPER_DMABUF_MAX_IDS || !stack->used[slot] ||
	    WARN_ON_ONCE(stack->top >= HYPER_DMABUF_MAX_IDS)) {
		stack->refused++;
		spin_unlock(&stack->lock);
		pr_warn_ratelimited("hyper_dmabuf: refusing release of id %#x that is not live\n",
				    id);
		return false;
	}
	stack->used[slot] = false;
	stack->free[stack->top++] = slot;
	spin_unlock(&stack->lock);
	return true;
}

/**
 * hyper_dmabuf_id_live() - number of allocated ids
 * @stack: stack to inspect
 *
 * Return: the number of live ids.
 */
u32 hyper_dmabuf_id_live(struct hyper_dmabuf_id_stack *stack)
{
	u32 live;

	spin_lock(&stack->lock);
	live = HYPER_DMABUF_MAX_IDS - stack->top;
	spin_unlock(&stack->lock);
	return live;
}
