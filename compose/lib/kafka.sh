# kafka.sh: the local Kafka 3.9.1 broker in KRaft combined mode (start, wait, stop, status).
#
# Owns: <data>/kafka (server.properties, cluster.id, the log dirs), <data>/run/kafka.pid,
# logs/kafka.log (the previous run's log is kept as kafka.log.1).
# Rules: the storage is formatted once (meta.properties marks it); starting does not wait,
# so the JVM warms up while we build; tb_kafka_wait_ready then waits for the line
# "Kafka Server started" of THIS run, and fails at once if the JVM dies.

tb_kafka_pid() {
    tb_pidfile_pid kafka kafka.Kafka
}

tb_kafka_java() {
    command -v java >/dev/null 2>&1 || tb_die "java not found on PATH (default-jre-headless should provide it)"
    TB_KAFKA_CP="$TB_KAFKA_LIBS/*"
}

tb_kafka_write_conf() {
    local dir=$TB_DATA/kafka
    mkdir -p "$dir/data"
    sed -e "s|@KAFKA_PORT@|$TASKBUS_KAFKA_PORT|g" \
        -e "s|@CONTROLLER_PORT@|$TASKBUS_KAFKA_CONTROLLER_PORT|g" \
        -e "s|@LOG_DIRS@|$dir/data|g" \
        "$TB_REPO/compose/kafka/server.properties.in" >"$dir/server.properties"
}

# Formats the KRaft storage of dir (its server.properties, data/) once, with the cluster
# id kept in idfile (made on first use); name names it in messages. The single broker and
# each node of the scaled cluster (kafka_cluster.sh) use it.
tb_kafka_storage_format() {
    local name=$1 dir=$2 idfile=$3 cid log=$TB_LOGS/kafka-format.log
    [ -f "$dir/data/meta.properties" ] && return 0
    if [ ! -s "$idfile" ]; then
        cid=$(java -cp "$TB_KAFKA_CP" kafka.tools.StorageTool random-uuid 2>>"$log") || {
            tb_tail_log "$log" 20
            tb_die "kafka StorageTool random-uuid failed (see $log)"
        }
        printf '%s\n' "$cid" >"$idfile"
    fi
    cid=$(cat "$idfile")
    tb_say "$name: formatting the KRaft storage (cluster id $cid)"
    if ! java -cp "$TB_KAFKA_CP" kafka.tools.StorageTool format -t "$cid" \
        -c "$dir/server.properties" >>"$log" 2>&1; then
        tb_tail_log "$log" 20
        tb_die "formatting the KRaft storage of $name failed (see $log)"
    fi
}

tb_kafka_format() {
    tb_kafka_storage_format kafka "$TB_DATA/kafka" "$TB_DATA/kafka/cluster.id"
}

# Starts the broker without waiting for it (tb_kafka_wait_ready does).
tb_kafka_start() {
    local pid log=$TB_LOGS/kafka.log
    TB_KAFKA_STARTING=0
    if pid=$(tb_kafka_pid); then
        tb_say "kafka: already running (pid $pid, port $TASKBUS_KAFKA_PORT)"
        return 0
    fi
    tb_port_free_or_die "$TASKBUS_KAFKA_PORT" TASKBUS_KAFKA_PORT
    tb_port_free_or_die "$TASKBUS_KAFKA_CONTROLLER_PORT" TASKBUS_KAFKA_CONTROLLER_PORT
    tb_kafka_java
    tb_kafka_write_conf
    tb_kafka_format
    [ -f "$log" ] && mv -f "$log" "$log.1"
    tb_say "kafka: starting on 127.0.0.1:$TASKBUS_KAFKA_PORT (controller $TASKBUS_KAFKA_CONTROLLER_PORT)"
    nohup setsid java -Xmx512m -Djava.awt.headless=true -cp "$TB_KAFKA_CP" \
        -Dlog4j.configuration="file:$TB_REPO/compose/kafka/log4j.properties" \
        kafka.Kafka "$TB_DATA/kafka/server.properties" >"$log" 2>&1 </dev/null 9>&- &
    printf '%s\n' "$!" >"$TB_RUN/kafka.pid"
    TB_KAFKA_STARTING=1
    TB_KAFKA_STARTED_AT=$(date +%s.%N)
}

tb_kafka_wait_ready() {
    local pid log=$TB_LOGS/kafka.log timeout=${TASKBUS_KAFKA_START_TIMEOUT:-180} deadline now
    pid=$(tb_kafka_pid) || {
        tb_tail_log "$log" 40
        tb_die "Kafka is not running (see $log)"
    }
    if [ "${TB_KAFKA_STARTING:-0}" != 1 ]; then
        # Started by an earlier run; it may still be starting up, or be up already.
        grep -q 'Kafka Server started' "$log" 2>/dev/null && tb_port_open "$TASKBUS_KAFKA_PORT" && return 0
    fi
    deadline=$(($(date +%s) + timeout))
    until grep -q 'Kafka Server started' "$log" 2>/dev/null; do
        if ! tb_pid_running "$pid"; then
            tb_tail_log "$log" 40
            tb_die "Kafka exited while starting (see $log)"
        fi
        now=$(date +%s)
        if [ "$now" -ge "$deadline" ]; then
            tb_tail_log "$log" 40
            tb_die "Kafka did not log 'Kafka Server started' within ${timeout}s (see $log)"
        fi
        sleep 0.2
    done
    tb_port_open "$TASKBUS_KAFKA_PORT" ||
        tb_die "Kafka says it started but nothing listens on 127.0.0.1:$TASKBUS_KAFKA_PORT (see $log)"
    if [ -n "${TB_KAFKA_STARTED_AT:-}" ]; then
        tb_say "kafka: ready after $(awk -v a="$TB_KAFKA_STARTED_AT" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
    fi
}

tb_kafka_stop() {
    local pid
    if ! pid=$(tb_kafka_pid); then
        tb_say "kafka: not running"
        return 0
    fi
    tb_say "kafka: stopping (pid $pid)"
    tb_terminate kafka "$pid" "${TASKBUS_KAFKA_STOP_TIMEOUT:-60}"
    rm -f "$TB_RUN/kafka.pid"
}

tb_kafka_status() {
    local pid
    if pid=$(tb_kafka_pid 2>/dev/null); then
        tb_status_line kafka up "$pid" "$TASKBUS_KAFKA_PORT" "$TB_DATA/kafka"
    else
        tb_status_line kafka down - "$TASKBUS_KAFKA_PORT" "$TB_DATA/kafka"
    fi
}
