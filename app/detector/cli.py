"""`ingest-station detector`: the reference Detector a small computer at the desk runs.

No Qt, no database: this module and what it imports stay light enough for a Raspberry Pi.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

EXIT_REFUSED = 2
DEFAULT_DISCOVER_S = 10.0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "detector", help="run a Detector: serve a card folder, or the cards mounted under a folder, to a station")
    parser.add_argument("--station", metavar="ws://HOST:PORT",
                        help="the station's address, wss://HOST:PORT when its tls is on (default: find it on the "
                             "local network over mDNS)")
    parser.add_argument("--station-id", metavar="ID", help="without --station: only the station with this id")
    parser.add_argument("--discover-timeout", type=float, default=DEFAULT_DISCOVER_S, metavar="S",
                        help=f"without --station: how long to look for a station (default {DEFAULT_DISCOVER_S:g} s)")
    pinning = parser.add_mutually_exclusive_group()
    pinning.add_argument("--fingerprint", metavar="SHA256HEX",
                         help="with TLS (wss://): the SHA-256 fingerprint of the station's certificate, as the station "
                              "shows it beside the token; any other certificate is refused (exit code 2)")
    pinning.add_argument("--insecure", action="store_true",
                         help="with TLS (wss://) and no --fingerprint: accept any certificate (encrypted, but anyone "
                              "on the LAN could pose as the station)")
    parser.add_argument("--token-file", type=Path, metavar="FILE", help="read the station's pairing token from FILE")
    parser.add_argument("--token", metavar="T", help="the pairing token (visible to other users in ps; prefer "
                        "--token-file or INGEST_TOKEN)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--card", type=Path, metavar="DIR", help="serve this folder as one card")
    source.add_argument("--watch", type=Path, metavar="ROOT", help="serve every card (a folder with DCIM/) mounted under ROOT")
    parser.add_argument("--card-id", metavar="ID", help="card id for --card (default: volume UUID, else a hash of its listing)")
    parser.add_argument("--detector-id", metavar="ID",
                        help="this Detector's id, [A-Za-z0-9._-]{1,64} (default: one generated and kept in --state-dir)")
    parser.add_argument("--state-dir", type=Path, metavar="DIR", help="where this Detector keeps its generated id "
                        "(default: the user's state folder)")
    parser.add_argument("--shared-root", type=Path, metavar="DIR",
                        help="accept shared-path copies, only into folders inside DIR (default: refuse them)")
    parser.add_argument("--no-wipe", action="store_true", help="never delete files from a card, whatever the station asks")
    parser.add_argument("--no-range", action="store_true",
                        help="do not announce `range`: the station then asks only for whole files")
    parser.add_argument("--name", metavar="NAME", help="shown in the station's window")
    parser.add_argument("--trace", type=Path, metavar="FILE",
                        help="write every text message in and out as JSON lines (the token is left out)")
    parser.add_argument("--log-level", default="INFO", metavar="L", help="DEBUG, INFO, WARNING or ERROR")
    parser.set_defaults(handler=run_detector)


def run_detector(args: argparse.Namespace, _settings: object) -> int:
    from app.detector.agent import DetectorAgent, StationRefused  # noqa: PLC0415
    from app.detector.discovery import StationNotFound, find_station  # noqa: PLC0415
    from app.detector.pinning import Pinning  # noqa: PLC0415
    from app.detector.identity import TokenMissing, default_state_dir, pairing_token, stored_detector_id  # noqa: PLC0415
    from app.detector.sources import SingleCard, WatchedRoot  # noqa: PLC0415
    from app.logging_setup import setup_logging  # noqa: PLC0415
    from app.net.fingerprint import BadFingerprint, parse_fingerprint  # noqa: PLC0415
    from app.shutdown import stop_on_signals  # noqa: PLC0415

    setup_logging(str(args.log_level).upper(), None, console=True)
    if args.card_id and not args.card:
        print("error: --card-id goes with --card", file=sys.stderr)
        return EXIT_REFUSED
    folder = args.card or args.watch
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return EXIT_REFUSED
    if args.shared_root is not None and not args.shared_root.is_dir():
        print(f"error: --shared-root {args.shared_root} is not a folder", file=sys.stderr)
        return EXIT_REFUSED
    try:
        pinning = Pinning(parse_fingerprint(args.fingerprint) if args.fingerprint else None, args.insecure)
    except BadFingerprint as exc:
        print(f"error: --fingerprint: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        token = pairing_token(args.token, args.token_file)
        detector_id = args.detector_id or stored_detector_id(args.state_dir or default_state_dir())
    except (TokenMissing, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED

    async def discover() -> str:
        return await find_station(args.discover_timeout, station_id=args.station_id, fingerprint=pinning.fingerprint)

    source = SingleCard(args.card, args.card_id) if args.card else WatchedRoot(args.watch)
    trace = args.trace.open("a", encoding="utf-8") if args.trace else None
    try:
        agent = DetectorAgent(args.station, token, source, detector_id=detector_id, name=args.name, trace=trace,
                              shared_root=args.shared_root.absolute() if args.shared_root else None,
                              keep_trying=args.watch is not None, wipe=not args.no_wipe,
                              ranges=not args.no_range, discover=discover, pinning=pinning)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED

    async def main() -> int:
        stop = stop_on_signals()
        try:
            await agent.run(stop)
        except (StationRefused, StationNotFound) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        return 0

    try:
        return asyncio.run(main())
    finally:
        if trace is not None:
            trace.close()
