"""Drawing on frames: each face hidden (emoji, blur, pixelate, solid), or the original design's boxes and labels."""

from facemoji.overlay.cache import ByteLRU
from facemoji.overlay.cover import COVERS, check_cover, cover_face
from facemoji.overlay.draw import MODES, draw_boxes, render
from facemoji.overlay.emoji import EmojiSet, emoji_box, paste_emoji

__all__ = ["COVERS", "MODES", "ByteLRU", "EmojiSet", "check_cover", "cover_face", "draw_boxes", "emoji_box", "paste_emoji", "render"]
