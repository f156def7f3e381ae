"""`render_jump(clips, output) -> RenderResult`: a passenger's clips joined into one MP4.

Synchronous and CPU/disk-bound: run it in a worker thread or process.

- Streams that match (same video codec, size, frame rate, pixel format and codec setup, and
  the same audio format or no audio anywhere): packets are copied (remux), each clip's
  timestamps shifted by the length of the clips before it. Fast; no quality lost.
- Otherwise every clip is decoded and re-encoded to H.264 (yuv420p, libx264 `veryfast`, CRF 20)
  at the first clip's size and frame rate (others are scaled), with AAC stereo 48 kHz audio when
  any clip has audio (silence where a clip has none).
- Only video and audio are kept: data tracks (GoPro `gpmd` telemetry, `tmcd` timecode) are dropped.
- Written to `<name>.<pid>-<random>.partial.mp4` beside `output`, then renamed over it; the
  partial file is removed on failure (a crash can leave one: cleanup may delete `*.partial.mp4`).
  `RenderResult.duration_s` is the output's duration: the clips' sum.

Unreadable clips raise MediaReadError; an empty list raises ValueError.
"""

from __future__ import annotations

import logging
import glob
import os
import secrets
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from app.media.avcc import merge_avcc
from app.media.errors import MediaReadError, first_video_stream, open_input

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial.mp4"
AUDIO_RATE = 48_000
AAC_FRAME = 1024
TRUNCATION_SLACK_S = 0.5


@dataclass(frozen=True)
class RenderResult:
    output: Path
    method: str  # "remux" or "reencode"
    duration_s: float
    clips: int
    reason: str = ""  # why the clips were re-encoded


@dataclass(frozen=True)
class _ClipFormat:
    """What must be equal across clips for their packets to be concatenated as they are."""

    video: tuple[object, ...]
    audio: tuple[object, ...] | None


def leftover_partials(output: Path) -> list[Path]:
    """Temporary files a killed render of `output` left beside it."""
    return sorted(output.parent.glob(f"{glob.escape(output.name)}.*{PARTIAL_SUFFIX}"))


def partial_path(output: Path) -> Path:
    """A temporary name beside output, unique per render so two attempts never share one."""
    return output.with_name(f"{output.name}.{os.getpid()}-{secrets.token_hex(3)}{PARTIAL_SUFFIX}")


def render_jump(clips: list[Path], output: Path) -> RenderResult:
    """Join clips (already in time order) into output; remux when they match (module doc)."""
    if not clips:
        raise ValueError("no clips to render")
    clips = [Path(c) for c in clips]
    output = Path(output)
    formats = [_clip_format(c) for c in clips]
    reason = _mismatch(clips, formats)
    partial = partial_path(output)
    try:
        if reason:
            log.info("re-encoding %d clips into %s: %s", len(clips), output.name, reason)
            duration = _reencode(clips, partial)
        else:
            duration = _remux(clips, partial, _shared_setup(formats))
        os.replace(partial, output)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return RenderResult(output, "reencode" if reason else "remux", round(duration, 3), len(clips), reason)


# -- deciding ---------------------------------------------------------------------------------

def _clip_format(path: Path) -> _ClipFormat:
    with open_input(path) as container:
        video = first_video_stream(container, path)
        v = video.codec_context
        rate = video.average_rate or video.guessed_rate
        audio_key = None
        if container.streams.audio:
            a = container.streams.audio[0].codec_context
            audio_key = (a.name, a.sample_rate, a.channels, a.format.name if a.format else None, bytes(a.extradata or b""))
        return _ClipFormat((v.name, v.width, v.height, v.pix_fmt, rate, bytes(v.extradata or b"")), audio_key)


def _shared_setup(formats: list[_ClipFormat]) -> bytes | None:
    """One codec setup for every clip: theirs when equal, merged when their H.264 parameter
    sets can share a track (a title card encoded with ids the camera does not use)."""
    setups = [bytes(f.video[-1]) for f in formats]  # type: ignore[arg-type]
    if len(set(setups)) == 1:
        return setups[0]
    return merge_avcc(*setups) if formats[0].video[0] == "h264" else None


def _mismatch(clips: list[Path], formats: list[_ClipFormat]) -> str:
    """'' when every clip can be copied as it is, else what differs."""
    first = formats[0]
    labels = ("codec", "size", "size", "pixel format", "frame rate")
    setup_shared = _shared_setup(formats) is not None
    for clip, fmt in zip(clips[1:], formats[1:], strict=True):
        for label, a, b in zip(labels, first.video[:len(labels)], fmt.video[:len(labels)], strict=True):
            if a != b:
                return f"{clip.name}: video {label} differs from {clips[0].name}"
        if not setup_shared and fmt.video[-1] != first.video[-1]:
            return f"{clip.name}: video codec setup differs from {clips[0].name}"
        if (first.audio is None) != (fmt.audio is None):
            return f"{clip.name}: audio present in some clips only"
        if first.audio != fmt.audio:
            return f"{clip.name}: audio format differs from {clips[0].name}"
    return ""


# -- remux ------------------------------------------------------------------------------------

def _remux(clips: list[Path], partial: Path, setup: bytes | None = None) -> float:
    offset = 0.0  # seconds: where the current clip starts in the output
    with av.open(str(partial), mode="w", format="mp4") as out:
        out_video = out_audio = None
        last_audio_end = -1.0
        for index, clip in enumerate(clips):
            with open_input(clip) as src:
                video = first_video_stream(src, clip)
                audio = src.streams.audio[0] if src.streams.audio else None
                if index == 0:
                    out_video = out.add_stream_from_template(video)
                    if setup and setup != bytes(video.codec_context.extradata or b""):
                        out_video.codec_context.extradata = setup
                    out_audio = out.add_stream_from_template(audio) if audio is not None else None
                    _clean_stream_metadata(out_video, out_audio)
                    _copy_creation_time(src, out)
                assert out_video is not None
                video_end = 0.0
                for packet in src.demux([s for s in (video, audio) if s is not None]):
                    if packet.size == 0 or packet.pts is None or packet.dts is None:
                        continue
                    tb = packet.time_base
                    shift = round(offset / tb)
                    start_s = float(packet.pts * tb)
                    end_s = start_s + float((packet.duration or 0) * tb)
                    if packet.stream is video:
                        video_end = max(video_end, end_s)
                        packet.stream = out_video
                    else:
                        if offset + start_s < last_audio_end - 1e-6:
                            continue  # overlaps the previous clip's last audio frame (AAC priming)
                        last_audio_end = offset + end_s
                        packet.stream = out_audio
                    packet.pts += shift
                    packet.dts += shift
                    packet.time_base = tb
                    out.mux(packet)
                _check_complete(clip, video_end, _stream_duration(src, video))
                offset += video_end
    return offset


# -- re-encode --------------------------------------------------------------------------------

def _reencode(clips: list[Path], partial: Path) -> float:
    with open_input(clips[0]) as first:
        v0 = first_video_stream(first, clips[0])
        width, height = v0.codec_context.width // 2 * 2, v0.codec_context.height // 2 * 2
        rate = v0.average_rate or v0.guessed_rate or Fraction(30)
    fps = Fraction(rate).limit_denominator(1001)
    with_audio = any(_has_audio(c) for c in clips)
    total_frames = 0
    with av.open(str(partial), mode="w", format="mp4") as out:
        vout = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "20"})
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        aout = out.add_stream("aac", rate=AUDIO_RATE, layout="stereo") if with_audio else None
        if aout is not None:
            aout.bit_rate = 160_000
        audio_samples = 0
        for clip in clips:
            with open_input(clip) as src:
                if clip == clips[0]:
                    _copy_creation_time(src, out)
                clip_frames = _encode_video(clip, src, out, vout, fps, total_frames)
            total_frames += clip_frames
            if aout is not None:
                audio_samples = _encode_audio(clip, out, aout, audio_samples, total_frames / fps)
        out.mux(vout.encode(None))
        if aout is not None:
            out.mux(aout.encode(None))
    return float(total_frames / fps)


def _encode_video(clip: Path, src: av.container.InputContainer, out: av.container.OutputContainer,
                  vout: av.video.stream.VideoStream, fps: Fraction, first_index: int) -> int:
    """Decode one clip and encode it at the output's size and rate; returns frames written."""
    video = first_video_stream(src, clip)
    video.codec_context.thread_type = "AUTO"
    duration = _stream_duration(src, video)
    wanted = max(1, round(duration * fps))
    written = 0
    last: av.VideoFrame | None = None
    start: float | None = None
    t = 0.0
    try:
        for frame in src.decode(video):
            if frame.time is None:
                continue
            start = frame.time if start is None else start
            t = frame.time - start
            last = frame.reformat(width=vout.width, height=vout.height, format="yuv420p")
            # Emit this frame for every output slot it covers (drops or repeats frames across rates).
            while written < wanted and written / fps <= t + 0.5 / fps:
                written += _emit(out, vout, last, first_index + written, fps)
    except av.error.FFmpegError as exc:
        raise MediaReadError(clip, f"cannot decode ({exc})") from exc
    if last is None or start is None:
        raise MediaReadError(clip, "no frame could be decoded")
    _check_complete(clip, t + 1 / float(fps), duration)
    while written < wanted:
        written += _emit(out, vout, last, first_index + written, fps)
    return written


def _emit(out: av.container.OutputContainer, vout: av.video.stream.VideoStream, frame: av.VideoFrame,
          index: int, fps: Fraction) -> int:
    # The encoder takes its own reference (pts included), so one frame can be sent again for a repeat.
    frame.pts = index
    frame.time_base = 1 / fps
    out.mux(vout.encode(frame))
    return 1


def _encode_audio(clip: Path, out: av.container.OutputContainer, aout: av.audio.stream.AudioStream,
                  samples_done: int, until_s: float) -> int:
    """The clip's audio as 48 kHz stereo, cut or padded with silence to end at until_s."""
    target = round(until_s * AUDIO_RATE)
    fifo = av.AudioFifo()
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
    with open_input(clip) as src:
        if src.streams.audio:
            try:
                for frame in src.decode(src.streams.audio[0]):
                    for converted in resampler.resample(frame):
                        converted.pts = None
                        fifo.write(converted)
                for converted in resampler.resample(None):
                    converted.pts = None
                    fifo.write(converted)
            except av.error.FFmpegError as exc:
                log.warning("%s: audio cannot be decoded, silence instead: %s", clip.name, exc)
    while samples_done < target:
        count = min(AAC_FRAME, target - samples_done)
        chunk = fifo.read(count) if fifo.samples >= count else None
        if chunk is None:
            chunk = _silence(count)
        chunk.pts = samples_done
        chunk.time_base = Fraction(1, AUDIO_RATE)
        out.mux(aout.encode(chunk))
        samples_done += count
    return samples_done


def _silence(samples: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.zeros((2, samples), np.float32), format="fltp", layout="stereo")
    frame.sample_rate = AUDIO_RATE
    return frame


# -- shared -----------------------------------------------------------------------------------

def _has_audio(clip: Path) -> bool:
    with open_input(clip) as src:
        return bool(src.streams.audio)


def _stream_duration(src: av.container.InputContainer, video: av.video.stream.VideoStream) -> float:
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    if src.duration is not None:
        return src.duration / av.time_base
    return 0.0


def _check_complete(clip: Path, read_s: float, declared_s: float) -> None:
    """A clip whose frames stop well before its declared length was cut short (a truncated copy)."""
    if declared_s - read_s > TRUNCATION_SLACK_S:
        raise MediaReadError(clip, f"truncated: video stops at {read_s:.2f} s of {declared_s:.2f} s")


def _clean_stream_metadata(*streams: av.stream.Stream | None) -> None:
    """A copied `timecode` tag would make the MP4 muxer write a tmcd data track again."""
    for stream in streams:
        if stream is not None:
            stream.metadata.pop("timecode", None)


def _copy_creation_time(src: av.container.InputContainer, out: av.container.OutputContainer) -> None:
    created = src.metadata.get("creation_time")
    if created:
        out.metadata["creation_time"] = created.split(";")[0]
