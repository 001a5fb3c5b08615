"""Every candidate proposed and not yet landed, together:
``coalesced_relay`` and ``transient_replies``."""
import bench.candidates.coalesced_relay  # noqa: F401
import bench.candidates.transient_replies  # noqa: F401

from services.appeals.service import AppealsService  # noqa: E402,F401
