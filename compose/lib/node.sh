# node.sh: the Node.js packages of the AsyncAPI tools (tools/asyncapi) and of the browser's
# files (web: the Swagger UI of /docs/), installed from their locks.
#
# Owns: tools/asyncapi/node_modules and web/node_modules. Rules: `npm ci` from the folder's
# package-lock.json (the exact versions, integrity-checked), only when the lock changed since
# the last install (a stamp file holds its checksum), the package that is used is gone, or
# the stamp is; npm's own cache (~/.npm) makes a reinstall offline-fast. Install scripts are
# not run (neither folder's packages need one). Node.js itself comes from the Debian package
# nodejs (packages.sh) when missing: Debian 12's is 18.19, so the locks hold only versions
# whose `engines` accept Node 18.18+ (tools/asyncapi/package.json pins jsep 1.4.0 through
# `overrides`: jsep 1.6.0 wants 20.16).
# A node older than TB_NODE_MIN is refused with a message saying so, and `npm ci` runs with
# --engine-strict, so a lock entry that refuses the node in use fails the install instead of
# installing code that may not run on it.

# The oldest Node.js the packages run on (each package.json's "engines").
TB_NODE_MIN=18.18.0

# npm ci in dir (repo-relative) when its lock changed, marker (a file under node_modules) is
# missing or the stamp is; what names the packages in messages. 0, or 1 with a message.
tb_npm_ci() {
    local dir=$TB_REPO/$1 marker=$2 what=$3 stamp sum
    local log=${TB_LOGS:-/tmp}/npm-$(basename "$1").log
    stamp=$dir/node_modules/.taskbus-lock
    command -v npm >/dev/null 2>&1 || {
        tb_warn "npm is not installed: cannot install $what ($1)"
        return 1
    }
    local have
    have=$(node -p 'process.versions.node' 2>/dev/null) || have=none
    if [ "$have" = none ] || ! printf '%s\n%s\n' "$TB_NODE_MIN" "$have" | sort -V -C; then
        tb_warn "$what ($1) need Node.js >= $TB_NODE_MIN; $(command -v node || echo node) is $have." \
            "Install a newer one (Debian 12's nodejs package is 18.19; or https://nodejs.org/en/download," \
            "or nodesource's Debian packages) and run this again"
        return 1
    fi
    sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && [ -f "$dir/node_modules/$marker" ]; then
        return 0
    fi
    tb_say "installing $what in $dir/node_modules with npm ci (log: $log)"
    if ! (cd "$dir" && npm ci --ignore-scripts --engine-strict --no-audit --no-fund) >"$log" 2>&1; then
        tb_tail_log "$log" 20
        tb_warn "npm ci in $dir failed (see $log)"
        return 1
    fi
    printf '%s\n' "$sum" >"$stamp"
}

# The AsyncAPI tools (tools/asyncapi): the parser the AsyncAPI checks run.
tb_ensure_asyncapi_tools() {
    tb_npm_ci tools/asyncapi @asyncapi/parser/package.json "the AsyncAPI tools"
}

# The Swagger UI of the API reference page (web/node_modules/swagger-ui-dist, served at
# /docs/vendor/ by the API: api/web_files.h), and axe-core, which the browser tests inject
# into the pages to audit them (a devDependency: the image leaves it out). Its dependency @scarf/scarf is an install-time
# usage reporter; install scripts never run here, so it never reports.
tb_ensure_web_vendor() {
    tb_npm_ci web swagger-ui-dist/swagger-ui-bundle.js "the API reference's Swagger UI (and the browser tests' axe-core)"
}
