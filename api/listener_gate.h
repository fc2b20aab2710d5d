/*
 * listener_gate.h: stops new TCP handshakes on a listening socket that is still accepting,
 * so it can later be shut with nothing in its accept queue (see listener_gate.c).
 */
#ifndef TASKBUS_API_LISTENER_GATE_H
#define TASKBUS_API_LISTENER_GATE_H

/* From now on fd answers no new client's SYN (the packet is dropped, so the client's
 * connect() times out or, once fd is shut, its next SYN is refused), while handshakes
 * already under way complete and land in the accept queue as before. Connections already
 * accepted are not touched. 0 on success, -1 with errno set. */
int listener_gate_shut(int listen_fd);

/* How many finished handshakes wait in listen_fd's accept queue; -1 with errno set. */
int listener_gate_queued(int listen_fd);

#endif
