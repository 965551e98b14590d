"""`python -m harness.deploy <run>`: a run's saved model converted for a device and checked after conversion."""
