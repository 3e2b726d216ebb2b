from pathlib import Path

import pytest

from function_app.cli import main


def test_serve_with_a_missing_images_folder_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fresh_dsn: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", fresh_dsn)
    monkeypatch.setenv("MODEL_SHARE_PATH", str(tmp_path / "share"))
    monkeypatch.setenv("IMAGE_STORE", "folder")
    monkeypatch.setenv("IMAGES_DIR", str(tmp_path / "no-such-folder"))
    expected = r"configuration error: images folder does not exist: .*no-such-folder"
    with pytest.raises(SystemExit, match=expected):
        main(["serve", "--port", "0"])


def test_malformed_setting_stops_the_command_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_NPROBE", "many")
    expected = r"configuration error: SEARCH_NPROBE must be an integer, got 'many'"
    with pytest.raises(SystemExit, match=expected):
        main(["serve"])
