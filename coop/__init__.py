"""协作通 coop — cooperation agreements turned into scheduled, tracked, audited work."""

__version__ = "0.1.0"
