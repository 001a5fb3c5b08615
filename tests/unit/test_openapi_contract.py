"""The OpenAPI document is one a generator accepts (GW-1, GW-3): valid, with
servers, one unique operationId and a description on every operation, a
description on every field and parameter, examples that the schemas accept,
and component names no generator can confuse."""
import re

import pytest
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from gateway import openapi
from gateway.service import GatewayService


@pytest.fixture(scope="module")
def spec():
    return openapi.document(GatewayService)


def operations(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def deref(node, spec):
    """A schema with every $ref replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            return deref(spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]], spec)
        return {k: deref(v, spec) for k, v in node.items()}
    if isinstance(node, list):
        return [deref(v, spec) for v in node]
    return node


def test_the_document_is_valid_with_servers_and_unique_described_operations(spec):
    # rule: GW-1
    validate(spec)
    assert spec["servers"] and all(s["url"] and s["description"] for s in spec["servers"])
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids)) and all(re.match(r"^[a-z][a-z0-9_]*$", i) for i in ids)
    for path, method, op in operations(spec):
        assert op["summary"] and op["description"], (path, method)


def test_every_field_and_parameter_is_described(spec):
    # rule: GW-1
    undescribed = []

    def walk(where, schema):
        for name, prop in (schema.get("properties") or {}).items():
            if "$ref" not in prop and not prop.get("description"):
                undescribed.append(f"{where}.{name}")
            walk(f"{where}.{name}", prop)
            walk(f"{where}.{name}[]", prop.get("items") or {})

    for name, schema in spec["components"]["schemas"].items():
        walk(name, schema)
    for path, method, op in operations(spec):
        undescribed += [f"{method} {path} ?{p['name']}" for p in op.get("parameters", [])
                        if not p.get("description")]
        for media in (op.get("requestBody") or {}).get("content", {}).values():
            walk(f"{method} {path} body", media.get("schema") or {})
    assert undescribed == []


def test_every_body_has_an_example_its_schema_accepts(spec):
    # rule: GW-1
    for path, method, op in operations(spec):
        for media_type, media in (op.get("requestBody") or {}).get("content", {}).items():
            if media_type not in ("application/json", "application/x-www-form-urlencoded"):
                continue  # a file upload: its example is a file
            schema = deref(media["schema"], spec)
            assert "example" in media, (method, path, media_type)
            assert set(schema.get("required", [])) <= set(media["example"]), (method, path)
            OAS30Validator(schema).validate(media["example"])
    # and a body that breaks its schema is caught by the same check
    create = deref(spec["paths"]["/api/v1/routes"]["post"]["requestBody"]["content"]
                   ["application/json"]["schema"], spec)
    assert not OAS30Validator(create).is_valid({"category": "permit"})


def test_component_names_are_unique_for_a_generator(spec):
    # rule: GW-1
    schemas = spec["components"]["schemas"]
    # one Attachment: the gateway takes it from the appeals contract, no copy
    assert "Attachment" in schemas and "AppealsAttachment" not in schemas
    # a generator names an inline object property's model Parent + Property:
    # no such name may already be a component's (Draw.filters vs DrawFilters)
    pascal = openapi._pascal
    for parent, schema in schemas.items():
        for prop, sub in (schema.get("properties") or {}).items():
            if sub.get("type") == "object" and "$ref" not in sub:
                generated = pascal(parent) + pascal(sub.get("title") or prop)
                assert generated not in schemas, (parent, prop)


def test_a_name_taken_is_qualified_by_the_schemas_home():
    # rule: GW-1
    from marshmallow import Schema

    def twin(module):
        return type("Twin", (Schema,), {"__module__": module})

    first, second, third = (twin("gateway.schemas.appeals"), twin("services.demo.schemas"),
                            twin("services.demo.schemas"))
    names = openapi.ComponentNames()
    assert names(first) == "Twin" and names(first) == "Twin"
    assert names(second) == "DemoTwin" and names(second) == "DemoTwin"
    with pytest.raises(ValueError):
        names(third)  # a third Twin has no name left: the document refuses to be built
