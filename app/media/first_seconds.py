"""Where in a clip the bytes of its first seconds lie, from its index alone:
`first_seconds_range(path, window_s, interval_s) -> (start, end)`.

`path` may be a sparse file holding only the clip's box headers and its MP4 index (`moov`),
zeros elsewhere: the video packets are demuxed, never decoded, and their positions and sizes
come from the index's sample tables, so the (missing) sample bytes are never looked at. The
range covers every video packet `frames.sample_frames` may read for the same window (up to the
first packet past `demuxed_until_s`, then MAX_REORDER more); audio or telemetry samples
interleaved with them are inside it too. An index without sample tables (a fragmented MP4,
whose samples are listed in `moof` boxes along the file), packets without a position or a
timestamp, and any file that is not a readable video raise `MediaReadError`.
"""

from __future__ import annotations

from pathlib import Path

import av

from app.media.errors import MediaReadError, first_video_stream, open_input
from app.media.frames import MAX_REORDER, demuxed_until_s


def first_seconds_range(path: Path, window_s: float, interval_s: float) -> tuple[int, int]:
    """[start, end) of the bytes holding the video samples of the clip's first `window_s` seconds."""
    path = Path(path)
    size = path.stat().st_size
    until_s = demuxed_until_s(window_s, interval_s)
    container = open_input(path, decode_on_open=False)
    try:
        stream = first_video_stream(container, path)
        time_base = stream.time_base
        if time_base is None:
            raise MediaReadError(path, "the video stream has no time base")
        listed = stream.frames  # samples in the index's tables
        if listed <= 0:
            raise MediaReadError(path, "the index does not list the video samples (a fragmented MP4?)")
        first_pts = stream.start_time
        start, end = size, 0
        seen = 0
        past = -1  # packets seen after the first one past until_s; -1: not there yet
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            seen += 1
            if packet.pos is None or packet.pos < 0 or packet.pts is None:
                raise MediaReadError(path, "video packets without a position or timestamp")
            if packet.pos + packet.size > size:
                raise MediaReadError(path, "the index places samples beyond the end of the file")
            first_pts = packet.pts if first_pts is None else first_pts
            start, end = min(start, packet.pos), max(end, packet.pos + packet.size)
            if past >= 0:
                past += 1
                if past >= MAX_REORDER:
                    break
            elif float((packet.pts - first_pts) * time_base) > until_s:
                past = 0
    except av.error.FFmpegError as exc:
        raise MediaReadError(path, f"cannot demux the video packets ({exc.strerror or exc})") from exc
    finally:
        container.close()
    if end <= start:
        raise MediaReadError(path, "no video packets")
    if past < 0 and seen < listed:
        raise MediaReadError(path, f"{seen} of the {listed} video samples the index lists were found")
    return start, end
