# The bot (and the sandbox) as a small runtime image: no dev tools, a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY conversations ./conversations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 BOT_LOCALES_DIR=/app/locales
RUN useradd --create-home --uid 10001 bot
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY locales ./locales
USER bot
ENTRYPOINT ["skiplino-bot"]
CMD ["run"]
