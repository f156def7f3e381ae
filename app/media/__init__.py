"""Pure media functions (no database, no events, no asyncio): synchronous, CPU-bound, to be run
in a worker thread or process.

- `probe.probe(path) -> dict`: duration, codec, size, rate, audio, creation time, camera.
- `frames.sample_frames(path, window_s, interval_s)`: grayscale frames every interval, fast.
- `qr_readers`: zxing-cpp, then pyzbar and OpenCV, on one grayscale image.
- `render.render_jump(clips, output) -> RenderResult`: one MP4 per passenger (remux or re-encode).
- `samples.write_clip(...)`, `sample_card.write_sample_card(dir)`: generated clips and cards.
- `errors.MediaReadError`: a file that is not a video, is truncated, or has no video stream.

The passenger QR decoder built on these is `app.pipeline.qr_decoder.find_passenger_code`.
"""
