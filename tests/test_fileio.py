from __future__ import annotations

import pytest

from unetseg.fileio import atomic_write


def test_writes_text_and_bytes(tmp_path):
    with atomic_write(tmp_path / "a.txt") as handle:
        handle.write("hello")
    with atomic_write(tmp_path / "b.bin", "wb") as handle:
        handle.write(b"\x00\x01")
    assert (tmp_path / "a.txt").read_text() == "hello"
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"


def test_a_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old content")

    def write_and_crash():
        with atomic_write(target) as handle:
            handle.write("half of the new")
            raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError, match="crash while writing"):
        write_and_crash()
    assert target.read_text() == "old content"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_missing_folder_is_named(tmp_path):
    with (
        pytest.raises(FileNotFoundError, match="missing"),
        atomic_write(tmp_path / "missing" / "x"),
    ):
        pass


def test_mode_is_checked(tmp_path):
    with pytest.raises(ValueError, match="mode"), atomic_write(tmp_path / "x", "a"):
        pass


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    from unetseg.fileio import atomic_write

    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as handle:
            handle.write("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
