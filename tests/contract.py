"""Checks every response a test receives against openapi/openapi.yaml.

connexion's response validation covers what handlers return; this also covers the responses made
by error handlers and middleware (400s, 404s), and checks status codes and content types.
"""

import json

from openapi_schema_validator import OAS30Validator

from rasa_messaging.app import BASE_PATH
from rasa_messaging.resolver import route_pattern


def _resolve(node, root):
    if isinstance(node, dict):
        if "$ref" in node:
            target = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return _resolve(target, root)
        return {key: _resolve(value, root) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(item, root) for item in node]
    return node


class SpecContract:
    def __init__(self, spec: dict):
        self.spec = _resolve(spec, spec)
        self.routes = []
        for template, item in self.spec["paths"].items():
            self.routes.append((template.count("{"), route_pattern(BASE_PATH, template), template, item))
        self.routes.sort(key=lambda route: route[0])

    def operation(self, method: str, path: str):
        for _, pattern, template, item in self.routes:
            if pattern.match(path) and method.lower() in item:
                return template, item[method.lower()]
        return None, None

    def check(self, response) -> None:
        request = response.request
        template, operation = self.operation(request.method, request.url.path)
        if operation is None:
            return  # not an API route (Swagger UI, redirects)
        where = f"{request.method} {template} → {response.status_code}"
        responses = operation["responses"]
        declared = responses.get(str(response.status_code)) or responses.get("default")
        assert declared is not None, f"{where}: status not declared in the spec: {response.text[:300]}"
        for name, header in declared.get("headers", {}).items():
            if name in response.headers and header.get("schema", {}).get("type") == "integer":
                assert response.headers[name].isdigit(), f"{where}: header {name} is not an integer"
        if not response.content:
            return
        content = declared.get("content", {})
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        assert media_type in content, f"{where}: content type {media_type!r} not declared ({list(content)})"
        schema = content[media_type].get("schema")
        if schema and (media_type == "application/json" or media_type.endswith("+json")):
            OAS30Validator(schema).validate(json.loads(response.content))


class CheckedClient:
    """A test client whose every response is checked against the spec."""

    def __init__(self, client, contract: SpecContract):
        self._client = client
        self.contract = contract

    def request(self, method, url, **kwargs):
        response = self._client.request(method, url, **kwargs)
        self.contract.check(response)
        return response

    def get(self, url, **kwargs):
        return self.request("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.request("POST", url, **kwargs)

    def put(self, url, **kwargs):
        return self.request("PUT", url, **kwargs)

    def delete(self, url, **kwargs):
        return self.request("DELETE", url, **kwargs)
