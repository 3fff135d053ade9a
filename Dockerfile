# One image for every role; the command picks it: web | worker | scheduler | migrate | cluster-sim.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data

RUN groupadd --system pipeline && useradd --system --gid pipeline --home-dir /app pipeline \
    && mkdir -p /app /data && chown pipeline:pipeline /data

WORKDIR /app
# Dependencies first (cached layer), from pyproject.toml only.
COPY pyproject.toml README.md ./
RUN python - <<'PY' > /tmp/requirements.txt
import tomllib
print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))
PY
RUN pip install -r /tmp/requirements.txt

COPY . .
RUN pip install --no-deps -e . && chown -R pipeline:pipeline /app

USER pipeline
EXPOSE 8050 8800
VOLUME ["/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/api/health', timeout=4)"

ENTRYPOINT ["lora-pipeline"]
CMD ["web", "--host", "0.0.0.0", "--port", "8050"]
