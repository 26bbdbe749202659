"""Calls a micro greeter-server (GREETER_MIRROR=1) over gRPC with grpcio.

Usage: grpc_client.py <address> <proto dir>

Generates the stubs of greeter.proto and describe_test.proto into a
temporary directory with grpc_tools.protoc, makes every kind of call, the
health and reflection calls, and prints what it observed as one JSON
object: the Rust test asserts on it.
"""

import json
import os
import subprocess
import sys
import tempfile

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

TIMEOUT = 20


def generate(proto_dir, out):
    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", "-I", proto_dir,
            "--python_out=" + out, "--grpc_python_out=" + out,
            os.path.join(proto_dir, "greeter.proto"),
            os.path.join(proto_dir, "describe_test.proto"),
        ],
        check=True,
    )
    sys.path.insert(0, out)


def status_of(call):
    """The status code name and details of a failed call."""
    try:
        call()
    except grpc.RpcError as err:
        return {"code": err.code().name, "details": err.details(),
                # grpcio decodes -bin values: bytes here.
                "trailers": {k: v.decode() if isinstance(v, bytes) else v
                             for k, v in (err.trailing_metadata() or ())}}
    return {"code": "OK"}


def main():
    address, proto_dir = sys.argv[1], sys.argv[2]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        generate(proto_dir, tmp)
        import greeter_pb2 as pb
        import greeter_pb2_grpc as pb_grpc
        import describe_test_pb2 as mirror_pb
        import describe_test_pb2_grpc as mirror_grpc

        with grpc.insecure_channel(address) as channel:
            greeter = pb_grpc.GreeterStub(channel)
            out["unary"] = greeter.Hello(pb.Request(name="Ada"), timeout=TIMEOUT).greeting
            out["server_stream"] = [
                r.greeting for r in greeter.HelloStream(pb.Request(name="Bo"), timeout=TIMEOUT)
            ]
            out["client_stream"] = greeter.Collect(
                iter([pb.Request(name="A"), pb.Request(name="B")]), timeout=TIMEOUT
            ).greeting
            out["bidi"] = [
                r.greeting
                for r in greeter.Chat(iter([pb.Request(name=n) for n in "XYZ"]), timeout=TIMEOUT)
            ]

            def raw(path):
                return lambda: channel.unary_unary(path)(b"", timeout=TIMEOUT)

            out["unknown_method"] = status_of(raw("/greeter.v1.Greeter/Nope"))
            out["unknown_service"] = status_of(raw("/nope.v1.Nope/Hello"))
            out["wrong_package"] = status_of(raw("/other.v1.Greeter/Hello"))

            mirror = mirror_grpc.MirrorStub(channel)

            def echo(name, timeout=TIMEOUT, metadata=None):
                return lambda: mirror.Echo(
                    mirror_pb.Thing(display_name=name), timeout=timeout, metadata=metadata
                )

            failed = status_of(echo("mirror:fail:409"))
            error_json = failed["trailers"].get("micro-error-bin")
            if error_json is not None:
                failed["micro_error"] = json.loads(error_json)
            out["conflict"] = failed
            out["server_timeout"] = status_of(echo("mirror:fail:408"))
            out["deadline"] = status_of(echo("mirror:sleep:5000", timeout=0.5))
            out["metadata"] = list(
                echo(
                    "mirror:metadata",
                    metadata=[("x-user", "ada"), ("trace-bin", b"\x00\x01\x02")],
                )().tags
            )
            out["after_errors"] = greeter.Hello(pb.Request(name="again"), timeout=TIMEOUT).greeting

            health = health_pb2_grpc.HealthStub(channel)
            check = health_pb2.HealthCheckRequest
            serving = health_pb2.HealthCheckResponse.ServingStatus.Name
            out["health"] = {
                "": serving(health.Check(check(service=""), timeout=TIMEOUT).status),
                "greeter.v1.Greeter": serving(
                    health.Check(check(service="greeter.v1.Greeter"), timeout=TIMEOUT).status
                ),
                "nope": status_of(lambda: health.Check(check(service="nope"), timeout=TIMEOUT))[
                    "code"
                ],
            }
            watch = health.Watch(check(service=""), timeout=TIMEOUT)
            out["watch_first"] = serving(next(watch).status)
            watch.cancel()

            db = ProtoReflectionDescriptorDatabase(channel)
            out["reflection_services"] = sorted(db.get_services())
            pool = descriptor_pool.DescriptorPool(db)
            service = pool.FindServiceByName("greeter.v1.Greeter")
            out["reflection_methods"] = [m.name for m in service.methods]
            out["reflection_file"] = service.file.name
            thing = pool.FindMessageTypeByName("describe.v1.Thing")
            out["reflection_thing_fields"] = len(thing.fields)
            try:
                pool.FindFileByName("missing.proto")
                out["reflection_missing"] = "found"
            except KeyError:
                out["reflection_missing"] = "not found"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
