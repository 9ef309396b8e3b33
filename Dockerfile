# healthprobes: the checks as an image, for sidecars, CronJobs, collectors and CI jobs.
#   docker build -t healthprobes:0.1.0 .
#   docker run --rm --network host healthprobes:0.1.0 check_etcd health --endpoints http://127.0.0.1:2379
#   docker run -d -p 9143:9143 -v $PWD/config.yml:/etc/healthprobes/config.yml:ro \
#       healthprobes:0.1.0 serve --config /etc/healthprobes/config.yml   (healthprobes serve)
#   docker run -d --name probes healthprobes:0.1.0        (no arguments: waits as a sidecar)
# Where only a local base image exists: --build-arg BASE_IMAGE=that-image (it needs
# python3 3.11+ with venv). deploy/docker/try_image.py builds one with debootstrap and
# runs every check from the image against real servers.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY . ./
# .build-ca.pem, when the context has one, is a CA bundle for pip behind an intercepting
# proxy; it exists only in this stage. pip and setuptools then leave the final venv:
# setuptools' distutils-precedence.pth would otherwise run on every start of every check.
RUN set -e; \
    if [ -s .build-ca.pem ]; then export PIP_CERT=/src/.build-ca.pem; fi; \
    python3 -m venv /opt/healthprobes; \
    /opt/healthprobes/bin/pip install --no-cache-dir --disable-pip-version-check .; \
    /opt/healthprobes/bin/pip uninstall -y -q setuptools pip; \
    install -m 0755 deploy/docker/entrypoint.sh /opt/healthprobes/bin/healthprobes-entrypoint; \
    /opt/healthprobes/bin/python -m compileall -q /opt/healthprobes

FROM ${BASE_IMAGE}
COPY --from=build /opt/healthprobes /opt/healthprobes
ENV PATH=/opt/healthprobes/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric uid, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# `docker run IMAGE serve --config FILE` runs `healthprobes serve` (listening on
# 0.0.0.0:9143 unless --listen says otherwise); `docker run IMAGE check_etcd ...` runs
# the check; no arguments waits as a sidecar. A Kubernetes `command:` replaces the
# entrypoint and runs the check directly.
EXPOSE 9143
ENTRYPOINT ["/opt/healthprobes/bin/healthprobes-entrypoint"]
CMD []
