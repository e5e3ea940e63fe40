# The app image: worker (`python worker.py`, the default), API and web pages (`repatriation
# serve`), migrations (`repatriation db upgrade`) and the rest of the CLI.
FROM python:3.11.10-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Fonts for names in every survivor's script (Latin, Vietnamese, Thai, Khmer, Burmese, Chinese...)
# and the libraries WeasyPrint renders documents with.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      fonts-noto-core fonts-noto-cjk fonts-khmeros fonts-thai-tlwg \
      fontconfig libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
 && rm -rf /var/lib/apt/lists/* \
 && fc-cache -f

# An unprivileged user owning the data folder (documents, outbox); the named volume mounted on
# /data starts with this ownership.
RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin app \
 && mkdir /data \
 && chown app:app /data

WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY access access
COPY activities activities
COPY api api
COPY booking booking
COPY checks checks
COPY contracts contracts
COPY database database
COPY documents documents
COPY migrations migrations
COPY repatriation repatriation
COPY web web
COPY workflows workflows
RUN pip install . \
 && repatriation --help >/dev/null

ENV REPATRIATION_ENVIRONMENT=production \
    REPATRIATION_DATA_DIR=/data
VOLUME /data
USER app
# 8000: the API and web pages; 9464: a worker's metrics (REPATRIATION_METRICS_ADDRESS).
EXPOSE 8000 9464
CMD ["python", "worker.py"]
