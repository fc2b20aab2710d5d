# kafka_cluster.sh: the three-node KRaft Kafka of a scaled stack (start, wait, stop, kill,
# status of kafka-1..kafka-3).
#
# Owns: <data>/kafka-<i>/ (server.properties, the log dir), <data>/kafka-cluster.id (one
# cluster id for the three), run/kafka-<i>.pid, logs/kafka-<i>.log (the previous run's log
# kept as .1).
# Rules: every node is broker and controller (combined mode), node.id i, the three are the
# static voters; the configuration is compose/kafka/server.properties.in (the single-node
# stack's) with the node id, the voters and the replication settings replaced, so both
# stacks share every other setting. Internal topics (__consumer_offsets, the transaction
# state) are created at replication factor 3 with min.insync.replicas 2, like the taskbus
# topics (TASKBUS_KAFKA_REPLICATION / TASKBUS_KAFKA_MIN_INSYNC_REPLICAS, scale.sh). Nodes
# start in parallel without waiting (a quorum needs two of them up); tb_kafka_node_wait_ready
# waits for "Kafka Server started" of THIS run, which a KRaft broker logs only once the
# controller quorum has unfenced it. Each JVM gets TASKBUS_KAFKA_HEAP (512m) of heap: three
# of them fit 2 cores and a few GiB.

tb_kafka_node_dir() { printf '%s/kafka-%s\n' "$TB_DATA" "$1"; }

tb_kafka_node_pid() {
    tb_pidfile_pid "kafka-$1" "$(tb_kafka_node_dir "$1")/server.properties"
}

tb_kafka_cluster_voters() {
    local i voters=
    for ((i = 1; i <= TB_SCALE_KAFKA_NODES; i++)); do
        voters+=${voters:+,}$i@127.0.0.1:$(tb_scale_kafka_controller_port "$i")
    done
    printf '%s\n' "$voters"
}

tb_kafka_node_write_conf() {
    local i=$1 dir rf=${TASKBUS_KAFKA_REPLICATION:-3} isr=${TASKBUS_KAFKA_MIN_INSYNC_REPLICAS:-2}
    dir=$(tb_kafka_node_dir "$i")
    mkdir -p "$dir/data"
    sed -e "s|@KAFKA_PORT@|$(tb_scale_kafka_port "$i")|g" \
        -e "s|@CONTROLLER_PORT@|$(tb_scale_kafka_controller_port "$i")|g" \
        -e "s|@LOG_DIRS@|$dir/data|g" \
        -e "s|^node\.id=.*|node.id=$i|" \
        -e "s|^controller\.quorum\.voters=.*|controller.quorum.voters=$(tb_kafka_cluster_voters)|" \
        -e "s|^default\.replication\.factor=.*|default.replication.factor=$rf|" \
        -e "s|^min\.insync\.replicas=.*|min.insync.replicas=$isr|" \
        -e "s|^offsets\.topic\.replication\.factor=.*|offsets.topic.replication.factor=$rf|" \
        -e "s|^transaction\.state\.log\.replication\.factor=.*|transaction.state.log.replication.factor=$rf|" \
        -e "s|^transaction\.state\.log\.min\.isr=.*|transaction.state.log.min.isr=$isr|" \
        "$TB_REPO/compose/kafka/server.properties.in" >"$dir/server.properties.tmp"
    {
        printf '# compose/local scale mode: node %s of %s.\n' "$i" "$TB_SCALE_KAFKA_NODES"
        # A killed broker is fenced (its partitions get new leaders, it leaves the ISRs)
        # after 4 s without a heartbeat instead of 9 s: fault tests see the failover
        # within a few seconds. A loaded 2-core box still heartbeats every second.
        printf 'broker.session.timeout.ms=4000\nbroker.heartbeat.interval.ms=1000\n'
    } >>"$dir/server.properties.tmp"
    mv "$dir/server.properties.tmp" "$dir/server.properties"
}

# Every node of the cluster shares one cluster id.
tb_kafka_node_format() {
    tb_kafka_storage_format "kafka-$1" "$(tb_kafka_node_dir "$1")" "$TB_DATA/kafka-cluster.id"
}

# Starts node i without waiting for it.
tb_kafka_node_start() {
    local i=$1 pid log=$TB_LOGS/kafka-$1.log port cport
    port=$(tb_scale_kafka_port "$i")
    cport=$(tb_scale_kafka_controller_port "$i")
    if pid=$(tb_kafka_node_pid "$i"); then
        tb_say "kafka-$i: already running (pid $pid, port $port)"
        return 0
    fi
    tb_port_free_or_die "$port" "TASKBUS_KAFKA_PORT (+$((port - TASKBUS_KAFKA_PORT)))"
    tb_port_free_or_die "$cport" "TASKBUS_KAFKA_CONTROLLER_PORT (+$((cport - TASKBUS_KAFKA_CONTROLLER_PORT)))"
    tb_kafka_java
    tb_kafka_node_write_conf "$i"
    tb_kafka_node_format "$i"
    [ -f "$log" ] && mv -f "$log" "$log.1"
    tb_say "kafka-$i: starting on 127.0.0.1:$port (controller $cport)"
    nohup setsid java "-Xmx${TASKBUS_KAFKA_HEAP:-512m}" "-Xms${TASKBUS_KAFKA_HEAP_MIN:-128m}" \
        -Djava.awt.headless=true -cp "$TB_KAFKA_CP" \
        -Dlog4j.configuration="file:$TB_REPO/compose/kafka/log4j.properties" \
        kafka.Kafka "$(tb_kafka_node_dir "$i")/server.properties" >"$log" 2>&1 </dev/null 9>&- &
    printf '%s\n' "$!" >"$TB_RUN/kafka-$i.pid"
}

# Waits for node i's "Kafka Server started" in this run's log and its port.
tb_kafka_node_wait_ready() {
    local i=$1 pid log=$TB_LOGS/kafka-$1.log timeout=${TASKBUS_KAFKA_START_TIMEOUT:-180} deadline port
    port=$(tb_scale_kafka_port "$i")
    pid=$(tb_kafka_node_pid "$i") || {
        tb_tail_log "$log" 40
        tb_die "kafka-$i is not running (see $log)"
    }
    deadline=$(($(date +%s) + timeout))
    until grep -q 'Kafka Server started' "$log" 2>/dev/null; do
        if ! tb_pid_running "$pid"; then
            tb_tail_log "$log" 40
            tb_die "kafka-$i exited while starting (see $log)"
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tb_tail_log "$log" 40
            tb_die "kafka-$i did not log 'Kafka Server started' within ${timeout}s (a quorum needs 2 of the 3 nodes up; see $log)"
        fi
        sleep 0.2
    done
    tb_port_open "$port" || tb_die "kafka-$i says it started but nothing listens on 127.0.0.1:$port (see $log)"
}

tb_kafka_cluster_start() {
    local i
    TB_KAFKA_STARTED_AT=$(date +%s.%N)
    for ((i = 1; i <= TB_SCALE_KAFKA_NODES; i++)); do
        tb_kafka_node_start "$i"
    done
}

tb_kafka_cluster_wait_ready() {
    local i
    for ((i = 1; i <= TB_SCALE_KAFKA_NODES; i++)); do
        tb_kafka_node_wait_ready "$i"
    done
    if [ -n "${TB_KAFKA_STARTED_AT:-}" ]; then
        tb_say "kafka: 3 nodes ready after $(awk -v a="$TB_KAFKA_STARTED_AT" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
    fi
}

# SIGTERM to node $1 (a controlled shutdown that hands its leaderships over), or $2=KILL.
tb_kafka_node_stop() {
    local i=$1 signal=${2:-TERM} pid
    if ! pid=$(tb_kafka_node_pid "$i"); then
        tb_say "kafka-$i: not running"
        return 0
    fi
    if [ "$signal" = KILL ]; then
        tb_say "kafka-$i: SIGKILL (pid $pid)"
        kill -KILL "$pid" 2>/dev/null || true
        tb_wait_exit "$pid" 10 || tb_die "kafka-$i (pid $pid) survived SIGKILL"
    else
        tb_say "kafka-$i: stopping (pid $pid)"
        tb_terminate "kafka-$i" "$pid" "${TASKBUS_KAFKA_STOP_TIMEOUT:-60}"
    fi
    rm -f "$TB_RUN/kafka-$i.pid"
}

# All nodes at once: the last ones cannot finish a controlled shutdown without a quorum,
# so SIGTERM all of them together rather than one after the other.
tb_kafka_cluster_stop() {
    local i pids=() pid
    for ((i = 1; i <= TB_SCALE_KAFKA_NODES; i++)); do
        if pid=$(tb_kafka_node_pid "$i"); then
            tb_say "kafka-$i: stopping (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$i:$pid")
        else
            tb_say "kafka-$i: not running"
        fi
    done
    for pid in "${pids[@]}"; do
        i=${pid%%:*}
        if ! tb_wait_exit "${pid#*:}" "${TASKBUS_KAFKA_STOP_TIMEOUT:-60}"; then
            tb_warn "kafka-$i (pid ${pid#*:}) did not stop within ${TASKBUS_KAFKA_STOP_TIMEOUT:-60}s; sending SIGKILL"
            kill -KILL "${pid#*:}" 2>/dev/null || true
            tb_wait_exit "${pid#*:}" 10 || tb_die "kafka-$i survived SIGKILL"
        fi
        rm -f "$TB_RUN/kafka-$i.pid"
    done
}

tb_kafka_node_status() {
    local i=$1 pid
    if pid=$(tb_kafka_node_pid "$i" 2>/dev/null); then
        tb_status_line "kafka-$i" up "$pid" "$(tb_scale_kafka_port "$i")" "$(tb_kafka_node_dir "$i")"
    else
        tb_status_line "kafka-$i" down - "$(tb_scale_kafka_port "$i")" "$(tb_kafka_node_dir "$i")"
    fi
}
