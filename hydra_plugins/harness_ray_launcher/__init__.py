"""`hydra/launcher=harness_ray`: every job a Ray task on a running cluster, cancelled on Ctrl-C or SIGTERM."""
