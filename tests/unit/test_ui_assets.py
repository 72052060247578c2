"""Static assets: versioned names, gzip variants, Accept-Encoding parsing, the settings form."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from chrontainer_server.ui.accounts import safe_next
from chrontainer_server.ui.assets import Assets, accepts_gzip
from chrontainer_server.ui.settings_form import parse_form


def test_assets_are_hashed_and_gzipped(tmp_path: Path) -> None:
    (tmp_path / "vendor").mkdir()
    (tmp_path / "app.css").write_text("body { color: red; }\n" * 50)
    (tmp_path / "vendor" / "lib.js").write_text("x")
    (tmp_path / "vendor" / "lib.LICENSE").write_text("not published")
    assets = Assets(tmp_path)
    assets.load()
    css = assets.url("app.css")
    assert css.startswith("/static/app.") and css.endswith(".css") and len(css) == len(
        "/static/app..css") + 10
    assert assets.url("vendor/lib.js").startswith("/static/vendor/lib.")
    by_path = {a.path: a for a in assets}
    assert set(by_path) == {"app.css", "vendor/lib.js"}
    assert gzip.decompress(by_path["app.css"].gzipped or b"") == by_path["app.css"].body
    assert by_path["vendor/lib.js"].gzipped is None  # one byte does not shrink
    with pytest.raises(KeyError):
        assets.url("missing.js")


def test_module_imports_point_at_versioned_urls(tmp_path: Path) -> None:
    (tmp_path / "api.js").write_text("export const x = 1;\n")
    (tmp_path / "page.js").write_text('import { x } from "./api.js";\nconsole.log(x);\n')
    assets = Assets(tmp_path)
    assets.load()
    first = assets.url("page.js")
    body = {a.path: a for a in assets}["page.js"].body.decode()
    assert f'from "{assets.url("api.js")}"' in body and "./api.js" not in body
    # The importer's URL changes with what it imports, so a browser never mixes versions.
    (tmp_path / "api.js").write_text("export const x = 2;\n")
    assets.load()
    assert assets.url("page.js") != first


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/hosts?x=1", "/hosts?x=1"), ("/", "/"), (None, "/containers"), ("", "/containers"),
     ("//evil.example", "/containers"), ("/\\evil.example", "/containers"),
     ("https://evil.example/", "/containers"), ("javascript:alert(1)", "/containers"),
     ("/a\nb", "/containers")],
)
def test_safe_next_allows_same_site_paths_only(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [("gzip, deflate, br", True), ("br;q=1, gzip;q=0.5", True), ("*", True),
     ("gzip;q=0", False), ("identity", False), ("", False), ("gzip;q=x", False)],
)
def test_accepts_gzip(header: str, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_parse_form_types_and_read_only() -> None:
    changes, errors = parse_form(
        {"instance_name": "Lab", "session_idle_timeout_minutes": " 60 ",
         "audit_retention_days": "abc", "metrics_retention_days": "30", "events_keep": "500",
         "default_timezone": "Europe/Berlin", "run_history_days": "14",
         "notify_throttle_minutes": "0", "restart_loop_count": "3", "restart_loop_minutes": "5",
         "update_check_cron": "0 3 * * 1", "update_grace_seconds": "30",
         "volume_restore_max_mb": "512", "volume_restore_max_expanded_mb": "1024"},
        read_only=("require_2fa",),
    )
    assert changes == {"instance_name": "Lab", "session_idle_timeout_minutes": 60,
                       "metrics_retention_days": 30, "events_keep": 500,
                       "default_timezone": "Europe/Berlin", "run_history_days": 14,
                       "schedules_paused": False, "notify_throttle_minutes": 0,
                       "restart_loop_count": 3, "restart_loop_minutes": 5,
                       "update_check_cron": "0 3 * * 1", "update_grace_seconds": 30,
                       "volume_restore_max_mb": 512, "volume_restore_max_expanded_mb": 1024}
    assert errors == {"audit_retention_days": "must be a whole number"}
    changes, _ = parse_form({}, read_only=())
    assert changes["require_2fa"] is False  # an unchecked box is not posted
