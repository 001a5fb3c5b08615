# syntax=docker/dockerfile:1
# One slim image for every Qinqing service; the command picks the service.
#   docker build -t qinqing:0.1.0 .
#   docker run qinqing:0.1.0 appeals|inspections|scoring|notify|gateway
#   docker run qinqing:0.1.0 migrate appeals
# Runs as an unprivileged numeric user (Kubernetes' runAsNonRoot checks the
# number) and writes nothing into the image: the root filesystem can be
# read-only; /tmp is the only scratch space it needs (an emptyDir in k8s/).
FROM python:3.11.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONWARNINGS=ignore::DeprecationWarning \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ADMIN_PORT=9100
WORKDIR /app

# Dependencies first (their layer is reused while only our code changes).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

COPY kernel kernel
COPY services services
COPY gateway gateway
COPY config config
COPY --chmod=0755 scripts/service-entrypoint.sh /usr/local/bin/qinqing-service
# Byte-compiled at build time, since the running container cannot write.
RUN python -m compileall -q kernel services gateway \
 && groupadd --system --gid 10001 qinqing \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent qinqing
USER 10001:10001

# Alive = the admin server answers (it runs beside the worker pool, so a busy
# service still answers). Kubernetes uses its own probes on the same port.
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('ADMIN_PORT', '9100'), timeout=2)"]

ENTRYPOINT ["qinqing-service"]
CMD ["gateway"]
