"""The verifiable log of record changes: Merkle tree hashing and proofs (RFC 9162 §2.1), tiles (C2SP
tlog-tiles), checkpoints and signed notes (C2SP tlog-checkpoint, signed-note), and the leaf encoding
(docs/transparency-log.md).

No Django here: the ``riskshare log verify`` command runs these modules on a member's machine.
"""
