#!/usr/bin/env bash
# The gate behind real nginx (issue 17): nginx `auth_request` asks a2a-guard-gate about every
# request to a small Python agent (standard library HTTP server) that echoes the headers it
# received. Checks, through nginx: allowed with the claim headers reaching the agent; 401
# and 403 with the gate's WWW-Authenticate reaching the client; the most specific route per
# method; spoofed X-Auth-* headers from the client never reaching the agent. The nginx
# configuration is the one gate/README.md documents.
#
#   tests/interop/gate_nginx.sh        # needs nginx (Debian: nginx-light) and python3
#
# Everything listens on 127.0.0.1 with OS-assigned ports; every process is stopped on exit.
set -euo pipefail

INTEROP_NAME=interop-gate-nginx
# shellcheck source=tests/interop/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_tools cargo python3
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x "$NGINX" ]] || die "nginx not found (Debian: apt-get install nginx-light)"

# shellcheck source=tests/interop/gate_lib.sh
source "$HERE/gate_lib.sh"
NGINX_PORT=$(free_port)

mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 64; }
http {
    access_log $WORK/nginx/logs/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            auth_request /_gate;
            auth_request_set \$auth_sub    \$upstream_http_x_auth_sub;
            auth_request_set \$auth_client \$upstream_http_x_auth_client;
            auth_request_set \$auth_scopes \$upstream_http_x_auth_scopes;
            auth_request_set \$auth_actor  \$upstream_http_x_auth_actor;
            auth_request_set \$auth_www    \$upstream_http_www_authenticate;
            proxy_set_header X-Auth-Sub    \$auth_sub;
            proxy_set_header X-Auth-Client \$auth_client;
            proxy_set_header X-Auth-Scopes \$auth_scopes;
            proxy_set_header X-Auth-Actor  \$auth_actor;
            add_header WWW-Authenticate \$auth_www always;
            proxy_pass http://127.0.0.1:$AGENT_PORT;
        }
        location = /_gate {
            internal;
            proxy_pass http://127.0.0.1:$GATE_PORT;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI \$request_uri;
            proxy_set_header X-Original-Method \$request_method;
        }
    }
}
EOF
"$NGINX" -t -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>"$WORK/nginx-t.err" ||
    { cat "$WORK/nginx-t.err" >&2; die "nginx -t failed"; }
"$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -g 'daemon off;' >"$WORK/nginx.out" 2>"$WORK/nginx.err" &
PIDS+=($!)
for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $NGINX_PORT), 0.2)" 2>/dev/null && break
    sleep 0.1
done


run_scenarios "$NGINX_PORT" gate-nginx
