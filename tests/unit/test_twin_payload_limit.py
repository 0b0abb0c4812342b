from collections import deque
from datetime import datetime, timezone

from retail_lake.twin.executors.kinesis_poller import INVOCATION_PAYLOAD_LIMIT, _Record, _within_payload_limit


def records(n, size):
    now = datetime.now(timezone.utc)
    return deque(_Record("shardId-0", str(i), "pk", b"x" * size, now) for i in range(n))


def test_a_batch_stays_within_lambdas_6_mb_invocation_payload():
    batch = _within_payload_limit(records(500, 50 * 1024), 500)
    per_record = 4 * -(-50 * 1024 // 3) + 512  # base64 data plus the event JSON around it
    assert 80 < len(batch) < 500  # about 91 records of 50 KiB: far fewer than BatchSize
    assert len(batch) * per_record <= INVOCATION_PAYLOAD_LIMIT < (len(batch) + 1) * per_record + 16


def test_batch_size_still_applies_and_one_oversized_record_still_goes():
    assert len(_within_payload_limit(records(500, 100), 100)) == 100
    assert len(_within_payload_limit(records(3, 7 * 1024 * 1024), 3)) == 1
