"""Every data form users have, written from real FER2013 rows, read back exactly; bad files named."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from facemoji.labels import EMOTIONS
from facemoji.train.data import DataError, ferplus_soft_labels, load_dataset, read_csv


@pytest.fixture(scope="module")
def rows(fer_train, fer_public):
    """14 training and 7 PublicTest faces, two/one of each class."""
    pick_t = np.concatenate([np.flatnonzero(fer_train["y"] == k)[:2] for k in range(7)])
    pick_v = np.array([np.flatnonzero(fer_public["y"] == k)[0] for k in range(7)])
    return (fer_train["x"][pick_t], fer_train["y"][pick_t], fer_public["x"][pick_v], fer_public["y"][pick_v])


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
    write_kaggle_csv(p, [(xt, yt, "Training"), (xv, yv, "PublicTest"), (xv[:3], yv[:3], "PrivateTest")])
    train, val, test = (load_dataset(p, s) for s in ("train", "PublicTest", "test"))
    assert (train.x == xt).all() and (train.y == yt).all()
    assert (val.x == xv).all() and (val.y == yv).all()
    assert len(test) == 3 and set(read_csv(p)) == {"train", "val", "test"}


def test_original_design_split_csvs(tmp_path, rows):
    xt, yt, _, _ = rows
    p = tmp_path / "train.csv"
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["emotion", "pixels"])
        for img, label in zip(xt, yt, strict=True):
            w.writerow([label, " ".join(map(str, img.ravel()))])
    ds = load_dataset(p)
    assert (ds.x == xt).all() and (ds.y == yt).all()


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
    order = np.lexsort((np.arange(len(yt)), yt))  # read back class by class, files in name order
    assert sorted(train.y.tolist()) == sorted(yt.tolist())
    assert (np.sort(train.x.reshape(len(train), -1), axis=0) == np.sort(xt.reshape(len(xt), -1), axis=0)).all()
    assert len(order) == len(train)
    val = load_dataset(tmp_path / "val")
    assert sorted(val.y.tolist()) == list(range(7))


def test_jpeg_folder_like_the_original_design(tmp_path, rows):
    xt, yt, _, _ = rows
    for i, (img, label) in enumerate(zip(xt, yt, strict=True)):
        (tmp_path / str(label)).mkdir(exist_ok=True)
        Image.fromarray(img).save(tmp_path / str(label) / f"{i:05d}.jpg")
    ds = load_dataset(tmp_path)
    assert len(ds) == len(xt) and ds.x.shape[1:] == (48, 48)


def test_npz(tmp_path, rows):
    xt, yt, _, _ = rows
    np.savez(tmp_path / "d.npz", x=xt, y=yt)
    ds = load_dataset(tmp_path / "d.npz")
    assert (ds.x == xt).all() and (ds.y == yt).all()


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
