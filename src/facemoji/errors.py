"""Errors that front ends turn into a one-line message and a non-zero exit."""

from __future__ import annotations


class FacemojiError(Exception):
    """Base class: the message is meant for the user, on one line."""


class InputError(FacemojiError):
    """A user-supplied input (file, image, video, camera) cannot be used."""


class ModelError(FacemojiError):
    """A model file is missing, corrupt or not one of ours."""
