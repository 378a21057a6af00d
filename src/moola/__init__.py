"""moola: reproducible classification of short OHLC windows with scarce labels."""

__version__ = "0.1.0"
