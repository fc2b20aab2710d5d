/*
 * prefer.h: the Prefer request header (RFC 7240) as the task write routes read it:
 * `Prefer: wait=N`, how long a write may wait for its command's outcome.
 *
 * Owns: parsing the header value. Rules: pure function over header text, no I/O. Only the
 * first "wait" preference counts (RFC 7240 §2), even a malformed one; other preferences
 * are ignored; the name is case-insensitive, "=" may have whitespace around it, the value
 * may be quoted, parameters after ";" are ignored. The wait itself is command_wait.c.
 */
#ifndef TASKBUS_API_PREFER_H
#define TASKBUS_API_PREFER_H

/* Prefer: wait=N is capped here (docs/decisions.md, "API answers"). */
#define PREFER_WAIT_MAX_S 30

/* The seconds of a Prefer: wait=N preference in header (may be NULL): N capped at
 * PREFER_WAIT_MAX_S, or 0 when there is none, it is 0, or it is not a number. */
int prefer_wait(const char *header);

#endif
