# One image for every Qinqing service; the command picks the service.
#   docker build -t qinqing .
#   docker run qinqing appeals|inspections|notify|gateway
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore::DeprecationWarning
WORKDIR /app
COPY pyproject.toml ./
COPY kernel kernel
COPY services services
COPY gateway gateway
COPY config config
RUN pip install --no-cache-dir . && useradd -r qinqing && mkdir -p var && chown qinqing var
USER qinqing
COPY --chmod=0755 scripts/service-entrypoint.sh /usr/local/bin/qinqing-service
ENTRYPOINT ["qinqing-service"]
