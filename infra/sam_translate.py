#!/usr/bin/env python3
"""Transforms the SAM template into plain CloudFormation, offline, and prints it as JSON.

    target/infratools/bin/python infra/sam_translate.py [template] [Key=Value ...] > out.json

Needs the `aws-sam-translator` package, which comes with aws-sam-cli:
`python3 -m venv target/infratools && target/infratools/bin/pip install 'aws-sam-cli>=1,<2'`.

Runs the transform CloudFormation runs at deploy time (AWS::Serverless-2016-10-31), without AWS
credentials or network access: managed policy names are resolved from the map bundled with the
translator (this template uses none: each function has an explicit role), and local code paths
(`CodeUri: ../functions`) are replaced by placeholder S3 locations, standing in for the upload
`sam deploy` does. Optional Key=Value arguments are parameter values; the template's defaults
fill the rest, as at deploy time.
"""

import json
import os
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

DEFAULT_TEMPLATE = Path(__file__).resolve().parent / "template.yaml"


class OfflineManagedPolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader, which lists policies through IAM."""

    def load(self):
        try:
            from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
        except ImportError:
            return {}
        return get_bundled_managed_policy_map("aws") or {}


# Properties that `sam package` uploads when they name a local path.
LOCAL_ARTIFACTS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def _packaged(value):
    if isinstance(value, str) and not value.startswith("s3://"):
        return "s3://packaged-artifacts/" + value.strip("./").replace("\\", "/")
    return value


def package_placeholders(template):
    """Points local artifact paths at placeholder S3 URIs, as `sam package` would at real ones."""
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = _packaged(function_globals["CodeUri"])
    for resource in template.get("Resources", {}).values():
        prop = LOCAL_ARTIFACTS.get(resource.get("Type"))
        properties = resource.get("Properties") or {}
        if prop and prop in properties:
            properties[prop] = _packaged(properties[prop])
    return template


def translate(template_path, parameter_values=None):
    template = yaml_parse(Path(template_path).read_text(encoding="utf-8"))
    return transform(
        package_placeholders(template), parameter_values or {}, OfflineManagedPolicyLoader()
    )


def main(argv):
    path = DEFAULT_TEMPLATE
    params = {}
    for arg in argv:
        if "=" in arg:
            key, value = arg.split("=", 1)
            params[key] = value
        else:
            path = Path(arg)
    # The translator builds a few ARNs from the session's partition; any region of the
    # standard partition gives the same output.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    json.dump(translate(path, params), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
