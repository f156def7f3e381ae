"""Sample frames from the first seconds of a clip, fast: `sample_frames(path, window_s, interval_s)`.

One frame per `interval_s` in the first `window_s` seconds (0, 0.5, 1.0 … 4.5 s by default), in
time order, as grayscale (the luma plane; no colour conversion). A generator: stop iterating
and nothing more is read or decoded.

How it stays fast: packets are demuxed lazily, just far enough to see around each sample
time. A keyframe within `interval_s / 2` of the sample time (GoPros put one every ~0.5 s) is
decoded on its own and drained at once (no waiting for B-frame reordering); otherwise the
frame nearest the sample time is decoded from its GOP's keyframe, carrying on from the
previous sample when it lies in the same GOP (sparse keyframes cost one sequential decode,
not one per sample). Deblocking is skipped (it does not help a QR reader) and only slice
threads are used: the station decodes several clips at once, one per worker. Files whose
packets carry no timestamps are decoded sequentially. Failures raise `MediaReadError`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
import cv2
import numpy as np

from app.media.errors import MediaReadError, first_video_stream, open_input

log = logging.getLogger(__name__)

# A frame comes out of the decoder at most this many packets after its own (H.264/HEVC DPB size).
MAX_REORDER = 16
# Packets are demuxed this far past a sample's tolerance, to see its nearest keyframe despite B-frame reordering.
LOOKAHEAD_S = 0.25

# Pixel formats whose first plane is 8-bit luma: the gray image is a view, no conversion.
LUMA_FIRST_FORMATS = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"})


@dataclass(frozen=True)
class SampledFrame:
    time_s: float  # presentation time from the start of the clip
    target_s: float  # the sample time it stands for
    gray: np.ndarray  # 2-D uint8 luma, downscaled to max_side when asked
    frame: av.VideoFrame  # the decoded frame (for a colour thumbnail)


def sample_times(window_s: float, interval_s: float) -> list[float]:
    """0, interval, 2·interval … strictly before window_s (10 times for 5 s every 0.5 s)."""
    if window_s <= 0 or interval_s <= 0:
        raise ValueError("window_s and interval_s must be positive")
    count = int(window_s / interval_s - 1e-9) + 1
    return [round(k * interval_s, 6) for k in range(count)]


def demuxed_until_s(window_s: float, interval_s: float) -> float:
    """How far into the clip (seconds from its first frame) `sample_frames` demuxes: up to the
    first packet later than this, then at most MAX_REORDER packets more to decode in a GOP."""
    return sample_times(window_s, interval_s)[-1] + interval_s / 2 + LOOKAHEAD_S


def sample_frames(path: Path, window_s: float = 5.0, interval_s: float = 0.5, *,
                  max_side: int | None = None, threads: int = 0) -> Generator[SampledFrame, None, None]:
    """Frames every interval_s over the first window_s seconds, in time order (see module doc)."""
    path = Path(path)
    targets = sample_times(window_s, interval_s)
    container = open_input(path, decode_on_open=False)
    try:
        stream = first_video_stream(container, path)
        if stream.time_base is None:
            raise MediaReadError(path, "the video stream has no time base")
        ctx = stream.codec_context
        # Slice threads add no latency; frame threads would hold each frame back by a few packets.
        ctx.thread_type = "SLICE"
        ctx.thread_count = threads
        # Deblocking costs a third of an intra frame's decode and does not help a QR reader.
        ctx.options = {"skip_loop_filter": "all", "skip_frame": "default"}
        source = _PacketSource(container, stream, path)
        if source.first_pts is None:
            yield from _sequential(path, stream, source, targets, max_side)
            return
        sampler = _Sampler(path, stream, source)
        yielded = 0
        for target in targets:
            frame = sampler.frame_near(target, tolerance_s=interval_s / 2)
            if frame is sampler.CLIP_ENDED:
                break
            if frame is None:
                continue
            yielded += 1
            yield _sampled(frame, float((frame.pts - source.first_pts) * stream.time_base), target, max_side)
        if yielded == 0 and sampler.decoded == 0:
            raise MediaReadError(path, "no frame could be decoded (corrupt or truncated video)")
    finally:
        container.close()


class _PacketSource:
    """The video packets in decode order, demuxed only as far as needed."""

    def __init__(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path) -> None:
        self.path = path
        self.packets: list[av.Packet] = []
        self.done = False
        self._iter = container.demux(stream)
        self._latest = -math.inf  # highest pts demuxed so far
        self.first_pts: int | None = None
        if not self.read_one():
            raise MediaReadError(path, "no video packets (truncated or empty stream)")
        if self.packets[0].pts is not None:
            start = stream.start_time
            self.first_pts = start if start is not None else self.packets[0].pts

    def read_one(self) -> bool:
        while not self.done:
            try:
                packet = next(self._iter)
            except StopIteration:
                self.done = True
                break
            except av.error.FFmpegError as exc:
                self.done = True
                if not self.packets:
                    raise MediaReadError(self.path, f"cannot read video packets ({exc.strerror or exc})") from exc
                log.warning("%s: read error after %d packets, using what was read: %s", self.path.name, len(self.packets), exc)
                break
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker
            self.packets.append(packet)
            if packet.pts is not None:
                self._latest = max(self._latest, packet.pts)
            return True
        return False

    def read_past(self, pts: float) -> None:
        """Demux until a packet later than pts was seen (or the stream ends)."""
        while not self.done and self._latest <= pts:
            self.read_one()


class _Sampler:
    """Decodes the frame chosen for each sample time, reusing decoder state where it can."""

    CLIP_ENDED = object()

    def __init__(self, path: Path, stream: av.video.stream.VideoStream, source: _PacketSource) -> None:
        self.path, self.stream, self.source = path, stream, source
        self.tb = stream.time_base
        self.sent = -1  # index of the last packet sent since the last flush; -1: decoder is clean
        self.run_start: int | None = None  # keyframe index the current sequential run started at
        self.dirty = False  # packets were sent since the last flush
        self.pending: dict[int, av.VideoFrame] = {}  # frames that came out ahead of their turn
        self.decoded = 0
        self.done_pts: set[int] = set()

    def frame_near(self, target_s: float, tolerance_s: float) -> av.VideoFrame | object | None:
        assert self.source.first_pts is not None
        target = self.source.first_pts + target_s / self.tb
        tolerance = tolerance_s / self.tb
        # Look far enough ahead to see the keyframe nearest the target despite B-frame reordering.
        self.source.read_past(target + tolerance + LOOKAHEAD_S / self.tb)
        packets = self.source.packets
        timed = [(i, p) for i, p in enumerate(packets) if p.pts is not None]
        if not timed or target > max(p.pts for _, p in timed) + tolerance:
            return self.CLIP_ENDED
        keys = [(i, p) for i, p in timed if p.is_keyframe]
        key = min(keys, key=lambda ip: abs(ip[1].pts - target), default=None)
        if key is not None and abs(key[1].pts - target) <= tolerance:
            index, chosen = key
        else:
            index, chosen = min(timed, key=lambda ip: abs(ip[1].pts - target))
        if chosen.pts in self.done_pts:
            return None  # the same frame already stood for the previous sample time
        self.done_pts.add(chosen.pts)
        frame = self._keyframe(index) if chosen.is_keyframe else self._in_gop(index, chosen.pts)
        if frame is None:
            log.warning("%s: the frame at %.2f s could not be decoded", self.path.name, float(chosen.pts * self.tb))
        return frame

    def _keyframe(self, index: int) -> av.VideoFrame | None:
        """A keyframe on its own: send, drain (no waiting for reordering), reset."""
        self._flush()
        wanted = self.source.packets[index].pts
        frames = self._send(self.source.packets[index]) + self._send(None)
        self._flush()
        return next((f for f in frames if f.pts == wanted), None)

    def _in_gop(self, index: int, wanted: int) -> av.VideoFrame | None:
        """A frame between keyframes: decode from its GOP's keyframe, or carry on from the frame
        decoded last when the decoder is already running through this GOP, until it comes out."""
        packets = self.source.packets
        gop_start = max((i for i in range(index + 1) if packets[i].is_keyframe), default=0)
        continuing = self.run_start is not None and self.run_start <= gop_start and self.sent >= gop_start - 1
        if not continuing:
            self._flush()
            self.run_start, self.sent = gop_start, gop_start - 1
        while wanted not in self.pending:
            if self.sent + 1 >= len(packets) and not self.source.read_one():
                for frame in self._send(None):
                    self.pending[frame.pts] = frame
                found = self.pending.pop(wanted, None)
                self._flush()
                return found
            if self.sent >= index + MAX_REORDER:
                return None  # the decoder never gave this frame back (damaged stream)
            self.sent += 1
            for frame in self._send(packets[self.sent]):
                if frame.pts is not None and frame.pts >= wanted:
                    self.pending[frame.pts] = frame  # later frames may be the next sample's
        return self.pending.pop(wanted, None)

    def _send(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        self.dirty = True
        frames = _decode(self.path, self.stream, packet)
        self.decoded += len(frames)
        return frames

    def _flush(self) -> None:
        if self.dirty:  # also after a drain: the decoder accepts nothing more until flushed
            self.stream.codec_context.flush_buffers()
            self.dirty = False
        self.pending.clear()
        self.run_start = None
        self.sent = -1


def _decode(path: Path, stream: av.video.stream.VideoStream, packet: av.Packet | None) -> list[av.VideoFrame]:
    try:
        return stream.codec_context.decode(packet)
    except av.error.EOFError:
        return []
    except av.error.FFmpegError as exc:
        log.warning("%s: cannot decode a packet: %s", path.name, exc)
        return []


def _sequential(path: Path, stream: av.video.stream.VideoStream, source: _PacketSource,
                targets: list[float], max_side: int | None) -> Iterator[SampledFrame]:
    """For packets without timestamps: decode in order, keep the first frame at or after each sample time."""
    pending = list(targets)
    first: float | None = None
    index = 0
    while pending:
        if index >= len(source.packets) and not source.read_one():
            packet = None
        else:
            packet = source.packets[index]
            index += 1
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
        if packet is None:
            break


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
