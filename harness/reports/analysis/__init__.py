"""Looking inside trained runs.

tables     one row per image, the three selections, confusion, aspect-ratio buckets (pure)
gradcam    Grad-CAM heatmaps and overlays
pictures   the PNG figures
runs       one run: predict a split once, write tables and pictures under <run>/analysis; two runs compared
embeddings TensorBoard's projector: penultimate-layer vectors, thumbnails, labels and predictions
two_runs   two runs image by image: agreement, disagreements, McNemar's exact test (pure, but the picture)
experiment per-value tables across an experiment's analysed runs
__main__   `python -m harness.analyze RUN|EXPERIMENT` and `... compare RUN_A RUN_B`
"""
