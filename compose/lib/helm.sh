# helm.sh: the helm CLI for the chart tests, built once from the Go module proxy.
#
# Owns: $TASKBUS_CACHE_DIR/tools/bin/helm (pinned). Rules: no prebuilt binary download
# (only package registries are reachable); `go install` of the pinned module builds it
# once (about 3 minutes cold on 2 cores) and later runs reuse it. The chart is validated,
# not deployed: no cluster is needed.

TB_HELM_VERSION=v3.16.4

# Prints the path of a helm binary of TB_HELM_VERSION, building it when missing.
tb_ensure_helm() {
    local cache=${TASKBUS_CACHE_DIR:-$HOME/.cache/taskbus}
    local bin=$cache/tools/helm-$TB_HELM_VERSION
    if [ -x "$bin/helm" ]; then
        printf '%s\n' "$bin/helm"
        return 0
    fi
    if ! command -v go >/dev/null 2>&1; then
        tb_warn "go is not installed: cannot build helm $TB_HELM_VERSION for the chart tests"
        return 1
    fi
    tb_say "building helm $TB_HELM_VERSION with go install (once; cached in $bin)"
    mkdir -p "$bin" || return 1
    if ! GOBIN=$bin GOFLAGS=-mod=mod go install "helm.sh/helm/v3/cmd/helm@$TB_HELM_VERSION" \
        >"$cache/tools/helm-build.log" 2>&1; then
        tb_warn "helm build failed; see $cache/tools/helm-build.log"
        tb_tail_log "$cache/tools/helm-build.log" 20
        return 1
    fi
    printf '%s\n' "$bin/helm"
}
