"""The verifiable log of record changes ("log" in URLs, commands and the CLI): Merkle tree hashing and proofs
(RFC 9162 §2.1), tiles (C2SP tlog-tiles), checkpoints and signed notes (C2SP tlog-checkpoint, signed-note),
the leaf encoding (docs/transparency-log.md), the sequencer and the API.

Owns ``sharing_logpending``, ``sharing_logleaf``, ``sharing_logtile``, ``sharing_logstate``,
``sharing_logcheckpoint``. Imports ``common``. ``leaf``, ``merkle``, ``note`` and ``tiles`` are Django-free:
the ``riskshare log verify`` command runs them on a member's machine.
"""
