import pytest

from monosem_lib.parallel import run_in_processes
from tests.parallel_jobs import count_job, failing_job


def test_jobs_run_in_processes_and_return_their_results():
    jobs = {"a": {"n": 3, "tag": "x"}, "b": {"n": 5, "tag": "y"}, "c": {"n": 2, "tag": "z"}}
    out = run_in_processes(count_job, jobs, {"a": 3, "b": 5, "c": 2}, max_procs=2, parallel=True)
    assert list(out) == ["a", "b", "c"]
    assert out["b"]["tag"] == "y" and out["b"]["steps"] == 5 and out["b"]["threads"] == 1
    assert out["a"]["pid"] != out["b"]["pid"]


def test_sequential_path_gives_the_same_results():
    jobs = {"a": {"n": 2, "tag": "x"}}
    out = run_in_processes(count_job, jobs, 2, parallel=False)
    assert out["a"]["steps"] == 2 and out["a"]["tag"] == "x"


def test_a_worker_error_is_one_line_naming_the_job():
    jobs = {"ok": {"n": 1, "tag": "x"}, "bad": {"message": "sae.l1_coeff=-1 must be positive"}}
    with pytest.raises(RuntimeError, match=r"^job bad: ValueError: sae.l1_coeff=-1 must be positive$"):
        run_in_processes(failing_job, jobs, 1, parallel=True, desc="job ")


def test_a_crashed_worker_is_reported_with_its_exit_code():
    with pytest.raises(RuntimeError, match=r"crash stopped \(exit code 3\); re-run to resume"):
        run_in_processes(failing_job, {"crash": {"exit_code": 3}}, 1, parallel=True)
