# Concord: one image for every process of the scale-out mode (API, worker, connectors, CLI).
# The command picks the role; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY matching ./matching
COPY stewardship ./stewardship
COPY connectors ./connectors
COPY migrations ./migrations
RUN pip install .

# Example mappings, so the demo connector has its file inside the image.
COPY examples ./examples

RUN useradd --system --uid 10001 --home-dir /app concord
USER concord

EXPOSE 8000
CMD ["concord", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
