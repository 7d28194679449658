"""`crawler extract` and `crawler sites`: output, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from crawler.cli import main
from crawler.errors import EXIT_INPUT, EXIT_INVALID_CONFIG, EXIT_NOT_EXTRACTED, EXIT_OK

FIXTURE = Path(__file__).parent / "fixtures" / "sites" / "suara" / "synthetic-jsonld.html"
URL = "https://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"


def test_extract_prints_the_article_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(FIXTURE), "--url", URL]) == EXIT_OK
    out = capsys.readouterr().out
    article = json.loads(out)
    assert article["site"] == "suara"
    assert article["title"] == "Harga Cabai Rawit di Pasar Induk Turun Jelang Akhir Pekan"
    assert out.startswith("{\n  \"url\"")  # indent 2, keys in record order


def test_extract_reads_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(FIXTURE.read_bytes()))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["extract", "-", "--url", URL, "--site", "suara"]) == EXIT_OK
    assert "Dinda Rachmawati" in capsys.readouterr().out


def test_extract_keeps_non_ascii_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "page.html"
    line = "<p>Kafé “Kopi” {} di Jakarta ramai dikunjungi, kata pengelola, pada akhir pekan lalu.</p>"
    paragraph = "".join(line.format(n) for n in range(4))
    page.write_text(
        "<html><head><meta property='og:type' content='article'><title>Kafé “Kopi”</title></head>"
        f"<body><article>{paragraph}</article></body></html>",
        encoding="utf-8",
    )
    assert main(["extract", str(page), "--url", "https://unknown.example/a"]) == EXIT_OK
    assert "Kafé “Kopi”" in capsys.readouterr().out


def test_not_an_article_exits_6_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["extract", str(FIXTURE), "--url", "https://www.suara.com/indeks"])
    err = capsys.readouterr().err
    assert code == EXIT_NOT_EXTRACTED
    assert err.count("\n") == 1 and "no article at https://www.suara.com/indeks" in err


def test_unreadable_file_exits_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["extract", str(tmp_path / "missing.html"), "--url", URL])
    err = capsys.readouterr().err
    assert code == EXIT_INPUT
    assert err.count("\n") == 1 and "missing.html" in err


def test_unknown_site_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(FIXTURE), "--url", URL, "--site", "nope"]) == EXIT_INVALID_CONFIG
    assert "unknown site 'nope'" in capsys.readouterr().err


def test_sites_lists_every_builtin_site(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sites"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["site", "enabled", "domains", "generations"]
    suara = next(line for line in lines if line.startswith("suara "))
    assert "suara.com" in suara and "current" in suara
