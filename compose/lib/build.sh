# build.sh: the CMake build of every binary and test, and finding the binaries.
#
# Owns: configuring TASKBUS_BUILD_DIR (sanitizers when TASKBUS_SANITIZE=1) and building
# all targets; deciding whether a missing binary is fatal.
# Rules: a failed build or a missing binary stops `up`, unless
# TASKBUS_ALLOW_MISSING_BINARIES=1, which turns both into loud warnings (for bringing the
# services up while the C code is still being written).

tb_allow_missing() { [ "${TASKBUS_ALLOW_MISSING_BINARIES:-0}" = 1 ]; }

tb_build() {
    local sanitize=OFF log=$TB_LOGS/build.log keep_going=() generator
    [ "$TASKBUS_SANITIZE" = 1 ] && sanitize=ON
    tb_say "building into $TB_BUILD (sanitizers $sanitize; log: $log)"
    if ! cmake -S "$TB_REPO" -B "$TB_BUILD" -DTASKBUS_SANITIZE="$sanitize" >"$log" 2>&1; then
        tb_tail_log "$log" 60
        if tb_allow_missing; then
            tb_loud_warn "cmake could not configure $TB_BUILD; continuing without a build" \
                "because TASKBUS_ALLOW_MISSING_BINARIES=1"
            return 0
        fi
        tb_die "cmake configure failed (see $log)"
    fi
    if tb_allow_missing; then
        # Build whatever compiles, so one unfinished file does not hide the other binaries.
        generator=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$TB_BUILD/CMakeCache.txt")
        case $generator in
        "Unix Makefiles") keep_going=(-- -k) ;;
        Ninja) keep_going=(-- -k 0) ;;
        esac
    fi
    if ! cmake --build "$TB_BUILD" -j "$(nproc)" "${keep_going[@]}" >>"$log" 2>&1; then
        printf '[local] ---- first errors in %s ----\n' "$log" >&2
        grep -E 'error|Error' "$log" | head -n 30 | sed 's/^/    /' >&2 || true
        if tb_allow_missing; then
            tb_loud_warn "the build failed; continuing with whatever binaries exist" \
                "because TASKBUS_ALLOW_MISSING_BINARIES=1 (see $log)"
            return 0
        fi
        tb_die "the build failed (see $log)"
    fi
}

# Sets TB_BIN to the path of taskbus-<name>. Returns 1 when it is missing and that is
# tolerated (TASKBUS_ALLOW_MISSING_BINARIES=1); exits when it is missing otherwise. Not for
# use in $(...): the exit must end compose/local, not a subshell.
tb_binary() {
    TB_BIN=$TB_BUILD/taskbus-$1
    if [ -x "$TB_BIN" ]; then
        return 0
    fi
    if tb_allow_missing; then
        tb_loud_warn "$TB_BIN is not built: skipping it (TASKBUS_ALLOW_MISSING_BINARIES=1)"
        return 1
    fi
    tb_die "$TB_BIN is not built (see $TB_LOGS/build.log)"
}

# taskbus-admin migrate, then topics: both must exit 0.
tb_run_admin_jobs() {
    local job rc log=$TB_LOGS/admin.log
    tb_binary admin || return 0
    for job in migrate topics; do
        tb_say "taskbus-admin $job"
        rc=0
        "$TB_BIN" "$job" >>"$log" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ]; then
            tb_tail_log "$log" 30
            tb_die "taskbus-admin $job exited with $rc (log: $log)"
        fi
    done
}
