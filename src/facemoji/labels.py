"""The seven expression classes, in FER2013 order.

This is the only place the project names the classes for *training*; at run
time the classifier reads the class order from the ONNX model's metadata.
"""

from __future__ import annotations

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Emoji shown for each class (Noto Color Emoji code points).
EMOJI_CODEPOINTS: dict[str, str] = {
    "angry": "\U0001f620",  # 😠
    "disgust": "\U0001f922",  # 🤢
    "fear": "\U0001f628",  # 😨
    "happy": "\U0001f604",  # 😄
    "sad": "\U0001f622",  # 😢
    "surprise": "\U0001f632",  # 😲
    "neutral": "\U0001f610",  # 😐
}
