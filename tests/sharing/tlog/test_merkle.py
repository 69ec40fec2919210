"""The log's hashing and proofs against the RFC 6962/9162 reference vectors, and tiles against a whole tree."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sharing.tlog import merkle, note, tiles

# The Certificate Transparency reference leaves and the tree head for each size 1..8.
LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
CONSISTENCY = [
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip


def _reference_tree() -> merkle.MemoryTree:
    return merkle.MemoryTree([merkle.leaf_hash(leaf) for leaf in LEAVES])


def test_roots_are_the_reference_tree_heads():
    tree = _reference_tree()
    assert merkle.root_of([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [tree.root(size).hex() for size in range(1, 9)] == ROOTS


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_are_the_reference_ones_and_verify(index, size, path):
    tree = _reference_tree()
    proof = tree.inclusion(index, size)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(ROOTS[size - 1])
    assert merkle.verify_inclusion(index, size, tree.hashes[index], proof, root)
    assert not merkle.verify_inclusion(index + 1, size, tree.hashes[index], proof, root)
    assert not merkle.verify_inclusion(index, size, tree.hashes[index + 1], proof, root)
    assert not merkle.verify_inclusion(index, size // 2, tree.hashes[index], proof, root)
    assert not merkle.verify_inclusion(index, size, tree.hashes[index], proof[:-1], root)


@pytest.mark.parametrize(("first", "second", "path"), CONSISTENCY)
def test_consistency_proofs_are_the_reference_ones_and_verify(first, second, path):
    tree = _reference_tree()
    proof = tree.consistency(first, second)
    assert [p.hex() for p in proof] == path
    old, new = bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1])
    assert merkle.verify_consistency(first, second, old, new, proof)
    assert not merkle.verify_consistency(first, second, new, new, proof)
    assert not merkle.verify_consistency(first, second, old, old, proof)
    assert not merkle.verify_consistency(first, second, old, new, [*proof[:-1], bytes(32)])
    assert not merkle.verify_consistency(first, second, old, new, proof[1:])


def test_every_proof_of_every_small_tree_verifies():
    tree = merkle.MemoryTree([merkle.leaf_hash(bytes([i, i * 7 % 256])) for i in range(40)])
    for size in range(1, 41):
        root = tree.root(size)
        for index in range(size):
            assert merkle.verify_inclusion(index, size, tree.hashes[index], tree.inclusion(index, size), root)
        for first in range(1, size + 1):
            proof = tree.consistency(first, size)
            assert merkle.verify_consistency(first, size, tree.root(first), root, proof), (first, size)


def _tiled(hashes: list[bytes]) -> tuple[dict, tiles.TiledTree]:
    store: dict = {}
    size = 0
    # Appended in uneven steps, as the sequencer does, each step reading back only the partial tiles.
    for step in (1, 3, 250, 7, 1000, 2, 70000):
        new = hashes[size : size + step]
        if not new:
            break
        partial = {level: store[key] for level, key in tiles.partial_tiles(size).items()}
        store.update(tiles.tiles_append(size, partial, new))
        size += len(new)
    reads = []

    def reader(keys):
        reads.append(list(keys))
        return {key: store[key] for key in keys if key in store}

    tree = tiles.TiledTree(reader)
    tree.reads = reads
    return store, tree


def test_tiles_give_the_same_hashes_and_proofs_as_the_whole_tree():
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(66_000)]
    store, tiled = _tiled(hashes)
    assert {key: len(value) // 32 for key, value in store.items() if key[0] > 0} == {(1, 0): 256, (1, 1): 1, (2, 0): 1}
    whole = merkle.MemoryTree(hashes)
    for size in (1, 255, 256, 257, 65_536, 65_537, 66_000):
        assert tiled.hash_range(0, size) == whole.root(size)
    for index, size in ((0, 66_000), (65_999, 66_000), (12_345, 65_537), (256, 257)):
        fresh = tiles.TiledTree(lambda keys: {key: store[key] for key in keys if key in store})
        fresh.prefetch(lambda h, i=index, s=size: merkle.inclusion_path(i, s, h))
        assert merkle.inclusion_path(index, size, fresh.hash_range) == whole.inclusion(index, size)
    assert merkle.consistency_path(300, 66_000, tiled.hash_range) == whole.consistency(300, 66_000)


def test_a_prefetched_proof_reads_the_store_once():
    hashes = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(70_000)]
    _store, tree = _tiled(hashes)
    tree.prefetch(lambda h: merkle.inclusion_path(41_000, 70_000, h))
    merkle.inclusion_path(41_000, 70_000, tree.hash_range)
    assert len(tree.reads) == 1


@pytest.mark.parametrize(
    ("level", "index", "width", "path"),
    [
        (0, 1234067, 256, "0/x001/x234/067"),
        (1, 0, 256, "1/000"),
        (2, 5, 17, "2/005.p/17"),
        (0, 1000, 3, "0/x001/000.p/3"),
    ],
)
def test_tile_paths_follow_c2sp(level, index, width, path):
    assert tiles.tile_path(level, index, width) == path
    assert tiles.tile_path_parse(path) == (level, index, width)


@pytest.mark.parametrize("path", ["0/1", "0/x000/001", "0/001.p/256", "0/001.p/0", "0/001.p/01", "-1/000", "0/abc"])
def test_non_canonical_tile_paths_are_refused(path):
    assert tiles.tile_path_parse(path) is None


def test_a_signed_checkpoint_opens_with_its_verifier_key_only():
    key = Ed25519PrivateKey.generate()
    checkpoint = note.Checkpoint("example.test/log", 8, bytes.fromhex(ROOTS[7]))
    signed = note.note_sign(checkpoint.text(), name="example.test/log", private=key)
    assert signed.startswith("example.test/log\n8\nXcnaeacGWamtVZy3Ad7Zoqudgjqt")
    assert "\n\n\u2014 example.test/log " in signed
    verifier = note.verifier_parse(note.verifier_key("example.test/log", key.public_key()))
    assert note.checkpoint_open(signed, verifier, origin="example.test/log") == checkpoint
    other = note.verifier_parse(note.verifier_key("example.test/log", Ed25519PrivateKey.generate().public_key()))
    with pytest.raises(note.NoteError, match="no signature"):
        note.checkpoint_open(signed, other)
    forged = signed.replace("\n8\n", "\n9\n")
    with pytest.raises(note.NoteError, match="does not verify"):
        note.checkpoint_open(forged, verifier)


def test_the_verifier_key_is_the_signed_note_form():
    key = Ed25519PrivateKey.generate()
    text = note.verifier_key("log.example", key.public_key())
    name, kid, encoded = text.split("+", 2)
    raw = base64.b64decode(encoded)
    assert name == "log.example" and raw[0] == 1 and len(raw) == 33
    import hashlib

    assert kid == hashlib.sha256(b"log.example\n\x01" + raw[1:]).digest()[:4].hex()
    with pytest.raises(note.NoteError):
        note.verifier_parse(text.replace(kid, "00000000"))
