# node.sh: the AsyncAPI tools' Node.js packages (tools/asyncapi), installed from the lock.
#
# Owns: tools/asyncapi/node_modules. Rules: `npm ci` from tools/asyncapi/package-lock.json
# (the exact versions, integrity-checked), only when the lock changed since the last install
# (a stamp file holds its checksum), node_modules/@asyncapi/parser is gone, or the stamp is;
# npm's own cache (~/.npm) makes a reinstall offline-fast. Install scripts are not run (the
# parser needs none). Node.js itself comes from the Debian package nodejs (packages.sh) when
# missing: Debian 12's is 18.19, so the lock holds only versions whose `engines` accept
# Node 18.18+ (package.json pins jsep 1.4.0 through `overrides`: jsep 1.6.0 wants 20.16).
# A node older than TB_NODE_MIN is refused with a message saying so, and `npm ci` runs with
# --engine-strict, so a lock entry that refuses the node in use fails the install instead of
# installing code that may not run on it.

# The oldest Node.js the AsyncAPI tools run on (tools/asyncapi/package.json "engines").
TB_NODE_MIN=18.18.0

# Installs tools/asyncapi's packages when needed; 0, or 1 with a message (the caller decides
# whether that is fatal).
tb_ensure_asyncapi_tools() {
    local dir=$TB_REPO/tools/asyncapi stamp sum log=${TB_LOGS:-/tmp}/npm-asyncapi.log
    stamp=$dir/node_modules/.taskbus-lock
    command -v npm >/dev/null 2>&1 || {
        tb_warn "npm is not installed: cannot install the AsyncAPI tools (tools/asyncapi)"
        return 1
    }
    local have
    have=$(node -p 'process.versions.node' 2>/dev/null) || have=none
    if [ "$have" = none ] || ! printf '%s\n%s\n' "$TB_NODE_MIN" "$have" | sort -V -C; then
        tb_warn "the AsyncAPI tools (tools/asyncapi) need Node.js >= $TB_NODE_MIN; $(command -v node || echo node) is $have." \
            "Install a newer one (Debian 12's nodejs package is 18.19; or https://nodejs.org/en/download," \
            "or nodesource's Debian packages) and run this again"
        return 1
    fi
    sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] &&
        [ -f "$dir/node_modules/@asyncapi/parser/package.json" ]; then
        return 0
    fi
    tb_say "installing the AsyncAPI tools in $dir/node_modules with npm ci (log: $log)"
    if ! (cd "$dir" && npm ci --ignore-scripts --engine-strict --no-audit --no-fund) >"$log" 2>&1; then
        tb_tail_log "$log" 20
        tb_warn "npm ci in $dir failed (see $log)"
        return 1
    fi
    printf '%s\n' "$sum" >"$stamp"
}
