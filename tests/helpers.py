"""Small helpers several test modules share: the CLI's answer and a page job's end."""

from __future__ import annotations

import time

from lowrankgan.cli import main


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``lowrankgan ARGV``: exit code, standard output, standard error."""
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def wait_job(client, job_id: str, timeout: float = 300.0) -> dict:
    """The page's job ``job_id`` once done or failed (its ``fraction`` readings in ``fractions``)."""
    end, fractions = time.monotonic() + timeout, []
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        fractions.append(job.get("fraction"))
        if job["state"] in ("done", "error"):
            job["fractions"] = fractions
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def wait_paths(client, result_id: str, timeout: float = 900.0) -> dict:
    """The background walk of a page result's local paths (``/api/paths``) once it has ended."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        walk = client.get(f"/api/paths?result={result_id}").get_json()
        if walk["state"] != "running":
            return walk
        time.sleep(0.1)
    raise AssertionError(f"the paths of result {result_id} were not walked in {timeout} s")
