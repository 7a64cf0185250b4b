"""Add detail's tiles: the whole picture covered at full resolution, neighbours cross-faded."""

from __future__ import annotations

import numpy as np

from inference.restoration_models.detail import add_detail_in_tiles, plan_detail_tiles


def test_tiles_cover_the_picture_with_overlap_at_the_budget():
    tiles = plan_detail_tiles(1200, 800, 512)
    covered = np.zeros((800, 1200), int)
    for x, y, w, h in tiles:
        assert w <= 512 and h <= 512
        covered[y:y + h, x:x + w] += 1
    assert covered.min() >= 1
    assert len(tiles) == 6 and (covered >= 2).any()
    assert plan_detail_tiles(300, 200, 512) == [(0, 0, 300, 200)]


def test_each_tile_fades_into_its_neighbours():
    image = np.full((300, 700, 3), 100, np.uint8)
    tiles = plan_detail_tiles(700, 300, 512, overlap=64)
    seen = []

    def generate(tile, seed, box):  # each tile a flat shade of its own: where the seams are is visible
        seen.append((box, seed))
        return np.full((tile.height, tile.width, 3), 40 + 60 * len(seen), np.uint8)

    out = add_detail_in_tiles(image, tiles, generate, lambda: None, seed=5)
    assert [b for b, _ in seen] == tiles and len({s for _, s in seen}) == len(tiles)
    row = out[150, :, 0].astype(int)
    assert row[0] == 100 and row[-1] == 160  # each tile's own shade away from the overlap
    assert np.abs(np.diff(row)).max() <= 2  # across the overlap a gradual fade, no step


def test_a_gray_picture_stays_gray():
    gray = np.repeat((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)[..., None], 3, axis=2)

    def generate(tile, seed, box):
        rgb = np.array(tile)
        rgb[..., 0] //= 2  # a model that adds colour
        return rgb

    out = add_detail_in_tiles(gray, plan_detail_tiles(64, 64, 512), generate, lambda: None)
    assert np.array_equal(out[..., 0], out[..., 2])
