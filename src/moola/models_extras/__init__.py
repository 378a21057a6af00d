"""Retired models (see README.md here): they build and run, but the pipeline never imports them."""
