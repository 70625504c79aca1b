# The nginx example (docs/examples/nginx) under the engines: Debian's nginx,
# unmodified, as www-data under transparent mode.  Sourced by run.sh
# (example_nginx, docker) and by podman-ns.sh (the helpers, podman).
# docs/examples/nginx: Debian's nginx, unmodified, as www-data under
# transparent mode (intercept mkdir open bind), a default docker run; the
# page is fetched from inside the container (--network none).
example_nginx() {
        local log=$E/logs/ex-nginx.log
        if tar -cf - -C docs/examples/nginx . -C "$STATIC/daemon" stepdownd |
                build ex-nginx - --build-arg BASE=stepdown-test/debian >"$log" 2>&1; then
                ok "nginx example: docker build from docs/examples/nginx/Dockerfile"
        else
                not_ok "nginx example: docker build" "$log"
                return
        fi
        "${RUN[@]}" -d --name ex-nginx ex-nginx >"$log" 2>&1
        if ! wait_page ex-nginx "$DOCKER"; then
                logs ex-nginx
                not_ok "nginx example: default docker run: nginx serves its page on 127.0.0.1:80 (curl in the container)" "$E/logs/ex-nginx.err"
                return
        fi
        ok "nginx example: default docker run: nginx serves its page on 127.0.0.1:80 (curl in the container)"
        nginx_state ex-nginx "$DOCKER" >"$log" 2>&1
        if nginx_state_ok "$log"; then
                ok "nginx example: PID 1 is nginx as www-data (workers too), no capabilities, no_new_privs, a seccomp filter; its pid file and temp directories are www-data's"
        else
                not_ok "nginx example: nginx as www-data, no capabilities; its files www-data's" "$log"
        fi
        # The container's port policy, and what stepdownd said besides audit
        # records (a mechanism the engine refused, and why).
        diag "docker: $(grep '^ip_unprivileged_port_start' "$log"); binds the broker served: $("$DOCKER" logs ex-nginx 2>&1 |
                grep '"event":"request"' | grep '"via":"syscall"' | grep -c '"op":"bind"')"
        "$DOCKER" logs ex-nginx 2>&1 | grep '^stepdownd' | sed 's/^/docker: /' | while read -r l; do diag "$l"; done
        "$DOCKER" stop -t 20 ex-nginx >/dev/null 2>&1
        local st
        st=$(timeout 30 "$DOCKER" wait ex-nginx)
        logs ex-nginx
        if [ "$st" = 0 ]; then
                ok "nginx example: docker stop (SIGQUIT) ends it with status 0"
        else
                not_ok "nginx example: docker stop (SIGQUIT) ends it with status 0 (got '$st')" "$E/logs/ex-nginx.err"
        fi
        if "$DOCKER" logs ex-nginx 2>&1 | grep '^{' | grep '"via":"syscall"' | grep '"op":"mkdir"' |
                grep -F '/var/lib/nginx/body' | grep -q '"result":"OK"'; then
                ok "nginx example: its mkdir of /var/lib/nginx/body is a served call in the audit records (docker logs)"
        else
                not_ok "nginx example: its mkdir of /var/lib/nginx/body is a served call in the audit records" "$E/logs/ex-nginx.err"
        fi
        audit_verify ex-nginx "nginx example"
}

# wait_page CONTAINER ENGINE...: until curl inside it gets a page.
wait_page() {
        local c=$1
        shift
        for _ in $(seq 150); do
                "$@" exec "$c" curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:80/ 2>/dev/null && return 0
                [ "$("$@" inspect -f '{{.State.Running}}' "$c" 2>/dev/null)" = true ] || return 1
                sleep 0.2
        done
        return 1
}

# nginx_state CONTAINER ENGINE...: what nginx_state_ok judges, from inside.
nginx_state() {
        local c=$1
        shift
        "$@" exec "$c" sh -c '
                curl -sS --max-time 5 http://127.0.0.1:80/ | grep -o "<title>.*</title>"
                grep -E "^(Name|Uid|Gid|CapPrm|CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/1/status
                echo "pidfile: $(cat /run/nginx.pid)"
                for s in /proc/[0-9]*/status; do
                        grep -q "^Name:.nginx$" "$s" && echo "nginx process: $(grep "^Uid:" "$s" | tr -s "	" " ")"
                done
                stat -c "%n %U:%G %a" /run/nginx.pid /var/lib/nginx/body /var/lib/nginx/fastcgi                         /var/lib/nginx/proxy /var/lib/nginx/scgi /var/lib/nginx/uwsgi
                stat -c "%n %U" /var/log/nginx/access.log /var/log/nginx/error.log
                echo "www-data: $(id -u www-data)"
                echo "ip_unprivileged_port_start: $(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"'
}
nginx_state_ok() { # LOG
        local u
        u=$(sed -n 's/^www-data: //p' "$1")
        [ -n "$u" ] && grep -q '^<title>Welcome to nginx!</title>$' "$1" &&
                grep -qP '^Name:\tnginx$' "$1" &&
                grep -qP "^Uid:\t$u\t$u\t$u\t$u$" "$1" && grep -qP "^Gid:\t$u\t$u\t$u\t$u$" "$1" &&
                grep -qP '^CapPrm:\t0+$' "$1" && grep -qP '^CapEff:\t0+$' "$1" &&
                grep -qP '^NoNewPrivs:\t1$' "$1" && grep -qP '^Seccomp:\t2$' "$1" &&
                grep -qx 'pidfile: 1' "$1" &&
                [ "$(grep -c '^nginx process: ' "$1")" -ge 2 ] &&
                [ "$(grep '^nginx process: ' "$1" | grep -cvx "nginx process: Uid: $u $u $u $u")" = 0 ] &&
                grep -qx '/run/nginx.pid www-data:www-data 644' "$1" &&
                [ "$(grep -c '^/var/lib/nginx/[a-z]* www-data:www-data 700$' "$1")" = 5 ] &&
                [ "$(grep -c '^/var/log/nginx/[a-z]*.log www-data$' "$1")" = 2 ]
}
