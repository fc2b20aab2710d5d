/*
 * sse_tickets.h: single-use tickets that open the event stream from a browser page
 * (POST /api/v1/events/tickets, GET /api/v1/events?ticket=; docs/decisions.md,
 * "Event-stream tickets"). EventSource cannot send an Authorization header, and an access
 * token must never travel in a URL (logs, history, Referer): a ticket is what does.
 *
 * Owns: issuing a ticket for a signed-in session and redeeming it once. Rules: a ticket
 * has the form of a mail token (32 random bytes, base64url; shared/mail_token.h); only its
 * SHA-256 is stored, in Redis (sse:ticket:<hash>), for SSE_TICKET_TTL_S, with the session
 * it stands for (user, session id, token epoch, the access token's expiry and role), so it
 * opens nothing that access token could not, and nothing after it expires. A redeem is one
 * GETDEL: of two uses exactly one finds it. The redeemer checks the session again (a
 * sign-out after the ticket was issued refuses it). The ticket itself is never stored or
 * logged.
 */
#ifndef TASKBUS_API_SSE_TICKETS_H
#define TASKBUS_API_SSE_TICKETS_H

#include "api/http_context.h"
#include "shared/mail_token.h"

#define SSE_TICKET_TTL_S 30

typedef struct sse_ticket_grant {
    char user_id[UUID_STR_LEN];
    char session_id[UUID_STR_LEN];
    long long epoch;        /* the access token's token epoch */
    long long expires_unix; /* the access token's exp */
    char role[16];
} sse_ticket_grant;

typedef enum {
    SSE_TICKET_VALID = 0,
    SSE_TICKET_INVALID,     /* unknown, used, expired or malformed */
    SSE_TICKET_UNAVAILABLE, /* Redis could not say */
} sse_ticket_verdict;

/* A new ticket for g in ticket (the caller wipes it once answered): 0, or -1 when Redis
 * could not store it (logged). */
int sse_ticket_issue(const api_app *app, const sse_ticket_grant *g, char ticket[MAIL_TOKEN_BUF]);

/* Redeems ticket: VALID with *out filled (the ticket is gone from then on). */
sse_ticket_verdict sse_ticket_redeem(const api_app *app, const char *ticket, sse_ticket_grant *out);

#endif
