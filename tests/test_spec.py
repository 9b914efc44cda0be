"""The served contract: valid, faithful to the seed, and every operation served by a real function."""

import importlib
import inspect

import pytest
import yaml
from connexion.decorators.parameter import pythonic
from connexion.exceptions import InvalidSpecification
from connexion.spec import Specification
from openapi_spec_validator import validate

from rasa_messaging.app import load_spec
from rasa_messaging.resolver import handler_name, snake_case, spec_operations

from .conftest import RASA_DATA

SEED = RASA_DATA.parent / "spec" / "seed-openapi.yaml"


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def seed():
    return yaml.safe_load(SEED.read_text())


def test_served_spec_is_valid_openapi(spec):
    validate(spec)


def test_connexion_still_refuses_an_invalid_spec_after_checking_a_valid_one_once(spec):
    """create_app checks each distinct spec once a process (app.py); a changed spec is checked again."""
    Specification.load(load_spec())
    Specification.load(load_spec())
    broken = load_spec()
    broken["paths"]["/conversations"]["get"]["parameters"][0]["in"] = "nowhere"
    with pytest.raises(InvalidSpecification):
        Specification.load(broken)
    with pytest.raises(InvalidSpecification):
        Specification.load(broken)


@pytest.mark.real_data
def test_every_seed_operation_is_kept_with_its_path_method_and_parameter_names(spec, seed):
    served = {(path, method): op for path, method, op in spec_operations(spec)}
    for path, method, seed_op in spec_operations(seed):
        assert (path, method) in served, f"{method} {path} is missing"
        op = served[(path, method)]
        assert op["operationId"] == seed_op["operationId"]
        assert op["tags"][0] == seed_op["tags"][0]
        seed_params = {p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in seed_op.get("parameters", [])}
        served_params = {p.get("name") or p["$ref"].rsplit("/", 1)[-1] for p in op.get("parameters", [])}
        assert seed_params <= served_params
        assert {str(code) for code in seed_op["responses"]} <= set(op["responses"])


@pytest.mark.real_data
def test_every_addition_is_marked_as_an_extension(spec, seed):
    seed_operations = {op["operationId"] for _, _, op in spec_operations(seed)}
    for _, _, op in spec_operations(spec):
        if op["operationId"] not in seed_operations:
            assert op.get("x-extension") is True, op["operationId"]
    for name in ("limit", "offset"):
        assert spec["components"]["parameters"][name]["x-extension"] is True


@pytest.mark.parametrize("operation_id, expected", [
    ("getConversations", "get_conversations"),
    ("getUniqueActions", "get_unique_actions"),
    ("downloadDebugDumpJson", "download_debug_dump_json"),
    ("userAnalytics", "user_analytics"),
])
def test_operation_ids_map_to_snake_case_names(operation_id, expected):
    assert snake_case(operation_id) == expected


def test_every_operation_resolves_to_a_function_taking_its_parameters(spec):
    for _, _, op in spec_operations(spec):
        module_name, _, function_name = handler_name(op["tags"], op["operationId"]).rpartition(".")
        function = getattr(importlib.import_module(module_name), function_name)
        accepted = set(inspect.signature(function).parameters)
        for parameter in op.get("parameters", []):
            name = parameter.get("name") or spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]["name"]
            assert pythonic(name) in accepted, f"{function_name} does not take {name} (as {pythonic(name)})"
        if "requestBody" in op:
            assert "body" in accepted


def named_functions(node):
    """Every function the spec names by import path (connexion's `x-...Func` keys), anywhere in it."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith("x-") and key.endswith("Func"):
                yield value
            else:
                yield from named_functions(value)
    elif isinstance(node, list):
        for item in node:
            yield from named_functions(item)


def test_every_function_the_spec_names_lives_in_the_installed_package(spec):
    """Named from the package's own namespace: `handlers.security` imported from the checkout's root
    only, and an installed server with a token answered 500 to everything."""
    names = list(named_functions(spec))
    assert len(names) == 2
    for name in names:
        assert name.startswith("rasa_messaging."), name
        module_name, _, function_name = name.rpartition(".")
        assert callable(getattr(importlib.import_module(module_name), function_name))
