#!/usr/bin/env bash
# Make sure PostgreSQL, Redis and RabbitMQ answer on loopback; start the ones that are
# installed but stopped; name the Debian package of the ones that are missing.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}; PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}; AMQP_PORT=${AMQP_PORT:-5672}

answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

wait_for() { # name host port seconds
  local deadline=$((SECONDS + $4))
  until answers "$2" "$3"; do
    if ((SECONDS >= deadline)); then
      echo "error: $1 did not start answering on $2:$3 within $4 s" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "ok: $1 answers on $2:$3"
}

missing() { # name package
  echo "error: $1 is not installed. Install the Debian package '$2' (or run 'make system-deps')." >&2
  exit 1
}

if ! answers "$PG_HOST" "$PG_PORT"; then
  command -v pg_ctlcluster >/dev/null || missing PostgreSQL postgresql
  echo "starting PostgreSQL"
  for version in /etc/postgresql/*; do
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$version")" main start || true
  done
fi
wait_for PostgreSQL "$PG_HOST" "$PG_PORT" 60

if ! answers 127.0.0.1 "$REDIS_PORT"; then
  command -v redis-server >/dev/null || missing Redis redis-server
  echo "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/suite.log
fi
wait_for Redis 127.0.0.1 "$REDIS_PORT" 30

if ! answers 127.0.0.1 "$AMQP_PORT"; then
  command -v rabbitmq-server >/dev/null || missing RabbitMQ rabbitmq-server
  echo "starting RabbitMQ"
  rabbitmq-server -detached
fi
wait_for RabbitMQ 127.0.0.1 "$AMQP_PORT" 120
