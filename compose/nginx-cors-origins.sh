#!/bin/sh
# nginx-cors-origins.sh: the nginx side of TASKBUS_CORS_ORIGINS (api/cors.h is the API's).
#
# Owns: turning the comma list of browser origins into the lines of nginx.conf's
# $taskbus_cors_origin map (`"<origin>" $http_origin;`), written to $1 (default
# /etc/nginx/taskbus-cors-origins.conf, which nginx.conf includes). The answers nginx makes
# itself (413, 503) then carry the CORS headers a listed origin's page needs, as the API's
# own answers do; those pass through nginx untouched.
# Rules: the origins the API accepts (http:// or https://, a host, an optional port),
# lower-cased as browsers send them; any other entry stops the start, as it stops the API.
# POSIX sh: it also runs as an entrypoint script of the nginx image (/docker-entrypoint.d/,
# docker-compose.yml), before nginx starts.
set -eu
set -f # an entry is never a glob
out=${1:-/etc/nginx/taskbus-cors-origins.conf}
tmp=$out.tmp
bad() {
    echo "nginx-cors-origins: TASKBUS_CORS_ORIGINS: \"$1\" $2" >&2
    rm -f "$tmp"
    exit 1
}
: >"$tmp"
seen=" "
IFS=','
for entry in ${TASKBUS_CORS_ORIGINS:-}; do
    origin=$(printf '%s' "$entry" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | tr 'A-Z' 'a-z')
    [ -n "$origin" ] || continue
    why="is no origin (http:// or https://, a host, an optional :port other than the scheme's default, nothing after it)"
    case $origin in
    *[!]a-z0-9.:/[-]*) bad "$origin" "$why" ;;
    esac
    printf '%s\n' "$origin" |
        grep -Eq '^https?://([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:[1-9][0-9]{0,4})?$' ||
        bad "$origin" "$why"
    port=$(printf '%s' "$origin" | sed -n 's/.*[^:]:\([0-9][0-9]*\)$/\1/p')
    if [ -n "$port" ]; then
        default=80
        case $origin in https:*) default=443 ;; esac
        { [ "$port" -le 65535 ] && [ "$port" -ne "$default" ]; } || bad "$origin" "$why"
    fi
    case $seen in *" $origin "*) bad "$origin" "is listed twice" ;; esac
    seen="$seen$origin "
    printf '"%s" $http_origin;\n' "$origin" >>"$tmp"
done
mv "$tmp" "$out"
