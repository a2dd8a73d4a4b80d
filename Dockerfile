# One image for every Vigil stage; docker-compose.yml picks the stage by command.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/vigil \
    PATH=/opt/vigil/bin:$PATH \
    YOLO_OFFLINE=1

# pg_dump and pg_restore for `vigil backup` and `vigil restore` of a PostgreSQL user database.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir 'uv>=0.5'
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY vigil ./vigil
COPY schemas ./schemas
COPY ingest ./ingest
COPY processors ./processors
COPY sinks ./sinks
COPY control ./control
COPY console ./console
COPY weights/manifest.toml ./weights/manifest.toml
RUN uv sync --frozen --no-dev

# State (user database, evidence, fetched weights) lives on a volume, never in the image.
ENV VIGIL_STATE_DIR=/var/lib/vigil
VOLUME ["/var/lib/vigil"]
USER 1000:1000
ENTRYPOINT ["vigil"]
