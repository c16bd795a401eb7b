#!/bin/bash
# The obvious alternative to gocd-proxy-sync, written honestly: a polling shell loop of
# curl | jq | a heredoc template | cmp, then `nginx -t` and a reload only when the file changed
# (and the old file put back when the test fails). It handles the common row of the table only:
# an http site URL redirecting to an https secure site URL. No validation, no lock, no state.
#
#   baseline.sh ITERATIONS SLEEP_SECONDS
# Environment: GOCD (server_url with /go), TOKEN_FILE, OUTPUT, UPSTREAM, CERT, KEY, NGINX_PREFIX, NGINX_CONF
set -u
ITERATIONS=$1
PAUSE=$2
NGINX=(nginx -p "$NGINX_PREFIX" -c "$NGINX_CONF")
NEW=$(mktemp)
OLD=$(mktemp)
trap 'rm -f "$NEW" "$OLD"' EXIT

for ((i = 0; i < ITERATIONS; i++)); do
    if json=$(curl -sf --max-time 10 -H "Accept: application/vnd.go.cd.v1+json" \
        -H "Authorization: Bearer $(cat "$TOKEN_FILE")" "$GOCD/api/admin/config/server/site_urls"); then
        read -r site secure < <(jq -r '"\(.site_url) \(.secure_site_url)"' <<<"$json")
        hp=${site#http://}; hp=${hp%%/*}; http_host=${hp%%:*}; http_port=80
        [[ $hp == *:* ]] && http_port=${hp##*:}
        hp=${secure#https://}; hp=${hp%%/*}; https_host=${hp%%:*}; https_port=443
        [[ $hp == *:* ]] && https_port=${hp##*:}
        origin="https://$https_host"; [[ $https_port != 443 ]] && origin="$origin:$https_port"
        cat >"$NEW" <<NGINXCONF
map \$http_upgrade \$connection_upgrade_baseline { default upgrade; '' close; }
server {
    listen 127.0.0.1:$http_port;
    server_name $http_host;
    return 301 $origin\$request_uri;
}
server {
    listen 127.0.0.1:$https_port ssl;
    server_name $https_host;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    client_max_body_size 10000m;
    location / {
        proxy_pass $UPSTREAM;
        proxy_http_version 1.1;
        proxy_set_header Host \$http_host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto \$scheme;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection \$connection_upgrade_baseline;
        proxy_request_buffering off;
        proxy_buffering off;
    }
}
NGINXCONF
        if ! cmp -s "$NEW" "$OUTPUT"; then
            [ -e "$OUTPUT" ] && cp "$OUTPUT" "$OLD" || : >"$OLD"
            cp "$NEW" "$OUTPUT"
            if "${NGINX[@]}" -t -q; then
                "${NGINX[@]}" -s reload
            else
                cp "$OLD" "$OUTPUT"
            fi
        fi
    fi
    [ "$PAUSE" != 0 ] && sleep "$PAUSE"
done
exit 0
