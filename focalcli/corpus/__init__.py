"""Corpus-scale encoding: many files, resumable, sharded, on threads or on a Ray cluster.

* :mod:`.plan`     which files a run (or a shard of one) codes and which are already done
* :mod:`.manifest` ``OUT/manifest.tsv``: one row per file (input, output, status, error, ...)
* :mod:`.work`     one file -> one output (``.fcs`` or ``.npy`` tokens), never raising for bad input
* :mod:`.tokens`   ``.npy`` token files, the corpus token table (parquet), tokens back to ``.fcs``
* :mod:`.runner`   the run: skip what is done, code the rest, record every file, exit status
* :mod:`.ray_pool` files spread over Ray actors (one loaded model each), retried if one dies

Nothing here imports torch or ray at module level.
"""
