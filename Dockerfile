# healthprobes: the checks as an image for sidecars, CronJobs, collectors and CI jobs.
#   docker build -t healthprobes .
#   docker run --rm --network host healthprobes check_grpc_health --addr 127.0.0.1:50051
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY probes ./probes
COPY checks ./checks
COPY bin ./bin
# pip and setuptools leave the final venv: setuptools' distutils-precedence.pth would
# otherwise run on every start of every check (about 1 ms).
RUN python -m venv /opt/healthprobes \
 && /opt/healthprobes/bin/pip install --no-cache-dir . \
 && /opt/healthprobes/bin/pip uninstall -y -q setuptools pip \
 && /opt/healthprobes/bin/python -m compileall -q /opt/healthprobes

FROM ${BASE_IMAGE}
COPY --from=build /opt/healthprobes /opt/healthprobes
ENV PATH=/opt/healthprobes/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# No ENTRYPOINT: `docker run IMAGE check_grpc_health ...` and a sidecar's `command:`
# both name the check they want.
CMD ["check_grpc_health", "--help"]
