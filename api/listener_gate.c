/*
 * listener_gate.c: the drain's way to empty a listening socket before it is shut.
 *
 * Shutting (or closing) a listening socket resets every connection in its accept queue:
 * the kernel finished those handshakes, so the client (nginx) has already sent its
 * request on them, and a reset POST is one a proxy must not retry (issue 13: the rolling
 * restart's two 503s). So the drain first gates the socket and keeps accepting: a socket
 * filter drops every segment that is a SYN without ACK, i.e. every new handshake, while
 * the segments of handshakes already under way (their ACK) and of accepted connections
 * pass. After a round trip the queue can only shrink, and the socket is shut once it is
 * empty.
 *
 * Rules: the filter is a classic BPF socket filter, which runs on the TCP header for a
 * TCP socket (byte 13 is the flags), and needs no privilege. A dropped SYN is not a
 * refusal: the client retries it, and after the socket is shut its retry is refused, so
 * a proxy's connect fails (timeout or refusal) before it sends anything, which is the
 * failure it may retry on another instance, POST included. Connections accepted after
 * the gate inherit the filter; past the handshake every segment carries ACK, so it
 * changes nothing for them (tests/unit/test_listener_gate.c sends both ways on one).
 * The queue's length is TCP_INFO's tcpi_unacked, which Linux reports as the accept
 * backlog for a listening socket (finished handshakes only).
 */
#include "api/listener_gate.h"

#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <sys/socket.h>

/* TCP flags byte: offset 13 of the TCP header; SYN 0x02, ACK 0x10. */
#define TCP_FLAGS_OFFSET 13
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

int listener_gate_shut(int listen_fd) {
    struct sock_filter code[] = {
        /* A = flags & (SYN|ACK); a new handshake is SYN alone */
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, TCP_FLAGS_OFFSET),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, TCP_FLAG_SYN | TCP_FLAG_ACK),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TCP_FLAG_SYN, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),          /* drop */
        BPF_STMT(BPF_RET | BPF_K, UINT32_MAX), /* keep the whole segment */
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof code / sizeof code[0]),
                              .filter = code};
    return setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog);
}

int listener_gate_queued(int listen_fd) {
    struct tcp_info info;
    socklen_t len = sizeof info;
    if (getsockopt(listen_fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
        return -1;
    }
    return (int)info.tcpi_unacked;
}
