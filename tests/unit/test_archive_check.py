"""The archive validation of a volume restore (pure): archives built with tarfile, each bad
case refused with the entry named, and the valid edge cases accepted."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from chrontainer_core.errors import InvalidInput, TooLarge
from chrontainer_core.volumes.archive_check import check_archive, normalise
from chrontainer_core.volumes.rebase import build_replacement, rebuild

LIMIT = 10 * 1024 * 1024

# (name, kind, payload): kind is "f" (file, payload = bytes), "d" (directory), "s" (symlink,
# payload = target), "h" (hard link, payload = target), "c" (character device), "p" (fifo).
Entry = tuple[str, str, object]


def tar_bytes(entries: list[Entry], *, gz: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if gz else "w",
                      format=tarfile.PAX_FORMAT) as tar:
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "f":
                assert isinstance(payload, bytes)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"d": tarfile.DIRTYPE, "s": tarfile.SYMTYPE, "h": tarfile.LNKTYPE,
                         "c": tarfile.CHRTYPE, "p": tarfile.FIFOTYPE}[kind]
            if kind in ("s", "h"):
                info.linkname = str(payload)
            tar.addfile(info)
    return buffer.getvalue()


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "archive"
    path.write_bytes(data)
    return path


def check(tmp_path: Path, entries: list[Entry], **options: object) -> object:
    return check_archive(write(tmp_path, tar_bytes(entries)), max_bytes=LIMIT, **options)  # type: ignore[arg-type]


def refused(tmp_path: Path, entries: list[Entry]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check(tmp_path, entries)
    assert caught.value.field == "archive"
    return caught.value


def test_a_docker_style_archive_is_accepted_with_its_counts(tmp_path: Path) -> None:
    summary = check(tmp_path, [(".", "d", None), ("./conf", "d", None),
                               ("./conf/app.yml", "f", b"a: 1\n"), ("./data.bin", "f", b"x" * 5000),
                               ("./conf/link", "s", "app.yml"), ("./hard", "h", "./data.bin")])
    assert (summary.entries, summary.bytes, summary.compressed) == (6, 5005, True)  # type: ignore[attr-defined]


def test_names_without_the_dot_prefix_and_a_plain_tar_are_accepted(tmp_path: Path) -> None:
    data = tar_bytes([("dir", "d", None), ("dir/f", "f", b"1"), ("sib", "f", b"2"),
                      ("dir/up", "s", "../sib"), ("dir/deeper/x", "s", "../f")], gz=False)
    summary = check_archive(write(tmp_path, data), max_bytes=LIMIT)
    assert (summary.entries, summary.bytes, summary.compressed) == (5, 2, False)


@pytest.mark.parametrize(("name", "why"), [
    ("/etc/passwd", "absolute"), ("../escape", "'..'"), ("a/../../b", "'..'"),
    ("a/../b", "'..'"), ("./x/..", "'..'"),
])
def test_escaping_names_are_refused_naming_the_entry(tmp_path: Path, name: str,
                                                     why: str) -> None:
    err = refused(tmp_path, [("ok", "f", b"fine"), (name, "f", b"bad")])
    assert name in err.message and why in err.message
    assert err.details["entry"] == name


@pytest.mark.parametrize("target", ["/etc/passwd", "../..", "../../x", "b/../../../x",
                                    "./../../x"])
def test_links_pointing_outside_are_refused(tmp_path: Path, target: str) -> None:
    err = refused(tmp_path, [("a", "d", None), ("a/link", "s", target)])
    assert "a/link" in err.message and "outside" in err.message


@pytest.mark.parametrize("target", ["..", "../x", "b/../../x"])
def test_links_with_dotdot_that_stay_inside_are_accepted(tmp_path: Path, target: str) -> None:
    check(tmp_path, [("a", "d", None), ("a/link", "s", target)])


def test_a_link_escaping_through_another_link_is_refused(tmp_path: Path) -> None:
    # "d" -> "." is inside, but "x" -> "d/.." then resolves to the root's parent; and a link
    # written below a linked directory resolves from where it really lands.
    refused(tmp_path, [("d", "s", "."), ("sub", "d", None), ("sub/x", "s", "../d/../..")])
    refused(tmp_path, [("deep", "d", None), ("deep/er", "d", None), ("jump", "s", "deep/er"),
                       ("jump/../../l", "f", b"")])  # plain '..' is refused anyway
    refused(tmp_path, [("top", "s", "."), ("top/up", "s", "..")])


def test_a_link_loop_is_not_an_escape(tmp_path: Path) -> None:
    check(tmp_path, [("a", "s", "b"), ("b", "s", "a")])


@pytest.mark.parametrize(("kind", "what"), [("c", "character device"), ("p", "fifo")])
def test_devices_and_fifos_are_refused(tmp_path: Path, kind: str, what: str) -> None:
    err = refused(tmp_path, [("ok", "f", b"x"), ("dev", kind, None)])
    assert "dev" in err.message and what in err.message


def test_hard_links_must_point_to_an_earlier_file_inside(tmp_path: Path) -> None:
    refused(tmp_path, [("h", "h", "later"), ("later", "f", b"x")])
    refused(tmp_path, [("f", "f", b"x"), ("h", "h", "../f")])
    refused(tmp_path, [("f", "f", b"x"), ("h", "h", "/f")])


def test_the_root_must_be_a_directory(tmp_path: Path) -> None:
    refused(tmp_path, [("./", "f", b"x")])


def test_limits_of_size_and_entries(tmp_path: Path) -> None:
    entries: list[Entry] = [("a", "f", b"x" * 600), ("b", "f", b"y" * 600)]
    path = write(tmp_path, tar_bytes(entries))
    assert check_archive(path, max_bytes=1200).bytes == 1200
    with pytest.raises(TooLarge) as caught:
        check_archive(path, max_bytes=1199)
    assert caught.value.details["limit"] == 1199 and "b" in caught.value.message
    with pytest.raises(TooLarge):
        check_archive(path, max_bytes=LIMIT, max_entries=1)


def test_damaged_and_truncated_archives_are_refused(tmp_path: Path) -> None:
    plain = tar_bytes([("a", "f", b"x" * 20000), ("b", "f", b"y" * 20000)], gz=False)
    members_end = 2 * (512 + 20480)
    cuts = {
        "in a header": plain[:100],
        "in a file's data": plain[:512 + 10000],
        "after the last member, before the end marker": plain[:members_end],
        "after one of the two end blocks": plain[:members_end + 512],
    }
    for what, data in cuts.items():
        with pytest.raises(InvalidInput, match="damaged or truncated"):
            check_archive(write(tmp_path, data), max_bytes=LIMIT)
        with pytest.raises(InvalidInput, match="damaged or truncated"):
            check_archive(write(tmp_path, gzip.compress(data)), max_bytes=LIMIT)
        assert what
    gz = gzip.compress(plain)
    for data in (gz[:-4], gz[:len(gz) // 2], gz[:10] + bytes(50) + gz[60:], b"", b"not a tar"):
        with pytest.raises(InvalidInput, match="damaged or truncated"):
            check_archive(write(tmp_path, data), max_bytes=LIMIT)
    # A header damaged after the first member is not taken for the archive's end.
    damaged = bytearray(plain)
    damaged[512 + 20480 + 10] ^= 0xFF
    with pytest.raises(InvalidInput, match="damaged or truncated"):
        check_archive(write(tmp_path, bytes(damaged)), max_bytes=LIMIT)
    # The intact archive passes, also as concatenated gzip members (pigz, cat a.gz b.gz).
    halves = gzip.compress(plain[:30000]) + gzip.compress(plain[30000:])
    assert check_archive(write(tmp_path, halves), max_bytes=LIMIT).entries == 2


def test_normalise() -> None:
    assert normalise("./a//b/./c") == "a/b/c"
    assert normalise(".") == normalise("./") == ""
    for bad in ("/a", "a/../b", "..", "a\x00b"):
        with pytest.raises(InvalidInput):
            normalise(bad)


def test_the_replacement_archive_renames_every_member_below_the_data_dir(
        tmp_path: Path) -> None:
    source = write(tmp_path, tar_bytes([
        (".", "d", None), ("./f", "f", b"data"), ("./d", "d", None), ("./d/l", "s", "../f"),
        ("./d/h", "h", "./f")]))
    out = tmp_path / "out.tar"
    build_replacement(source, out)
    with tarfile.open(out) as tar:
        members = [(m.name, m.type, m.linkname, m.size) for m in tar]
        assert tar.extractfile("_data/f").read() == b"data"  # type: ignore[union-attr]
    assert members == [
        ("_data", tarfile.REGTYPE, "", 0), ("_data", tarfile.DIRTYPE, "", 0),
        ("_data", tarfile.DIRTYPE, "", 0), ("_data/f", tarfile.REGTYPE, "", 4),
        ("_data/d", tarfile.DIRTYPE, "", 0), ("_data/d/l", tarfile.SYMTYPE, "../f", 0),
        ("_data/d/h", tarfile.LNKTYPE, "_data/f", 0),
    ]


def test_the_rebuilt_archive_carries_the_names_the_check_read(tmp_path: Path) -> None:
    # Every member under the name the check read (no "./", hard-link targets normalised),
    # so the engine extracts exactly what was checked.
    source = write(tmp_path, tar_bytes([
        (".", "d", None), ("./f", "f", b"data"), ("d", "d", None), ("./d/l", "s", "../f"),
        ("./d/h", "h", "./f")]))
    out = tmp_path / "out.tar"
    rebuild(source, out)
    with tarfile.open(out) as tar:
        members = [(m.name, m.type, m.linkname, m.size) for m in tar]
        assert tar.extractfile("f").read() == b"data"  # type: ignore[union-attr]
    assert members == [
        (".", tarfile.DIRTYPE, "", 0), ("f", tarfile.REGTYPE, "", 4),
        ("d", tarfile.DIRTYPE, "", 0), ("d/l", tarfile.SYMTYPE, "../f", 0),
        ("d/h", tarfile.LNKTYPE, "f", 0),
    ]
