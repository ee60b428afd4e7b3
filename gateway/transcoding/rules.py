"""Reads the HTTP bindings (`google.api.http`) of every RPC in the compiled contracts."""

import importlib
import pkgutil
import re
from dataclasses import dataclass

from google.api import annotations_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

import paneas

# `{name}` or `{name=pattern}` segments of a path template.
_VARIABLE = re.compile(r"\{([a-zA-Z0-9_.]+)(?:=[^}]*)?\}")


@dataclass(frozen=True)
class HttpBinding:
    service: ServiceDescriptor
    method: MethodDescriptor
    verb: str  # "GET", "POST", ...
    template: str  # the annotation's path template
    body: str  # "*", a field name, or "" for none
    response_body: str

    @property
    def rpc(self) -> str:
        return f"/{self.service.full_name}/{self.method.name}"

    @property
    def path_variables(self) -> list[str]:
        """Field paths bound by the template, e.g. ["name", "parent.id"]."""
        return _VARIABLE.findall(self.template)

    @property
    def route_path(self) -> str:
        """The template as a Starlette path (dots are not allowed in parameter names)."""
        return _VARIABLE.sub(lambda m: "{" + m.group(1).replace(".", "__") + "}", self.template)


def contract_modules() -> list:
    """Every generated `*_pb2` module under the `paneas` package."""
    modules = []
    for info in pkgutil.walk_packages(paneas.__path__, "paneas."):
        if info.name.endswith("_pb2"):
            modules.append(importlib.import_module(info.name))
    return modules


def http_bindings() -> list[HttpBinding]:
    bindings = []
    for module in contract_modules():
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.client_streaming:
                    continue  # grpc-gateway cannot bind client streaming to plain HTTP either
                rule = method.GetOptions().Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb is None or verb == "custom":
                    continue
                bindings.append(
                    HttpBinding(
                        service=service,
                        method=method,
                        verb=verb.upper(),
                        template=getattr(rule, verb),
                        body=rule.body,
                        response_body=rule.response_body,
                    )
                )
    return bindings
