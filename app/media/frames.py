"""Sample frames from the first seconds of a clip, fast: `sample_frames(path, window_s, interval_s)`.

One frame per `interval_s` in the first `window_s` seconds (0, 0.5, 1.0 … 4.5 s by default), in
time order, as grayscale (the luma plane; no colour conversion). A generator: stop iterating
and nothing more is decoded.

How it stays fast: the window's packets are demuxed first (cheap), then for each sample time
the plan picks a keyframe when one lies within `interval_s / 2` of it (GoPros put one every
~0.5 s), decoded on its own; otherwise the frame nearest the sample time, decoded from its
GOP's keyframe. Only the packets those frames need are sent to the decoder, in decode order,
without flushing in between (every decoded run starts at a keyframe), so codec threads can
work on several keyframes at once. Files whose packets carry no timestamps are decoded
sequentially instead. Failures raise `MediaReadError`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import cv2
import numpy as np

from app.media.errors import MediaReadError, first_video_stream, open_input

log = logging.getLogger(__name__)

# Pixel formats whose first plane is 8-bit luma: the gray image is a view, no conversion.
LUMA_FIRST_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"})


@dataclass(frozen=True)
class SampledFrame:
    time_s: float  # presentation time from the start of the clip
    target_s: float  # the sample time it stands for
    gray: np.ndarray  # 2-D uint8 luma, downscaled to max_side when asked
    frame: av.VideoFrame  # the decoded frame (for a colour thumbnail)


@dataclass(frozen=True)
class _PacketInfo:
    index: int  # decode order
    pts: int
    keyframe: bool


def sample_times(window_s: float, interval_s: float) -> list[float]:
    """0, interval, 2·interval … strictly before window_s (10 times for 5 s every 0.5 s)."""
    if window_s <= 0 or interval_s <= 0:
        raise ValueError("window_s and interval_s must be positive")
    count = int(window_s / interval_s - 1e-9) + 1
    return [round(k * interval_s, 6) for k in range(count)]


def sample_frames(path: Path, window_s: float = 5.0, interval_s: float = 0.5, *,
                  max_side: int | None = None, threads: int = 0) -> Iterator[SampledFrame]:
    """Frames every interval_s over the first window_s seconds, in time order (see module doc)."""
    path = Path(path)
    targets = sample_times(window_s, interval_s)
    container = open_input(path)
    try:
        stream = first_video_stream(container, path)
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        ctx.thread_count = threads
        tb = stream.time_base
        if tb is None:
            raise MediaReadError(path, "the video stream has no time base")
        packets = _demux_window(container, stream, path, window_s + interval_s)
        if not packets:
            raise MediaReadError(path, "no video packets (truncated or empty stream)")
        if any(p.pts is None for p in packets):
            yield from _sequential(path, container, stream, packets, targets, max_side)
            return
        infos = [_PacketInfo(i, p.pts, p.is_keyframe) for i, p in enumerate(packets)]
        start = min(info.pts for info in infos)
        wanted = _plan(infos, [start + t / tb for t in targets], interval_s / 2 / tb)
        send = _packets_needed(infos, set(wanted))
        target_of = {pts: targets[k] for pts, k in wanted.items()}
        decoded = 0
        for index in send:
            for frame in _decode(path, stream, packets[index]):
                decoded += 1
                if frame.pts in target_of:
                    yield _sampled(frame, float((frame.pts - start) * tb), target_of.pop(frame.pts), max_side)
        for frame in _decode(path, stream, None):
            if frame.pts in target_of:
                yield _sampled(frame, float((frame.pts - start) * tb), target_of.pop(frame.pts), max_side)
        if decoded == 0 and len(target_of) == len(set(wanted)):
            raise MediaReadError(path, "no frame could be decoded (corrupt or truncated video)")
    finally:
        container.close()


def _demux_window(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                  path: Path, until_s: float) -> list[av.Packet]:
    """The video packets whose time is before until_s, plus the rest of the last GOP's run."""
    tb = stream.time_base
    packets: list[av.Packet] = []
    first: int | None = None
    limit = None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            if packet.pts is not None:
                first = packet.pts if first is None else min(first, packet.pts)
                limit = first + until_s / tb
                if packet.dts is not None and packet.dts > limit and packet.pts > limit:
                    break
            packets.append(packet)
    except av.error.FFmpegError as exc:
        if not packets:
            raise MediaReadError(path, f"cannot read video packets ({exc.strerror or exc})") from exc
        log.warning("%s: read error after %d packets, using what was read: %s", path.name, len(packets), exc)
    return packets


def _plan(infos: list[_PacketInfo], target_pts: list[float], tolerance: float) -> dict[int, int]:
    """{frame pts: target index}: for each target a keyframe within tolerance, else the nearest frame."""
    by_time = sorted(infos, key=lambda info: info.pts)
    keys = [info for info in by_time if info.keyframe]
    wanted: dict[int, int] = {}
    for k, target in enumerate(target_pts):
        if target > by_time[-1].pts + tolerance:
            break  # the clip is shorter than the window
        nearest_key = min(keys, key=lambda info: abs(info.pts - target), default=None)
        if nearest_key is not None and abs(nearest_key.pts - target) <= tolerance:
            choice = nearest_key
        else:
            choice = min(by_time, key=lambda info: abs(info.pts - target))
        wanted.setdefault(choice.pts, k)
    return wanted


def _packets_needed(infos: list[_PacketInfo], wanted_pts: set[int]) -> list[int]:
    """Decode-order indices to send: each wanted frame's packet and those from its GOP's keyframe."""
    needed: set[int] = set()
    gop_start = 0
    for info in infos:
        if info.keyframe:
            gop_start = info.index
        if info.pts in wanted_pts:
            if info.keyframe:
                needed.add(info.index)
            else:
                # References lie earlier in decode order within the GOP: send it all up to here.
                needed.update(range(gop_start, info.index + 1))
    return sorted(needed)


def _decode(path: Path, stream: av.video.stream.VideoStream, packet: av.Packet | None) -> list[av.VideoFrame]:
    try:
        return stream.codec_context.decode(packet)
    except av.error.EOFError:
        return []
    except av.error.FFmpegError as exc:
        log.warning("%s: cannot decode a packet: %s", path.name, exc)
        return []


def _sequential(path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                packets: list[av.Packet], targets: list[float], max_side: int | None) -> Iterator[SampledFrame]:
    """Decode everything in order and keep the first frame at or after each sample time."""
    pending = list(targets)
    first: float | None = None
    for packet in [*packets, None]:
        for frame in _decode(path, stream, packet):
            if frame.time is None:
                continue
            first = frame.time if first is None else first
            t = frame.time - first
            if pending and t >= pending[0] - 1e-6:
                target = pending.pop(0)
                while pending and t >= pending[0]:
                    pending.pop(0)
                yield _sampled(frame, t, target, max_side)


def _sampled(frame: av.VideoFrame, time_s: float, target_s: float, max_side: int | None) -> SampledFrame:
    return SampledFrame(time_s=round(time_s, 6), target_s=target_s, gray=luma(frame, max_side), frame=frame)


def luma(frame: av.VideoFrame, max_side: int | None = None) -> np.ndarray:
    """The frame's 8-bit grayscale image (a view of the luma plane when possible)."""
    if frame.format.name in LUMA_FIRST_FORMATS:
        plane = frame.planes[0]
        gray = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
    else:
        gray = frame.to_ndarray(format="gray")
    longest = max(frame.width, frame.height)
    if max_side and longest > max_side:
        scale = max_side / longest
        size = (max(1, round(frame.width * scale)), max(1, round(frame.height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray
