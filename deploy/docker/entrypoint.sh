#!/bin/sh
# The image's entrypoint.
#   docker run IMAGE check_etcd health ...   runs that check (its exit code is the run's)
#   docker run IMAGE  (or: IMAGE sidecar)    waits, so that the kubelet or docker exec can
#                                            run checks inside the container
# PID 1 ignores SIGTERM unless it asks for it: the trap makes `docker stop` and pod
# deletion immediate instead of waiting out the grace period.
case "${1-}" in
    "" | sidecar)
        trap 'exit 0' TERM INT
        while :; do
            sleep 3600 &
            wait $! || true
        done
        ;;
    -*)
        echo "healthprobes: name a check: check_etcd, check_grpc_health or check_metrics" \
             "(e.g. IMAGE check_etcd health --endpoints http://127.0.0.1:2379)," \
             "or nothing to wait as a sidecar" >&2
        exit 3
        ;;
esac
exec "$@"
