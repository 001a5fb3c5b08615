#!/usr/bin/env bash
# One RabbitMQ user per service, allowed only its own exchanges and queues.
#
#   scripts/broker-users.sh [VHOST] [SERVICE ...]
#   (defaults: vhost /, services appeals inspections scoring notify gateway)
#
# QQ_BROKER_USER_PREFIX prefixes the user names (the queue names stay nameko's).
# The password of service S comes from QQ_BROKER_PASSWORD_<S> (upper case);
# without it one is generated and printed once — put it in that service's
# Secret as its AMQP_URI (amqp://S:<password>@host:5672/<vhost>).
#
# nameko's names, and what each user may do with them (RabbitMQ regexes):
#   nameko-rpc                  the RPC exchange every service declares and publishes to
#   rpc-S                       S's RPC queue: only S declares, binds and consumes it
#   rpc.reply-S-<uuid>          S's reply queues, one per RPC client connection
#                               (RPC_REPLY_TO: queue; kernel/leanrpc.py). No write on
#                               amq.default, which direct reply-to would need and which
#                               would let S publish into any queue by name
#   S.events                    S's event exchange: only S publishes events (outbox relay)
#   evt-<src>-<type>--S.<fn>    S's event handler queues, bound to <src>.events
#   <src>.events                read (bind) and declare, to consume another's events
# So a service cannot consume another's RPC calls or handler queues, nor
# publish another's events. It can still publish RPC calls to any service (it
# must) — those carry a signed caller identity (kernel/rpc.py).
#
# QQ_BROKER_PERMISSIONS_ONLY=1: print "S configure write read" per service and
# change nothing (tests/deploy checks k8s/'s Permission objects against it).
set -euo pipefail

vhost="${1:-/}"
shift || true
if [ "$#" -gt 0 ]; then services=("$@"); else services=(appeals inspections scoring notify gateway); fi
ctl="${RABBITMQCTL:-rabbitmqctl}"
prefix="${QQ_BROKER_USER_PREFIX:-}"  # e.g. "county-a-": users county-a-appeals, …

for s in "${services[@]}"; do
  if ! [[ "$s" =~ ^[a-z][a-z0-9_]*$ ]]; then
    echo "service names are lower-case letters, digits and _: $s" >&2; exit 2
  fi
  own="rpc-$s|rpc\\.reply-$s-.+|$s\\.events|evt-.+--$s\\..+"
  configure="^(nameko-rpc|$own|[a-z][a-z0-9_]*\\.events)$"
  write="^(nameko-rpc|$own)$"
  read="^(nameko-rpc|rpc-$s|rpc\\.reply-$s-.+|evt-.+--$s\\..+|[a-z][a-z0-9_]*\\.events)$"
  if [ -n "${QQ_BROKER_PERMISSIONS_ONLY:-}" ]; then
    printf '%s %s %s %s\n' "$s" "$configure" "$write" "$read"; continue
  fi
  var="QQ_BROKER_PASSWORD_$(echo "$s" | tr '[:lower:]' '[:upper:]')"
  password="${!var:-}"
  generated=""
  if [ -z "$password" ]; then
    password="$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
    generated=1
  fi
  user="$prefix$s"
  if ! "$ctl" -q add_user "$user" "$password" >/dev/null 2>&1; then
    "$ctl" -q change_password "$user" "$password" >/dev/null  # it exists: rotate
  fi
  "$ctl" -q set_permissions -p "$vhost" "$user" "$configure" "$write" "$read" >/dev/null
  if [ -n "$generated" ]; then echo "$user $password"; else echo "$user (password from $var)"; fi
done
