"""Hand-off at the desk: a passenger's finished video served on the LAN at an unguessable,
expiring, revocable link (with a QR code for the phone), and "Export…" to a USB stick."""
