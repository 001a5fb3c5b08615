#!/bin/sh
# Container entry point: run one service with its config (env overrides keys).
set -e
case "$1" in
  appeals)     exec python -c 'import eventlet; eventlet.monkey_patch(); from nameko.cli.main import main; main()' run --config config/appeals.yaml services.appeals.service:AppealsService ;;
  inspections) exec python -c 'import eventlet; eventlet.monkey_patch(); from nameko.cli.main import main; main()' run --config config/inspections/inspections.yaml services.inspections.service:InspectionsService ;;
  notify)      exec python -c 'import eventlet; eventlet.monkey_patch(); from nameko.cli.main import main; main()' run --config config/notify.yaml services.notify.service:NotifyService ;;
  gateway)     exec python -m gateway ;;
  *) echo "usage: qinqing-service appeals|inspections|notify|gateway" >&2; exit 2 ;;
esac
