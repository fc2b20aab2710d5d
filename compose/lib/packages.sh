# packages.sh: the Debian packages, Kafka's jars and the Python virtualenv.
#
# Owns: installing what is missing, and only that: `apt-get update` runs once and only
# when a package is missing; the Kafka jars are fetched once per cache folder (a marker
# file says the fetch completed); the virtualenv is rebuilt only when
# tests/requirements.txt (or the Python) changed.
# Rules: root directly, else sudo; never touch a package that is already installed.

# Build tools and C libraries (libulfius-dev already depends on libcurl4-gnutls-dev, the
# libcurl flavour ulfius links: naming it again keeps pkg-config's libcurl the same one),
# the services, and the tools compose/local and tests/run call. clang and its compiler-rt
# (libclang_rt.fuzzer, asan, ubsan: only recommended by clang-14, so named here) build the
# libFuzzer targets of tests/fuzz/run. prometheus brings promtool, which checks the
# daemons' /metrics and tests the alert rules (issue 11). chromium and chromium-driver
# (the same version, /usr/bin/chromium and /usr/bin/chromedriver) run the browser tests of
# the web client headless (tests/integration/test_browser.py).
TB_DEB_PACKAGES=(
    build-essential cmake pkg-config clang libclang-rt-14-dev
    libulfius-dev libcurl4-gnutls-dev libjansson-dev libjwt-dev libhiredis-dev
    librdkafka-dev libpq-dev libsodium-dev libcmocka-dev libical-dev
    postgresql redis-server nginx maven python3 python3-venv curl clang-format
    prometheus chromium chromium-driver
)

tb_deb_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

tb_ensure_packages() {
    local missing=() pkg
    command -v dpkg-query >/dev/null 2>&1 ||
        tb_die "this is not a Debian-like system (no dpkg-query); install the packages by hand: ${TB_DEB_PACKAGES[*]}"
    for pkg in "${TB_DEB_PACKAGES[@]}"; do
        tb_deb_installed "$pkg" || missing+=("$pkg")
    done
    # Any Java 17+ on PATH runs Kafka; Debian's default JRE only when there is none.
    if ! command -v java >/dev/null 2>&1; then
        missing+=(default-jre-headless)
    fi
    # Any Node.js 18+ on PATH runs the AsyncAPI tools (tools/asyncapi); Debian's otherwise.
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        missing+=(nodejs npm)
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    tb_say "installing missing Debian packages: ${missing[*]}"
    tb_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q ||
        tb_die "apt-get update failed"
    tb_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" ||
        tb_die "apt-get install failed for: ${missing[*]}"
}

# Postgres's server binaries are not on PATH on Debian; prefer 15, the version we test.
tb_find_pg_bin() {
    local dir
    for dir in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
            TB_PG_BIN=$dir
            return 0
        fi
    done
    if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
        TB_PG_BIN=$(dirname "$(command -v pg_ctl)")
        return 0
    fi
    tb_die "no Postgres server binaries (initdb, pg_ctl) found; is the postgresql package installed?"
}

# Kafka 3.9.1 and its logging backend from Maven Central, resolved by compose/kafka/pom.xml.
tb_ensure_kafka_jars() {
    local pom=$TB_REPO/compose/kafka/pom.xml marker=$TB_KAFKA_HOME/.fetched sum
    sum=$(sha256sum "$pom" | cut -d' ' -f1)
    if [ -f "$marker" ] && [ "$(cat "$marker")" = "$sum" ] &&
        ls "$TB_KAFKA_LIBS"/kafka_2.13-3.9.1.jar >/dev/null 2>&1; then
        return 0
    fi
    command -v mvn >/dev/null 2>&1 || tb_die "mvn not found (the maven package should have installed it)"
    mkdir -p "$TB_KAFKA_LIBS"
    tb_say "fetching Kafka 3.9.1 jars into $TB_KAFKA_LIBS (once; log: $TB_LOGS/maven.log)"
    # copy-dependencies only adds or overwrites files, so a broker already running from
    # this folder keeps working while we complete it.
    if ! mvn -B -f "$pom" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$TB_KAFKA_LIBS" >"$TB_LOGS/maven.log" 2>&1; then
        tb_tail_log "$TB_LOGS/maven.log" 40
        tb_die "fetching the Kafka jars with Maven failed (see $TB_LOGS/maven.log)"
    fi
    [ -f "$TB_KAFKA_LIBS/kafka_2.13-3.9.1.jar" ] ||
        tb_die "Maven finished but $TB_KAFKA_LIBS/kafka_2.13-3.9.1.jar is missing"
    printf '%s\n' "$sum" >"$marker"
}

# The virtualenv of the black-box tests. Debian's python3 when present (the one the
# python3-venv package serves), else whatever python3 is on PATH. A changed requirements
# file is installed into the existing venv (tests running from it meanwhile keep working);
# only a different Python or a broken venv makes a new one.
tb_ensure_venv() {
    local venv=$TB_REPO/.venv req=$TB_REPO/tests/requirements.txt py stamp pyver reqsum
    [ -f "$req" ] || {
        tb_warn "no $req; skipping the Python virtualenv"
        return 0
    }
    py=${TASKBUS_PYTHON:-}
    if [ -z "$py" ]; then
        if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=$(command -v python3); fi
    fi
    [ -n "$py" ] || tb_die "no python3 found"
    pyver=$("$py" -c 'import sys; print(sys.version.split()[0])')
    reqsum=$(sha256sum "$req" | cut -d' ' -f1)
    stamp=$venv/.taskbus-requirements
    if [ -x "$venv/bin/python" ] && [ "$("$venv/bin/python" -c 'import sys; print(sys.version.split()[0])' 2>/dev/null)" = "$pyver" ]; then
        [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$reqsum" ] && return 0
        tb_say "updating the Python virtualenv $venv from tests/requirements.txt (log: $TB_LOGS/venv.log)"
    else
        tb_say "creating the Python virtualenv $venv ($py $pyver) from tests/requirements.txt (log: $TB_LOGS/venv.log)"
        rm -rf "$venv"
        "$py" -m venv "$venv" >"$TB_LOGS/venv.log" 2>&1 || {
            tb_tail_log "$TB_LOGS/venv.log" 20
            tb_die "$py -m venv failed (is python3-venv installed?)"
        }
    fi
    rm -f "$stamp"
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req" >>"$TB_LOGS/venv.log" 2>&1; then
        tb_tail_log "$TB_LOGS/venv.log" 40
        tb_die "installing tests/requirements.txt failed (see $TB_LOGS/venv.log)"
    fi
    printf '%s\n' "$reqsum" >"$stamp"
}
