# redis_cluster.sh: a local Redis Cluster (start, stop, kill, status of its nodes).
#
# Owns: DIR/node-<port>/ of every node (redis.conf, nodes.conf, append-only file,
# redis.pid, redis.log). Node i of a cluster listens on BASE+i and speaks the cluster bus
# on BASE+100+i (set with cluster-port: the default +10000 would collide with other port
# sets on this box).
# Rules: loopback only, AOF on (like compose/lib/redis.sh: a restarted node comes back
# with its data), daemonised by Redis with its own pid file; the config is rewritten at
# every start, nodes.conf never (it is the node's identity in the cluster). The cluster is
# created (`redis-cli --cluster create`) only when no node knows a cluster yet, so a
# second start is a restart. Every wait has a deadline. Needs common.sh (tb_say, tb_die,
# tb_pid_running, tb_pid_matches, tb_wait_exit, tb_port_open, tb_tail_log).

# Seconds a master may be unreachable before its replica takes over (cluster-node-timeout
# is in ms). Short, so a failover test does not wait long; long enough that a busy
# 2-core box does not fail over by accident.
TB_REDIS_CLUSTER_NODE_TIMEOUT_MS=${TB_REDIS_CLUSTER_NODE_TIMEOUT_MS:-3000}

tb_redis_cluster_node_dir() {
    printf '%s/node-%s\n' "$1" "$2"
}

# Prints the pid of the node on PORT under DIR, or fails (a stale pid file is removed).
tb_redis_cluster_node_pid() {
    local dir node pid
    dir=$1
    node=$(tb_redis_cluster_node_dir "$1" "$2")
    [ -r "$node/redis.pid" ] || return 1
    pid=$(head -n1 "$node/redis.pid" 2>/dev/null)
    if [[ $pid =~ ^[0-9]+$ ]] && tb_pid_running "$pid" && tb_pid_matches "$pid" "redis-server"; then
        printf '%s\n' "$pid"
        return 0
    fi
    rm -f "$node/redis.pid"
    return 1
}

tb_redis_cluster_node_write_conf() {
    local node=$1 port=$2 bus=$3
    mkdir -p "$node"
    cat >"$node/redis.conf" <<EOF
# Written by compose/lib/redis_cluster.sh at every start; edits are lost.
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $node/redis.pid
logfile $node/redis.log
dir $node
cluster-enabled yes
cluster-config-file nodes.conf
cluster-port $bus
cluster-node-timeout $TB_REDIS_CLUSTER_NODE_TIMEOUT_MS
cluster-announce-ip 127.0.0.1
# A slot whose master is down makes only that slot fail; the rest of the cluster serves.
cluster-require-full-coverage no
# A replica fails over whatever the age of its last contact with the master: on one box a
# master killed right after a restart must still be replaced (the writer's WAIT, not the
# replica's age, is what keeps a landing from being lost).
cluster-replica-validity-factor 0
cluster-allow-reads-when-down no
appendonly yes
appendfsync everysec
save 3600 1 300 100 60 10000
EOF
}

# Waits up to $2 seconds for PING on 127.0.0.1:$1.
tb_redis_cluster_wait_ping() {
    local port=$1 timeout=$2 i
    for i in $(seq 1 $((timeout * 10))); do
        if redis-cli -p "$port" ping 2>/dev/null | grep -q PONG; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# tb_redis_cluster_node_start DIR PORT: starts one node (bus port PORT+100) and waits for
# PING. Idempotent. Does not wait for the cluster state (a restarted node needs its peers).
tb_redis_cluster_node_start() {
    local dir=$1 port=$2 node pid i
    node=$(tb_redis_cluster_node_dir "$dir" "$port")
    if pid=$(tb_redis_cluster_node_pid "$dir" "$port"); then
        tb_redis_cluster_wait_ping "$port" 10 ||
            tb_die "Redis node (pid $pid) runs but does not answer on port $port"
        return 0
    fi
    for i in $(seq 1 50); do
        tb_port_open "$port" || break
        sleep 0.1
    done
    tb_port_open "$port" && tb_die "port $port is taken by another program (Redis Cluster node)"
    tb_redis_cluster_node_write_conf "$node" "$port" $((port + 100))
    tb_say "redis-cluster: starting node on 127.0.0.1:$port (bus $((port + 100)))"
    # 9>&-: the lock of compose/local must not live on in the services it starts.
    redis-server "$node/redis.conf" 9>&- || {
        tb_tail_log "$node/redis.log" 20
        tb_die "redis-server did not start (see $node/redis.log)"
    }
    tb_redis_cluster_wait_ping "$port" 10 || {
        tb_tail_log "$node/redis.log" 20
        tb_die "Redis node on port $port did not answer PING within 10 s (see $node/redis.log)"
    }
}

# tb_redis_cluster_node_stop DIR PORT: SHUTDOWN (AOF fsynced), SIGKILL after 30 s.
tb_redis_cluster_node_stop() {
    local dir=$1 port=$2 pid
    pid=$(tb_redis_cluster_node_pid "$dir" "$port") || return 0
    tb_say "redis-cluster: stopping node $port (pid $pid)"
    redis-cli -p "$port" shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
    if ! tb_wait_exit "$pid" 30; then
        tb_warn "Redis node $port (pid $pid) did not stop within 30 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        tb_wait_exit "$pid" 10 || tb_die "Redis node $port (pid $pid) survived SIGKILL"
    fi
    rm -f "$(tb_redis_cluster_node_dir "$dir" "$port")/redis.pid"
}

# tb_redis_cluster_node_kill DIR PORT: SIGKILL (a crash), waits for the process to go.
tb_redis_cluster_node_kill() {
    local dir=$1 port=$2 pid
    pid=$(tb_redis_cluster_node_pid "$dir" "$port") || return 0
    tb_say "redis-cluster: killing node $port (pid $pid)"
    kill -KILL "$pid" 2>/dev/null || true
    tb_wait_exit "$pid" 10 || tb_die "Redis node $port (pid $pid) survived SIGKILL"
    rm -f "$(tb_redis_cluster_node_dir "$dir" "$port")/redis.pid"
}

# True when the node on PORT reports cluster_state:ok.
tb_redis_cluster_node_ok() {
    redis-cli -p "$1" cluster info 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok'
}

# The number of nodes the node on PORT knows (1: it is alone, no cluster yet).
tb_redis_cluster_known_nodes() {
    redis-cli -p "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p'
}

# tb_redis_cluster_wait_ok BASE_PORT COUNT TIMEOUT_S: every node answers cluster_state:ok
# and knows all COUNT nodes, no slot is unassigned (cluster_slots_ok:16384), and every
# replica's link to its master is up (so a failover right after the start finds it synced).
tb_redis_cluster_wait_ok() {
    local base=$1 count=$2 timeout=$3 deadline i port all info
    deadline=$((SECONDS + timeout))
    while :; do
        all=1
        for i in $(seq 0 $((count - 1))); do
            port=$((base + i))
            info=$(redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r')
            if ! grep -qx 'cluster_state:ok' <<<"$info" ||
                ! grep -qx "cluster_known_nodes:$count" <<<"$info" ||
                ! grep -qx 'cluster_slots_ok:16384' <<<"$info"; then
                all=0
                break
            fi
            if redis-cli -p "$port" role 2>/dev/null | head -n1 | grep -qx slave &&
                ! redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r' |
                grep -qx 'master_link_status:up'; then
                all=0
                break
            fi
        done
        [ "$all" = 1 ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.2
    done
}

# tb_redis_cluster_start DIR BASE_PORT MASTERS REPLICAS_PER_MASTER: starts every node
# (BASE+0 .. BASE+MASTERS*(1+REPLICAS)-1), creates the cluster the first time, and waits
# up to 60 s for cluster_state:ok on every node. Idempotent.
tb_redis_cluster_start() {
    local dir=$1 base=$2 masters=$3 replicas=$4 count i port known hosts=()
    [[ $masters =~ ^[0-9]+$ ]] && [ "$masters" -ge 3 ] ||
        tb_die "a Redis Cluster needs at least 3 masters (got '$masters')"
    [[ $replicas =~ ^[0-9]+$ ]] || tb_die "replicas per master must be a number (got '$replicas')"
    count=$((masters * (1 + replicas)))
    mkdir -p "$dir"
    for i in $(seq 0 $((count - 1))); do
        tb_redis_cluster_node_start "$dir" $((base + i))
    done
    # A node that was never part of a cluster knows only itself. If any node knows more,
    # the cluster exists (nodes.conf survived): this start is a restart.
    known=1
    for i in $(seq 0 $((count - 1))); do
        port=$((base + i))
        hosts+=("127.0.0.1:$port")
        [ "$(tb_redis_cluster_known_nodes "$port")" -gt 1 ] 2>/dev/null && known=0
    done
    if [ "$known" = 1 ]; then
        tb_say "redis-cluster: creating a cluster of $masters masters, $replicas replica(s) each"
        redis-cli --cluster create "${hosts[@]}" --cluster-replicas "$replicas" --cluster-yes \
            >"$dir/create.log" 2>&1 || {
            tb_tail_log "$dir/create.log" 30
            tb_die "redis-cli --cluster create failed (see $dir/create.log)"
        }
    fi
    tb_redis_cluster_wait_ok "$base" "$count" 60 || {
        redis-cli -p "$base" cluster nodes >&2 2>/dev/null || true
        tb_die "the Redis Cluster on $base.. did not reach cluster_state:ok on every node within 60 s"
    }
    tb_say "redis-cluster: $count nodes ok on 127.0.0.1:$base..$((base + count - 1))"
}

# tb_redis_cluster_stop DIR BASE_PORT COUNT: stops every node (missing ones are fine).
tb_redis_cluster_stop() {
    local dir=$1 base=$2 count=$3 i
    for i in $(seq 0 $((count - 1))); do
        tb_redis_cluster_node_stop "$dir" $((base + i))
    done
}

# tb_redis_cluster_status DIR BASE_PORT COUNT: one line per node: name, up/down, pid,
# port, role (master/replica) and cluster state as that node sees it.
tb_redis_cluster_status() {
    local dir=$1 base=$2 count=$3 i port pid role state
    for i in $(seq 0 $((count - 1))); do
        port=$((base + i))
        if pid=$(tb_redis_cluster_node_pid "$dir" "$port"); then
            role=$(redis-cli -p "$port" role 2>/dev/null | head -n1)
            state=$(redis-cli -p "$port" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p')
            printf '%-9s %-5s pid %-8s port %-6s %s (%s, cluster %s)\n' "redis-$((i + 1))" up "$pid" \
                "$port" "$(tb_redis_cluster_node_dir "$dir" "$port")" "${role:-?}" "${state:-?}"
        else
            printf '%-9s %-5s pid %-8s port %-6s %s\n' "redis-$((i + 1))" down - "$port" \
                "$(tb_redis_cluster_node_dir "$dir" "$port")"
        fi
    done
}
