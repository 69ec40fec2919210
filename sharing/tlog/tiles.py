"""Complete-subtree hashes kept as C2SP tlog-tiles: tiles of height 8, 256 hashes of 32 bytes.

The tile at level L, index N holds the hashes of the tree's nodes at height 8·L numbered
256·N … 256·N + W − 1 (level 0: the leaf hashes). A tile of width W < 256 is partial; a full tile
never changes again. Any complete subtree's hash is its tile entries hashed up at most 7 levels,
so a proof reads one tile per level (three for ten million leaves), never the log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from sharing.tlog.merkle import HashRange, node_hash, split

HEIGHT = 8
WIDTH = 1 << HEIGHT
HASH_SIZE = 32

TileKey = tuple[int, int]  # (level, index)
TileReader = Callable[[Iterable[TileKey]], dict[TileKey, bytes]]


def tile_path(level: int, index: int, width: int = WIDTH) -> str:
    """``<L>/<N>[.p/<W>]`` with N in 3-digit groups, all but the last prefixed ``x`` (x001/x234/067)."""
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = f"{level}/" + "/".join([f"x{group}" for group in groups[:-1]] + [groups[-1]])
    return path if width == WIDTH else f"{path}.p/{width}"


_TILE_PATH = re.compile(r"(0|[1-9][0-9]{0,1})/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([1-9][0-9]{0,2}))?")


def tile_path_parse(path: str) -> tuple[int, int, int] | None:
    """(level, index, width) of a tile path, or None when it is not one (non-canonical forms included)."""
    match = _TILE_PATH.fullmatch(path)
    if match is None:
        return None
    level = int(match[1])
    index = int("".join(group.lstrip("x") for group in match[2].split("/")))
    width = int(match[3]) if match[3] else WIDTH
    if width > WIDTH or (match[3] and width == WIDTH) or tile_path(level, index, width) != path:
        return None
    return level, index, width


def subtree_root(hashes: bytes) -> bytes:
    """The root of a complete subtree given its 2^k bottom hashes, concatenated."""
    level = [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def _nodes_of_range(start: int, end: int, out: list[tuple[int, int]]) -> None:
    """The complete subtrees (height, index) whose hashes make MTH(D[start:end]), left to right."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        out.append((n.bit_length() - 1, start >> (n.bit_length() - 1)))
        return
    k = split(n)
    _nodes_of_range(start, start + k, out)
    _nodes_of_range(start + k, end, out)


def _tile_of_node(height: int, index: int) -> tuple[TileKey, int, int]:
    """The tile holding a node's bottom hashes, the first entry's offset and how many entries."""
    level, up = divmod(height, HEIGHT)
    first = index << up
    return (level, first >> HEIGHT), first & (WIDTH - 1), 1 << up


class TiledTree:
    """Subtree hashes read from tiles, each tile read once, through ``reader`` (one call per batch of keys).

    ``prefetch(calls)`` runs the proof generation once without hashes to learn which tiles it reads,
    so that a proof costs one read of the store.
    """

    def __init__(self, reader: TileReader):
        self._reader = reader
        self._tiles: dict[TileKey, bytes] = {}

    def _node(self, height: int, index: int) -> bytes:
        key, offset, count = _tile_of_node(height, index)
        if key not in self._tiles:
            self._tiles.update(self._reader([key]))
        tile = self._tiles.get(key, b"")
        piece = tile[offset * HASH_SIZE : (offset + count) * HASH_SIZE]
        if len(piece) != count * HASH_SIZE:
            raise LookupError(f"tile {key} does not hold node {height}/{index}")
        return piece if count == 1 else subtree_root(piece)

    def hash_range(self, start: int, end: int) -> bytes:
        nodes: list[tuple[int, int]] = []
        _nodes_of_range(start, end, nodes)
        hashes = [self._node(height, index) for height, index in nodes]
        return _fold(start, end, iter(hashes))

    def prefetch(self, plan: Callable[[HashRange], object], *, reader: TileReader | None = None) -> None:
        """Read the tiles ``plan`` will need in one call of the tree's reader, or of ``reader`` when given:
        that one is called even when every tile is already held (it may check and record the read too)."""
        wanted: set[TileKey] = set()

        def record(start: int, end: int) -> bytes:
            nodes: list[tuple[int, int]] = []
            _nodes_of_range(start, end, nodes)
            wanted.update(_tile_of_node(height, index)[0] for height, index in nodes)
            return b"\0" * HASH_SIZE

        plan(record)
        missing = wanted - self._tiles.keys()
        if reader is not None:
            self._tiles.update(reader(sorted(missing)))
        elif missing:
            self._tiles.update(self._reader(sorted(missing)))


def _fold(start: int, end: int, hashes) -> bytes:
    """Combine the complete subtrees of ``_nodes_of_range`` in the RFC's order."""
    n = end - start
    if n & (n - 1) == 0 and start % n == 0:
        return next(hashes)
    k = split(n)
    left = _fold(start, start + k, hashes)
    return node_hash(left, _fold(start + k, end, hashes))


def tiles_append(size: int, partial: dict[int, bytes], new: list[bytes]) -> dict[TileKey, bytes]:
    """Append leaf hashes to a tree of ``size`` leaves: every tile that changed, with its whole content.

    ``partial`` maps each level to the content of its rightmost, not yet full tile (what
    ``partial_tiles`` names); full tiles are never read again.
    """
    changed: dict[TileKey, bytes] = {}
    level, count, incoming = 0, size, new
    while incoming:
        index = count >> HEIGHT
        buffer = bytearray(partial.get(level, b""))
        if len(buffer) != (count & (WIDTH - 1)) * HASH_SIZE:
            raise ValueError(f"level {level}: partial tile of {len(buffer) // HASH_SIZE}, expected {count % WIDTH}")
        promoted: list[bytes] = []
        for value in incoming:
            buffer += value
            if len(buffer) == WIDTH * HASH_SIZE:
                changed[(level, index)] = bytes(buffer)
                promoted.append(subtree_root(bytes(buffer)))
                buffer, index = bytearray(), index + 1
        if buffer:
            changed[(level, index)] = bytes(buffer)
        # The next level holds one entry per full tile of this one.
        count, incoming, level = count >> HEIGHT, promoted, level + 1
    return changed


def partial_tiles(size: int) -> dict[int, TileKey]:
    """Per level, the key of the rightmost partial tile of a tree of ``size`` leaves (levels with one)."""
    keys: dict[int, TileKey] = {}
    level, count = 0, size
    while count:
        if count & (WIDTH - 1):
            keys[level] = (level, count >> HEIGHT)
        count >>= HEIGHT
        level += 1
    return keys


def tile_width(level: int, index: int, size: int) -> int:
    """How many entries the tile has in a tree of ``size`` leaves (0: none yet)."""
    entries = size >> (HEIGHT * level)
    return max(0, min(WIDTH, entries - index * WIDTH))
