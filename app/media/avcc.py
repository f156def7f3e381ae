"""H.264 decoder configuration (`avcC`, ISO/IEC 14496-15) read and merged.

Why: a passenger's title card is encoded by us, the clips by a camera. Their parameter sets
(SPS/PPS) differ, so one MP4 track cannot simply hold both. An `avcC` may carry several
parameter sets, each slice naming the one it uses by id: when the title card is encoded with
ids the camera does not use, one merged `avcC` describes both, and every camera packet is
copied as it is (no re-encode, no quality lost).
"""

from __future__ import annotations

from dataclasses import dataclass


class AvccError(ValueError):
    """Bytes that are not an avcC record this module understands."""


@dataclass(frozen=True)
class Avcc:
    profile: int
    compatibility: int
    level: int
    length_size: int  # bytes of each NAL unit's length prefix in the samples
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]
    trailer: bytes  # the High-profile extension (chroma format, bit depths, SPS extensions)

    @property
    def sps_ids(self) -> set[int]:
        return {_first_ue(nal[4:]) for nal in self.sps}

    @property
    def pps_ids(self) -> set[int]:
        return {_first_ue(nal[1:]) for nal in self.pps}

    def to_bytes(self) -> bytes:
        out = bytearray([1, self.profile, self.compatibility, self.level, 0xFC | (self.length_size - 1),
                         0xE0 | len(self.sps)])
        for nal in self.sps:
            out += len(nal).to_bytes(2, "big") + nal
        out.append(len(self.pps))
        for nal in self.pps:
            out += len(nal).to_bytes(2, "big") + nal
        return bytes(out + self.trailer)


def parse_avcc(data: bytes) -> Avcc:
    if len(data) < 7 or data[0] != 1:
        raise AvccError("not an avcC record (Annex B or empty extradata)")
    pos = 6
    sps, pos = _nal_list(data, pos, data[5] & 0x1F)
    if pos >= len(data):
        raise AvccError("avcC record cut short")
    pps, pos = _nal_list(data, pos + 1, data[pos])
    return Avcc(data[1], data[2], data[3], (data[4] & 0x03) + 1, tuple(sps), tuple(pps), bytes(data[pos:]))


def unused_parameter_set_id(extradata: bytes) -> int:
    """An SPS/PPS id the clip's configuration does not use (x264 gives both the same id)."""
    config = parse_avcc(extradata)
    used = config.sps_ids | config.pps_ids
    return next(i for i in range(1, 32) if i not in used)


def merge_avcc(*records: bytes) -> bytes | None:
    """One avcC describing every record, or None when they cannot share a track (different
    NAL length size, or two different parameter sets under one id). Identical records merge
    into themselves."""
    try:
        configs = [parse_avcc(r) for r in records]
    except AvccError:
        return records[0] if len(set(records)) == 1 else None
    first = configs[0]
    sps: dict[int, bytes] = {}
    pps: dict[int, bytes] = {}
    for config in configs:
        if config.length_size != first.length_size:
            return None
        for table, nals, offset in ((sps, config.sps, 4), (pps, config.pps, 1)):
            for nal in nals:
                key = _first_ue(nal[offset:])
                if table.setdefault(key, nal) != nal:
                    return None
    merged = Avcc(first.profile, first.compatibility, first.level, first.length_size,
                  tuple(sps.values()), tuple(pps.values()), first.trailer)
    return merged.to_bytes()


def _nal_list(data: bytes, pos: int, count: int) -> tuple[list[bytes], int]:
    nals = []
    for _ in range(count):
        if pos + 2 > len(data):
            raise AvccError("avcC record cut short")
        size = int.from_bytes(data[pos:pos + 2], "big")
        nal = bytes(data[pos + 2:pos + 2 + size])
        if len(nal) != size or not nal:
            raise AvccError("avcC record cut short")
        nals.append(nal)
        pos += 2 + size
    return nals, pos


def _first_ue(payload: bytes) -> int:
    """The first Exp-Golomb number of a NAL payload (after emulation prevention is removed)."""
    bits = "".join(f"{b:08b}" for b in payload[:8].replace(b"\x00\x00\x03", b"\x00\x00"))
    zeros = len(bits) - len(bits.lstrip("0"))
    if zeros * 2 + 1 > len(bits):
        raise AvccError("parameter set id cannot be read")
    return int(bits[zeros:2 * zeros + 1], 2) - 1
