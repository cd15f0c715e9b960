"""Every data form users have, written from real FER2013 rows, read back exactly; bad files named."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from facemoji.labels import EMOTIONS
from facemoji.train.data import DataError, ferplus_soft_labels, load_dataset, read_csv


@pytest.fixture(scope="module")
def rows(fer_public):
    """FER2013 PublicTest faces: three of each class as "training" rows, one of each (other rows) as "validation"."""
    x, y = fer_public["x"], fer_public["y"]
    pick_t = np.concatenate([np.flatnonzero(y == k)[:3] for k in range(7)])
    pick_v = np.array([np.flatnonzero(y == k)[3] for k in range(7)])
    rng = np.random.default_rng(0)
    pick_t, pick_v = rng.permutation(pick_t), rng.permutation(pick_v)  # classes interleaved, as in the real file
    assert len({x[i].tobytes() for i in np.concatenate([pick_t, pick_v])}) == 28  # every face distinct
    return x[pick_t], y[pick_t], x[pick_v], y[pick_v]


def assert_pairs(got_x: np.ndarray, got_y: np.ndarray, want_x: np.ndarray, want_y: np.ndarray,
                 lossy: bool = False) -> None:
    """Every image read back carries the label it was written with, and every written image is read once."""
    assert got_x.shape == want_x.shape and got_x.dtype == np.uint8 and got_y.dtype == np.int64
    flat = want_x.reshape(len(want_x), -1).astype(np.int16)
    seen = []
    for img, label in zip(got_x, got_y, strict=True):
        d = np.abs(flat - img.reshape(1, -1)).mean(1)
        j = int(np.argmin(d))
        assert d[j] <= (4.0 if lossy else 0.0), f"image not among those written (nearest differs by {d[j]:.1f})"
        assert label == want_y[j], f"an image of class {want_y[j]} ({EMOTIONS[want_y[j]]}) read with label {label}"
        seen.append(j)
    assert sorted(seen) == list(range(len(want_x)))


def write_kaggle_csv(path, parts):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        for x, y, usage in parts:
            for img, label in zip(x, y, strict=True):
                w.writerow([int(label), " ".join(map(str, img.ravel())), usage])


def test_kaggle_csv_split_by_usage(tmp_path, rows):
    xt, yt, xv, yv = rows
    p = tmp_path / "fer2013.csv"
    # the three usages interleaved row by row, as a shuffled file would have them
    parts = [(xt[i : i + 1], yt[i : i + 1], "Training") for i in range(len(yt))]
    for i in range(len(yv)):
        parts.insert(3 * i + 1, (xv[i : i + 1], yv[i : i + 1], "PublicTest"))
    parts.insert(5, (xv[:3], yv[:3], "PrivateTest"))
    write_kaggle_csv(p, parts)
    train, val, test = (load_dataset(p, s) for s in ("train", "PublicTest", "test"))
    assert_pairs(train.x, train.y, xt, yt)
    assert_pairs(val.x, val.y, xv, yv)
    assert_pairs(test.x, test.y, xv[:3], yv[:3])
    assert (train.x == xt).all() and (train.y == yt).all()  # file order kept
    assert set(read_csv(p)) == {"train", "val", "test"}


def test_original_design_split_csvs(tmp_path, rows):
    xt, yt, xv, yv = rows
    for name, xs, ys in (("train.csv", xt, yt), ("test.csv", xv, yv)):
        with open(tmp_path / name, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["emotion", "pixels"])
            for img, label in zip(xs, ys, strict=True):
                w.writerow([label, " ".join(map(str, img.ravel()))])
    ds = load_dataset(tmp_path / "train.csv")
    assert_pairs(ds.x, ds.y, xt, yt)
    assert (ds.x == xt).all() and (ds.y == yt).all()
    ds = load_dataset(tmp_path / "test.csv", "val")  # a split CSV has one split: the name asked for is ignored
    assert_pairs(ds.x, ds.y, xv, yv)


@pytest.mark.parametrize("naming", ["digits", "names", "upper"])
def test_image_folders_per_class(tmp_path, rows, naming):
    xt, yt, xv, yv = rows
    for split, xs, ys in (("train", xt, yt), ("val", xv, yv)):
        for i, (img, label) in enumerate(zip(xs, ys, strict=True)):
            name = {"digits": str(label), "names": EMOTIONS[label], "upper": EMOTIONS[label].upper()}[naming]
            d = tmp_path / split / name
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(d / f"{i:05d}.png")
    train = load_dataset(tmp_path, "train")
    assert_pairs(train.x, train.y, xt, yt)
    assert_pairs(load_dataset(tmp_path, "val").x, load_dataset(tmp_path, "val").y, xv, yv)
    val = load_dataset(tmp_path / "val")  # the split folder itself
    assert_pairs(val.x, val.y, xv, yv)


def test_folders_with_only_some_classes_keep_their_labels(tmp_path, rows):
    """Folders for neutral and surprise only: labels come from the names, not from the folders' order."""
    xt, yt, _, _ = rows
    keep = np.isin(yt, [EMOTIONS.index("neutral"), EMOTIONS.index("surprise")])
    for i, (img, label) in enumerate(zip(xt[keep], yt[keep], strict=True)):
        (tmp_path / EMOTIONS[label]).mkdir(exist_ok=True)
        Image.fromarray(img).save(tmp_path / EMOTIONS[label] / f"{i:05d}.png")
    ds = load_dataset(tmp_path)
    assert_pairs(ds.x, ds.y, xt[keep], yt[keep])


def test_jpeg_folder_like_the_original_design(tmp_path, rows):
    xt, yt, _, _ = rows
    for i, (img, label) in enumerate(zip(xt, yt, strict=True)):
        (tmp_path / str(label)).mkdir(exist_ok=True)
        Image.fromarray(img).save(tmp_path / str(label) / f"{i:05d}.jpg", quality=95)
    ds = load_dataset(tmp_path)
    assert ds.x.shape[1:] == (48, 48)
    assert_pairs(ds.x, ds.y, xt, yt, lossy=True)


@pytest.mark.parametrize("layout", ["x", "x with a channel axis", "float 0..1"])
def test_npz(tmp_path, rows, layout):
    xt, yt, _, _ = rows
    x = {"x": xt, "x with a channel axis": xt[..., None], "float 0..1": xt.astype(np.float32) / 255}[layout]
    np.savez(tmp_path / "d.npz", x=x, y=yt.astype(np.int32), row_index=np.arange(len(yt)) + 28709)
    ds = load_dataset(tmp_path / "d.npz")
    assert_pairs(ds.x, ds.y, xt, yt)
    assert (ds.x == xt).all() and (ds.y == yt).all()
    assert (ds.row_index == np.arange(len(yt)) + 28709).all()


def test_malformed_csv_rows_name_file_and_line(tmp_path, rows):
    xt, yt, _, _ = rows
    good = " ".join(map(str, xt[0].ravel()))
    cases = {
        "short.csv": f"emotion,pixels\n{yt[0]},{good}\n3,1 2 3\n",
        "text.csv": f"emotion,pixels\n{yt[0]},{good.replace(' 1', ' x', 1) if ' 1' in good else 'x ' + good[2:]}\n",
        "label.csv": f"emotion,pixels\n9,{good}\n",
        "usage.csv": f"emotion,pixels,Usage\n1,{good},Holdout\n",
        "header.csv": "a,b\n1,2\n",
        "empty.csv": "",
    }
    expect = {"short.csv": "line 3: expected 2304", "text.csv": "line 2", "label.csv": "line 2: unknown emotion",
              "usage.csv": "line 2: unknown Usage", "header.csv": "header", "empty.csv": "empty"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(DataError, match=expect[name]) as e:
            load_dataset(tmp_path / name)
        assert name in str(e.value)


def test_bad_folders_and_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "cls" / "happy").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        load_dataset(tmp_path / "cls")
    (tmp_path / "cls" / "happy" / "x.png").write_text("nope")
    with pytest.raises(DataError, match="x.png: unreadable"):
        load_dataset(tmp_path / "cls")
    with pytest.raises(DataError, match="no such"):
        load_dataset(tmp_path / "missing.csv")
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(DataError, match="bad.npz"):
        load_dataset(tmp_path / "bad.npz")


def test_ferplus_soft_labels_follow_fer_order(fer_train):
    from conftest import DATA

    rows = fer_train["row_index"][:200]
    soft = ferplus_soft_labels(DATA / "ferplus_votes_train_publictest.npz", rows)
    has = soft.sum(1) > 0
    assert has.mean() > 0.9
    assert np.allclose(soft[has].sum(1), 1)
    # where FER+ annotators agree strongly, they mostly agree with the FER2013 label
    strong = soft.max(1) >= 0.7
    agree = (soft[strong].argmax(1) == fer_train["y"][:200][strong]).mean()
    assert agree > 0.6
