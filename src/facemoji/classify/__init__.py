"""Expression classification of detected faces."""

from facemoji.classify.emotion import EmotionClassifier, default_model_path

__all__ = ["EmotionClassifier", "default_model_path"]
