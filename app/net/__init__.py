"""The WebSocket server of docs/protocol.md: Detectors on /detector, UI clients on /ui."""
