"""Server reflection (grpcio-reflection) that also resolves a method's full name.

`grpcurl describe paneas.tts.v1.TtsService.ListVoices` asks for the file containing that
symbol. protobuf's default (upb) descriptor pool finds messages, fields, enums and services
by name there, but not methods, so reflection answered NOT_FOUND. The pool handed to
grpcio-reflection (its public `pool` argument) finds the method's file through its service.
"""

from typing import Any

from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection


class MethodResolvingPool:
    """A descriptor pool whose `FindFileContainingSymbol` knows methods too."""

    def __init__(self, pool: descriptor_pool.DescriptorPool) -> None:
        self._pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)

    def FindFileContainingSymbol(self, full_name: str):  # the pool's own name
        try:
            return self._pool.FindFileContainingSymbol(full_name)
        except KeyError:
            try:
                return self._pool.FindMethodByName(full_name).containing_service.file
            except KeyError:
                pass
            raise


def enable_reflection(service_names: list[str], server) -> None:
    """grpcio-reflection on `server` for `service_names`, over the default pool."""
    reflection.enable_server_reflection(
        service_names, server, pool=MethodResolvingPool(descriptor_pool.Default())
    )
