// SPDX-License-Identifier: GPL-2.0-only
/*
 * hyper_dmabuf: /dev/hyper_dmabuf character device
 *
 * Share dma-bufs between virtual machine domains.  This file holds the
 * ioctl, read and poll entry points; the logic lives in the core files so
 * that KUnit can test it directly.
 */
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/dma-buf.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "hyper_dmabuf_drv.h"

MODULE_IMPORT_NS("DMA_BUF");

static struct hyper_dmabuf_core hyper_dmabuf_dev_core;

/*
 * Sizes of the first version of each argument.  Smaller arguments are
 * refused; arguments between these and the current size are zero-extended.
 */
#define HYPER_DMABUF_EXPORT_SIZE_VER0	48
#define HYPER_DMABUF_IMPORT_SIZE_VER0	32
/* Second version: flags and timeout_ms. */
#define HYPER_DMABUF_IMPORT_SIZE_VER1	40
#define HYPER_DMABUF_UNEXPORT_SIZE_VER0	32
#define HYPER_DMABUF_QUERY_SIZE_VER0	80
#define HYPER_DMABUF_LIST_SIZE_VER0	24

static_assert(sizeof(struct hyper_dmabuf_id) == 24);
static_assert(sizeof(struct hyper_dmabuf_export) ==
	      HYPER_DMABUF_EXPORT_SIZE_VER0);
static_assert(sizeof(struct hyper_dmabuf_import) ==
	      HYPER_DMABUF_IMPORT_SIZE_VER1);
static_assert(sizeof(struct hyper_dmabuf_unexport) ==
	      HYPER_DMABUF_UNEXPORT_SIZE_VER0);
static_assert(sizeof(struct hyper_dmabuf_query) ==
	      HYPER_DMABUF_QUERY_SIZE_VER0);
static_assert(sizeof(struct hyper_dmabuf_list) ==
	      HYPER_DMABUF_LIST_SIZE_VER0);
static_assert(sizeof(struct hyper_dmabuf_event) == 248);

/* The commands, indexed by number, with the size of their first version. */
static const struct hyper_dmabuf_ioctl_desc {
	unsigned int cmd;
	unsigned int minsize;
} hyper_dmabuf_ioctls[] = {
	[_IOC_NR(HYPER_DMABUF_IOCTL_EXPORT)] = {
		HYPER_DMABUF_IOCTL_EXPORT, HYPER_DMABUF_EXPORT_SIZE_VER0 },
	[_IOC_NR(HYPER_DMABUF_IOCTL_IMPORT)] = {
		HYPER_DMABUF_IOCTL_IMPORT, HYPER_DMABUF_IMPORT_SIZE_VER0 },
	[_IOC_NR(HYPER_DMABUF_IOCTL_UNEXPORT)] = {
		HYPER_DMABUF_IOCTL_UNEXPORT, HYPER_DMABUF_UNEXPORT_SIZE_VER0 },
	[_IOC_NR(HYPER_DMABUF_IOCTL_QUERY)] = {
		HYPER_DMABUF_IOCTL_QUERY, HYPER_DMABUF_QUERY_SIZE_VER0 },
	[_IOC_NR(HYPER_DMABUF_IOCTL_LIST)] = {
		HYPER_DMABUF_IOCTL_LIST, HYPER_DMABUF_LIST_SIZE_VER0 },
};

union hyper_dmabuf_ioctl_arg {
	struct hyper_dmabuf_export export;
	struct hyper_dmabuf_import import;
	struct hyper_dmabuf_unexport unexport;
	struct hyper_dmabuf_query query;
	struct hyper_dmabuf_list list;
};

static int hyper_dmabuf_open(struct inode *inode, struct file *filp)
{
	struct hyper_dmabuf_file *file;
	int ret;

	file = kzalloc_obj(*file, GFP_KERNEL_ACCOUNT);
	if (!file)
		return -ENOMEM;
	/* The opener's privilege and user, as for the file's credentials. */
	file->privileged = capable(CAP_SYS_ADMIN);
	file->uid = current_euid();
	ret = hyper_dmabuf_file_open(&hyper_dmabuf_dev_core, file);
	if (ret) {
		kfree(file);
		return ret;
	}
	filp->private_data = file;
	return nonseekable_open(inode, filp);
}

static int hyper_dmabuf_release(struct inode *inode, struct file *filp)
{
	struct hyper_dmabuf_file *file = filp->private_data;

	hyper_dmabuf_file_release(file);
	kfree(file);
	return 0;
}

static int hyper_dmabuf_ioctl_export(struct hyper_dmabuf_file *file,
				     struct hyper_dmabuf_export *arg,
				     bool *created)
{
	u8 priv[HYPER_DMABUF_MAX_PRIV];
	struct dma_buf *dmabuf;
	int ret;

	if (arg->flags & ~HYPER_DMABUF_EXPORT_VALID_FLAGS ||
	    arg->priv_size > HYPER_DMABUF_MAX_PRIV)
		return -EINVAL;
	if (copy_from_user(priv, u64_to_user_ptr(arg->priv_ptr),
			   arg->priv_size))
		return -EFAULT;

	dmabuf = dma_buf_get(arg->fd);
	if (IS_ERR(dmabuf))
		return PTR_ERR(dmabuf);
	ret = hyper_dmabuf_export(file, dmabuf, arg->remote_domid, arg->flags,
				  priv, arg->priv_size, &arg->hid, created);
	dma_buf_put(dmabuf);
	return ret;
}

static int hyper_dmabuf_ioctl_query(struct hyper_dmabuf_file *file,
				    struct hyper_dmabuf_query *arg)
{
	u8 priv[HYPER_DMABUF_MAX_PRIV];
	u32 len;
	int ret;

	if (arg->pad || arg->hid.pad)
		return -EINVAL;
	ret = hyper_dmabuf_query(file->core, arg, priv);
	if (ret)
		return ret;
	len = min(arg->priv_buf_size, arg->priv_size);
	if (arg->priv_ptr && len &&
	    copy_to_user(u64_to_user_ptr(arg->priv_ptr), priv, len))
		return -EFAULT;
	return 0;
}

static int hyper_dmabuf_ioctl_list(struct hyper_dmabuf_file *file,
				   struct hyper_dmabuf_list *arg)
{
	const struct hyper_dmabuf_file *mine = file;
	struct hyper_dmabuf_id *hids = NULL;
	u32 n, total;
	int ret;

	if (arg->pad)
		return -EINVAL;
	/* Keys of other files' buffers only for the administrator. */
	if (file->privileged)
		mine = NULL;
	/* Size the copy from a first count; the second pass is the answer. */
	ret = hyper_dmabuf_list(file->core, arg->type, NULL, NULL, 0, &total);
	if (ret)
		return ret;
	n = min(arg->count, total);
	if (n) {
		hids = kvcalloc(n, sizeof(*hids), GFP_KERNEL);
		if (!hids)
			return -ENOMEM;
	}
	ret = hyper_dmabuf_list(file->core, arg->type, mine, hids, n, &total);
	n = min(n, total);
	if (!ret && n && copy_to_user(u64_to_user_ptr(arg->hids_ptr), hids,
				      array_size(n, sizeof(*hids))))
		ret = -EFAULT;
	kvfree(hids);
	arg->count = n;
	arg->total = total;
	return ret;
}

/**
 * hyper_dmabuf_file_ioctl() - handle an ioctl of an open /dev/hyper_dmabuf
 * @file: state of the open file
 * @cmd: ioctl command
 * @uarg: argument in user memory
 *
 * Return: 0 or a negative error code (see the uapi header).
 */
long hyper_dmabuf_file_ioctl(struct hyper_dmabuf_file *file, unsigned int cmd,
			     void __user *uarg)
{
	union hyper_dmabuf_ioctl_arg karg;
	unsigned int usize = _IOC_SIZE(cmd);
	unsigned int nr = _IOC_NR(cmd);
	struct dma_buf *dmabuf = NULL;
	bool created = false;
	unsigned int kcmd;
	int fd = -1;
	int ret;

	if (_IOC_TYPE(cmd) != HYPER_DMABUF_IOC_MAGIC ||
	    nr >= ARRAY_SIZE(hyper_dmabuf_ioctls))
		return -ENOTTY;
	nr = array_index_nospec(nr, ARRAY_SIZE(hyper_dmabuf_ioctls));
	kcmd = hyper_dmabuf_ioctls[nr].cmd;
	if (!kcmd || _IOC_DIR(cmd) != _IOC_DIR(kcmd))
		return -ENOTTY;
	if (usize < hyper_dmabuf_ioctls[nr].minsize)
		return -EINVAL;

	/* Zero-extends older structs, refuses non-zero tails of newer ones. */
	ret = copy_struct_from_user(&karg, _IOC_SIZE(kcmd), uarg, usize);
	if (ret)
		return ret;

	switch (kcmd) {
	case HYPER_DMABUF_IOCTL_EXPORT:
		ret = hyper_dmabuf_ioctl_export(file, &karg.export, &created);
		break;
	case HYPER_DMABUF_IOCTL_IMPORT:
		dmabuf = hyper_dmabuf_import_wait(file, &karg.import.hid,
						  karg.import.fd_flags,
						  karg.import.flags,
						  karg.import.timeout_ms);
		if (IS_ERR(dmabuf))
			return PTR_ERR(dmabuf);
		fd = get_unused_fd_flags(karg.import.fd_flags & O_CLOEXEC);
		if (fd < 0) {
			dma_buf_put(dmabuf);
			return fd;
		}
		karg.import.fd = fd;
		break;
	case HYPER_DMABUF_IOCTL_UNEXPORT:
		if (karg.unexport.flags & ~HYPER_DMABUF_UNEXPORT_VALID_FLAGS)
			return -EINVAL;
		if (!(karg.unexport.flags & HYPER_DMABUF_UNEXPORT_ANY_FILE))
			return hyper_dmabuf_unexport(file, &karg.unexport.hid,
						     karg.unexport.delay_ms);
		if (!capable(CAP_SYS_ADMIN))
			return -EPERM;
		return hyper_dmabuf_unexport_any(file, &karg.unexport.hid,
						 karg.unexport.delay_ms);
	case HYPER_DMABUF_IOCTL_QUERY:
		ret = hyper_dmabuf_ioctl_query(file, &karg.query);
		break;
	case HYPER_DMABUF_IOCTL_LIST:
		ret = hyper_dmabuf_ioctl_list(file, &karg.list);
		break;
	}
	if (ret)
		return ret;

	if ((_IOC_DIR(cmd) & _IOC_READ) &&
	    copy_to_user(uarg, &karg, min_t(unsigned int, usize,
					    _IOC_SIZE(kcmd)))) {
		if (dmabuf) {
			put_unused_fd(fd);
			dma_buf_put(dmabuf);
		}
		/* The caller cannot name the new export: take it back. */
		if (created)
			hyper_dmabuf_unexport(file, &karg.export.hid, 0);
		return -EFAULT;
	}
	if (dmabuf)
		fd_install(fd, dmabuf->file);
	return 0;
}

static long hyper_dmabuf_ioctl(struct file *filp, unsigned int cmd,
			       unsigned long arg)
{
	return hyper_dmabuf_file_ioctl(filp->private_data, cmd,
				       (void __user *)arg);
}

/**
 * hyper_dmabuf_file_read() - read events of an open /dev/hyper_dmabuf
 * @file: state of the open file
 * @buf: user buffer
 * @count: size of @buf, at least one &struct hyper_dmabuf_event
 * @nonblock: return -EAGAIN instead of waiting for an event
 *
 * Return: bytes read (whole events), or a negative error code.
 */
ssize_t hyper_dmabuf_file_read(struct hyper_dmabuf_file *file,
			       char __user *buf, size_t count, bool nonblock)
{
	struct hyper_dmabuf_evq *q = &file->evq;
	struct hyper_dmabuf_event ev;
	size_t copied = 0;
	bool fault = false;
	int ret;

	if (count < sizeof(ev))
		return -EINVAL;

	for (;;) {
		ret = mutex_lock_interruptible(&q->read_lock);
		if (ret)
			return ret;
		/* An event is consumed only once it was copied. */
		while (copied + sizeof(ev) <= count &&
		       hyper_dmabuf_evq_peek(q, &ev)) {
			if (copy_to_user(buf + copied, &ev, sizeof(ev))) {
				fault = true;
				break;
			}
			hyper_dmabuf_evq_consume(q);
			copied += sizeof(ev);
		}
		mutex_unlock(&q->read_lock);
		if (copied)
			return copied;
		if (fault)
			return -EFAULT;
		if (nonblock)
			return -EAGAIN;
		ret = wait_event_interruptible(q->log->wait,
					       hyper_dmabuf_evq_ready(q));
		if (ret)
			return ret;
	}
}

static ssize_t hyper_dmabuf_read(struct file *filp, char __user *buf,
				 size_t count, loff_t *ppos)
{
	return hyper_dmabuf_file_read(filp->private_data, buf, count,
				      filp->f_flags & O_NONBLOCK);
}

static __poll_t hyper_dmabuf_poll(struct file *filp, poll_table *wait)
{
	struct hyper_dmabuf_file *file = filp->private_data;

	poll_wait(filp, &file->evq.log->wait, wait);
	return hyper_dmabuf_evq_ready(&file->evq) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations hyper_dmabuf_fops = {
	.owner = THIS_MODULE,
	.open = hyper_dmabuf_open,
	.release = hyper_dmabuf_release,
	.read = hyper_dmabuf_read,
	.poll = hyper_dmabuf_poll,
	.unlocked_ioctl = hyper_dmabuf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice hyper_dmabuf_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "hyper_dmabuf",
	.fops = &hyper_dmabuf_fops,
};

static int __init hyper_dmabuf_init(void)
{
	int ret;

	ret = hyper_dmabuf_core_init(&hyper_dmabuf_dev_core);
	if (ret)
		return ret;
	ret = misc_register(&hyper_dmabuf_miscdev);
	if (ret)
		goto err_fini_core;
	hyper_dmabuf_core_debugfs(&hyper_dmabuf_dev_core, "hyper_dmabuf");
	hyper_dmabuf_core_set_main(&hyper_dmabuf_dev_core);
	return 0;

err_fini_core:
	hyper_dmabuf_core_fini(&hyper_dmabuf_dev_core);
	return ret;
}

static void __exit hyper_dmabuf_exit(void)
{
	hyper_dmabuf_core_set_main(NULL);
	misc_deregister(&hyper_dmabuf_miscdev);
	hyper_dmabuf_core_fini(&hyper_dmabuf_dev_core);
}

module_init(hyper_dmabuf_init);
module_exit(hyper_dmabuf_exit);

MODULE_DESCRIPTION("Share dma-bufs between virtual machine domains");
MODULE_LICENSE("GPL");
