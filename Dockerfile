# Concord: one image for every process of the scale-out mode (API, worker, connectors, CLI).
# The command picks the role; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The image's user owns /app: the CLI and an SQLite hub write beside it (a database, its
# session secret).
RUN useradd --system --uid 10001 --home-dir /app concord && chown concord:concord /app

# Dependencies first, in a layer of their own, from pyproject.toml alone: a code change does
# not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the code, installed without touching the dependencies.
COPY README.md ./
COPY hub ./hub
COPY matching ./matching
COPY stewardship ./stewardship
COPY connectors ./connectors
COPY migrations ./migrations
RUN pip install --no-deps .

# Example mappings, so the demo connector has its file inside the image.
COPY examples ./examples

USER concord

EXPOSE 8000
CMD ["concord", "serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
