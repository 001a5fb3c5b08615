"""A nameko timer whose interval comes from the service's configuration."""
from nameko.timer import Timer

from kernel.config import setting


class ConfigurableTimer(Timer):
    def __init__(self, config_key, default, **kwargs):
        self.config_key = config_key
        super().__init__(interval=default, **kwargs)

    def setup(self):
        self.interval = float(setting(self.container.config, self.config_key, self.interval))
        super().setup()


configurable_timer = ConfigurableTimer.decorator
