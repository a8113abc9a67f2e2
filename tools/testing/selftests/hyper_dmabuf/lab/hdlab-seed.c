// SPDX-License-Identifier: GPL-2.0
/*
 * Credit a random seed to the kernel's entropy pool, as a boot loader or
 * systemd's random-seed would. Lab domains have no entropy source: without
 * this, the first reader of /dev/urandom or getrandom() runs the kernel's
 * jitter-entropy loop, which takes tens of seconds under QEMU's emulation.
 *
 * Usage: hdlab-seed HEX (at least 32 bytes of random data, in hex)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/random.h>

#define SEED_MAX	64

int main(int argc, char **argv)
{
	struct {
		struct rand_pool_info info;
		unsigned char buf[SEED_MAX];
	} seed;
	size_t i, n;
	int fd;

	if (argc != 2 || strlen(argv[1]) < 64 || strlen(argv[1]) % 2) {
		fprintf(stderr, "usage: hdlab-seed HEX (64 to %d hex digits)\n", 2 * SEED_MAX);
		return 2;
	}
	n = strlen(argv[1]) / 2;
	if (n > SEED_MAX)
		n = SEED_MAX;
	for (i = 0; i < n; i++) {
		char byte[3] = { argv[1][2 * i], argv[1][2 * i + 1], 0 };

		seed.buf[i] = (unsigned char)strtoul(byte, NULL, 16);
	}
	seed.info.entropy_count = (int)(8 * n);
	seed.info.buf_size = (int)n;
	fd = open("/dev/urandom", O_WRONLY);
	if (fd < 0 || ioctl(fd, RNDADDENTROPY, &seed)) {
		perror("hdlab-seed: RNDADDENTROPY");
		return 1;
	}
	close(fd);
	return 0;
}
