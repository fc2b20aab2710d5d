# scale.sh: scale mode of the local stack (`compose/local up --scale`, TASKBUS_SCALE=1).
#
# Owns: what "scaled" means on one box: the instance names and counts (api-1..3,
# writer-1..3, relay-1..2, two of every consumer daemon), every port derived from the usual
# base variables (/work contract "Scale mode of the local stack"), the scaled URLs
# (KAFKA_BROKERS of three brokers, REDIS_URL listing the six cluster nodes as seeds,
# DATABASE_READ_URL on the streaming replica, TASKBUS_API_URL on nginx, TASKBUS_API2_URL on
# api-2), the default replication settings (TASKBUS_KAFKA_REPLICATION=3,
# TASKBUS_KAFKA_MIN_INSYNC_REPLICAS=2), and the names of service groups (`kafka` = the three
# brokers, `redis` = the six nodes, `api` = the three API instances...).
# Rules: the setting is saved in the data folder's env file with everything else, so every
# later command (down, status, start X) of that folder knows the stack is scaled; an `up`
# that asks for the other mode than the folder's saved one stops with a message (the two
# layouts keep Kafka and Redis in different folders). Nothing here starts a process: the
# service parts (kafka_cluster.sh, redis_cluster.sh, pg_replica.sh, nginx.sh, daemons.sh)
# do. TASKBUS_SCALE_REDIS=standalone keeps one plain Redis (compose/lib/redis.sh) in scale
# mode, for debugging or for code without Redis Cluster support.

# How many instances of each daemon kind a scaled stack runs (api2 is not one: api-2 is).
tb_scale_count() {
    case $1 in
    api | writer) printf '3\n' ;;
    api2) printf '0\n' ;;
    *) printf '2\n' ;;
    esac
}

tb_scaled() { [ "${TASKBUS_SCALE:-0}" = 1 ]; }

# Redis in scale mode is the 6-node cluster unless TASKBUS_SCALE_REDIS=standalone.
tb_scale_redis_cluster() { tb_scaled && [ "${TASKBUS_SCALE_REDIS:-cluster}" != standalone ]; }

TB_SCALE_KAFKA_NODES=3
TB_SCALE_REDIS_NODES=6
TB_SCALE_REDIS_MASTERS=3
# Instance n of a daemon kind listens for /health, /ready, /metrics on its kind's port +
# TB_SCALE_METRICS_STRIDE * (n - 1): offsets are 1..9, so strides of 20 never meet, and the
# highest (activity-2, writer-3) stays below base + 50.
TB_SCALE_METRICS_STRIDE=20

# Ports (contract): broker i (1..3) on KAFKA_PORT + 10*(i-1), its controller on
# KAFKA_CONTROLLER_PORT + 10*(i-1); Redis node i (1..6) on REDIS_PORT + i - 1, its cluster
# bus on REDIS_PORT + 100 + i - 1; the replica on PG_PORT + 1; api-n on HTTP_PORT + 10 + n.
tb_scale_kafka_port() { printf '%s\n' $((TASKBUS_KAFKA_PORT + 10 * ($1 - 1))); }
tb_scale_kafka_controller_port() { printf '%s\n' $((TASKBUS_KAFKA_CONTROLLER_PORT + 10 * ($1 - 1))); }
tb_scale_redis_port() { printf '%s\n' $((TASKBUS_REDIS_PORT + $1 - 1)); }
tb_scale_replica_port() { printf '%s\n' $((TASKBUS_PG_PORT + 1)); }
tb_scale_api_port() { printf '%s\n' $((TASKBUS_HTTP_PORT + 10 + $1)); }

# Called at the end of tb_resolve_settings: the scaled URLs and defaults.
tb_scale_resolve() {
    local mode=$1 saved= i seeds= brokers= top
    if [ "$mode" = up ] && [ -r "$TB_ENV_FILE" ]; then
        saved=$(sed -n 's/^export TASKBUS_SCALE=//p' "$TB_ENV_FILE")
        if [ "${saved:-0}" != "${TASKBUS_SCALE:-0}" ] && [ -e "$TB_DATA/kafka-1" -o -e "$TB_DATA/kafka" ]; then
            if [ "${saved:-0}" = 1 ]; then
                tb_die "$TB_DATA holds a scaled stack: 'compose/local up --scale', or 'compose/local wipe' first"
            else
                tb_die "$TB_DATA holds a stack that is not scaled: 'compose/local down' and 'compose/local wipe' first, or another TASKBUS_DATA_DIR"
            fi
        fi
    fi
    if ! tb_scaled; then
        export TASKBUS_SCALE=0
        return 0
    fi
    export TASKBUS_SCALE=1
    export TASKBUS_SCALE_REDIS=${TASKBUS_SCALE_REDIS:-cluster}
    case $TASKBUS_SCALE_REDIS in cluster | standalone) ;; *)
        tb_die "TASKBUS_SCALE_REDIS must be cluster or standalone: '$TASKBUS_SCALE_REDIS'" ;;
    esac
    for top in $((TASKBUS_HTTP_PORT + 13)) $((TASKBUS_PG_PORT + 1)) $((TASKBUS_REDIS_PORT + 105)) \
        $((TASKBUS_KAFKA_PORT + 20)) $((TASKBUS_KAFKA_CONTROLLER_PORT + 20)) \
        $((TASKBUS_METRICS_PORT + 50)); do
        [ "$top" -le 65535 ] || tb_die "a scaled stack needs ports up to $top (see compose/lib/scale.sh); lower the TASKBUS_*_PORT bases"
    done
    for ((i = 1; i <= TB_SCALE_KAFKA_NODES; i++)); do
        brokers+=${brokers:+,}127.0.0.1:$(tb_scale_kafka_port "$i")
    done
    export KAFKA_BROKERS=$brokers
    if tb_scale_redis_cluster; then
        for ((i = 1; i <= TB_SCALE_REDIS_NODES; i++)); do
            seeds+=${seeds:+,}127.0.0.1:$(tb_scale_redis_port "$i")
        done
        export REDIS_URL="redis://$seeds"
    fi
    export DATABASE_READ_URL="postgresql://taskbus:taskbus@127.0.0.1:$(tb_scale_replica_port)/taskbus"
    # nginx is the public door (TASKBUS_API_URL keeps its value: HTTP_PORT); api2 does not
    # exist, TASKBUS_API2_URL is api-2's own address (cross-instance tests).
    unset TASKBUS_API2_PORT
    export TASKBUS_API2_URL="http://$TB_CHECK_HOST:$(tb_scale_api_port 2)"
    export TASKBUS_KAFKA_REPLICATION=${TASKBUS_KAFKA_REPLICATION:-3}
    export TASKBUS_KAFKA_MIN_INSYNC_REPLICAS=${TASKBUS_KAFKA_MIN_INSYNC_REPLICAS:-2}
    # The APIs stand behind nginx, which appends the client's address to X-Forwarded-For.
    export TASKBUS_TRUST_PROXY=${TASKBUS_TRUST_PROXY:-1}
}

# The daemon instances of the stack, in start order: TB_DAEMONS, or in scale mode each
# kind's instances kind-1..kind-n.
tb_daemon_list() {
    local d
    for d in "${TB_DAEMONS[@]}"; do
        tb_daemon_instances "$d"
    done
}

# The instances of one daemon kind that belong to this stack (none for a disabled api2).
tb_daemon_instances() {
    local kind=$1 n i
    if tb_scaled; then
        n=$(tb_scale_count "$kind")
        for ((i = 1; i <= n; i++)); do
            printf '%s-%s\n' "$kind" "$i"
        done
    elif tb_daemon_enabled "$kind"; then
        printf '%s\n' "$kind"
    fi
}

# The services (not daemons) of a scaled stack, in start order, and what a group name
# means: `kafka`, `redis` and a daemon kind (`api`, `writer`...) name all their instances.
tb_scale_services() {
    local i
    printf 'postgres\npostgres-replica\n'
    if tb_scale_redis_cluster; then
        for ((i = 1; i <= TB_SCALE_REDIS_NODES; i++)); do printf 'redis-%s\n' "$i"; done
    else
        printf 'redis\n'
    fi
    for ((i = 1; i <= TB_SCALE_KAFKA_NODES; i++)); do printf 'kafka-%s\n' "$i"; done
    printf 'smtp\nnginx\nprometheus\n'
}

# Prints the instances a name given to start/stop/kill/restart stands for, or nothing when
# the name is unknown in scale mode.
tb_scale_expand() {
    local name=$1 d
    case $name in
    kafka) tb_scale_services | grep '^kafka-' ;;
    redis) tb_scale_services | grep -E '^redis(-[0-9]+)?$' ;;
    *)
        if tb_in_list "$name" "$(tb_scale_services)" || tb_in_list "$name" "$(tb_daemon_list)"; then
            printf '%s\n' "$name"
            return 0
        fi
        for d in "${TB_DAEMONS[@]}"; do
            [ "$d" = "$name" ] && tb_daemon_instances "$d"
        done
        ;;
    esac
    return 0
}

# True when $1 is one of the lines of $2 (no pipe into grep -q: with pipefail, the
# writer's SIGPIPE would turn a match into a failure).
tb_in_list() {
    [[ $'\n'$2$'\n' == *$'\n'"$1"$'\n'* ]]
}

# Waits until a TCP port answers, up to $2 seconds.
tb_wait_port() {
    local port=$1 timeout=$2 i
    for ((i = 0; i < timeout * 10; i++)); do
        tb_port_open "$port" && return 0
        sleep 0.1
    done
    return 1
}
