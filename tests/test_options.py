"""facemoji.options.Options: its checks, the photos/frames policy, and the options real command lines give."""

from __future__ import annotations

import argparse

import pytest

from facemoji.batch import BatchConfig
from facemoji.cli import build_parser, main
from facemoji.errors import InputError
from facemoji.options import FRAME_DETECT_SIZE, PHOTO_DETECT_SIZE, Options

PIPELINE_FLAGS = ("--mode", "--cover", "--strict", "--detector", "--detect-size", "--threshold", "--model",
                  "--emoji-scale", "--threads")


def parse(*argv: str) -> argparse.Namespace:
    return build_parser(argv[0]).parse_args(list(argv))


@pytest.mark.parametrize(("changes", "message"), [
    ({"detect_size": 31}, "--detect-size must be between 32 and 4096, got 31"),
    ({"detect_size": 4097}, "--detect-size must be between 32 and 4096"),
    ({"threshold": 0.0}, "--threshold must be between 0 and 1"),
    ({"threshold": 1.0}, "--threshold must be between 0 and 1"),
    ({"emoji_scale": 0.0}, "--emoji-scale must be positive"),
    ({"threads": 0}, "--threads must be 1 or more"),
    ({"mode": "outline"}, "unknown mode 'outline'"),
    ({"cover": "smudge"}, "unknown cover 'smudge'"),
    ({"strict": "yes"}, "strict must be true or false"),
])
def test_bad_values_are_input_errors(changes: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Options(**changes)
    with pytest.raises(InputError, match=message):  # a copy is checked like the original
        Options().with_(**changes)


def test_sizes_at_the_limits_are_accepted() -> None:
    assert Options(detect_size=32).detect_size_for("photo") == 32
    assert Options(detect_size=4096).detect_size_for("frames") == 4096
    Options.check_detect_size(None)
    with pytest.raises(InputError, match="--video-detect-size must be between 32 and 4096, got 8"):
        Options.check_detect_size(8, "--video-detect-size")


def test_policy_full_model_and_640_for_photos_fast_and_auto_for_frames() -> None:
    o = Options()
    assert (o.model_for("photo"), o.detect_size_for("photo")) == ("full", PHOTO_DETECT_SIZE) == ("full", 640)
    assert (o.model_for("frames"), o.detect_size_for("frames")) == ("fast", FRAME_DETECT_SIZE)
    named = Options(model="fast", detect_size=480)
    assert named.model_for("photo") == "fast" and named.detect_size_for("photo") == 480
    assert named.model_for("frames") == "fast" and named.detect_size_for("frames") == 480


def test_image_command_line() -> None:
    o = Options.from_args(parse("image", "a.jpg", "--cover", "solid", "--strict", "--detect-size", "800",
                                "--threshold", "0.7", "--emoji-scale", "1.3", "--mode", "both"))
    assert o == Options(cover="solid", strict=True, detect_size=800, threshold=0.7, emoji_scale=1.3, mode="both")
    default = Options.from_args(parse("image", "a.jpg"))
    assert default == Options() and not default.strict
    assert default.model_for("photo") == "full" and default.detect_size_for("photo") == 640


def test_video_command_line_leaves_size_and_model_to_the_policy() -> None:
    o = Options.from_args(parse("video", "clip.mp4", "--strict", "--cover", "blur"))
    assert o.strict and o.cover == "blur"
    assert o.detect_size is None and o.model is None  # auto size, fast model
    assert o.model_for("frames") == "fast"
    assert Options.from_args(parse("video", "clip.mp4", "--model", "full")).model_for("frames") == "full"


def test_batch_command_line_embeds_the_options() -> None:
    from facemoji.cli.batch import config_from_args

    c = config_from_args(parse("batch", "src/", "-o", "out", "--cover", "solid", "--strict", "--threshold", "0.6"))
    assert c.options == Options(cover="solid", strict=True, threshold=0.6, threads=1)
    assert c.options_for("photo").detect_size_for("photo") == 640
    assert c.options_for("video").detect_size is None  # auto, as facemoji video
    assert c.options_for("video").model_for("frames") == "fast"
    c = config_from_args(parse("batch", "src/", "-o", "out", "--detect-size", "400", "--video-detect-size", "256"))
    assert c.options_for("photo").detect_size == 400 and c.options_for("video").detect_size == 256
    # what travels to the worker processes and Ray actors comes back the same
    again = BatchConfig.from_dict(c.to_dict())
    assert again == c and isinstance(again.options, Options)


@pytest.mark.parametrize("command", [["image", "a.jpg"], ["video", "a.mp4"], ["batch", "a", "-o", "o"]])
def test_every_pipeline_command_has_the_whole_group(command: list[str]) -> None:
    sub = next(a for a in build_parser(command[0])._actions if isinstance(a, argparse._SubParsersAction))
    text = sub.choices[command[0]].format_help()
    for flag in PIPELINE_FLAGS:
        assert flag in text, (command[0], flag)


def test_the_group_gives_a_frames_front_end_cover_and_strict() -> None:
    p = argparse.ArgumentParser()
    Options.add_arguments(p, "frames")
    o = Options.from_args(p.parse_args(["--cover", "pixelate", "--strict"]))
    assert o.cover == "pixelate" and o.strict and o.model_for("frames") == "fast"


@pytest.mark.parametrize(("argv", "message"), [
    (["image", "a.jpg", "--detect-size", "5"], "--detect-size must be between 32 and 4096, got 5"),
    (["video", "a.mp4", "--threshold", "2"], "--threshold must be between 0 and 1, got 2.0"),
    (["batch", "a", "-o", "o", "--threads", "0"], "--threads must be 1 or more, got 0"),
    (["batch", "a", "-o", "o", "--photo-detect-size", "9"], "--photo-detect-size must be between 32 and 4096, got 9"),
])
def test_a_value_options_refuse_is_one_error_line_and_status_2(argv: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"facemoji: error: {message}"]


def test_strict_where_it_is_not_honoured_is_refused_not_ignored(capsys) -> None:
    """The shared flags of a command that does not honour --strict yet (cli.common.add_pipeline_options)."""
    from facemoji.cli.common import add_pipeline_options

    p = argparse.ArgumentParser(prog="facemoji webcam")
    add_pipeline_options(p, FRAME_DETECT_SIZE, model="fast")
    assert "--strict" not in p.format_help() and "--cover" in p.format_help()
    with pytest.raises(SystemExit) as e:
        p.parse_args(["--cover", "blur", "--strict"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("facemoji: error: --strict is not available in 'facemoji webcam'")
    o = Options.from_args(p.parse_args(["--cover", "blur"]))
    assert (o.cover, o.strict, o.model, o.detect_size) == ("blur", False, "fast", FRAME_DETECT_SIZE)


def test_refused_options_name_real_options() -> None:
    p = argparse.ArgumentParser(prog="x")
    Options.add_arguments(p, "photo", refuse={"cover": "not here"})
    assert "--cover" not in p.format_help()
    with pytest.raises(SystemExit):
        p.parse_args(["--cover", "blur"])
    assert Options.from_args(p.parse_args([])).cover == "emoji"
    with pytest.raises(ValueError, match="no such options"):
        Options.add_arguments(argparse.ArgumentParser(), "photo", refuse={"colour": "?"})
