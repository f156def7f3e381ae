from datetime import datetime, timedelta, timezone

from app.pipeline.jumps import CardFile, group_into_jumps
from app.pipeline.day_rule import jump_day
from app.pipeline.library import MAX_COMPONENT, Library, move_into, numbered, safe_component

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
ANA = {"booking_id": "BK-1", "passenger_name": "Ana Silva"}
BO = {"booking_id": "BK-2", "passenger_name": "Bo Li"}


def test_passenger_clip_opens_a_jump_until_the_next_one():
    files = [
        CardFile("c", "C.MP4", T0 + timedelta(minutes=30)),
        CardFile("a", "A.MP4", T0, None),                            # before any passenger: unassigned
        CardFile("q1", "Q1.MP4", T0 + timedelta(minutes=10), ANA),
        CardFile("p", "P.JPG", T0 + timedelta(minutes=20)),          # photos follow the same rule
        CardFile("q2", "Q2.MP4", T0 + timedelta(minutes=40), BO),
        CardFile("d", "D.MP4", T0 + timedelta(minutes=50)),
    ]
    groups = group_into_jumps(files)
    assert [(g.passenger and g.passenger["booking_id"], g.files) for g in groups] == [
        (None, ["a"]), ("BK-1", ["q1", "p", "c"]), ("BK-2", ["q2", "d"])]
    assert groups[1].opened_by == "q1"


def test_no_unassigned_group_when_the_card_starts_with_a_passenger():
    groups = group_into_jumps([CardFile(1, "Q.MP4", T0, ANA), CardFile(2, "J.MP4", T0 + timedelta(seconds=1))])
    assert len(groups) == 1 and groups[0].files == [1, 2]


def test_names_are_safe_on_every_desktop_os():
    assert safe_component('BK/1 <Ana>: "Silva"?') == "BK_1 _Ana__ _Silva__"
    assert safe_component("..") == "unnamed"
    assert safe_component("CON") == "_CON"
    assert safe_component("name. ") == "name"
    assert len(safe_component("é" * 300).encode()) <= 100
    assert "/" not in safe_component("../../etc/passwd")
    # Every Windows device name, with any extension and with spaces before the dot.
    for device in ("CONIN$", "conout$.mp4", "COM0", "COM\u00b9.MP4", "LPT\u00b3", "CON .txt", "nul.tar.gz"):
        assert safe_component(device).startswith("_"), device
    assert safe_component("CONSOLE.MP4") == "CONSOLE.MP4"
    # A name cut to length keeps its extension; a numbered one stays within the limit too.
    cut = safe_component("é" * 80 + ".MP4")
    assert cut.endswith("é.MP4") and len(cut.encode()) <= MAX_COMPONENT
    assert numbered(cut, 12).endswith(" (12).MP4") and len(numbered(cut, 12).encode()) <= MAX_COMPONENT


def test_the_day_is_the_booking_then_a_plausible_clock_then_the_card_then_the_import_day():
    imported = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)
    card = [T0, T0 + timedelta(minutes=5), datetime(2016, 1, 1, tzinfo=timezone.utc)]
    assert jump_day("2026-11-22", T0, card, imported) == "2026-11-22"
    assert jump_day(None, T0, card, imported) == "2026-11-23"
    # a camera reset to its epoch, or set in the future: the day the card's other clips agree on
    assert jump_day("bogus", datetime(2016, 1, 1, tzinfo=timezone.utc), card, imported) == "2026-11-23"
    assert jump_day(None, imported + timedelta(days=30), card, imported) == "2026-11-23"
    # nothing plausible anywhere: the import day
    assert jump_day(None, None, [datetime(2000, 1, 1, tzinfo=timezone.utc)], imported) == "2026-11-23"


def test_a_card_from_40_days_ago_keeps_its_day_whenever_it_is_imported():
    filmed = datetime(2026, 10, 14, 15, tzinfo=timezone.utc)
    for imported in (filmed + timedelta(days=40), filmed + timedelta(days=400)):
        assert jump_day(None, filmed, [filmed], imported) == "2026-10-14"
        assert jump_day(None, None, [filmed, filmed + timedelta(hours=1)], imported) == "2026-10-14"


def test_library_layout_and_moves_never_overwrite(tmp_path):
    library = Library(tmp_path)
    assert library.jump_dir("2026-11-23", "BK-1", "Ana Silva") == tmp_path / "2026-11-23" / "BK-1 Ana Silva"
    assert library.unassigned_dir("2026-11-23", "3A1F-77C2") == tmp_path / "2026-11-23" / "_unassigned" / "3A1F-77C2"
    staged = library.staged_path(7, 42, "DCIM/100GOPRO/GX01.MP4")
    assert library.contains(staged) and staged.name == "42.MP4"  # the station's own id, never the card's name
    assert library.partial_path(7, 42, "DCIM/100GOPRO/GX01.MP4").name == "42.MP4.partial"
    for content in (b"one", b"two"):
        source = tmp_path / "x.bin"
        source.write_bytes(content)
        move_into(source, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["x (2).bin", "x.bin"]
    assert (tmp_path / "out" / "x.bin").read_bytes() == b"one"
    assert not library.contains(tmp_path.parent)
