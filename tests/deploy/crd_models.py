"""Run by the deploy tools' Python (.venv-checkov), not by pytest:

    .venv-checkov/bin/python tests/deploy/crd_models.py rendered.yaml …

Checks every KEDA and Prometheus Operator object against models generated
from those projects' published CRD schemas (the cloudcoil-models packages).
The models ignore unknown fields, so each object is also read back and any
field the schema does not know, or a value it had to coerce, is reported.
Prints a JSON object {"checked": {path: {kind: n}}, "problems": {path: [...]}}.
"""
import json
import sys
from collections import Counter

import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication
from cloudcoil.models.prometheus_operator.v1 import PodMonitor, ServiceMonitor
from pydantic import ValidationError

MODELS = {
    ("keda.sh/v1alpha1", "ScaledObject"): ScaledObject,
    ("keda.sh/v1alpha1", "TriggerAuthentication"): TriggerAuthentication,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ServiceMonitor,
    ("monitoring.coreos.com/v1", "PodMonitor"): PodMonitor,
}


def unknown(given, read, path=""):
    if isinstance(given, dict) and isinstance(read, dict):
        return [p for k in given for p in (
            [f"{path}.{k}: not in the schema"] if k not in read else unknown(given[k], read[k], f"{path}.{k}"))]
    if isinstance(given, list) and isinstance(read, list):
        return [p for i, (a, b) in enumerate(zip(given, read)) for p in unknown(a, b, f"{path}[{i}]")]
    return [] if given == read else [f"{path}: {given!r} read as {read!r}"]


def main(paths):
    checked, problems = {}, {}
    for path in paths:
        checked[path], problems[path] = Counter(), []
        with open(path, encoding="utf-8") as f:
            for obj in yaml.safe_load_all(f):
                model = obj and MODELS.get((obj.get("apiVersion"), obj.get("kind")))
                if not model:
                    continue
                where = f"{obj['kind']}/{obj['metadata']['name']}"
                checked[path][obj["kind"]] += 1
                try:
                    read = model.model_validate(obj).model_dump(by_alias=True, exclude_unset=True,
                                                                mode="json")
                except ValidationError as exc:
                    problems[path].append(f"{where}: {exc}")
                    continue
                problems[path].extend(f"{where} {p}" for p in unknown(obj, read))
    print(json.dumps({"checked": checked, "problems": problems}))
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
