// SPDX-License-Identifier: MIT
/*
 * Small dom0 helpers for the Xen lab's xl scenarios (dom0 has no python,
 * tcpdump or moreutils):
 *
 *   lab-tools flip OFFSET       copy stdin to stdout, the byte at OFFSET
 *                               inverted (a corrupted migration stream)
 *   lab-tools stamp             copy stdin to stdout line by line, each line
 *                               prefixed "[SECONDS.MICROS] " (wall clock, as
 *                               ping -D): xl's log with the time of each line
 *   lab-tools arpwatch IFACE MAC
 *                               print every ARP packet sent by MAC that IFACE
 *                               sees, timestamped, with "garp" when it is
 *                               gratuitous (sender IP = target IP), until
 *                               killed
 *   lab-tools hold PORT TARGET [ACCEPT|READY|DONE|BYTES]
 *                               accept one TCP connection on 127.0.0.1:PORT,
 *                               connect it to 127.0.0.1:TARGET and pass what
 *                               the client sends; of the xmig records that
 *                               come back, those before the one named
 *                               (default READY) are passed, it and what
 *                               follows held (the sender never hears it),
 *                               announced on stdout ("held READY"); with a
 *                               number BYTES, nothing is held and "passed N
 *                               bytes" announces that BYTES went from sender
 *                               to receiver (a socket's traffic is not in
 *                               /proc/PID/io); when either side ends, both
 *                               end
 *
 * Exit: 0 done, 1 an I/O error, 2 bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flip(const char *arg)
{
	static unsigned char buf[1 << 16];
	unsigned long long off, pos = 0;
	char *end;
	int flipped = 0;

	errno = 0;
	off = strtoull(arg, &end, 0);
	if (errno || *end || end == arg) {
		fprintf(stderr, "lab-tools flip: '%s' is not an offset\n", arg);
		return 2;
	}
	for (;;) {
		ssize_t r = read(0, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("lab-tools flip: read");
			return 1;
		}
		if (r == 0)
			break;
		if (!flipped && off >= pos && off < pos + (unsigned long long)r) {
			buf[off - pos] ^= 0xff;
			flipped = 1;
			fprintf(stderr, "lab-tools flip: byte at offset %llu inverted\n", off);
		}
		pos += (unsigned long long)r;
		if (write_all(1, buf, (size_t)r) < 0) {
			/* the reader went away: the receiver failed, as it should */
			fprintf(stderr, "lab-tools flip: write after %llu bytes: %s\n", pos,
				strerror(errno));
			return 1;
		}
	}
	if (!flipped)
		fprintf(stderr, "lab-tools flip: the stream ended at %llu, before offset %llu\n",
			pos, off);
	return 0;
}

static int stamp(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((n = getline(&line, &cap, stdin)) >= 0)
		printf("[%.6f] %s%s", wall_now(), line,
		       n > 0 && line[n - 1] == '\n' ? "" : "\n");
	free(line);
	return 0;
}

static int parse_mac(const char *s, unsigned char mac[6])
{
	unsigned v[6];
	char c;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &c) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 0xff)
			return -1;
		mac[i] = (unsigned char)v[i];
	}
	return 0;
}

/* An Ethernet ARP packet for IPv4 over Ethernet, as it is on the wire. */
struct arp_eth {
	unsigned char dst[6], src[6];
	uint16_t type;
	uint16_t htype, ptype;
	unsigned char hlen, plen;
	uint16_t op;
	unsigned char sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

static int arpwatch(const char *ifname, const char *macs)
{
	unsigned char mac[6];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP) };
	struct arp_eth a;
	char sip[INET_ADDRSTRLEN], tip[INET_ADDRSTRLEN];
	int fd;

	if (parse_mac(macs, mac) < 0) {
		fprintf(stderr, "lab-tools arpwatch: '%s' is not a MAC address\n", macs);
		return 2;
	}
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "lab-tools arpwatch: no interface '%s'\n", ifname);
		return 2;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ARP));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("lab-tools arpwatch: packet socket");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		ssize_t r = recv(fd, &a, sizeof(a), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			perror("lab-tools arpwatch: recv");
			return 1;
		}
		if ((size_t)r < sizeof(a) || a.type != htons(ETH_P_ARP) ||
		    a.ptype != htons(ETH_P_IP) || a.hlen != 6 || a.plen != 4 ||
		    memcmp(a.src, mac, 6) != 0)
			continue;
		inet_ntop(AF_INET, a.spa, sip, sizeof(sip));
		inet_ntop(AF_INET, a.tpa, tip, sizeof(tip));
		printf("[%.6f] arp %s sip=%s tip=%s%s\n", wall_now(),
		       ntohs(a.op) == 1 ? "request" : ntohs(a.op) == 2 ? "reply" : "other", sip, tip,
		       memcmp(a.spa, a.tpa, 4) == 0 ? " garp" : "");
	}
}

static int tcp_local(int port, int listen_it)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (listen_it ? bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0
		      : connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The records hold can stop at (lib/stream/stream.h's numbers). */
static const struct {
	const char *name;
	uint32_t type;
} hold_at[] = { { "ACCEPT", 16 }, { "READY", 17 }, { "DONE", 19 } };

static int hold(const char *port_s, const char *target_s, const char *mark_s)
{
	unsigned long long mark = 0;
	const char *at = "READY";
	uint32_t at_type = 17;
	char *end;

	static unsigned char buf[1 << 16], back[1 << 16];
	size_t have = 0;
	unsigned long long held = 0, passed = 0;
	int lfd, c, t, holding = 0;

	if (mark_s && *mark_s >= '0' && *mark_s <= '9') {
		errno = 0;
		mark = strtoull(mark_s, &end, 10);
		if (*end || errno || !mark) {
			fprintf(stderr, "lab-tools hold: bad byte count '%s'\n", mark_s);
			return 2;
		}
	} else if (mark_s) {
		size_t i;

		for (i = 0; i < sizeof(hold_at) / sizeof(hold_at[0]); i++)
			if (!strcmp(mark_s, hold_at[i].name))
				break;
		if (i == sizeof(hold_at) / sizeof(hold_at[0])) {
			fprintf(stderr, "lab-tools hold: '%s' is none of ACCEPT, READY, DONE or "
				"a byte count\n", mark_s);
			return 2;
		}
		at = hold_at[i].name;
		at_type = hold_at[i].type;
	}
	lfd = tcp_local(atoi(port_s), 1);
	if (lfd < 0) {
		perror("lab-tools hold: listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	c = accept(lfd, NULL, NULL);
	close(lfd);
	t = c < 0 ? -1 : tcp_local(atoi(target_s), 0);
	if (c < 0 || t < 0) {
		perror("lab-tools hold: accept/connect");
		return 1;
	}
	for (;;) {
		struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = t, .events = POLLIN } };
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			n = read(c, buf, sizeof(buf));
			if (n <= 0 || write_all(t, buf, (size_t)n))
				break;
			if (mark && passed < mark && passed + (size_t)n >= mark) {
				printf("passed %llu bytes %.3f\n", passed + (size_t)n, wall_now());
				fflush(stdout);
			}
			passed += (size_t)n;
		}
		if (!p[1].revents)
			continue;
		n = read(t, back + have, sizeof(back) - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		/* whole records: u32 type, u32 length, u64 checksum, body, padding to 8 */
		while (have >= 16) {
			uint32_t type = back[0] | back[1] << 8 | back[2] << 16 | (uint32_t)back[3] << 24;
			uint32_t len = back[4] | back[5] << 8 | back[6] << 16 | (uint32_t)back[7] << 24;
			size_t whole = 16 + (((size_t)len + 7) & ~(size_t)7);

			if (whole > sizeof(back)) {
				fprintf(stderr, "lab-tools hold: a record of %u bytes back\n", len);
				goto out;
			}
			if (have < whole)
				break;
			if (type == at_type && !holding && !mark) {
				holding = 1;
				printf("held %s %.3f\n", at, wall_now());
				fflush(stdout);
			}
			if (holding)
				held += whole;
			else if (write_all(c, back, whole))
				goto out;
			memmove(back, back + whole, have - whole);
			have -= whole;
		}
	}
out:
	printf("ended, %llu bytes held\n", held);
	close(c);
	close(t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "flip"))
		return flip(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "stamp"))
		return stamp();
	if (argc == 4 && !strcmp(argv[1], "arpwatch"))
		return arpwatch(argv[2], argv[3]);
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "hold"))
		return hold(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	fprintf(stderr, "usage: lab-tools flip OFFSET | stamp | arpwatch IFACE MAC | hold PORT "
		"TARGET [ACCEPT|READY|DONE|BYTES]\n");
	return 2;
}
