"""MediaPipe face-mesh topology: triangles and named vertex groups, derived at run time.

MediaPipe ships its tessellation only as a set of edges (`FACEMESH_TESSELATION`), so we recover
the faces as the 3-cycles of that graph. Two 3-cycles are not faces (three edges that happen to
close a loop around a fan); they show up as the only cycles whose every edge is shared by three
cycles, and are dropped. What remains is a manifold disc with three holes (mouth, two eyes):
852 triangles, 468 vertices. Orientation is made consistent by walking across shared edges.

Named groups come from the other `FACEMESH_*` constants (lips, eyes, brows, oval, nose), split
into ordered upper/lower contours at corners we choose (MediaPipe indices, subject's left = +x).
Triangles are cached as `.npz` under `$TALKINGHEAD_CACHE` (default ~/.cache/talkinghead) so a
process without mediapipe's import cost can still render; nothing third-party is committed.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import TalkingHeadError

NUM_VERTICES = 468
NUM_WITH_IRISES = 478
_CACHE_VERSION = 1

# Corners where closed contours are split, and one vertex that marks the upper path.
# Right = subject's right (image left, -x); all paths run from the subject's right to left
# (lips) or from the outer to the inner corner (eyes).
_SPLITS = {
    "lips_outer": (61, 291, 0),
    "lips_inner": (78, 308, 13),
    "right_eye": (33, 133, 159),
    "left_eye": (263, 362, 386),
}
# Landmarks with a fixed meaning that the rig and measurements refer to by name.
LANDMARKS = {
    "upper_lip_inner": 13, "lower_lip_inner": 14, "upper_lip_outer": 0, "lower_lip_outer": 17,
    "mouth_right": 61, "mouth_left": 291, "right_eye_outer": 33, "left_eye_outer": 263,
    "right_eye_inner": 133, "left_eye_inner": 362, "nose_tip": 1, "chin": 152, "forehead": 10,
}


def cache_dir() -> Path:
    """Where derived geometry is cached: $TALKINGHEAD_CACHE or ~/.cache/talkinghead."""
    return Path(os.environ.get("TALKINGHEAD_CACHE", Path.home() / ".cache" / "talkinghead"))


def _connections():
    try:
        import mediapipe as mp
    except ImportError as exc:  # pragma: no cover - mediapipe is a hard dependency
        raise TalkingHeadError(f"the face-mesh topology needs mediapipe: {exc}") from None
    return mp.solutions.face_mesh_connections


def _three_cycles(edges: set[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Every triangle (sorted vertex triple) of the undirected graph."""
    adj: dict[int, set[int]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    found = set()
    for a, b in edges:
        for c in adj[a] & adj[b]:
            found.add(tuple(sorted((a, b, c))))
    return sorted(found)


def _edge_keys(tri) -> list[tuple[int, int]]:
    a, b, c = tri
    return [tuple(sorted(e)) for e in ((a, b), (b, c), (c, a))]


def _drop_non_faces(cycles: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Remove 3-cycles all of whose edges are over-shared (used by more than two cycles)."""
    use = Counter(e for t in cycles for e in _edge_keys(t))
    return [t for t in cycles if not all(use[e] > 2 for e in _edge_keys(t))]


def _orient(tris: list[tuple[int, int, int]], directed: set[tuple[int, int]]) -> np.ndarray:
    """Consistent winding: neighbours traverse a shared edge in opposite directions.

    The seed triangle takes the winding MediaPipe's directed edges suggest; the global sign is
    fixed later against geometry (`orient_towards`).
    """
    by_edge: dict[tuple[int, int], list[int]] = {}
    for i, t in enumerate(tris):
        for e in _edge_keys(t):
            by_edge.setdefault(e, []).append(i)
    out: list[tuple[int, int, int] | None] = [None] * len(tris)
    for seed in range(len(tris)):
        if out[seed] is not None:
            continue
        a, b, c = tris[seed]
        out[seed] = (a, b, c) if (a, b) in directed else (a, c, b)
        queue = deque([seed])
        while queue:
            i = queue.popleft()
            x, y, z = out[i]
            for u, v in ((x, y), (y, z), (z, x)):
                for j in by_edge[tuple(sorted((u, v)))]:
                    if out[j] is None:
                        p, q, r = tris[j]
                        w = ({p, q, r} - {u, v}).pop()
                        out[j] = (v, u, w)  # traverse the shared edge the other way
                        queue.append(j)
    return np.array(out, dtype=np.int32)


def _derive_triangles() -> np.ndarray:
    conn = _connections()
    directed = set(conn.FACEMESH_TESSELATION)
    undirected = {tuple(sorted(e)) for e in directed}
    return _orient(_drop_non_faces(_three_cycles(undirected)), directed)


@lru_cache(maxsize=1)
def triangles() -> np.ndarray:
    """(F, 3) int32 faces of the 468-vertex mesh, consistently wound (cached on disk)."""
    path = cache_dir() / f"facemesh_topology_v{_CACHE_VERSION}.npz"
    if path.is_file():
        try:
            with np.load(path) as data:
                return data["triangles"]
        except Exception:  # a corrupt cache is rebuilt, not fatal
            pass
    tris = _derive_triangles()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, triangles=tris)
        os.replace(tmp, path)
    except OSError:
        pass  # read-only home: run without a cache
    return tris


def orient_towards(tris: np.ndarray, vertices: np.ndarray, axis=(0.0, 0.0, 1.0)) -> np.ndarray:
    """Flip all faces if most normals point away from `axis` (the viewer, for a face)."""
    v = np.asarray(vertices, dtype=np.float64)
    normals = np.cross(v[tris[:, 1]] - v[tris[:, 0]], v[tris[:, 2]] - v[tris[:, 0]])
    return tris if (normals @ np.asarray(axis)).sum() >= 0 else tris[:, [0, 2, 1]]


def boundary_loops(tris: np.ndarray) -> list[np.ndarray]:
    """Closed boundary loops (outer oval, inner lips, two eyes), longest first."""
    use = Counter(e for t in tris.tolist() for e in _edge_keys(t))
    nxt: dict[int, list[int]] = {}
    for a, b in (e for e, n in use.items() if n == 1):
        nxt.setdefault(a, []).append(b)
        nxt.setdefault(b, []).append(a)
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, prev, cur = [start], None, start
        seen.add(start)
        while True:
            step = [n for n in nxt[cur] if n != prev]
            prev, cur = cur, step[0]
            if cur == start:
                break
            loop.append(cur)
            seen.add(cur)
        loops.append(np.array(loop))
    return sorted(loops, key=len, reverse=True)


def _path(edges, start: int, end: int, through: int) -> list[int]:
    """The path start -> end along a closed contour that visits `through`."""
    adj: dict[int, list[int]] = {}
    for a, b in edges:
        adj.setdefault(a, []).append(b)
        adj.setdefault(b, []).append(a)
    for first in adj[start]:
        path, prev, cur = [start], start, first
        while cur != end:
            path.append(cur)
            prev, cur = cur, next(n for n in adj[cur] if n != prev)
        path.append(end)
        if through in path:
            return path
    raise TalkingHeadError(f"no contour path {start}->{end} through {through}")  # pragma: no cover


def _split(edges, name: str) -> tuple[list[int], list[int]]:
    start, end, upper_mark = _SPLITS[name]
    upper = _path(edges, start, end, upper_mark)
    lower_mark = next(v for e in edges for v in e if v not in upper)
    return upper, _path(edges, start, end, lower_mark)


@lru_cache(maxsize=1)
def groups() -> dict[str, np.ndarray]:
    """Named index groups; contours are ordered (lips: right->left, eyes: outer->inner)."""
    conn = _connections()
    lips = conn.FACEMESH_LIPS
    outer_edges = [e for e in lips if e[0] in _outer_lip_vertices(lips)]
    inner_edges = [e for e in lips if e not in outer_edges]
    g: dict[str, list[int]] = {}
    g["upper_lip_outer"], g["lower_lip_outer"] = _split(outer_edges, "lips_outer")
    g["upper_lip_inner"], g["lower_lip_inner"] = _split(inner_edges, "lips_inner")
    g["right_eye_upper"], g["right_eye_lower"] = _split(conn.FACEMESH_RIGHT_EYE, "right_eye")
    g["left_eye_upper"], g["left_eye_lower"] = _split(conn.FACEMESH_LEFT_EYE, "left_eye")
    for side, edges in (("right", conn.FACEMESH_RIGHT_EYEBROW), ("left", conn.FACEMESH_LEFT_EYEBROW)):
        g[f"{side}_brow"] = sorted({v for e in edges for v in e})
    g["lips"] = sorted({v for e in lips for v in e})
    g["right_eye"] = sorted({v for e in conn.FACEMESH_RIGHT_EYE for v in e})
    g["left_eye"] = sorted({v for e in conn.FACEMESH_LEFT_EYE for v in e})
    g["face_oval"] = sorted({v for e in conn.FACEMESH_FACE_OVAL for v in e})
    g["nose"] = sorted({v for e in conn.FACEMESH_NOSE for v in e})
    g["irises"] = sorted({v for e in conn.FACEMESH_IRISES for v in e})
    return {k: np.array(v, dtype=np.int64) for k, v in g.items()}


def _outer_lip_vertices(lips) -> set[int]:
    """The lips edge set holds two loops; the outer one contains the corner 61."""
    adj: dict[int, set[int]] = {}
    for a, b in lips:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    seen, stack = set(), [_SPLITS["lips_outer"][0]]
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(adj[v] - seen)
    return seen
