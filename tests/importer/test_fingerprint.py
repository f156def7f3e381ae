from datetime import datetime, timedelta, timezone

from app.db.engine import Database
from app.db.migrate import upgrade
from app.db.models import ImportedFile
from app.pipeline.file_kinds import is_imported_kind, kind_of
from app.pipeline.fingerprint import ListedFile, find_imported, fingerprint, new_files, same_moment, split_listing

T0 = datetime(2026, 11, 23, 10, 15, 30, tzinfo=timezone.utc)


def _record(session, path, size, modified):
    name = path.rsplit("/", 1)[-1].casefold()
    session.add(ImportedFile(fingerprint=fingerprint(name, size, modified), name=name, size=size, modified=modified,
                             source_path=path, stored_path="/lib/" + name, sha256="0" * 64))


def test_same_moment_tolerates_fat_rounding_and_whole_hour_shifts():
    assert same_moment(T0, T0 + timedelta(seconds=2))
    assert same_moment(T0, T0 - timedelta(hours=1, seconds=1))
    assert same_moment(T0, T0 + timedelta(hours=5))
    assert not same_moment(T0, T0 + timedelta(seconds=3))
    assert not same_moment(T0, T0 + timedelta(minutes=30))
    assert not same_moment(T0, T0 + timedelta(days=2))


def test_only_files_never_imported_are_new(db_url):
    db = Database(db_url)
    upgrade(db.engine)
    with db.session() as session:
        _record(session, "DCIM/100GOPRO/GX010001.MP4", 1000, T0)
        _record(session, "DCIM/100GOPRO/GX010002.MP4", 2000, T0)
        _record(session, "DCIM/100GOPRO/GX010003.MP4", 3000, T0)
    listing = [
        ListedFile("DCIM/100GOPRO/GX010001.MP4", 1000, T0),                            # same file
        ListedFile("DCIM/100GOPRO/gx010002.mp4", 2000, T0 + timedelta(hours=1, seconds=1)),  # DST shift + FAT
        ListedFile("DCIM/100GOPRO/GX010003.MP4", 3001, T0),                            # size differs: new
        ListedFile("DCIM/100GOPRO/GX010004.MP4", 1000, T0),                            # never seen: new
        ListedFile("DCIM/101GOPRO/GX010001.MP4", 1000, T0 + timedelta(minutes=20)),    # same name, other time: new
        ListedFile("DCIM/101GOPRO/GX010005.MP4", 2000, T0),                            # same size and time, other name: new
    ]
    with db.session() as session:
        found = find_imported(session, listing)
        fresh = new_files(session, listing)
    assert set(found) == {"DCIM/100GOPRO/GX010001.MP4", "DCIM/100GOPRO/gx010002.mp4"}
    assert found["DCIM/100GOPRO/gx010002.mp4"].stored_path == "/lib/gx010002.mp4"  # the record itself
    assert [f.path for f in fresh] == ["DCIM/100GOPRO/GX010003.MP4", "DCIM/100GOPRO/GX010004.MP4",
                                       "DCIM/101GOPRO/GX010001.MP4", "DCIM/101GOPRO/GX010005.MP4"]
    db.close()


def test_empty_listing_and_empty_library(sqlite_url):
    db = Database(sqlite_url)
    upgrade(db.engine)
    with db.session() as session:
        assert find_imported(session, []) == {}
        assert len(new_files(session, [ListedFile("A.MP4", 1, T0)])) == 1
    db.close()


def test_split_listing_sets_proxies_and_other_files_apart(sqlite_url):
    db = Database(sqlite_url)
    upgrade(db.engine)
    with db.session() as session:
        _record(session, "DCIM/100GOPRO/GX010001.MP4", 1000, T0)
    paths = ["DCIM/100GOPRO/GX010001.MP4", "DCIM/100GOPRO/GX010002.mp4", "DCIM/100GOPRO/GL010002.LRV",
             "DCIM/100GOPRO/GX010002.THM", "DCIM/100GOPRO/G0010003.JPG", "DCIM/100GOPRO/.mp4",
             "MISC/notes.txt", "DCIM/100GOPRO/GX010004.MP4/"]
    listing = [ListedFile(path, 1000 if "0001" in path else 2000 + i, T0) for i, path in enumerate(paths)]
    with db.session() as session:
        without = split_listing(session, listing, import_proxies=False)
        with_proxies = split_listing(session, listing, import_proxies=True)
    db.close()
    assert without.new == ["DCIM/100GOPRO/GX010002.mp4", "DCIM/100GOPRO/G0010003.JPG", "DCIM/100GOPRO/GX010004.MP4/"]
    assert set(without.imported_before) == {"DCIM/100GOPRO/GX010001.MP4"}
    assert without.not_imported_kind == ["DCIM/100GOPRO/GL010002.LRV", "DCIM/100GOPRO/GX010002.THM",
                                         "DCIM/100GOPRO/.mp4", "MISC/notes.txt"]
    assert with_proxies.not_imported_kind == ["DCIM/100GOPRO/.mp4", "MISC/notes.txt"]
    # The same rule as file_kinds, file by file.
    for split, proxies in ((without, False), (with_proxies, True)):
        assert all(is_imported_kind(kind_of(p), proxies) for p in split.new + list(split.imported_before))
        assert not any(is_imported_kind(kind_of(p), proxies) for p in split.not_imported_kind)
