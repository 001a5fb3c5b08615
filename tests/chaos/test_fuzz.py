"""A property-based fuzz of the whole HTTP API from its own OpenAPI document
(schemathesis): whatever a client sends, no 500, and every answer matches the
schema the document gives for it. Real gateway, appeals and inspections."""
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.service import GatewayService
from kernel.config import ROOT
from services.appeals.service import AppealsService
from services.inspections.service import InspectionsService
from services.notify.service import NotifyService
from services.scoring.service import ScoringService
from tests.chaos.conftest import record_figures
from tests.integration.test_gateway_kit import SECRET, UNLIMITED, token

pytestmark = pytest.mark.chaos

EXAMPLES = 4  # per operation: bounded so the chaos run stays in its time budget
PHASES = "examples,fuzzing"  # the coverage phase alone takes minutes on two cores
ST = Path(sys.executable).parent / "st"


def test_fuzz_the_whole_api_from_its_openapi_document(start_service, db_factory, tmp_path):
    # rule: GW-1 (every refusal is a documented problem, never a 500)
    start_service(AppealsService, DB_URL=db_factory("appeals"))
    # every backing service up: a route whose service is down answers 503 by design
    start_service(ScoringService, DB_URL=db_factory("scoring"))
    start_service(NotifyService, DB_URL=db_factory("notify"))
    start_service(InspectionsService, DB_URL=db_factory("inspections"),
                  INS_SEED_REGISTERS="none", INS_SEED_DIRECTORY="none")
    gateway = start_service(GatewayService, DB_URL=db_factory("gateway"),
                            GATEWAY_JWT_SECRET=SECRET, **UNLIMITED)
    base = f"http://{gateway.config['WEB_SERVER_ADDRESS']}"
    cmd = [str(ST), "run", f"{base}/openapi.json", "--url", base,
           "--checks", "not_a_server_error,response_schema_conformance",
           "--max-examples", str(EXAMPLES), "--phases", PHASES, "--seed", "14", "--request-timeout", "30",
           "--header", f"Authorization: Bearer {token('taskforce', 'taskforce', sub='fuzz')}",
           "--report", "junit", "--report-junit-path", str(tmp_path / "fuzz.xml"),
           "--no-color"]
    started = time.monotonic()
    output = tmp_path / "st.out"  # a file, not a pipe: a long report must not block it
    with output.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, cwd=tmp_path,
                                env={"PATH": "/usr/bin:/bin", "NO_PROXY": "*",
                                     "SCHEMATHESIS_HOOKS": ""})
        while proc.poll() is None:  # poll, so this process keeps serving the gateway meanwhile
            time.sleep(0.2)
    out = output.read_text(errors="replace")
    (ROOT / "var" / "chaos").mkdir(parents=True, exist_ok=True)
    (ROOT / "var" / "chaos" / "fuzz.log").write_text(out)
    assert proc.returncode == 0, out[-6000:]
    record_figures("fuzz", {"examples_per_operation": EXAMPLES,
                            "seconds": round(time.monotonic() - started, 1),
                            "summary": [line.strip() for line in out.splitlines()
                                        if "passed" in line or "Test cases" in line][-3:]})
