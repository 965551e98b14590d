"""`hydra/launcher=isolated`: every job in a worker process, reused until its memory grows (the default)."""
