# One image, two roles: the API (default command) and the trainer
# (`python -m trainer train ...`). Build: docker build -t moonserve .

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/venv
# The dependencies from the lock first, pinned and hash-checked, in a layer of their own
# that a code change does not rebuild; then the project, with no resolution.
COPY requirements/runtime.txt requirements/runtime.txt
RUN /opt/venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes --only-binary :all: -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY trainer/ trainer/
COPY service/ service/
# The final image gets the virtual environment without what neither role imports: pip
# and setuptools, the packages' own test suites, type stubs; then it is compiled once.
RUN /opt/venv/bin/python -m pip install --no-cache-dir --disable-pip-version-check --no-deps . \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet --disable-pip-version-check pip setuptools \
    && find /opt/venv/lib -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} + \
    && find /opt/venv/lib -name '*.pyi' -delete \
    && /opt/venv/bin/python -m compileall -q /opt/venv

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="moonserve" \
      org.opencontainers.image.description="Two-moons classifier: a from-scratch NumPy network served by Flask under gunicorn" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://example.invalid/moonserve"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    MODELS_DIR=/models \
    PROMETHEUS_MULTIPROC_DIR=/tmp/moonserve-metrics
# a regular (not --system) account: uid 10001 is above SYS_UID_MAX, where useradd --system warns
RUN groupadd --gid 10001 moonserve \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin moonserve \
    && mkdir -p /models /tmp/moonserve-metrics /app/data \
    && chown moonserve:moonserve /models /tmp/moonserve-metrics
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY service/gunicorn.conf.py /app/gunicorn.conf.py
COPY data/moon_data.csv /app/data/moon_data.csv
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["python", "-m", "service.healthcheck"]
CMD ["gunicorn", "-c", "/app/gunicorn.conf.py", "service.wsgi:app"]
