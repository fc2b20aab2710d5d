# node.sh: the AsyncAPI tools' Node.js packages (tools/asyncapi), installed from the lock.
#
# Owns: tools/asyncapi/node_modules. Rules: `npm ci` from tools/asyncapi/package-lock.json
# (the exact versions, integrity-checked), only when the lock changed since the last install
# (a stamp file holds its checksum) or node_modules is gone; npm's own cache
# (~/.npm) makes a reinstall offline-fast. Install scripts are not run (the parser needs
# none). Node.js itself comes from the Debian package nodejs (packages.sh) when missing.

# Installs tools/asyncapi's packages when needed; 0, or 1 with a message (the caller decides
# whether that is fatal).
tb_ensure_asyncapi_tools() {
    local dir=$TB_REPO/tools/asyncapi stamp sum log=${TB_LOGS:-/tmp}/npm-asyncapi.log
    stamp=$dir/node_modules/.taskbus-lock
    command -v npm >/dev/null 2>&1 || {
        tb_warn "npm is not installed: cannot install the AsyncAPI tools (tools/asyncapi)"
        return 1
    }
    sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
        return 0
    fi
    tb_say "installing the AsyncAPI tools in $dir/node_modules with npm ci (log: $log)"
    if ! (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund) >"$log" 2>&1; then
        tb_tail_log "$log" 20
        tb_warn "npm ci in $dir failed (see $log)"
        return 1
    fi
    printf '%s\n' "$sum" >"$stamp"
}
