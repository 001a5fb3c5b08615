"""The appeals service (诉求): one ledger for every channel, the closed loop, the ladder."""
