# syntax=docker/dockerfile:1
# Firstline: the helpdesk service, as one image for docker compose and Kubernetes (docs/deploy.md).
#
#   docker build -t firstline:0.1.0 .
#   docker run --rm -p 8000:8000 -v firstline-data:/var/lib/firstline firstline:0.1.0
#
# Two stages: "build" installs the package and its dependencies into /opt/venv; the runtime stage
# copies that virtual environment onto a clean slim image and runs as an unprivileged user. Settings
# come from the environment (FIRSTLINE_*), or from a mounted file named by FIRSTLINE_CONFIG.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# torch from the CPU-only index: the default Linux wheel pulls the CUDA libraries (GBs) that the
# embedding model does not need. A GPU is only useful to a model server (the vllm service).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN pip install --upgrade pip \
 && pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# A regular (not editable) install: the package, its data files and the `firstline` command.
RUN pip install . \
 && firstline --help >/dev/null

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="Firstline" \
      org.opencontainers.image.description="Open-source, self-hostable Tier-1 IT helpdesk agent" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 firstline \
 && useradd --system --uid 10001 --gid firstline --home-dir /var/lib/firstline --shell /usr/sbin/nologin firstline \
 && install -d -o firstline -g firstline -m 0700 /var/lib/firstline
COPY --from=build /opt/venv /opt/venv
# The embedding model ships inside a Python package, so nothing is downloaded at run time
# (HF_HUB_OFFLINE). The ONNX export of the model is cached under the data volume.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    XDG_CACHE_HOME=/var/lib/firstline/cache \
    FIRSTLINE_DATA_DIR=/var/lib/firstline \
    FIRSTLINE_SERVICE__PORT=8000
USER 10001:10001
WORKDIR /var/lib/firstline
VOLUME ["/var/lib/firstline"]
EXPOSE 8000
# /ready answers 200 once migrations ran and the knowledge index is open, 503 before (and when down).
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ready' % os.environ.get('FIRSTLINE_SERVICE__PORT', '8000'), timeout=4)"]
# Listen on every interface of the container; the reverse proxy (or the Service) is the only way in.
# Workers: FIRSTLINE_SCALE__WORKERS (needs PostgreSQL, a vector-store server and Redis).
ENTRYPOINT ["firstline", "serve"]
CMD ["--host", "0.0.0.0"]
