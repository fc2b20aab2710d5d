/*
 * redis_cluster.h: routing commands to the right Redis node (Redis Cluster), or to the one
 * Redis of a standalone deployment.
 *
 * Owns: the deployment's mode (found on first contact: CLUSTER SLOTS answered with an
 * error, "cluster support disabled", means standalone), the table of known nodes (the
 * URL's seeds, then every node CLUSTER SLOTS names), the slot map (16 384 hash slots ->
 * master node) and each node's connect back-off. A redis_conns is one user's contexts,
 * one per node, used by one thread at a time (a pool slot, the reconciler's thread).
 * Rules:
 * - Keys hash to slots by CRC16 (XMODEM) mod 16384 of the key, or of its {tag}: the part
 *   between the first '{' and the first '}' after it, when that part is not empty.
 * - A command is routed by its slot (-1: any node). MOVED updates the slot and refreshes
 *   the whole map (at most every REDIS_CLUSTER_REFRESH_MIN_MS); ASK sends ASKING and the
 *   command once to the named node, without touching the map; TRYAGAIN (a multi-key
 *   command in a slot being migrated) waits briefly and retries; at most
 *   REDIS_CLUSTER_MAX_REDIRECTS of these, then NULL. CLUSTERDOWN refreshes and retries
 *   once, then NULL.
 * - A node that cannot be reached (connect refused/timed out, connection lost) makes the
 *   map refresh from another known node: after a failover the promoted replica owns the
 *   slots and the command goes there. Until the cluster has failed over, commands for
 *   that node's slots get NULL (the callers degrade as for a Redis that is down).
 * - A failed connect marks that node down for REDIS_CLUSTER_DOWN_BACKOFF_MS: meanwhile its
 *   users get NULL at once instead of each waiting for a connect timeout.
 * - A context that saw an error is freed (hiredis cannot reuse it). A command that fails
 *   on a context that was connected before it (reused) with the connection closed or
 *   reset (EOF/IO) is sent once more on a new context (a restarted Redis closed it).
 * - Standalone: one node, no map, no redirects; the same round trips as a plain context.
 * - Thread safety: the map is an array of atomics (readers take no lock); the node table
 *   and the refresh are guarded by the cluster's mutex/flag; contexts are never shared.
 */
#ifndef TASKBUS_SHARED_REDIS_CLUSTER_H
#define TASKBUS_SHARED_REDIS_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shared/redis_url.h"

#define REDIS_CLUSTER_SLOTS 16384
#define REDIS_CLUSTER_MAX_NODES 64
#define REDIS_CLUSTER_MAX_REDIRECTS 5
#define REDIS_CLUSTER_DOWN_BACKOFF_MS 1000
#define REDIS_CLUSTER_REFRESH_MIN_MS 100

typedef enum redis_mode {
    REDIS_MODE_UNKNOWN = 0, /* no node answered yet */
    REDIS_MODE_STANDALONE,
    REDIS_MODE_CLUSTER,
} redis_mode;

/* The hash slot of a key (0..16383). */
int redis_cluster_key_slot(const char *key, size_t len);

/* The routing slot of a command given as arguments: the slot of its first key, or -1 when
 * it has none (PING, TIME, INFO, CLIENT, SCRIPT, CONFIG, CLUSTER, WAIT, ...; EVAL/EVALSHA
 * with 0 keys). The first key is argv[1], or argv[3] for EVAL/EVALSHA/FCALL. */
int redis_cluster_command_slot(int argc, const char *const *argv, const size_t *argvlen);

/* The same for a command already in RESP form (redisFormatCommand's output). -1 also when
 * the buffer is not a RESP array of bulk strings. */
int redis_cluster_formatted_slot(const char *buf, size_t len);

typedef struct redis_cluster redis_cluster;

/* Contexts of one user (one thread at a time). Zero-initialise; redis_conns_close frees. */
typedef struct redis_conns {
    redisContext *ctx[REDIS_CLUSTER_MAX_NODES];
    uint32_t gen[REDIS_CLUSTER_MAX_NODES]; /* the node entry's generation at connect */
    int connected;                         /* how many ctx are non-NULL */
} redis_conns;

void redis_conns_close(redis_conns *cs);

/* Parses nothing: url is copied (with its password; never logged). timeout_ms is the
 * connect and read/write timeout of every context. NULL only when out of memory. */
redis_cluster *redis_cluster_create(const redis_url *url, int timeout_ms, char *err, size_t errlen);
void redis_cluster_destroy(redis_cluster *c);

/* CLIENT SETNAME on every context connected from now on. Call before sharing c. */
void redis_cluster_set_client_name(redis_cluster *c, const char *name);

redis_mode redis_cluster_mode(const redis_cluster *c);

/* Finds the mode on first use (asks the seeds in order). 0, or -1 when no seed answered. */
int redis_cluster_ensure_mode(redis_cluster *c, redis_conns *cs);

/* A command in RESP form and how to route it. */
typedef struct redis_cmd {
    const char *buf;
    size_t len;
    int slot;                  /* -1: any node */
    const char *script_source; /* EVALSHA of this script: a NOSCRIPT reply loads it on that
                                  node and sends again, once; NULL otherwise */
} redis_cmd;

/* Runs cmd on the node that owns its slot, following the rules above. The reply (an error
 * reply other than a redirect is returned as is), or NULL when Redis (that node) is
 * unavailable. Caller freeReplyObject()s. */
redisReply *redis_cluster_run(redis_cluster *c, redis_conns *cs, const redis_cmd *cmd);

/* For pipelines (the rate-limit reconciler): the node index that owns slot now (the
 * standalone node in standalone mode), or -1 when none is known (finds the mode first). */
int redis_cluster_slot_node(redis_cluster *c, redis_conns *cs, int slot);
/* The context of node (connected when needed; *fresh tells a new one), or NULL when the
 * node is down or cannot be reached (err says why). */
redisContext *redis_cluster_node_ctx(redis_cluster *c, redis_conns *cs, int node, bool *fresh,
                                     char *err, size_t errlen);
/* Frees node's context after an error on it (and refreshes the map when in cluster mode). */
void redis_cluster_node_failed(redis_cluster *c, redis_conns *cs, int node);
/* Learns from an error reply received from node: MOVED updates the map (and refreshes),
 * CLUSTERDOWN refreshes. True when reply was such a redirect/cluster error. */
bool redis_cluster_note_error(redis_cluster *c, redis_conns *cs, int node, const redisReply *r);

/* host:port of the node that owns slot in the current map (standalone: the node). 0, or
 * -1 when unknown. */
int redis_cluster_slot_address(redis_cluster *c, int slot, char *host, size_t hostlen, int *port);

/* A new dedicated context to the node that owns slot (standalone: the first reachable
 * seed), found by asking the seeds CLUSTER SLOTS; host/port say where it went. For a
 * subscriber that must see PUBLISHes of that slot's master in order (near cache). */
redisContext *redis_cluster_connect_slot_owner(const redis_url *url, int slot, int timeout_ms,
                                               char *host, size_t hostlen, int *port, char *err,
                                               size_t errlen);

#endif
