"""Training: one run, config in, record out. Sweeps, studies and searches all call `run`.

run       prepare -> fit -> finish -> record; a failure becomes a recorded status, never a lost sweep
fit       compile and fit (early stopping, NaN guard, TensorBoard), the optional fine-tuning phase
inputs    what a run trains on: cached frozen-prefix features, cached images, or images decoded in the pipeline
features  the frozen-prefix feature cache: train only the part of the model above the frozen bottom
compiled  compiled models kept for later runs of the same architecture in one process
seeded    built models kept for later runs of the same model and seed in one process

Keras is imported by fit, features, compiled and seeded, and by run only when it trains.
"""
