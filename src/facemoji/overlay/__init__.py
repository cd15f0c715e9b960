"""Drawing on frames: emoji over faces, or the original design's boxes and labels."""

from facemoji.overlay.draw import MODES, draw_boxes, render
from facemoji.overlay.emoji import EmojiSet, emoji_box, paste_emoji

__all__ = ["MODES", "EmojiSet", "draw_boxes", "emoji_box", "paste_emoji", "render"]
