"""Multiruns: the ways of calling a run many times. The launchers' work lives with their plugins (hydra_plugins/).

sweep            a one-knob sweep's jobs and run names (Hydra's multirun, the knob sweeper)
study            a study's experiments as one multirun; a run shared by experiments trained once, copied after
search           Keras Tuner searches whose trials are ordinary runs
automl           tuner=autokeras: AutoKeras's search, each trial recorded as a run
optuna_search    tuner=optuna: Optuna's samplers and pruners over the same space, each trial recorded as a run
search_identity  the config a search's trials are drawn over, so no search resumes another's
jobs             one Hydra job run as Hydra runs it, in whatever process a launcher chose
report_callback  Hydra's multirun-end callback: the sweep's or the study's report
"""
