"""Records: what a run leaves behind, read by everything that reports on it.

record       RunRecord (record.json, written atomically) and its Status, read back typed
lifecycle    the one way a record is made, ended and published, for every kind of run
provenance   versions, git commit, host and CPU: what produced a result
tensorboard  TensorBoard event files (HParams, scalars, images, text) written without TensorFlow
hparams      one HParams experiment per results folder
planned      the runs a multirun planned (planned.json), so reports count those never started
study_spec   study.json: a study as it was run
"""

from harness.records.record import RECORD, STATUSES, RunRecord, Status, SweepIdentity, read_record, write_record

__all__ = ["RECORD", "STATUSES", "RunRecord", "Status", "SweepIdentity", "read_record", "write_record"]
