# smtp.sh: the local SMTP catcher (start, stop, status).
#
# Owns: <data>/mail (one .eml per accepted message; .fail-next for failure tests),
# <data>/run/smtp.pid, logs/smtp.log. Rules: compose/smtp_catcher.py runs from the test
# virtualenv (aiosmtpd is in tests/requirements.txt), loopback only, in its own session
# like the daemons, on TASKBUS_SMTP_PORT; taskbus-notifier reaches it through
# TASKBUS_SMTP_URL (common.sh derives it from the port).

tb_smtp_pid() {
    tb_pidfile_pid smtp smtp_catcher.py
}

tb_smtp_start() {
    local pid i py=$TB_REPO/.venv/bin/python
    if pid=$(tb_smtp_pid); then
        tb_say "smtp: already running (pid $pid, port $TASKBUS_SMTP_PORT)"
        return 0
    fi
    [ -x "$py" ] || tb_die "no $py: the SMTP catcher needs the test virtualenv (compose/local up makes it)"
    tb_port_free_or_die "$TASKBUS_SMTP_PORT" TASKBUS_SMTP_PORT
    mkdir -p "$TB_DATA/mail"
    tb_say "smtp: starting the catcher on 127.0.0.1:$TASKBUS_SMTP_PORT (mail in $TB_DATA/mail)"
    nohup setsid "$py" "$TB_REPO/compose/smtp_catcher.py" --port "$TASKBUS_SMTP_PORT" \
        --dir "$TB_DATA/mail" >>"$TB_LOGS/smtp.log" 2>&1 </dev/null 9>&- &
    pid=$!
    printf '%s\n' "$pid" >"$TB_RUN/smtp.pid"
    for i in $(seq 1 100); do
        tb_port_open "$TASKBUS_SMTP_PORT" && return 0
        tb_pid_running "$pid" || break
        sleep 0.1
    done
    tb_tail_log "$TB_LOGS/smtp.log" 20
    tb_die "the SMTP catcher did not listen within 10 s (see $TB_LOGS/smtp.log)"
}

tb_smtp_stop() {
    local pid
    if ! pid=$(tb_smtp_pid); then
        tb_say "smtp: not running"
        return 0
    fi
    tb_say "smtp: stopping (pid $pid)"
    tb_terminate smtp "$pid" 10
    rm -f "$TB_RUN/smtp.pid"
}

tb_smtp_status() {
    local pid
    if pid=$(tb_smtp_pid 2>/dev/null); then
        tb_status_line smtp up "$pid" "$TASKBUS_SMTP_PORT" "$TB_DATA/mail"
    else
        tb_status_line smtp down - "$TASKBUS_SMTP_PORT" "$TB_DATA/mail"
    fi
}
