# One image for the bot and the sandbox: no dev tools, a non-root user.
#
# Reproducible: exact base image tags, and every Python package comes from a lock file of
# exact versions with hashes (pip refuses anything else). After changing pyproject.toml's
# dependencies, regenerate the locks from the repository root and commit them:
#   pip install uv
#   uv pip compile pyproject.toml requirements.in --universal --python-version 3.11 \
#       --generate-hashes -o requirements.lock
#   uv pip compile requirements-build.in --universal --python-version 3.11 \
#       --generate-hashes -o requirements-build.lock
# Moving to a newer base image is a deliberate edit of both FROM lines.

FROM python:3.11.14-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The build backend, pinned like the runtime packages; the wheel build then uses it as is.
COPY requirements-build.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY conversations ./conversations
COPY sandbox ./sandbox
COPY locales ./locales
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM python:3.11.14-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BOT_LOCALES_DIR=/app/locales
RUN useradd --create-home --uid 10001 bot
WORKDIR /app
# Dependencies first and alone: this layer is rebuilt only when the lock changes. The lock
# includes tzdata, so SKIPLINO_TIMEZONE never depends on the base image's zone files.
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
COPY locales ./locales
USER bot
ENTRYPOINT ["skiplino-bot"]
CMD ["run"]
