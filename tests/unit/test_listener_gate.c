/*
 * test_listener_gate.c: a gated listening socket (api/listener_gate.c) takes no new
 * handshake but still hands out the connections already in its accept queue, unharmed,
 * lets a handshake under way finish into a working connection, and once shut down refuses
 * a gated client's retried SYN.
 *
 * Everything runs on loopback sockets of this process. The waits are bounds on events
 * that either happen in microseconds (an ungated connect) or never (a gated one).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/filter.h>

#include "api/listener_gate.h"

static int listen_loopback(struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = 0};
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* A non-blocking connect; the handshake goes on in the kernel. */
static int start_connect(const struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    int rc = connect(fd, (const struct sockaddr *)addr, sizeof *addr);
    assert_true(rc == 0 || errno == EINPROGRESS);
    return fd;
}

/* Waits up to timeout_ms for the connect to end; its result (0 or an errno), or -1 if
 * it is still under way. */
static int connect_outcome(int fd, int timeout_ms) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n = poll(&p, 1, timeout_ms);
    assert_true(n >= 0);
    if (n == 0) {
        return -1;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len), 0);
    return soerr;
}

/* A client-side filter that keeps (1) or drops (0) every segment the client receives. */
static void client_receives(int fd, int keep) {
    struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, keep ? UINT32_MAX : 0)};
    struct sock_fprog prog = {.len = 1, .filter = code};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog), 0);
}

/* Blocking, with a receive timeout: a segment the filter dropped fails the test, it
 * does not hang it. */
static void set_blocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl & ~O_NONBLOCK), 0);
    struct timeval limit = {.tv_sec = 10};
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit), 0);
}

static void test_queued_connection_survives_the_gate(void **state) {
    (void)state;
    struct sockaddr_in addr;
    int listener = listen_loopback(&addr);
    int queued = start_connect(&addr);
    assert_int_equal(connect_outcome(queued, 5000), 0); /* handshake done, not accepted */
    assert_int_equal(send(queued, "GET", 3, 0), 3);

    assert_int_equal(listener_gate_queued(listener), 1);
    assert_int_equal(listener_gate_shut(listener), 0);

    int accepted = accept(listener, NULL, NULL);
    assert_true(accepted >= 0);
    assert_int_equal(listener_gate_queued(listener), 0);
    set_blocking(accepted);
    char buf[8] = {0};
    assert_int_equal(recv(accepted, buf, sizeof buf, 0), 3);
    assert_memory_equal(buf, "GET", 3);
    assert_int_equal(send(accepted, "200", 3, 0), 3);
    set_blocking(queued);
    assert_int_equal(recv(queued, buf, sizeof buf, 0), 3);
    assert_memory_equal(buf, "200", 3);
    close(accepted);
    close(queued);
    close(listener);
}

static void test_new_handshake_waits_then_is_refused_after_shutdown(void **state) {
    (void)state;
    struct sockaddr_in addr;
    int listener = listen_loopback(&addr);
    assert_int_equal(listener_gate_shut(listener), 0);

    int late = start_connect(&addr);
    /* Ungated, loopback completes this in microseconds; gated, never. */
    assert_int_equal(connect_outcome(late, 300), -1);
    int fl = fcntl(listener, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(listener, F_SETFL, fl | O_NONBLOCK), 0);
    assert_int_equal(listener_gate_queued(listener), 0);
    int got = accept(listener, NULL, NULL);
    int accept_errno = errno;
    assert_int_equal(got, -1); /* nothing reached the queue */
    assert_true(accept_errno == EAGAIN || accept_errno == EWOULDBLOCK);

    /* As http_server_stop does: shut down now, closed later. The client's SYN retry (1 s,
     * then 3 s) meets no listener: refused, not reset after a request was sent. */
    assert_int_equal(shutdown(listener, SHUT_RDWR), 0);
    assert_int_equal(connect_outcome(late, 10000), ECONNREFUSED);
    close(late);
    close(listener);
}

/* A handshake under way at the gate (the listener sent its SYN-ACK, the client has not
 * answered) completes after it; the connection it makes inherits the gate's filter and
 * carries data both ways: the filter drops new handshakes only, nothing of a connection. */
static void test_handshake_under_way_completes_and_carries_data(void **state) {
    (void)state;
    struct sockaddr_in addr;
    int listener = listen_loopback(&addr);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(client >= 0);
    client_receives(client, 0); /* the SYN-ACK is lost on the client's side */
    int rc = connect(client, (const struct sockaddr *)&addr, sizeof addr);
    assert_true(rc == 0 || errno == EINPROGRESS);
    assert_int_equal(connect_outcome(client, 100), -1);

    assert_int_equal(listener_gate_shut(listener), 0);
    client_receives(client, 1); /* the listener's SYN-ACK retransmission (1 s) gets through */
    assert_int_equal(connect_outcome(client, 10000), 0);
    set_blocking(client);
    assert_int_equal(send(client, "POST", 4, 0), 4);

    struct pollfd ready = {.fd = listener, .events = POLLIN};
    assert_int_equal(poll(&ready, 1, 10000), 1); /* the handshake reached the queue */
    int accepted = accept(listener, NULL, NULL);
    assert_true(accepted >= 0);
    set_blocking(accepted);
    char buf[8] = {0};
    assert_int_equal(recv(accepted, buf, 4, MSG_WAITALL), 4);
    assert_memory_equal(buf, "POST", 4);
    assert_int_equal(send(client, "MORE", 4, 0), 4);
    assert_int_equal(recv(accepted, buf, 4, MSG_WAITALL), 4);
    assert_memory_equal(buf, "MORE", 4);
    assert_int_equal(send(accepted, "201", 3, 0), 3);
    assert_int_equal(recv(client, buf, 3, MSG_WAITALL), 3);
    assert_memory_equal(buf, "201", 3);
    close(accepted);
    close(client);
    close(listener);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queued_connection_survives_the_gate),
        cmocka_unit_test(test_new_handshake_waits_then_is_refused_after_shutdown),
        cmocka_unit_test(test_handshake_under_way_completes_and_carries_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
