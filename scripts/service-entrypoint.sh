#!/bin/sh
# Container entry point: one image, the command picks the service.
#   qinqing-service appeals|inspections|scoring|notify|gateway   run it
#   qinqing-service migrate <service>                             its database to head, then exit
# The Deployment's DB_URL, AMQP_URI, WEB_SERVER_ADDRESS, DB_POOL_SIZE … win over
# the service's YAML (kernel/launch.py).
set -e
if [ "$1" = migrate ]; then
  exec python -m kernel.launch migrate "$2"
fi
exec python -m kernel.launch run "$1"
