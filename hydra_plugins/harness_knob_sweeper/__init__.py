"""`hydra/sweeper=knob`: Hydra's grid sweep plus the harness's one-knob sweeps and studies."""
