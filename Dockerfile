# The app image: worker, API and CLI. Fonts for native-script names in documents included.
FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-core fonts-noto-cjk fonts-khmeros \
      fonts-thai-tlwg libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md worker.py ./
COPY contracts contracts
COPY database database
COPY checks checks
COPY booking booking
COPY workflows workflows
COPY activities activities
COPY documents documents
COPY repatriation repatriation
RUN pip install --no-cache-dir .
ENV REPATRIATION_ENVIRONMENT=production REPATRIATION_DATA_DIR=/data
VOLUME /data
USER 10001
CMD ["python", "worker.py"]
