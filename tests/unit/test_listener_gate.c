/*
 * test_listener_gate.c: a gated listening socket (api/listener_gate.c) takes no new
 * handshake but still hands out the connections already in its accept queue, unharmed;
 * once closed, a gated client's retried SYN is refused.
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
#include <unistd.h>

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

static void test_queued_connection_survives_the_gate(void **state) {
    (void)state;
    struct sockaddr_in addr;
    int listener = listen_loopback(&addr);
    int queued = start_connect(&addr);
    assert_int_equal(connect_outcome(queued, 5000), 0); /* handshake done, not accepted */
    assert_int_equal(send(queued, "GET", 3, 0), 3);

    assert_int_equal(listener_gate_queued(listener), 1);
    assert_int_equal(listener_gate_close(listener), 0);

    int accepted = accept(listener, NULL, NULL);
    assert_true(accepted >= 0);
    assert_int_equal(listener_gate_queued(listener), 0);
    char buf[8] = {0};
    assert_int_equal(recv(accepted, buf, sizeof buf, 0), 3);
    assert_memory_equal(buf, "GET", 3);
    assert_int_equal(send(accepted, "200", 3, 0), 3);
    int fl = fcntl(queued, F_GETFL);
    assert_int_equal(fcntl(queued, F_SETFL, fl & ~O_NONBLOCK), 0);
    assert_int_equal(recv(queued, buf, sizeof buf, 0), 3);
    assert_memory_equal(buf, "200", 3);
    close(accepted);
    close(queued);
    close(listener);
}

static void test_new_handshake_waits_then_is_refused_after_close(void **state) {
    (void)state;
    struct sockaddr_in addr;
    int listener = listen_loopback(&addr);
    assert_int_equal(listener_gate_close(listener), 0);

    int late = start_connect(&addr);
    /* Ungated, loopback completes this in microseconds; gated, never. */
    assert_int_equal(connect_outcome(late, 300), -1);
    int fl = fcntl(listener, F_GETFL);
    assert_int_equal(fcntl(listener, F_SETFL, fl | O_NONBLOCK), 0);
    assert_int_equal(listener_gate_queued(listener), 0);
    assert_int_equal(accept(listener, NULL, NULL), -1); /* nothing reached the queue */
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);

    close(listener);
    /* The client's SYN retry (1 s, then 3 s) meets no listener: refused, not reset
     * after a request was sent. */
    assert_int_equal(connect_outcome(late, 10000), ECONNREFUSED);
    close(late);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queued_connection_survives_the_gate),
        cmocka_unit_test(test_new_handshake_waits_then_is_refused_after_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
