#!/usr/bin/env python3
"""Checks that the SAM template and the CDK app deploy the same Hookline.

    python infra/parity.py [--cdk infra/cdk/cdk.out/HooklineStack.template.json]
                           [--sam infra/template.yaml | --sam-json transformed.json]

Compares the SAM template after the SAM transform (run through infra/sam_translate.py) with the
CDK app's synthesized template: the resource counts the deployment spec lists, on both sides;
the counts of every other resource type, apart from those the two tools build differently
(IAM policies, API routes and integrations); the logical ids; and, resource by resource, the
settings: functions (runtime, architecture, sizes, logging, environment names and values),
event source mappings, schedule rules (expression, input, target function), log groups, queues,
the table and its scalable targets and scaling policies, the secret, topic, key and
subscription, alarms, the HTTP API's routes and stage, each function's IAM permissions, and the
outputs.

Values are compared after resolving what differs only in spelling: a parameter reference becomes
the parameter's default (the SAM template has parameters, the CDK app literal settings), a
resource reference becomes the resource's role (`<queue:dlq>`, `<fn:api>.Arn`), Fn::Sub and
Fn::Join become strings, numbers and booleans become strings (CloudFormation does the same).
A function is recognised by its bin: `Metadata.BuildProperties.Binary` (SAM), a Description
starting `Hookline <bin>:`, or failing both a logical id `<Bin>Function` (`Slow<Bin>Function`);
and, for the delivery bin, which runs once per lane, by its lane (`HOOKLINE_LANE`): the main
lane's is `delivery`, the slow lane's `delivery-slow`. The lanes are checked against the spec too:
each delivery function knows both lanes' queues, names its own lane, and consumes its queue.

A condition of the SAM template that depends only on parameters the CDK app takes as settings
(the table's capacity mode, say) is decided before comparing, as CloudFormation decides it at
deploy time: with the parameter's default or its --sam-param value, a resource under a false
condition is left out, Fn::If takes its branch and AWS::NoValue drops the property. Conditions on
parameters both templates keep (AlertEmail's HasAlertEmail) are compared as they are. The table's
capacity is checked against the spec for the mode chosen: on demand, PAY_PER_REQUEST and no
scaling; provisioned, capacity on the table and each index, each scaled for reads and writes by a
target-tracking policy at 70% utilisation.

Standard library only. Exits 1 with the list of differences.
"""

import argparse
import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CDK = ROOT / "infra" / "cdk" / "cdk.out" / "HooklineStack.template.json"
DEFAULT_SAM = ROOT / "infra" / "template.yaml"
TRANSLATE = ROOT / "infra" / "sam_translate.py"
# The stream filters the Rust tests check against items as really stored.
STREAM_FILTERS = ROOT / "events" / "stream-filters.json"
LIMITS = ROOT / "infra" / "limits.json"
VENV_PYTHON = ROOT / "target" / "infratools" / "bin" / "python"

# The deployment spec's resource counts (infra-spec: "Resource-type counts both stacks must have").
SPEC_COUNTS = {
    "AWS::Lambda::Function": 5,
    "AWS::Lambda::EventSourceMapping": 4,
    "AWS::SQS::Queue": 3,
    "AWS::DynamoDB::Table": 1,
    "AWS::SNS::Topic": 1,
    "AWS::CloudWatch::Alarm": 10,
    "AWS::Logs::LogGroup": 5,
    "AWS::SecretsManager::Secret": 1,
    "AWS::ApiGatewayV2::Api": 1,
    "AWS::Events::Rule": 1,
}
# The outbox sweep: the fanout function's schedule and the input that asks it to sweep.
SWEEP = {"rule": "rule:fanout", "schedule": "rate(5 minutes)", "input": {"sweep": True}}
# Built differently by the two tools: SAM keeps IAM statements in the role and the API's routes
# in an OpenAPI body; CDK makes separate resources. Compared through what they grant and route.
TOOL_SPECIFIC_TYPES = {
    "AWS::IAM::Policy",
    "AWS::ApiGatewayV2::Route",
    "AWS::ApiGatewayV2::Integration",
    "AWS::CDK::Metadata",
}
# Logical ids that differ by construction (SAM names the API's permission after the function
# and the event; CDK after the route). The other invoke permissions (a schedule rule's) are
# compared by logical id on their own.
ID_EXEMPT_TYPES = TOOL_SPECIFIC_TYPES | {"AWS::Lambda::Permission"}
API_PRINCIPAL = "apigateway.amazonaws.com"

BINS = ("api", "fanout", "delivery", "notify")
DESCRIPTION = re.compile(r"^Hookline (%s):" % "|".join(BINS))
FUNCTION_ID = re.compile(r"^(Slow)?(%s)Function$" % "|".join(b.capitalize() for b in BINS))
# The delivery lanes: for each delivery function (named `delivery` or `delivery-<lane>`), its
# HOOKLINE_LANE and the queue its event source reads. Both know both queues.
LANES = {
    "delivery": {"lane": "main", "queue": "queue:deliveries"},
    "delivery-slow": {"lane": "slow", "queue": "queue:deliveries-slow"},
}
LANE_QUEUES = {"HOOKLINE_QUEUE_URL": "<queue:deliveries>", "HOOKLINE_SLOW_QUEUE_URL": "<queue:deliveries-slow>"}
# The functions by name: a bin, and the delivery bin once per lane.
FUNCTIONS = ("api", "fanout", *LANES, "notify")
SHORT_NAMES = {
    "AWS::DynamoDB::Table": "table",
    "AWS::SNS::Topic": "topic",
    "AWS::SNS::Subscription": "subscription",
    "AWS::SecretsManager::Secret": "secret",
    "AWS::KMS::Key": "key",
    "AWS::ApiGatewayV2::Api": "api",
    "AWS::ApiGatewayV2::Stage": "stage",
}
MISSING = "(missing)"
# The table's capacity (SAM parameter TableCapacity): on demand, or provisioned with auto scaling
# of the table and every index, reads and writes, keeping this utilisation (percent).
CAPACITY_PARAM = "TableCapacity"
INDEXES = ("gsi1", "gsi2", "gsi3")
TARGET_UTILIZATION = 70
SCALABLE_TARGET = "AWS::ApplicationAutoScaling::ScalableTarget"
SCALING_POLICY = "AWS::ApplicationAutoScaling::ScalingPolicy"


# --- Loading ---------------------------------------------------------------------------------


def load_sam(template, transformed_json=None):
    if transformed_json:
        return json.loads(Path(transformed_json).read_text(encoding="utf-8"))
    if not TRANSLATE.exists():
        sys.exit(f"parity: {TRANSLATE.relative_to(ROOT)} is missing (it transforms the SAM template)")
    python = sys.executable
    probe = subprocess.run([python, "-c", "import samtranslator"], capture_output=True)
    if probe.returncode != 0:
        if not VENV_PYTHON.exists():
            sys.exit(
                "parity: the SAM transform needs aws-sam-translator; run infra/check.sh once "
                "(it creates target/infratools), or pass --sam-json"
            )
        python = str(VENV_PYTHON)
    env = dict(os.environ, AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    out = subprocess.run(
        [python, str(TRANSLATE), str(template)], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        sys.exit(f"parity: the SAM transform of {template} failed:\n{out.stderr.strip()}")
    return json.loads(out.stdout)


def load_cdk(path):
    path = Path(path)
    if not path.exists():
        sys.exit(f"parity: {path} not found: synthesize first (cd infra/cdk && npx cdk synth)")
    return json.loads(path.read_text(encoding="utf-8"))


# --- Conditions decided by settings --------------------------------------------------------------

UNDECIDED = object()


def decide_conditions(doc, fixed):
    """The template with the conditions that depend only on `fixed` parameters (name -> value)
    decided: resources and outputs under a false one dropped, a true one's `Condition` removed,
    Fn::If replaced by its branch and AWS::NoValue properties dropped. Other conditions stay."""
    conditions = doc.get("Conditions", {})

    def operand(v):
        if isinstance(v, dict) and set(v) == {"Ref"}:
            return str(fixed[v["Ref"]]) if v["Ref"] in fixed else UNDECIDED
        if isinstance(v, (dict, list)):
            return UNDECIDED
        return _scalar(v)

    def decide(c, seen=()):
        if isinstance(c, dict) and len(c) == 1:
            (fn, arg), = c.items()
            if fn == "Condition":
                return UNDECIDED if arg in seen else decide(conditions.get(arg), (*seen, arg))
            if fn == "Fn::Equals":
                a, b = (operand(x) for x in arg)
                return UNDECIDED if UNDECIDED in (a, b) else a == b
            parts = [decide(x, seen) for x in (arg if isinstance(arg, list) else [arg])]
            if fn == "Fn::Not":
                return UNDECIDED if parts[0] is UNDECIDED else not parts[0]
            if fn == "Fn::And":
                return False if False in parts else UNDECIDED if UNDECIDED in parts else True
            if fn == "Fn::Or":
                return True if True in parts else UNDECIDED if UNDECIDED in parts else False
        return UNDECIDED

    def named(name):
        return decide({"Condition": name})

    no_value = {"Ref": "AWS::NoValue"}

    def resolve(v):
        if isinstance(v, dict):
            if set(v) == {"Fn::If"} and named(v["Fn::If"][0]) is not UNDECIDED:
                name, yes, no = v["Fn::If"]
                return resolve(yes if named(name) else no)
            out = {}
            for k, x in v.items():
                x = resolve(x)
                if x != no_value:
                    out[k] = x
            return out
        if isinstance(v, list):
            return [x for x in (resolve(x) for x in v) if x != no_value]
        return v

    doc = dict(doc)
    for section in ("Resources", "Outputs"):
        kept = {}
        for lid, r in doc.get(section, {}).items():
            decided = named(r["Condition"]) if "Condition" in r else True
            if decided is False:
                continue
            r = resolve(r)
            if decided is True:
                r.pop("Condition", None)
            kept[lid] = r
        doc[section] = kept
    return doc


def _scalar(v):
    """A literal as CloudFormation compares it: a string (numbers and booleans spelled out)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(int(v)) if float(v).is_integer() else str(v)
    return v


def fixed_parameters(doc, overrides, deploy_time):
    """The values of `doc`'s parameters that are not `deploy_time` ones: override or default."""
    values = {}
    for name, param in doc.get("Parameters", {}).items():
        if name in deploy_time:
            continue
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in param:
            values[name] = _scalar(param["Default"])
    return values


# --- Canonical form ----------------------------------------------------------------------------


class Template:
    """A template with every resource given a role name, and values in canonical form."""

    def __init__(self, label, doc, overrides=None):
        self.label = label
        self.doc = doc
        self.resources = doc.get("Resources", {})
        self.params = doc.get("Parameters", {})
        self.overrides = overrides or {}
        self.conditions = doc.get("Conditions", {})
        self.problems = []
        self.roles = {}
        self.bins = self._find_functions()
        self._name_resources()

    def of_type(self, rtype):
        return {k: r for k, r in self.resources.items() if r.get("Type") == rtype}

    def _find_functions(self):
        bins = {}
        for lid, r in self.of_type("AWS::Lambda::Function").items():
            props = r.get("Properties", {})
            keys = {}
            binary = r.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            if binary:
                keys["BuildProperties.Binary"] = binary
            m = DESCRIPTION.match(str(props.get("Description", "")))
            if m:
                keys["Description"] = m.group(1)
            m = FUNCTION_ID.match(lid)
            if m:
                keys["logical id"] = m.group(2).lower()
            if not keys:
                self.problems.append(f"function {lid}: cannot tell which bin it runs")
                continue
            if len(set(keys.values())) > 1:
                self.problems.append(f"function {lid}: its bin is ambiguous ({keys})")
                continue
            b = next(iter(keys.values()))
            # A lane other than the main one names the function: `delivery-slow`.
            lane = props.get("Environment", {}).get("Variables", {}).get("HOOKLINE_LANE", "main")
            if m and m.group(1) and lane != m.group(1).lower():
                self.problems.append(f"function {lid}: HOOKLINE_LANE is {lane!r}, its logical id says slow")
            name = b if lane == "main" else f"{b}-{lane}"
            if name in bins:
                self.problems.append(f"functions {bins[name]} and {lid} are both {name}")
            bins[name] = lid
        return bins

    def _name_resources(self):
        by_id = {lid: b for b, lid in self.bins.items()}
        for lid, b in by_id.items():
            self.roles[lid] = f"fn:{b}"
            props = self.resources[lid].get("Properties", {})
            log_group = props.get("LoggingConfig", {}).get("LogGroup")
            if isinstance(log_group, dict) and "Ref" in log_group:
                self.roles[log_group["Ref"]] = f"loggroup:{b}"
            role = props.get("Role")
            if isinstance(role, dict) and "Fn::GetAtt" in role:
                self.roles[_getatt(role)[0]] = f"role:{b}"
        for lid, r in self.resources.items():
            rtype = r.get("Type")
            props = r.get("Properties", {})
            if rtype == "AWS::SQS::Queue":
                name = self.value(props.get("QueueName", ""))
                if name.endswith("-dlq"):
                    role = "queue:dlq"
                elif name.endswith("-slow"):
                    role = "queue:deliveries-slow"
                else:
                    role = "queue:deliveries"
                if role in self.roles.values():
                    self.problems.append(f"queue {lid}: a second {role} (its name is {name})")
                self.roles[lid] = role
            elif rtype == "AWS::Lambda::EventSourceMapping":
                target = _ref_or_getatt(props.get("FunctionName"))
                self.roles[lid] = f"esm:{by_id.get(target, target)}"
            elif rtype == "AWS::Events::Rule":
                # Named by the functions it invokes: "rule:fanout".
                fns = sorted(
                    by_id.get(_ref_or_getatt(t.get("Arn")), str(_ref_or_getatt(t.get("Arn"))))
                    for t in props.get("Targets", [])
                )
                self.roles[lid] = "rule:" + ",".join(fns)
            elif rtype in SHORT_NAMES and len(self.of_type(rtype)) == 1:
                self.roles[lid] = SHORT_NAMES[rtype]
        for lid, r in self.of_type("AWS::IAM::Policy").items():
            roles = [self.roles.get(x.get("Ref"), "?") for x in r["Properties"].get("Roles", [])]
            self.roles[lid] = "policy:" + ",".join(roles)
        for lid in self.resources:
            self.roles.setdefault(lid, lid)

    def bin_of(self, value):
        """The bin of the function a FunctionName/Ref/GetAtt points at."""
        target = _ref_or_getatt(value)
        return self.roles.get(target, str(target)).removeprefix("fn:")

    def value(self, v):
        """The canonical form of a template value (see the module docstring)."""
        if isinstance(v, dict):
            if len(v) == 1:
                (key, arg), = v.items()
                if key == "Ref":
                    return self._ref(arg)
                if key == "Fn::GetAtt":
                    lid, attr = _getatt(v)
                    return f"<{self.roles.get(lid, lid)}>.{attr}"
                if key == "Fn::Sub":
                    return self._sub(arg)
                if key == "Fn::Join":
                    sep, parts = arg
                    parts = [self.value(p) for p in parts]
                    if all(isinstance(p, str) for p in parts):
                        return sep.join(parts)
                    return {"Fn::Join": [sep, parts]}
            return {k: self.value(x) for k, x in v.items()}
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return str(int(v)) if float(v).is_integer() else str(v)
        return v

    def _ref(self, name):
        if name.startswith("AWS::"):
            return "${%s}" % name
        if name in self.overrides:
            return self.overrides[name]
        if name in self.params:
            param = self.params[name]
            return self.value(param["Default"]) if "Default" in param else f"${{param:{name}}}"
        return f"<{self.roles.get(name, name)}>"

    def _sub(self, arg):
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(m):
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.value(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                lid, attr = name.split(".", 1)
                return f"<{self.roles.get(lid, lid)}>.{attr}"
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


def _getatt(v):
    arg = v["Fn::GetAtt"]
    return arg.split(".", 1) if isinstance(arg, str) else arg


def _ref_or_getatt(v):
    if isinstance(v, dict) and "Ref" in v:
        return v["Ref"]
    if isinstance(v, dict) and "Fn::GetAtt" in v:
        return _getatt(v)[0]
    return v


# --- Comparison --------------------------------------------------------------------------------


class Diff:
    def __init__(self, sam, cdk):
        self.sam, self.cdk = sam, cdk
        self.items = []

    def add(self, what, sam_value, cdk_value):
        self.items.append(f"{what}: SAM {_show(sam_value)} / CDK {_show(cdk_value)}")

    def compare(self, what, sam_value, cdk_value):
        """Records every leaf where two canonical values differ."""
        if isinstance(sam_value, dict) and isinstance(cdk_value, dict):
            for key in sorted(set(sam_value) | set(cdk_value)):
                self.compare(
                    f"{what}.{key}", sam_value.get(key, MISSING), cdk_value.get(key, MISSING)
                )
        elif (
            isinstance(sam_value, list)
            and isinstance(cdk_value, list)
            and len(sam_value) == len(cdk_value)
        ):
            for i, (a, b) in enumerate(zip(sam_value, cdk_value)):
                self.compare(f"{what}[{i}]", a, b)
        elif sam_value != cdk_value:
            self.add(what, sam_value, cdk_value)


def _show(v):
    return v if v == MISSING else json.dumps(v, sort_keys=True)


def props_of(t, lid, drop=()):
    props = t.value(t.resources[lid].get("Properties", {}))
    for key in drop:
        props.pop(key, None)
    return props


def policies_of(t, lid):
    r = t.resources[lid]
    # CloudFormation's default for both is Delete (tables and queues alike).
    return {
        "DeletionPolicy": r.get("DeletionPolicy", "Delete"),
        "UpdateReplacePolicy": r.get("UpdateReplacePolicy", "Delete"),
        "Condition": _condition_of(t, r),
    }


def _condition_of(t, r):
    name = r.get("Condition")
    return None if name is None else {name: t.value(t.conditions.get(name))}


def by_role(t, rtype):
    return {t.roles[lid]: lid for lid in t.of_type(rtype)}


def check_counts(t, out):
    counts = Counter(r.get("Type") for r in t.resources.values())
    for rtype, expected in SPEC_COUNTS.items():
        if counts.get(rtype, 0) != expected:
            out.append(f"{t.label}: {counts.get(rtype, 0)} x {rtype}, the spec says {expected}")
    return counts


def check_star_resources(t, out):
    for role, statements in permissions(t).items():
        for effect, action, resource, _ in statements:
            if resource == "*":
                out.append(f"{t.label}: {role} may {action} on '*'")


def permissions(t):
    """For each function: the (effect, action, resource, condition) tuples its role allows."""
    perms = {}
    role_bin = {lid: t.roles[lid].removeprefix("role:") for lid in t.of_type("AWS::IAM::Role")}
    docs = []
    for lid, r in t.of_type("AWS::IAM::Role").items():
        for p in r["Properties"].get("Policies", []):
            docs.append((role_bin[lid], p["PolicyDocument"]))
    for r in t.of_type("AWS::IAM::Policy").values():
        for ref in r["Properties"].get("Roles", []):
            docs.append((role_bin.get(ref.get("Ref"), "?"), r["Properties"]["PolicyDocument"]))
    for b, doc in docs:
        for s in _list(doc.get("Statement", [])):
            for action in _list(s.get("Action", [])):
                for resource in _list(s.get("Resource", [])):
                    perms.setdefault(f"function {b}", set()).add(
                        (
                            s.get("Effect"),
                            action.lower(),
                            t.value(resource),
                            json.dumps(t.value(s.get("Condition")), sort_keys=True),
                        )
                    )
    return perms


def _list(v):
    return v if isinstance(v, list) else [v]


def api_routes(t):
    """(route key, bin, payload format) of every route of the HTTP API."""
    routes = set()
    for r in t.of_type("AWS::ApiGatewayV2::Api").values():
        for path, methods in r["Properties"].get("Body", {}).get("paths", {}).items():
            for method, op in methods.items():
                integ = op.get("x-amazon-apigateway-integration", {})
                uri = t.value(integ.get("uri", ""))
                m = re.search(r"<fn:(\w+)>", str(uri))
                key = path if path == "$default" else f"{method} {path}"
                routes.add((key, m.group(1) if m else str(uri), integ.get("payloadFormatVersion")))
    integrations = t.of_type("AWS::ApiGatewayV2::Integration")
    for r in t.of_type("AWS::ApiGatewayV2::Route").values():
        target = r["Properties"].get("Target")
        integ_id = None
        if isinstance(target, dict) and "Fn::Join" in target:
            refs = [p.get("Ref") for p in target["Fn::Join"][1] if isinstance(p, dict)]
            integ_id = next((x for x in refs if x in integrations), None)
        props = integrations.get(integ_id, {}).get("Properties", {})
        routes.add(
            (
                r["Properties"].get("RouteKey"),
                t.bin_of(props.get("IntegrationUri")),
                props.get("PayloadFormatVersion"),
            )
        )
    return routes


def filters(t, props):
    crit = props.pop("FilterCriteria", None)
    if not crit:
        return None
    return sorted(
        json.dumps(json.loads(f["Pattern"]), sort_keys=True) for f in crit.get("Filters", [])
    )


def rule_props(t, lid):
    """A rule's settings, its targets as (function, input) with the input parsed."""
    props = props_of(t, lid)
    targets = []
    for target in props.pop("Targets", []):
        target = dict(target)
        if isinstance(target.get("Input"), str):
            try:
                target["Input"] = json.loads(target["Input"])
            except ValueError:
                pass
        targets.append(target)
    props["Targets"] = sorted(targets, key=lambda x: json.dumps(x, sort_keys=True))
    return props


def check_sweep(t, rules, out):
    """The spec's outbox sweep: the fanout function on a 5-minute schedule, asked to sweep."""
    if SWEEP["rule"] not in rules:
        out.append(f"{t.label}: no schedule rule invokes the fanout function (the outbox sweep)")
        return
    props = rule_props(t, rules[SWEEP["rule"]])
    if props.get("ScheduleExpression") != SWEEP["schedule"]:
        out.append(f"{t.label} {SWEEP['rule']}: schedule {props.get('ScheduleExpression')}, the spec says {SWEEP['schedule']}")
    inputs = [x.get("Input") for x in props["Targets"]]
    if inputs != [SWEEP["input"]]:
        out.append(f"{t.label} {SWEEP['rule']}: input {inputs}, the spec says [{SWEEP['input']}]")
    if props.get("State", "ENABLED") != "ENABLED":
        out.append(f"{t.label} {SWEEP['rule']}: state {props.get('State')}, not ENABLED")


def check_lanes(t, esm, out):
    """The spec's lanes: each delivery function knows both queues, names its lane, and its event
    source reads that lane's queue."""
    for name, spec in LANES.items():
        lid = t.bins.get(name)
        if lid is None:
            continue  # reported as a missing function
        env = t.value(t.resources[lid].get("Properties", {}).get("Environment", {}).get("Variables", {}))
        want = {**LANE_QUEUES, "HOOKLINE_LANE": spec["lane"]}
        for var, value in want.items():
            if env.get(var, MISSING) != value:
                out.append(f"{t.label} function {name}: {var} is {env.get(var, MISSING)}, not {value}")
        role = f"esm:{name}"
        source = t.value(t.resources[esm[role]]["Properties"].get("EventSourceArn")) if role in esm else MISSING
        if source != f"<{spec['queue']}>.Arn":
            out.append(f"{t.label} function {name}: its event source reads {source}, not <{spec['queue']}>.Arn")


def alarm_key(t, r):
    p = r["Properties"]
    dims = ",".join(f"{d['Name']}={t.value(d['Value'])}" for d in p.get("Dimensions", []))
    return f"{p.get('Namespace')}/{p.get('MetricName')}[{dims}]"


def capacity_mode(sam):
    """The table's capacity mode the SAM template deploys with (its default, or --sam-param)."""
    return str(sam.value({"Ref": CAPACITY_PARAM}))


def check_capacity(t, mode, out):
    """The spec's table capacity: on demand with no scaling, or provisioned capacity on the table
    and each index, each dimension (reads, writes) with one scalable target and one target-tracking
    policy at TARGET_UTILIZATION percent."""
    tables = t.of_type("AWS::DynamoDB::Table")
    targets, policies = t.of_type(SCALABLE_TARGET), t.of_type(SCALING_POLICY)
    if mode not in ("on-demand", "provisioned"):
        out.append(f"{t.label}: table capacity {mode!r} is neither on-demand nor provisioned")
        return
    for lid, r in tables.items():
        props = t.value(r.get("Properties", {}))
        billing = props.get("BillingMode", "PROVISIONED")  # CloudFormation's default
        indexes = {g.get("IndexName"): g for g in props.get("GlobalSecondaryIndexes", [])}
        if sorted(indexes) != sorted(INDEXES):
            out.append(f"{t.label} table: indexes {sorted(indexes)}, the spec says {list(INDEXES)}")
        want_billing = "PAY_PER_REQUEST" if mode == "on-demand" else "PROVISIONED"
        if billing != want_billing:
            out.append(f"{t.label} table: BillingMode {billing} with {CAPACITY_PARAM} {mode}, not {want_billing}")
        for where, p in (("the table", props), *((f"index {g}", x) for g, x in sorted(indexes.items()))):
            has = "ProvisionedThroughput" in p
            if has != (mode == "provisioned"):
                out.append(
                    f"{t.label} table: {where} {'has' if has else 'has no'} ProvisionedThroughput "
                    f"with {CAPACITY_PARAM} {mode}"
                )
    if mode == "on-demand":
        for lid in sorted(targets) + sorted(policies):
            out.append(f"{t.label}: {lid} scales the table with {CAPACITY_PARAM} on-demand")
        return
    if len(tables) != 1:
        return  # reported by the counts
    table = t.roles[next(iter(tables))]
    want = {}
    for kind in ("Read", "Write"):
        want[(f"table/<{table}>", f"dynamodb:table:{kind}CapacityUnits")] = kind
        for g in INDEXES:
            want[(f"table/<{table}>/index/{g}", f"dynamodb:index:{kind}CapacityUnits")] = kind
    found = {}
    for lid, r in targets.items():
        p = t.value(r.get("Properties", {}))
        key = (p.get("ResourceId"), p.get("ScalableDimension"))
        if key not in want or p.get("ServiceNamespace") != "dynamodb":
            out.append(f"{t.label}: scalable target {lid} scales {key}, not the table or one of its indexes")
            continue
        if key in found:
            out.append(f"{t.label}: scalable targets {found[key]} and {lid} both scale {key}")
        found[key] = lid
        if int(p.get("MinCapacity", 0)) > int(p.get("MaxCapacity", 0)):
            out.append(f"{t.label}: scalable target {lid}: MinCapacity above MaxCapacity")
    for key in sorted(set(want) - set(found)):
        out.append(f"{t.label}: no scalable target for {key[1]} of {key[0]}")
    tracked = Counter()
    for lid, r in policies.items():
        p = r.get("Properties", {})
        target = _ref_or_getatt(p.get("ScalingTargetId"))
        key = next((k for k, x in found.items() if x == target), None)
        if key is None:
            out.append(f"{t.label}: scaling policy {lid} is not attached to one of the table's scalable targets")
            continue
        config = t.value(p.get("TargetTrackingScalingPolicyConfiguration", {}))
        metric = config.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType")
        want_metric = f"DynamoDB{want[key]}CapacityUtilization"
        if p.get("PolicyType") != "TargetTrackingScaling" or metric != want_metric:
            out.append(f"{t.label}: scaling policy {lid} is {p.get('PolicyType')} on {metric}, not TargetTrackingScaling on {want_metric}")
        if config.get("TargetValue") != str(TARGET_UTILIZATION):
            out.append(f"{t.label}: scaling policy {lid} targets {config.get('TargetValue')}% utilisation, not {TARGET_UTILIZATION}%")
        tracked[key] += 1
    for key in sorted(found):
        if tracked[key] != 1:
            out.append(f"{t.label}: {tracked[key]} scaling policies for {key[1]} of {key[0]}, not 1")


def compare(sam, cdk):
    d = Diff(sam, cdk)
    problems = sam.problems + cdk.problems
    mode = capacity_mode(sam)
    check_capacity(sam, mode, problems)
    check_capacity(cdk, mode, problems)

    sam_counts = check_counts(sam, problems)
    cdk_counts = check_counts(cdk, problems)
    for rtype in sorted(set(sam_counts) | set(cdk_counts)):
        if rtype in TOOL_SPECIFIC_TYPES or rtype in SPEC_COUNTS:
            if rtype in SPEC_COUNTS and sam_counts.get(rtype) != cdk_counts.get(rtype):
                d.add(f"count of {rtype}", sam_counts.get(rtype, 0), cdk_counts.get(rtype, 0))
            continue
        if sam_counts.get(rtype, 0) != cdk_counts.get(rtype, 0):
            d.add(f"count of {rtype}", sam_counts.get(rtype, 0), cdk_counts.get(rtype, 0))

    for rtype in sorted(set(sam_counts) | set(cdk_counts)):
        if rtype in ID_EXEMPT_TYPES:
            continue
        sam_ids, cdk_ids = set(sam.of_type(rtype)), set(cdk.of_type(rtype))
        if sam_ids != cdk_ids:
            d.add(f"logical ids of {rtype}", sorted(sam_ids - cdk_ids), sorted(cdk_ids - sam_ids))

    for b in FUNCTIONS:
        s_id, c_id = sam.bins.get(b), cdk.bins.get(b)
        if not s_id or not c_id:
            d.add(f"function {b}", s_id or MISSING, c_id or MISSING)
            continue
        drop = ("Code", "Description", "Tags")
        s_props, c_props = props_of(sam, s_id, drop), props_of(cdk, c_id, drop)
        s_env = s_props.get("Environment", {}).get("Variables", {})
        c_env = c_props.get("Environment", {}).get("Variables", {})
        if set(s_env) != set(c_env):
            d.add(f"function {b}: environment variable names", sorted(s_env), sorted(c_env))
        d.compare(f"function {b}", s_props, c_props)
        d.compare(f"function {b}", policies_of(sam, s_id), policies_of(cdk, c_id))

    for rtype, drop in [
        ("AWS::Logs::LogGroup", ()),
        ("AWS::SQS::Queue", ()),
        ("AWS::DynamoDB::Table", ()),
        ("AWS::SecretsManager::Secret", ("Description",)),
        ("AWS::SNS::Topic", ()),
        ("AWS::SNS::Subscription", ()),
        ("AWS::KMS::Key", ("Description",)),
        ("AWS::ApiGatewayV2::Stage", ("Tags", "ApiId")),
        (SCALABLE_TARGET, ()),
        # (CDK names a policy after its construct path)
        (SCALING_POLICY, ("PolicyName",)),
    ]:
        s_roles, c_roles = by_role(sam, rtype), by_role(cdk, rtype)
        for role in sorted(set(s_roles) | set(c_roles)):
            if role not in s_roles or role not in c_roles:
                d.add(f"{rtype} {role}", s_roles.get(role, MISSING), c_roles.get(role, MISSING))
                continue
            s_props = props_of(sam, s_roles[role], drop)
            c_props = props_of(cdk, c_roles[role], drop)
            if rtype == "AWS::DynamoDB::Table":
                for props in (s_props, c_props):
                    # CloudFormation's default (CDK leaves it out for a provisioned table).
                    props.setdefault("BillingMode", "PROVISIONED")
                    props["AttributeDefinitions"] = sorted(
                        props.get("AttributeDefinitions", []), key=lambda a: a["AttributeName"]
                    )
                    props["GlobalSecondaryIndexes"] = sorted(
                        props.get("GlobalSecondaryIndexes", []), key=lambda g: g["IndexName"]
                    )
            if rtype == "AWS::KMS::Key":
                for props in (s_props, c_props):
                    statements = props.get("KeyPolicy", {}).get("Statement", [])
                    props["KeyPolicy"] = sorted(
                        json.dumps({k: v for k, v in s.items() if k != "Sid"}, sort_keys=True)
                        for s in statements
                    )
            d.compare(role, s_props, c_props)
            d.compare(role, policies_of(sam, s_roles[role]), policies_of(cdk, c_roles[role]))

    s_esm, c_esm = by_role(sam, "AWS::Lambda::EventSourceMapping"), by_role(
        cdk, "AWS::Lambda::EventSourceMapping"
    )
    # (event sources are named by their function: "esm:fanout", "esm:delivery-slow")
    check_lanes(sam, s_esm, problems)
    check_lanes(cdk, c_esm, problems)
    for fn, pattern in json.loads(STREAM_FILTERS.read_text()).items():
        role = f"esm:{fn}"
        want = [json.dumps(pattern, sort_keys=True)]
        for t, esm in ((sam, s_esm), (cdk, c_esm)):
            got = filters(t, t.resources[esm[role]]["Properties"].copy()) if role in esm else None
            if got != want:
                problems.append(
                    f"{t.label} event source {role}: filter {got} is not {want} "
                    f"(events/stream-filters.json)"
                )

    # The template's range for the default delivery timeout is the functions' (infra/limits.json).
    timeout = json.loads(LIMITS.read_text())["deliveryTimeoutMs"]
    s_timeout = sam.params.get("DeliveryTimeoutMs", {})
    for key, want in (("MinValue", timeout["min"]), ("MaxValue", timeout["max"]), ("Default", timeout["default"])):
        got = sam.value(s_timeout.get(key, MISSING))
        if str(got) != str(want):  # the transformed template may hold numbers as strings
            problems.append(f"SAM parameter DeliveryTimeoutMs.{key} is {got}, not {want} (infra/limits.json)")

    for role in sorted(set(s_esm) | set(c_esm)):
        if role not in s_esm or role not in c_esm:
            d.add(f"event source {role}", s_esm.get(role, MISSING), c_esm.get(role, MISSING))
            continue
        s_props = props_of(sam, s_esm[role], ("FunctionName",))
        c_props = props_of(cdk, c_esm[role], ("FunctionName",))
        s_raw = sam.resources[s_esm[role]]["Properties"].copy()
        c_raw = cdk.resources[c_esm[role]]["Properties"].copy()
        d.compare(f"event source {role}: filters", filters(sam, s_raw), filters(cdk, c_raw))
        s_props.pop("FilterCriteria", None)
        c_props.pop("FilterCriteria", None)
        d.compare(f"event source {role}", s_props, c_props)

    s_rules, c_rules = by_role(sam, "AWS::Events::Rule"), by_role(cdk, "AWS::Events::Rule")
    check_sweep(sam, s_rules, problems)
    check_sweep(cdk, c_rules, problems)
    for role in sorted(set(s_rules) | set(c_rules)):
        if role not in s_rules or role not in c_rules:
            d.add(f"{role}", s_rules.get(role, MISSING), c_rules.get(role, MISSING))
            continue
        # CloudFormation enables a rule without State.
        s_props, c_props = rule_props(sam, s_rules[role]), rule_props(cdk, c_rules[role])
        for props in (s_props, c_props):
            props.setdefault("State", "ENABLED")
        d.compare(role, s_props, c_props)

    s_alarms = {alarm_key(sam, r): lid for lid, r in sam.of_type("AWS::CloudWatch::Alarm").items()}
    c_alarms = {alarm_key(cdk, r): lid for lid, r in cdk.of_type("AWS::CloudWatch::Alarm").items()}
    if sorted(s_alarms) != sorted(c_alarms):
        d.add("alarm metrics", sorted(set(s_alarms) - set(c_alarms)), sorted(set(c_alarms) - set(s_alarms)))
    for key in sorted(set(s_alarms) & set(c_alarms)):
        d.compare(
            f"alarm {key}",
            props_of(sam, s_alarms[key], ("AlarmDescription",)),
            props_of(cdk, c_alarms[key], ("AlarmDescription",)),
        )

    s_perm, c_perm = permissions(sam), permissions(cdk)
    for who in sorted(set(s_perm) | set(c_perm)):
        only_sam = sorted(s_perm.get(who, set()) - c_perm.get(who, set()))
        only_cdk = sorted(c_perm.get(who, set()) - s_perm.get(who, set()))
        if only_sam or only_cdk:
            d.add(f"{who}: IAM permissions", [list(x) for x in only_sam], [list(x) for x in only_cdk])
    check_star_resources(sam, problems)
    check_star_resources(cdk, problems)
    for lid, r in sam.of_type("AWS::IAM::Role").items():
        c_id = next((x for x, role in cdk.roles.items() if role == sam.roles[lid]), None)
        if c_id is None:
            continue
        drop = ("Policies", "Description", "Tags")
        d.compare(sam.roles[lid], props_of(sam, lid, drop), props_of(cdk, c_id, drop))

    d.compare("API routes", sorted(api_routes(sam)), sorted(api_routes(cdk)))
    s_perm_api = {
        (sam.bin_of(r["Properties"].get("FunctionName")), sam.value(r["Properties"].get("Principal")),
         sam.value(r["Properties"].get("SourceArn")))
        for r in sam.of_type("AWS::Lambda::Permission").values()
    }
    c_perm_api = {
        (cdk.bin_of(r["Properties"].get("FunctionName")), cdk.value(r["Properties"].get("Principal")),
         cdk.value(r["Properties"].get("SourceArn")))
        for r in cdk.of_type("AWS::Lambda::Permission").values()
    }
    d.compare("invoke permissions", sorted(s_perm_api), sorted(c_perm_api))
    s_perm_ids, c_perm_ids = (
        {
            lid
            for lid, r in t.of_type("AWS::Lambda::Permission").items()
            if r["Properties"].get("Principal") != API_PRINCIPAL
        }
        for t in (sam, cdk)
    )
    if s_perm_ids != c_perm_ids:
        d.add(
            "logical ids of AWS::Lambda::Permission (other than the API's)",
            sorted(s_perm_ids - c_perm_ids),
            sorted(c_perm_ids - s_perm_ids),
        )

    # The CDK app's few deploy-time parameters must be the SAM template's, with the same defaults.
    for name, c_param in cdk.params.items():
        if name == "BootstrapVersion":  # CDK's own check of the bootstrap stack
            continue
        s_param = sam.params.get(name)
        if s_param is None:
            d.add(f"parameter {name}", MISSING, c_param)
            continue
        for key in ("Type", "Default", "AllowedPattern", "AllowedValues", "MinValue", "MaxValue"):
            d.compare(f"parameter {name}.{key}", sam.value(s_param.get(key, MISSING)), cdk.value(c_param.get(key, MISSING)))

    s_out = {k: sam.value(v.get("Value")) for k, v in sam.doc.get("Outputs", {}).items()}
    c_out = {k: cdk.value(v.get("Value")) for k, v in cdk.doc.get("Outputs", {}).items()}
    d.compare("outputs", s_out, c_out)

    return problems, d.items


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cdk", default=str(DEFAULT_CDK), help="the CDK app's synthesized template")
    ap.add_argument("--sam", default=str(DEFAULT_SAM), help="the SAM template (transformed here)")
    ap.add_argument("--sam-json", help="the SAM template already transformed (sam_translate.py output)")
    ap.add_argument(
        "--sam-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a SAM parameter value instead of its default, to match a CDK synth with other "
        "settings (e.g. Architecture=x86_64 for `cdk synth -c architecture=x86_64`)",
    )
    args = ap.parse_args(argv)

    overrides = {}
    for item in args.sam_param:
        name, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--sam-param wants NAME=VALUE, not {item}")
        overrides[name] = value
    sam_doc, cdk_doc = load_sam(args.sam, args.sam_json), load_cdk(args.cdk)
    # Parameters of both templates stay parameters; the SAM template's others are the CDK app's
    # synth-time settings, so the conditions on them are decided before comparing.
    unknown = sorted(set(overrides) - set(sam_doc.get("Parameters", {})))
    if unknown:
        ap.error(f"--sam-param names no parameter of the SAM template: {', '.join(unknown)}")
    deploy_time = set(sam_doc.get("Parameters", {})) & set(cdk_doc.get("Parameters", {}))
    sam_doc = decide_conditions(sam_doc, fixed_parameters(sam_doc, overrides, deploy_time))
    cdk_doc = decide_conditions(cdk_doc, fixed_parameters(cdk_doc, {}, deploy_time))
    sam = Template("SAM", sam_doc, overrides)
    cdk = Template("CDK", cdk_doc)
    problems, differences = compare(sam, cdk)
    if problems or differences:
        print(f"parity: FAILED ({len(problems)} against the spec, {len(differences)} between SAM and CDK)")
        for p in problems:
            print(f"  spec: {p}")
        for d in differences:
            print(f"  diff: {d}")
        return 1
    n = sum(SPEC_COUNTS.values())
    print(
        f"parity: SAM and CDK agree ({n} resources of the spec's types, {len(sam.resources)} SAM / "
        f"{len(cdk.resources)} CDK resources in all)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
