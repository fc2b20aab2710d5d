/*
 * redis_keys.h: every Redis key and channel name taskbus uses, in one place.
 *
 * Owns: the spelling of each key family, and its hash tag. Rules: no other file spells a
 * key (tests may: they check the contract); every key of one user carries the hash tag
 * {u:<user id>}, so the writer's and the API's multi-key scripts and MGETs stay in one
 * Redis Cluster slot; the near-cache registry shares the tag {nc}; a rate-limit bucket is
 * tagged by what it limits.
 * Tasks (written through by the writer, read by the API):
 *   {u:<uid>}:task:<tid>        the task JSON (with version), CACHE_TASK_TTL_S
 *   {u:<uid>}:gen               the user's list generation, INCR'd by the writer,
 *                               CACHE_USER_LOG_TTL_S after the user's last write
 *   {u:<uid>}:list:<gen>:<h>    a cached list page for query hash h under generation gen
 *   {u:<uid>}:cmd:<cid>         a command's status JSON ({"status":"pending"} from the API,
 *                               then applied/rejected from the writer), 24 h
 *   {u:<uid>}:events:log        a Redis stream (XADD MAXLEN ~ 1000) of the user's task
 *                               events; Last-Event-ID is the stream entry id;
 *                               CACHE_USER_LOG_TTL_S after the last event
 *   {u:<uid>}:events            the pub/sub channel the writer PUBLISHes each event on
 *                               ({"id": stream id, "event": CloudEvent}) for live SSE
 *   {u:<uid>}:lsn               the user's commit LSN: decimal pg_current_wal_lsn() - '0/0'
 *                               the writer read after the batch's COMMIT, set if greater
 *                               before anything says applied, CACHE_COMMIT_LSN_TTL_S; the
 *                               API reads the replica only once it has replayed this far
 * Sign-in state (api/auth_sessions.c, shared/user_epoch.h):
 *   {u:<uid>}:epoch             the user's token epoch, or the deleted-user tombstone
 *   {u:<uid>}:revoked:<sid>     present while session (refresh family) sid is revoked
 *   sse:ticket:<sha256 hex>     an event-stream ticket (api/sse_tickets.h), by the SHA-256
 *                               of the ticket: "<uid> <sid> <epoch> <exp> <role>",
 *                               SSE_TICKET_TTL_S, redeemed once (GETDEL)
 * Rate-limit buckets (api/rate_limiter.c; GCRA state, shared/gcra.h):
 *   rl:{ip:<addr>}:all          every request from a client address (local, reconciled)
 *   rl:{u:<uid>}:all            every authenticated request of a user (local, reconciled)
 *   rl:{ip:<addr>}:auth         sign-in attempts from a client address (Redis)
 *   rl:{acct:<sha256 hex>}:login  sign-in attempts for one account, by the SHA-256 of its
 *                               normalised e-mail (no address in Redis in clear) (Redis)
 * The near-cache registry (shared/near_cache_bus.h says how it is used):
 *   {nc}:seq, {nc}:leases, {nc}:acks, {nc}:born, and the channel {nc}:invalidations
 * out must hold REDIS_KEY_MAX bytes; the functions return out, which is "" when the name
 * would not fit (never a cut name, which could be another user's key).
 */
#ifndef TASKBUS_SHARED_REDIS_KEYS_H
#define TASKBUS_SHARED_REDIS_KEYS_H

#define REDIS_KEY_MAX 256
#define CACHE_TASK_TTL_S 3600
#define CACHE_LIST_TTL_S 300
#define CACHE_COMMAND_TTL_S 86400
#define CACHE_EVENTS_STREAM_MAXLEN 1000
#define CACHE_COMMIT_LSN_TTL_S 604800
/* The list generation and the event log outlive the user's last write by a week: far
 * longer than any list page (CACHE_LIST_TTL_S) or a client's reconnect, and a deleted
 * user's copy that a late write landed after the erasure goes by itself. */
#define CACHE_USER_LOG_TTL_S 604800

#define NEAR_CACHE_SEQ_KEY "{nc}:seq"
#define NEAR_CACHE_LEASES_KEY "{nc}:leases"
#define NEAR_CACHE_ACKS_KEY "{nc}:acks"
#define NEAR_CACHE_BORN_KEY "{nc}:born"
#define NEAR_CACHE_CHANNEL "{nc}:invalidations"

char *redis_key_task(char *out, const char *user_id, const char *task_id);
char *redis_key_generation(char *out, const char *user_id);
char *redis_key_list(char *out, const char *user_id, long long generation, const char *query_hash);
char *redis_key_command(char *out, const char *user_id, const char *command_id);
char *redis_key_events_log(char *out, const char *user_id);
char *redis_key_events_channel(char *out, const char *user_id);
char *redis_key_commit_lsn(char *out, const char *user_id);

/* "{u:<uid>}", the hash tag every key of the user carries (its own keys start with it, its
 * rate-limit bucket has it after "rl:"): erasing a user finds its keys by it. */
char *redis_key_user_tag(char *out, const char *user_id);
char *redis_key_epoch(char *out, const char *user_id);
char *redis_key_revoked(char *out, const char *user_id, const char *session_id);
char *redis_key_sse_ticket(char *out, const char *ticket_hash_hex);

char *redis_key_rate_ip(char *out, const char *client_ip);
char *redis_key_rate_user(char *out, const char *user_id);
char *redis_key_rate_ip_auth(char *out, const char *client_ip);
/* email: as normalised by the caller (NULL counts as ""); only its SHA-256 is in the key. */
char *redis_key_rate_login_account(char *out, const char *email);
/* The requests that mail an address (known or not: password resets, address changes),
 * same hashing. */
char *redis_key_rate_mail_address(char *out, const char *email);

#endif
