# The GraphQL API server.
#
#   docker build -t graphql-api .
#   docker run -e GRAPHQL_API_SECRET_KEY=<key> -p 8000:8000 graphql-api
#
# Without DATABASE_URL the server keeps a SQLite file in the /data volume.
# compose.yaml runs two replicas on PostgreSQL behind nginx. The install steps
# below are replayed by tests/test_deploy_docker.py, which runs every RUN
# command whose programs it knows: keep them to pip, python and rm, with paths
# relative to the working directory.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The server runs as this unprivileged user, which owns only /data.
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app \
    && mkdir /data \
    && chown app /data

WORKDIR /app

# The dependencies come from pyproject.toml alone, so this layer is rebuilt
# when the dependencies change and not on every change to the source.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install -r requirements.txt \
    && rm requirements.txt

COPY README.md ./
COPY config_engine ./config_engine
COPY db ./db
COPY graphql_api ./graphql_api
RUN pip install --no-deps . \
    && rm -rf build *.egg-info

USER app
ENV HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite+aiosqlite:////data/graphql_api.db
VOLUME /data
EXPOSE 8000

# Liveness only: /healthz does not touch the database (see graphql_api/health.py).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=3)"]

# serve applies pending migrations first; replicas that start together take
# turns through a database lock.
CMD ["graphql-api", "serve"]
