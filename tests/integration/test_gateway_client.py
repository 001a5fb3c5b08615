"""The OpenAPI document is one a generator accepts (GW-1, GW-3): a Python
client generated with openapi-python-client from the live /openapi.json walks
an appeal from filing to closing, as a department's system would."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ENTERPRISE_A
from tests.integration.test_gateway_kit import api, stack, token, who  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.db_independent]

WALK = Path(__file__).resolve().parent.parent / "support" / "client_walk.py"


def generator():
    """openapi-python-client from this interpreter's environment (a test extra)."""
    found = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert found, "openapi-python-client is a test dependency: pip install -e '.[test]'"
    return found


def test_a_generated_client_walks_an_appeal_from_filing_to_closing(api, who, tmp_path):
    # rule: GW-3
    spec = api.get("/openapi.json")
    assert spec.status_code == 200
    (tmp_path / "openapi.json").write_bytes(spec.content)
    generated = subprocess.run(
        [generator(), "generate", "--path", str(tmp_path / "openapi.json"),
         "--output-path", str(tmp_path / "qinqing_client"), "--meta", "none"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    report = generated.stdout + generated.stderr
    assert generated.returncode == 0, report
    # every schema became a model: no clash of names, nothing dropped
    assert "Unable to process schema" not in report and "duplicate" not in report, report
    for module in ("appeals/create_appeal.py", "appeals/act_feedback.py", "routing/add_route.py",
                   "rectification/close_rectification_item.py", "appeals/department_list.py",
                   "open311/open311_create.py"):
        assert (tmp_path / "qinqing_client" / "api" / module).exists(), module

    walked = subprocess.run(
        [sys.executable, str(WALK), api.base,
         token("enterprise", ENTERPRISE_A, sub="user-a"),
         who["dept_key"]["X-API-Key"]],  # the department's system, as in the README
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "NO_PROXY": "*"})
    assert walked.returncode == 0, walked.stderr
    seen = json.loads(walked.stdout.strip().splitlines()[-1])
    assert "permit" in seen["categories"]
    assert seen["filed"] == 201 and seen["same_again"] is True and seen["lead"] == "approval"
    assert seen["early_feedback"] == [409, "Conflict"]  # the state refuses it; nothing changed
    assert seen["statuses"] == ["assigned", "accepted", "replied", "closed"]
    assert (seen["final"], seen["rating"]) == ("closed", 5)
    assert seen["history"][-3:] == ["accept", "reply", "feedback"]
    # the client's work is the ledger's: the appeal is closed for everyone
    closed = api.get(f"/api/v1/appeals/{seen['id']}",
                     headers={"Authorization": f"Bearer {token('taskforce', 'taskforce')}"})
    assert closed.json()["status"] == "closed"
