import datetime as dt

import pytest

from retail_lake.batch.windows import run_window


def test_run_window_rewrites_the_late_days_and_reads_their_raw_partitions():
    window = run_window("2026-03-10", late_days=2)
    assert window.event_dates == [dt.date(2026, 3, 8), dt.date(2026, 3, 9), dt.date(2026, 3, 10)]
    # local dates start before UTC ones (one day before) and local evenings are ingested the next UTC day
    assert window.raw_dts == ["2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10", "2026-03-11"]


def test_run_window_rejects_a_bad_date():
    with pytest.raises(ValueError, match="not a date: pass YYYY-MM-DD"):
        run_window("10/03/2026")
