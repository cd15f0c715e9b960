"""The audit's measuring rules, called directly on a real photograph and covers drawn on it: what counts as
unchanged, how much of a face shows, where the covers are and which lie on no face, and what the report adds up
and says (:mod:`facemoji.audit.ghosts`, :mod:`facemoji.audit.report`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

from conftest import SHARED
from facemoji.audit.ghosts import GHOST_OVERLAP, cover_regions, on_a_face, showing_share, unchanged_mask
from facemoji.audit.report import AuditReport, Finding, FrameCounts, Ghost
from facemoji.overlay.cover import cover_face


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[:, :, :3])


def test_unchanged_allows_the_tolerance_and_no_more(photo: np.ndarray) -> None:
    out = photo.astype(np.int16)
    out[100:200, 100:200] += 24
    out[300:400, 300:400] += 26
    out = np.clip(out, 0, 255).astype(np.uint8)
    mask = unchanged_mask(photo, out)
    assert mask[150, 150] == (np.abs(out[149:152, 149:152].astype(int) - photo[149:152, 149:152]).max() <= 24)
    assert not mask[350, 350] or (photo[349:352, 349:352] > 229).any()
    assert unchanged_mask(photo, out, tolerance=30)[350, 350]
    assert mask[20, 20] and mask.shape == photo.shape[:2] and mask.dtype == bool


def test_showing_share_of_a_box_clipped_to_the_picture() -> None:
    unchanged = np.zeros((100, 200), bool)
    unchanged[:, :50] = True
    assert showing_share(unchanged, (0, 0, 100, 100)) == pytest.approx(0.5)
    assert showing_share(unchanged, (-50, -10, 50, 50)) == pytest.approx(1.0)  # clipped at the left and top
    assert showing_share(unchanged, (150, 50, 250, 150)) == pytest.approx(0.0)
    assert showing_share(unchanged, (250, 0, 300, 50)) == 0.0  # wholly outside
    assert showing_share(unchanged, (10, 10, 10, 40)) == 0.0  # no width
    assert showing_share(unchanged, (49.6, 0, 50.4, 100)) == 0.0  # rounds to no width


def test_covers_are_found_from_the_pixels_largest_first(photo: np.ndarray) -> None:
    out = photo.copy()
    cover_face(out, (150.0, 60.0, 310.0, 240.0), "solid")  # a large disc
    cover_face(out, (400.0, 400.0, 440.0, 440.0), "solid")  # a small one
    regions = cover_regions(unchanged_mask(photo, out))
    assert len(regions) == 2
    (big, big_area), (small, small_area) = regions
    assert big_area > small_area
    assert big[0] <= 150 and big[2] >= 310 and big[1] <= 60 and big[3] >= 240
    assert 380 <= small[0] and small[2] <= 460 and 380 <= small[1] and small[3] <= 460
    assert cover_regions(np.ones((50, 50), bool)) == []


def test_specks_and_small_changes_are_not_covers(photo: np.ndarray) -> None:
    out = photo.copy()
    out[300:309, 300:309] = 0  # 81 pixels: under (24 / 2)^2 = 144
    assert cover_regions(unchanged_mask(photo, out)) == []
    out[300:314, 300:314] = 0  # 196 pixels: a cover at min_face 24, not at 40
    assert len(cover_regions(unchanged_mask(photo, out))) == 1
    assert cover_regions(unchanged_mask(photo, out), min_face=40) == []


def test_a_cover_lies_on_a_face_when_it_shares_more_than_a_fifth_of_the_smaller_box() -> None:
    assert GHOST_OVERLAP == 0.2
    face = (0, 0, 100, 100)
    assert on_a_face((79, 0, 179, 100), [face])  # 21 % of the smaller box
    assert not on_a_face((81, 0, 181, 100), [face])  # 19 %
    assert on_a_face((90, 0, 190, 100), [face], overlap=0.05)
    assert not on_a_face((10, 10, 20, 20), [])
    assert on_a_face((10, 10, 20, 20), [(500, 500, 600, 600), face])  # any face will do


def report(**kw) -> AuditReport:
    return AuditReport("in.mp4", "out.mp4", "video", (640, 360), **kw)


def test_the_report_adds_frames_up() -> None:
    r = report(frames=2)
    r.add(FrameCounts(0, faces=3, showing=1, more_than_half=1, partly=1, covers=2, ghosts=1),
          [Finding(0, 0.0, (1, 2, 3, 4), 0.7, "yunet", 0.9)], [Ghost(0, 0.0, (5, 6, 7, 8), 40)])
    r.add(FrameCounts(1, faces=2, covers=2), [], [])
    assert (r.faces, r.more_than_half, r.partly, r.covers, r.ghosts) == (5, 1, 1, 4, 1)
    assert r.ghost_share == pytest.approx(0.25) and not r.clean and len(r.per_frame) == 2
    d = r.to_dict()
    assert (d["width"], d["height"], d["faces"], d["showing"], d["ghosts"], d["ghost_share"]) == (640, 360, 5, 1, 1,
                                                                                                  0.25)
    assert d["findings"][0]["box"] == {"x": 1, "y": 2, "width": 2, "height": 2}
    assert d["ghost_findings"][0]["area"] == 40


def test_ghost_share_without_covers_and_the_ghost_limit() -> None:
    r = report()
    assert r.ghost_share == 0.0 and r.clean and not r.too_many_ghosts
    r.add(FrameCounts(0, covers=10, ghosts=1), [], [Ghost(0, 0.0, (0, 0, 1, 1), 1)])
    assert not r.too_many_ghosts  # no limit set
    r.max_ghosts = 0.1
    assert not r.too_many_ghosts  # exactly the limit
    r.max_ghosts = 0.09
    assert r.too_many_ghosts


def test_the_summary_says_what_shows_and_where() -> None:
    r = report(frames=3)
    r.add(FrameCounts(0, faces=4, covers=4), [], [])
    assert r.summary() == ("audit of out.mp4 against in.mp4: 3 frames, 4 face(s) found in the original, none showing "
                           "in the output; 0 more than half showing, 0 partly showing; 4 cover(s) in the output, 0 on "
                           "no face (0%)")
    r.add(FrameCounts(2, faces=4, covers=3, ghosts=1), [Finding(2, 0.1, (0, 0, 9, 9), 0.4, "yunet", 0.8),
                                                        Finding(2, 0.1, (0, 0, 9, 9), 0.8, "yunet", 0.8)],
          [Ghost(2, 0.1, (0, 0, 9, 9), 9)])
    s = r.summary()
    assert "2 showing in the output (25% of them; worst 80% of the face at frame 2)" in s
    assert s.endswith("7 cover(s) in the output, 1 on no face (14%)")
    one = AuditReport("a.jpg", "b.jpg", "image", (10, 10), frames=1)
    assert one.summary().startswith("audit of b.jpg against a.jpg: image, 0 face(s)")
    assert report(frames=1).summary().startswith("audit of out.mp4 against in.mp4: 1 frame, ")


class OneFace:
    """Stands in for the audit's detectors: the original always has one face, at ``box``."""

    def __init__(self, box: tuple[int, int, int, int]) -> None:
        self.box = box

    def find(self, image: np.ndarray):
        from facemoji.audit.faces import FaceHit

        return [FaceHit(self.box, "yunet", 0.9)], []

    def haar_around(self, image: np.ndarray, box) -> list:
        return []


def test_exactly_half_showing_is_not_more_than_half() -> None:
    from facemoji.audit import Auditor

    original = np.full((200, 200, 3), 120, np.uint8)
    output = original.copy()
    output[50:] += 60  # rows 50 and on changed; after the 3x3 blur row 49 is still within 24 levels
    auditor = Auditor(max_showing=0.25)
    auditor.finder = OneFace((0, 0, 100, 100))
    counts, findings, _ = auditor.frame(original, output)
    assert findings[0].showing == pytest.approx(0.5)
    assert counts.more_than_half == 0 and counts.showing == 1
    output[49] += 60
    counts, _, _ = auditor.frame(original, output)
    assert counts.more_than_half == 0
    output[49] -= 60
    output[50] -= 60
    counts, _, _ = auditor.frame(original, output)
    assert counts.more_than_half == 1  # 51 rows of 100 unchanged


def test_the_documented_tolerance_is_the_one_used() -> None:
    import re

    from facemoji.audit.report import DEFAULT_TOLERANCE

    doc = (Path(__file__).resolve().parents[1] / "docs" / "coverage.md").read_text()
    assert int(re.search(r"`--tolerance`, (\d+) grey\s+levels by default", doc).group(1)) == DEFAULT_TOLERANCE


def test_an_image_against_a_video_names_the_image(tmp_path) -> None:
    from PIL import Image

    from facemoji.audit import audit
    from facemoji.errors import InputError

    photo = tmp_path / "p.jpg"
    Image.fromarray(skdata.astronaut()).save(photo)
    clip = sorted((SHARED / "clips").glob("*.mp4"))[0]
    for a, b in ((photo, clip), (clip, photo)):
        with pytest.raises(InputError) as e:
            audit(a, b)
        assert str(e.value).startswith(f"{photo}: is an image while the other file is a video")


def test_haar_looks_around_a_face_within_half_its_size(photo: np.ndarray) -> None:
    import cv2

    from facemoji.audit.faces import FaceFinder

    face = cv2.resize(photo[30:200, 150:300], (120, 136), interpolation=cv2.INTER_AREA)  # the astronaut's head
    finder = FaceFinder("both")
    alone = np.full((260, 700, 3), 200, np.uint8)
    alone[20:156, 10:130] = face
    found = [h.box for h in finder.haar.find(alone, min_size=24)]
    assert found, "Haar finds the face"
    box = max(found, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
    side = max(box[2] - box[0], box[3] - box[1])
    # the same face again, starting just inside the window's right edge (half a face beyond the box)
    x = int(box[2] + side / 2) - 4
    canvas = alone.copy()
    canvas[20:156, x : x + 120] = face
    assert any(h.box[0] >= x - 10 for h in finder.haar.find(canvas, min_size=24)), "both faces are findable"
    hits = finder.haar_around(canvas, box)
    assert hits, "the first face is found around its box"
    assert all(h[2] <= box[2] + side / 2 + 1 for h in hits)  # never the second face
