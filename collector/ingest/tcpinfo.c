/*
 * tcpinfo.c: bytes a TCP socket has received, from the kernel's TCP_INFO.
 * Its own file: <linux/tcp.h> (which has tcpi_bytes_received) cannot be
 * included together with <netinet/tcp.h>, which uv.h pulls in.
 */
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>

/* Declared in ingest/guard.h, which cannot be included here (uv.h). */
uint64_t col_tcp_bytes_received(int fd);

uint64_t col_tcp_bytes_received(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return 0;
	return ti.tcpi_bytes_received;
}
