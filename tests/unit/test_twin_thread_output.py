"""The twin's in-process job runs capture only their own thread's output: what the caller prints while a Glue or
EMR Serverless run is going stays on the caller's stream and out of the run's log."""

from __future__ import annotations

import io
import sys
import threading

from retail_lake.twin.executors.thread_output import thread_output


def test_a_run_logs_its_own_thread_and_leaves_the_callers_output_alone(capsys):
    before = sys.stdout, sys.stderr
    run_log = io.StringIO()
    started, release = threading.Event(), threading.Event()

    def job() -> None:
        with thread_output(run_log):
            print("job: started")
            started.set()
            release.wait(5)
            print("job: traceback", file=sys.stderr)

    worker = threading.Thread(target=job)
    worker.start()
    assert started.wait(5)
    print("caller: progress while the job runs")  # the demo's progress line
    release.set()
    worker.join(5)
    assert run_log.getvalue() == "job: started\njob: traceback\n"
    assert capsys.readouterr().out == "caller: progress while the job runs\n"
    assert (sys.stdout, sys.stderr) == before  # the process's streams are put back when no run is left


def test_runs_on_two_threads_and_nested_runs_each_keep_their_log():
    first, second, inner = io.StringIO(), io.StringIO(), io.StringIO()
    barrier = threading.Barrier(2)

    def job(log: io.StringIO, name: str) -> None:
        with thread_output(log):
            barrier.wait(5)
            print(f"{name} 1")
            if name == "first":
                with thread_output(inner):
                    print("inner")
            barrier.wait(5)
            print(f"{name} 2")

    threads = [threading.Thread(target=job, args=(first, "first")), threading.Thread(target=job, args=(second, "second"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert (first.getvalue(), second.getvalue(), inner.getvalue()) == ("first 1\nfirst 2\n", "second 1\nsecond 2\n",
                                                                       "inner\n")
