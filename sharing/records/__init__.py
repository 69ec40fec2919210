"""Records and batches: submission, idempotency, matching into per-token summaries, open loans (exposure).

Owns ``sharing_batch``, ``sharing_record`` (and its history), ``sharing_recordidentifier``,
``sharing_tokensummary``, ``sharing_dirtytoken``, ``sharing_idempotencykey``. Imports ``common``, ``tokens``,
``tlog``, ``alerts``, ``registers`` (a loan names its origination partner). Matching reads
``sharing_disputetoken`` for the summary's statement flag (allowed in tests/test_layout.py).

Tells later packages through ``signals.summaries_recomputed`` (monitoring's watch events).
"""
