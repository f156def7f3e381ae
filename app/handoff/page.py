"""The hand-off page: the passenger's video on their phone or on a second screen at the desk.

Self-contained (no external resources: the Content-Security-Policy forbids them). The script
marks the page (`data-playing`, `data-played`) when the video plays, which is also what a test
checks in a headless browser.
"""

from __future__ import annotations

from html import escape

CONTENT_SECURITY_POLICY = ("default-src 'none'; media-src 'self'; style-src 'unsafe-inline'; "
                           "script-src 'unsafe-inline'; img-src 'self'")

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<style>
body {{ margin: 0; background: #111; color: #eee; font: 16px system-ui, sans-serif; text-align: center; }}
h1 {{ font-size: 1.4em; margin: 0.8em 0.5em; }}
video {{ width: 100%; max-width: 960px; max-height: 80vh; background: #000; }}
a {{ color: #9cf; }}
</style>
</head>
<body>
<h1>{title}</h1>
<video id="video" src="{video}" controls playsinline preload="metadata"></video>
<p><a href="{video}" download="{filename}">Download the video</a></p>
<script>
const video = document.getElementById("video");
video.addEventListener("playing", () => {{ document.body.dataset.playing = "1"; }});
video.addEventListener("timeupdate", () => {{
  if (video.currentTime > 0) document.body.dataset.played = String(video.currentTime);
}});
video.addEventListener("error", () => {{ document.body.dataset.error = String(video.error && video.error.code); }});
</script>
</body>
</html>
"""


def handoff_page(passenger_name: str, video_url: str, filename: str) -> bytes:
    return _TEMPLATE.format(title=escape(passenger_name or "Your jump"), video=escape(video_url, quote=True),
                            filename=escape(filename, quote=True)).encode("utf-8")
