# syntax=docker/dockerfile:1
#
# One image for every process: web (the default CMD, gunicorn), worker and beat (compose.yaml
# runs them with `celery -A smscrm worker|beat`). scripts/check_image_commands.sh runs this
# file's commands in a fresh virtualenv, for machines without a Docker engine.

# ---- builder: the runtime virtualenv, from requirements.txt only ------------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt


# ---- final: the app, the virtualenv and nothing else -------------------------------------
FROM python:3.11-slim-bookworm

# DJANGO_ENV=production by default: without SECRET_KEY, DATABASE_URL, ALLOWED_HOSTS and
# REDIS_URL the container refuses to start instead of running with DEBUG and a known key.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_ENV=production

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
# The code stays owned by root, so the app user cannot change it.
COPY . /app

# Static files are collected (hashed and compressed for WhiteNoise) at build time. The values
# below exist only so production settings load on this line; they are not kept in the image.
# Only var/ and var/media are the app user's to write; var/staticfiles stays read-only.
RUN DJANGO_ENV=production SECRET_KEY=build-only DATABASE_URL=sqlite:////tmp/build.sqlite3 ALLOWED_HOSTS=localhost REDIS_URL=redis://localhost:6379/0 \
        python manage.py collectstatic --noinput \
    && rm -f /tmp/build.sqlite3 \
    && mkdir -p /app/var/staticfiles /app/var/media \
    && chown app:app /app/var /app/var/media

USER 10001:10001

EXPOSE 8000

# The container's own liveness: the web process answers and reaches its database. The full
# /health also fails when the worker or beat is down, which is not this container's fault.
# Django checks the Host header against ALLOWED_HOSTS, so the probe sends the first entry.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.'); h = h if h and h != '*' else 'localhost'; r = u.urlopen(u.Request('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8000'), headers={'Host': h}), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

CMD ["gunicorn", "--config", "gunicorn.conf.py", "smscrm.wsgi:application"]
