"""A nameko timer whose interval comes from the service's configuration.

nameko's own timer keeps a fixed schedule from its start: after a pause of
hours (a laptop asleep, a stopped pod) it fires once per missed interval,
back to back. Scheduled jobs here look at what is due *now* (an indexed
``next_check_at <= now``) and catch up every late item in one run, in order,
so missed ticks are skipped instead: the next run is one interval after the
last one ended. Jobs stay safe with two instances because each item's step is
a conditional update (see the appeals sweep), not because only one runs.
"""
import time

from eventlet import Timeout
from nameko.timer import Timer

from kernel.config import setting


class ConfigurableTimer(Timer):
    def __init__(self, config_key, default, **kwargs):
        self.config_key = config_key
        super().__init__(interval=default, **kwargs)

    def setup(self):
        self.interval = float(setting(self.container.config, self.config_key, self.interval))
        super().setup()

    def _run(self):
        next_at = time.monotonic() + (0 if self.eager else self.interval)
        while True:
            with Timeout(max(next_at - time.monotonic(), 0), exception=False):
                self.should_stop.wait()
                break
            self.handle_timer_tick()
            self.worker_complete.wait()
            self.worker_complete.reset()
            # the next tick on schedule, or at once if late: one catch-up run, never a burst
            next_at = max(next_at + self.interval, time.monotonic())


configurable_timer = ConfigurableTimer.decorator
