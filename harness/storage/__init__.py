"""Storage: files that appear whole or not at all, one owner per run or cache entry, the shared cache.

atomic  write to a temporary sibling and rename; what a full disk says (`no_space`)
claims  `<run>/.claim`: one live process trains a run, a dead owner's claim is taken over
cache   content-addressed entries (folder scans, images, frozen-prefix features), built once, checksummed
"""

from harness.storage.atomic import disk_full, no_space, replacing, write_atomic
from harness.storage.claims import Owner, claim, release

__all__ = ["Owner", "claim", "disk_full", "no_space", "release", "replacing", "write_atomic"]
