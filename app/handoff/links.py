"""Hand-off links in the database: made for a passenger's rendered video, looked up by their
secret token, expired by the clock, revoked by the crew, and every download recorded."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import HandoffDownload, HandoffLink, Jump
from app.db.types import utcnow

TOKEN_BYTES = 24  # 192 bits: unguessable, and 32 URL-safe characters
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

Clock = Callable[[], datetime]


class HandoffError(ValueError):
    """A link cannot be made or changed; the message says why, in the crew's words."""


@dataclass(frozen=True)
class LinkInfo:
    id: int
    token: str
    jump_id: int | None
    passenger_name: str
    video_path: Path
    created_at: datetime
    expires_at: datetime


class HandoffLinks:
    def __init__(self, db: Database, *, days: int, clock: Clock = utcnow) -> None:
        self.db = db
        self.days = days
        self.clock = clock  # tests give their own (links expire by it)

    async def create(self, jump_id: int) -> LinkInfo:
        now = self.clock()

        def create(session: Session) -> LinkInfo:
            jump = session.get(Jump, jump_id)
            if jump is None or jump.unassigned:
                raise HandoffError(f"no passenger with jump id {jump_id}")
            if not jump.video_path or not Path(jump.video_path).is_file():
                raise HandoffError(f"{jump.passenger_name}'s video is not rendered yet")
            link = HandoffLink(token=secrets.token_urlsafe(TOKEN_BYTES), jump_id=jump.id, video_path=jump.video_path,
                               passenger_name=jump.passenger_name, created_at=now,
                               expires_at=now + timedelta(days=self.days))
            session.add(link)
            session.flush()
            return _info(link)

        return await self.db.run(create)

    async def revoke(self, link_id: int) -> None:
        now = self.clock()

        def revoke(session: Session) -> None:
            link = session.get(HandoffLink, link_id)
            if link is None:
                raise HandoffError(f"no hand-off link {link_id}")
            if link.revoked_at is None:
                link.revoked_at = now

        await self.db.run(revoke)

    async def active(self, token: str) -> LinkInfo | None:
        """The link behind a token, if it may still be used; None for unknown, revoked or expired."""
        if not _TOKEN_SHAPE.match(token):
            return None  # not one of ours: no database lookup for junk
        now = self.clock()

        def find(session: Session) -> LinkInfo | None:
            link = session.scalar(select(HandoffLink).where(HandoffLink.token == token))
            if link is None or link.revoked_at is not None or link.expires_at <= now:
                return None
            return _info(link)

        return await self.db.read(find)

    async def links_of(self, jump_id: int) -> list[LinkInfo]:
        return await self.db.read(lambda session: [_info(link) for link in session.scalars(
            select(HandoffLink).where(HandoffLink.jump_id == jump_id).order_by(HandoffLink.id))])

    async def record_download(self, link_id: int, *, remote_address: str | None, range_header: str | None,
                              status: int, bytes_sent: int) -> None:
        at = self.clock()

        def record(session: Session) -> None:
            session.add(HandoffDownload(link_id=link_id, at=at, remote_address=(remote_address or "")[:64] or None,
                                        range_header=(range_header or "")[:200] or None, status=status,
                                        bytes_sent=bytes_sent))

        await self.db.run(record)


def _info(link: HandoffLink) -> LinkInfo:
    return LinkInfo(id=link.id, token=link.token, jump_id=link.jump_id, passenger_name=link.passenger_name or "",
                    video_path=Path(link.video_path), created_at=link.created_at, expires_at=link.expires_at)
