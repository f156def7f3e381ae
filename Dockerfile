# The station for the shared setup (docker-compose.yml). The desk build is the single binary.
FROM python:3.12-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends libzbar0 libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/ingest-station
COPY pyproject.toml requirements.lock README.md ./
# The versions CI tested, by hash (requirements.lock), then the project itself.
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY app ./app
COPY migrations ./migrations
COPY resources ./resources
RUN pip install --no-cache-dir --no-deps .
ENV INGEST_DATA_DIR=/data
ENTRYPOINT ["ingest-station"]
