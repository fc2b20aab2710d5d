/*
 * sse_tickets.c: single-use event-stream tickets (see sse_tickets.h).
 */
#include "api/sse_tickets.h"

#include <stdio.h>
#include <string.h>

#include "shared/log.h"
#include "shared/redis_keys.h"
#include "shared/stringify.h"
#include "shared/uuid7.h"

int sse_ticket_issue(const api_app *app, const sse_ticket_grant *g, char ticket[MAIL_TOKEN_BUF]) {
    char hash[MAIL_TOKEN_HASH_HEX_BUF], key[REDIS_KEY_MAX], value[160];
    mail_token_new(ticket, hash);
    redis_key_sse_ticket(key, hash);
    int n = snprintf(value, sizeof value, "%s %s %lld %lld %s", g->user_id, g->session_id, g->epoch,
                     g->expires_unix, g->role);
    if (n <= 0 || (size_t)n >= sizeof value || key[0] == '\0') {
        LOG_ERRORF("sse tickets: a grant does not fit");
        return -1;
    }
    redisReply *r = redis_pool_command(
        app->redis, "SET %s %s EX " STRINGIFY(SSE_TICKET_TTL_S) " NX", key, value);
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (!ok)
        LOG_WARNF("sse tickets: cannot store a ticket: %s",
                  r == NULL ? "redis unavailable" : (r->str != NULL ? r->str : "no answer"));
    if (r != NULL)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Parses "<uid> <sid> <epoch> <exp> <role>": true when it is one. */
static bool parse_grant(const char *text, sse_ticket_grant *out) {
    char uid[64], sid[64], role[32], rest;
    long long epoch = 0, exp = 0;
    if (sscanf(text, "%63s %63s %lld %lld %31s %c", uid, sid, &epoch, &exp, role, &rest) != 5 ||
        !uuid_is_valid(uid) || !uuid_is_valid(sid) || strlen(role) >= sizeof out->role)
        return false;
    memcpy(out->user_id, uid, UUID_STR_LEN);
    memcpy(out->session_id, sid, UUID_STR_LEN);
    snprintf(out->role, sizeof out->role, "%s", role);
    out->epoch = epoch;
    out->expires_unix = exp;
    return true;
}

sse_ticket_verdict sse_ticket_redeem(const api_app *app, const char *ticket,
                                     sse_ticket_grant *out) {
    if (!mail_token_well_formed(ticket))
        return SSE_TICKET_INVALID;
    char hash[MAIL_TOKEN_HASH_HEX_BUF], key[REDIS_KEY_MAX];
    mail_token_hash(ticket, hash);
    redis_key_sse_ticket(key, hash);
    redisReply *r = redis_pool_command(app->redis, "GETDEL %s", key);
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        LOG_WARNF("sse tickets: cannot redeem a ticket: %s",
                  r == NULL ? "redis unavailable" : r->str);
        if (r != NULL)
            freeReplyObject(r);
        return SSE_TICKET_UNAVAILABLE;
    }
    sse_ticket_verdict v = r->type == REDIS_REPLY_STRING && parse_grant(r->str, out)
                               ? SSE_TICKET_VALID
                               : SSE_TICKET_INVALID;
    freeReplyObject(r);
    return v;
}
