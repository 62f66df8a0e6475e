"""Reading files in blocks with compact storage: the values pandas' own reader gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from toolkit import files
from toolkit.errors import FileFormatError


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(4)
    n = 6_000
    frame = pd.DataFrame(
        {
            "id": [f"c{i // 10:04d}" for i in range(n)],
            "session": np.tile(np.arange(1, 11), n // 10),
            "score": rng.integers(0, 63, n).astype(float),
            "noise": rng.normal(size=n).round(6),
            "note": [f"free text {i}" for i in range(n)],
        }
    )
    frame.loc[[7, 4_000], "score"] = np.nan
    path = tmp_path / "scores.csv"
    frame.to_csv(path, index=False)
    return path


def test_compact_columns_hold_pandas_values(csv):
    got = files.read_table(csv)
    want = pd.read_csv(csv, engine="pyarrow")
    assert got.dtypes.astype(str).to_dict() == {
        "id": "category",  # 600 distinct ids in 6,000 rows
        "session": "int8",
        "score": "float32",  # whole numbers with NaN: exact in 32 bits
        "noise": "float64",  # six decimals are not exact in 32 bits
        "note": "str",  # every value distinct: stays text
    }
    for column in want.columns:
        a = got[column].astype(object).where(got[column].notna(), None).tolist()
        b = want[column].astype(object).where(want[column].notna(), None).tolist()
        assert a == b, column
    assert got.index.equals(pd.RangeIndex(len(want)))


def test_blocks_stack_to_the_whole_file_and_restart_on_a_wider_type(tmp_path):
    # A fraction far below the first block: the scan starts again with floats.
    lines = ["client,session,score"] + [f"{i // 5},{i % 5},{i % 27}" for i in range(20_000)]
    lines[15_000] = "2999,4,12.5"
    path = tmp_path / "late.csv"
    path.write_text("\n".join(lines) + "\n")
    chunks = {c.index: c for c in files.scan_table(path, block_bytes=1 << 14)}
    assert len(chunks) > 5
    stacked = files.concat_compact([chunks[i].frame for i in sorted(chunks)])
    whole = files.read_table(path)
    pd.testing.assert_frame_equal(stacked, whole)
    assert whole["score"].dtype == np.float32
    assert whole.loc[14_999, "score"] == 12.5
    assert chunks[3].first_row == sum(len(chunks[i].frame) for i in range(3))
    want = pd.read_csv(path, engine="pyarrow")
    np.testing.assert_array_equal(whole["score"].to_numpy(float), want["score"].to_numpy(float))


def test_parquet_row_groups_keep_their_file_positions(tmp_path):
    frame = pd.DataFrame({"client": np.repeat(np.arange(300), 4), "score": np.arange(1200.0)})
    path = tmp_path / "r.parquet"
    frame.to_parquet(path, row_group_size=250, index=False)
    (chunk,) = files.scan_table(path, row_groups=[2])
    assert chunk.first_row == 500
    assert chunk.frame.index[0] == 500
    np.testing.assert_array_equal(chunk.frame["score"], frame["score"].iloc[500:750])


def test_dates_decided_over_blocks_as_over_the_whole_column():
    dates = pd.Series(["03/04/2024", "05/06/2024", "25/04/2024", "01/02/2024"])
    whole = files.parse_dates(dates, column="when")
    evidence = files.date_evidence(dates[:2]).merge(files.date_evidence(dates[2:], offset=2))
    fmt, dayfirst = files.date_order(evidence, column="when")
    assert dayfirst is True
    pd.testing.assert_series_equal(
        files.to_dates(dates, column="when", date_format=fmt, dayfirst=dayfirst), whole
    )
    with pytest.raises(FileFormatError, match="row 1 \\('31/31/2024'\\)"):
        files.to_dates(
            pd.Series(["01/02/2024", "31/31/2024"]),
            column="when",
            date_format="%d/%m/%Y",
            dayfirst=True,
        )


def test_ids_become_numbers_only_when_every_block_says_so():
    assert files.tidy_ids(pd.Series(["17", "3"], dtype="category")).tolist() == [17, 3]
    assert files.tidy_ids(pd.Series(["17", "3"]), whole=False).tolist() == ["17", "3"]
    assert files.tidy_ids(pd.Series(["017", "3"])).tolist() == ["017", "3"]
