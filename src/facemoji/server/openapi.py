"""The API's documentation: the OpenAPI description, request bodies, parameters and error answers (``/docs``)."""

from __future__ import annotations

from typing import Any

from facemoji.options import Options
from facemoji.overlay import COVERS, MODES
from facemoji.stream.coverage import COVER_PAD, STRICT_PAD

DESCRIPTION = (
    "Find the faces in an image, name each one's expression (angry, disgust, fear, happy, sad, surprise, "
    "neutral) and cover it with the matching emoji (or blur, pixelate or a solid disc). **Everything runs on "
    "this machine**: images are held in memory only while they are answered and are never stored.\n\n"
    "Send an image (JPEG, PNG, WebP, BMP, TIFF) either as the raw request body (`Content-Type: image/...` or "
    "`application/octet-stream`) or as the multipart form field `file`. The options (`mode`, `cover`, `strict`, "
    "`format`, `quality`) are query parameters; with a multipart upload a form field of the same name works too "
    "(the query parameter wins). Without them the server's own (`facemoji serve --mode/--cover/--strict`, "
    "shown by `/healthz`) apply. An unknown value is answered 400, never ignored. Errors are JSON: "
    "`{\"error\": \"...\"}`. When too many images are waiting the server answers 503 with a `Retry-After` "
    "header.\n\n"
    "The web page's live camera view uses the WebSocket `/ws/live` (same origin only), whose query parameters "
    "`cover` and `strict` set the connection's options (an unknown value: an error message, then the socket "
    "is closed with code 1008). Each binary message is one camera frame (JPEG, PNG or WebP); the server answers "
    "with one JSON text message per frame it analyzes: `{\"type\": \"result\", \"width\", \"height\", "
    "\"faces\": [...], \"cover\", \"strict\", \"ms\", \"received\", \"dropped\"}`, where each face also has "
    f"`cover_box`, the box its cover is drawn over (padded by {round(100 * COVER_PAD)} % of the face on every side, "
    f"{round(100 * STRICT_PAD)} % when strict), or `{{\"type\": \"busy\", "
    "\"retry_after\"}` / `{\"type\": \"error\", \"error\"}`. A text message `{\"cover\": ..., \"strict\": ...}` "
    "(either or both) changes the options for the frames after it and is answered `{\"type\": \"settings\", "
    "\"cover\", \"strict\"}`. A frame that arrives while an older one waits replaces it, so send the next frame "
    "after each answer."
)

ERROR_SCHEMA = {"application/json": {"schema": {"type": "object", "required": ["error"],
                                                "properties": {"error": {"type": "string"}}}}}

IMAGE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "the image"}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}

COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "not an image, a truncated image, a malformed request, an empty body, or an unknown "
          "mode, cover, strict or format value", "content": ERROR_SCHEMA},
    413: {"description": "upload over the size limit, or more pixels than allowed", "content": ERROR_SCHEMA},
    415: {"description": "unsupported Content-Type", "content": ERROR_SCHEMA},
    503: {"description": "too many images waiting; see the Retry-After header", "content": ERROR_SCHEMA},
}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def cover_parameter(defaults: Options, analyze: bool = False) -> dict[str, Any]:
    what = ("how faces are hidden: emoji of the expression, blur, pixelate, or solid (a dark disc); all cover "
            "the same disc over each face")
    if analyze:
        what += ". The record is the same whatever the cover (it is checked, so one query serves both endpoints)"
    return query("cover", {"type": "string", "enum": list(COVERS), "default": defaults.cover}, what)


def strict_parameter(defaults: Options) -> dict[str, Any]:
    return query("strict", {"type": "boolean", "default": defaults.strict},
                 "cover hard faces too: add a profile-face pass (faces turned away) and pad the covers; "
                 "true/false, 1/0, yes/no or on/off")


def analyze_docs(defaults: Options) -> dict[str, Any]:
    """``openapi_extra`` and ``responses`` of ``POST /api/v1/analyze``."""
    return {
        "openapi_extra": {"requestBody": IMAGE_BODY,
                          "parameters": [strict_parameter(defaults), cover_parameter(defaults, analyze=True)]},
        "responses": {200: {"description": "one image record of docs/schema.json: width, height, faces (largest "
                            "first; box, score, emotion, probabilities)"}, **COMMON_ERRORS},
    }


def emojify_docs(defaults: Options) -> dict[str, Any]:
    """``openapi_extra`` and ``responses`` of ``POST /api/v1/emojify``."""
    parameters = [
        query("mode", {"type": "string", "enum": list(MODES), "default": defaults.mode},
              "emoji: cover each face; boxes: frame and label; both"),
        cover_parameter(defaults),
        strict_parameter(defaults),
        query("format", {"type": "string", "enum": ["png", "jpeg", "jpg"]},
              "output format; without it the Accept header decides (PNG by default)"),
        query("quality", {"type": "integer", "minimum": 1, "maximum": 100, "default": 92}, "JPEG quality"),
    ]
    return {
        "openapi_extra": {"requestBody": IMAGE_BODY, "parameters": parameters},
        "responses": {200: {"description": "the emojified image; the X-Facemoji-Result header holds the image "
                            "record as JSON (at most 32 faces)", "content": {"image/png": {}, "image/jpeg": {}}},
                      406: {"description": "the Accept header allows neither PNG nor JPEG", "content": ERROR_SCHEMA},
                      **COMMON_ERRORS},
    }
