#!/usr/bin/env bash
# Make sure the broker (and, with "postgres", PostgreSQL) answers on loopback.
# Starts an installed server that is not running; on Debian/Ubuntu as root,
# installs a missing one; elsewhere says exactly what to do.
set -u
want_pg=0
[ "${1:-}" = "postgres" ] && want_pg=1

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 90); do port_open "$1" && return 0; sleep 1; done
  return 1
}

can_apt() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

ensure_rabbitmq() {
  port_open 5672 && return 0
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    if can_apt; then
      echo "RabbitMQ is missing: installing it (apt-get install rabbitmq-server)…"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null || return 1
    else
      cat >&2 <<'MSG'
RabbitMQ is not running on 127.0.0.1:5672 and is not installed.
  Debian/Ubuntu:  sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached
  macOS:          brew install rabbitmq && brew services start rabbitmq
  Docker:         docker run -d -p 5672:5672 rabbitmq:3
Or point AMQP_URI at a broker you have.
MSG
      return 1
    fi
  fi
  echo "starting RabbitMQ (rabbitmq-server -detached)…"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 || { echo "RabbitMQ did not come up on 5672" >&2; return 1; }
}

ensure_postgres() {
  port_open 5432 && return 0
  if ! ls /etc/postgresql >/dev/null 2>&1; then
    if can_apt; then
      echo "PostgreSQL is missing: installing it (apt-get install postgresql)…"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
    else
      echo "PostgreSQL is not running on 127.0.0.1:5432; start it or set QQ_TEST_PG_URL." >&2
      return 1
    fi
  fi
  echo "starting PostgreSQL…"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >/dev/null 2>&1 || true
  wait_port 5432 || { echo "PostgreSQL did not come up on 5432" >&2; return 1; }
}

ensure_rabbitmq || exit 1
if [ $want_pg = 1 ]; then ensure_postgres || exit 1; fi
exit 0
