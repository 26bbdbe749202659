"""Calls a micro greeter-server that serves mutual TLS, with grpcio.

Usage: grpc_tls_client.py <address> <proto dir> <cert dir>

Generates the stubs of greeter.proto with grpc_tools.protoc, calls
Greeter.Hello over TLS with the CA and client certificate of `micro certs
dev` (grpc.ssl_channel_credentials), then without a client certificate,
then in plaintext, then with the certificate again, and prints what it saw
as one JSON object: the Rust test asserts on it.
"""

import json
import os
import subprocess
import sys
import tempfile

import grpc

TIMEOUT = 20


def read(path):
    with open(path, "rb") as f:
        return f.read()


def call(pb, pb_grpc, channel, name, timeout=TIMEOUT):
    """The greeting, or the status code and details of the failure."""
    with channel:
        stub = pb_grpc.GreeterStub(channel)
        try:
            return {"greeting": stub.Hello(pb.Request(name=name), timeout=timeout).greeting}
        except grpc.RpcError as err:
            return {"code": err.code().name, "details": err.details()}


def main():
    address, proto_dir, certs = sys.argv[1], sys.argv[2], sys.argv[3]
    root = read(os.path.join(certs, "ca.pem"))
    key = read(os.path.join(certs, "client-key.pem"))
    cert = read(os.path.join(certs, "client.pem"))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", "-I", proto_dir,
             "--python_out=" + tmp, "--grpc_python_out=" + tmp,
             os.path.join(proto_dir, "greeter.proto")],
            check=True,
        )
        sys.path.insert(0, tmp)
        import greeter_pb2 as pb
        import greeter_pb2_grpc as pb_grpc

        mutual = grpc.ssl_channel_credentials(root, key, cert)
        out["mutual"] = call(pb, pb_grpc, grpc.secure_channel(address, mutual), "Ada")
        no_cert = grpc.ssl_channel_credentials(root)
        out["no_cert"] = call(pb, pb_grpc, grpc.secure_channel(address, no_cert), "Bo")
        # grpcio takes the server's GOAWAY (INADEQUATE_SECURITY, "this port
        # requires TLS") as a reason to reconnect, not to fail: bounded here.
        out["plaintext"] = call(pb, pb_grpc, grpc.insecure_channel(address), "Cy", timeout=3)
        out["again"] = call(pb, pb_grpc, grpc.secure_channel(address, mutual), "Di")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
