"""`riskshare tokenize`: raw identifiers in, tokens out, rejects without raw values."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sharing.cli import main
from sharing.tokens.identifiers import make_token
from sharing.tokens.keyfile import key_file_write, key_generate

VALID_ID = "11010519491231002X"
LEGACY_ID = "110105491231002"
BAD_ID = "110105194912310021"


@pytest.fixture
def key_file(tmp_path: Path):
    material = key_generate(3)
    path = tmp_path / "key.json"
    key_file_write(path, material)
    return path, material


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def read_csv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_tokenize_replaces_mapped_columns(tmp_path, key_file, capsys):
    path, material = key_file
    source = write_csv(
        tmp_path / "in.csv",
        [
            ["loan_id", "id_number", "phone", "amount"],
            ["L1", VALID_ID, "+86 138 0013 8000", "100.00"],
            ["L2", LEGACY_ID, "", "5"],
            ["L3", BAD_ID, "12800138000", "7"],
            ["L4", "", "", "8"],
        ],
    )
    out = tmp_path / "out.csv"
    code = main(
        [
            "tokenize",
            str(source),
            "-o",
            str(out),
            "--key-file",
            str(path),
            "--column",
            "id_number=cn_resident_id",
            "--column",
            "phone=cn_mobile",
        ]
    )
    assert code == 0
    rows = read_csv(out)
    assert rows[0] == ["loan_id", "token:cn_resident_id", "token:cn_mobile", "amount", "key_version"]
    assert rows[1] == [
        "L1",
        make_token(material.key, "cn_resident_id", VALID_ID),
        make_token(material.key, "cn_mobile", "13800138000"),
        "100.00",
        "3",
    ]
    # The legacy number is the same person as L1: the same token.
    assert rows[2] == ["L2", rows[1][1], "", "5", "3"]
    assert len(rows) == 3
    rejects = read_csv(tmp_path / "in.rejects.csv")
    assert rejects == [
        ["row", "column", "reason"],
        ["3", "id_number", "bad_check_character"],
        ["3", "phone", "bad_format"],
        ["4", "", "no_identifier"],
    ]
    assert BAD_ID not in (tmp_path / "in.rejects.csv").read_text()
    assert "2 rows" in capsys.readouterr().err


def test_full_width_and_gb18030_input(tmp_path, key_file):
    path, material = key_file
    source = tmp_path / "gbk.csv"
    source.write_bytes("姓名,手机\n张三,１３８００１３８０００\n".encode("gb18030"))
    out = tmp_path / "out.csv"
    assert (
        main(
            [
                "tokenize",
                str(source),
                "-o",
                str(out),
                "--key-file",
                str(path),
                "--column",
                "手机=cn_mobile",
                "--encoding",
                "gb18030",
            ]
        )
        == 0
    )
    assert read_csv(out)[1] == ["张三", make_token(material.key, "cn_mobile", "13800138000"), "3"]


def test_key_file_from_environment(tmp_path, key_file, monkeypatch):
    path, _ = key_file
    monkeypatch.setenv("RISKSHARE_CONSORTIUM_KEY_FILE", str(path))
    source = write_csv(tmp_path / "in.csv", [["phone"], ["13800138000"]])
    assert main(["tokenize", str(source), "-o", str(tmp_path / "o.csv"), "--column", "phone=cn_mobile"]) == 0


def test_key_is_never_taken_from_the_command_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["tokenize", "in.csv", "-o", "o.csv", "--key", "00" * 32, "--column", "a=cn_mobile"])
    assert excinfo.value.code == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["--column", "nope=cn_mobile"], "not in the header"),
        (["--column", "phone=passport"], "unknown identifier type"),
        (["--column", "phone"], "NAME=TYPE"),
        (["--column", "phone=cn_mobile", "--column", "other=cn_mobile"], "mapped twice"),
        ([], "at least one column"),
    ],
)
def test_usage_errors_are_one_line(tmp_path, key_file, capsys, args, message):
    path, _ = key_file
    source = write_csv(tmp_path / "in.csv", [["phone", "other"], ["13800138000", "x"]])
    assert main(["tokenize", str(source), "-o", str(tmp_path / "o.csv"), "--key-file", str(path), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("riskshare: error:") and message in err[0]


def test_bad_key_files(tmp_path, capsys):
    source = write_csv(tmp_path / "in.csv", [["phone"], ["13800138000"]])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": 1, "key": "zz" * 32}))
    assert (
        main(
            [
                "tokenize",
                str(source),
                "-o",
                str(tmp_path / "o.csv"),
                "--key-file",
                str(bad),
                "--column",
                "phone=cn_mobile",
            ]
        )
        == 1
    )
    assert "hexadecimal" in capsys.readouterr().err
    assert (
        main(
            [
                "tokenize",
                str(source),
                "-o",
                str(tmp_path / "o.csv"),
                "--key-file",
                str(tmp_path / "none.json"),
                "--column",
                "phone=cn_mobile",
            ]
        )
        == 1
    )
    assert "not found" in capsys.readouterr().err


def test_console_script_is_quiet_without_a_terminal(tmp_path, key_file):
    path, _ = key_file
    rows = [["phone"]] + [[f"138{n:08d}"] for n in range(20_000)]
    source = write_csv(tmp_path / "in.csv", rows)
    script = Path(sys.executable).with_name("riskshare")
    result = subprocess.run(  # noqa: S603 - our own console script
        [
            str(script),
            "tokenize",
            str(source),
            "-o",
            str(tmp_path / "o.csv"),
            "--key-file",
            str(path),
            "--column",
            "phone=cn_mobile",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"riskshare: tokenized 20000 rows with key version 3; 0 rejected (see {tmp_path / 'in.rejects.csv'})"
    ]


def test_jobs_write_the_same_file_as_one_process(tmp_path, key_file):
    path, _material = key_file
    rows = [["id_number", "phone"]]
    for n in range(9_001):  # several chunks, the last one short, with rejects spread among them
        rows.append([VALID_ID if n % 7 else BAD_ID, "13800138000" if n % 5 else ""])
    source = write_csv(tmp_path / "in.csv", rows)
    outputs = []
    for jobs in ("1", "3"):
        out = tmp_path / f"out{jobs}.csv"
        args = ["tokenize", str(source), "-o", str(out), "--key-file", str(path), "--jobs", jobs]
        assert main([*args, "--column", "id_number=cn_resident_id", "--column", "phone=cn_mobile"]) == 0
        outputs.append((out.read_text(), (tmp_path / "in.rejects.csv").read_text()))
    assert outputs[0] == outputs[1]
    assert outputs[0][1].count("bad_check_character") == 1_286
