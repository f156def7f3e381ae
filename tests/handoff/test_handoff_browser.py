"""A phone's browser (headless Chromium) opens the hand-off page and plays the video."""

from __future__ import annotations

from tests.handoff.conftest import recorded_downloads
from tests.support.headless_chromium import open_page


async def test_chromium_loads_the_page_and_plays_the_video_with_ranges(station, passenger):
    link = await station.handoff.create_link(passenger.jump_id)
    async with open_page(link.url) as page:
        await page.wait_for(f"location.href === '{link.url}' && document.readyState === 'complete'", what="the page to load")
        assert await page.evaluate("document.querySelector('h1').textContent") == "Ana Silva"
        await page.evaluate("document.getElementById('video').play().then(() => true)")
        played = await page.wait_for("document.body.dataset.played", what="the video to play")
        assert float(played) > 0
        assert await page.evaluate("document.getElementById('video').videoWidth") == 320
        # Seek to the middle: the browser asks for a later range and goes on playing from there.
        await page.evaluate("document.getElementById('video').currentTime = 2.0")
        await page.wait_for("document.getElementById('video').currentTime > 2.0", what="playing after a seek")
        assert await page.evaluate("document.body.dataset.error || ''") == ""

    downloads = await recorded_downloads(station, link.id, 1)
    assert {status for status, *_ in downloads} == {206}  # the browser streamed by ranges
