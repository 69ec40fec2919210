"""Merkle tree hashing, audit paths and their verification, exactly as RFC 9162 §2.1.

A tree is read through ``hash_range(start, end)``, the Merkle Tree Hash of leaves ``[start, end)``
(MTH(D[start:end]) in the RFC); the proofs ask only for subtrees that start on a multiple of a power
of two at least their size, as the RFC's recursion does, so a store of complete-subtree hashes
(``sharing.tlog.tiles``) answers them without reading the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HashRange = Callable[[int, int], bytes]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    """HASH(0x00 || leaf)."""
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where the RFC splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes (or of equal-height subtree hashes), bottom-up in O(n)."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        # Pairing from the left and carrying an odd last node up is the RFC's split, level by level.
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def inclusion_path(index: int, size: int, hash_range: HashRange) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1, leaf-side first."""
    if not 0 <= index < size:
        raise ValueError("index out of range")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            path.append(hash_range(start + k, end))
            end = start + k
        else:
            path.append(hash_range(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(first: int, second: int, hash_range: HashRange) -> list[bytes]:
    """PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1."""
    if not 0 < first <= second:
        raise ValueError("sizes out of range")
    proof: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(hash_range(start, end))
            break
        k = split(n)
        if m <= k:
            proof.append(hash_range(start + k, end))
            end = start + k
        else:
            proof.append(hash_range(start, start + k))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2), or None when the proof is malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    return root_from_inclusion(index, size, leaf, proof) == root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2; a tree is consistent with itself by an empty proof, and the empty tree with any."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first tree is a complete subtree of the second
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


class MemoryTree:
    """A whole tree in memory, from its leaf hashes: for verifiers that recompute a log, and for tests."""

    def __init__(self, hashes: Sequence[bytes] = ()):
        self.hashes = list(hashes)

    def hash_range(self, start: int, end: int) -> bytes:
        return root_of(self.hashes[start:end])

    def root(self, size: int | None = None) -> bytes:
        return self.hash_range(0, len(self.hashes) if size is None else size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return inclusion_path(index, size, self.hash_range)

    def consistency(self, first: int, second: int) -> list[bytes]:
        return consistency_path(first, second, self.hash_range)
