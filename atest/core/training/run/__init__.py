"""The run folder and the processes that share it.

`run_dir` is the folder (resolved config, phase ledger, metrics, checkpoints); `context` what
every phase of a run shares (folder, tasks, sandbox, reporters); `ranks` the processes of a
launch; `export` and `merge` the deliverables under `OUT/final/`.
"""
