#!/bin/sh
# The image's entrypoint.
#   docker run IMAGE serve --config FILE     runs `healthprobes serve --config FILE`: the
#                                            resident HTTP form (/probe/<module> for the
#                                            kubelet's httpGet probes, /probe?module= for
#                                            Prometheus), as PID 1 so that SIGTERM drains it
#   docker run IMAGE check_etcd health ...   runs that check (its exit code is the run's)
#   docker run IMAGE  (or: IMAGE sidecar)    waits, so that the kubelet or docker exec can
#                                            run checks inside the container
# No arguments keeps waiting rather than serving: serve needs a config file, which an
# image cannot guess, and sidecars written for exec probes (the kubeadm patch in
# deploy/kubernetes) give no arguments and must keep working.
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
    serve)
        exec healthprobes "$@"
        ;;
    -*)
        echo "healthprobes: name a check: check_etcd, check_grpc_health or check_metrics" \
             "(e.g. IMAGE check_etcd health --endpoints http://127.0.0.1:2379)," \
             "or serve (IMAGE serve --config /etc/healthprobes/config.yml)," \
             "or nothing to wait as a sidecar" >&2
        exit 3
        ;;
esac
exec "$@"
