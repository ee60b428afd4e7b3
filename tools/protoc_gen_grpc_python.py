"""buf plugin that emits gRPC Python stubs (`*_pb2_grpc.py`) with grpcio-tools.

buf has no builtin for grpc_python, and grpcio-tools ships its plugin only inside
`grpc_tools.protoc`. This hands buf's CodeGeneratorRequest to that compiler through
`--descriptor_set_in`, so the stubs come from the same grpcio-tools version as the
runtime pins, and no network or extra binary is needed.
"""

import pathlib
import sys
import tempfile

from google.protobuf import descriptor_pb2
from google.protobuf.compiler import plugin_pb2
from grpc_tools import protoc


def main() -> None:
    request = plugin_pb2.CodeGeneratorRequest.FromString(sys.stdin.buffer.read())
    response = plugin_pb2.CodeGeneratorResponse(
        supported_features=plugin_pb2.CodeGeneratorResponse.FEATURE_PROTO3_OPTIONAL
    )
    descriptor_set = descriptor_pb2.FileDescriptorSet(file=request.proto_file)
    with tempfile.TemporaryDirectory() as work:
        work_dir = pathlib.Path(work)
        set_path = work_dir / "descriptors.pb"
        set_path.write_bytes(descriptor_set.SerializeToString())
        out_dir = work_dir / "out"
        out_dir.mkdir()
        args = [
            "grpc_tools.protoc",
            f"--descriptor_set_in={set_path}",
            f"--grpc_python_out={out_dir}",
            *request.file_to_generate,
        ]
        if protoc.main(args) != 0:
            response.error = f"grpc_tools.protoc failed for {list(request.file_to_generate)}"
        else:
            for path in sorted(out_dir.rglob("*.py")):
                response.file.add(name=str(path.relative_to(out_dir)), content=path.read_text())
    sys.stdout.buffer.write(response.SerializeToString())


if __name__ == "__main__":
    main()
