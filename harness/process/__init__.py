"""Processes: stop requests, TensorFlow's quiet start-up, worker processes, memory, progress lines.

stopping  Ctrl-C and SIGTERM as a flag a run checks at safe points, passed on to workers
quiet     import TensorFlow without its native start-up noise; capture what native code prints
heap      the import's objects frozen out of the garbage collector
workers   a reused worker process (the isolated launcher's jobs), a fresh one per call (a search's trials)
devices   which GPU each worker gets, and how workers sharing one share its memory
memory    resident memory now and its peak per job
progress  `run k/N ... ETA` before each run of a sweep, study or search
homes     Keras's and matplotlib's own files kept in the cache folder, not in $HOME
"""

from harness.process.stopping import Interrupted

__all__ = ["Interrupted"]
